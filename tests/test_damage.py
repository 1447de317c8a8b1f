"""Errors inside the index are errors, never "no documents".

A build (and every upsert) records the size and CRC-32 of each Whoosh file in a manifest;
opening the index checks them before Whoosh reads (and unpickles) anything, so a flipped
byte or a truncated file is one ``EngineError("damaged")`` naming the file, and from the
CLI one line on stderr with exit status 1. A lookup that fails inside Whoosh (a closed
reader, an undecodable posting list) raises instead of counting as an absent term.

Opening reads only the files whose stat signature changed since their checksum was last
seen to match (``manifest.STAT_FILE``); the cases below with a settled index check that
damage which keeps a file's size and modification time is still caught.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sitegen import item, write_site

from index.core import manifest
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


# --- the stat record: files it vouches for are not read ----------------------------------


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files whose bytes the manifest check reads, in order."""
    seen: list[str] = []
    real = manifest._crc_and_signature

    def counting(path: Path) -> tuple[int, list[int] | None]:
        seen.append(path.name)
        return real(path)

    monkeypatch.setattr(manifest, "_crc_and_signature", counting)
    return seen


def tick_past(paths: list[Path]) -> None:
    """Wait until the file system's timestamps have moved past the change time of every
    path (one tick of its clock, milliseconds): what a record written now says about them
    is then trusted (``manifest._trusted_signatures``)."""
    newest = max(p.stat().st_ctime_ns for p in paths)
    probe = paths[0].parent.parent / "tick.probe"
    probe.write_bytes(b"")
    while probe.stat().st_mtime_ns <= newest:
        probe.write_bytes(b"")  # a write sets the time from the clock
    probe.unlink()


def settle(index: Path) -> list[str]:
    """Open once after the clock has moved on, so that the record vouches for every file;
    the names in the manifest."""
    tick_past(list((index / "whoosh").iterdir()))
    Engine.open(index)
    return sorted(json.loads((index / "whoosh" / manifest.MANIFEST_FILE).read_text())["files"])


def test_a_settled_index_opens_without_reading_its_files(index: Path, reads: list[str]
                                                          ) -> None:
    names = settle(index)
    reads.clear()
    assert Engine.open(index).count("type = page") == 39
    assert reads == []
    assert Engine.open(index, verify="full").count("type = page") == 39
    assert reads == names


@pytest.mark.parametrize("verify", ["Full", "yes", 1, 0, None])
def test_an_unknown_verify_mode_is_refused(index: Path, verify: object) -> None:
    """Only True, False and "full": a typo must not pass as true (every checksum) or 1 as
    True (the stat-vouched ones), whatever the two happen to check today."""
    with pytest.raises(ValueError, match="verify must be True, False or 'full'"):
        Engine.open(index, verify=verify)  # type: ignore[arg-type]


def assert_signatures_recorded(whoosh: Path) -> None:
    """Every file of the manifest has its CRC and current stat signature in the record."""
    files = json.loads((whoosh / manifest.MANIFEST_FILE).read_text())["files"]
    stats = json.loads((whoosh / manifest.STAT_FILE).read_text())["files"]
    assert sorted(stats) == sorted(files)
    for name, (size, crc) in files.items():
        st = (whoosh / name).stat()
        assert stats[name] == [crc, st.st_dev, st.st_ino, size, st.st_mtime_ns,
                               st.st_ctime_ns]


def test_a_build_records_the_signatures_of_what_it_wrote(index: Path) -> None:
    assert_signatures_recorded(index / "whoosh")


@pytest.mark.parametrize("suffix", [".seg", ".toc", "cql-derived.bin"])
def test_a_flipped_byte_with_its_times_put_back_is_damage(index: Path, suffix: str) -> None:
    settle(index)
    target = whoosh_file(index, suffix)
    before = target.stat()
    flip(target, 0.5)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size, before.st_mtime_ns, before.st_ino)
    with pytest.raises(EngineError) as err:
        Engine.open(index)
    assert err.value.code == "damaged" and target.name in str(err.value)


