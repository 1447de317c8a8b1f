"""v2 attachments, comments, content properties and v1 user lookup on a real server.

These are the endpoints ``cql import`` reads besides pages and spaces. Checked here: the
shapes (Confluence Cloud's field names), cursor paging through ``_links.next`` and the
``Link`` header, trash and purge, scopes, and the app access rule: a comment or
attachment in a space a policy blocks for the app is absent from every list and its id
is the same 404 as a missing one.
"""

from __future__ import annotations

import httpx
import pytest
from serve_helpers import ALICE_ID, DANA_ID, Server, copy_fixture_index, token

from index.core.context import SearchContext
from index.engine import Engine
from index.security.callers import UserCaller

V2 = "/wiki/api/v2"
HR_PAGE, HR_COMMENT, HR_ATTACHMENT = "68198", "66096", "68273"
READS = ("read:attachment:confluence read:comment:confluence read:page:confluence "
         "read:user:confluence")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(copy_fixture_index(tmp_path_factory.mktemp("serve-contained")),
                 "--no-webhooks")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def engine(server: Server) -> Engine:
    return Engine.open(server.index_dir)


def _all(http: httpx.Client, path: str, **params: str) -> list[dict]:
    """Every record of a v2 list, following ``_links.next`` (and checking ``Link``)."""
    seen: list[dict] = []
    r = http.get(path, params={"limit": "40", **params})
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        seen += body["results"]
        nxt = body["_links"].get("next")
        if not nxt:
            assert "link" not in r.headers
            return seen
        assert r.headers["link"].startswith(f"<{nxt}>; rel=\"next\"")
        r = http.get(nxt)


def test_lists_page_through_everything_alice_may_see(server: Server, engine: Engine) -> None:
    alice = UserCaller(account_id=ALICE_ID)
    with server.client() as http:
        for path, kind in (("attachments", "attachment"), ("footer-comments", "comment")):
            got = [r["id"] for r in _all(http, f"{V2}/{path}", status="current")]
            want = engine.search(f"type = {kind} order by id", limit=1000, caller=alice,
                                 context=SearchContext(include_archived_spaces=True))
            assert got == [r.id for r in want.results] and len(got) > 40
        assert _all(http, f"{V2}/inline-comments") == []  # the format has none


def test_shapes_of_attachments_comments_and_versions(server: Server) -> None:
    with server.client() as http:
        attachment = http.get(f"{V2}/attachments/{HR_ATTACHMENT}",
                              params={"include-labels": "true"}).json()
        assert attachment["pageId"] == HR_PAGE and attachment["title"].endswith(".pdf")
        assert attachment["mediaType"] == "application/pdf"
        assert attachment["downloadLink"].startswith(f"/download/attachments/{HR_PAGE}/")
        assert set(attachment["version"]) >= {"number", "authorId", "createdAt"}
        assert "labels" in attachment and "authorId" not in attachment  # as in Cloud
        comment = http.get(f"{V2}/footer-comments/{HR_COMMENT}",
                           params={"body-format": "storage"}).json()
        assert comment["pageId"] == "65969" and comment["title"].startswith("Re: ")
        assert comment["body"]["storage"]["value"].startswith("<")
        on_page = _all(http, f"{V2}/pages/65969/footer-comments", **{"body-format": "storage"})
        assert HR_COMMENT in {c["id"] for c in on_page}
        assert {a["id"] for a in _all(http, f"{V2}/pages/{HR_PAGE}/attachments")} >= {
            HR_ATTACHMENT, "68306"}
        first = http.get(f"{V2}/footer-comments/{HR_COMMENT}/versions/1").json()
        assert first["number"] == 1 and first["authorId"]
        assert http.get(f"{V2}/footer-comments/{HR_COMMENT}/versions/7").status_code == 404
        labels = http.get(f"{V2}/attachments/{HR_ATTACHMENT}/labels").json()["results"]
        assert all(x["prefix"] == "global" for x in labels)


