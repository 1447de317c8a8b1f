"""``cql import`` against recorded Confluence Cloud responses (tests/import_responses/).

The responses are shaped like Confluence Cloud's documented v1 and v2 examples: spaces with
a cursor to a second page, pages with storage bodies (macros, mentions, tasks, images),
labels (a personal ``my:`` label among them) and content properties, a tree through
``parentId`` with a folder, whiteboard, database and embed, a blog post, footer comments (a
reply, an edited one, one on an attachment, a trashed one), an inline comment,
attachments, and users. ``routes.json`` maps each request to its answers in order, so a
route can answer ``429`` with ``Retry-After`` or ``500`` before it succeeds.

Bad records are part of the recording: a space of an unknown type, a body that is not
storage format, a page whose space is not imported, a content type the format does not
know. Each must be reported with its id while everything else is imported; the expected
site and the expected reports are data files in ``expected/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from index.cli.main import main
from index.engine import Engine
from index.importer import http as import_http
from index.site.loader import load_site

HERE = Path(__file__).parent / "import_responses"
BASE = "https://example.atlassian.net/wiki"
ROUTES = json.loads((HERE / "routes.json").read_text(encoding="utf-8"))


class Recording:
    """Answers requests from routes.json; records each request and each sleep."""

    def __init__(self) -> None:
        self.served: dict[int, int] = {}
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        for n, route in enumerate(ROUTES):
            if route["path"] != request.url.path:
                continue
            if any(query.get(k) != v for k, v in route.get("params", {}).items()):
                continue
            answers = route["responses"]
            answer = answers[min(self.served.get(n, 0), len(answers) - 1)]
            self.served[n] = self.served.get(n, 0) + 1
            body: Any = answer.get("body")
            if "file" in answer:
                body = json.loads((HERE / answer["file"]).read_text(encoding="utf-8"))
            return httpx.Response(answer.get("status", 200), json=body,
                                  headers=answer.get("headers", {}))
        return httpx.Response(404, json={"message": f"not recorded: {request.url}"})


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Any:
    rec = Recording()
    monkeypatch.setattr(import_http, "_sleep", rec.sleeps.append)
    monkeypatch.setenv("CONFLUENCE_TOKEN", "not-a-real-token")
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="example.atlassian.net").mock(side_effect=rec)
        yield rec


def _import(out: Path, *extra: str) -> int:
    return main(["import", "--url", BASE, "--user", "me@example.com",
                 "--token-env", "CONFLUENCE_TOKEN", "--out", str(out), *extra])


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_recorded_site_maps_onto_the_expected_site(
        recording: Recording, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site"
    assert _import(out) == 1  # some records were reported
    for name in ("spaces.jsonl", "users.jsonl", "content.jsonl"):
        assert _lines(out / name) == _lines(HERE / "expected" / name), name
    err = capsys.readouterr().err
    reported = sorted(line.removeprefix("skipped: ") for line in err.splitlines()
                      if line.startswith("skipped: "))
    expected = (HERE / "expected" / "problems.txt").read_text(encoding="utf-8").splitlines()
    assert reported == sorted(expected)
    site = load_site(out)
    assert site.rejects == []
    assert not any(p.name.endswith((".partial", ".old")) for p in tmp_path.iterdir())


def test_basic_auth_from_the_environment(recording: Recording, tmp_path: Path) -> None:
    _import(tmp_path / "site")
    auth = httpx.BasicAuth("me@example.com", "not-a-real-token")
    expected = next(auth.auth_flow(httpx.Request("GET", BASE))).headers["Authorization"]
    assert {r.headers["Authorization"] for r in recording.requests} == {expected}


def test_429_waits_retry_after_and_500_backs_off(recording: Recording, tmp_path: Path) -> None:
    _import(tmp_path / "site")
    paths = [r.url.path for r in recording.requests]
    assert paths.count("/wiki/api/v2/spaces") == 3  # 429, then page 1, then page 2
    assert paths.count("/wiki/api/v2/pages/65602") == 2  # 500, then the page
    assert recording.sleeps[0] == 3.0  # Retry-After: 3, exactly
    assert len(recording.sleeps) == 2
    assert 0.0 <= recording.sleeps[1] <= import_http.RetryPolicy().base  # first backoff


def test_v2_requests_ask_for_storage_bodies_and_follow_cursors(
        recording: Recording, tmp_path: Path) -> None:
    _import(tmp_path / "site")
    details = [r for r in recording.requests if r.url.path == "/wiki/api/v2/pages/65571"]
    assert details and details[0].url.params["body-format"] == "storage"
    assert details[0].url.params["include-labels"] == "true"
    second = [r for r in recording.requests if r.url.path == "/wiki/api/v2/pages"
              and r.url.params.get("space-id") == "196612" and "cursor" in r.url.params]
    assert len(second) == 1 and second[0].url.params["cursor"] == "eyJpZCI6NjU2MDJ9"
    # Attachment labels came with the v1 listing, not one request per attachment.
    assert not [r for r in recording.requests if r.url.path.endswith("/labels")]


def test_rerun_fetches_nothing_unchanged(recording: Recording, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site"
    _import(out)
    first = (out / "content.jsonl").read_bytes()
    recording.requests.clear()
    _import(out)
    singles = [r.url.path for r in recording.requests
               if r.url.path.startswith("/wiki/api/v2/pages/")]
    # Only the records that were reported (and so not stored) are asked for again.
    assert sorted(singles) == ["/wiki/api/v2/pages/65700", "/wiki/api/v2/pages/65710"]
    assert (out / "content.jsonl").read_bytes() == first
    assert "0 deleted" in capsys.readouterr().out


def test_imported_site_answers_cql(recording: Recording, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _import(out)
    engine = Engine.build(out, tmp_path / "index")
    assert engine.last_build is not None and engine.last_build.rejected == 0

    def ids(query: str) -> list[str]:
        return sorted(r.id for r in engine.search(query, limit=100).results)

    assert ids("macro = jira") == ["65602"]
    assert ids('mention = "712020:4a5b6c7d-8e9f-4a1b-9c2d-3e4f5a6b7c8d"') == ["163842", "65602"]
    assert ids("label = architecture") == ["65602"]
    assert ids("ancestor = 65602") == ["163841", "163842", "163845", "163850", "229377",
                                       "98305", "98307", "98308"]
    assert ids("type = embed") == ["98307"]
    assert ids('text ~ "tokenize"') == ["163841", "65602"]  # code CDATA; "tokenizer"
    assert ids("macro = code") == ["65602"]
    assert ids('text ~ "SEARCH-42"') == []  # macro parameters are not text
    assert ids("content.property[wordcount_addon].wordCount > 500") == ["65602"]
    assert ids("creator = 5b6d7f20e6dba529eefdbad9 and type = comment") == ["163842", "163843",
                                                                            "163845"]
