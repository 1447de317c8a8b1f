"""Fast index builds: a Whoosh segment writer for fresh builds, on both cores.

Part of the Whoosh adapter (with ``backend.py`` and ``postingblocks.py``). Whoosh's own
writer runs every token through a chain of token objects, puts every posting in a pool,
sorts the pool, then looks each posting's field length up again while writing; at 200
postings a document that is 5 ms a document (about 180 documents/s). For a fresh build we
know more than the pool does: documents arrive in docnum order, so each term's postings
are already sorted, and we computed every field length ourselves. ``BulkSegmentWriter``
keeps postings in packed per-term arrays, analyses text with ``index.core.analysis``
directly (the same analyzer, token for token, as the schema's), makes the terms of the
exact-value fields without Whoosh's analyzers (the same terms: ``_shortcut``), and writes
the postings and terms table with ``postingblocks``, so the files are byte for byte what
Whoosh would have written (``tests/test_bulkwrite.py``). ``build_segments`` runs one
writer per core in forked processes, each writing its own segment, and commits them
together.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
import traceback
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from operator import sub
from pickle import dumps
from typing import Any

from whoosh import index as whoosh_index
from whoosh.analysis import IDTokenizer, RegexTokenizer, StripFilter
from whoosh.formats import Existence, Frequency
from whoosh.system import pack_uint
from whoosh.writing import SegmentWriter

from index.core.analysis import analyze, common_field, common_of, common_terms, positions_of
from index.core.postingblocks import PAD, POSITIONS, Postings, value_kind, write_field
from index.site.forking import collect, die_with_parent

#: Fields analysed here rather than by Whoosh (their analyzer is ``index.core.analysis``).
FAST_TEXT_FIELDS = frozenset({"title", "body", "labels_text", "file_name"})


class BulkSegmentWriter(SegmentWriter):
    """A ``SegmentWriter`` for documents added in docnum order to a new segment."""

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        #: Each indexed field's terms (str for the text fields, bytes for the others).
        self._postings: dict[str, dict[Any, Postings]] = {}
        self._lengths: dict[str, array[int]] = {}
        #: Each text field's companion and the common words it holds (none in an index
        #: without companions); filled here from the text's one analysis.
        self._companions = {
            name: (common_field(name), common_of(self.schema[common_field(name)]))
            for name in FAST_TEXT_FIELDS if common_field(name) in self.schema}
        #: What each field needs, looked up once a field instead of per document.
        self._plans = {name: _Plan(name, field, self._companions.get(name))
                       for name, field in self.schema.items()}

    def add_document(self, **fields: Any) -> None:
        perdoc = self.perdocwriter
        plans = self._plans
        docnum = self.docnum
        perdoc.start_doc(docnum)
        for name in sorted(fields):
            value = fields[name]
            if value is None:
                continue
            plan = plans.get(name)
            if plan is None:
                self.schema[name]  # raises Whoosh's error for an unknown field
                continue
            field = plan.field
            length = 0
            if plan.indexed:
                terms = self._postings.get(name)
                if terms is None:
                    terms = self._postings[name] = {}
                if plan.text:
                    stems = analyze(value)
                    length = len(stems)
                    _add_positions(terms, docnum, stems)
                    if plan.companion is not None:
                        self._add_companion(docnum, stems, *plan.companion)
                else:
                    length = _add_terms(terms, docnum, plan.shortcut, field, value)
                if plan.scorable:
                    lengths = self._lengths.setdefault(name, array("I"))
                    lengths.extend([0] * (docnum - self.docbase + 1 - len(lengths)))
                    lengths[docnum - self.docbase] = length
                else:
                    length = 0
            if plan.stored or length:  # otherwise ``add_field`` does nothing
                perdoc.add_field(name, field, value if plan.stored else None, length)
            if plan.column_type is not None:
                perdoc.add_column_value(name, plan.column_type, field.to_column_value(value))
        perdoc.finish_doc()
        self._added = True
        self.docnum += 1

    def _add_companion(self, docnum: int, stems: list[str], name: str,
                       common: frozenset[str]) -> None:
        """The postings of a text's companion field (what Whoosh's writer makes of the
        same text with the companion's analyzer, ``CommonFilter``): unscored, unstored."""
        found = common_terms(stems, common)
        if not found:
            return
        terms = self._postings.setdefault(name, {})
        for term, freq in found.items():
            bucket = terms.get(term)
            if bucket is None:
                bucket = terms[term] = Postings()
            bucket += (docnum, freq, None)

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        writer = self.fieldwriter
        docs = self.docnum
        for lengths in self._lengths.values():  # by docnum, for every document
            lengths[:0] = array("I", bytes(4 * self.docbase))
            lengths.extend(array("I", bytes(4 * (docs - len(lengths)))))
        for name in sorted(self._postings):
            terms = {(t.encode("utf-8") if isinstance(t, str) else t): postings
                     for t, postings in self._postings[name].items()}
            if not terms:  # Whoosh names a field in the terms table by its first term
                continue
            write_field(writer, name, self.schema[name], terms, self._lengths.get(name))
        writer.close()
        self._postings.clear()