def test_properties_labels_and_spaces_inline(server: Server, engine: Engine) -> None:
    page = engine.search("id = 66012").results[0]
    with server.client() as http:
        full = http.get(f"{V2}/pages/66012", params={
            "include-labels": "true", "include-properties": "true",
            "body-format": "storage"}).json()
        props = _all(http, f"{V2}/pages/66012/properties")
        assert props and full["properties"]["results"] == props
        assert full["properties"]["meta"]["hasMore"] is False
        assert [x["name"] for x in full["labels"]["results"]] == page.labels
        spaces = http.get(f"{V2}/spaces", params={"include-labels": "true",
                                                  "keys": "ENG"}).json()["results"]
        assert [x["name"] for x in spaces[0]["labels"]["results"]] == \
            engine.spaces["ENG"].categories
        assert all(x["prefix"] == "team" for x in spaces[0]["labels"]["results"])


def test_user_bulk(server: Server, engine: Engine) -> None:
    with server.client() as http:
        r = http.get("/wiki/rest/api/user/bulk", params=[
            ("accountId", ALICE_ID), ("accountId", "nobody"), ("accountId", DANA_ID)])
        got = r.json()["results"]
        assert [(u["accountId"], u["displayName"]) for u in got] == [
            (ALICE_ID, "Alice Nguyen"), (DANA_ID, "Dana Okafor")]
        assert http.get("/wiki/rest/api/user/bulk").status_code == 400


def test_blocked_app_sees_no_hr_comment_or_attachment(server: Server) -> None:
    """app-syncbot acting for Dana: policy p1 blocks it from HR (Dana may read HR)."""
    with server.client(token=token(server.index_dir, "app-syncbot", READS, DANA_ID)) as app:
        listed = {r["id"] for path in ("attachments", "footer-comments")
                  for r in _all(app, f"{V2}/{path}")}
        assert listed and not listed & {HR_COMMENT, HR_ATTACHMENT}
        for path in (f"attachments/{HR_ATTACHMENT}", f"footer-comments/{HR_COMMENT}",
                     f"attachments/{HR_ATTACHMENT}/labels",
                     f"footer-comments/{HR_COMMENT}/versions/1",
                     f"pages/{HR_PAGE}/attachments", f"pages/{HR_PAGE}/footer-comments",
                     f"pages/{HR_PAGE}/properties"):
            hidden = app.get(f"{V2}/{path}")
            missing = app.get(f"{V2}/{path.replace(path.split('/')[1], '999999999')}")
            assert hidden.status_code == missing.status_code == 404, path
            assert hidden.json()["errors"][0]["detail"].replace(path.split("/")[1], "N") \
                == missing.json()["errors"][0]["detail"].replace("999999999", "N")
        users = app.get("/wiki/rest/api/user/bulk", params={"accountId": ALICE_ID})
        assert users.status_code == 200  # users are exempt from the app access rule
    with server.client(token=token(server.index_dir, "app-syncbot", "read:page:confluence",
                                   DANA_ID)) as narrow:
        for path in ("attachments", "footer-comments", f"attachments/{HR_ATTACHMENT}"):
            refused = narrow.get(f"{V2}/{path}")
            assert refused.status_code == 401, path
            assert refused.json()["errors"][0]["detail"] == \
                "Unauthorized; scope does not match"


def test_trash_then_purge(server: Server, engine: Engine) -> None:
    """v1 DELETE trashes a page with its comments and attachments and moves its children
    up; a second DELETE with ``status=trashed`` purges it (Alice administers ENG)."""
    page = "67391"  # in ENG, below 66996, with children and a comment
    children = [r.id for r in engine.search(f"parent = {page}").results]
    held = [r.id for r in engine.search(f"container = {page}").results]
    assert children and held
    with server.client() as http:
        assert http.delete(f"/wiki/rest/api/content/{page}").status_code == 204
        trashed = http.get(f"{V2}/pages/{page}").json()
        assert trashed["status"] == "trashed"
        for item in held:
            assert engine.search(f"id = {item}").totalSize == 0  # left search with it
        assert {r.id for r in engine.search("parent = 66996").results} >= set(children)
        assert http.delete(f"{V2}/pages/{page}").status_code == 400  # purge=true needed
        assert http.delete(f"/wiki/rest/api/content/{page}",
                           params={"status": "trashed"}).status_code == 204
        assert http.get(f"{V2}/pages/{page}").status_code == 404
    every = SearchContext(content_statuses=("current", "draft", "archived", "trashed"))
    assert engine.search(f"id in ({page}, {', '.join(held)})", context=every).totalSize == 0
