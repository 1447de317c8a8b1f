"""Joins through the parent link as passes over arrays, not a term lookup per id.

``parent.title`` finds the documents whose parent is one of a set of documents. Done as
"the ids of the matching parents, then the ``parent`` term of each", it cost one Whoosh
term lookup per matching parent, each probing every segment of the index: 31,000 parents
at a million items took 17 s. Here each document's parent is a document number
(``parent_docnums``, one array per commit: stored in the derived file a build or a write
leaves, else read once per snapshot from the ``parent`` field's postings), and
``Children`` keeps the children of each parent together, so the children of a set of
parents cost a list lookup per parent that has any: the cost follows the answer.

A child names its parent by id; the id resolves to the parent's live document number in
the same commit, exactly as looking up the ``parent`` term of each parent's id did (a
content id is its number in decimal: a ``parent`` value in another spelling names no
document, then as now).

``Children`` is two arrays (every child, grouped by parent; where each parent's group
starts), which the derived file stores beside the parent column: grouping the column
(a sort of every document by parent) cost 0.1 s of a process's first ``parent.title`` at
100,000 items, and grows with the index, where reading the stored arrays costs nothing
until a group is sliced.
"""

from __future__ import annotations

import operator as op
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, chain, compress, islice, repeat
from typing import Any

from index.core import docsets
from index.core.carry import Plan
from index.core.docsets import DocSet

#: Name of the parent column in the derived file (``index.core.derived``).
PARENT_ARRAY = "links:parent"
#: Names of ``Children``' arrays there: the children grouped by parent, and where the
#: group of each parent starts (an index file without them groups the column itself).
CHILDREN_ARRAY = "links:children"
STARTS_ARRAY = "links:children_starts"
NO_PARENT = -1
#: Up to this many parents, a snapshot without ``Children`` looks their ids up instead.
FEW_PARENTS = 64


def parent_docnums(snap: Any) -> array[int]:
    """Each document's parent as a live document number, ``NO_PARENT`` when it has none
    in this commit (no parent, a parent not indexed, or the document deleted)."""
    content = docsets.members(snap.term("entity", "content"))
    nums = snap.column("num")
    by_number = dict(zip(map(nums.__getitem__, content), content, strict=True))
    out = array("i", [NO_PARENT]) * snap.size
    live = snap.live_bytes
    for text, docs in snap.term_postings("parent"):
        canonical = text.isascii() and text.isdigit() and text == str(int(text))
        parent = by_number.get(int(text)) if canonical else None
        if parent is None:
            continue
        for d in docs:
            if live[d >> 3] >> (d & 7) & 1:
                out[d] = parent
    return out


def carry_parents(old: array[int], plan: Plan, before: Any, snap: Any) -> array[int]:
    """``parent_docnums`` of ``snap`` from ``old``, that of ``before`` (the commit a small
    write started from; ``index.core.carry``), reading only what the write touched.

    A kept document's parent id does not change (a changed document is a new one), but its
    parent's document number may: the parent was replaced, deleted or merged into the new
    segment. So the children of every content id the write touched (the fresh documents
    and those it deleted) are looked up by their ``parent`` term and pointed at that id's
    live document now, and the fresh documents' own parents are read from their segment."""
    table = plan.table + array("i", [NO_PARENT])  # table[NO_PARENT] is NO_PARENT
    out = plan.splice(array("i", map(table.__getitem__, old)), repeat(NO_PARENT), "i")
    live = snap.live
    for d in docsets.members(docsets.full(snap.size) & ~live):
        out[d] = NO_PARENT
    content = snap.term("entity", "content")
    fresh = docsets.from_ids(plan.fresh_docs, snap.size)
    died = plan.moved_set(before.term("entity", "content")) & ~live
    nums = snap.column("num")
    touched = {nums[d] for d in docsets.members((content & fresh) | died)}

    content_bytes, live_bytes = docsets.as_bytes(content, snap.size), snap.live_bytes

    def live_content(text: str) -> int:
        canonical = text.isascii() and text.isdigit() and text == str(int(text))
        d = snap.docnum_of(text) if canonical else None
        return d if d is not None and content_bytes[d >> 3] >> (d & 7) & 1 else NO_PARENT

    for num in touched:
        parent = live_content(str(num))
        for child in snap.term_ids("parent", str(num)):
            out[child] = parent
    for text, docs in snap.term_postings("parent", plan.fresh):
        parent = live_content(text)
        for d in docs:
            if live_bytes[d >> 3] >> (d & 7) & 1:
                out[d] = parent
    return out