#: A field's terms made without its Whoosh analyzer: an ``ID`` field's one term, the whole
#: value; a comma-separated ``KEYWORD`` field's terms, each stripped, with frequencies.
ONE_TERM, COMMAS = "one term", "commas"


class _Plan:
    """How ``BulkSegmentWriter.add_document`` indexes and stores one field."""

    __slots__ = ("field", "indexed", "scorable", "stored", "column_type", "text",
                 "shortcut", "companion")

    def __init__(self, name: str, field: Any,
                 companion: tuple[str, frozenset[str]] | None) -> None:
        self.field = field
        self.indexed = bool(field.indexed)
        self.scorable = bool(field.scorable)
        self.stored = bool(field.stored)
        self.column_type = field.column_type
        self.text = name in FAST_TEXT_FIELDS
        self.shortcut = _shortcut(field) if field.format else None
        self.companion = companion


def _shortcut(field: Any) -> str | None:
    """Which shortcut gives exactly ``field.index``'s terms (None: ask Whoosh)."""
    analyzer = getattr(field, "analyzer", None)
    boost = getattr(field.format, "field_boost", None) if field.format else None
    if boost != 1.0:
        return None
    if isinstance(analyzer, IDTokenizer) and isinstance(field.format, Existence):
        return ONE_TERM
    items = getattr(analyzer, "items", ())
    if (len(items) == 2 and isinstance(items[0], RegexTokenizer)
            and items[0].expression.pattern == "[^,]+" and not items[0].gaps
            and type(items[1]) is StripFilter and type(field.format) is Frequency):
        return COMMAS
    return None


_COMMA_TOKENS = re.compile("[^,]+")


def _add_terms(terms: dict[Any, Postings], docnum: int, shortcut: str | None, field: Any,
               value: Any) -> int:
    """Add a non-text field's postings for one document; its length (sum of freqs)."""
    if shortcut is ONE_TERM and type(value) is str:
        found: Iterable[tuple[bytes, int]] = ((value.encode("utf-8"), 1),)
    elif shortcut is COMMAS and type(value) is str:
        found = [(t.encode("utf-8"), n) for t, n in
                 Counter(t.strip() for t in _COMMA_TOKENS.findall(value)).items()]
    else:
        kind = value_kind(field)
        length = 0
        for tbytes, freq, _weight, vbytes in field.index(value):
            length += freq
            bucket = terms.get(tbytes)
            if bucket is None:
                bucket = terms[tbytes] = Postings()
            bucket += (docnum, freq, vbytes + PAD if kind is POSITIONS else None)
        return length
    length = 0
    for tbytes, freq in found:
        length += freq
        bucket = terms.get(tbytes)
        if bucket is None:
            bucket = terms[tbytes] = Postings()
        bucket += (docnum, freq, None)
    return length


