"""What a one-shot ``cql search`` and ``cql parse`` load: start-up is measured by the
benchmark harness (``python -m benchmarks startup``), never timed here; these tests keep
the modules it showed to be dead weight from creeping back in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Loaded by nothing a search needs: Whoosh's download helper (urllib.request, with
#: http.client, email, ssl), the cached_property package's asyncio, Whoosh's morphology
#: tables, rich's console, and the commands a search does not run.
NEVER_ON_SEARCH = ("urllib.request", "http.client", "asyncio", "ssl", "cached_property",
                   "whoosh.lang.morph_en", "rich.console", "rich.table", "benchmarks",
                   "index.serve.cli", "index.repl.shell", "index.importer.cli", "httpx",
                   "starlette", "prompt_toolkit")


def modules_after(args: list[str], tmp_path: Path) -> set[str]:
    """The modules loaded once ``cql ARGS`` has run in a fresh interpreter."""
    out = tmp_path / "modules.json"
    code = ("import json, sys\nfrom index.cli.main import main\nstatus = main(sys.argv[1:])\n"
            f"open({str(out)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
            "sys.exit(status)")
    env = {**os.environ, "NO_COLOR": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    return set(json.loads(out.read_text(encoding="utf-8")))


def test_a_search_loads_neither_other_commands_nor_whooshs_unused_imports(
        tmp_path: Path) -> None:
    loaded = modules_after(["search", "type = page", "--limit", "3"], tmp_path)
    assert "whoosh.searching" in loaded and "index.engine" in loaded
    assert sorted(loaded.intersection(NEVER_ON_SEARCH)) == []


def test_whoosh_keeps_working_after_its_imports_were_stood_in_for(tmp_path: Path) -> None:
    """The stand-ins live only while Whoosh imports: later importers get the real modules,
    and Whoosh's own uses (a cached property, the morphology it imports by name) work."""
    code = """
import sys
import index.core
assert "urllib.request" not in sys.modules and "cached_property" not in sys.modules
import urllib.request, whoosh.compat, whoosh.query.terms, whoosh.reading
assert callable(urllib.request.urlopen)
assert whoosh.compat.urlretrieve is not urllib.request.urlretrieve  # the lazy forwarder
assert "rendered" in whoosh.query.terms.variations("render")
import functools
assert whoosh.reading.cached_property is functools.cached_property
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr


def test_parse_loads_no_engine(tmp_path: Path) -> None:
    loaded = modules_after(["parse", "type = page"], tmp_path)
    assert not {m for m in loaded if m.startswith(("whoosh", "pydantic", "index.engine",
                                                   "index.core", "rich"))}


def test_the_sample_index_is_reused_until_a_site_file_changes(tmp_path: Path,
                                                              monkeypatch: Any) -> None:
    """The bundled index is found by the site files' names, sizes and modification times
    (reading the 900 KB site to hash it cost every search); a changed file rebuilds it."""
    import shutil

    from index.cli import fixture

    site = tmp_path / "site"
    shutil.copytree(fixture.fixture_site(), site)
    monkeypatch.setattr(fixture, "fixture_site", lambda: site)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = fixture.fixture_index()
    assert fixture.fixture_index() == first
    users = site / "users.jsonl"
    users.write_text(users.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    second = fixture.fixture_index()
    assert second != first and (second / "catalog.json").is_file()
