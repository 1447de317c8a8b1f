"""Document sets as Python integers: bit ``d`` set means document number ``d`` is in.

Set algebra on ints runs in C over machine words, so AND/OR/NOT of sets of 100,000
documents cost microseconds and counts are ``int.bit_count()``. That is how structured
clauses and the security mask are combined, instead of Whoosh's per-document matchers
(and its ``And(X, Not(Y))`` defect, see docs/whoosh.md).

But every integer operation reads the whole width of the index: at a million documents
each pass (an AND, a count, listing the members) costs 50-150 microseconds, however few
members the set has. So a set with few members may instead be ``Ids``: its document
numbers, ascending, in an ``array('i')``. Intersecting ``Ids`` with a dense set reads
the dense set's ``flags`` (one byte per document, made once per set and kept by its
owner), so a selective query costs what its members cost, not what the index's width
does. ``Hits`` is either form; ``dense`` and ``ids`` convert.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterable, Sequence, Sized
from itertools import chain, compress, repeat
from operator import itemgetter, ne
from typing import TypeAlias

DocSet = int
#: A sparse set: ascending document numbers, never changed once made (they are shared).
Ids: TypeAlias = "array[int]"
#: A set in either form.
Hits: TypeAlias = "int | array[int]"
EMPTY: DocSet = 0
#: Up to this many ids, ``from_ids`` sets bits one by one.
FEW = 16

_BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(bit for bit in range(8) if byte >> bit & 1) for byte in range(256)
)


def from_ids(ids: Iterable[int], size: int) -> DocSet:
    """The set of ``ids`` (all below ``size``).

    A few ids (a sized collection) are set bit by bit: no buffer as wide as the index.
    Many (one per ``DENSE_IDS`` documents or more) are set a byte per document by C
    (``from_flags``): a fifth to a third less than a Python step per id."""
    if isinstance(ids, Sized):
        if len(ids) <= FEW:
            out = EMPTY
            for d in ids:
                out |= 1 << d
            return out
        if len(ids) * DENSE_IDS >= size:
            marked = bytearray(((size >> 3) + 1) << 3)
            deque(map(marked.__setitem__, ids, repeat(1)), maxlen=0)
            return from_flags(marked)
    buf = bytearray((size >> 3) + 1)
    for d in ids:
        buf[d >> 3] |= 1 << (d & 7)
    return int.from_bytes(buf, "little")


#: ``from_ids`` marks bytes when there is an id per this many documents or more (below
#: that, its Python step per id costs less than a pass over a byte per document).
DENSE_IDS = 16


def from_flags(marked: bytes | bytearray) -> DocSet:
    """The set of the documents whose byte is not zero (``marked``: a byte per document).
    Byte ``m`` of a set holds documents ``8m`` to ``8m + 7``, so document ``8m + i`` is
    byte ``m`` of the strided column ``marked[i::8]``, translated to bit ``i``: eight C
    passes over an eighth of the bytes each."""
    out = EMPTY
    for i, table in enumerate(_TO_BIT):
        out |= int.from_bytes(marked[i::8].translate(table), "little")
    return out


#: ``_TO_BIT[i]`` maps zero to zero and any other byte to bit ``i``.
_TO_BIT = [bytes(0 if x == 0 else 1 << i for x in range(256)) for i in range(8)]


def full(size: int) -> DocSet:
    return (1 << size) - 1


def members(docs: DocSet, count: int | None = None) -> list[int]:
    """Ascending document numbers in ``docs``. ``count``, its size when the caller has
    counted it already (a count reads the whole set), only picks the faster way.

    Only the non-zero bytes are visited, and C finds them, so the cost follows the
    members more than the index size: 65 members of a 100,000-document index took
    0.9 ms by a Python loop over every byte, 0.08 ms by ``itertools.compress`` over the
    machine words (each word made a Python int), and 0.05 ms by ``bytes.find`` (memchr)
    over the bytes with every non-zero one made 1.
    """
    if not docs:
        return []
    raw = docs.to_bytes((docs.bit_length() + 7) >> 3, "little")
    out: list[int] = []
    append = out.append
    if count is None:
        count = docs.bit_count()
    if count << 3 < len(raw):  # sparse: most bytes are zero
        find = raw.translate(_NON_ZERO).find
        i = find(1)
        while i >= 0:
            base = i << 3
            for bit in _BITS[raw[i]]:
                append(base + bit)
            i = find(1, i + 1)
        return out
    for i in compress(range(len(raw)), raw):
        base = i << 3
        for bit in _BITS[raw[i]]:
            append(base + bit)
    return out


#: ``bytes.translate`` table: zero stays zero, every other byte becomes 1.
_NON_ZERO = bytes([0] + [1] * 255)


def as_bytes(docs: DocSet, size: int) -> bytes:
    """A byte view for O(1) membership tests: ``raw[d >> 3] >> (d & 7) & 1``."""
    return docs.to_bytes((size >> 3) + 1, "little")


def count(docs: DocSet) -> int:
    return docs.bit_count()


# --- sparse sets ----------------------------------------------------------------------


def sparse_limit(size: int) -> int:
    """Up to how many members a set of an index of ``size`` documents is kept as ``Ids``.

    Measured on the 2-core machine of the benchmarks: filtering ``Ids`` (``select``)
    costs 0.1-0.2 microsecond per member; an integer result costs passes over the
    index's width (AND, count, to bytes: about 40 microseconds at 100,000 documents,
    ten times that at a million) and then 0.4-0.5 microsecond per member to list its
    members (``members``), which ordering a few hundred hits needs. So ``Ids`` win for
    a rare set whose hits are most of its members, by far; when an AND keeps few of
    them, they cost up to about a member per 128 documents more than the passes they
    save (``Compiler.intersect`` then takes the integers). The floor keeps small
    indexes (and tests) on the sparse path for their rare sets."""
    return max(FEW_IDS, size >> 7)


#: Sets of up to this many members are ``Ids`` whatever their width.
FEW_IDS = 64


def sparse_enough(count: int, width: int) -> bool:
    """Is a set of ``count`` members whose highest is below ``width`` cheaper as ``Ids``?
    An integer costs its width, not the index's (the space entities, numbered first,
    make a narrow one), so the rule of ``sparse_limit`` applies to the width."""
    return count <= sparse_limit(width)


def sparse_form(docs: DocSet) -> Ids | None:
    """``docs`` as ``Ids`` when ``sparse_enough`` by its size and width, else None: how
    a set kept per snapshot (a term, an expansion, a phrase) is given its form once."""
    count = docs.bit_count()
    return ids(docs, count) if sparse_enough(count, docs.bit_length()) else None


def ids(docs: Hits, count: int | None = None) -> Ids:
    """The members of ``docs`` as ``Ids`` (``docs`` itself when it is ``Ids``)."""
    if isinstance(docs, array):
        return docs
    return array("i", members(docs, count))


def dense(docs: Hits, size: int) -> DocSet:
    """``docs`` as an integer set of an index of ``size`` documents."""
    if isinstance(docs, array):
        return from_ids(docs, size)
    return docs


def size_of(docs: Hits) -> int:
    """How many members ``docs`` has."""
    return len(docs) if isinstance(docs, array) else docs.bit_count()


#: ``_BIT_OF_BYTE[j]`` maps a byte to 1 when its bit ``j`` is set, else to 0.
_BIT_OF_BYTE = [bytes((b >> j) & 1 for b in range(256)) for j in range(8)]


def flags(docs: DocSet, size: int) -> bytearray:
    """One byte per document, 1 for the members of ``docs`` (``size`` + 7 rounded down
    to whole bytes and up again): what ``select`` reads. Eight ``bytes.translate`` and
    eight strided copies, all in C: about 1 ms at a million documents, made once per set
    by whoever keeps the set."""
    raw = docs.to_bytes((size >> 3) + 1, "little")
    out = bytearray(len(raw) << 3)
    for j in range(8):
        out[j::8] = raw.translate(_BIT_OF_BYTE[j])
    return out


def select(candidates: Sequence[int], within: bytes | bytearray) -> Ids:
    """The ``candidates`` (ascending) whose byte in ``within`` (``flags``) is set, in C
    (``itemgetter`` reads them all in one call: a third faster than ``map``): the cost
    follows the candidates whatever the index's size."""
    if len(candidates) < 2:  # itemgetter of one index gives a value, not a tuple
        return array("i", [d for d in candidates if within[d]])
    return array("i", compress(candidates, itemgetter(*candidates)(within)))


def union_ids(parts: Sequence[Sequence[int]]) -> Ids:
    """The union of ascending document number sequences, ascending: ``sorted`` merges
    the runs, then equal neighbours are dropped, both in C (a set and a full sort took
    four times as long)."""
    if len(parts) <= 1:
        return array("i", parts[0] if parts else ())
    merged = sorted(chain.from_iterable(parts))
    if not merged:
        return array("i")
    later = merged[1:]
    return array("i", chain((merged[0],), compress(later, map(ne, later, merged))))


def intersect_ids(parts: Sequence[Ids]) -> Ids:
    """The intersection of ``Ids``, smallest first."""
    ordered = sorted(parts, key=len)
    out = ordered[0]
    for other in ordered[1:]:
        if not out:
            break
        keep = set(other)
        out = array("i", [d for d in out if d in keep])
    return out
