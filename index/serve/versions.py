"""Version numbers of content items, kept beside the index (``versions.json``).

The site format has no version history; Confluence clients need ``version.number`` to
update a page (they send the current number plus one). Every item starts at version 1 and
each update through the server adds one. The file is small (only items edited through the
server are listed) and written under an exclusive lock, so several workers share it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


class Versions:
    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / VERSIONS_FILE
        self._seen: tuple[int, dict[str, int]] = (-1, {})

    def _read(self) -> dict[str, int]:
        """The file's numbers, re-read only when it changed (another worker wrote it)."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return {}
        if mtime != self._seen[0]:
            data = {str(k): int(v) for k, v in json.loads(self.path.read_text()).items()}
            self._seen = (mtime, data)
        return dict(self._seen[1])

    def of(self, item_id: str) -> int:
        return self._read().get(item_id, 1)

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
