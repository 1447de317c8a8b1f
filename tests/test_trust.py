"""Opening an index others can write is running their code (Whoosh unpickles on open).

``Engine.open`` refuses an index directory, Whoosh directory or file in them that group
or other users can write, unless ``allow_untrusted=True`` or ``CQL_TRUST_INDEX=1``;
builds and upserts never leave such bits on what they write, whatever the umask.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sitegen import item, write_site

from index.engine import Engine
from index.errors import EngineError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def index(tmp_path: Path) -> Path:
    Engine.build(write_site(tmp_path / "site", [item("1")]), tmp_path / "index")
    return tmp_path / "index"


def add_mode(path: Path, bits: int) -> None:
    os.chmod(path, stat.S_IMODE(path.stat().st_mode) | bits)


@pytest.mark.parametrize("which", ["index", "whoosh", "toc", "seg", "catalog.json",
                                   "policies.json", "cursor.key", "cql-index.json"])
@pytest.mark.parametrize("bits", [stat.S_IWGRP, stat.S_IWOTH])
def test_an_index_others_can_write_is_refused(index: Path, which: str, bits: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CQL_TRUST_INDEX", raising=False)
    target = {"index": index, "whoosh": index / "whoosh",
              "toc": next((index / "whoosh").glob("*.toc")),
              "seg": next((index / "whoosh").glob("*.seg")),
              }.get(which, index / which)
    add_mode(target, bits)
    with pytest.raises(EngineError) as err:
        Engine.open(index)
    assert err.value.code == "untrusted" and str(target) in str(err.value)
    assert Engine.open(index, allow_untrusted=True).count("type = page") == 1
    monkeypatch.setenv("CQL_TRUST_INDEX", "1")
    assert Engine.open(index).count("type = page") == 1


def test_a_parent_others_can_write_without_the_sticky_bit_is_refused(index: Path) -> None:
    add_mode(index.parent, stat.S_IWOTH)
    try:
        with pytest.raises(EngineError) as err:
            Engine.open(index)
        assert err.value.code == "untrusted"
        add_mode(index.parent, stat.S_ISVTX)  # like /tmp: others cannot rename it away
        assert Engine.open(index).count("type = page") == 1
    finally:
        os.chmod(index.parent, 0o700)


def test_builds_and_upserts_under_a_permissive_umask_stay_openable(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        engine = Engine.build(write_site(tmp_path / "site", [item("1")]), tmp_path / "index")
        assert engine.upsert([item("2")]) == []
    finally:
        os.umask(old)
    assert Engine.open(tmp_path / "index").count("type = page") == 2
    for root, dirs, files in os.walk(tmp_path / "index"):
        for name in [*dirs, *files]:
            assert not os.stat(os.path.join(root, name)).st_mode & 0o022, name


def test_the_cli_refuses_in_one_line(index: Path) -> None:
    add_mode(index / "whoosh", stat.S_IWOTH)
    env = {k: v for k, v in os.environ.items() if k != "CQL_TRUST_INDEX"}
    run = subprocess.run([sys.executable, "-m", "index.cli", "search", "--index", str(index),
                          "type = page"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.returncode == 1 and len(run.stderr.strip().splitlines()) == 1
    assert "CQL_TRUST_INDEX" in run.stderr


def test_logs_beside_the_index_are_not_checked(index: Path) -> None:
    """The event log is neither code nor policy: a permissive umask on it (appended to by
    the policy layer) does not lock the owner out of the index."""
    log = index / "events.jsonl"
    log.write_text("")
    add_mode(log, stat.S_IWGRP)
    assert Engine.open(index).count("type = page") == 1
