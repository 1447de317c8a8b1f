"""Per-snapshot column structures: date ranges in O(block) and orderings for top-k.

Built once per snapshot (the index is immutable between commits) and then shared by
every query, which is what turns a 470 ms "date range + ORDER BY" into a few ms:

- ``SortedColumn``: documents sorted by a numeric value, plus the prefix document sets of
  every ``BLOCK`` positions, so a range is one XOR of two prefixes and two partial blocks.
- ``Ordering``: every document in one sort order, and each document's rank in it, so the
  first k hits are found by walking the order (broad hit sets), then by taking its
  blocks (broad hit sets that start deep in it), or by sorting the few hits by rank
  (sparse ones).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from itertools import compress, repeat
from operator import and_, itemgetter, lshift, rshift
from typing import Any

from index.core import docsets
from index.core.docsets import DocSet, Hits, Ids

BLOCK = 1024
#: An ordering is cut into this many blocks of positions for ``Ordering.top``.
ORDER_BLOCKS = 64
#: Positions of an order a walk tests at a time (``Probes``). A walk stops at its last
#: hit needed, so it tests at most a chunk more than it needs.
PROBE = 128


class SortedColumn:
    """Documents ordered by an integer value, answering ``lo <= value < hi`` as a set."""

    def __init__(self, pairs: list[tuple[int, int]], size: int) -> None:
        pairs.sort()
        self.values = [v for v, _ in pairs]
        self.docs = [d for _, d in pairs]
        self.size = size
        self.prefix: list[DocSet] = [docsets.EMPTY]
        acc = docsets.EMPTY
        for start in range(0, len(self.docs), BLOCK):
            acc |= docsets.from_ids(self.docs[start:start + BLOCK], size)
            self.prefix.append(acc)

    def _upto(self, pos: int) -> DocSet:
        """Documents at sorted positions ``< pos``."""
        block, rest = divmod(pos, BLOCK)
        base = self.prefix[block]
        if rest:
            start = block * BLOCK
            base |= docsets.from_ids(self.docs[start:start + rest], self.size)
        return base

    def _positions(self, lo: int | None, hi: int | None) -> tuple[int, int]:
        i = 0 if lo is None else bisect.bisect_left(self.values, lo)
        j = len(self.values) if hi is None else bisect.bisect_left(self.values, hi)
        return i, j

    def range(self, lo: int | None, hi: int | None) -> DocSet:
        i, j = self._positions(lo, hi)
        if j <= i:
            return docsets.EMPTY
        if j - i <= 2 * BLOCK:
            return docsets.from_ids(self.docs[i:j], self.size)
        return self._upto(j) & ~self._upto(i)

    def range_ids(self, lo: int | None, hi: int | None, limit: int) -> Ids | None:
        """``range`` as ``Ids`` when it has at most ``limit`` documents, else None."""
        i, j = self._positions(lo, hi)
        if j - i > limit:
            return None
        return array("i", sorted(self.docs[i:j])) if j > i else array("i")


class Probes:
    """Where the documents of an order are in a set's bytes (``d >> 3``) and their bits
    there (``1 << (d & 7)``), made a chunk of ``PROBE`` positions at a time on first use
    (a walk reads the first few chunks) and kept: ``held`` tests a chunk of the order
    against a set in C."""

    def __init__(self, order: array[int]) -> None:
        self.order = order
        self._chunks: dict[int, tuple[array[int], bytes]] = {}

    def chunk(self, index: int) -> tuple[array[int], bytes]:
        made = self._chunks.get(index)
        if made is None:
            docs = self.order[index * PROBE:(index + 1) * PROBE]
            made = self._chunks[index] = (
                array("i", map(rshift, docs, repeat(3))),
                bytes(map(lshift, repeat(1), map(and_, docs, repeat(7)))))
        return made

    def held(self, raw: bytes, start: int = 0, end: int | None = None) -> Iterator[int]:
        """The positions in ``[start, end)`` of the order whose document is in the set
        ``raw`` (``docsets.as_bytes``), in order."""
        end = len(self.order) if end is None else min(end, len(self.order))
        while start < end:
            index, lo = divmod(start, PROBE)
            first = index * PROBE
            hi = min(end - first, PROBE)
            byte_of, bit_of = self.chunk(index)
            at = byte_of[lo:hi]
            found = itemgetter(*at)(raw) if len(at) > 1 else (raw[at[0]],)
            yield from compress(range(first + lo, first + hi), map(and_, found, bit_of[lo:hi]))
            start = first + hi


class Ordering:
    """All documents in one sort order; ``rank[d]`` is ``d``'s position."""

    def __init__(self, order: Sequence[int], size: int,
                 rank: array[int] | None = None) -> None:
        self.order = array("i", order)
        if rank is not None:  # read with the order (``index.core.derived``)
            self.rank = rank
            return
        self.rank = array("i", bytes(4 * size))
        rank = self.rank
        for pos, d in enumerate(self.order):
            rank[d] = pos

    @cached_property
    def step(self) -> int:
        """Positions of the order per block (``ORDER_BLOCKS`` blocks in all)."""
        return -(-len(self.order) // ORDER_BLOCKS) or 1

    @cached_property
    def _blocks(self) -> list[DocSet | None]:
        return [None] * -(-len(self.order) // self.step)

    def block(self, index: int) -> DocSet:
        """The documents at the ``index``-th ``step`` positions of the order, as a set.
        Each is built on first use (1 ms at 100,000 documents, a bit per document each:
        8 MB for all at a million): a search that needs the first few pays for those,
        not for all 64 (70 ms)."""
        made = self._blocks[index]
        if made is None:
            start = index * self.step
            made = docsets.from_ids(self.order[start:start + self.step], len(self.rank))
            self._blocks[index] = made
        return made

    def top(self, hits: Hits, count: int, needed: int) -> list[int]:
        """The first ``needed`` of ``hits`` (which has ``count`` members) in this order."""
        if needed <= 0 or not count:
            return []
        if isinstance(hits, array):  # sparse: the members are at hand
            return self.first(hits, needed)
        # Few hits: sort them by rank (cost follows the hits), all of them or those in the
        # first blocks of the order.
        if needed * len(self.order) >= count * count:
            return self.first(self._leading(hits, count, needed), needed)
        # Many hits: walk the order while it pays (hits spread evenly through it are met
        # every size / count steps), then take whole blocks of the order: a hit set that
        # starts deep in the order (a date range under "newest first") costs one AND per
        # block passed and a sort (or, when dense, a walk) of the hits in the blocks
        # taken, not a Python step per document passed.
        raw = docsets.as_bytes(hits, len(self.rank))
        out: list[int] = []
        step = self.step
        if self._walk(raw, 0, step, out, needed):
            return out
        rank = self.rank.__getitem__
        for index in range(1, len(self._blocks)):
            part = hits & self.block(index)
            if not part:
                continue
            inside, rest = part.bit_count(), needed - len(out)
            if inside < rest:
                found = docsets.members(part, inside)
                found.sort(key=rank)
                out.extend(found)
            elif rest * step < inside * inside:  # many hits in the block: walk it
                self._walk(raw, index * step, step, out, needed)
                return out
            else:
                out.extend(self.first(docsets.members(part, inside), rest))
                return out
        return out

    def _leading(self, hits: DocSet, count: int, needed: int) -> list[int]:
        """The members of ``hits`` in the first blocks of the order that hold ``needed``
        of them, or else all its members: either way its first ``needed`` in the order.

        Listing a member costs about as much as 650 bytes of an AND (0.45 us against
        8.7 us for an AND, count and OR at 100,000 documents), so a few hundred hits
        spread through the order cost a few blocks and a fifth of the members instead of
        all of them (661 hits: 3 blocks). Hits that sit deep in the order would cost an
        AND per block passed, so the blocks tried are capped at half of what listing
        every member costs, and none are tried when hits spread evenly through the order
        would need more than that (so the rarest sets never build a block)."""
        blocks = len(self._blocks)
        tries = min((count << 11) // max(len(self.rank), 1), blocks)
        if count <= needed or needed * blocks > count * tries:
            return docsets.members(hits, count)  # hits spread evenly need more blocks
        # As many blocks as would hold half as many hits again as needed if they spread
        # evenly, listed once: counting each block's hits read the whole width each time
        # (73 us at a million documents, where the AND costs 5).
        want = min(tries, -(-3 * needed * blocks // (2 * count)))
        taken = docsets.EMPTY
        for index in range(want):
            taken |= hits & self.block(index)
        found = docsets.members(taken, 2 * needed)  # (about that many: the sparse way)
        return found if len(found) >= needed else docsets.members(hits, count)

    def first(self, docs: Sequence[int], needed: int) -> list[int]:
        """The first ``needed`` of ``docs`` in this order. Ranks are distinct, so sorting
        the ranks (in C) and reading the order at the first ones is sorting the documents
        by rank: a Python key call per document (``heapq.nsmallest``) cost ten times as
        much for a few hundred."""
        if len(docs) < 2:
            return list(docs[:needed])
        order = self.order
        return [order[r] for r in sorted(itemgetter(*docs)(self.rank))[:needed]]

    def _walk(self, raw: bytes, start: int, length: int, out: list[int], needed: int
              ) -> bool:
        """Append the hits (``raw``, ``docsets.as_bytes``) among ``length`` positions of
        the order from ``start`` to ``out``, until it holds ``needed``; True when it does.
        The positions are tested a chunk at a time in C (``Probes``): a Python step per
        position passed was most of a broad query's ordering."""
        order = self.order
        for i in self.probes.held(raw, start, start + length):
            out.append(order[i])
            if len(out) == needed:
                return True
        return False

    @cached_property
    def probes(self) -> Probes:
        return Probes(self.order)


def dense_ranks(values: Sequence[Any]) -> list[int]:
    """Equal values get equal ranks, in ascending value order."""
    distinct = {v: i for i, v in enumerate(sorted(set(values)))}
    return [distinct[v] for v in values]


def build_ordering(size: int, keys: list[tuple[list[int], bool]],
                   tiebreak: Callable[[int], Any]) -> Ordering:
    """An ordering by several (dense rank list, descending) keys, then ``tiebreak``."""
    docs = sorted(range(size), key=tiebreak)
    for ranks, descending in reversed(keys):
        docs.sort(key=ranks.__getitem__, reverse=descending)
    return Ordering(docs, size)