#: The stored value of a posting at one position, by position (``Positions.encode``, then
#: ``PAD``).
_SINGLE: dict[int, bytes] = {}


def encode_positions(positions: list[int]) -> bytes:
    """``Positions.encode``: the count, then the pickled list of gaps between positions."""
    return pack_uint(len(positions)) + dumps(
        [positions[0], *map(sub, positions[1:], positions)], 2)


def _add_positions(terms: dict[Any, Postings], docnum: int, stems: list[str]) -> None:
    """Add a text field's postings for one document (its stems, in order)."""
    single = _SINGLE
    for stem, positions in positions_of(stems).items():
        bucket = terms.get(stem)
        if bucket is None:
            bucket = terms[stem] = Postings()
        if len(positions) == 1:
            at = positions[0]
            value = single.get(at)
            if value is None:
                value = encode_positions(positions) + PAD
                if at < 1 << 16:
                    single[at] = value
            bucket += (docnum, 1, value)
        else:
            bucket += (docnum, len(positions), encode_positions(positions) + PAD)


Progress = Callable[[int], None]


#: A worker starts a new segment after this many documents, which bounds the memory its
#: packed postings take (about 3 KB a document) at the cost of a few more segments.
SEGMENT_DOCS = 25_000


def _write_part(path: str, docs: Callable[[], Iterable[dict[str, Any]]], conn: Any,
                counter: Any) -> None:
    """Child process: write the part's segments and send them (or the error) back."""
    die_with_parent()
    try:
        ix = whoosh_index.open_dir(path)
        segments = []
        writer = BulkSegmentWriter(ix, _lk=False)
        for n, doc in enumerate(docs(), 1):
            writer.add_document(**doc)
            if n % 256 == 0:
                with counter.get_lock():
                    counter.value += 256
            if n % SEGMENT_DOCS == 0:
                segments.append(writer._finalize_segment())
                writer = BulkSegmentWriter(ix, _lk=False)
        if writer._added:
            segments.append(writer._finalize_segment())
        conn.send(("ok", segments))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def build_segments(path: str, parts: Sequence[Callable[[], Iterable[dict[str, Any]]]],
                   progress: Progress | None = None) -> None:
    """Write each part's documents as one segment, in parallel, and commit them all.

    The index at ``path`` must be new and empty. Each part is a function producing its
    documents (called in the child, so documents are made where they are written).
    """
    ix = whoosh_index.open_dir(path)
    parent = SegmentWriter(ix)  # holds the lock and commits the table of contents
    try:
        if len(parts) == 1 or not hasattr(os, "fork"):
            segments = []
            for part in parts:
                writer = BulkSegmentWriter(ix, _lk=False)
                for n, doc in enumerate(part(), 1):
                    writer.add_document(**doc)
                    if progress is not None and n % 256 == 0:
                        progress(256)
                if writer._added:
                    segments.append(writer._finalize_segment())
        else:
            segments = _in_children(path, parts, progress)
        parent._close_segment()
        parent._commit_toc(segments)
    except BaseException:
        parent.cancel()
        raise
    parent._finish()


def _in_children(path: str, parts: Sequence[Callable[[], Iterable[dict[str, Any]]]],
                 progress: Progress | None) -> list[Any]:
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("q", 0)
    # Keep the collector of each child away from the parent's objects: a full collection
    # touches every object's header and so copies every shared page into the child.
    gc.freeze()
    try:
        children = []
        for part in parts:
            mine, theirs = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_write_part, args=(path, part, theirs, counter))
            proc.start()
            theirs.close()
            children.append((proc, mine))
    finally:
        gc.unfreeze()  # the children have their own copy of the frozen state
    reported = 0

    def report_progress(conn: Any) -> None:
        """Until the child answers: pass on what every child has indexed so far."""
        nonlocal reported
        while not conn.poll(0.25):
            if progress is not None and counter.value > reported:
                progress(counter.value - reported)
                reported = counter.value

    parts_segments = collect(children, "an indexing process", "building the index",
                             report_progress)
    return [segment for segments in parts_segments for segment in segments]
