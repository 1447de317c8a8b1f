"""What the forked workers of a build share: they die with the process that forked them.

A build forks processes to parse the site (``index.site.partitioned``) and to write
segments (``index.core.bulkwrite``). A parent killed with SIGKILL cannot tell them, and
they would go on parsing or writing, for minutes at a million items, into a staging
directory that the next build removes. So each worker watches its parent and exits as soon
as it is gone (a thread asking for the parent's id: portable, and a worker's work is
long enough that a fifth of a second does not matter)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from index.errors import EngineError

__all__ = ["collect", "died", "die_with_parent"]

#: How often a worker looks whether its parent is still there, in seconds.
WATCH_SECONDS = 0.2


def die_with_parent() -> None:
    """In a forked worker: exit at once (status 1, nothing flushed) when the parent dies."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def collect(children: Sequence[tuple[Any, Any]], worker: str, doing: str,
            wait: Callable[[Any], None] | None = None) -> list[Any]:
    """The answer of each forked worker, in order: each sends ``("ok", answer)`` or
    ``("error", traceback)`` down its pipe (``wait``, if given, runs before each
    receive). A traceback is a bug of ours: ``RuntimeError`` with every one. A worker
    that ended without answering (killed, out of memory) is not: ``EngineError
    ("build_failed")`` in one line, ``"{doing} failed: {worker} died (...)"``."""
    answers, failures, deaths = [], [], []
    for proc, conn in children:
        try:
            if wait is not None:
                wait(conn)
            status, detail = conn.recv()
        except EOFError:
            status, detail = "died", None
        proc.join()
        if status == "ok":
            answers.append(detail)
        elif status == "died":
            deaths.append(died(worker, proc.exitcode))
        else:
            failures.append(detail)
    if failures:
        raise RuntimeError(f"{doing} failed:\n" + "\n".join(failures))
    if deaths:
        raise EngineError("build_failed", f"{doing} failed: {deaths[0]}")
    return answers


def died(what: str, exitcode: int | None) -> str:
    """The one line that says a worker ended without answering (killed, or out of memory)."""
    how = (f"killed by signal {-exitcode}" if exitcode is not None and exitcode < 0
           else f"exit status {exitcode}")
    return f"{what} died ({how})"
