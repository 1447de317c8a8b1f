"""Relevance order without a per-caller rebuild (``index/core/relevance.py``).

The engine no longer sorts every scored document once per caller: it walks an order shared
by every caller and stops by a bound (or scores few hits outright). These tests pin that the
shortcut is exact: for random universes (what a caller may see), hit sets and page depths,
the first ``needed`` hits and their scores are those of a plain full sort by BM25F over the
universe (computed here from the index's term frequencies and field lengths, independently
of the module's statistics), then lastmodified descending, then id.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.corpus import write_corpus
from index.core import docsets, relevance
from index.core.analysis import analyze
from index.core.backend import K1, TEXT_FIELDS, B, Snapshot
from index.core.columns import Probes
from index.core.docsets import DocSet
from index.engine import Engine, _ordering


class World:
    def __init__(self, engine: Engine, params: dict[str, str]) -> None:
        self.engine = engine
        self.snap: Snapshot = engine.store.snapshot()
        self.default = _ordering(self.snap, (("lastmodified", True),))
        words = [params[k] for k in ("word_top", "word_common", "word_mid", "word_rare",
                                     "word_inflected")]
        self.stems = sorted({s for w in words for s in analyze(w)})
        self.spaces = sorted({k.lower() for k in engine.spaces})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("relevance")
    manifest = write_corpus(root / "site", 1500)
    return World(Engine.build(root / "site", root / "index"), manifest["params"])


def full_sort(snap: Snapshot, terms: relevance.Terms, universe: DocSet, hits: DocSet,
              rank: Any) -> list[tuple[int, float]]:
    """BM25F over ``universe``, every hit scored, then one sort (what the engine once did)."""
    n = docsets.count(universe)
    inside = docsets.members(universe)
    by_field: dict[str, list[str]] = {}
    for field, token in terms:
        by_field.setdefault(field, []).append(token)
    scores: dict[int, float] = {}
    for field, tokens in by_field.items():
        lengths = snap.field_lengths(field)
        avgdl = sum(lengths[d] for d in inside) / n or 1.0
        for token in tokens:
            df = docsets.count(snap.term(field, token) & universe)
            if not df:
                continue
            idf = math.log(n / (df + 1)) + 1.0
            docs, tfs = snap.term_frequencies(field, token)
            for d, tf in zip(docs, tfs, strict=True):
                if universe >> d & 1:
                    norm = tf + K1 * ((1 - B) + B * lengths[d] / avgdl)
                    scores[d] = scores.get(d, 0.0) + idf * tf * (K1 + 1) / norm
    return sorted(((d, scores.get(d, 0.0)) for d in docsets.members(hits)),
                  key=lambda item: (-item[1], rank[item[0]]))


def thinned(docs: DocSet, keep: float, rng: random.Random, size: int) -> DocSet:
    if keep >= 1.0:
        return docs
    return docsets.from_ids((d for d in docsets.members(docs) if rng.random() < keep), size)


def check(world: World, terms: relevance.Terms, universe: DocSet, hits: DocSet,
          needed: int) -> None:
    snap = world.snap
    want = full_sort(snap, terms, universe, hits, world.default.rank)[:needed]
    got = relevance.top(snap, terms, universe, hits, docsets.count(hits), needed,
                        world.default)
    assert got == want
    # A walk that reads kept flags marking the hits (as the compiler's are) instead of
    # the hits' own bytes: the same answer.
    flags = docsets.flags(hits, snap.size)
    got = relevance.top(snap, terms, universe, hits, docsets.count(hits), needed,
                        world.default, lambda holders: flags)
    assert got == want


@given(data=st.data())
def test_the_first_hits_are_those_of_a_full_sort(world: World, data: st.DataObject) -> None:
    snap = world.snap
    stems = data.draw(st.lists(st.sampled_from(world.stems), min_size=1, max_size=3,
                               unique=True))
    fields = data.draw(st.sampled_from((TEXT_FIELDS, ("title",), ("body", "title"))))
    terms = tuple(sorted({(f, s) for f in fields for s in stems}))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    hidden = data.draw(st.lists(st.sampled_from(world.spaces), max_size=40, unique=True))
    universe = snap.live & ~snap.terms("space", hidden)
    universe = thinned(universe, data.draw(st.sampled_from((1.0, 0.9, 0.5, 0.1))), rng,
                       snap.size)
    holders = docsets.EMPTY
    for field, token in terms:
        holders |= snap.term(field, token)
    # Hits: the holders (a text query alone), or holders OR other documents, thinned.
    hits = holders if data.draw(st.booleans()) else holders | thinned(snap.live, 0.2, rng,
                                                                     snap.size)
    hits = thinned(hits, data.draw(st.sampled_from((1.0, 0.95, 0.3, 0.02))), rng,
                   snap.size) & universe
    if not hits:
        return
    check(world, terms, universe, hits, data.draw(st.integers(1, 120)))


def _holders(snap: Snapshot, terms: relevance.Terms) -> DocSet:
    out = docsets.EMPTY
    for field, token in terms:
        out |= snap.term(field, token)
    return out


def test_each_path_is_exact(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk (broad hits), the walk with a loose term (one the universe mostly hides),
    outright scoring when loose terms hold most hits, and outright scoring of few hits each
    give the full sort's answer."""
    snap = world.snap
    outcomes: list[str] = []
    walk = relevance._walk

    def spy(*args: Any) -> Any:
        factors = args[3]
        found = walk(*args)
        loose = any(f > relevance.LOOSE for f in factors.values())
        outcomes.append("declined" if found is None else "loose" if loose else "walked")
        return found

    monkeypatch.setattr(relevance, "_walk", spy)
    by_count = sorted(world.stems, key=lambda s: -docsets.count(snap.term("body", s)))
    common, rare = by_count[0], by_count[-2]
    rng = random.Random(5)
    both = tuple(sorted((f, s) for f in TEXT_FIELDS for s in (common, rare)))
    holders = _holders(snap, both)
    # most documents holding the rarer word are hidden: its idf rises far above the base
    universe = snap.live & ~thinned(snap.term("body", rare), 0.9, rng, snap.size)
    cases = [(both, snap.live, holders, 10),
             (both, universe, holders & universe, 10), (both, universe, holders & universe, 200),
             (both, universe, universe, 30),
             (both, universe, thinned(holders, 0.01, rng, snap.size) & universe, 25)]
    # the common word alone, most of its documents hidden: every hit holds a loose term
    alone = tuple((f, common) for f in TEXT_FIELDS)
    hidden = snap.live & ~thinned(_holders(snap, alone), 0.85, rng, snap.size)
    cases.append((alone, hidden, _holders(snap, alone) & hidden, 25))
    for terms, seen_by, hits, needed in cases:
        check(world, terms, seen_by, hits, needed)
    assert {"walked", "loose", "declined"} <= set(outcomes), outcomes


