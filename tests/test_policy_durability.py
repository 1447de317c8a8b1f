"""A policy change and its events are one durable transaction (``index.security.journal``).

The kill-9 test runs policy changes in a child process and kills it at random moments,
again and again; after each kill the next engine opening the index completes whatever was
pending. The event log is then compared with the log of a clean run of the same number of
changes (no kills): the same events, in the same order, each exactly once, with contiguous
sequence numbers. The changes follow a fixed schedule keyed by the store version, so a
child picks up where the last one was killed, and the clean run knows what to do.

A full disk is simulated by an event log whose writes fail after a few bytes: the change
must not lose its events, and the next attempt must complete them.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from index.engine import Engine
from index.errors import EngineError
from index.security.events import EventLog
from index.security.journal import JOURNAL_FILE

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SITE = ROOT / "fixtures" / "site"
CHUNK = 2  # objects per event: many events per change, so many kill points inside one

#: The change for each store version (the fixture has p1 active and p2 inactive); every
#: step changes the store, so the version says how many steps are done.
SCHEDULE = (("activate", "p2"), ("deactivate", "p2"), ("deactivate", "p1"), ("activate", "p1"))

CHILD = f"""
import sys
from index.engine import Engine
SCHEDULE = {SCHEDULE!r}
engine = Engine.open(sys.argv[1])
layer = engine.policy_layer()
layer.settings = layer.settings.model_copy(update={{"chunk_size": {CHUNK}}})
print("ready", flush=True)
while True:
    action, policy = SCHEDULE[layer.store.version % len(SCHEDULE)]
    layer.change(action, policy)
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("durable") / "index"
    Engine.build(FIXTURE_SITE, index_dir)
    return index_dir