def test_a_file_replaced_by_another_of_the_same_size_is_damage(index: Path) -> None:
    settle(index)
    target = whoosh_file(index, ".seg")
    before = target.stat()
    other = target.with_name("replacement")
    shutil.copyfile(target, other)
    flip(other, 0.5)
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, target)
    with pytest.raises(EngineError) as err:
        Engine.open(index)
    assert err.value.code == "damaged" and target.name in str(err.value)


def test_swapped_files_of_one_size_are_damage(index: Path) -> None:
    settle(index)
    whoosh = index / "whoosh"
    first, second = whoosh / "a.bin", whoosh / "b.bin"
    for path, byte in ((first, b"a"), (second, b"b")):
        path.write_bytes(byte * 100)
    manifest.record(whoosh)  # as if a commit had written them
    settle(index)
    os.replace(first, whoosh / "swap")
    os.replace(second, first)
    os.replace(whoosh / "swap", second)
    with pytest.raises(EngineError) as err:
        Engine.open(index)
    assert err.value.code == "damaged" and "a.bin" in str(err.value)


def test_a_copied_index_reads_every_file_once(index: Path, tmp_path: Path,
                                              reads: list[str]) -> None:
    names = settle(index)
    copy = tmp_path / "copy"
    shutil.copytree(index, copy)  # same times, other inodes: the record vouches for nothing
    reads.clear()
    assert Engine.open(copy).count("type = page") == 39
    assert reads == names
    tick_past([copy / "whoosh" / manifest.STAT_FILE])
    reads.clear()
    assert Engine.open(copy).count("type = page") == 39
    assert reads == []


def test_a_record_no_older_than_a_file_does_not_vouch_for_it(index: Path,
                                                             reads: list[str]) -> None:
    settle(index)
    target = whoosh_file(index, ".seg")
    record = index / "whoosh" / manifest.STAT_FILE
    changed = target.stat().st_ctime_ns  # the record written in the tick the file changed
    os.utime(record, ns=(changed, changed))
    reads.clear()
    Engine.open(index)
    assert target.name in reads


@pytest.mark.parametrize("record", [b"", b"{", b'{"files": 3}', b'{"files": {"x": [1]}}'])
def test_an_unreadable_record_vouches_for_nothing(index: Path, reads: list[str],
                                                  record: bytes) -> None:
    names = settle(index)
    (index / "whoosh" / manifest.STAT_FILE).write_bytes(record)
    reads.clear()
    assert Engine.open(index).count("type = page") == 39
    assert reads == names


def test_a_record_naming_another_checksum_vouches_for_nothing(index: Path,
                                                              reads: list[str]) -> None:
    names = settle(index)
    path = index / "whoosh" / manifest.STAT_FILE
    data = json.loads(path.read_text())
    for entry in data["files"].values():
        entry[0] ^= 1
    path.write_text(json.dumps(data))
    tick_past([path])
    reads.clear()
    Engine.open(index)
    assert reads == names


def test_a_full_check_finds_what_an_unchanged_signature_hides(index: Path) -> None:
    """Bit rot leaves every stat field as it was: here a flipped byte whose new signature
    is written into the record (with the old checksum) stands for it. The default open
    trusts the record (DIVERGENCES.md); ``verify="full"`` reads every byte."""
    settle(index)
    whoosh = index / "whoosh"
    target = whoosh_file(index, ".seg")
    flip(target, 0.5)
    path = whoosh / manifest.STAT_FILE
    data = json.loads(path.read_text())
    st = target.stat()
    data["files"][target.name][1:] = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                      st.st_ctime_ns]
    path.write_text(json.dumps(data))
    tick_past([path, target])
    manifest.verify(whoosh)  # the record vouches for the rotten file
    with pytest.raises(EngineError) as err:
        Engine.open(index, verify="full")
    assert err.value.code == "damaged" and target.name in str(err.value)


def test_upserts_record_the_signatures_of_their_files(index: Path, reads: list[str]) -> None:
    settle(index)
    engine = Engine.open(index)
    assert engine.upsert([item("100", title="fresh")]) == []
    whoosh = index / "whoosh"
    assert_signatures_recorded(whoosh)
    tick_past(list(whoosh.iterdir()))
    Engine.open(index)  # reads what the record could not yet vouch for (the same tick)
    reads.clear()
    assert Engine.open(index).count("type = page") == 40
    assert reads == []
