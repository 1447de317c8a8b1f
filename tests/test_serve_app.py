"""In-process checks of the ASGI app (Starlette's test client): options and small rules
whose end-to-end paths the real-server tests already cover."""

from __future__ import annotations

import warnings

import pytest
from serve_helpers import ALICE, copy_fixture_index

from index import Engine
from index.core.context import SearchContext
from index.serve.access import space_id
from index.serve.app import create_app
from index.serve.operations import operation, operations

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _alice(engine: Engine) -> TestClient:
    client = TestClient(create_app(engine, webhooks=False))
    client.auth = ALICE
    return client


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.open(copy_fixture_index(tmp_path_factory.mktemp("serve-app")))


def test_anonymous_only_when_allowed(engine: Engine) -> None:
    closed = TestClient(create_app(engine, webhooks=False))
    assert closed.get("/wiki/rest/api/search", params={"cql": "type = page"}
                      ).status_code == 401
    open_site = TestClient(create_app(engine, webhooks=False, allow_anonymous=True))
    r = open_site.get("/wiki/rest/api/search", params={"cql": "type = page"})
    assert r.status_code == 200 and r.json()["totalSize"] > 0
    made = open_site.post("/wiki/rest/api/content", json={
        "type": "page", "title": "anonymous", "space": {"key": "ENG"}})
    assert made.status_code == 403  # anonymous callers never write


def test_space_ids_are_derived_from_keys(engine: Engine) -> None:
    client = _alice(engine)
    spaces = client.get("/wiki/api/v2/spaces", params={"limit": 250}).json()["results"]
    assert {s["key"]: s["id"] for s in spaces} == {k: space_id(k) for k in engine.spaces}
    assert space_id("ENG") == space_id("eng") == "144027486509363"  # stable across builds
    one = client.get(f"/wiki/api/v2/spaces/{space_id('HR')}").json()
    assert one["key"] == "HR"


def test_exclude_current_spaces_searches_archived_spaces_only(engine: Engine) -> None:
    """``excludeCurrentSpaces=true``: "exclude current spaces and only show archived
    spaces", as Confluence documents the parameter; the next link keeps it."""
    client = _alice(engine)
    archived = {k for k, s in engine.spaces.items() if s.status == "archived"}
    params = {"cql": "type = page", "excludeCurrentSpaces": "true", "limit": 5}
    r = client.get("/wiki/rest/api/search", params=params)
    body = r.json()
    assert r.status_code == 200 and body["totalSize"] > 5
    seen = [x["content"]["id"] for x in body["results"]]
    nxt = client.get(body["_links"]["base"] + body["_links"]["next"]).json()
    seen += [x["content"]["id"] for x in nxt["results"]]
    spaces = {r.space for r in engine.search(
        f"id in ({', '.join(seen)})", limit=100,
        context=SearchContext(include_archived_spaces=True)).results}
    assert spaces == archived and len(seen) == 10
    current = client.get("/wiki/rest/api/search", params={"cql": "type = page"}).json()
    assert current["totalSize"] > 0 and not {
        x["resultGlobalContainer"]["title"] for x in current["results"]} & {
        engine.spaces[k].name for k in archived}


def test_v2_paging_with_link_header(engine: Engine) -> None:
    client = _alice(engine)
    seen: list[str] = []
    r = client.get("/wiki/api/v2/pages", params={"limit": 50, "space-id": space_id("ENG")})
    while True:
        body = r.json()
        seen += [p["id"] for p in body["results"]]
        if "next" not in body["_links"]:
            assert "link" not in r.headers
            break
        assert r.headers["link"].startswith(f"<{body['_links']['next']}>")
        r = client.get(body["_links"]["next"])
    want = engine.search("space = ENG and type = page order by id", limit=1000)
    assert seen == [x.id for x in want.results]


def test_v2_tree_reads_and_embed_lifecycle(engine: Engine) -> None:
    client = _alice(engine)
    kids = client.get("/wiki/api/v2/pages/65549/children").json()["results"]
    assert "65617" in {k["id"] for k in kids}
    assert client.get("/wiki/api/v2/pages/65617/ancestors").json()["results"] == [
        {"id": "65549", "type": "page"}]
    labels = client.get("/wiki/api/v2/pages/65617/labels").json()["results"]
    assert {x["name"] for x in labels} == {"adr", "how-to", "postmortem"}
    made = client.post("/wiki/api/v2/embeds", json={
        "spaceId": space_id("ENG"), "title": "Status page", "parentId": "65549",
        "embedUrl": "https://status.example"})
    assert made.status_code == 200, made.text
    embed = made.json()
    assert embed["parentType"] == "page" and embed["embedUrl"] == "https://status.example"
    assert client.get(f"/wiki/api/v2/embeds/{embed['id']}").status_code == 200
    assert client.get(f"/wiki/api/v2/pages/{embed['id']}").status_code == 404  # wrong type
    # DELETE trashes (Alice administers ENG, so she still reads it), purge=true purges
    assert client.delete(f"/wiki/api/v2/embeds/{embed['id']}").status_code == 204
    trashed = client.get(f"/wiki/api/v2/embeds/{embed['id']}")
    assert trashed.status_code == 200 and trashed.json()["status"] == "trashed"
    again = client.delete(f"/wiki/api/v2/embeds/{embed['id']}")
    assert again.status_code == 400 and "purge=true" in again.json()["errors"][0]["detail"]
    assert client.delete(f"/wiki/api/v2/embeds/{embed['id']}",
                         params={"purge": "true"}).status_code == 204
    assert client.get(f"/wiki/api/v2/embeds/{embed['id']}").status_code == 404


