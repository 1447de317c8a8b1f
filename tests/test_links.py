"""Joins through the parent link (``index.core.links``) equal the term lookups they
replace: ``children_of(P)`` is the ``parent`` term of the id of each document of ``P``,
on generated trees, after moves, retitles and deletes, whether the parent column comes
from the derived file or is read from the postings, and for callers with restricted
views (``parent.title`` against a fresh build of the same content)."""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sitegen import BLOCKED_APP, USER, all_ids, item, write_site

from index import AnonymousCaller, Engine
from index.core import derived, docsets, links, manifest
from index.core.derived import DERIVED_FILE

WORDS = ["alpha", "beta", "gamma"]
CALLERS = [None, USER, BLOCKED_APP, AnonymousCaller()]


@st.composite
def trees(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Pages in spaces A and B, each under an earlier page of its space or a root; some
    name a parent that is not indexed, some are restricted to u2 or drafts of u2."""
    out: list[dict[str, Any]] = []
    for n in range(1, draw(st.integers(2, 14)) + 1):
        same = [p for p in out]
        parent = draw(st.none() | st.sampled_from(same)) if same else None
        space = parent["space"] if parent else draw(st.sampled_from(["A", "B"]))
        page = item(str(n), space=space, title=" ".join(draw(st.sets(
            st.sampled_from(WORDS), min_size=1, max_size=2))), day=n % 28 + 1,
            parent=parent["id"] if parent else None)
        if draw(st.integers(0, 5)) == 0:
            page["read_restrictions"] = {"users": ["u2"]}
        elif draw(st.integers(0, 7)) == 0:
            page["status"], page["creator"] = "draft", "u2"
        out.append(page)
    return out


def old_children(snap: Any, parents: int) -> int:
    """What ``parent.title`` did before: a ``parent`` term lookup per parent id."""
    return snap.terms("parent", snap.ids_of(parents))


def check_snapshot(engine: Engine, subsets: list[list[int]]) -> None:
    snap = engine.store.snapshot()
    content = docsets.members(snap.term("entity", "content"))
    written = derived.load(snap.path, snap.reader)  # the writer's snapshot predates it
    assert written is not None  # a build and every write leave this commit's file
    stored = written.array(links.PARENT_ARRAY)
    assert stored == links.parent_docnums(snap)  # stored and read-from-postings agree
    assert written.array(links.CHILDREN_ARRAY) == links.Children(stored).kids
    assert written.array(links.STARTS_ARRAY) == links.Children(stored).starts
    children = links.children(snap)
    assert links.grouped(snap)  # read from the derived file, not grouped again
    for pick in [range(len(content)), *subsets] if content else []:
        chosen = docsets.from_ids([content[i % len(content)] for i in pick], snap.size)
        assert children.of(chosen) & snap.live == old_children(snap, chosen)


def parent_title_answers(engine: Engine) -> dict[tuple[str, int], list[str]]:
    out = {}
    for word in WORDS:
        for query in (f"parent.title ~ {word}", f'parent.title = "{word}"'):
            for n, caller in enumerate(CALLERS):
                out[(query, n)] = sorted(all_ids(engine, query, caller=caller))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_children_of_equals_a_parent_term_per_id(data: st.DataObject) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pages = data.draw(trees())
        if data.draw(st.booleans()):
            pages.append(item("99", space="A", parent="404", title="alpha orphan"))
        engine = Engine.build(write_site(root / "site", pages), root / "index")
        subsets = data.draw(st.lists(st.lists(st.integers(0, 50), max_size=6), max_size=3))
        check_snapshot(engine, subsets)
        current = {p["id"]: p for p in pages}
        for _ in range(data.draw(st.integers(1, 4))):
            ids = sorted(current, key=int)
            if not ids:
                break
            target = current[data.draw(st.sampled_from(ids))]
            action = data.draw(st.sampled_from(["move", "retitle", "delete"]))
            if action == "delete":  # its children move up to its parent
                engine.delete([target["id"]])
                del current[target["id"]]
                for i, p in current.items():
                    if p.get("parent_id") == target["id"]:
                        current[i] = {k: v for k, v in p.items() if k != "parent_id"}
                        if "parent_id" in target:
                            current[i]["parent_id"] = target["parent_id"]
            else:
                changed = {**target, "title": data.draw(st.sampled_from(WORDS))}
                if action == "move":
                    others = [i for i in ids if current[i]["space"] == target["space"]
                              and i != target["id"]]
                    new_parent = (data.draw(st.none() | st.sampled_from(others)) if others
                                  else None)
                    changed = {k: v for k, v in target.items() if k != "parent_id"}
                    if new_parent is not None:
                        changed["parent_id"] = new_parent
                if not engine.upsert([changed]):  # a cycle is rejected: nothing changes
                    current[target["id"]] = changed
            check_snapshot(engine, subsets)
        answers = parent_title_answers(engine)
        with pytest.MonkeyPatch.context() as patch:  # few parents: looked up as terms
            patch.setattr(links, "FEW_PARENTS", 10**6)
            engine.store.snapshot().cache.pop(links.PARENT_ARRAY, None)
            assert parent_title_answers(engine) == answers
        fresh = Engine.build(write_site(root / "again", current.values()), root / "again-index")
        assert parent_title_answers(fresh) == answers
        # Without the derived file the column is read from the postings: same answers.
        (root / "index" / "whoosh" / DERIVED_FILE).unlink()
        manifest.record(root / "index" / "whoosh")
        reopened = Engine(root / "index", verify=False)
        assert reopened.store.snapshot().derived is None
        assert parent_title_answers(reopened) == answers


@given(st.lists(st.integers(-1, 30), max_size=40))
def test_children_groups_are_each_parents_children_ascending(parents: list[int]) -> None:
    """``Children``' two arrays hold, for each document number, exactly the documents
    whose parent it is, ascending (numbers past the column's end name no document); a
    first join (slices of them) and later ones (tuples) give the same."""
    size = len(parents)
    column = array("i", [p if p < size else links.NO_PARENT for p in parents])
    children = links.Children(column)
    for p in range(size):
        expected = [d for d in range(size) if column[d] == p]
        assert list(next(children.groups([p]))) == expected
    assert len(children.kids) == sum(1 for p in column if p != links.NO_PARENT)
    chosen = docsets.from_ids(range(0, size, 3), size)
    expected_set = docsets.from_ids(
        [d for d in range(size) if column[d] != links.NO_PARENT and chosen >> column[d] & 1],
        size)
    assert children.of(chosen) == expected_set  # (joined before: by tuples)
    assert links.Children(column).of(chosen) == expected_set  # a first join: by slices
    first = links.Children(column).groups(range(size))
    assert [list(g) for g in first] == [list(next(children.groups([p]))) for p in range(size)]
    again = links.Children(column, children.kids, children.starts)  # as stored and read
    assert again.arrays() == children.arrays()


def test_a_parent_with_many_children_spans_several_postings_blocks(tmp_path: Path) -> None:
    """Whoosh writes postings in blocks of 128: a parent of 300 pages is read across
    three of them, straight from the postings file, as its term lookup reads it."""
    pages = [item("1", title="alpha root")]
    pages += [item(str(n), parent="1", title="beta", day=n % 28 + 1) for n in range(2, 302)]
    pages += [item(str(n), parent=str(n - 300), day=1) for n in range(302, 310)]
    engine = Engine.build(write_site(tmp_path / "site", pages), tmp_path / "index")
    snap = engine.store.snapshot()
    read = {text: ids for text, ids in snap.term_postings("parent")}
    assert len(read["1"]) == 300
    for text, ids in read.items():
        assert sorted(ids) == list(snap.term_ids("parent", text))
    check_snapshot(engine, [[0, 1], list(range(40))])
    assert len(all_ids(engine, "parent.title ~ alpha")) == 300
