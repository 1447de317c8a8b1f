"""A small write carries the derived file over (``index.core.carry``) instead of computing
it again, and nothing depends on which: after any sequence of upserts, deletes, moves,
retitles and restriction or status changes, (1) every part of the file equals what a
computation from Whoosh gives for the same commit (ranks order the live documents as
freshly computed ranks do), (2) the writing engine, a new engine opening the index and a
fresh build of the same content answer alike for the operator, a restricted user, the
blocked app and anonymous, and (3) only a write that merged every segment computes the
file from scratch."""

from __future__ import annotations

import tempfile
from array import array
from pathlib import Path
from typing import Any

import pytest
import whoosh.index
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sitegen import BLOCKED_APP, USER, every_answer, item, write_site

from index import AnonymousCaller, Engine
from index import engine as engine_module
from index.core import derived, docsets, links
from index.core.backend import TEXT_FIELDS, Snapshot
from index.core.carry import Plan, patch_ordering, patch_ranks
from index.core.columns import dense_ranks
from index.core.relevance import SLICES_ARRAY, LengthSlices
from index.security.permissions import contributions, derived_arrays

WORDS = ["alpha", "beta", "gamma", "delta"]
CALLERS = [None, USER, BLOCKED_APP, AnonymousCaller()]
QUERIES = [
    "type = page", "type IN (page, comment, attachment, blogpost)",
    "space = A ORDER BY title", "space IN (A, B) ORDER BY space, type DESC",
    "type IN (comment, attachment) ORDER BY created DESC", "text ~ alpha",
    "space IN (A, B, C) ORDER BY id DESC", "type = space", "title ~ beta ORDER BY title DESC",
    "lastmodified > 2024-02-10 ORDER BY lastmodified", "ancestor = 1 ORDER BY title",
    "parent.title ~ alpha", 'parent.title = "beta"', "container = 2",
]


