"""Property: ``/wiki/rest/api/search`` is ``Engine.search`` over HTTP.

For generated queries, callers and page sizes, walking the server's pages through
``_links.next`` yields exactly the ids, order and ``totalSize`` of walking the engine's
pages through its cursors, for the same caller, in a fresh engine on the same index.
"""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serve_helpers import ALICE, ALICE_ID, DANA_ID, FIXED_NOW, Server, copy_fixture_index, token

from index import AppCaller, Engine, SearchContext, UserCaller

BRUNO = ("bruno@northwind.example", "bruno-api-token")
BRUNO_ID = "3a759a057d9a7ed11ee5af5f"
SYNCBOT = "search:confluence"

clause = st.one_of(
    st.sampled_from(["page", "blogpost", "comment", "attachment", "whiteboard"]).map(
        lambda t: f"type = {t}"),
    st.sampled_from(["ENG", "HR", "PROD", "MKT", "LEGACY", '"~alice"']).map(
        lambda k: f"space = {k}"),
    st.sampled_from(["how-to", "needs_review", "api", "security", "notes"]).map(
        lambda k: f"label = {k}"),
    st.sampled_from(["deployment", "holiday", "pipeline", "pricing", "review"]).map(
        lambda w: f"text ~ {w}"),
    st.sampled_from([ALICE_ID, BRUNO_ID, DANA_ID]).map(lambda a: f'creator = "{a}"'),
    st.just("created > now(\"-400d\")"),
)
where = st.lists(st.tuples(clause, st.sampled_from([" and ", " or "])), min_size=1,
                 max_size=3).map(lambda parts: "".join(c + j for c, j in parts)[:-5]
                                 if parts[-1][1] == " and " else
                                 "".join(c + j for c, j in parts)[:-4])
order = st.sampled_from(["", " order by title", " order by created desc", " order by id",
                         " order by lastmodified"])
queries = st.builds(lambda w, o: w + o, where, order)
callers = st.sampled_from(["alice", "bruno", "syncbot", "wordcount"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    index_dir = copy_fixture_index(tmp_path_factory.mktemp("serve-props"))
    srv = Server(index_dir, "--no-webhooks")
    clients = {
        "alice": srv.client(auth=ALICE),
        "bruno": srv.client(auth=BRUNO),
        "syncbot": srv.client(token=token(index_dir, "app-syncbot", SYNCBOT, DANA_ID)),
        "wordcount": srv.client(token=token(index_dir, "app-wordcount", SYNCBOT)),
    }
    engine_callers = {
        "alice": UserCaller(account_id=ALICE_ID),
        "bruno": UserCaller(account_id=BRUNO_ID),
        "syncbot": AppCaller(app_id="app-syncbot", kind="oauth2_3lo",
                             scopes=frozenset({SYNCBOT}), acting_for=DANA_ID),
        "wordcount": AppCaller(app_id="app-wordcount", kind="forge",
                               scopes=frozenset({SYNCBOT})),
    }
    yield srv, clients, engine_callers, Engine.open(index_dir)
    for client in clients.values():
        client.close()
    srv.stop()


def _server_pages(client: httpx.Client, query: str, limit: int) -> list[tuple[list[str], int]]:
    pages = []
    response = client.get("/wiki/rest/api/search",
                          params={"cql": query, "limit": limit, "excerpt": "none"})
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(([r["content"]["id"] if r["entityType"] == "content"
                       else "space:" + r["space"]["key"] for r in body["results"]],
                      body["totalSize"]))
        nxt = body["_links"].get("next")
        if nxt is None:
            return pages
        response = client.get(body["_links"]["base"] + nxt)


def _engine_pages(engine: Engine, caller: object, query: str, limit: int
                  ) -> list[tuple[list[str], int]]:
    context = SearchContext(now=datetime.fromisoformat(FIXED_NOW))
    pages, cursor = [], None
    while True:
        page = engine.search(query, caller=caller, context=context, limit=limit,
                             cursor=cursor, excerpt="none")
        pages.append(([r.id for r in page.results], page.totalSize))
        if page.next is None:
            return pages
        cursor = page.next


@settings(max_examples=30)
@given(query=queries, who=callers, limit=st.integers(1, 40))
def test_http_search_pages_equal_engine_pages(setup, query: str, who: str, limit: int) -> None:
    _, clients, engine_callers, engine = setup
    got = _server_pages(clients[who], query, limit)
    want = _engine_pages(engine, engine_callers[who], query, limit)
    assert got == want
    if who == "syncbot":
        shown = {i for ids, _ in got for i in ids}
        hr = {r.id for r in engine.search("space = HR", limit=1000).results}
        assert not shown & hr