def test_data_policy_endpoints_as_the_app_sees_them(engine: Engine) -> None:
    from serve_helpers import DANA_ID, token

    client = TestClient(create_app(engine, webhooks=False))
    blocked = token(engine.index_dir, "app-syncbot",
                    "read:configuration:confluence read:space:confluence", DANA_ID)
    free = token(engine.index_dir, "app-roadmaps", "READ")
    for tok, any_blocked in ((blocked, True), (free, False)):
        headers = {"Authorization": f"Bearer {tok}"}
        meta = client.get("/wiki/api/v2/data-policies/metadata", headers=headers).json()
        assert meta == {"anyContentBlocked": any_blocked}
        spaces = client.get("/wiki/api/v2/data-policies/spaces", params={"limit": 250},
                            headers=headers).json()["results"]
        assert {s["key"] for s in spaces if s["dataPolicy"]["anyContentBlocked"]} == (
            {"HR"} if any_blocked else set())


def test_operations_table_is_consistent() -> None:
    ops = operations()
    assert operation("getPageById").exempt is False
    assert operation("getSpaces").exempt is True
    assert operation("createSmartLink").allows("forge", frozenset({"write:embed:confluence"}))
    assert not operation("createSmartLink").allows("forge", frozenset({"read:embed:confluence"}))
    assert operation("deletePage").allows("connect", frozenset({"ADMIN"}))
    assert not operation("deletePage").allows("connect", frozenset({"WRITE"}))
    assert all(op.scopes for op in ops.values())


def test_v1_paging_with_the_real_clock(engine: Engine) -> None:
    """The clock of the first page travels in the cursor, so ``now()`` queries page too."""
    client = _alice(engine)
    query = 'type = page and created > now("-2000d")'
    r = client.get("/wiki/rest/api/search", params={"cql": query, "limit": 40})
    seen: list[str] = []
    while True:
        body = r.json()
        assert r.status_code == 200, body
        seen += [x["content"]["id"] for x in body["results"]]
        if "next" not in body["_links"]:
            break
        r = client.get(body["_links"]["base"] + body["_links"]["next"])
    assert len(seen) == len(set(seen)) == body["totalSize"] > 40
    tampered = body["_links"]["self"]
    bad = client.get("/wiki/rest/api/search", params={"cql": query, "cursor": "abc.123"})
    assert bad.status_code == 400 and tampered


USER_SEARCHES = [
    ("type = user and user.fullname ~ alice", ["23c11178a44ef240b0fc3f05"]),
    ('user.fullname ~ "bru cos"', ["3a759a057d9a7ed11ee5af5f"]),
    ("user = currentUser()", ["23c11178a44ef240b0fc3f05"]),
    ("user.accountid in (23c11178a44ef240b0fc3f05, 3a759a057d9a7ed11ee5af5f)",
     ["23c11178a44ef240b0fc3f05", "3a759a057d9a7ed11ee5af5f"]),
]


@pytest.mark.parametrize(("query", "ids"), USER_SEARCHES)
def test_user_search(engine: Engine, query: str, ids: list[str]) -> None:
    r = _alice(engine).get("/wiki/rest/api/search/user", params={"cql": query})
    assert r.status_code == 200, r.text
    assert [x["user"]["accountId"] for x in r.json()["results"]] == ids
    assert r.json()["results"][0]["entityType"] == "user"


def test_user_search_rejects_content_fields_and_vice_versa(engine: Engine) -> None:
    client = _alice(engine)
    r = client.get("/wiki/rest/api/search/user", params={"cql": "space = ENG"})
    assert r.status_code == 400 and r.json()["data"]["cqlError"]["code"] == "unknown_field"
    r = client.get("/wiki/rest/api/search", params={"cql": "user.fullname ~ alice"})
    assert r.status_code == 400
    assert r.json()["data"]["cqlError"]["code"] == "user_search_field"
    everyone = client.get("/wiki/rest/api/search/user",
                          params={"cql": "type = user", "limit": 5}).json()
    assert everyone["totalSize"] == len(engine.users) and everyone["size"] == 5
    assert everyone["_links"]["next"].startswith("/rest/api/search/user?")
