"""Relevance order (BM25F) over what one caller may see, without a per-caller rebuild.

Scores use collection statistics (document count, document frequencies, average field
lengths) taken over the caller's *universe*, so hidden content never moves visible results
(DIVERGENCES: relevance is computed over what the caller may see). Each caller has its
own universe, and sorting every scored document once per caller cost tens of milliseconds
on a new caller's first text search. So the work is split in two:

- **Per snapshot and term set, for everyone** (``_Base``): every document holding a term,
  in descending order of its *base* score, the score over all live documents.
- **Per caller** (``Statistics``): the universe's statistics. Counts are popcounts, and a
  field's total length over any document set is a few popcounts of its bit slices
  (``LengthSlices``), so a new universe costs microseconds per term and field.

A caller's exact score of a document is at most ``bound * base score`` (``bound`` from the
ratios of the two statistics, below), so walking the base order and keeping the best
``needed`` exact scores can stop at the first document whose base score times ``bound``
cannot reach the worst kept one. Terms whose ratio is large (most of their documents are
hidden from the caller, so few visible documents hold them) would make the bound loose:
their visible documents are scored outright instead. The result is exactly the order a
full sort by (score descending, then ``lastmodified`` descending, then id) gives.
"""

from __future__ import annotations

import heapq
import math
import operator as op
import sys
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import compress
from typing import Any, TypeVar

from index.core import docsets, lru
from index.core.backend import K1, Snapshot
from index.core.backend import B as B_
from index.core.columns import PROBE, Ordering, Probes
from index.core.docsets import DocSet, Hits, Ids

Terms = tuple[tuple[str, str], ...]
_T = TypeVar("_T")
#: Term sets whose base order one snapshot keeps (a few bytes per scored document each).
BASE_CACHE = 64
#: Flags of the holders of a term set one snapshot keeps (a byte per document each).
HOLDER_FLAGS = 16
#: Universes' statistics one snapshot keeps (a few hundred bytes each).
STATISTICS_CACHE = 2048
#: A base order holding under one document in this many is sorted by rank, not filtered
#: from the default order.
FEW_HOLDERS = 32
#: A term whose exact-over-base ratio exceeds this is scored outright, not walked.
LOOSE = 1.25
#: Headroom for floating-point rounding in the bound.
_SLACK = 1 + 1e-9


# --- sums of a column over a document set -----------------------------------------------------


class LengthSlices:
    """A field's token counts as bit slices: slice ``j`` holds the documents whose count has
    bit ``j`` set, so the total over a set ``S`` is ``sum(popcount(slice_j & S) << j)``.

    A document set's byte ``m`` holds documents ``8m`` to ``8m + 7``, so slice ``j``'s bytes
    are made from eight strided columns of the counts' bytes (column ``i``: byte ``j // 8``
    of documents ``8m + i``), each translated to its bit ``j % 8`` placed at bit ``i`` and
    OR-ed: C work on an eighth of the index per column, with no pass over every document
    in Python (the four text fields' slices took 40 ms at 100,000 items by packing a byte
    per document, 10 ms so)."""

    def __init__(self, lengths: array[int], size: int) -> None:
        values = lengths if isinstance(lengths, array) and lengths.itemsize == 4 \
            else array("I", lengths)
        if sys.byteorder == "big":
            values = array("I", values)
            values.byteswap()
        self.size = size
        lanes = (size + 7) >> 3
        raw = values.tobytes()[:size << 2].ljust(lanes << 5, b"\0")  # whole lanes of 8
        zero = bytes(lanes)
        self.slices: list[DocSet] = []
        for k in range(4):  # the counts' byte k: bits 8k to 8k + 7
            columns = [raw[(i << 2) + k::32] for i in range(8)]
            if all(map(zero.__eq__, columns)):
                self.slices.extend([docsets.EMPTY] * 8)
                continue
            for placed in _PLACED:
                plane = docsets.EMPTY
                for column, table in zip(columns, placed, strict=True):
                    plane |= int.from_bytes(column.translate(table), "little")
                self.slices.append(plane)
        while self.slices and not self.slices[-1]:
            self.slices.pop()

    def total(self, docs: DocSet) -> int:
        return sum((s & docs).bit_count() << j for j, s in enumerate(self.slices))

    def packed(self) -> array[int]:
        """The slices as the derived file stores them: each ``docsets.as_bytes``, in turn."""
        out = array("B")
        for plane in self.slices:
            out.frombytes(docsets.as_bytes(plane, self.size))
        return out

    @classmethod
    def unpacked(cls, packed: array[int] | bytes, size: int) -> LengthSlices:
        """``packed``'s slices, read back without the lengths."""
        found = cls.__new__(cls)
        found.size = size
        width = (size >> 3) + 1
        raw = bytes(packed)
        found.slices = [int.from_bytes(raw[at:at + width], "little")
                        for at in range(0, len(raw), width)]
        return found


