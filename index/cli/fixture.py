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
    """The index of the bundled site, built on first use and again when the site changes."""
    import hashlib

    site = fixture_site()
    digest = hashlib.sha256(FIXTURE_INDEX_FORMAT.encode())
    for path in sorted(site.iterdir()):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cql-search"
    target = cache / f"fixtures-{digest.hexdigest()[:16]}"
    if not (target / "catalog.json").is_file():
        from index.engine import Engine

        print(f"building the sample site's index in {target} (first use) ...", file=sys.stderr)
        Engine.build(site, target)
    return target
