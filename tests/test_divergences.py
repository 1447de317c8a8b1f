"""Pins for the entries of DIVERGENCES.md that no other test pinned.

Each test here names the DIVERGENCES.md entry it holds in place. The data-driven part is
``tests/cases/divergences.jsonl``, one case per line, run by ``test_case``:

* ``canonical``: ``cql`` parses (in ``dialect``, default strict) and normalizes to it;
* ``error``: ``cql`` raises ``CqlError`` with ``code`` at ``column`` (message containing
  ``message_contains``);
* ``expected``: ``Engine.search`` over ``tests/sites/tiny`` (optional ``context``) returns
  these ids, in this order when ``ordered`` is true, as a set otherwise.

The other tests build small sites of their own in a temporary directory.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sitegen import all_ids

import cql
from index.core.context import DEFAULT_NOW, SearchContext
from index.engine import Engine, SearchPage, SearchResult
from index.errors import EngineError
from index.security.callers import AppCaller
from index.security.events import CONTAINER_EVENT, Delivery

HERE = Path(__file__).parent
TINY = HERE / "sites" / "tiny"
CASES = [json.loads(line) for line in
         (HERE / "cases" / "divergences.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]
SEARCH = frozenset({"search:confluence"})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.build(TINY, tmp_path_factory.mktemp("tiny") / "index")



def test_case_names_are_unique() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any], request: pytest.FixtureRequest) -> None:
    dialect = case.get("dialect", "strict")
    text = case["cql"]
    if "canonical" in case:
        assert cql.to_cql(cql.normalize(cql.parse(text, dialect=dialect))) == case["canonical"]
        return
    if "error" in case:
        want = case["error"]
        with pytest.raises(cql.CqlError) as info:
            cql.parse(text, dialect=dialect)
        err = info.value
        assert (err.code.value, err.column) == (want["code"], want["column"]), err.message
        assert want.get("message_contains", "") in err.message
        return
    engine: Engine = request.getfixturevalue("tiny")
    context = SearchContext.model_validate({"now": DEFAULT_NOW, **(case.get("context") or {})})
    got = all_ids(engine, text, context=context, dialect=dialect)
    if case.get("ordered"):
        assert got == case["expected"]
    else:
        assert sorted(got) == sorted(case["expected"])


# --- Results and paging --------------------------------------------------------------------


def test_limit_zero_is_treated_as_one(tiny: Engine) -> None:
    """DIVERGENCES: limit clamped to 1000, limit 0 treated as 1."""
    page = tiny.search("type = page", limit=0)
    assert (page.limit, page.size) == (1, 1)
    assert tiny.search("type = page", limit=1001).limit == 1000


def test_there_are_no_body_expansions() -> None:
    """DIVERGENCES: no ``expand``; the 50/25 caps for body expansions do not exist."""
    with pytest.raises(TypeError):
        Engine.search(None, "type = page", expand=["content.body.storage"])  # type: ignore


def test_result_and_page_shape(tiny: Engine) -> None:
    """DIVERGENCES: our flat result shape; ``next`` is a bare cursor; no ``prev``."""
    assert set(SearchPage.model_fields) == {
        "results", "start", "limit", "size", "totalSize", "cqlQuery", "searchDuration", "next"}
    assert set(SearchResult.model_fields) == {
        "id", "entityType", "type", "status", "title", "space", "url", "excerpt",
        "lastModified", "created", "score", "creator", "parentId", "containerId",
        "fileName", "labels"}
    page = tiny.search("type = page", limit=2)
    assert page.next is not None and not page.next.startswith(("/", "http"))
    [space] = tiny.search("type = space AND space = DEV").results
    assert (space.entityType, space.lastModified, space.url) == ("space", None, "/spaces/DEV")


def test_last_modified_is_utc_with_milliseconds_and_score_none_when_sorted(
        tiny: Engine) -> None:
    """DIVERGENCES: ``lastModified`` rendered in UTC with milliseconds; ``score`` null
    when the results are not relevance-ranked."""
    [item] = tiny.search("id = 19").results
    assert item.lastModified == "2026-11-01T12:00:00.600Z"
    [item] = tiny.search("id = 13").results  # written with +09:00
    assert item.created == "2026-03-10T22:30:00.000Z"
    assert item.score is None
    assert all(r.score is None for r in tiny.search("text ~ release ORDER BY title").results)
    assert all(r.score and r.score > 0 for r in tiny.search("text ~ release").results)


def test_a_cursor_is_bound_to_the_context(tiny: Engine) -> None:
    """DIVERGENCES: cursors are bound to query, caller, mask and context."""
    utc = SearchContext()
    page = tiny.search("type = page", limit=2, context=utc)
    assert page.next is not None
    assert tiny.search("type = page", limit=2, context=utc, cursor=page.next).start == 2
    for other in (SearchContext(tz="Asia/Tokyo"), SearchContext(include_archived_spaces=True)):
        with pytest.raises(EngineError) as err:
            tiny.search("type = page", limit=2, context=other, cursor=page.next)
        assert err.value.code == "bad_cursor"


def test_exclude_current_spaces_keeps_archived_spaces_only(tiny: Engine) -> None:
    """DIVERGENCES 30: ``excludeCurrentSpaces`` keeps archived spaces only (Confluence's
    documented meaning); the engine and the reference evaluator agree on it."""
    from index.reference.evaluator import ReferenceEvaluator
    from index.site.loader import load_site

    context = SearchContext.model_validate({"excludeCurrentSpaces": True})
    archived = {k for k, s in tiny.spaces.items() if s.status == "archived"}
    assert archived
    reference = ReferenceEvaluator(load_site(TINY))
    for text in ("type = page order by id", "type = space order by id",
                 "type = space or type != space order by id"):
        page = tiny.search(text, context=context, limit=1000)
        assert page.totalSize > 0
        assert {r.space for r in page.results} <= archived
        assert [r.id for r in page.results] == reference.search(cql.parse(text),
                                                                context=context)
    with pytest.raises(ValidationError):
        SearchContext.model_validate({"excludeCurrentSpace": True})  # a typo stays an error


# --- a small site of our own -----------------------------------------------------------------

MINI_APPS = [
    {"app_id": "app-f", "kind": "forge", "name": "Forge app"},
    {"app_id": "app-c", "kind": "connect", "name": "Connect app"},
]
MINI_POLICIES = [
    {"id": "p-b", "name": "Block app-f from B", "active": True,
     "coverage": {"level": "CONTAINER", "spaces": ["B"]},
     "rules": {"app_access": {"mode": "blocklist", "apps": ["app-f"]}}},
    {"id": "p-all", "name": "Block all apps", "active": False,
     "coverage": {"level": "WORKSPACE"},
     "rules": {"app_access": {"mode": "allowlist", "apps": []}}},
]
LONG_BODY = " ".join(["filler"] * 80 + ["needle"] + ["filler"] * 80)


def _item(id_: str, title: str, body: str = "", *, space: str = "A", day: int = 1,
          **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": id_, "type": "page", "title": title, "space": space,
                            "creator": "u1", "created": f"2024-01-{day:02d}T00:00:00Z",
                            "body": body}
    item.update(extra)
    return item


MINI_CONTENT = [
    _item("1", "First", "alpha"),
    _item("3", "Twin", "omega", lastmodified="2024-02-01T00:00:00Z"),
    _item("4", "Twin", "omega", lastmodified="2024-03-01T00:00:00Z"),
    _item("5", "Report one", "We ran the tests."),
    _item("6", "Report two", "We run the tests."),
    _item("7", "Long", LONG_BODY),
    _item("8", "Secret", "classified words", space="B"),
    {"id": "9", "type": "comment", "title": "", "space": "A", "container_id": "1",
     "creator": "u1", "created": "2024-01-05T00:00:00Z", "body": "nice"},
    {"id": "10", "type": "comment", "title": "", "space": "A", "container_id": "9",
     "creator": "u1", "created": "2024-01-06T00:00:00Z", "body": "a reply"},
    _item("11", "Due", properties={"review": {"due": "2024-05-01"}}),
    _item("12", "Mover", "moving soon"),
]


def _write_site(path: Path, content: list[dict[str, Any]], *, policies: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    spaces = [{"key": "A", "name": "Space A", "type": "global"},
              {"key": "B", "name": "Space B", "type": "global"}]
    (path / "spaces.jsonl").write_text("".join(json.dumps(s) + "\n" for s in spaces))
    (path / "users.jsonl").write_text(
        json.dumps({"account_id": "u1", "display_name": "User One"}) + "\n")
    (path / "content.jsonl").write_text("".join(json.dumps(c) + "\n" for c in content))
    if policies:
        (path / "apps.json").write_text(json.dumps(MINI_APPS))
        (path / "policies.json").write_text(json.dumps(MINI_POLICIES))
        (path / "site.json").write_text(json.dumps(
            {"cloud_id": "cloud-mini", "name": "Mini", "base_url": "https://mini.example"}))
    return path


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """Read-only: tests that change policies or content use ``mini_copy``."""
    base = tmp_path_factory.mktemp("mini")
    return Engine.build(_write_site(base / "site", MINI_CONTENT), base / "index")


@pytest.fixture
def mini_copy(mini: Engine, tmp_path: Path) -> Engine:
    target = tmp_path / "index"
    shutil.copytree(mini.index_dir, target)
    return Engine.open(target)


def test_replies_to_comments_are_rejected_at_load(mini: Engine) -> None:
    """DIVERGENCES: a comment's container may not be a comment (no threaded replies)."""
    assert mini.count("id = 10") == 0 and mini.count("id = 9") == 1
    report = mini.last_build
    assert report is not None
    assert [r for r in report.rejects if "id 10:" in r] == [
        "content.jsonl:9: id 10: container_id 9 is a comment, which cannot hold a comment"]


