"""The files that make a directory a cql-search index, and its identity.

``cql-index.json`` marks a directory as an index this program built (``cql index --out``
refuses to replace a directory without it) and carries the **build id**, a random token
written once per build. The build id is the index's identity: upserts keep it (they
change the index, not which index it is), and a rebuild into the same directory gets a
new one. A running engine compares it with the one it loaded to notice that the index
was replaced under it; Whoosh's generation number cannot tell, since every fresh build
starts at generation 1.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from index.errors import EngineError

MARKER_FILE = "cql-index.json"
MARKER_FORMAT = "cql-search index"


def new_build_id() -> str:
    return secrets.token_hex(16)


def write_marker(directory: Path, build_id: str) -> None:
    data = {"format": MARKER_FORMAT, "version": 1, "build_id": build_id}
    (directory / MARKER_FILE).write_text(json.dumps(data), encoding="utf-8")


def read_build_id(directory: Path) -> str:
    """The build id of the index in ``directory``; ``""`` for an index built before build
    ids existed. Raises ``EngineError("not_found")`` when the directory is gone and
    ``EngineError("damaged")`` for an unreadable marker.

    Every search asks twice (before and after): while the marker is the very file read
    last time (same device, inode, size and times, by one ``stat``), its build id is
    the one read then, which saves a read and a JSON parse (and an open) per call. A
    replaced index has another marker file, so another inode."""
    known = _SEEN.get(directory)
    if known is not None:
        try:
            if _identity(os.stat(known[0])) == known[1]:
                return known[2]
        except OSError:
            pass  # gone or unreadable: the full read below says which
    path = directory / MARKER_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if directory.is_dir():
            return ""
        raise EngineError("not_found", f"no cql-search index in {directory}") from None
    try:
        seen = _identity(os.fstat(fd))  # of the very file read next
        with open(fd, "rb", closefd=False) as fh:
            raw = fh.read()
    finally:
        os.close(fd)
    build_id = _parse(path, raw)
    _SEEN[directory] = (str(path), seen, build_id)
    return build_id


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


#: The marker file last read in each index directory: its path, its identity
#: (``_identity``) and its build id.
_SEEN: dict[Path, tuple[str, tuple[int, ...], str]] = {}


def _parse(path: Path, raw: bytes) -> str:
    try:
        data = json.loads(raw)
        build_id = data["build_id"]
        if data.get("format") != MARKER_FORMAT or not isinstance(build_id, str):
            raise ValueError(build_id)
    except (ValueError, KeyError, TypeError):
        raise EngineError("damaged", f"the index is damaged: {path} is not a cql-search "
                          "index marker") from None
    return build_id


def is_index(directory: Path) -> bool:
    """Does ``directory`` hold a cql-search index (by its marker, or for an index built
    before markers existed, by its catalogue and Whoosh directory)?"""
    if (directory / MARKER_FILE).is_file():
        return True
    return (directory / "catalog.json").is_file() and (directory / "whoosh").is_dir()


def fsync_tree(directory: Path) -> None:
    """Flush every file under ``directory`` and the directories themselves to disk."""
    for root, _dirs, files in os.walk(directory):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
