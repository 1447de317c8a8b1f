"""``cql serve`` driven by the unmodified ``atlassian-python-api`` client over real HTTP.

One server per module (a subprocess on 127.0.0.1, port chosen by the OS) over a private
copy of the fixture index; the engine the tests compare with opens the same directory.
"""

from __future__ import annotations

import pytest
from atlassian import Confluence
from atlassian.errors import ApiError as ClientApiError
from requests.exceptions import HTTPError
from serve_helpers import ALICE, ALICE_ID, DANA_ID, Server, copy_fixture_index, token

from index import AppCaller, Engine, SearchContext, UserCaller
from index.serve.access import space_id

SYNCBOT_SCOPES = "search:confluence read:content-details:confluence"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    index_dir = copy_fixture_index(tmp_path_factory.mktemp("serve-client"))
    srv = Server(index_dir)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def engine(server: Server) -> Engine:
    return Engine.open(server.index_dir)


@pytest.fixture(scope="module")
def alice(server: Server) -> Confluence:
    return Confluence(url=server.url, username=ALICE[0], password=ALICE[1])


@pytest.fixture(scope="module")
def blocked(server: Server) -> Confluence:
    """app-syncbot acting for Dana: policy p1 blocks it from HR."""
    return Confluence(url=server.url, token=token(server.index_dir, "app-syncbot",
                                                  SYNCBOT_SCOPES, DANA_ID, cli=True))


def _ids(response: dict) -> list[str]:
    return [r["content"]["id"] for r in response["results"]]


def test_cql_matches_the_engine(alice: Confluence, engine: Engine) -> None:
    got = alice.cql("space = ENG and type = page order by title", limit=10)
    want = engine.search("space = ENG and type = page order by title", limit=10,
                         caller=UserCaller(account_id=ALICE_ID))
    assert got["totalSize"] == want.totalSize > 10
    assert _ids(got) == [r.id for r in want.results]
    first = got["results"][0]
    assert first["entityType"] == "content" and first["content"]["type"] == "page"
    assert first["url"].startswith("/spaces/ENG/pages/")
    assert got["_links"]["next"].startswith("/rest/api/search?next=true&cursor=")


def test_a_comment_links_to_where_it_is(alice: Confluence) -> None:
    """A comment's web link names its container's kind (blog or pages), in the result's
    url and in its content's _links alike."""
    got = alice.cql("type = comment", limit=200)
    kinds = set()
    for result in got["results"]:
        assert result["content"]["_links"]["webui"] == result["url"]
        kinds.add(result["url"].split("/")[3])
    assert kinds == {"blog", "pages"}


def test_cql_all_follows_next_links(alice: Confluence, engine: Engine) -> None:
    everything = alice.cql_all("space = ENG and type = page", limit=7)
    want = engine.search("space = ENG and type = page", limit=1000,
                         caller=UserCaller(account_id=ALICE_ID))
    assert [r["content"]["id"] for r in everything] == [r.id for r in want.results]


def test_get_page_by_id_with_expansions(alice: Confluence, engine: Engine) -> None:
    page = alice.get_page_by_id("65617", expand="body.storage,version,ancestors")
    assert page["id"] == "65617" and page["title"] == "Services"
    # modified after its creation: version 2, by its last contributor (DIVERGENCES 78)
    assert page["version"]["number"] == 2
    assert page["version"]["by"]["accountId"] == "41d9b51714ab38dd7a3ae4c1"
    assert [a["id"] for a in page["ancestors"]] == ["65549"]
    assert "deployment pipeline" in page["body"]["storage"]["value"]
    with pytest.raises(ClientApiError):
        alice.get_page_by_id("999999999")
    archived = engine.search("type = page", context=SearchContext(
        content_statuses=("archived",))).results[0].id
    assert alice.get_page_by_id(archived)["status"] == "archived"
    # Alice's own drafts: someone else's draft is not hers to read (docs/permissions.md)
    draft = engine.search(f"type = page AND contributor = {ALICE_ID}", context=SearchContext(
        content_statuses=("draft",))).results
    others = engine.search(f"type = page AND contributor != {ALICE_ID}",
                           context=SearchContext(content_statuses=("draft",))).results
    for item in others:
        with pytest.raises(ClientApiError):
            alice.get_page_by_id(item.id, status="any")
    if draft:  # drafts only with status=any
        with pytest.raises(ClientApiError):
            alice.get_page_by_id(draft[0].id)
        assert alice.get_page_by_id(draft[0].id, status="any")["status"] == "draft"


def test_get_all_pages_from_space(alice: Confluence, engine: Engine) -> None:
    pages = list(alice.get_all_pages_from_space("ENG"))
    want = engine.search("space = ENG and type = page order by id", limit=1000,
                         context=SearchContext(include_archived_spaces=True))
    assert [p["id"] for p in pages] == [r.id for r in want.results]