def test_ran_is_not_run(mini: Engine) -> None:
    """DIVERGENCES: Porter2 stemming only; irregular forms are their own words."""
    assert all_ids(mini, "text ~ run") == ["6"]
    assert all_ids(mini, "text ~ ran") == ["5"]
    assert sorted(all_ids(mini, "type = page AND text !~ run AND title ~ report")) == ["5"]


def test_relevance_ties_go_to_the_newest_then_the_lowest_id(mini: Engine) -> None:
    """DIVERGENCES: default order is relevance, then lastmodified desc, then id."""
    page = mini.search("text ~ omega")
    assert [r.id for r in page.results] == ["4", "3"]  # equal scores: newer first
    assert page.results[0].score == page.results[1].score


def test_property_dates_are_text_not_dates(mini: Engine) -> None:
    """DIVERGENCES: content properties have no date extraction type."""
    assert all_ids(mini, "content.property[review].due = 2024-05-01") == ["11"]
    assert all_ids(mini, "content.property[review].due > 2024-01-01") == []
    assert all_ids(mini, 'content.property[review].due > "2024-01-01"') == []


def test_excerpt_format(mini: Engine) -> None:
    """DIVERGENCES: excerpts are a ~240-character window around the first match, cut at
    words, with ``...`` where text was left out, in every mode (no 50-character cut)."""
    [hit] = mini.search("text ~ needle").results
    plain = hit.excerpt.replace("@@@hl@@@", "").replace("@@@endhl@@@", "")
    assert hit.excerpt.count("@@@hl@@@needle@@@endhl@@@") == 1
    assert plain.startswith("...") and plain.endswith("...")
    assert 200 <= len(plain) <= 240 + 6
    [hit] = mini.search("text ~ needle", excerpt="indexed").results
    assert "@@@" not in hit.excerpt and hit.excerpt.endswith("...")
    assert hit.excerpt.startswith("filler filler") and 200 <= len(hit.excerpt) <= 243
    assert hit.title == "Long"


