"""Writes through the server: the index equals a fresh build, and a kill -9 loses nothing
that was acknowledged."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import httpx
import pytest
from serve_helpers import Server, copy_fixture_index

from index import Engine
from index.core.documents import load_doc
from index.serve.access import space_id
from index.site.models import ContentLine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "site"
QUERIES = ["type = page order by id", "ancestor = 65549 order by id", "parent = 65549",
           "text ~ quokka", "space = ENG order by title", "type = embed",
           "title ~ runbook order by created desc", "label = postmortem"]


def _site_of(engine: Engine, out: Path) -> Path:
    """The site an index holds now: its items as content lines, the fixture's other files."""
    shutil.copytree(FIXTURES, out)
    snap = engine.store.snapshot()
    lines = []
    for _, stored in snap.all_stored():
        doc = load_doc(stored)
        if "key" not in doc:
            lines.append({k: v for k, v in doc.items() if k in ContentLine.model_fields})
    lines.sort(key=lambda line: int(line["id"]))
    (out / "content.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return out


def test_writes_equal_a_fresh_build(tmp_path: Path) -> None:
    index_dir = copy_fixture_index(tmp_path)
    server = Server(index_dir, "--no-webhooks")
    try:
        with server.client() as http:
            def create(body: dict) -> str:
                r = http.post("/wiki/api/v2/pages", json=body)
                assert r.status_code == 200, r.text
                return str(r.json()["id"])

            eng = space_id("ENG")
            top = create({"spaceId": eng, "title": "Quokka runbook", "parentId": "65549",
                          "body": {"representation": "storage", "value": "<p>quokka</p>"}})
            child = create({"spaceId": eng, "title": "Quokka child", "parentId": top})
            create({"spaceId": eng, "title": "Grandchild runbook", "parentId": child})
            r = http.put(f"/wiki/api/v2/pages/{top}", json={
                "id": top, "status": "current", "title": "Wombat runbook", "parentId": "65617",
                "version": {"number": 2}})
            assert r.status_code == 200, r.text
            assert http.delete(f"/wiki/api/v2/pages/{child}").status_code == 204
            r = http.post("/wiki/api/v2/embeds", json={"spaceId": eng, "title": "Dashboard",
                                                       "parentId": top, "embedUrl": "https://x"})
            assert r.status_code == 200, r.text
            assert http.delete("/wiki/rest/api/content/65701").status_code == 204
    finally:
        server.stop()
    live = Engine.open(index_dir)
    fresh = Engine.build(_site_of(live, tmp_path / "site"), tmp_path / "fresh")
    assert fresh.last_build is not None and fresh.last_build.rejected == 0
    for query in QUERIES:
        a, b = live.search(query, limit=1000), fresh.search(query, limit=1000)
        assert [r.id for r in a.results] == [r.id for r in b.results], query
        assert a.totalSize == b.totalSize, query


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    index_dir = copy_fixture_index(tmp_path)
    server = Server(index_dir, "--no-webhooks")
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=server.origin, auth=("alice@northwind.example",
                                                       "alice-api-token"), timeout=10) as http:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    r = http.post("/wiki/rest/api/content", json={
                        "type": "page", "title": f"Crash test {n}", "space": {"key": "ENG"},
                        "body": {"storage": {"value": f"<p>crashtest {n}</p>"}}})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acknowledged.append(r.json()["id"])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = 200
        while len(acknowledged) < 8 and deadline:
            threading.Event().wait(0.05)
            deadline -= 1
        server.proc.kill()  # SIGKILL, mid-stream
        server.proc.wait()
    finally:
        stop.set()
        thread.join()
    assert len(acknowledged) >= 8
    engine = Engine.open(index_dir)
    found = {r.id for r in engine.search('title ~ "crash test"', limit=1000).results}
    assert set(acknowledged) <= found
    restarted = Server(index_dir, "--no-webhooks")
    try:
        with restarted.client() as http:
            for item_id in acknowledged:
                assert http.get(f"/wiki/rest/api/content/{item_id}").status_code == 200
            r = http.post("/wiki/rest/api/content", json={
                "type": "page", "title": "After the crash", "space": {"key": "ENG"}})
            assert r.status_code == 200 and r.json()["id"] not in found
    finally:
        restarted.stop()


@pytest.mark.parametrize("body", [
    {"type": "page", "title": "", "space": {"key": "ENG"}},
    {"type": "comment", "title": "x", "space": {"key": "ENG"}},
    {"type": "page", "title": "x", "space": {"key": "NOPE"}},
    {"type": "page", "title": "x", "space": "ENG"},
    {"type": "page", "title": "x", "space": {"key": "ENG"}, "ancestors": [{"id": "1"}]},
    {"type": "page", "title": "x", "space": {"key": "ENG"}, "body": "<p>not an object</p>"},
    {"type": "page", "title": "x", "space": {"key": "ENG"}, "status": "trashed"},
])
def test_bad_writes_are_one_line_errors(tmp_path: Path, body: dict) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from index.serve.app import create_app

    client = TestClient(create_app(Engine.open(copy_fixture_index(tmp_path)),
                                   webhooks=False))
    client.auth = ("alice@northwind.example", "alice-api-token")
    r = client.post("/wiki/rest/api/content", json=body)
    assert r.status_code in (400, 404), r.text
    message = r.json()["message"]
    assert "\n" not in message and "Traceback" not in message and len(message) < 300


def test_two_workers_share_one_index(tmp_path: Path) -> None:
    """Writes through either worker get unique ids and are visible through both."""
    server = Server(copy_fixture_index(tmp_path), "--workers", "2", "--no-webhooks")
    try:
        made = []
        for n in range(8):  # fresh connections, so both workers take some
            with server.client() as http:
                r = http.post("/wiki/rest/api/content", json={
                    "type": "page", "title": f"Two workers {n}", "space": {"key": "ENG"}})
                assert r.status_code == 200, r.text
                made.append(r.json()["id"])
        assert len(set(made)) == 8
        for _ in range(6):
            with server.client() as http:
                r = http.get("/wiki/rest/api/search", params={"cql": 'title ~ "two workers"'})
                assert r.json()["totalSize"] == 8
    finally:
        server.stop()
