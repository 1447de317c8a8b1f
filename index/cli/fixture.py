"""The bundled sample site, and its index built on first use.

The site ships inside the wheel as package data of ``index._fixtures`` (pyproject maps that
package to the repository's top-level ``fixtures/`` directory), so ``cql search`` works from
any directory after a plain ``pip install``. In a source checkout without an install the
directory next to the package is used.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Part of the cache key: an index pickles the module paths of its analyzer, so a cached
# fixture index built by a release with another package layout must not be reused.
FIXTURE_INDEX_FORMAT = "layout-2"


def fixture_site() -> Path:
    """The directory of the bundled sample site (JSON Lines files)."""
    try:
        from importlib.resources import files

        site = Path(str(files("index._fixtures") / "site"))
        if (site / "content.jsonl").is_file():
            return site
    except (ImportError, TypeError, ValueError):
        pass
    return Path(__file__).resolve().parents[2] / "fixtures" / "site"


def fixture_index() -> Path:
    """The index of the bundled site, built on first use and again when the site changes.

    The cache key is each site file's name, size and modification time, not its bytes:
    hashing the 900 KB site on every ``cql search`` read it all each time, which cost a
    one-shot search up to a sixth of a second when other work had pushed the files out of
    the page cache. A changed or reinstalled file has a new modification time, so its
    index is rebuilt once."""
    import hashlib

    site = fixture_site()
    digest = hashlib.sha256(f"{FIXTURE_INDEX_FORMAT}\0{site}".encode())
    for path in sorted(site.iterdir()):
        if path.is_file():
            info = path.stat()
            digest.update(f"\0{path.name}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cql-search"
    target = cache / f"fixtures-{digest.hexdigest()[:16]}"
    if not (target / "catalog.json").is_file():
        from index.engine import Engine

        print(f"building the sample site's index in {target} (first use) ...", file=sys.stderr)
        Engine.build(site, target)
    return target
