"""Bounded caches for what a snapshot computes per caller.

A snapshot lives until the index changes, and a server may see thousands of callers in
that time: anything cached per caller (its permission mask, its visible set, its relevance
statistics) must be bounded, or memory grows with the number of callers. An
``LruCache`` keeps its ``size`` most recently used entries; ``on(snap, name, size)`` is the
snapshot's cache of that name. Entries are never stale: a change to the index makes a new
snapshot with empty caches, and everything else a value depends on (policies, view
permissions, the search context) is part of its key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class LruCache:
    """A mapping that keeps its ``size`` most recently used entries (thread-safe)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value of ``key`` (now the most recently used), or None."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Any) -> Any:
        """Store ``value`` (dropping the least recently used beyond ``size``); return it."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[Hashable]:
        """Keys, least recently used first."""
        with self._lock:
            return list(self._items)


_CREATE = threading.Lock()


def on(snap: Any, name: str, size: int) -> LruCache:
    """The LRU cache called ``name`` of snapshot ``snap`` (made on first use)."""
    found = snap.cache.get(name)
    if found is None:
        with _CREATE:
            found = snap.cache.setdefault(name, LruCache(size))
    return found  # type: ignore[no-any-return]


__all__ = ["LruCache", "on"]
