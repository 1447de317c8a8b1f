"""Version numbers of content items, kept beside the index (``versions.json``).

The site format has no version history; Confluence clients need ``version.number`` to
update a page (they send the current number plus one). An item of the site starts at
version 1, or 2 when it was modified after it was created (``lastmodified`` later than
``created``: it has had at least two versions), and each update through the server adds
one. The author of the latest version is the last of the item's contributors (updates
through the server put their author last); version 1 is the creator's. The file is
small (only items edited through the server are listed) and written under an exclusive
lock, so several workers share it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

VERSIONS_FILE = "versions.json"
LOCK_FILE = "serve.lock"


@contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time across the server's worker processes (ids, versions, commits)."""
    with open(Path(index_dir) / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def base_version(doc: dict[str, Any]) -> int:
    """The version of an item never updated through the server."""
    return 1 if doc["lastmodified"] == doc["created"] else 2


def version_author(doc: dict[str, Any], number: int) -> str:
    """Who made version ``number`` as far as the format knows: the creator for version 1,
    the last contributor for a later one."""
    contributors = doc.get("contributors") or []
    return str(contributors[-1]) if number > 1 and contributors else str(doc["creator"])


class Versions:
    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / VERSIONS_FILE
        self._seen: tuple[int, dict[str, int]] = (-1, {})

    def _current(self) -> dict[str, int]:
        """The file's numbers, re-read only when it changed (another worker wrote it); the
        cached mapping itself, not to be changed."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return {}
        if mtime != self._seen[0]:
            data = {str(k): int(v) for k, v in json.loads(self.path.read_text()).items()}
            self._seen = (mtime, data)
        return self._seen[1]

    def _read(self) -> dict[str, int]:
        return dict(self._current())

    def of(self, doc: dict[str, Any], recorded: Mapping[str, int] | None = None) -> int:
        """The current version number of the stored item ``doc``; ``recorded`` is
        ``recorded()`` when the caller has it already."""
        numbers = self._current() if recorded is None else recorded
        return numbers.get(doc["id"]) or base_version(doc)

    def recorded(self) -> Mapping[str, int]:
        """The numbers of the items updated through the server, for many ``of`` in one
        response (the file is checked once, not per item)."""
        return self._current()

    def set(self, item_id: str, number: int | None) -> None:
        """Record ``number`` for ``item_id`` (None forgets it); call under ``write_lock``."""
        data = self._read()
        if number is None:
            data.pop(item_id, None)
        else:
            data[item_id] = number
        tmp = self.path.with_name(self.path.name + f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, self.path)