#: ``_PLACED[b][i]`` maps a byte to its bit ``b`` moved to bit ``i``.
_PLACED = [[bytes(((x >> b) & 1) << i for x in range(256)) for i in range(8)]
           for b in range(8)]


#: A text field's ``LengthSlices`` in the derived file (``index.core.derived``): made
#: from its lengths, they cost 2-3 ms per field and 100,000 documents of a process's first
#: text search; read back, microseconds.
SLICES_ARRAY = "length_slices:{}"


def length_slices(snap: Snapshot, field: str) -> LengthSlices:
    key = ("length_slices", field)
    found = snap.cache.get(key)
    if found is None:
        stored = (snap.derived.array(SLICES_ARRAY.format(field)) if snap.derived is not None
                  else None)
        found = snap.cache[key] = (LengthSlices.unpacked(stored, snap.size) if stored is not None
                                   else LengthSlices(snap.field_lengths(field), snap.size))
    return found  # type: ignore[no-any-return]


def derived_arrays(lengths: dict[str, array[int]], size: int) -> dict[str, array[int]]:
    """The ``LengthSlices`` of each field's ``lengths`` (of ``size`` documents), packed
    for the derived file."""
    return {SLICES_ARRAY.format(field): LengthSlices(values, size).packed()
            for field, values in lengths.items()}


# --- statistics and scores --------------------------------------------------------------------


@dataclass(frozen=True)
class Statistics:
    """BM25F statistics of one universe: ``idf`` of each term some document of it holds
    (by field, in scoring order) and each field's average length; ``plan`` is the same with
    the snapshot's arrays looked up once: (lengths, avgdl, [(idf, docs, term frequencies)])
    per field."""

    idf: dict[str, list[tuple[str, float]]]
    avgdl: dict[str, float]
    plan: list[tuple[array[int], float, list[tuple[float, array[int], array[float]]]]]

    @cached_property
    def weights(self) -> dict[tuple[str, str], tuple[float, float]]:
        """(idf, average field length) by (field, term): what ``_score_at`` weighs with."""
        return {(field, token): (v, self.avgdl[field])
                for field, tokens in self.idf.items() for token, v in tokens}


def statistics(snap: Snapshot, terms: Terms, universe: DocSet) -> Statistics:
    """Statistics over ``universe`` (cached per term set and universe)."""
    cache = lru.on(snap, "relevance_statistics", STATISTICS_CACHE)
    return _per_universe(cache, terms, universe, lambda: _statistics(snap, terms, universe))


def _per_universe(cache: lru.LruCache, terms: Terms, universe: DocSet,
                  make: Callable[[], _T]) -> _T:
    """``cache``'s value for ``terms`` over ``universe``, made by ``make`` when missing.

    Keyed by the universe's identity, not its value: hashing an integer as wide as the
    index reads all of it (7 us at 100,000 documents, 70 at a million), and a caller's
    universe is one object for as long as the snapshot keeps it (``Compiler.visible``).
    The entry holds the universe itself, so its identity cannot pass to another object
    while the entry lives; another object of equal value just makes its own entry."""
    key = (terms, id(universe))
    found = cache.get(key)
    if found is None or found[0] is not universe:
        found = cache.put(key, (universe, make()))
    return found[1]  # type: ignore[no-any-return]


def _statistics(snap: Snapshot, terms: Terms, universe: DocSet) -> Statistics:
    """``statistics``, computed."""
    n = docsets.count(universe)
    idf: dict[str, list[tuple[str, float]]] = {}
    avgdl: dict[str, float] = {}
    for field, token in terms:
        if n and field not in avgdl:
            avgdl[field] = length_slices(snap, field).total(universe) / n or 1.0
        df = docsets.count(snap.term(field, token) & universe) if n else 0
        if df:
            idf.setdefault(field, []).append((token, math.log(n / (df + 1)) + 1.0))
    plan = [(snap.field_lengths(field), avgdl[field],
             [(v, *snap.term_frequencies(field, token)) for token, v in tokens])
            for field, tokens in idf.items()]
    return Statistics(idf, avgdl, plan)


