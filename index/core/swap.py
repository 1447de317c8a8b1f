"""Putting a finished build in place, and refusing places that are not ours to replace.

A build is written into a temporary sibling of the target directory and swapped in only
when complete and flushed to disk. The swap is one ``renameat2(RENAME_EXCHANGE)`` on
Linux: at every instant the target path holds either the old index or the new one (two
renames left no index at all to a process killed between them). Where the exchange is
not available it falls back to two renames.

``check_out_dir`` keeps ``cql index --out DIR`` from deleting what it did not create: a
non-empty directory that is not a cql-search index, the site directory itself (or a
directory inside it or around it) and the current directory (or one around it) are
refused unless forced. Temporary siblings carry the builder's process id; those left
by a killed builder are removed by the next build.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
from pathlib import Path

from index.core.indexfiles import fsync_dir, is_index
from index.errors import EngineError

RENAME_EXCHANGE = 2
AT_FDCWD = -100
_TEMP = ".cql-tmp-"


def check_out_dir(site_dir: Path, target: Path, force: bool) -> None:
    """Refuse an output directory that a build must not replace (unless ``force``)."""
    if force:
        return
    site, out, here = site_dir.resolve(), target.resolve(), Path.cwd().resolve()
    if out == site or site in out.parents or out in site.parents:
        raise _refused(f"the index directory {target} is the site directory {site_dir}, "
                       "inside it or around it")
    if out == here or out in here.parents:
        raise _refused(f"the index directory {target} is the current directory or "
                       "contains it")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise _refused(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not is_index(target):
        raise _refused(f"{target} is a non-empty directory that is not a cql-search index")


def _refused(why: str) -> EngineError:
    return EngineError("refused", f"{why}; it would be replaced: choose another --out, or "
                       "pass --force (force=True) to replace it anyway")


def staging_dir(target: Path) -> Path:
    """A new, empty temporary sibling of ``target`` named after this process."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    prefix = f".{target.name}{_TEMP}{os.getpid()}-"
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    os.chmod(staging, 0o755)  # an index directory, not a private temporary one
    return staging


def remove_stale(target: Path) -> None:
    """Remove temporary siblings of ``target`` left by builders that no longer run."""
    prefix = f".{target.name}{_TEMP}"
    for sibling in target.parent.glob(f"{prefix}*"):
        pid = sibling.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(sibling, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def swap_in(new: Path, target: Path) -> None:
    """Make ``new`` the directory at ``target``; the previous one is removed after."""
    if not os.path.lexists(target):
        os.rename(new, target)
        fsync_dir(target.parent)
        return
    if _exchange(new, target):
        fsync_dir(target.parent)
        shutil.rmtree(new, ignore_errors=True)  # the old index, now at the temporary name
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TEMP}{os.getpid()}-old-",
                                dir=target.parent))
    os.replace(target, old / "index")
    os.replace(new, target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2``); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if result == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not on this file system
        return False
    raise OSError(errno, os.strerror(errno), str(b))
