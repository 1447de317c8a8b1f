"""Fast index builds: a Whoosh segment writer for fresh builds, on both cores.

Part of the Whoosh adapter (with ``backend.py``). Whoosh's own writer runs every token
through a chain of token objects, puts every posting in a pool, sorts the pool, then
looks each posting's field length up again while writing; at 200 postings a document
that is 5 ms a document (about 180 documents/s). For a fresh build we know more than the
pool does: documents arrive in docnum order, so each term's postings are already sorted,
and we computed every field length ourselves. ``BulkSegmentWriter`` keeps postings in
per-term lists, analyses text with ``index.core.analysis`` directly (the same analyzer, token
for token, as the schema's), and writes the segment through Whoosh's own codec, so the
files are exactly what Whoosh would have written. ``build_segments`` runs one writer per
core in forked processes, each writing its own segment, and commits them together.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import traceback
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from whoosh import index as whoosh_index
from whoosh.system import pack_uint
from whoosh.writing import SegmentWriter

from index.core.analysis import analyze, common_field, common_of, common_terms, positions_of
from index.site.forking import collect, die_with_parent

#: Fields analysed here rather than by Whoosh (their analyzer is ``index.core.analysis``).
FAST_TEXT_FIELDS = frozenset({"title", "body", "labels_text", "file_name"})


class _Postings:
    """One term's postings, packed: about 20 bytes a posting instead of 150 as tuples."""

    __slots__ = ("docs", "weights", "blob", "ends")

    def __init__(self) -> None:
        self.docs = array("I")
        self.weights = array("d")
        self.blob = bytearray()
        self.ends = array("I")

    def add(self, docnum: int, weight: float, vbytes: bytes) -> None:
        self.docs.append(docnum)
        self.weights.append(weight)
        self.blob += vbytes
        self.ends.append(len(self.blob))

    def values(self) -> list[bytes]:
        blob = bytes(self.blob)
        return [blob[start:end] for start, end in zip([0, *self.ends], self.ends,
                                                      strict=False)]


class BulkSegmentWriter(SegmentWriter):
    """A ``SegmentWriter`` for documents added in docnum order to a new segment."""

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self._postings: dict[str, dict[bytes, _Postings]] = {}
        self._lengths: dict[str, array[int]] = {}
        #: Each text field's companion and the common words it holds (none in an index
        #: without companions); filled here from the text's one analysis.
        self._companions = {
            name: (common_field(name), common_of(self.schema[common_field(name)]))
            for name in FAST_TEXT_FIELDS if common_field(name) in self.schema}

    def add_document(self, **fields: Any) -> None:
        perdoc = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        perdoc.start_doc(docnum)
        for name in sorted(fields):
            value = fields[name]
            if value is None:
                continue
            field = schema[name]
            length = 0
            if field.indexed:
                terms = self._postings.setdefault(name, {})
                if name in FAST_TEXT_FIELDS:
                    encode = field.format.encode
                    stems = analyze(value)
                    items: Iterable[tuple[bytes, int, float, bytes]] = (
                        (stem.encode("utf-8"), len(pos), float(len(pos)), encode(pos))
                        for stem, pos in positions_of(stems).items())
                    if name in self._companions:
                        self._add_companion(docnum, stems, *self._companions[name])
                else:
                    items = field.index(value)
                for tbytes, freq, weight, vbytes in items:
                    length += freq
                    bucket = terms.get(tbytes)
                    if bucket is None:
                        bucket = terms[tbytes] = _Postings()
                    bucket.add(docnum, weight, vbytes)
                if field.scorable:
                    lengths = self._lengths.setdefault(name, array("I"))
                    lengths.extend([0] * (docnum - self.docbase + 1 - len(lengths)))
                    lengths[docnum - self.docbase] = length
                else:
                    length = 0
            perdoc.add_field(name, field, value if field.stored else None, length)
            if field.column_type is not None:
                perdoc.add_column_value(name, field.column_type, field.to_column_value(value))
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
            tbytes = term.encode("utf-8")
            bucket = terms.get(tbytes)
            if bucket is None:
                bucket = terms[tbytes] = _Postings()
            bucket.add(docnum, float(freq), pack_uint(freq))  # as ``Frequency``

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        writer = self.fieldwriter
        base = self.docbase
        for name in sorted(self._postings):
            terms = self._postings[name]
            lengths = self._lengths.get(name, array("I"))
            known = len(lengths)
            writer.start_field(name, self.schema[name])
            postwriter = writer._postwriter
            for tbytes in sorted(terms):
                postings = terms[tbytes]
                writer.start_term(tbytes)
                field_lengths = [lengths[at] if at < known else 0
                                 for at in (d - base for d in postings.docs)]
                _add_postings(postwriter, postings.docs, postings.weights, postings.values(),
                              field_lengths)
                writer.finish_term()
            writer.finish_field()
        writer.close()
        self._postings.clear()


def _add_postings(postwriter: Any, docs: array[int], weights: array[float],
                  values: list[bytes], lengths: list[int]) -> None:
    """What calling Whoosh's ``add_posting`` once per posting does, a block at a time.

    ``add_posting`` checks types and updates the block's statistics in Python for every
    posting; here each block's buffers and statistics are set in one step each, to exactly
    the values it would have reached, and full blocks are written as it writes them: when
    the next posting arrives. (It saves about 5% of a segment's flush, measured in CPU
    time; the rest is Whoosh pickling and compressing the blocks.)
    """
    assert not postwriter._byteids  # docnums, not the terms of a term vector
    limit = postwriter._blocklimit
    for start in range(0, len(docs), limit):
        if start:
            postwriter._write_block()
        end = start + limit
        block_weights = weights[start:end]
        postwriter._ids = docs[start:end]
        postwriter._weights = array("f", block_weights)
        postwriter._values = [v for v in values[start:end] if v]
        heaviest = max(block_weights)
        postwriter._maxweight = heaviest if heaviest > 0 else 0
        known = [n for n in lengths[start:end] if n]
        postwriter._minlength = min(known) if known else None
        postwriter._maxlength = max(known) if known else 0


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