def test_an_app_presenting_another_kind_is_refused(mini: Engine) -> None:
    """DIVERGENCES: the installed kind decides the checks; a caller claiming another
    kind is refused."""
    for caller in (AppCaller(app_id="app-f", kind="connect", scopes=frozenset({"READ"})),
                   AppCaller(app_id="app-c", kind="forge", scopes=SEARCH),
                   AppCaller(app_id="app-c", kind="oauth2_3lo", scopes=SEARCH,
                             acting_for="u1")):
        with pytest.raises(EngineError) as err:
            mini.search("type = page", caller=caller)
        assert err.value.code == "permission"
        assert "is installed as a" in err.value.message
    # presented as installed, the same apps search
    assert mini.count("space = B", caller=AppCaller(app_id="app-f", kind="forge",
                                                    scopes=SEARCH)) == 0
    assert mini.count("space = B", caller=AppCaller(app_id="app-c", kind="connect",
                                                    scopes=frozenset({"READ"}))) == 1


def test_connect_apps_get_policy_events(mini_copy: Engine) -> None:
    """DIVERGENCES: events go to every installed app kind, Connect included."""
    got: list[Delivery] = []
    layer = mini_copy.policy_layer()
    layer.bus.subscribe(got.append)
    layer.change("activate", "p-all")
    containers: dict[str, list[str]] = {}
    for d in got:
        if d.event.type == CONTAINER_EVENT:
            containers.setdefault(d.app_id, []).append(d.event.to_wire()["data"]["container"]
                                                       ["id"])
    assert containers == {"app-c": ["A", "B"], "app-f": ["A"]}


