"""Sizes and CRC-32s of the Whoosh files, checked before Whoosh opens them.

Whoosh decodes whatever bytes it finds (and unpickles its table of contents), so a
damaged file used to surface as wrong answers: one flipped byte in a segment made
``type = page`` match nothing. Each commit of this program (a build's, an upsert's)
records every file of the Whoosh directory in ``cql-manifest.json`` with the commit's
generation; opening checks the files of the current generation against it and names the
first one that is missing, of the wrong size or of the wrong checksum. Segment files
never change once written, so a commit only reads the files that are new.

A manifest of another generation than the newest table of contents means the program
stopped between Whoosh's commit and the manifest's (both are durable, in that order):
that commit's files are then checked by size only where the manifest knows them.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from pathlib import Path

from index.errors import EngineError

MANIFEST_FILE = "cql-manifest.json"
_TOC = re.compile(r"^_MAIN_(\d+)\.toc$")
#: Files that are not index data: Whoosh's lock and our own bookkeeping.
_SKIP = re.compile(r"^(MAIN_WRITELOCK|cql-manifest\.json(\..*)?|.*\.tmp.*)$")
_CHUNK = 1 << 20


def latest_generation(whoosh_dir: Path) -> int:
    gens = [int(m.group(1)) for name in os.listdir(whoosh_dir) if (m := _TOC.match(name))]
    return max(gens, default=-1)


def crc_of(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _data_files(whoosh_dir: Path) -> list[str]:
    return sorted(n for n in os.listdir(whoosh_dir) if not _SKIP.match(n)
                  and (whoosh_dir / n).is_file())


def record(whoosh_dir: Path) -> None:
    """Write the manifest of the directory's current files (durably, atomically)."""
    old = _read(whoosh_dir)
    known = old.get("files", {}) if old else {}
    files: dict[str, list[int]] = {}
    for name in _data_files(whoosh_dir):
        size = (whoosh_dir / name).stat().st_size
        prior = known.get(name)
        same = prior is not None and prior[0] == size and not _TOC.match(name)
        files[name] = list(prior) if same and prior else [size, crc_of(whoosh_dir / name)]
    data = {"generation": latest_generation(whoosh_dir), "files": files}
    temp = whoosh_dir / f"{MANIFEST_FILE}.new"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # never group-writable
    with open(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, whoosh_dir / MANIFEST_FILE)


def _read(whoosh_dir: Path) -> dict | None:
    try:
        raw = (whoosh_dir / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data.get("files"), dict):
            raise ValueError
        return data  # type: ignore[no-any-return]
    except ValueError:
        raise EngineError("damaged", f"the index is damaged: "
                          f"{whoosh_dir / MANIFEST_FILE} cannot be read") from None


def verify(whoosh_dir: Path, checksums: bool = True) -> None:
    """Raise ``EngineError("damaged")`` naming the first file that does not match the
    manifest. An index without a manifest (built before manifests) is not checked."""
    data = _read(whoosh_dir)
    if data is None:
        return
    current = data.get("generation") == latest_generation(whoosh_dir)
    for name, (size, crc) in sorted(data["files"].items()):
        path = whoosh_dir / name
        if not current and not path.exists():
            continue  # a file of the older commit the manifest describes, since removed
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            raise _damaged(path, "is missing") from None
        if actual != size:
            raise _damaged(path, f"has {actual} bytes, {size} were written")
        if checksums and current and crc_of(path) != crc:
            raise _damaged(path, "does not match its checksum (its bytes changed)")


def _damaged(path: Path, what: str) -> EngineError:
    return EngineError("damaged", f"the index is damaged: {path} {what}; rebuild it "
                       "with cql index")
