"""Moves through ``Engine.upsert``: what moves with an item, and clauses that read other
documents (``parent``, ``parent.title``, ``ancestor``, ``container``) under a mask.

A page moved to another space takes its tree descendants, and the comments and
attachments of all of them, along (as Confluence does): each gets its new space,
ancestors and URL in the same commit. An app blocked from the new space must not reach
any of them by any clause.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sitegen import BLOCKED_APP, all_ids, item, write_site

from index.core.documents import content_document
from index.engine import Engine
from index.site.loader import MAX_TREE_DEPTH, derive, parse_content_line

TREE = [
    item("1", title="Root A"),
    item("2", title="Handbook", parent="1", body="secret handbook words"),
    item("3", title="Chapter", parent="2", body="chapter words"),
    item("4", "comment", title="Re: Handbook", container="2", body="comment words"),
    item("5", "attachment", title="plan.pdf", container="3"),
    item("6", "comment", title="Re: plan", container="5", body="nested comment"),
    item("7", title="Root B", space="B"),
]
MOVED = ["2", "3", "4", "5", "6"]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine.build(write_site(tmp_path / "site", TREE), tmp_path / "index")


def rebuilt(tmp_path: Path, content: list[dict]) -> Engine:
    return Engine.build(write_site(tmp_path / "again", content), tmp_path / "again-index")


def test_moving_a_page_to_another_space_moves_its_subtree_and_comments(
        engine: Engine, tmp_path: Path) -> None:
    moved = {**TREE[1], "space": "B", "parent_id": "7"}
    assert engine.upsert([moved]) == []
    # Everything below the moved page, comments and attachments included, is in B now.
    assert sorted(all_ids(engine, "space = B")) == sorted(["7", *MOVED])
    assert all_ids(engine, "space = A") == ["1"]
    assert sorted(all_ids(engine, "ancestor = 7")) == sorted(MOVED)
    assert all_ids(engine, "ancestor = 1") == []
    results = {r.id: r for r in engine.search("space = B", limit=50).results}
    assert results["3"].url.startswith("/spaces/B/pages/3/")
    assert results["4"].url == "/spaces/B/pages/2?focusedCommentId=4"
    # ... and the index equals a fresh build of the moved site.
    after = [moved if i["id"] == "2" else
             {**i, "space": "B"} if i["id"] in MOVED else i for i in TREE]
    fresh = rebuilt(tmp_path, after)
    for query in ["space = B", "ancestor = 7", "container = 2", "text ~ words",
                  'parent.title ~ "handbook"', "type = comment"]:
        assert all_ids(engine, query) == all_ids(fresh, query), query


def test_an_app_blocked_from_the_new_space_reaches_nothing_that_moved(engine: Engine) -> None:
    moved = {**TREE[1], "space": "B", "parent_id": None}
    assert engine.upsert([moved]) == []
    for query in ["container = 2", "ancestor = 2", "parent = 2", "container = 5",
                  'parent.title ~ "handbook"', 'parent.title = "Handbook"',
                  "text ~ words", "text ~ nested", "space = A"]:
        hits = set(all_ids(engine, query, caller=BLOCKED_APP))
        assert not hits & set(MOVED), query


def test_moving_a_page_within_its_space_updates_the_ancestors_of_the_subtree(
        engine: Engine) -> None:
    assert engine.upsert([item("8", title="Other root")]) == []
    assert engine.upsert([{**TREE[2], "parent_id": "8"}]) == []
    assert sorted(all_ids(engine, "ancestor = 8")) == ["3", "5", "6"]
    assert sorted(all_ids(engine, "ancestor = 2")) == ["4"]


def test_a_comment_upserted_with_its_old_space_after_a_move_is_rejected(
        engine: Engine) -> None:
    assert engine.upsert([{**TREE[1], "space": "B", "parent_id": "7"}]) == []
    rejects = engine.upsert([{**TREE[3], "title": "edited"}])  # still says space A
    assert len(rejects) == 1 and "differs from its container" in rejects[0].message
    assert all_ids(engine, 'title = "edited"') == []


def test_a_move_rejected_for_its_target_moves_nothing(engine: Engine) -> None:
    rejects = engine.upsert([{**TREE[1], "space": "B", "parent_id": "1"}])  # 1 is in A
    # One reject, for the item sent: what sits below it stays as stored, so it is none.
    assert [(r.line, r.message.split(":")[0]) for r in rejects] == [(1, "id 2")]
    assert sorted(all_ids(engine, "space = A")) == sorted(["1", *MOVED])


def test_a_rejected_attachment_is_the_only_reject_and_its_comment_stays(
        engine: Engine) -> None:
    """An attachment sent with another space than its page's is rejected; the comment on
    it (6, not in the batch) is neither reported nor changed."""
    rejects = engine.upsert([item("9", title="ok", parent="1"),
                             {**TREE[4], "space": "B", "title": "never stored"}])
    assert [(r.line, r.message.split(":")[0]) for r in rejects] == [(2, "id 5")]
    assert "differs from its container" in rejects[0].message
    assert all_ids(engine, 'title = "never stored"') == []
    assert all_ids(engine, "container = 5") == ["6"]
    assert all_ids(engine, "id = 9") == ["9"]


# --- defence in depth -----------------------------------------------------------------------


def test_clauses_naming_other_documents_never_read_a_hidden_one(tmp_path: Path) -> None:
    """Even if the index broke its invariant (a child in another space than its parent),
    ``parent``, ``parent.title``, ``ancestor`` and ``container`` name only documents the
    caller may see: the hidden parent in B cannot be probed through its child in A."""
    site = write_site(tmp_path / "site", [
        item("1", title="Hidden Parent", space="B"), item("2", title="Visible", space="A")])
    engine = Engine.build(site, tmp_path / "index")
    # Write an inconsistent pair directly, behind upsert's back.
    parent = parse_content_line(item("1", title="Hidden Parent", space="B"))
    child = parse_content_line(item("3", title="Child", space="B", parent="1"))
    comment = parse_content_line(item("4", "comment", space="B", container="1"))
    derived, problems = derive({"1": parent, "3": child, "4": comment})
    assert problems == []
    strays = [derived["3"].model_copy(update={"space": "A"}),
              derived["4"].model_copy(update={"space": "A"})]
    engine.store.write(content_document(i) for i in strays)
    assert sorted(all_ids(engine, "ancestor = 1")) == ["3", "4"]  # the operator sees them
    for query in ["ancestor = 1", "parent = 1", "container = 1", 'parent.title ~ "hidden"',
                  'parent.title = "Hidden Parent"', "ancestor in (1, 2)"]:
        assert all_ids(engine, query, caller=BLOCKED_APP) == [], query
    # What the app may see still answers.
    assert sorted(all_ids(engine, "id in (3, 4)", caller=BLOCKED_APP)) == ["3", "4"]


# --- depth -----------------------------------------------------------------------------------


def chain(depth: int) -> dict[str, Any]:
    content = {"1": parse_content_line(item("1"))}
    for n in range(2, depth + 1):
        content[str(n)] = parse_content_line(item(str(n), parent=str(n - 1)))
    return content


def test_a_chain_deeper_than_the_limit_is_cut_with_a_clear_reject() -> None:
    depth = MAX_TREE_DEPTH + 50
    accepted, rejects = derive(chain(depth))
    assert len(accepted) == MAX_TREE_DEPTH + 1  # the root and MAX_TREE_DEPTH levels below
    assert max(len(i.ancestors) for i in accepted.values()) == MAX_TREE_DEPTH
    first = next(r for r in rejects if r.message.startswith(f"id {MAX_TREE_DEPTH + 2}:"))
    assert f"deeper than {MAX_TREE_DEPTH} levels" in first.message
    assert len(rejects) == depth - MAX_TREE_DEPTH - 1


def test_a_ten_thousand_deep_chain_costs_linear_space() -> None:
    """Ancestor lists are what the index stores per item: capped depth keeps their total
    linear in the number of items (uncapped, this chain needs 50 million entries)."""
    accepted, rejects = derive(chain(10_000))
    assert len(accepted) + len(rejects) == 10_000
    assert sum(len(i.ancestors) for i in accepted.values()) <= MAX_TREE_DEPTH * 10_000 // 10


def test_strict_scopes_ids_of_unreadable_types_name_nothing(tmp_path: Path) -> None:
    """DIVERGENCES 99: with strict scopes, ``ancestor``/``parent``/``container`` naming an
    item of a type the token may not read match nothing, as for a missing item."""
    from index.security.callers import AppCaller

    site = write_site(tmp_path / "site", [
        item("1", "folder", title="Secret folder"), item("2", parent="1"),
        item("3", "comment", container="2")])
    engine = Engine.build(site, tmp_path / "index")
    app = AppCaller(app_id="app-y", kind="forge", scopes=frozenset(
        {"search:confluence", "read:page:confluence", "read:comment:confluence"}))
    for query in ["ancestor = 1", "parent = 1"]:
        assert engine.count(query, caller=app) > 0, query
        assert engine.count(query, caller=app, strict_scopes=True) == 0, query
    assert engine.count("container = 2", caller=app, strict_scopes=True) == 1
