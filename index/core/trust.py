"""Whether an index directory may be opened: Whoosh unpickles what it reads.

Opening a Whoosh index unpickles its table of contents (schema and segment list), and
unpickling runs whatever code the bytes name. Opening an index directory that another
user can write is therefore running that user's code. ``check_trusted`` refuses an index
whose directory, Whoosh directory, any file in it, or the files that decide what callers
see (catalogue, policy store, cursor key, marker) is writable by group or others
or owned by another user (root excepted), or whose parent directory lets others rename
it away (writable by them without the sticky bit). ``Engine.open(...,
allow_untrusted=True)`` or ``CQL_TRUST_INDEX=1`` in the environment skip the check, for
an index whose writers are trusted anyway (a shared group of operators).

Builds and upserts clear the group and other write bits of what they create, so an
index made under a permissive umask (002) is still one its owner may open.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from index.errors import EngineError

TRUST_ENV = "CQL_TRUST_INDEX"
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def trusted_by_environment() -> bool:
    return os.environ.get(TRUST_ENV, "") not in ("", "0")


def check_trusted(index_dir: Path, whoosh_dir: Path, files: Iterable[str]) -> None:
    """Raise ``EngineError("untrusted")`` naming the first path others could write: the
    two directories, every file Whoosh reads, and the index's own ``files`` that decide
    what callers see (catalogue, policy store, cursor key, marker). Logs beside them
    (events, journal locks) are not read as code or as policy and are not checked."""
    me = os.getuid()
    parent = index_dir.resolve().parent
    st = os.stat(parent)
    if st.st_mode & _OTHERS_WRITE and not st.st_mode & stat.S_ISVTX:
        raise _untrusted(parent, "others can write its parent directory (no sticky bit), "
                         "so they can replace the index")
    paths = [index_dir, whoosh_dir, *(p for name in files if (p := index_dir / name).exists())]
    paths.extend(sorted(p for p in whoosh_dir.iterdir() if p.is_file()))
    for path in paths:
        st = os.stat(path)
        if st.st_uid not in (me, 0):
            raise _untrusted(path, f"it belongs to another user (uid {st.st_uid})")
        if st.st_mode & _OTHERS_WRITE:
            raise _untrusted(path, "group or other users can write it")


def restrict(directory: Path) -> None:
    """Clear group and other write bits on ``directory`` and everything under it."""
    for root, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            _clear(Path(root) / name)
    _clear(directory)


def _clear(path: Path) -> None:
    st = os.lstat(path)
    if not stat.S_ISLNK(st.st_mode) and st.st_mode & _OTHERS_WRITE:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~_OTHERS_WRITE)


def _untrusted(path: Path, why: str) -> EngineError:
    return EngineError("untrusted", f"refusing to open the index: {path}: {why}. Opening a "
                       "Whoosh index unpickles its files, which runs code; fix the "
                       f"permissions, or set {TRUST_ENV}=1 (allow_untrusted=True) if "
                       "everyone who can write it is trusted")