def test_length_slices_sum_a_column_over_any_set(world: World) -> None:
    snap = world.snap
    rng = random.Random(3)
    for field in TEXT_FIELDS:
        lengths = snap.field_lengths(field)
        slices = relevance.length_slices(snap, field)
        for keep in (1.0, 0.5, 0.01, 0.0):
            docs = thinned(snap.live, keep, rng, snap.size) if keep else docsets.EMPTY
            assert slices.total(docs) == sum(lengths[d] for d in docsets.members(docs))


@given(st.lists(st.integers(0, 2**32 - 1), max_size=90), st.data())
def test_length_slices_hold_every_bit_of_any_counts(counts: list[int],
                                                   data: st.DataObject) -> None:
    """Any counts (every one of the 32 bits, any number of documents, not a multiple of
    8): the total over any subset is the plain sum."""
    from array import array

    slices = relevance.LengthSlices(array("I", counts), len(counts))
    chosen = data.draw(st.sets(st.integers(0, max(len(counts) - 1, 0))) if counts
                       else st.just(set()))
    docs = docsets.from_ids(sorted(chosen), len(counts))
    assert slices.total(docs) == sum(counts[d] for d in chosen)
    assert slices.total(docsets.full(len(counts))) == sum(counts)
    # As the derived file stores them and a process reads them back: the same totals.
    read = relevance.LengthSlices.unpacked(slices.packed().tobytes(), len(counts))
    assert read.slices == slices.slices
    assert read.total(docs) == sum(counts[d] for d in chosen)


_TF = st.floats(0.5, 300.0, width=32).map(lambda x: float(round(x)) or 1.0) | st.floats(
    0.125, 50.0, width=32)