@st.composite
def sites(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Pages in spaces A, B and C, each under an earlier page of its space or a root,
    comments on some of them; some restricted to u2, some drafts of u2."""
    out: list[dict[str, Any]] = []
    for n in range(1, draw(st.integers(3, 16)) + 1):
        pages = [p for p in out if p["type"] == "page"]
        if pages and draw(st.integers(0, 4)) == 0:
            on = draw(st.sampled_from(pages))
            out.append(item(str(n), "comment", space=on["space"], container=on["id"],
                            body=draw(st.sampled_from(WORDS)), day=n % 28 + 1))
            continue
        parent = draw(st.none() | st.sampled_from(pages)) if pages else None
        page = item(str(n), space=parent["space"] if parent else draw(
            st.sampled_from(["A", "B", "C"])), title=draw(st.sampled_from(WORDS)),
            parent=parent["id"] if parent else None, day=draw(st.integers(1, 28)),
            body=draw(st.sampled_from(WORDS)))
        restrict(page, draw(st.integers(0, 7)))
        out.append(page)
    return out


def restrict(page: dict[str, Any], pick: int) -> None:
    page.pop("read_restrictions", None)
    page["status"], page["creator"] = "current", "u1"
    if pick == 0:
        page["read_restrictions"] = {"users": ["u2"]}
    elif pick == 1:
        page["status"], page["creator"] = "draft", "u2"


def answers(engine: Engine) -> list[Any]:
    return every_answer(engine, QUERIES, CALLERS)


def check_file(index_dir: Path, rules: Any) -> None:
    """The derived file on disk is this commit's and equals a computation from Whoosh
    (``rules``: the index's permissions, which the space sets follow)."""
    ix = whoosh.index.open_dir(str(index_dir / "whoosh"))
    fresh = Snapshot(ix.searcher(), None)  # no derived file: everything read from Whoosh
    try:
        on = derived.load(index_dir / "whoosh", fresh.reader)
        assert on is not None  # every write leaves the file of its commit
        live = docsets.members(fresh.live)
        for field in ("num", "created", "lastmodified"):
            assert on.array(f"column:{field}") == array("q", fresh.column(field))
        for field in TEXT_FIELDS:
            assert on.array(f"lengths:{field}") == fresh.field_lengths(field)
            slices = LengthSlices(fresh.field_lengths(field), fresh.size)
            assert on.array(SLICES_ARRAY.format(field)) == slices.packed(), field
        for field in engine_module.SORT_FIELDS:  # same order of the live documents
            ranks, computed = on.array(f"ranks:{field}"), engine_module._ranks(fresh, field)
            assert ranks is not None
            assert (dense_ranks([ranks[d] for d in live])
                    == dense_ranks([computed[d] for d in live])), field
        raw = fresh.live_bytes
        for keys in engine_module.STORED_ORDERS:  # same order of the live documents
            name = engine_module._ordering_name(keys)
            order, rank = on.array(f"{name}:order"), on.array(f"{name}:rank")
            assert order is not None and rank is not None, name
            assert sorted(order) == list(range(fresh.size))
            assert all(order[rank[d]] == d for d in range(fresh.size))
            expected = engine_module._ordering(fresh, keys).order
            alive = [d for d in order if raw[d >> 3] >> (d & 7) & 1]
            assert alive == [d for d in expected if raw[d >> 3] >> (d & 7) & 1], name
        parents = links.parent_docnums(fresh)
        assert on.array(links.PARENT_ARRAY) == parents
        grouped = links.Children(parents)  # the children by parent, grouped afresh
        assert on.array(links.CHILDREN_ARRAY) == grouped.kids
        assert on.array(links.STARTS_ARRAY) == grouped.starts
        for field in engine_module.FEW_VALUED:
            for value in fresh.lexicon(field):
                assert (on.term(field, value) or 0) & fresh.live == fresh.term(field, value)
        # Each account's drafts, as the term lookups the permission mask made before.
        drafts = fresh.term("status", "draft") & fresh.term("entity", "content")
        mine = contributions(fresh)
        for account in fresh.lexicon("contributor"):
            assert docsets.from_ids(mine.get(account, ()), fresh.size) == (
                drafts & fresh.term("contributor", account)), account
        # The permission gates and the spaces open to all, as a build computes them.
        computed = derived_arrays(fresh, rules)
        assert computed
        for name, values in computed.items():
            assert on.array(name) == values, name
    finally:
        fresh.close()


def apply(data: st.DataObject, engine: Engine, current: dict[str, dict[str, Any]],
          day: int) -> None:
    """One random write, applied to the engine and to ``current`` (the site it holds)."""
    ids = sorted(current, key=int)
    pages = [i for i in ids if current[i]["type"] == "page"]
    action = data.draw(st.sampled_from(
        ["new", "retitle", "move", "delete", "restrict", "comment"]))
    if action == "delete" and ids:
        target = current[data.draw(st.sampled_from(ids))]
        engine.delete([target["id"]])
        doomed = {target["id"]}
        while more := {i for i, p in current.items()
                       if p.get("container_id") in doomed} - doomed:
            doomed |= more
        for i in doomed:
            del current[i]
        for i, p in current.items():  # children move up to the nearest survivor
            parent = p.get("parent_id")
            while parent is not None and parent in doomed:
                parent = (target if parent == target["id"] else {}).get("parent_id")
            if parent != p.get("parent_id"):
                current[i] = {k: v for k, v in p.items() if k != "parent_id"}
                if parent is not None:
                    current[i]["parent_id"] = parent
        return
    if action in ("new", "comment") or not pages:
        new_id = str(max(map(int, ids), default=0) + 1)
        if action == "comment" and pages:
            on = current[data.draw(st.sampled_from(pages))]
            line = item(new_id, "comment", space=on["space"], container=on["id"],
                        body=data.draw(st.sampled_from(WORDS)), day=day)
        else:
            parent = current[data.draw(st.sampled_from(pages))] if pages and data.draw(
                st.booleans()) else None
            line = item(new_id, space=parent["space"] if parent else data.draw(
                st.sampled_from(["A", "B", "C"])), title=data.draw(st.sampled_from(WORDS)),
                parent=parent["id"] if parent else None, day=day)
    else:
        line = dict(current[data.draw(st.sampled_from(pages))])
        line["lastmodified"] = f"2024-02-{day:02d}T10:00:00Z"
        if action == "retitle":
            line["title"] = data.draw(st.sampled_from(WORDS)) + " " + data.draw(
                st.sampled_from(WORDS))
        elif action == "restrict":
            restrict(line, data.draw(st.integers(0, 2)))
        else:
            others = [i for i in pages if current[i]["space"] == line["space"]
                      and i != line["id"]]
            line.pop("parent_id", None)
            if others and data.draw(st.booleans()):
                line["parent_id"] = data.draw(st.sampled_from(others))
    if not engine.upsert([line]):  # a cycle is rejected: nothing changes
        current[line["id"]] = line


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_writes_carry_the_derived_file_and_answer_as_a_fresh_build(
        data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        root = Path(tmp)
        lines = data.draw(sites())
        engine = Engine.build(write_site(root / "site", lines), root / "index")

        carry = engine_module._carry_derived

        def carried(engine: Engine, before: Snapshot, snap: Snapshot) -> bool:
            done = carry(engine, before, snap)
            # Only a merge of every segment (tiny indexes merge their one big segment
            # too) computes the file again.
            assert done or not Plan(before.segments, snap.segments).kept
            return done

        patch.setattr(engine_module, "_carry_derived", carried)
        current = {line["id"]: line for line in lines}
        for step in range(data.draw(st.integers(1, 9))):
            apply(data, engine, current, day=step % 28 + 1)
            check_file(root / "index", engine.permissions)
        expected = answers(engine)
        assert answers(Engine(root / "index", verify=True)) == expected  # a new reader
        fresh = Engine.build(write_site(root / "again", current.values()), root / "again-ix")
        assert answers(fresh) == expected


def test_a_merge_of_small_segments_keeps_the_big_one_in_place(tmp_path: Path) -> None:
    """Whoosh merges small segments every few commits; the segments it leaves keep their
    places (it would sort them by size), so the big one keeps its document numbers and
    every write carries the derived file over."""
    lines = [item(str(n), title=f"page {n}", day=n % 28 + 1) for n in range(1, 200)]
    engine = Engine.build(write_site(tmp_path / "site", lines), tmp_path / "ix")
    first = engine.store.snapshot().segments[0]
    counts = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_module, "_store_derived", None)  # never called
        for n in range(1, 14):
            engine.upsert([{**lines[n], "title": f"again {n}"}])
            segments = engine.store.snapshot().segments
            assert segments[0] == first
            counts.append(len(segments))
    assert max(counts) > counts[-1]  # small segments were merged on the way
    check_file(tmp_path / "ix", engine.permissions)


@given(st.lists(st.integers(0, 6), min_size=1, max_size=30), st.data())
def test_patched_ranks_order_as_dense_ranks_do(old_values: list[int],
                                               data: st.DataObject) -> None:
    """``patch_ranks`` on a kept segment and a fresh one: equal values get equal ranks,
    and ranks order as the values do, whatever the fresh values and known ranks."""
    fresh = data.draw(st.lists(st.integers(-2, 8), max_size=6))
    plan = Plan([("a", 0, len(old_values))], [("a", 0, len(old_values)),
                                              ("b", len(old_values), len(fresh))])
    values = old_values + fresh
    old_ranks = dense_ranks(old_values)
    known = {len(old_values) + i: old_ranks[old_values.index(v)]
             for i, v in enumerate(fresh) if v in old_values and data.draw(st.booleans())}
    ranks = patch_ranks(old_ranks, plan, values.__getitem__, known)
    assert dense_ranks(list(ranks)) == dense_ranks(values)


@given(st.lists(st.integers(0, 5), min_size=1, max_size=20),
       st.lists(st.integers(0, 5), min_size=1, max_size=20),
       st.lists(st.integers(-1, 6), max_size=8), st.sampled_from(["ab", "a", "b"]))
def test_patched_orderings_are_the_sorted_ones(first: list[int], second: list[int],
                                               fresh: list[int], kept: str) -> None:
    """``patch_ordering`` with segment a, b or both kept (b moving down when a goes) and a
    fresh segment or none (a write that only deletes): the order and ranks of sorting the
    new documents by (value, label)."""
    old = [("a", 0, len(first)), ("b", len(first), len(second))]
    values = {"a": first, "b": second}
    labels = {"a": list(range(len(first))), "b": list(range(len(first), len(old_values :=
                                                                  first + second)))}
    new, new_values, new_labels = [], [], []
    for sid in kept:
        new.append((sid, len(new_values), len(values[sid])))
        new_values += values[sid]
        new_labels += labels[sid]
    if fresh:
        new.append(("c", len(new_values), len(fresh)))
    new_values += fresh
    new_labels += range(100, 100 + len(fresh))
    old_order = sorted(range(len(old_values)), key=lambda d: (old_values[d], d))
    old_rank = [0] * len(old_order)
    for position, d in enumerate(old_order):
        old_rank[d] = position
    order, rank = patch_ordering(array("i", old_order), array("i", old_rank),
                                 Plan(old, new), lambda d: (new_values[d], new_labels[d]))
    expected = sorted(range(len(new_values)), key=lambda d: (new_values[d], new_labels[d]))
    assert list(order) == expected
    assert all(order[rank[d]] == d for d in range(len(new_values)))