def test_create_find_update_remove(alice: Confluence, engine: Engine) -> None:
    new = alice.create_page("ENG", "Serve test: quokka runbook", "<p>The quokka rotation</p>",
                            parent_id="65549")
    assert [a["id"] for a in new["ancestors"]] == ["65549"]
    found = alice.cql("text ~ quokka")
    assert _ids(found) == [new["id"]]
    assert engine.search("title ~ quokka").totalSize == 1  # the index itself changed
    updated = alice.update_page(new["id"], "Serve test: wombat runbook", "<p>Wombats</p>")
    assert updated["version"]["number"] == 2
    assert _ids(alice.cql("title ~ wombat")) == [new["id"]]
    assert alice.cql("text ~ quokka")["totalSize"] == 0
    assert alice.remove_page(new["id"]) == 204
    assert alice.cql("title ~ wombat")["totalSize"] == 0
    with pytest.raises(ClientApiError):
        alice.get_page_by_id(new["id"])


def test_update_with_a_stale_version_is_a_conflict(server: Server) -> None:
    with server.client() as http:
        made = http.post("/wiki/rest/api/content", json={
            "type": "page", "title": "Serve test: versions", "space": {"key": "ENG"},
            "body": {"storage": {"value": "<p>v1</p>", "representation": "storage"}}})
        assert made.status_code == 200
        page_id = made.json()["id"]
        stale = http.put(f"/wiki/rest/api/content/{page_id}", json={
            "type": "page", "title": "x", "version": {"number": 1}})
        assert stale.status_code == 409
        assert stale.json()["statusCode"] == 409
        assert http.delete(f"/wiki/rest/api/content/{page_id}").status_code == 204


# --- a blocked app ---------------------------------------------------------------------------

BLOCKED_QUERIES = ["space = HR", "type = page", "text ~ holiday", "space in (HR, ENG)",
                   "label = postmortem", "type in (page, blogpost) order by title"]


@pytest.mark.parametrize("query", BLOCKED_QUERIES)
def test_blocked_app_never_sees_the_blocked_space(blocked: Confluence, alice: Confluence,
                                                  engine: Engine, query: str) -> None:
    got = blocked.cql(query, limit=100, expand="content.space")
    spaces = {r["content"]["space"]["key"] for r in got["results"]}
    assert "HR" not in spaces
    caller = AppCaller(app_id="app-syncbot", kind="oauth2_3lo",
                       scopes=frozenset(SYNCBOT_SCOPES.split()), acting_for=DANA_ID)
    assert got["totalSize"] == engine.search(query, caller=caller).totalSize
    assert got["totalSize"] <= alice.cql(query)["totalSize"]


def test_blocked_app_gets_404_like_a_missing_page(blocked: Confluence, server: Server,
                                                  engine: Engine) -> None:
    hr_page = engine.search("space = HR and type = page").results[0].id
    with pytest.raises(ClientApiError) as hidden:
        blocked.get_page_by_id(hr_page)
    with pytest.raises(ClientApiError) as missing:
        blocked.get_page_by_id("999999999")
    assert str(hidden.value) == str(missing.value)
    assert list(blocked.get_all_pages_from_space("HR")) == []
    tok = token(server.index_dir, "app-syncbot",
                "read:page:confluence write:page:confluence delete:page:confluence "
                "write:confluence-content read:confluence-content.all", DANA_ID)
    with server.client(token=tok) as http:
        a = http.get(f"/wiki/api/v2/pages/{hr_page}")
        b = http.get("/wiki/api/v2/pages/999999999")
        assert a.status_code == b.status_code == 404
        assert a.json()["errors"][0]["detail"].replace(hr_page, "N") == \
            b.json()["errors"][0]["detail"].replace("999999999", "N")
        assert http.delete(f"/wiki/api/v2/pages/{hr_page}").status_code == 404
        assert http.put(f"/wiki/api/v2/pages/{hr_page}", json={
            "id": hr_page, "status": "current", "title": "x",
            "version": {"number": 2}}).status_code == 404
        assert http.delete(f"/wiki/rest/api/content/{hr_page}").status_code == 404
        child = http.post("/wiki/api/v2/pages", json={
            "spaceId": space_id("HR"), "title": "sneaky"})
        assert child.status_code == 404
    assert engine.search(f"id = {hr_page}").totalSize == 1  # untouched


def test_token_without_the_search_scope_is_refused(server: Server) -> None:
    tok = token(server.index_dir, "app-wordcount", "read:page:confluence")
    with server.client(token=tok) as http:
        r = http.get("/wiki/rest/api/search", params={"cql": "type = page"})
        assert r.status_code == 401
        assert r.json()["message"] == "Unauthorized; scope does not match"
        assert http.get("/wiki/api/v2/pages").status_code == 200  # its scope is enough here


