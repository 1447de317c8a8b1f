"""Document sets as Python integers: bit ``d`` set means document number ``d`` is in.

Set algebra on ints runs in C over machine words, so AND/OR/NOT of sets of 100,000
documents cost microseconds and counts are ``int.bit_count()``. That is how structured
clauses and the security mask are combined, instead of Whoosh's per-document matchers
(and its ``And(X, Not(Y))`` defect, see docs/whoosh.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DocSet = int
EMPTY: DocSet = 0

_BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(bit for bit in range(8) if byte >> bit & 1) for byte in range(256)
)

_NONZERO = re.compile(rb"[^\x00]")


def from_ids(ids: Iterable[int], size: int) -> DocSet:
    """The set of ``ids`` (all below ``size``)."""
    buf = bytearray((size >> 3) + 1)
    for d in ids:
        buf[d >> 3] |= 1 << (d & 7)
    return int.from_bytes(buf, "little")


def full(size: int) -> DocSet:
    return (1 << size) - 1


def members(docs: DocSet) -> list[int]:
    """Ascending document numbers in ``docs``. A sparse set (masks' gated roots, a user's
    own drafts) visits only its non-zero bytes, found by the regex engine."""
    if not docs:
        return []
    raw = docs.to_bytes((docs.bit_length() + 7) >> 3, "little")
    out: list[int] = []
    extend = out.extend
    if docs.bit_count() * 16 < len(raw):
        for found in _NONZERO.finditer(raw):
            i = found.start()
            extend((i << 3) + bit for bit in _BITS[raw[i]])
        return out
    for i, byte in enumerate(raw):
        if byte:
            base = i << 3
            extend(base + bit for bit in _BITS[byte])
    return out


def as_bytes(docs: DocSet, size: int) -> bytes:
    """A byte view for O(1) membership tests: ``raw[d >> 3] >> (d & 7) & 1``."""
    return docs.to_bytes((size >> 3) + 1, "little")


def count(docs: DocSet) -> int:
    return docs.bit_count()
