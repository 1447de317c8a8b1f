"""The importer's HTTP client: retries, Retry-After, cursors, one-line failures (respx)."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
import respx

from index.importer.http import Client, ImportFailure, RetryPolicy, retry_after_seconds
from index.importer.sync import Progress

BASE = "https://example.atlassian.net/wiki"


def _client(sleeps: list[float], attempts: int = 4) -> Client:
    return Client(BASE, "me@example.com", "tok", retry=RetryPolicy(
        attempts=attempts, sleep=sleeps.append))


def test_retry_after_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(" 0 ") == 0.0
    now = time.time()
    later = email.utils.formatdate(now + 30, usegmt=True)
    assert 28.0 <= retry_after_seconds(later, now=now) <= 31.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_backoff_is_capped_full_jitter() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0)
    for attempt in range(12):
        for _ in range(20):
            assert 0.0 <= policy.backoff(attempt) <= min(4.0, 0.5 * 2**attempt)


@respx.mock
def test_network_errors_and_503_are_retried() -> None:
    route = respx.get(f"{BASE}/api/v2/spaces").mock(side_effect=[
        httpx.ConnectError("refused"), httpx.Response(503, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"results": []})])
    sleeps: list[float] = []
    assert _client(sleeps).get_json("/api/v2/spaces") == {"results": []}
    assert route.call_count == 3 and sleeps[1] == 2.0 and len(sleeps) == 2


@respx.mock
def test_giving_up_is_one_line() -> None:
    respx.get(f"{BASE}/api/v2/pages/1").mock(return_value=httpx.Response(502))
    sleeps: list[float] = []
    with pytest.raises(ImportFailure) as err:
        _client(sleeps, attempts=3).get_json("/api/v2/pages/1")
    assert str(err.value) == (f"GET {BASE}/api/v2/pages/1: 502 Bad Gateway (gave up after 3 "
                              "attempts)")
    assert len(sleeps) == 2


@respx.mock
def test_client_errors_are_not_retried_and_html_is_not_json() -> None:
    respx.get(f"{BASE}/api/v2/pages/2").mock(return_value=httpx.Response(
        400, json={"statusCode": 400, "message": "Invalid cursor"}))
    respx.get(f"{BASE}/api/v2/pages/3").mock(return_value=httpx.Response(
        200, text="<html>login</html>", headers={"content-type": "text/html"}))
    respx.get(f"{BASE}/api/v2/pages/4").mock(return_value=httpx.Response(404))
    sleeps: list[float] = []
    client = _client(sleeps)
    with pytest.raises(ImportFailure, match=r"400 Bad Request: Invalid cursor$"):
        client.get_json("/api/v2/pages/2")
    with pytest.raises(ImportFailure, match=r"the answer is not JSON \(text/html\)"):
        client.get_json("/api/v2/pages/3")
    assert client.get_json("/api/v2/pages/4", allow_404=True) is None
    with pytest.raises(ImportFailure, match="404 Not Found"):
        client.get_json("/api/v2/pages/4")
    assert sleeps == []


@respx.mock
def test_cursor_links_resolve_for_v2_and_v1() -> None:
    respx.get(f"{BASE}/api/v2/pages", params={"cursor": "c2"}).mock(
        return_value=httpx.Response(200, json={"results": [{"id": "2"}], "_links": {}}))
    respx.get(f"{BASE}/api/v2/pages").mock(return_value=httpx.Response(200, json={
        "results": [{"id": "1"}], "_links": {"next": "/wiki/api/v2/pages?cursor=c2"}}))
    respx.get(f"{BASE}/rest/api/content/search", params={"cursor": "v"}).mock(
        return_value=httpx.Response(200, json={"results": [{"id": "4"}], "_links": {}}))
    respx.get(f"{BASE}/rest/api/content/search").mock(return_value=httpx.Response(200, json={
        "results": [{"id": "3"}],
        "_links": {"next": "/rest/api/content/search?next=true&cursor=v", "base": BASE}}))
    client = _client([])
    assert [r["id"] for page in client.pages("/api/v2/pages") for r in page] == ["1", "2"]
    assert [r["id"] for page in client.pages("/rest/api/content/search", {"cql": "x"})
            for r in page] == ["3", "4"]


def test_progress_off_a_terminal_is_a_line_per_thousand(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    import sys

    progress = Progress(tty=False, stream=sys.stderr)
    for _ in range(25):
        progress.step("page", 100)
    progress.step("users", 999)
    assert capsys.readouterr().err.splitlines() == [
        "import: page: 1,000 items", "import: page: 2,000 items"]


@respx.mock
def test_attachment_labels_fall_back_to_their_own_endpoint() -> None:
    from index.importer.remote import RemoteSource

    respx.get(f"{BASE}/api/v2/attachments/7/labels").mock(return_value=httpx.Response(
        200, json={"results": [{"id": "1", "name": "scan", "prefix": "global"}], "_links": {}}))
    source = RemoteSource(_client([]))
    source.attachment_labels["8"] = {"results": [{"name": "listed", "prefix": "global"}]}
    got = source.enrich("attachment", {"id": "7"})
    assert [lab["name"] for lab in got["labels"]["results"]] == ["scan"]
    assert source.enrich("attachment", {"id": "8"})["labels"]["results"][0]["name"] == "listed"
    assert source.enrich("footer-comment", {"id": "9"}) == {"id": "9"}
