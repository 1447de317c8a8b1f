"""Issue 14's round trip through the real ``cql serve``: serve an index, import from it.

A real server (``cql serve`` in a subprocess on 127.0.0.1) serves a copy of the fixture
index: ten spaces (one archived, two personal), nested pages, blog posts, whiteboards,
databases, embeds, folders, comments, attachments, labels, content properties, space and
page permissions. The real ``cql import`` (a subprocess) reads it as Alice, through her
API token, into a new site directory, which is then built into an index. For every query
of ``tests/cases/import_serve_roundtrip.cql`` the served index, searched as Alice, and
the imported index must return the same ids in the same order and the same totals: the
mirror holds what the importing account may see.

Then Alice creates, edits, moves, trashes and purges content through the server's REST
API (v1 and v2), an incremental import follows (it fetches only what changed), and the
same holds against the served index as the writes left it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from serve_helpers import ALICE, ALICE_ID, Server, copy_fixture_index

from index.engine import Engine
from index.security.callers import UserCaller
from index.serve.access import space_id

ROOT = Path(__file__).resolve().parents[1]
QUERIES = [line for line in (Path(__file__).parent / "cases" / "import_serve_roundtrip.cql")
           .read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "CQL_RT_TOKEN": ALICE[1]}
SUMMARY = re.compile(r"\((?P<fetched>[\d,]+) fetched, (?P<unchanged>[\d,]+) unchanged, "
                     r"(?P<deleted>[\d,]+) deleted")


def _import(url: str, out: Path) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-m", "index.cli.main", "import", "--url", url, "--user", ALICE[0],
         "--token-env", "CQL_RT_TOKEN", "--out", str(out)],
        capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    found = SUMMARY.search(done.stdout)
    assert found, done.stdout
    return {k: int(v.replace(",", "")) for k, v in found.groupdict().items()}


def _answers(engine: Engine, caller: UserCaller | None) -> dict[str, tuple[list[str], int]]:
    out = {}
    for query in QUERIES:
        page = engine.search(query, limit=1000, caller=caller)
        out[query] = ([r.id for r in page.results], page.totalSize)
    return out


def _compare(served: Engine, imported: Engine) -> None:
    want = _answers(served, UserCaller(account_id=ALICE_ID))
    got = _answers(imported, None)
    wrong = [f"{q!r}: {want[q][1]} vs {got[q][1]}" for q in QUERIES if want[q] != got[q]]
    assert not wrong, f"{len(wrong)} queries differ: " + "; ".join(wrong[:5])
    assert sum(1 for q in QUERIES if want[q][1] > 0) >= 50  # the queries do match things


def _edit(http: httpx.Client) -> None:
    """Creates, edits, moves, trashes and purges, as Alice, through v1 and v2."""
    def ok(response: httpx.Response) -> dict:
        assert response.status_code in (200, 204), response.text
        return response.json() if response.status_code == 200 else {}

    v2 = "/wiki/api/v2"
    ok(http.post(f"{v2}/pages", json={
        "spaceId": space_id("ENG"), "parentId": "65549", "title": "Quokka runbook",
        "body": {"representation": "storage", "value":
                 '<p>The quokka rotation</p><ac:structured-macro ac:name="toc" />'}}))
    ok(http.post("/wiki/rest/api/content", json={
        "type": "blogpost", "title": "Quokka news", "space": {"key": "PROD"},
        "body": {"storage": {"value": "<p>quokka</p>", "representation": "storage"}}}))
    ok(http.post(f"{v2}/embeds", json={"spaceId": space_id("DS"), "parentId": "65775",
                                       "title": "Quokka dashboard",
                                       "embedUrl": "https://dash.example/quokka"}))
    ok(http.post(f"{v2}/databases", json={"spaceId": space_id("ENG"),
                                          "title": "Quokka sightings"}))
    # an edit, twice (version 2, then 3), and a move with v2
    for n, title in enumerate(("Renamed once", "Renamed twice")):
        page = ok(http.get(f"{v2}/pages/69875"))
        ok(http.put(f"{v2}/pages/69875", json={
            "id": "69875", "status": "current", "title": title,
            "version": {"number": page["version"]["number"] + 1},
            "body": {"representation": "storage", "value": f"<p>edit {n}</p>"}}))
    page = ok(http.get(f"{v2}/pages/70525"))
    ok(http.put(f"{v2}/pages/70525", json={
        "id": "70525", "status": "current", "title": page["title"], "parentId": "67391",
        "version": {"number": page["version"]["number"] + 1}}))
    # a move with v1 (ancestors), in another space
    page = ok(http.get("/wiki/rest/api/content/76618", params={"expand": "version"}))
    ok(http.put("/wiki/rest/api/content/76618", json={
        "type": "page", "title": page["title"], "ancestors": [{"id": "75919"}],
        "version": {"number": page["version"]["number"] + 1}}))
    # trash a page with children and a comment; trash then purge another; trash a blog post
    ok(http.delete(f"{v2}/pages/72161"))
    ok(http.delete(f"{v2}/pages/72466"))
    ok(http.delete(f"{v2}/pages/72466", params={"purge": "true"}))
    ok(http.delete("/wiki/rest/api/content/68041"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    index_dir = copy_fixture_index(tmp_path_factory.mktemp("import-serve"))
    server = Server(index_dir, "--no-webhooks")
    yield server
    server.stop()


def test_queries_are_enough() -> None:
    assert len(QUERIES) >= 50 and len(set(QUERIES)) == len(QUERIES)


def test_import_through_cql_serve_answers_like_the_served_index(
        served: Server, tmp_path: Path) -> None:
    site = tmp_path / "imported"
    first = _import(served.url, site)
    assert first["fetched"] > 700 and first["deleted"] == 0
    _compare(Engine.open(served.index_dir), Engine.build(site, tmp_path / "index-1"))

    with httpx.Client(base_url=served.origin, auth=ALICE, timeout=30) as http:
        _edit(http)
    again = _import(served.url, site)
    # Incremental: the listings, then only what changed (3 creates that need a fetch
    # besides the v1 blog post, 3 edited or moved pages, the trashed page's moved children)
    assert again["fetched"] < 30 and again["unchanged"] > 700 and again["deleted"] >= 4
    imported = Engine.build(site, tmp_path / "index-2")
    assert imported.last_build is not None and imported.last_build.rejected == 0
    _compare(Engine.open(served.index_dir), imported)
    # the edits are in the mirror
    assert [r.title for r in imported.search("id = 69875").results] == ["Renamed twice"]
    assert imported.search("title ~ quokka").totalSize == 4
    assert imported.search("id in (72161, 72466, 68041)").totalSize == 0