@given(st.integers(1, 60).flatmap(lambda size: st.tuples(
    st.just(size),
    st.lists(st.integers(0, 70_000), min_size=size, max_size=size),
    st.lists(st.tuples(st.floats(0.1, 5000.0), st.lists(st.tuples(
        st.floats(0.05, 12.0), st.sets(st.integers(0, size - 1), min_size=1), st.data()),
        min_size=1, max_size=3)), min_size=1, max_size=4))))
def test_live_scores_are_bit_identical_to_score(world_spec: Any) -> None:
    """``live_scores`` (per distinct (frequency, length) pair, summed in place in plan
    order) gives every document exactly the float ``score`` gives it, for generated
    lengths, term frequencies, idf and average lengths over any plan of fields and terms."""
    from array import array
    from types import SimpleNamespace

    size, field_lengths, fields = world_spec
    plan = []
    for avgdl, tokens in fields:
        lengths = array("i", field_lengths)
        terms = []
        for idf, holders, data in tokens:
            docs = array("i", sorted(holders))
            tfs = array("f", [data.draw(_TF) for _ in docs])
            terms.append((idf, docs, tfs))
        plan.append((lengths, avgdl, terms))
    stats = relevance.Statistics({}, {}, plan)
    got = relevance.live_scores(SimpleNamespace(size=size), stats)  # type: ignore[arg-type]
    for d in range(size):
        expected = relevance.score(d, stats)
        assert got[d] == expected and math.copysign(1, got[d]) == math.copysign(1, expected)


@given(st.integers(1, 60).flatmap(lambda size: st.tuples(
    st.just(size),
    st.lists(st.integers(0, 70_000), min_size=size, max_size=size),
    st.lists(st.tuples(st.floats(0.1, 5000.0), st.floats(0.1, 5000.0), st.lists(st.tuples(
        st.floats(0.05, 12.0), st.floats(0.05, 12.0), st.booleans(),
        st.sets(st.integers(0, size - 1), min_size=1), st.data()),
        min_size=1, max_size=3)), min_size=1, max_size=4))), st.integers(0, 3))
def test_a_walk_scores_each_position_as_score_does(world_spec: Any, depth: int) -> None:
    """``_score_at`` (what the walk scores with: the postings read once per position of
    the base order, weighed with the caller's statistics) gives exactly ``score``'s float,
    for a caller whose plan is the base's or lacks some of its terms, with other idf and
    average lengths; the first time (reading the postings) and the next (reading what
    it kept), within the kept depth and beyond it."""
    from array import array

    size, field_lengths, fields = world_spec
    base_plan, mine_plan = [], []
    base_idf: dict[str, list[tuple[str, float]]] = {}
    mine_idf: dict[str, list[tuple[str, float]]] = {}
    base_avgdl, mine_avgdl = {}, {}
    holders: set[int] = set()
    for f, (avgdl, my_avgdl, tokens) in enumerate(fields):
        field, lengths = f"f{f}", array("i", field_lengths)
        base_terms, mine_terms = [], []
        for t, (idf, my_idf, kept, docs_set, data) in enumerate(tokens):
            docs = array("i", sorted(docs_set))
            tfs = array("f", [data.draw(_TF) for _ in docs])
            holders |= docs_set
            base_terms.append((idf, docs, tfs))
            base_idf.setdefault(field, []).append((f"t{t}", idf))
            if kept:
                mine_terms.append((my_idf, docs, tfs))
                mine_idf.setdefault(field, []).append((f"t{t}", my_idf))
        base_plan.append((lengths, avgdl, base_terms))
        base_avgdl[field] = avgdl
        if mine_terms:
            mine_plan.append((lengths, my_avgdl, mine_terms))
            mine_avgdl[field] = my_avgdl
    base_stats = relevance.Statistics(base_idf, base_avgdl, base_plan)
    mine = relevance.Statistics(mine_idf, mine_avgdl, mine_plan)
    order = array("i", sorted(holders))
    base = relevance._Base(base_stats, order, array("d", [0.0] * len(order)), 0,
                           Probes(order), {})
    saved = relevance.POSTINGS_DEPTH
    relevance.POSTINGS_DEPTH = depth
    try:
        for _ in range(2):
            for p, d in enumerate(order):
                for stats in (mine, base_stats):
                    assert relevance._score_at(base, p, d, stats) == relevance.score(d, stats)
    finally:
        relevance.POSTINGS_DEPTH = saved
    assert len(base.postings_at) == min(depth, len(order))
