"""The writer lock: one writer at a time per index directory, across threads and processes.

An upsert reads the documents it changes (a moved page's subtree), derives their new
state and commits it; two writers interleaving those steps would each commit from a
stale read. Whoosh's own lock only covers the commit, and answers a second writer with a
bare ``LockError``. This lock covers the whole read-derive-commit, waits up to a timeout
and then says ``busy``.

It is an ``flock`` on a file beside the index, so it is released by the kernel when its
holder dies (a killed writer never leaves a stale lock). ``flock`` locks belong to an
open file, so two ``Engine`` objects in one process exclude each other too; one thread
may take the lock again while it holds it (re-entrant), so a caller can hold it around
several changes. A rebuild swaps the directory: the holder checks that the file it
locked is still the one at the path and otherwise locks again.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.errors import EngineError

LOCK_FILE = "writer.lock"


class WriterLock:
    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._local = threading.local()
        self._threads = threading.Lock()  # threads of this object queue here, not on flock

    @contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        """Hold the lock for the block; ``EngineError("busy")`` after ``timeout`` seconds."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=max(timeout, 0.0)):
            raise self._busy(timeout)
        try:
            fd = self._acquire(deadline, timeout)
            self._local.depth = 1
            try:
                yield
            finally:
                self._local.depth = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        finally:
            self._threads.release()

    def _acquire(self, deadline: float, timeout: float) -> int:
        delay = 0.002
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise self._busy(timeout) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
                continue
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            fcntl.flock(fd, fcntl.LOCK_UN)  # the directory was swapped under us: again
            os.close(fd)

    def _busy(self, timeout: float) -> EngineError:
        return EngineError("busy", f"another writer holds the index at {self.path.parent} "
                           f"(waited {timeout:g} s); try again later")
