"""Errors inside the index are errors, never "no documents".

A build (and every upsert) records the size and CRC-32 of each Whoosh file in a manifest;
opening the index checks them before Whoosh reads (and unpickles) anything, so a flipped
byte or a truncated file is one ``EngineError("damaged")`` naming the file, and from the
CLI one line on stderr with exit status 1. A lookup that fails inside Whoosh (a closed
reader, an undecodable posting list) raises instead of counting as an absent term.
"""

from __future__ import annotations

import os
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
    site = write_site(tmp_path / "site", [item(str(n), title=f"page {n}") for n in range(1, 40)])
    Engine.build(site, tmp_path / "index")
    return tmp_path / "index"


def whoosh_file(index: Path, suffix: str) -> Path:
    found = sorted((index / "whoosh").glob(f"*{suffix}"))
    assert found, suffix
    return found[0]


def flip(path: Path, at: float) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", [".seg", ".toc"])
@pytest.mark.parametrize("at", [0.1, 0.5, 0.9])
def test_a_flipped_byte_is_damage_naming_the_file(index: Path, suffix: str, at: float) -> None:
    target = whoosh_file(index, suffix)
    flip(target, at)
    with pytest.raises(EngineError) as err:
        Engine.open(index).search("type = page")
    assert err.value.code == "damaged" and target.name in str(err.value)


@pytest.mark.parametrize("suffix", [".seg", ".toc"])
def test_a_truncated_file_is_damage_naming_the_file(index: Path, suffix: str) -> None:
    target = whoosh_file(index, suffix)
    os.truncate(target, target.stat().st_size // 2)
    with pytest.raises(EngineError) as err:
        Engine.open(index)
    assert err.value.code == "damaged" and target.name in str(err.value)


def test_a_missing_segment_is_damage(index: Path) -> None:
    target = whoosh_file(index, ".seg")
    target.unlink()
    with pytest.raises(EngineError) as err:
        Engine.open(index)
    assert err.value.code == "damaged" and target.name in str(err.value)


def test_upserts_keep_the_manifest_current(index: Path) -> None:
    engine = Engine.open(index)
    assert engine.upsert([item("100", title="fresh")]) == []
    assert engine.delete(["1"]) == 1
    reopened = Engine.open(index)
    assert reopened.count("type = page") == 39
    newest = max((index / "whoosh").glob("*.seg"), key=lambda p: p.stat().st_mtime_ns)
    flip(newest, 0.5)
    with pytest.raises(EngineError) as err:
        Engine.open(index)
    assert err.value.code == "damaged" and newest.name in str(err.value)


def test_a_failed_lookup_raises_instead_of_matching_nothing(index: Path) -> None:
    engine = Engine.open(index)
    snap = engine.store.snapshot()
    snap.searcher.close()  # a closed reader, as a race with a writer used to leave it
    with pytest.raises(Exception) as err:
        snap.term("type", "page")
    assert "closed" in repr(err.value).lower()
    assert not snap._terms


def test_the_cli_prints_damage_as_one_line(index: Path) -> None:
    target = whoosh_file(index, ".seg")
    flip(target, 0.5)
    run = subprocess.run([sys.executable, "-m", "index.cli", "search", "--index", str(index),
                          "type = page"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "error: " in lines[0] and target.name in lines[0]
    assert "Traceback" not in run.stderr
