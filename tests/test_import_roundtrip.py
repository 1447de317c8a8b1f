"""Round trip: a site, served as Confluence REST, imported, indexed, answers like the site.

The server is the stand-in Confluence of benchmarks/fake_confluence.py, which serves the
site files themselves (no permissions) and can inject faults; the same round trip through
the real ``cql serve`` is tests/test_import_serve.py. For every
query of tests/cases/import_roundtrip.cql, the index built from the original site and the
index built from its import must return the same ids in the same order, and the same
totals. Then editors create, edit, move and delete through the server, an incremental
import follows, and the same holds against a fresh build of what the server now holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.fake_confluence import FakeConfluence, editorial_changes
from index.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "site"
QUERIES = [line for line in (Path(__file__).parent / "cases" / "import_roundtrip.cql")
           .read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "CQL_RT_TOKEN": "rt"}


def _import(url: str, out: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "index.cli.main", "import", "--url", url, "--user", "rt@x",
         "--token-env", "CQL_RT_TOKEN", "--out", str(out)],
        capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr


def _answers(engine: Engine) -> dict[str, tuple[list[str], int]]:
    out = {}
    for query in QUERIES:
        page = engine.search(query, limit=1000)
        out[query] = ([r.id for r in page.results], page.totalSize)
    return out


def _compare(original: Engine, imported: Engine) -> None:
    want, got = _answers(original), _answers(imported)
    wrong = [q for q in QUERIES if want[q] != got[q]]
    assert not wrong, f"{len(wrong)} queries differ, first: {wrong[0]!r}"
    assert sum(1 for q in QUERIES if want[q][1] > 0) >= 50  # the queries do match things


def test_queries_are_enough() -> None:
    assert len(QUERIES) >= 50 and len(set(QUERIES)) == len(QUERIES)


def test_round_trip_answers_like_the_site(tmp_path: Path) -> None:
    with FakeConfluence(FIXTURE, user="rt@x", token="rt") as server:
        site = tmp_path / "imported"
        _import(server.url, site)
        server.site.write_site(tmp_path / "original")
        _compare(Engine.build(tmp_path / "original", tmp_path / "original-index"),
                 Engine.build(site, tmp_path / "imported-index"))
        # Editors create, edit, move and delete through the server; an incremental run.
        editorial_changes(server.site)
        _import(server.url, site)
        server.site.write_site(tmp_path / "changed")
    original = Engine.build(tmp_path / "changed", tmp_path / "changed-index")
    imported = Engine.build(site, tmp_path / "imported-index-2")
    assert imported.last_build is not None and imported.last_build.rejected == 0
    _compare(original, imported)
