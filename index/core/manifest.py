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

Reading every byte to check its CRC costs about 0.2 s of CPU per 100,000 items at every
open, so, like git's index, ``cql-manifest.json.stat`` keeps beside the manifest each
file's stat signature (device, inode, size, modification and change times in
nanoseconds) as it was when its CRC was last computed or checked, with that CRC. At
open, a file whose signature is unchanged and whose recorded CRC is the manifest's is
trusted without reading it; any other is checked as before, and the record is then
brought up to date when this user owns the directory. Any write to a file, even one that
puts its size and modification time back (``os.utime``), sets its change time, which
cannot be set back, and a file replaced by another has another inode; what this gives up
is silent corruption under an unchanged signature (bit rot on the disk), which
``verify(..., checksums="full")`` (``Engine.open(verify="full")``) still catches.

A change within the file system's timestamp granularity of the record being written
would leave the change time as it was ("racy git"): a signature is trusted only when
its change time is strictly earlier than the record file's own modification time, which
any later write to the file cannot be.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from pathlib import Path
from typing import Any, Literal

from index.errors import EngineError

MANIFEST_FILE = "cql-manifest.json"
#: Stat signatures of the files whose CRC was last seen to match (a name the ``_SKIP``
#: pattern of earlier versions also skips, so they never list it in a manifest).
STAT_FILE = f"{MANIFEST_FILE}.stat"
_TOC = re.compile(r"^_MAIN_(\d+)\.toc$")
#: Files that are not index data: Whoosh's lock and our own bookkeeping.
_SKIP = re.compile(r"^(MAIN_WRITELOCK|cql-manifest\.json(\..*)?|.*\.tmp.*)$")
_CHUNK = 1 << 20


def latest_generation(whoosh_dir: Path) -> int:
    gens = [int(m.group(1)) for name in os.listdir(whoosh_dir) if (m := _TOC.match(name))]
    return max(gens, default=-1)


def _data_files(whoosh_dir: Path) -> list[str]:
    return sorted(n for n in os.listdir(whoosh_dir) if not _SKIP.match(n)
                  and (whoosh_dir / n).is_file())


def record(whoosh_dir: Path) -> None:
    """Write the manifest of the directory's current files (durably, atomically), and the
    stat signatures of the files whose CRC this read or could vouch for."""
    old = _read(whoosh_dir)
    known = old.get("files", {}) if old else {}
    seen = _trusted_signatures(whoosh_dir)
    files: dict[str, list[int]] = {}
    signatures: dict[str, list[int]] = {}
    for name in _data_files(whoosh_dir):
        path = whoosh_dir / name
        now = _signature(os.stat(path))
        prior = known.get(name)
        if prior is not None and prior[0] == now[_SIZE] and not _TOC.match(name):
            files[name] = list(prior)  # segment files never change once written
            entry = seen.get(name)
            if entry is not None and entry == [prior[1], *now]:
                signatures[name] = entry
            continue
        crc, read = _crc_and_signature(path)
        files[name] = [(read or now)[_SIZE], crc]
        if read is not None:
            signatures[name] = [crc, *read]
    data = {"generation": latest_generation(whoosh_dir), "files": files}
    _write_json(whoosh_dir / MANIFEST_FILE, data, durable=True)
    _write_json(whoosh_dir / STAT_FILE, {"files": signatures}, durable=True)


def _write_json(path: Path, data: dict[str, Any], durable: bool) -> None:
    """Replace ``path`` atomically (never group-writable: ``core.trust``)."""
    temp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with open(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


#: Positions in a stat signature (``_signature``).
_SIZE, _CTIME = 2, 4


def _signature(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _crc_and_signature(path: Path) -> tuple[int, list[int] | None]:
    """The CRC-32 of ``path``'s bytes, and the signature the file had while they were
    read (None if it changed meanwhile: then it vouches for nothing)."""
    crc = 0
    with open(path, "rb") as fh:
        before = _signature(os.fstat(fh.fileno()))
        while chunk := fh.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
        after = _signature(os.fstat(fh.fileno()))
    return crc, after if after == before else None


def _trusted_signatures(whoosh_dir: Path) -> dict[str, list[int]]:
    """The recorded ``[crc, *signature]`` of each file, keeping only those whose change
    time is strictly before the record's own modification time: a write to the file in the
    same timestamp tick as its last change, after the signature was taken, would not have
    changed it. An unreadable record vouches for nothing."""
    try:
        with open(whoosh_dir / STAT_FILE, "rb") as fh:
            written = os.fstat(fh.fileno()).st_mtime_ns
            entries = json.loads(fh.read())["files"]
        return {name: entry for name, entry in entries.items()
                if isinstance(entry, list) and len(entry) == 6
                and all(type(v) is int for v in entry) and entry[1 + _CTIME] < written}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


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


def verify(whoosh_dir: Path, checksums: bool | Literal["full"] = True) -> None:
    """Raise ``EngineError("damaged")`` naming the first file that does not match the
    manifest. An index without a manifest (built before manifests) is not checked.

    ``checksums``: True checks the CRC of every file whose stat signature is not the one
    recorded when its CRC was last seen to match (``STAT_FILE``); ``"full"`` checks every
    file's CRC; False checks sizes only."""
    data = _read(whoosh_dir)
    if data is None:
        return
    current = data.get("generation") == latest_generation(whoosh_dir)
    recorded = _trusted_signatures(whoosh_dir) if checksums is True else {}
    vouched: dict[str, list[int]] = {}
    fresh = False
    for name, (size, crc) in sorted(data["files"].items()):
        path = whoosh_dir / name
        if not current and not path.exists():
            continue  # a file of the older commit the manifest describes, since removed
        try:
            now = _signature(os.stat(path))
        except FileNotFoundError:
            raise _damaged(path, "is missing") from None
        if now[_SIZE] != size:
            raise _damaged(path, f"has {now[_SIZE]} bytes, {size} were written")
        if not checksums or not current:
            continue
        if recorded.get(name) == [crc, *now]:
            vouched[name] = recorded[name]
            continue
        actual, read = _crc_and_signature(path)
        if actual != crc:
            raise _damaged(path, "does not match its checksum (its bytes changed)")
        if read is not None:
            vouched[name] = [crc, *read]
            fresh = True
    if fresh:
        _remember(whoosh_dir, vouched)


def _remember(whoosh_dir: Path, signatures: dict[str, list[int]]) -> None:
    """Record the signatures just checked, so that the next open need not read those
    files again; only in a directory this user owns and may write (a record owned by
    another user would make the owner's next open refuse the index, ``core.trust``).
    Best effort: a record that cannot be written leaves the next open checking again."""
    try:
        st = os.stat(whoosh_dir)
        if st.st_uid != os.geteuid() or not os.access(whoosh_dir, os.W_OK):
            return
        _write_json(whoosh_dir / STAT_FILE, {"files": signatures}, durable=False)
    except OSError:
        pass


def _damaged(path: Path, what: str) -> EngineError:
    return EngineError("damaged", f"the index is damaged: {path} {what}; rebuild it "
                       "with cql index")