class Children:
    """The children of every document, grouped by the parent's document number: the
    children of ``p`` are ``kids[starts[p]:starts[p + 1]]``, ascending (4 bytes per
    document in each array, read from the derived file as they are stored).

    A snapshot's first join slices those arrays. From its second, each parent's children
    are a tuple in a list indexed by parent, with the set of parents that have any: a
    lookup per parent costs a fraction of a slice, and a join through many parents
    (``parent.title`` of a common word) skips those without children in C (slicing for
    every parent tripled its time); made then, so that the first join pays nothing."""

    def __init__(self, parents: array[int], kids: array[int] | None = None,
                 starts: array[int] | None = None) -> None:
        size = len(parents)
        if kids is None or starts is None or len(starts) != size + 1:
            kids, starts = _grouped(parents)
        self.size = size
        #: The parent column itself, as the derived file stores it.
        self.column = parents
        self.kids = kids
        self.starts = starts
        self._joins = 0
        self._tuples: tuple[list[tuple[int, ...]], DocSet] | None = None

    def arrays(self) -> dict[str, array[int]]:
        """What the derived file stores of this (``children`` reads it back)."""
        return {PARENT_ARRAY: self.column, CHILDREN_ARRAY: self.kids,
                STARTS_ARRAY: self.starts}

    def groups(self, parents: Iterable[int]) -> Iterator[Sequence[int]]:
        """The children of each of ``parents`` (document numbers), one sequence each. A
        document has one parent, so the groups of distinct parents never overlap."""
        made = self._made()
        if made is not None:
            return map(made[0].__getitem__, parents)
        kids, starts = self.kids, self.starts
        return (kids[starts[p]:starts[p + 1]] for p in parents)

    def of(self, parents: DocSet) -> DocSet:
        """The documents whose parent is in ``parents``."""
        made = self._made()
        if made is not None:
            having = docsets.members(parents & made[1])
            found: Iterable[Sequence[int]] = map(made[0].__getitem__, having)
        else:
            kids, starts = self.kids, self.starts
            found = (kids[starts[p]:starts[p + 1]] for p in docsets.members(parents)
                     if starts[p] != starts[p + 1])
        return docsets.from_ids(chain.from_iterable(found), self.size)

    def _made(self) -> tuple[list[tuple[int, ...]], DocSet] | None:
        """The groups as tuples and the parents that have any, from the second join on."""
        self._joins += 1
        if self._tuples is None and self._joins > 1:
            kids, starts = self.kids, self.starts
            having = list(compress(range(self.size), map(op.ne, islice(starts, 1, None),
                                                          starts)))
            groups: list[tuple[int, ...]] = [()] * self.size
            for p in having:
                groups[p] = tuple(kids[starts[p]:starts[p + 1]])
            self._tuples = groups, docsets.from_ids(having, self.size)
        return self._tuples


def _grouped(parents: array[int]) -> tuple[array[int], array[int]]:
    """``Children``' arrays from the parent column: the documents that have a parent,
    stably sorted by it, and each parent's first position among them (one more entry
    than documents: the last is the number of children)."""
    size = len(parents)
    having = compress(range(size), map(NO_PARENT.__lt__, parents))
    kids = array("i", sorted(having, key=parents.__getitem__))
    counts = [0] * (size + 1)
    for parent, count in Counter(map(parents.__getitem__, kids)).items():
        counts[parent + 1] = count
    return kids, array("i", accumulate(counts))


def children_of(snap: Any, parents: DocSet) -> DocSet:
    """The live documents whose parent is in ``parents``.

    When ``Children`` must be made from the parent column (no derived file holds it), up
    to ``FEW_PARENTS`` parents are looked up as ``parent`` terms, one each: making it
    costs 0.1 s at 100,000 documents and 1 s at a million, which a first ``parent.title``
    that names a handful of parents should not pay."""
    if not grouped(snap) and docsets.count(parents) <= FEW_PARENTS:
        return snap.terms("parent", snap.ids_of(parents))  # type: ignore[no-any-return]
    return children(snap).of(parents) & snap.live


def grouped(snap: Any) -> bool:
    """Is the snapshot's ``Children`` at hand without grouping the parent column (made
    already, or stored in its derived file)?"""
    known = snap.derived
    return PARENT_ARRAY in snap.cache or (known is not None and known.has(STARTS_ARRAY))


def children(snap: Any) -> Children:
    """The snapshot's ``Children`` (made once per snapshot: from the derived file's arrays
    when it is this commit's, else from the parent column, itself stored or read)."""
    found = snap.cache.get(PARENT_ARRAY)
    if found is None:
        known = snap.derived
        stored = known.array(PARENT_ARRAY) if known is not None else None
        if stored is None or len(stored) != snap.size:
            found = Children(parent_docnums(snap))
        else:
            found = Children(stored, known.array(CHILDREN_ARRAY), known.array(STARTS_ARRAY))
        snap.cache[PARENT_ARRAY] = found
    return found  # type: ignore[no-any-return]


__all__ = ["CHILDREN_ARRAY", "FEW_PARENTS", "NO_PARENT", "PARENT_ARRAY", "STARTS_ARRAY",
           "Children", "carry_parents", "children",
           "children_of", "grouped", "parent_docnums"]
