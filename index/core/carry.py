"""Carrying per-document arrays from one commit to the next, for a small write.

A write of a few documents leaves Whoosh's big segments where they were (it marks the
replaced and deleted documents in them as deleted) and adds a small segment, sometimes
merging other small ones into it. Everything derived from the commit before
(``index.core.derived``: columns, field lengths, ranks of sort keys, orderings, document
sets) still holds for the documents of every kept segment; only the documents of the new
segment have to be read from Whoosh. Recomputing all of it instead cost about 3 s of CPU
per one-item write at 100,000 items.

``Plan`` says where each kept segment's documents were and are now; the functions here
splice and patch with it. Deleted documents keep their old values, as a recomputation from
Whoosh's columns gives them (every reader masks deleted documents out anyway).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from index.core.docsets import DocSet

Segments = Sequence[tuple[str, int, int]]  # (segment id, first docnum, count)


class Plan:
    """How the documents of commit ``old`` map onto commit ``new`` (``Snapshot.segments``
    of each): a segment of the same id and document count is kept (its documents moved as
    a block), every other segment of ``new`` is fresh (read from Whoosh)."""

    def __init__(self, old: Segments, new: Segments) -> None:
        before = {sid: (start, count) for sid, start, count in old}
        self.old_size = sum(count for _, _, count in old)
        self.size = sum(count for _, _, count in new)
        #: (old first docnum, new first docnum, count) of each kept segment, in new order.
        self.kept: list[tuple[int, int, int]] = []
        #: Positions in ``new`` of the fresh segments.
        self.fresh: list[int] = []
        #: Document numbers of the fresh segments' documents, ascending.
        self.fresh_docs: list[int] = []
        for position, (sid, start, count) in enumerate(new):
            prior = before.get(sid)
            if prior is not None and prior[1] == count:
                self.kept.append((prior[0], start, count))
            else:
                self.fresh.append(position)
                self.fresh_docs.extend(range(start, start + count))
        self._new = list(new)
        #: Documents below this number are kept where they were (the big segments a small
        #: write leaves alone): most remapping is then a slice.
        self.prefix = 0
        for old_start, new_start, count in self.kept:
            if old_start != self.prefix or new_start != self.prefix:
                break
            self.prefix += count

    def splice(self, old: Sequence[Any], fresh: Iterable[Any], typecode: str) -> array[Any]:
        """An array over ``new``: each kept segment's part of ``old`` (an array over
        ``old``), each fresh segment's values taken in turn from ``fresh``."""
        kept = {new_start: (old_start, count) for old_start, new_start, count in self.kept}
        values = iter(fresh)
        out = array(typecode)
        for _, start, count in self._new:
            if start in kept:
                old_start, _ = kept[start]
                out.extend(old[old_start:old_start + count])
            else:
                out.extend(array(typecode, (next(values) for _ in range(count))))
        return out

    @cached_property
    def table(self) -> array[int]:
        """Old document number -> new one (-1 for a document of a segment not kept)."""
        out = array("i", [-1]) * self.old_size
        for old_start, new_start, count in self.kept:
            out[old_start:old_start + count] = array(
                "i", range(new_start, new_start + count))
        return out

    @cached_property
    def identity(self) -> array[int]:
        """0, 1, 2, ...: positions to slice, longer than either commit's documents."""
        return array("i", list(range(max(self.old_size, self.size) + 1)))

    def moved_ids(self, ids: Sequence[int]) -> Sequence[int]:
        """Ascending old document numbers -> ascending new ones, dropping those of
        segments not kept."""
        cut = bisect_left(ids, self.prefix)
        if cut == len(ids):
            return ids
        out = list(ids[:cut])
        for old_start, new_start, count in self.kept:
            if old_start + count <= self.prefix:
                continue
            lo, hi = bisect_left(ids, old_start), bisect_left(ids, old_start + count)
            shift = new_start - old_start
            out.extend(d + shift for d in ids[lo:hi])
        out.sort()
        return array("I", out)

    def moved_set(self, docs: DocSet) -> DocSet:
        """A set over ``old`` as a set over ``new``, members of segments not kept dropped."""
        out = docs & ((1 << self.prefix) - 1)
        for old_start, new_start, count in self.kept:
            if old_start + count > self.prefix:
                out |= ((docs >> old_start) & ((1 << count) - 1)) << new_start
        return out


