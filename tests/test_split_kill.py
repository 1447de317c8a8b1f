"""Killing a split build (``index.site.partitioned``, forked loading and indexing workers)
with SIGKILL: the parent at any point leaves the index it was replacing (or the new one,
whole), no worker goes on running, and the next build cleans up; a worker killed alone
fails the build with one line and leaves the previous index as it was.

Small sites take the split path here through ``CQL_SPLIT_BUILD_BYTES``. The moments are
found by polling the staging directory for what each phase leaves (spill files, postings
files of segments being written, the derived file written just before the swap), never by
sleeping a fixed time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sitegen import item, write_site

from index import Engine
from index.engine import SPLIT_BUILD_ENV

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "fixtures" / "site"
QUERIES = ["type = page", "type = comment", "space = DEV", "text ~ release"]
#: Liveness bounds (a hung build fails the test instead of hanging it), not timings.
PATIENCE = 300.0

Phase = Callable[[Path], bool]


def loading(staging: Path) -> bool:
    return any((staging / "spill").glob("content-*.pickle")) and not (
        staging / "whoosh").exists()


def indexing(staging: Path) -> bool:
    """Postings being written by a worker (the parent's own writer has one file too), no
    segment finished (its columns come at the end)."""
    whoosh = staging / "whoosh"
    return len(list(whoosh.glob("*.pst"))) > 1 and not any(
        whoosh.glob("*.col")) and not any(whoosh.glob("*.seg"))


def swapping(staging: Path) -> bool:
    return (staging / "whoosh" / "cql-derived.bin").exists()


def counts(target: Path) -> list[int]:
    engine = Engine.open(target)  # checks every file against the manifest
    try:
        return [engine.count(q) for q in QUERIES]
    finally:
        engine.store.close()


def start_build(target: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "index.cli", "index", str(SITE), "--out", str(target)],
        cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,  # its workers share its process group
        env={**os.environ, "PYTHONPATH": str(ROOT), SPLIT_BUILD_ENV: "1"})


def wait_for(target: Path, proc: subprocess.Popen[str], phase: Phase) -> bool:
    """Poll until the build's staging directory shows ``phase``; False if it ended first."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        for staging in target.parent.glob(f".{target.name}.cql-tmp-{proc.pid}-*"):
            if phase(staging):
                return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("the build never reached the phase")


def living(group: int) -> list[int]:
    """Processes of a process group that have not exited (zombies aside)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def children(pid: int) -> list[int]:
    raw = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(c) for c in raw.split()]


def wait_gone(group: int) -> None:
    deadline = time.monotonic() + PATIENCE
    while living(group):
        assert time.monotonic() < deadline, f"workers still running: {living(group)}"
        time.sleep(0.01)


pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(),
                                reason="reads processes from /proc (Linux)")


@pytest.fixture()
def before(tmp_path: Path) -> tuple[Path, list[int], list[int]]:
    """An index of a small site at ``tmp_path/index``; the counts of it and of the new
    site (built in this process, elsewhere)."""
    lines = [item(str(n), space="A", body="release") for n in range(1, 4)]
    target = tmp_path / "index"
    Engine.build(write_site(tmp_path / "old", lines), target)
    Engine.build(SITE, tmp_path / "new").store.close()
    return target, counts(target), counts(tmp_path / "new")


@pytest.mark.parametrize("phase", [loading, indexing, swapping])
def test_killing_the_build_leaves_the_old_or_the_new_index(
        before: tuple[Path, list[int], list[int]], phase: Phase) -> None:
    target, old, new = before
    assert old != new
    proc = start_build(target)
    reached = wait_for(target, proc, phase)
    if reached:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_gone(proc.pid)  # the workers die with the build
    assert counts(target) == (old if reached and phase is not swapping else counts(target))
    assert counts(target) in (old, new)
    # The next build removes what the killed one left and succeeds.
    done = start_build(target)
    _, err = done.communicate()
    assert done.returncode == 0, err
    assert counts(target) == new
    assert sorted(p.name for p in target.parent.iterdir()) == ["index", "new", "old"]


@pytest.mark.parametrize("phase", [loading, indexing])
def test_a_worker_killed_alone_fails_the_build_in_one_line(
        before: tuple[Path, list[int], list[int]], phase: Phase) -> None:
    target, old, _ = before
    proc = start_build(target)
    assert wait_for(target, proc, phase)
    workers = children(proc.pid)
    assert workers
    os.kill(workers[-1], signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "died (killed by signal 9)" in lines[0], err
    wait_gone(proc.pid)
    assert counts(target) == old
    assert sorted(p.name for p in target.parent.iterdir()) == ["index", "new", "old"]


def test_a_split_size_that_is_not_a_number_is_one_line(tmp_path: Path) -> None:
    """A mistyped override is refused before anything is written, not read as unset."""
    target = tmp_path / "idx"
    done = subprocess.run(
        [sys.executable, "-m", "index.cli", "index", str(SITE), "--out", str(target)],
        cwd=ROOT, text=True, capture_output=True, timeout=PATIENCE,
        env={**os.environ, "PYTHONPATH": str(ROOT), SPLIT_BUILD_ENV: "4MB"})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"cql index: error: {SPLIT_BUILD_ENV} must be a size in bytes (digits), not '4MB'"]
    assert "Traceback" not in done.stderr and not target.exists()