def score(d: int, stats: Statistics) -> float:
    """The BM25F score of document ``d`` under ``stats``: the same operations in the same
    order as ``scores``, so both give the same float."""
    out = 0.0
    for lengths, avgdl, tokens in stats.plan:
        for idf, docs, tfs in tokens:
            i = bisect_left(docs, d)
            if i < len(docs) and docs[i] == d:
                tf = tfs[i]
                norm = tf + K1 * ((1 - B_) + B_ * lengths[d] / avgdl)
                out = out + idf * tf * (K1 + 1) / norm
    return out


def live_scores(snap: Snapshot, stats: Statistics) -> list[float]:
    """The BM25F score of every document by number (0.0 where it holds no term), for
    statistics over the live documents, whose term frequencies list only live documents.

    A term's contribution depends only on a document's term frequency and field length,
    which take few distinct values (Whoosh keeps lengths in a byte): each pair is
    computed once, by ``score``'s operations in its order, and every posting is then a
    lookup and an addition in place, run by C iterators (a Python step per posting was
    0.5 s for two common words at 100,000 items). The sums are kept in a list, whose
    items are read without making a float each time (an ``array('d')`` makes one per
    read), and the first term's contributions are stored, not added to 0.0 (the same
    float: ``0.0 + x == x``, and every contribution is positive)."""
    out = [0.0] * snap.size
    get, put = out.__getitem__, out.__setitem__
    first = True
    for lengths, avgdl, tokens in stats.plan:
        for idf, term_docs, tfs in tokens:
            part = _Contributions(idf, avgdl).__getitem__
            docs = term_docs.tolist()  # each number made once, not once per pass
            found = map(part, zip(tfs, map(lengths.__getitem__, docs), strict=False))
            if first:
                deque(map(put, docs, found), maxlen=0)
                first = False
            else:
                deque(map(put, docs, map(op.add, map(get, docs), found)), maxlen=0)
    return out


class _Contributions(dict[tuple[float, int], float]):
    """A term's contribution by (term frequency, field length), computed when first
    asked exactly as ``score`` computes it."""

    def __init__(self, idf: float, avgdl: float) -> None:
        super().__init__()
        self.idf, self.avgdl = idf, avgdl

    def __missing__(self, key: tuple[float, int]) -> float:
        tf, length = key
        norm = tf + K1 * ((1 - B_) + B_ * length / self.avgdl)
        found = self[key] = self.idf * tf * (K1 + 1) / norm
        return found


# --- the base order, shared by every caller ---------------------------------------------------


@dataclass(frozen=True)
class _Base:
    """Every live document holding a term, by descending base score (then ``default``),
    with those scores in the same order."""

    stats: Statistics
    order: array[int]
    scores: array[float]
    holders: DocSet
    #: ``order`` tested against a set a chunk at a time (the walk's hits).
    probes: Probes
    #: What ``_score_at`` read of the postings for the first ``POSTINGS_DEPTH`` positions a
    #: walk scored, by position: ((field, term), term frequency, field length) for each
    #: term the document holds, in the order of ``stats.plan``.
    postings_at: dict[int, tuple[tuple[tuple[str, str], float, int], ...]]


def _base(snap: Snapshot, terms: Terms, default: Ordering) -> _Base:
    cache = lru.on(snap, "relevance_base", BASE_CACHE)
    found: _Base | None = cache.get(terms)
    if found is None:
        stats = statistics(snap, terms, snap.live)
        base = live_scores(snap, stats)
        holders = docsets.EMPTY
        for field, tokens in stats.idf.items():
            for token, _ in tokens:
                holders |= snap.term(field, token)
        # By rank, then (stably) by descending score: the order of the key (-score, rank),
        # by a sort keyed by C lookups instead of a tuple made per document. Many holders
        # by rank are the default order's documents with a score (every holder's is
        # positive): a filter in C, not a sort of them by rank (a third of the time);
        # unless, somehow, those are not the holders. A few (a rare word) are sorted by
        # rank: a pass over every document cost more than the rest of a rare word's base.
        held = docsets.count(holders)
        order = [] if held * FEW_HOLDERS < snap.size else list(
            compress(default.order, map(base.__getitem__, default.order)))
        if len(order) != held:
            order = sorted(docsets.members(holders, held), key=default.rank.__getitem__)
        order.sort(key=base.__getitem__, reverse=True)
        positions = array("i", order)
        found = cache.put(terms, _Base(
            stats, positions, array("d", list(map(base.__getitem__, order))), holders,
            Probes(positions), {}))
    return found