def test_moving_content_into_a_blocked_space_sends_no_event(mini_copy: Engine) -> None:
    """DIVERGENCES: only policy changes generate events; an upsert that moves content
    into a covered space hides it from the app without telling it."""
    app = AppCaller(app_id="app-f", kind="forge", scopes=SEARCH)
    layer = mini_copy.policy_layer()
    got: list[Delivery] = []
    layer.bus.subscribe(got.append)
    seq = layer.log.last_seq
    assert mini_copy.count("id = 12", caller=app) == 1
    moved = next(c for c in MINI_CONTENT if c["id"] == "12") | {"space": "B"}
    assert mini_copy.upsert([moved]) == []
    assert mini_copy.count("id = 12", caller=app) == 0
    assert mini_copy.count("id = 12") == 1
    assert got == [] and layer.log.last_seq == seq


def _bm25(tf: float, length: int, avg: float, n: int, df: int) -> float:
    """Whoosh's BM25F for one field (B=0.75, K1=1.2, idf = ln(N/(df+1)) + 1)."""
    idf = math.log(n / (df + 1)) + 1.0
    return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avg))


def test_relevance_is_whoosh_bm25f_summed_over_the_text_fields(tmp_path: Path) -> None:
    """DIVERGENCES: relevance is Whoosh's BM25F formula with default parameters, summed
    over title, body, labels and file name, statistics over the visible documents."""
    site = _write_site(tmp_path / "site", [
        _item("1", "alpha beta", "alpha"),
        _item("2", "gamma", "delta alpha alpha"),
    ], policies=False)
    engine = Engine.build(site, tmp_path / "index")
    scores = {r.id: r.score for r in engine.search("text ~ alpha").results}
    # title: alpha only in 1 (lengths 2 and 1); body: in both (lengths 1 and 3)
    one = _bm25(1, 2, 1.5, 2, 1) + _bm25(1, 1, 2.0, 2, 2)
    two = _bm25(2, 3, 2.0, 2, 2)
    assert scores == pytest.approx({"1": one, "2": two}, rel=1e-9)