def patch_ranks(old_ranks: Sequence[int], plan: Plan, value: Callable[[int], Any],
                known: Mapping[int, int]) -> array[int]:
    """Ranks over ``new`` that order documents as their values do (equal values, equal
    ranks), from ``old_ranks`` (over ``old``) for the documents kept, ``known`` (an old
    rank of the same value) for the fresh ones that have one, and ``value`` (of a new
    document number) for the others, which are placed among the values present by binary
    search. Ranks need not be dense: a value no document holds any more leaves a gap, and
    a value not seen before moves the ranks above it up by one (one pass in C)."""
    spliced = plan.splice(old_ranks, repeat(-1), "i")
    unknown = [d for d in plan.fresh_docs if d not in known]
    found: dict[Any, tuple[int, bool]] = {}
    if unknown:
        # A document of each rank present (every document's value reads as it did when
        # ranked: ``value`` does not depend on which documents are live).
        holder = dict(zip(spliced, range(len(spliced)), strict=True))
        holder.pop(-1, None)
        holder.update((r, d) for d, r in known.items())
        top = max(holder, default=-1) + 1

        def place(v: Any) -> tuple[int, bool]:
            """(the largest rank present whose value is <= v, or -1; whether it is v)."""
            lo, hi = 0, top  # ranks in [lo, hi) not yet ruled out; all below lo are <= v
            below = -1
            while lo < hi:
                mid = (lo + hi) // 2
                probe = mid
                while probe < hi and probe not in holder:  # a gap: the next rank present
                    probe += 1
                if probe == hi:
                    hi = mid
                elif value(holder[probe]) <= v:
                    below, lo = probe, probe + 1
                else:
                    hi = mid
            return below, below >= 0 and value(holder[below]) == v

        for d in unknown:
            v = value(d)
            if v not in found:
                found[v] = place(v)
    new_values = sorted(v for v, (_, same) in found.items() if not same)
    after = [found[v][0] for v in new_values]  # ascending with the values
    # Old rank r moves up by the number of new values placed below it; the j-th new value
    # (from 1) takes rank after_j + j: above every old rank <= after_j, below the rest.
    rank_of = {v: a + j for j, (v, a) in enumerate(zip(new_values, after, strict=True), 1)}
    shift: Callable[[int], int] = int
    if after:
        top = max(max(spliced, default=-1), max(known.values(), default=-1), after[-1]) + 1
        pieces, start = [], 0
        for j, a in enumerate(after):  # ranks in (after[j-1], after[j]] move up by j
            pieces.append(range(start + j, a + 1 + j))
            start = max(start, a + 1)
        pieces.append(range(start + len(after), top + len(after)))
        table = array("i", chain.from_iterable(pieces))
        spliced = array("i", map(table.__getitem__, spliced))
        shift = table.__getitem__
    for d in plan.fresh_docs:
        if d in known:
            spliced[d] = shift(known[d])
        else:
            same_rank, same = found[value(d)]
            spliced[d] = shift(same_rank) if same else rank_of[value(d)]
    return spliced


def patch_ordering(old_order: Sequence[int], old_rank: Sequence[int], plan: Plan,
                   key: Callable[[int], Any]) -> tuple[array[int], array[int]]:
    """An ordering over ``new`` (its order and rank arrays) from one over ``old``: the
    kept documents in their old order (renumbered), each fresh document inserted after
    the last one whose ``key`` is not greater. ``key`` must order the kept documents as
    ``old_order`` does, ties aside. Made of slices and one map in C: only the few
    documents that leave or arrive take a Python step (inserting into a list and ranking
    every position in Python cost 50 ms per ordering at 100,000 documents)."""
    # Old positions of the documents of segments not kept, ascending: cut out, leaving
    # ``base``; the k-th cut falls before index ``position - k`` of ``base``.
    gone: list[int] = []
    at = 0
    for lo, count in sorted((old_start, count) for old_start, _, count in plan.kept):
        gone.extend(range(at, lo))
        at = lo + count
    gone.extend(range(at, plan.old_size))
    cut = sorted(old_rank[d] for d in gone)
    base, at = array("i"), 0
    for position in cut:
        base.extend(old_order[at:position])
        at = position + 1
    base.extend(old_order[at:])
    if any(old_start != new_start for old_start, new_start, _ in plan.kept):
        base = array("i", list(map(plan.table.__getitem__, base)))
    # Fresh documents by key, each with the index in ``base`` it goes before.
    fresh = sorted(plan.fresh_docs, key=key)
    places = [bisect_right(base, key(d), key=key) for d in fresh]
    order, at = array("i"), 0
    for d, place in zip(fresh, places, strict=True):
        order.extend(base[at:place])
        order.append(d)
        at = place
    order.extend(base[at:])
    # Old position -> new one, in pieces between the cuts and places: index i of
    # ``base`` moves up by the number of places <= i; a cut position maps to 0 (unread).
    ident = plan.identity
    cuts_at = [position - k for k, position in enumerate(cut)]
    new_position, shift, c = array("i"), 0, 0
    edges = sorted({0, len(base), *cuts_at, *places})
    for lo, hi in zip(edges, edges[1:] + [len(base)], strict=True):
        while c < len(cuts_at) and cuts_at[c] == lo:
            new_position.append(0)
            c += 1
        while shift < len(places) and places[shift] <= lo:
            shift += 1
        new_position.extend(ident[lo + shift:hi + shift])
    rank = array("i", itemgetter(*plan.splice(old_rank, repeat(0), "i"))(new_position)
                 if plan.size > 1 else [0] * plan.size)
    for j, (d, place) in enumerate(zip(fresh, places, strict=True)):
        rank[d] = place + j
    return order, rank


__all__ = ["Plan", "patch_ordering", "patch_ranks"]
