"""Concurrency: the contract in the README's "Concurrency" section.

* Many threads may search one ``Engine`` while another thread (or process) writes: no
  search fails, and each answers from one committed state, the one before a write or the
  one after it, never a mix.
* Writers (threads, ``Engine`` objects or processes) on one index are serialised by a lock
  beside the index; a writer that cannot get it in ``lock_timeout`` seconds gets
  ``EngineError("busy")``, never Whoosh's ``LockError``.

These are bounded stress tests (a few seconds each). ``python -m benchmarks.stress`` runs
the long one by hand (4 threads and 2 processes searching for 60 s while a thread upserts).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sitegen import BLOCKED_APP, item, write_site

from benchmarks import stress
from index.engine import Engine
from index.errors import EngineError

ROOT = Path(__file__).resolve().parent.parent
BASE = [item(str(n), space="A", title=f"filler {n}", day=n % 28 + 1) for n in range(2, 30)]
SUBTREE = [
    item("100", title="Wanderer", body="wanders"),
    item("101", parent="100", title="Child one"),
    item("102", parent="101", title="Child two"),
    item("103", "comment", container="100", body="wanders too"),
    item("104", "attachment", container="102", title="wander.pdf"),
]


def subtree_in(space: str) -> list[dict[str, Any]]:
    return [{**line, "space": space} for line in SUBTREE]


def consistent_states(engine: Engine) -> None:
    """Assert one search sees the subtree wholly in A or wholly in B."""
    in_a = engine.search("space = A", limit=1, excerpt="none").totalSize
    assert in_a in (len(BASE), len(BASE) + len(SUBTREE)), in_a
    page = engine.search("ancestor = 100 OR id = 100", limit=10, excerpt="none")
    assert page.totalSize == len(SUBTREE) and len({r.space for r in page.results}) == 1
    hidden = engine.count("ancestor = 100", caller=BLOCKED_APP)
    assert hidden in (0, len(SUBTREE) - 1), hidden


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    site = write_site(tmp_path / "site", BASE + subtree_in("A"))
    return Engine.build(site, tmp_path / "index")


def run_threads(targets: list[Any], seconds: float) -> list[BaseException]:
    """Run each target in a loop in its own thread for ``seconds``; return the errors."""
    stop = time.monotonic() + seconds
    errors: list[BaseException] = []

    def loop(target: Any) -> None:
        try:
            while time.monotonic() < stop:
                target()
        except BaseException as err:  # noqa: BLE001 - collected for the assertion
            errors.append(err)

    threads = [threading.Thread(target=loop, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_searches_never_fail_while_another_thread_moves_a_subtree(engine: Engine) -> None:
    moves = iter(range(1_000_000))

    def writer() -> None:
        assert engine.upsert([subtree_in("B" if next(moves) % 2 else "A")[0]]) == []

    errors = run_threads([writer] + [lambda: consistent_states(engine)] * 4, seconds=3)
    assert not errors, [repr(e) for e in errors[:5]]


def test_two_writer_threads_are_serialised(engine: Engine, tmp_path: Path) -> None:
    other = Engine.open(tmp_path / "index")  # a second Engine on the same directory
    written: list[str] = []
    counter = iter(range(200, 100_000))
    lock = threading.Lock()

    def write(target: Engine) -> Any:
        def step() -> None:
            with lock:
                item_id = str(next(counter))
            assert target.upsert([item(item_id, space="C")]) == []
            written.append(item_id)
        return step

    def mover() -> None:
        space = "B" if len(written) % 2 else "A"
        assert other.upsert([subtree_in(space)[0]]) == []

    errors = run_threads([write(engine), write(other), write(engine), mover], seconds=3)
    assert not errors, [repr(e) for e in errors[:5]]
    assert engine.count("space = C") == len(written) > 0
    consistent_states(engine)
    consistent_states(Engine.open(tmp_path / "index"))


HOLD_LOCK = """
import sys, time
from index.engine import Engine
engine = Engine.open(sys.argv[1])
with engine._writing():
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_writer_that_cannot_get_the_lock_gets_busy(engine: Engine, tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "index"), "5"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        engine.lock_timeout = 0.2
        with pytest.raises(EngineError) as err:
            engine.upsert([item("300", space="C")])
        assert err.value.code == "busy" and "another writer" in str(err.value)
        with pytest.raises(EngineError):
            engine.delete(["2"])
        consistent_states(engine)  # searching is never blocked by a writer
    finally:
        holder.kill()
        holder.wait()
    engine.lock_timeout = 10
    assert engine.upsert([item("300", space="C")]) == []  # the lock died with its holder


def test_stress_threads_and_processes_search_while_a_thread_upserts(tmp_path: Path) -> None:
    """The by-hand stress run (``python -m benchmarks.stress --seconds 60``), bounded."""
    tally = stress.run(seconds=3, threads=4, processes=2, workdir=tmp_path)
    assert tally.errors == []
    assert tally.searches > 0 and tally.writes > 0