def _factors(base: Statistics, mine: Statistics) -> dict[tuple[str, str], float]:
    """For each term some document of the universe holds: an upper bound of (its exact
    contribution) / (its base contribution), the same for every document. A field's
    length normalisation moves by at most the ratio of average lengths, and only when the
    universe's documents are longer on average than the live ones."""
    base_idf = {(f, t): v for f, tokens in base.idf.items() for t, v in tokens}
    out: dict[tuple[str, str], float] = {}
    for field, tokens in mine.idf.items():
        stretch = max(1.0, mine.avgdl[field] / base.avgdl[field])
        for token, idf in tokens:
            out[(field, token)] = idf / base_idf[(field, token)] * stretch
    return out


def top(snap: Snapshot, terms: Terms, universe: DocSet, hits: Hits, total: int,
        needed: int, default: Ordering,
        hit_flags: Callable[[DocSet], bytes | bytearray | None] | None = None
        ) -> list[tuple[int, float]]:
    """The first ``needed`` of ``hits`` (``total`` of them, all in ``universe``) in relevance
    order, with their scores: scored documents by score, then the others by ``default``
    (lastmodified descending); ties by ``default``. ``hit_flags``, given the documents
    holding a term, may give a byte per document marking exactly the hits among them
    (flags the caller keeps), which a walk then reads instead of the hits' bytes."""
    if needed <= 0 or not total:
        return []
    base = _base(snap, terms, default)
    if not base.order:  # no document holds a term (a fuzzy word itself absent): no scores
        return [(d, 0.0) for d in default.top(hits, total, needed)]
    stats = statistics(snap, terms, universe)
    rank = default.rank
    if isinstance(hits, array):
        if len(hits) <= needed or len(hits) * len(hits) * 8 <= needed * len(base.order):
            holding = _holder_flags(snap, terms, base)
            few = docsets.select(hits, holding)
            return _score_few(few, hits, holding, stats, needed, default)
        hits = docsets.dense(hits, snap.size)  # many hits: walk the base order
    scored = hits & base.holders
    # A text clause alone: every hit holds a term, and ``total`` is the count. Comparing
    # stops at the first differing word, and costs a third of a count when equal.
    count = total if scored == hits else docsets.count(scored)

    def key(item: tuple[int, float]) -> tuple[float, int]:
        return -item[1], rank[item[0]]

    picked: list[tuple[int, float]] | None = None
    if count > needed and count * count * 8 > needed * len(base.order):
        factors = _per_universe(lru.on(snap, "relevance_factors", STATISTICS_CACHE), terms,
                                universe, lambda: _factors(base.stats, stats))
        picked = _walk(snap, base, stats, factors, hits, count, needed, rank, hit_flags)
    if picked is None:  # few scored hits, or a walk would score most of them anyway
        found = [(d, score(d, stats)) for d in docsets.members(scored, count)]
        picked = heapq.nsmallest(needed, found, key=key)
    if len(picked) < needed and count < total:
        rest = default.top(hits & ~base.holders, total - count, needed - len(picked))
        picked.extend((d, 0.0) for d in rest)
    return picked


def _holder_flags(snap: Snapshot, terms: Terms, base: _Base) -> bytearray:
    """``docsets.flags`` of the documents holding a term (kept with the base order)."""
    cache = lru.on(snap, "relevance_holders", HOLDER_FLAGS)
    found = cache.get(terms)
    if found is None or found[0] is not base:
        found = cache.put(terms, (base, docsets.flags(base.holders, snap.size)))
    return found[1]  # type: ignore[no-any-return]


def _score_few(scored: Ids, hits: Ids, holding: bytearray, stats: Statistics, needed: int,
               default: Ordering) -> list[tuple[int, float]]:
    """``top`` of sparse ``hits`` whose ``scored`` ones are few: every one is scored, as
    ``top`` scores few scored hits of an integer set (the same floats, the same order)."""
    rank = default.rank
    found = [(d, score(d, stats)) for d in scored]
    picked = heapq.nsmallest(needed, found, key=lambda item: (-item[1], rank[item[0]]))
    if len(picked) < needed and len(scored) < len(hits):
        rest = array("i", [d for d in hits if not holding[d]])
        picked.extend((d, 0.0) for d in default.top(rest, len(rest), needed - len(picked)))
    return picked