def copy(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


def layer_of(index_dir: Path) -> Any:
    layer = Engine.open(index_dir).policy_layer()  # opening completes a pending change
    layer.settings = layer.settings.model_copy(update={"chunk_size": CHUNK})
    return layer


def advance(layer: Any, version: int) -> None:
    """Run the schedule on ``layer`` until its store reaches ``version``."""
    while layer.store.version < version:
        action, policy = SCHEDULE[layer.store.version % len(SCHEDULE)]
        layer.change(action, policy)


def log_lines(index_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in
            (index_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()]


def comparable(lines: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """A log without what differs between runs by design (random transaction ids, time)."""
    return [(line["seq"], line["app_id"], line["event"]["type"],
             json.dumps(line["event"]["data"], sort_keys=True)) for line in lines]


RECOVERED: list[int] = []  # events each recovery wrote (for the kill test's own check)


def check_consistent(index_dir: Path, clean: Any) -> int:
    """The recovered index agrees with a clean run of the same number of changes."""
    layer = layer_of(index_dir)
    RECOVERED.extend(outcome.written for outcome in layer.recovered)
    assert not (index_dir / JOURNAL_FILE).exists()
    version = layer.store.version
    advance(clean, version)
    got = log_lines(index_dir) if (index_dir / "events.jsonl").exists() else []
    want = log_lines(clean.engine.index_dir) if (
        clean.engine.index_dir / "events.jsonl").exists() else []
    assert [line["seq"] for line in got] == list(range(1, len(got) + 1))
    assert len({line["event"]["id"] for line in got}) == len(got)
    assert comparable(got) == comparable(want)
    assert layer.store.list() == clean.store.list()
    return version


def test_kill_9_at_random_points_loses_and_duplicates_nothing(template: Path,
                                                              tmp_path: Path) -> None:
    index_dir = copy(template, tmp_path / "killed")
    clean = layer_of(copy(template, tmp_path / "clean"))
    RECOVERED.clear()
    rng = random.Random(int(os.environ.get("KILL_SEED", "10")))
    rounds = int(os.environ.get("KILL_ROUNDS", "6"))
    versions = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(rounds):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(index_dir)], cwd=ROOT,
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n", child.stderr.read() if child.stderr else ""
        time.sleep(rng.uniform(0.02, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait()
        versions.append(check_consistent(index_dir, clean))
    assert versions[-1] > 0, "the child never completed a change: the test proves nothing"
    print(f"versions after each kill: {versions}; events written by recoveries: {RECOVERED}")


class FullDisk:
    """An event log file whose writes fail with ENOSPC after ``room`` bytes."""

    def __init__(self, handle: Any, room: int) -> None:
        self.handle, self.room = handle, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.handle.write(data[:self.room])
            self.handle.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


@pytest.mark.parametrize("room", [0, 1, 700, 5000])
def test_a_full_disk_loses_no_event(template: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    index_dir = copy(template, tmp_path / "full")
    clean = layer_of(copy(template, tmp_path / "clean"))
    layer = layer_of(index_dir)
    original = EventLog._open_for_append
    with monkeypatch.context() as patch:
        patch.setattr(EventLog, "_open_for_append",
                      lambda self: FullDisk(original(self), room))
        with pytest.raises(EngineError) as caught:
            layer.change("activate", "p2")
    assert caught.value.code == "io"
    assert "journalled" in caught.value.message
    assert (index_dir / JOURNAL_FILE).exists()
    # The disk has room again: the retry completes the change, then reports it as done.
    again = layer_of(index_dir)
    assert [o.change.policy_id for o in again.recovered] == ["p2"]
    assert again.change("activate", "p2").changed is False
    assert check_consistent(index_dir, clean) == 1


def test_a_journal_that_cannot_be_written_changes_nothing(template: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    index_dir = copy(template, tmp_path / "nojournal")
    layer = layer_of(index_dir)
    import index.security.journal as journal

    def no_room(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal, "write_atomically", no_room)
    with pytest.raises(EngineError) as caught:
        layer.change("activate", "p2")
    assert caught.value.code == "io" and "nothing was changed" in caught.value.message
    monkeypatch.undo()
    after = layer_of(index_dir)
    assert after.store.version == 0 and after.store.get("p2").active is False
    assert not (index_dir / "events.jsonl").exists()


def test_the_cli_retry_reports_the_completed_change(template: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's symptom: the retry said "already active" and sent nothing."""
    index_dir = copy(template, tmp_path / "cli")
    layer = layer_of(index_dir)
    original = EventLog._open_for_append
    with monkeypatch.context() as patch:
        patch.setattr(EventLog, "_open_for_append", lambda self: FullDisk(original(self), 10))
        with pytest.raises(EngineError):
            layer.change("activate", "p2")
    done = subprocess.run(
        [sys.executable, "-m", "index.cli", "policy", "activate", "p2", "--index",
         str(index_dir)], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "completed an interrupted policy change" in done.stderr
    assert "already active" in done.stdout
    assert len(log_lines(index_dir)) > 1


def test_a_reader_that_cannot_complete_a_pending_change_still_opens(
        template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only consumer (or a full disk) must not stop the index from being served."""
    index_dir = copy(template, tmp_path / "reader")
    layer = layer_of(index_dir)
    original = EventLog._open_for_append
    with monkeypatch.context() as patch:
        patch.setattr(EventLog, "_open_for_append", lambda self: FullDisk(original(self), 0))
        with pytest.raises(EngineError):
            layer.change("activate", "p2")
    import index.security.journal as journal

    def cannot_lock(self: Any) -> Any:
        raise EngineError("io", "cannot open the policy change lock: Read-only file system")

    with monkeypatch.context() as patch:
        patch.setattr(journal.PolicyJournal, "locked", cannot_lock)
        reader = Engine.open(index_dir).policy_layer()
        assert reader.recovered == [] and reader.store.get("p2").active  # the store as is
    assert (index_dir / JOURNAL_FILE).exists()
    assert layer_of(index_dir).recovered  # a writer completes it