def test_classic_and_granular_scopes_both_pass(server: Server) -> None:
    for scopes in ("search:confluence", "read:content-details:confluence"):
        with server.client(token=token(server.index_dir, "app-wordcount", scopes)) as http:
            assert http.get("/wiki/rest/api/search", params={"cql": "type = page"}
                            ).status_code == 200
    with server.client(token=token(server.index_dir, "app-roadmaps", "READ")) as http:
        assert http.get("/wiki/rest/api/search", params={"cql": "type = page"}
                        ).status_code == 200
        r = http.post("/wiki/rest/api/content", json={"type": "page", "title": "x",
                                                      "space": {"key": "ENG"}})
        assert r.status_code == 401  # Connect READ does not grant WRITE


@pytest.mark.parametrize("issuer", ["native", "auth0"])
def test_both_issuers_are_accepted(server: Server, issuer: str) -> None:
    tok = token(server.index_dir, "app-wordcount", "search:confluence", None,
                "--issuer", issuer, cli=issuer == "auth0")
    with server.client(token=tok) as http:
        assert http.get("/wiki/rest/api/search", params={"cql": "type = page"}
                        ).status_code == 200


def test_bad_credentials_are_401(server: Server) -> None:
    good = token(server.index_dir, "app-wordcount", "search:confluence")
    expired = token(server.index_dir, "app-wordcount", "search:confluence", None,
                    "--ttl", "-10")
    head, body, sig = good.split(".")
    forged = f"{head}.{body}.{sig[:-4]}AAAA"
    for auth, bearer in [(("alice@northwind.example", "wrong"), None),
                         (("nobody@example.com", "alice-api-token"), None),
                         (None, expired), (None, forged), (None, "not-a-jwt"), (None, None)]:
        with server.client(auth=auth, token=bearer) as http:
            r = http.get("/wiki/rest/api/search", params={"cql": "type = page"})
            assert r.status_code == 401, (auth, bearer)
            assert r.json()["statusCode"] == 401
            v2 = http.get("/wiki/api/v2/pages")
            assert v2.status_code == 401 and v2.json()["errors"][0]["status"] == 401


def test_a_token_accepted_before_is_refused_once_expired(server: Server) -> None:
    """The server remembers tokens it verified (auth.Authenticator._claims): never past
    their expiry."""
    import time

    import jwt

    tok = token(server.index_dir, "app-wordcount", "search:confluence", None, "--ttl", "5")
    exp = jwt.decode(tok, options={"verify_signature": False})["exp"]
    with server.client(token=tok) as http:
        for _ in range(2):
            assert http.get("/wiki/rest/api/search", params={"cql": "type = page"}
                            ).status_code == 200
        time.sleep(max(0.0, exp - time.time()) + 0.2)
        r = http.get("/wiki/rest/api/search", params={"cql": "type = page"})
        assert r.status_code == 401 and "expired" in r.json()["message"]


def test_unknown_app_token_is_401(server: Server) -> None:
    import jwt

    from index.serve.auth import signing_key

    tok = jwt.encode({"iss": "https://auth.atlassian.com", "app_id": "app-ghost",
                      "scope": "search:confluence", "exp": 4102444800},
                     signing_key(server.index_dir), algorithm="HS256")
    with server.client(token=tok) as http:
        r = http.get("/wiki/rest/api/search", params={"cql": "type = page"})
        assert r.status_code == 401 and "not installed" in r.json()["message"]


def test_credentials_added_while_running(server: Server) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "index.cli", "credentials", "add",
                          "chen@northwind.example", "--account",
                          "712020:e3c4ff03-44f6-4fe5-a615-9cda13589a09",
                          "--index", str(server.index_dir)],
                         capture_output=True, text=True, check=True).stdout.strip()
    with server.client(auth=("chen@northwind.example", out)) as http:
        assert http.get("/wiki/rest/api/search", params={"cql": "type = page"}
                        ).status_code == 200
    with server.client(auth=None) as http:
        assert http.get("/wiki/rest/api/content/65549").status_code == 401


# --- errors ------------------------------------------------------------------------------------


def test_cql_errors_in_the_v1_shape(server: Server) -> None:
    with server.client() as http:
        r = http.get("/wiki/rest/api/search", params={"cql": "type = page and"})
        assert r.status_code == 400
        body = r.json()
        assert body["statusCode"] == 400 and body["message"].startswith("Could not parse cql")
        assert body["data"]["cqlError"]["line"] == 1
        assert body["data"]["cqlError"]["column"] == 13
        with pytest.raises(HTTPError):
            Confluence(url=server.url, username=ALICE[0], password=ALICE[1]).get(
                "rest/api/search", params={"cql": "nosuchfield = 1"})
        assert http.get("/wiki/rest/api/search").status_code == 400
        assert http.get("/wiki/rest/api/search", params={"cql": "type = page", "limit": "x"}
                        ).status_code == 400


def test_v2_errors_in_the_v2_shape(server: Server) -> None:
    with server.client() as http:
        r = http.get("/wiki/api/v2/pages/12")
        assert r.status_code == 404
        assert r.json()["errors"][0]["status"] == 404
        assert r.json()["errors"][0]["code"] == "NOT_FOUND"
        assert http.get("/wiki/api/v2/pages", params={"limit": "-1"}).status_code == 400