def _walk(snap: Snapshot, base: _Base, stats: Statistics,
          factors: dict[tuple[str, str], float], hits: DocSet, count: int, needed: int,
          rank: Any, hit_flags: Callable[[DocSet], bytes | bytearray | None] | None = None
          ) -> list[tuple[int, float]] | None:
    """The best ``needed`` scored hits (``count`` of them), walking the base order until
    the bound stops it; None when the hits holding loose terms, which are scored outright,
    are most of them (a term most of whose documents the caller may not see, though many
    it may: rare, and then scoring every hit is the cheaper way)."""
    loose = [t for t, f in factors.items() if f > LOOSE]
    bound = max((f for t, f in factors.items() if f <= LOOSE), default=0.0) * _SLACK
    early = docsets.EMPTY
    for field, token in loose:
        early |= snap.term(field, token) & hits
    if early and docsets.count(early) * 2 > count:
        return None
    # The kept best, worst first: (score, -rank, doc).
    kept: list[tuple[float, int, int]] = []
    for d in docsets.members(early):
        _keep(kept, (score(d, stats), -rank[d], d), needed)
    if not bound:  # every scored hit holds a loose term: all kept already
        return [(d, s) for s, _, d in sorted(kept, reverse=True)]
    order, scores = base.order, base.scores
    # The hits' bytes read the whole width (100 us or more at a million documents);
    # kept flags that mark the same hits among the holders cost nothing.
    flags = hit_flags(base.holders) if hit_flags is not None and not early else None
    held = base.probes.held(docsets.as_bytes(hits & ~early if early else hits, snap.size)) \
        if flags is None else _flagged(flags, base.order)
    for p in held:
        if len(kept) == needed and scores[p] * bound < kept[0][0]:
            break  # (base scores only fall: no later hit can reach the worst kept)
        d = order[p]
        _keep(kept, (_score_at(base, p, d, stats), -rank[d], d), needed)
    kept.sort(reverse=True)
    return [(d, s) for s, _, d in kept]


def _score_at(base: _Base, p: int, d: int, stats: Statistics) -> float:
    """``score(d, stats)`` of the document ``d`` at position ``p`` of the base order, by
    the same operations in the same order (the terms ``d`` holds, in plan order: the
    caller's plan is the base's without the terms its universe lacks, and ``d``, a hit,
    is in its universe), from the frequencies and lengths read for that position when a
    walk first scored it. Those are facts of the snapshot, the same for every caller:
    looking them up in the postings (a bisection per field and term) was most of a
    text search's walk."""
    found = base.postings_at.get(p)
    if found is None:
        found = _postings_of(d, base.stats)
        if p < POSTINGS_DEPTH:
            base.postings_at[p] = found
    out = 0.0
    weights = stats.weights
    for key, tf, length in found:
        weight = weights.get(key)
        if weight is not None:
            idf, avgdl = weight
            norm = tf + K1 * ((1 - B_) + B_ * length / avgdl)
            out = out + idf * tf * (K1 + 1) / norm
    return out


def _postings_of(d: int, stats: Statistics) -> tuple[tuple[tuple[str, str], float, int], ...]:
    """((field, term), term frequency, field length) of each term of ``stats.plan`` that
    document ``d`` holds, in plan order (as ``score`` finds them)."""
    out = []
    for (field, tokens), (lengths, _, postings) in zip(stats.idf.items(), stats.plan,
                                                        strict=True):
        for (token, _), (_, docs, tfs) in zip(tokens, postings, strict=True):
            i = bisect_left(docs, d)
            if i < len(docs) and docs[i] == d:
                out.append(((field, token), tfs[i], lengths[d]))
    return tuple(out)


#: Positions of a base order whose postings ``_score_at`` keeps (a few hundred bytes
#: each): walks rarely go deeper, and one that does reads the postings again.
POSTINGS_DEPTH = 4096


def _flagged(flags: bytes | bytearray, order: array[int]) -> Iterator[int]:
    """The positions of ``order`` whose document's byte in ``flags`` (``docsets.flags``)
    is set, in order, found a chunk at a time in C (``Probes.held`` for a byte per
    document instead of a bit)."""
    for start in range(0, len(order), PROBE):
        at = order[start:start + PROBE]
        found = op.itemgetter(*at)(flags) if len(at) > 1 else (flags[at[0]],)
        yield from compress(range(start, start + len(at)), found)


def _keep(kept: list[tuple[float, int, int]], item: tuple[float, int, int],
          needed: int) -> None:
    if len(kept) < needed:
        heapq.heappush(kept, item)
    elif item > kept[0]:
        heapq.heapreplace(kept, item)


__all__ = ["SLICES_ARRAY", "LengthSlices", "Statistics", "derived_arrays", "length_slices",
           "live_scores", "statistics", "top"]
