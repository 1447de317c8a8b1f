"""The engine through its public API: building, searching, paging, updates, errors."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import cql
from index.core.context import SearchContext
from index.engine import Engine, SearchPage
from index.errors import EngineError
from index.security.callers import UserCaller

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "site"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.build(FIXTURES, tmp_path_factory.mktemp("fixture") / "index")


def all_ids(engine: Engine, query: str, **kwargs: object) -> list[str]:
    """Every hit, walking the pages with cursors."""
    seen: list[str] = []
    page = engine.search(query, limit=50, **kwargs)  # type: ignore[arg-type]
    while True:
        seen.extend(r.id for r in page.results)
        if page.next is None:
            return seen
        page = engine.search(query, limit=50, cursor=page.next, **kwargs)  # type: ignore


def test_build_reports_counts(engine: Engine) -> None:
    report = engine.last_build
    assert report is not None and report.rejected == 0
    assert report.items >= 600
    assert engine.count("type = page") > 100


def test_search_page_shape(engine: Engine) -> None:
    page = engine.search("type = page and label = \"release-notes\"", limit=5)
    assert isinstance(page, SearchPage)
    assert page.size == len(page.results) <= 5
    assert page.totalSize >= page.size
    assert page.cqlQuery == "type = page AND label = release-notes"
    for r in page.results:
        assert r.type == "page" and r.entityType == "content"
        assert r.url.startswith(f"/spaces/{r.space}/pages/{r.id}")
        assert r.lastModified is not None


@pytest.mark.parametrize("query", [
    "type = page",
    "text ~ release",
    "type in (page, blogpost) order by created desc",
    "type = space",
    "label = onboarding or macro = jira order by title",
])
def test_cursor_paging_yields_each_hit_once(engine: Engine, query: str) -> None:
    ids = all_ids(engine, query)
    assert len(ids) == len(set(ids))
    assert len(ids) == engine.search(query).totalSize
    # limit/start walk gives the same order as the cursor walk
    by_start: list[str] = []
    for start in range(0, len(ids), 40):
        by_start.extend(r.id for r in engine.search(query, limit=40, start=start).results)
    assert by_start == ids


def test_cursor_is_bound_to_query_and_caller(engine: Engine) -> None:
    page = engine.search("type = page", limit=5, caller=UserCaller(account_id="a"))
    assert page.next
    with pytest.raises(EngineError) as err:
        engine.search("type = blogpost", limit=5, cursor=page.next,
                      caller=UserCaller(account_id="a"))
    assert err.value.code == "bad_cursor"
    with pytest.raises(EngineError):
        engine.search("type = page", limit=5, cursor=page.next,
                      caller=UserCaller(account_id="b"))
    tampered = page.next[:-2] + ("AA" if page.next[-2:] != "AA" else "BB")
    with pytest.raises(EngineError):
        engine.search("type = page", limit=5, cursor=tampered, caller=UserCaller(account_id="a"))
    ok = engine.search("type = page", limit=5, cursor=page.next,
                       caller=UserCaller(account_id="a"))
    assert ok.start == 5


def test_order_by_sorts(engine: Engine) -> None:
    results = engine.search("type = page order by title", limit=200).results
    titles = [r.title.lower() for r in results]
    assert titles == sorted(titles)
    results = engine.search("type = page order by created desc", limit=200).results
    created = [r.created for r in results]
    assert created == sorted(created, reverse=True)  # type: ignore[type-var]


def test_relevance_then_lastmodified(engine: Engine) -> None:
    page = engine.search("text ~ release", limit=50)
    scores = [r.score for r in page.results]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert page.results[0].score and page.results[0].score > 0


def test_highlight_excerpts(engine: Engine) -> None:
    page = engine.search('title ~ "release"', limit=5)
    assert page.results
    for r in page.results:
        assert "@@@hl@@@" in r.title and "@@@endhl@@@" in r.title
    plain = engine.search('title ~ "release"', limit=5, excerpt="none")
    assert all(r.excerpt == "" for r in plain.results)
    assert all("@@@" not in r.title for r in plain.results)


def test_query_errors_are_positioned(engine: Engine) -> None:
    with pytest.raises(cql.CqlError) as err:
        engine.search("type = page and creator = currentUser()")
    assert err.value.code == "needs_context"
    assert err.value.column == len("type = page and creator = ") + 1
    with pytest.raises(cql.CqlError) as err:
        engine.search("favourite = someone-else", caller=UserCaller(account_id="me"))
    assert err.value.code == "permission"
    with pytest.raises(cql.CqlError) as err:
        engine.search("space = currentSpace()")
    assert err.value.code == "needs_context"


def test_limit_is_clamped_and_negative_rejected(engine: Engine) -> None:
    assert engine.search("type = page", limit=5000).limit == 1000
    with pytest.raises(EngineError):
        engine.search("type = page", limit=-1)


def test_context_statuses_and_archived(engine: Engine) -> None:
    current = engine.count("type = page")
    drafts = engine.count("type = page", context=SearchContext(content_statuses=("draft",)))
    both = engine.count("type = page",
                        context=SearchContext(content_statuses=("current", "draft")))
    assert drafts > 0 and both == current + drafts
    archived = [s.key for s in engine.spaces.values() if s.status == "archived"]
    assert archived
    key = archived[0]
    assert engine.count(f'space = "{key}"') == 0
    assert engine.count(f'space = "{key}"', context=SearchContext(include_archived_spaces=True))


def test_date_functions_use_the_injected_clock(engine: Engine) -> None:
    early = SearchContext(now=datetime(2023, 1, 1, tzinfo=UTC))
    late = SearchContext(now=datetime(2026, 11, 1, tzinfo=UTC))
    q = 'created > now("-26w")'
    assert engine.count(q, context=early) != engine.count(q, context=late)


def write_site(path: Path, content: list[dict[str, object]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "spaces.jsonl").write_text(
        json.dumps({"key": "S", "name": "Space", "type": "global"}) + "\n")
    (path / "users.jsonl").write_text(
        json.dumps({"account_id": "u1", "display_name": "User One"}) + "\n")
    (path / "content.jsonl").write_text("".join(json.dumps(c) + "\n" for c in content))
    return path


def page(id_: str, parent: str | None = None, title: str | None = None) -> dict[str, object]:
    item: dict[str, object] = {"id": id_, "type": "page", "title": title or f"Page {id_}",
                               "space": "S", "creator": "u1",
                               "created": "2024-01-01T10:00:00+00:00"}
    if parent:
        item["parent_id"] = parent
    return item


def test_bad_lines_are_reported_and_the_rest_indexed(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", [page("1"), page("2", parent="99"), page("3")])
    with open(site / "content.jsonl", "a") as fh:
        fh.write("{not json\n")
    engine = Engine.build(site, tmp_path / "index")
    assert engine.last_build is not None
    assert engine.last_build.rejected == 2
    assert any("content.jsonl:2" in r for r in engine.last_build.rejects)
    assert any("content.jsonl:4" in r for r in engine.last_build.rejects)
    assert sorted(all_ids(engine, "type = page")) == ["1", "3"]


def test_a_broken_policy_file_fails_the_build(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", [page("1")])
    (site / "policies.json").write_text('[{"id": "p1", "name": "x",, }]')
    with pytest.raises(EngineError) as err:
        Engine.build(site, tmp_path / "index")
    assert err.value.code == "invalid_policy" and "policies.json" in str(err.value)
    assert not (tmp_path / "index").exists()


def test_failed_build_keeps_the_old_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    site = write_site(tmp_path / "site", [page("1"), page("2")])
    target = tmp_path / "index"
    Engine.build(site, target)

    def explode(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("index.core.backend.IndexStore.bulk_build", explode)
    with pytest.raises(OSError):
        Engine.build(site, target)
    monkeypatch.undo()
    assert sorted(all_ids(Engine.open(target), "type = page")) == ["1", "2"]
    assert not [p for p in tmp_path.iterdir() if "building" in p.name]


def test_upsert_moves_subtrees_and_delete(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", [
        page("1"), page("2", parent="1"), page("3", parent="2"), page("4"),
    ])
    engine = Engine.build(site, tmp_path / "index")
    assert sorted(all_ids(engine, "ancestor = 1")) == ["2", "3"]
    moved = page("2", parent="4", title="Moved")
    assert engine.upsert([moved]) == []
    assert all_ids(engine, "ancestor = 1") == []
    assert sorted(all_ids(engine, "ancestor = 4")) == ["2", "3"]
    assert all_ids(engine, 'title = "moved"') == ["2"]
    rejects = engine.upsert([page("5", parent="404"), {"id": "x"}])
    assert len(rejects) == 2
    assert engine.delete(["3", "404"]) == 1
    assert sorted(all_ids(engine, "ancestor = 4")) == ["2"]
    reopened = Engine.open(tmp_path / "index")
    assert sorted(all_ids(reopened, "type = page")) == ["1", "2", "4"]


def test_upsert_reads_only_what_it_needs_and_refuses_cycles(tmp_path: Path) -> None:
    comment = {"id": "9", "type": "comment", "title": "Re: Page 3", "space": "S",
               "creator": "u1", "created": "2024-01-02T10:00:00+00:00", "container_id": "3"}
    site = write_site(tmp_path / "site", [
        page("1"), page("2", parent="1"), page("3", parent="2"), page("4"), page("5"),
        comment,
    ])
    engine = Engine.build(site, tmp_path / "index")
    assert engine.upsert([page("2", parent="5")]) == []
    assert sorted(all_ids(engine, "ancestor = 5")) == ["2", "3", "9"]
    assert all_ids(engine, "ancestor = 1") == []
    assert all_ids(engine, "ancestor = 2 AND type = comment") == ["9"]
    rejects = engine.upsert([page("5", parent="3")])  # 3 is below 5 now: a cycle
    assert any("id 5: parent cycle" in r.message for r in rejects)
    assert sorted(all_ids(engine, "ancestor = 5")) == ["2", "3", "9"]


def test_delete_moves_children_up_and_takes_comments_along(tmp_path: Path) -> None:
    comment = {"id": "9", "type": "comment", "title": "Re: Page 2", "space": "S",
               "creator": "u1", "created": "2024-01-02T10:00:00+00:00", "container_id": "2"}
    site = write_site(tmp_path / "site", [
        page("1"), page("2", parent="1"), page("3", parent="2"), page("4", parent="3"),
        comment,
    ])
    engine = Engine.build(site, tmp_path / "index")
    assert engine.delete(["2"]) == 1
    assert all_ids(engine, "type = comment") == []
    assert all_ids(engine, "parent = 1") == ["3"]
    assert sorted(all_ids(engine, "ancestor = 1")) == ["3", "4"]
    assert all_ids(engine, "ancestor = 2") == []
    assert engine.delete(["2", "404"]) == 0


def test_parallel_build_equals_single_process_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> None:
    """The two-worker path (spill files, several segments per worker) indexes exactly
    what the in-process path does."""
    monkeypatch.setattr("index.engine.PARALLEL_BUILD_MIN_BYTES", 1)
    monkeypatch.setattr("index.core.bulkwrite.SEGMENT_DOCS", 150)
    parallel = Engine.build(FIXTURES, tmp_path / "parallel")
    assert len(parallel.store.snapshot().reader.leaf_readers()) > 2
    assert not (tmp_path / "parallel" / "spill").exists()
    for query in ["type = page", "text ~ release", "label = onboarding ORDER BY title",
                  "ancestor = 65536 OR macro = jira", 'text ~ "\\"release notes\\""',
                  "type = space", "created > 2024-01-01 ORDER BY created DESC"]:
        assert all_ids(parallel, query) == all_ids(engine, query), query


def test_open_missing_index(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as err:
        Engine.open(tmp_path / "nothing")
    assert err.value.code == "not_found"


def test_build_replaces_existing_index(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", [page("1")])
    target = tmp_path / "index"
    Engine.build(site, target)
    write_site(site, [page("7")])
    engine = Engine.build(site, target)
    assert all_ids(engine, "type = page") == ["7"]
    shutil.rmtree(target)
