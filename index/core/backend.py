"""The Whoosh adapter: the only module that imports Whoosh's index, query and search APIs.

whoosh-reloaded is unmaintained (docs/whoosh.md), so everything the engine
needs from it passes through the small surface here: a schema, a writer, and a
``Snapshot`` of one searcher that answers in document sets (see ``docsets``), columns
for sorting, term frequencies and field lengths for relevance (scored in ``relevance``)
and stored fields for results. Another engine can be added by writing another module
with the same ``Snapshot`` methods.
"""

from __future__ import annotations

import io
import json
import operator as op
import os
import pickle
import struct
import sys
import threading
import time
import weakref
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from functools import cached_property
from itertools import accumulate, chain, compress, islice, repeat
from os.path import exists
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.columns import NumericColumn, VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, STORED, TEXT, FieldType, Schema
from whoosh.formats import Frequency
from whoosh.index import LockError
from whoosh.reading import TermNotFound

from index.core import derived, docsets, manifest
from index.core.analysis import (
    analyze,
    choose_common,
    common_analyzer,
    common_field,
    common_of,
    pair,
    whoosh_analyzer,
)
from index.core.derived import Carried
from index.core.docsets import DocSet
from index.core.trust import restrict
from index.errors import EngineError


def _patch_length_reader_cache() -> None:
    """Make Whoosh remember that a field has no length column.

    ``W3PerDocReader._cached_reader`` caches only readers it found; for fields without
    lengths (our unscored keyword fields) it asks the file system again for every posting
    written, which was a third of build time. Segments are immutable, so a miss can be
    cached exactly like a hit.
    """
    from whoosh.codec import whoosh3

    def cached_reader(self, fieldname, column):  # type: ignore[no-untyped-def]
        try:
            return self._readers[fieldname]
        except KeyError:
            reader = (self.column_reader(fieldname, column)
                      if self.has_column(fieldname) else None)
            self._readers[fieldname] = reader
            return reader

    whoosh3.W3PerDocReader._cached_reader = cached_reader


_patch_length_reader_cache()


def _patch_stored_offsets() -> None:
    """Derive a stored-fields column's offsets when they are read (``StoredOffsets``).

    When a segment did not store them (Whoosh stores them above 32,768 documents), Whoosh's
    ``VarBytesColumn`` reader adds up the lengths of every document in a Python loop, on
    the first stored read of each segment: 100,000 steps at 100,000 items, most of the
    first search's rendering of 25 results (and still 8 ms by ``itertools.accumulate``).
    Everything else is Whoosh's method.
    """
    def read_offsets_and_lengths(self):  # type: ignore[no-untyped-def]
        dbfile, doccount = self._dbfile, self._doccount
        # The lengths end the column, before their typecode byte; a column that stored
        # its offsets ends with "X", the offsets' typecode and the lengths' typecode.
        lastbyte = self._basepos + self._length - 1
        lens_code = chr(dbfile.get_byte(lastbyte))
        offsets = None
        if lens_code == "X":
            self.had_stored_offsets = True
            lens_code = chr(dbfile.get_byte(lastbyte - 2))
            offsets_code = chr(dbfile.get_byte(lastbyte - 1))
            offsetstart = (lastbyte - 2) - doccount * struct.calcsize(offsets_code)
            offsets = dbfile.get_array(offsetstart, offsets_code, doccount)
            lastbyte = offsetstart
        lenstart = lastbyte - struct.calcsize(lens_code) * doccount
        lengths = dbfile.get_array(lenstart, lens_code, doccount)
        self._offsets = StoredOffsets(lengths) if offsets is None else offsets
        self._lengths = lengths

    VarBytesColumn.Reader._read_offsets_and_lengths = read_offsets_and_lengths


class StoredOffsets:
    """Each document's offset in a stored column: the sum of the lengths before it. The
    sums of whole blocks of ``OFFSET_BLOCK`` lengths are made (in C) up to the furthest
    block asked for, so a read costs a block's sum, not a pass over every document."""

    __slots__ = ("_lengths", "_starts")

    def __init__(self, lengths: Sequence[int]) -> None:
        self._lengths = lengths
        self._starts = [0]  # the offset of each block's first document, as far as made

    def __len__(self) -> int:
        return len(self._lengths)

    def __getitem__(self, docnum: int) -> int:
        if not 0 <= docnum < len(self._lengths):
            raise IndexError(docnum)
        block, lengths, starts = docnum // OFFSET_BLOCK, self._lengths, self._starts
        while len(starts) <= block:
            at = (len(starts) - 1) * OFFSET_BLOCK
            starts.append(starts[-1] + sum(lengths[at:at + OFFSET_BLOCK]))
        return starts[block] + sum(lengths[block * OFFSET_BLOCK:docnum])


#: Documents per block of ``StoredOffsets``.
OFFSET_BLOCK = 256

_patch_stored_offsets()


def _patch_durable_commits() -> None:
    """Make a Whoosh commit durable before it is visible, and visible only when durable.

    Whoosh writes segment files, then a new table of contents (by rename), and never
    calls ``fsync``: after a crash or power loss the table of contents could name
    segment data that never reached the disk. Here every data file is flushed before the
    table of contents is written, and the table of contents and the directory after.
    Flushing a file with no dirty pages costs nothing, so older segments are cheap.
    """
    from whoosh.writing import SegmentWriter

    original = SegmentWriter._commit_toc

    def commit_toc(self, segments):  # type: ignore[no-untyped-def]
        folder = Path(self.storage.folder)
        fsync_files(folder)
        original(self, segments)
        fsync_files(folder)

    SegmentWriter._commit_toc = commit_toc


def fsync_files(folder: Path) -> None:
    """Flush every regular file directly in ``folder``, then the directory entry list."""
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            try:
                fd = os.open(entry.path, os.O_RDONLY)
            except FileNotFoundError:  # removed meanwhile (Whoosh cleaning up)
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_patch_durable_commits()


#: At most this many bytes are handed to ``pickle.load`` ahead of what it has read.
_PEEK = 512


class _ViewFile:
    """A read-only file over a memoryview that copies only what is read.

    Whoosh wraps each sub-file of a memory-mapped segment in ``BytesIO(view)``, which
    copies the whole sub-file: opening a 100,000-item index copied about 400 MB (the
    postings and stored fields of every segment), 2 s of a first query. Reads here slice
    the mapping instead, so pages are touched only when a query needs them.
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self, buf: Any) -> None:
        self._buf = buf
        self._pos = 0

    def read(self, n: int | None = -1) -> bytes:
        start, size = self._pos, len(self._buf)
        end = size if n is None or n < 0 else min(size, start + n)
        self._pos = max(start, end)
        return bytes(self._buf[start:end])

    def peek(self, n: int = 0) -> bytes:
        """The next bytes without consuming them: with this, ``pickle.load`` reads a
        small pickle (a postings block's header) in one call, not a ``read`` per opcode
        (a Python call each: most of the time of walking a field's postings)."""
        return bytes(self._buf[self._pos:self._pos + min(max(n, 1), _PEEK)])

    def readline(self, limit: int | None = -1) -> bytes:
        start, size = self._pos, len(self._buf)
        end = size if limit is None or limit < 0 else min(size, start + limit)
        pos = start
        while pos < end:  # in small chunks: never copy the rest of a large sub-file
            chunk = bytes(self._buf[pos:min(end, pos + 256)])
            cut = chunk.find(b"\n")
            if cut >= 0:
                end = pos + cut + 1
                break
            pos += len(chunk)
        self._pos = max(start, end)
        return bytes(self._buf[start:end])

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def seek(self, pos: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self._buf))[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._buf = b""


def _patch_buffer_files() -> None:
    """Open memory-mapped sub-files without copying them (``_ViewFile``)."""
    from whoosh.filedb.structfile import BufferFile

    def init(self, buf, name=None, onclose=None):  # type: ignore[no-untyped-def]
        self._buf = buf
        self._name = name
        self.file = _ViewFile(buf)
        self.onclose = onclose
        self.is_real = False
        self.is_closed = False

    BufferFile.__init__ = init


_patch_buffer_files()

#: BM25 parameters, Whoosh's defaults.
B, K1 = 0.75, 1.2

#: Full-text fields; ``text ~`` searches all of them, ``title ~`` only the first.
TEXT_FIELDS = ("title", "body", "labels_text", "file_name")
#: Multi-valued exact fields, stored comma-separated.
KEYWORD_FIELDS = ("contributor", "label", "macro", "mention", "watcher", "ancestor",
                  "read_user", "read_group")
#: Single-valued exact fields (also the sort columns among them).
ID_FIELDS = ("entity", "type", "space", "status", "creator", "page_status", "parent",
             "container", "title_key", "restricted")
DATE_FIELDS = ("created", "lastmodified")


def build_schema(common: frozenset[str] = frozenset()) -> Schema:
    """The index's fields; with ``common`` words, each text field's companion too (an
    index built before companions has none, and is read as before)."""
    analyzer = whoosh_analyzer()
    schema = Schema(
        id=ID(stored=True, unique=True),
        # Sort keys and dates live in columns only: evaluated from sorted columns, never
        # searched as terms (a NUMERIC field would index 16 terms per value).
        num=COLUMN(NumericColumn("q")),
        title=TEXT(analyzer=analyzer, phrase=True),
        body=TEXT(analyzer=analyzer, phrase=True),
        labels_text=TEXT(analyzer=analyzer, phrase=True),
        file_name=TEXT(analyzer=analyzer, phrase=True),
        title_sort=COLUMN(VarBytesColumn()),
        doc=STORED(),
    )
    for name in KEYWORD_FIELDS:
        schema.add(name, KEYWORD(commas=True, scorable=False))
    for name in ID_FIELDS:
        schema.add(name, ID(sortable=name in ("type", "space")))
    for name in DATE_FIELDS:
        schema.add(name, COLUMN(NumericColumn("q")))
    if common:
        for name in TEXT_FIELDS:
            schema.add(common_field(name), FieldType(Frequency(), common_analyzer(common)))
    return schema


#: Documents of the first part a build samples to choose its common words.
COMMON_SAMPLE = 1000


def schema_common(schema: Schema) -> frozenset[str]:
    """The common words an index's schema records (none before companions existed)."""
    name = common_field(TEXT_FIELDS[0])
    return common_of(schema[name]) if name in schema else frozenset()


def with_companions(doc: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """``doc`` with each text field's companion, when the index has companions."""
    if common_field(TEXT_FIELDS[0]) not in schema:
        return doc
    extra = {common_field(f): doc[f] for f in TEXT_FIELDS if doc.get(f)}
    return {**doc, **extra} if extra else doc


# --- writing ------------------------------------------------------------------------


class IndexStore:
    """One Whoosh index directory: writing batches and handing out snapshots."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._ix = whoosh_index.open_dir(str(path))
        except Exception as err:  # an unreadable table of contents (Whoosh unpickles it)
            toc = f"_MAIN_{manifest.latest_generation(path)}.toc"
            raise EngineError("damaged", f"the index is damaged: {path / toc} cannot be "
                              f"read ({type(err).__name__}); rebuild it with cql "
                              "index") from err
        self._snapshot: Snapshot | None = None
        self._refresh = threading.Lock()

    @classmethod
    def create(cls, path: Path) -> IndexStore:
        path.mkdir(parents=True, exist_ok=True)
        whoosh_index.create_in(str(path), build_schema())
        return cls(path)

    @staticmethod
    def exists(path: Path) -> bool:
        # By its files only: Whoosh's own check reads (and unpickles) the newest table of
        # contents, which must wait until the manifest has vouched for it.
        return path.is_dir() and manifest.latest_generation(path) >= 0

    def write(self, documents: Iterable[dict[str, Any]], delete_ids: Iterable[str] = (),
              *, bulk: bool = False) -> None:
        """Add or replace documents (by ``id``) and delete ids, in one commit.

        ``bulk`` uses both cores and a large buffer, for building a new index.
        """
        opts: dict[str, Any] = {"limitmb": 256}
        if bulk:
            opts.update(procs=2, multisegment=True)
        try:
            writer = self._ix.writer(**opts)
        except LockError:
            # The engine's writer lock serialises its own writers; this is someone else.
            raise EngineError("busy", f"another program is writing the index at "
                              f"{self.path}; try again later") from None
        try:
            for doc_id in delete_ids:
                writer.delete_by_term("id", doc_id)
            schema = writer.schema
            for doc in documents:
                if bulk:
                    writer.add_document(**with_companions(doc, schema))
                else:
                    writer.update_document(**with_companions(doc, schema))
        except BaseException:
            writer.cancel()
            raise
        writer.commit(mergetype=None if bulk else _merge_small_in_order)
        derived.discard(self.path)  # derived from the commit before: ignored from now on
        restrict(self.path)  # new segment files: never writable by others (trust.py)
        manifest.record(self.path)

    def bulk_build(self, parts: list[Callable[[], Iterable[dict[str, Any]]]],
                   progress: Callable[[int], None] | None = None) -> None:
        """Fill a new, empty index: one segment per part, written in parallel.

        The common words are chosen first, from the first ``COMMON_SAMPLE`` documents of
        the first part, and the empty index is created again with their companions."""
        from index.core.bulkwrite import build_segments

        sample = islice(parts[0](), COMMON_SAMPLE) if parts else iter(())
        common = choose_common(doc[f] for doc in sample for f in TEXT_FIELDS if doc.get(f))
        if common:
            self._ix = whoosh_index.create_in(str(self.path), build_schema(common))
        build_segments(str(self.path), parts, progress)
        manifest.record(self.path)
        self._ix = whoosh_index.open_dir(str(self.path))

    def optimize(self) -> None:
        self._ix.optimize()

    def snapshot(self) -> Snapshot:
        """A snapshot of the latest commit, reused until the index changes.

        Safe to call from many threads. A replaced snapshot is not closed here: searches
        running on it in other threads finish on it (its segment files are mapped, so
        Whoosh deleting them after a merge does not matter); it is closed when the last
        of them drops it.
        """
        snap = self._snapshot
        if snap is not None and self._latest(snap):
            return snap
        with self._refresh:
            snap = self._snapshot
            if snap is None or not self._latest(snap):
                snap = self._snapshot = self._open_latest()
        return snap

    def _latest(self, snap: Snapshot) -> bool:
        """Is ``snap`` of the newest commit? Whoosh asks by listing the directory (13 us
        a search); two stats say the same: a commit writes the next generation's table of
        contents, then removes every other one, so ours exists and the next does not
        exactly while no commit has finished since. (Mid-commit either answer is right.)"""
        toc, generation = self._toc, snap.reader.generation()
        return exists(toc % generation) and not exists(toc % (generation + 1))

    @cached_property
    def _toc(self) -> str:
        """The path of a generation's table of contents, as a %-format."""
        return os.path.join(str(self.path), f"_{self._ix.indexname}_%d.toc")

    def _open_latest(self) -> Snapshot:
        """Open the newest commit, retrying when a writer in another process removes the
        table of contents just listed (Whoosh deletes older generations on commit)."""
        for attempt in range(20):
            try:
                self._ix = whoosh_index.open_dir(str(self.path))
                return Snapshot(self._ix.searcher(), self.path)
            except FileNotFoundError:
                if attempt == 19:
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None


def _merge_small_in_order(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh's ``MERGE_SMALL``, leaving the segments it does not merge in their order.

    ``MERGE_SMALL`` returns them sorted by size when it merges, which moves a big segment
    behind a smaller one and renumbers every document of both: a small write could then
    carry nothing over from the commit before (``index.core.carry``)."""
    from whoosh.writing import MERGE_SMALL

    left = {s.segment_id() for s in MERGE_SMALL(writer, segments)}
    return [s for s in segments if s.segment_id() in left]


# --- reading ------------------------------------------------------------------------


class Snapshot:
    """A long-lived searcher with caches of document sets and columns.

    Everything cached here is valid for this searcher only; when the index changes the
    store makes a new snapshot and this one is dropped with its caches.
    """

    def __init__(self, searcher: Any, path: Path | None = None) -> None:
        self.searcher = searcher
        #: The Whoosh directory, where this commit's derived file may be (``derived``).
        self.path = path
        weakref.finalize(self, _close_quietly, searcher)
        #: Whoosh readers are not thread-safe (postings and stored fields are read through
        #: file objects with one shared position): every read of the reader holds this.
        #: Results are cached, so once a snapshot is warm searches rarely wait here.
        self._read = threading.RLock()
        self.reader = searcher.reader()
        self.size = self.reader.doc_count_all()
        self._terms: dict[tuple[str, str], DocSet] = {}
        self._term_ids: dict[tuple[str, str], array[int]] = {}
        self._columns: dict[str, Sequence[Any]] = {}
        self._lexicons: dict[str, list[str]] = {}
        #: Structures that layers above build from this snapshot (orderings, date columns).
        self.cache: dict[Any, Any] = {}

    def close(self) -> None:
        self.searcher.close()

    def _subs(self, only: Collection[int] | None = None) -> list[tuple[Any, int]]:
        """(segment reader, first document number) of each segment, or of those whose
        positions are in ``only``."""
        readers = getattr(self.reader, "readers", None)
        subs = (list(zip(readers, self.reader.doc_offsets, strict=True)) if readers
                else [(self.reader, 0)])
        return subs if only is None else [s for i, s in enumerate(subs) if i in only]

    @cached_property
    def segments(self) -> list[tuple[str, int, int]]:
        """(segment id, first document number, document count) of each segment, in
        document order: what a write keeps (same id) and what it adds or merges
        (``index.core.carry``)."""
        return [(sub.segment().segment_id(), offset, sub.doc_count_all())
                for sub, offset in self._subs()]

    @cached_property
    def derived(self) -> derived.Derived | Carried | None:
        """The structures a build derived from this commit, if it is the commit it wrote
        them for (``index.core.derived``)."""
        if self.path is None:
            return None
        with self._read:
            return derived.load(self.path, self.reader)

    def reload_derived(self) -> None:
        """Look for this commit's derived file again (written after ``derived`` found
        none): the next write carries it over."""
        self.__dict__.pop("derived", None)

    def adopt(self, carried: Carried) -> None:
        """Read ``carried`` as this commit's derived structures: what a write carried over
        from the commit before (``index.core.carry``), before it is written."""
        self.__dict__["derived"] = carried

    @cached_property
    def common(self) -> frozenset[str]:
        """The common words whose frequencies and pairs the text fields' companions hold
        (none in an index built before companions: everything is read as before)."""
        return schema_common(self.reader.schema)

    @cached_property
    def live(self) -> DocSet:
        """Every document not deleted."""
        everything = docsets.full(self.size)
        with self._read:
            if not self.reader.has_deletions():
                return everything
            readers = getattr(self.reader, "readers", None)
            subs = (list(zip(readers, self.reader.doc_offsets, strict=True)) if readers
                    else [(self.reader, 0)])
            # Each segment's set of deleted documents (not a Python call per document).
            deleted = [d + offset for sub, offset in subs if sub.has_deletions()
                       for d in sub.deleted_docs_set]
        return everything & ~docsets.from_ids(deleted, self.size)

    def term(self, field: str, value: str) -> DocSet:
        """Documents whose exact ``field`` holds ``value`` (as indexed)."""
        key = (field, value)
        cached = self._terms.get(key)
        if cached is None and self.derived is not None:
            stored = self.derived.term(field, value)
            if stored is not None:
                cached = self._terms[key] = stored & self.live
        if cached is None:
            # An absent term is "no documents"; any other failure (a closed reader, bad
            # bytes) raises. A common word is read once with its frequencies, which
            # relevance reads next (and few words are common: their arrays are few).
            ids = (self.term_frequencies(field, value)[0]
                   if field in TEXT_FIELDS and value in self.common else
                   list(chain.from_iterable(b[0] for b in self._blocks(field, value))))
            cached = docsets.from_ids(ids, self.size) & self.live if ids else docsets.EMPTY
            if len(self._terms) > 50_000:
                self._terms.clear()
            self._terms[key] = cached
        return cached

    def term_ids(self, field: str, value: str) -> array[int]:
        """Ascending live document numbers whose ``field`` holds ``value`` (cached).

        For the many small sets kept per snapshot (the documents below each restricted
        root): an array costs 4 bytes per member, where a ``DocSet`` costs up to 1 bit per
        document of the index (``term``) whatever its size."""
        key = (field, value)
        found = self._term_ids.get(key)
        if found is None:
            known = self.derived.term_ids(field, value) if self.derived is not None else None
            if known is None:
                known = array("I", chain.from_iterable(b[0] for b in self._blocks(field, value)))
            if self.has_deletions:
                live = self.live_bytes
                known = array("I", (d for d in known if live[d >> 3] >> (d & 7) & 1))
            found = self._term_ids[key] = known
        return found

    @cached_property
    def has_deletions(self) -> bool:
        """Is any document of this snapshot deleted? Asked for each of the thousands of
        sets the permission gates read at a first search: Whoosh asks every segment."""
        with self._read:
            return bool(self.reader.has_deletions())

    @cached_property
    def live_bytes(self) -> bytes:
        return docsets.as_bytes(self.live, self.size)

    def terms(self, field: str, values: Iterable[str]) -> DocSet:
        out = docsets.EMPTY
        for value in values:
            out |= self.term(field, value)
        return out

    def column(self, field: str) -> Sequence[Any]:
        """Per-document values of a sortable field, indexed by document number."""
        col = self._columns.get(field)
        if col is None and self.derived is not None:
            col = self.derived.array(f"column:{field}")
            if col is not None:
                self._columns[field] = col
        if col is None:
            with self._read:
                values = self._column_values(field)
            if values and isinstance(values[0], bytes):
                values = [v.decode("utf-8") for v in values]
            col = self._columns[field] = values
        return col

    def _column_values(self, field: str, only: Collection[int] | None = None) -> list[Any]:
        """Whoosh's multi-segment column reader skips a segment in which no document has
        the field (a commit of space entities only), which would shift every later
        document; such a segment gets the column's default value instead. ``only``: the
        values of those segments (positions in ``segments``), one after the other."""
        values: list[Any] = []
        default = self.reader.schema[field].column_type.default_value()
        numeric = isinstance(self.reader.schema[field].column_type, NumericColumn)
        for sub, _ in self._subs(only):
            if not sub.has_column(field):
                values.extend([default] * sub.doc_count_all())
                continue
            fast = (_numeric_values(sub.column_reader(field, translate=False),
                                    sub.doc_count_all()) if numeric else None)
            values.extend(sub.column_reader(field) if fast is None else fast)
        return values

    def column_part(self, field: str, only: Collection[int]) -> list[Any]:
        """``column`` of the segments at positions ``only`` (``segments``), read from
        Whoosh: what a write added, without reading the segments it kept."""
        with self._read:
            values = self._column_values(field, only)
        return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]

    def value(self, field: str, docnum: int) -> Any:
        """One document's value of a sortable field, read from its segment's column (each
        segment's column reader opened once: opening one reads its offsets)."""
        for position, (sub, offset) in reversed(list(enumerate(self._subs()))):
            if docnum >= offset:
                key = ("column_reader", field, position)
                with self._read:
                    reader = self.cache.get(key)
                    if reader is None:
                        reader = self.cache[key] = (sub.column_reader(field)
                                                    if sub.has_column(field) else ())
                    found = (reader[docnum - offset] if reader != () else
                             self.reader.schema[field].column_type.default_value())
                return found.decode("utf-8") if isinstance(found, bytes) else found
        raise IndexError(docnum)

    @cached_property
    def ids(self) -> Sequence[str | None]:
        """Entity id of every document number (None for deleted ones), found when asked.

        Content ids come from the numeric ``num`` column (reading 100,000 stored
        documents instead took seconds); only the few space entities are read. Nothing
        is made for documents nobody asks about (a list of every id took 0.1 s of the
        first query at 100,000 items)."""
        spaces = docsets.as_bytes(self.term("entity", "space"), self.size)
        return _Ids(self.column("num"), docsets.as_bytes(self.live, self.size), spaces,
                    lambda d: self.stored(d).get("id"))

    def docnum_of(self, doc_id: str) -> int | None:
        """The document number of an entity id (None when absent): from ``docnum_by_id``
        when it is built, else by one lookup of the ``id`` field, which is what a
        result's container needs (building the map of every id cost 0.1 s)."""
        if "docnum_by_id" in self.__dict__:
            return self.docnum_by_id.get(doc_id)
        with self._read:
            try:
                found = [d for d in self.reader.postings("id", doc_id).all_ids()
                         if not self.reader.is_deleted(d)]
            except TermNotFound:
                return None
        return found[0] if found else None

    def ids_of(self, docs: DocSet) -> list[str]:
        """Entity ids of the documents in ``docs``, in document order."""
        ids = self.ids
        return [i for d in docsets.members(docs) if (i := ids[d]) is not None]

    @cached_property
    def docnum_by_id(self) -> dict[str, int]:
        return {doc_id: d for d, doc_id in enumerate(self.ids) if doc_id is not None}

    def stored(self, docnum: int) -> dict[str, Any]:
        with self._read:
            return self.reader.stored_fields(docnum)  # type: ignore[no-any-return]

    def all_stored(self) -> Iterator[tuple[int, dict[str, Any]]]:
        with self._read:
            yield from self.reader.iter_docs()

    # --- text -----------------------------------------------------------------------

    def lexicon(self, field: str) -> list[str]:
        """The indexed values of ``field``, sorted; none when no document has it (Whoosh
        raises for a segment without the field, e.g. ``restricted`` in a site with no
        restrictions, so the segments are read one by one)."""
        words = self._lexicons.get(field)
        if words is None:
            found: set[str] = set()
            with self._read:
                for sub in getattr(self.reader, "readers", None) or [self.reader]:
                    try:
                        found.update(w.decode("utf-8") if isinstance(w, bytes) else w
                                     for w in sub.lexicon(field))
                    except TermNotFound:
                        continue
            words = self._lexicons[field] = sorted(found)
        return words

    def phrase_docs(self, fields: tuple[str, ...], tokens: list[str]) -> DocSet:
        """Documents where the stemmed ``tokens`` occur consecutively in one field.

        A field is read only when every token is in it; then by ``_phrase_by_positions``.
        """
        if not tokens:
            return docsets.EMPTY
        if len(tokens) == 1:
            return self.terms_in(fields, tokens)
        key = ("phrase", fields, tuple(tokens))
        cached = self.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        out = docsets.EMPTY
        common = self.common
        pairs = [pair(a, b) for a, b in zip(tokens, tokens[1:], strict=False)
                 if a in common and b in common]
        for field in fields:
            if not all(self._holds(field, token) for token in set(tokens)):
                continue
            if not pairs:
                out |= self._phrase_by_positions(field, tokens) & self.live
                continue
            # The phrase's documents hold each of its pairs of common words: a term of
            # the field's companion. For two words that is the answer; a longer phrase
            # is checked by positions too ("a b b c" holds "a b" and "b c" but not
            # "a b c"), on no document when the pairs alone rule them all out.
            found = self.live
            for term in pairs:
                found &= self.term(common_field(field), term)
                if not found:
                    break
            if found and len(tokens) > 2:
                found &= self._phrase_by_positions(field, tokens)
            out |= found
        self.cache[key] = out
        return out

    def _holds(self, field: str, token: str) -> bool:
        """Does a document hold ``token`` in ``field`` (a deleted one may)?"""
        cached = self._terms.get((field, token))
        if cached is not None:
            return cached != docsets.EMPTY
        with self._read:
            return bool(self.reader.doc_frequency(field, token))

    def _phrase_by_positions(self, field: str, tokens: list[str]) -> DocSet:
        """Documents where ``tokens`` occur consecutively in ``field``.

        Each token's positions are decoded a block of postings at a time and made keys
        (document << shift) + position - (place in the phrase): a phrase start has the same
        key in every token's list. The rarest token's keys mark a byte buffer, the next
        token's keys are looked up in it, and so on. Python runs per block, C per position:
        a step per candidate document in Python was 2 s for two common words at 100,000
        items; per position in C it is still about 0.4 microseconds (decoding Whoosh's
        pickled positions is a third of it). Deleted documents may be in the result: the
        caller intersects with live ones."""
        decoded = {t: _Positions(self._blocks(field, t, values=True)) for t in set(tokens)}
        for t, got in decoded.items():  # read once: what relevance reads next
            if (field, t) not in self._terms:
                self._terms[(field, t)] = docsets.from_ids(got.docs, self.size) & self.live
            if not self.reader.has_deletions():
                self.cache.setdefault(("tf", field, t), (got.docs, got.tfs))
        n = len(tokens)
        shift = (max(p.last for p in decoded.values()) + n).bit_length()
        # Offset by n so that no key is negative.
        keys = [array("q", decoded[t].placed(shift, i - n)) for i, t in enumerate(tokens)]
        keys.sort(key=len)
        total = (self.size << shift) + n + 1
        found: list[int] = []
        for lo in range(0, total, _WINDOW):  # one bounded buffer at a time
            hi = min(total, lo + _WINDOW)
            matched: Sequence[int] = _between(keys[0], lo, hi)
            for later in keys[1:]:
                if not matched:
                    break
                seen = bytearray(hi - lo)  # a byte per key: indexing, never hashing
                any(map(seen.__setitem__, _minus(matched, lo), repeat(1)))
                part = _between(later, lo, hi)
                matched = list(compress(part, map(seen.__getitem__, _minus(part, lo))))
            found.extend(matched)
        starts = set(map(op.rshift, map(op.add, found, repeat(-n)), repeat(shift)))
        return docsets.from_ids(starts, self.size)

    def _blocks(self, field: str, token: str, *, values: bool = False
                ) -> Iterator[tuple[Iterable[int], Any, Any]]:
        """Each block of postings of ``token`` in ``field``: (document numbers, weights,
        values or None), decoded a block at a time without a Python step per posting.

        Deleted documents are not filtered out (callers intersect with ``live``). Postings
        Whoosh keeps inline in the term dictionary (a few documents) come one by one. A
        common word's documents and frequencies come from its field's companion, which
        holds the same without positions (a sixth of the bytes to decode)."""
        from whoosh.codec.whoosh3 import W3LeafMatcher
        from whoosh.matching.wrappers import FilterMatcher

        if not values and field in TEXT_FIELDS and token in self.common:
            field = common_field(field)
        readers = getattr(self.reader, "readers", None)
        subs = (list(zip(readers, self.reader.doc_offsets, strict=True)) if readers
                else [(self.reader, 0)])
        with self._read:
            for sub, offset in subs:
                if not values:
                    found = _stored_blocks(sub, field, token, offset)
                    if found is not None:
                        yield from found
                        continue
                try:
                    matcher = sub.postings(field, token)
                except TermNotFound:
                    continue
                if isinstance(matcher, FilterMatcher):
                    matcher = matcher.child
                if not isinstance(matcher, W3LeafMatcher):
                    ids, weights, vals = [], [], []
                    while matcher.is_active():
                        ids.append(matcher.id() + offset)
                        weights.append(matcher.weight())
                        if values:
                            vals.append(matcher.value())
                        matcher.next()
                    yield ids, weights, (vals if values else None)
                    continue
                yield from _leaf_blocks(matcher, offset, values)

    def term_postings(self, field: str, only: Collection[int] | None = None
                      ) -> Iterator[tuple[str, Iterable[int]]]:
        """Every (value, document numbers) of ``field``, segment by segment: one walk of
        each segment's terms, where a lookup per value would probe every segment (what
        ``index.core.links`` reads a whole link field with). A value found in several
        segments comes once per segment; deleted documents are not filtered out.
        ``only``: the segments at those positions of ``segments``."""
        with self._read:
            for sub, offset in self._subs(only):
                terms = getattr(sub, "_terms", None)
                postfile, codec = getattr(terms, "_postfile", None), getattr(terms, "_codec",
                                                                             None)
                try:
                    found = list(sub.iter_field(field))
                except TermNotFound:
                    continue
                form = self.reader.schema[field].format
                buf = getattr(postfile, "_buf", None)
                for raw, info in found:
                    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
                    if info.is_inlined():
                        ids: Iterable[int] = [d + offset for d in info.inlined_postings()[0]]
                    elif isinstance(buf, memoryview):
                        ids = _posting_ids(buf, info.extent()[0], offset)
                    elif codec is not None and postfile is not None:
                        leaf = codec.postings_reader(postfile, info, form)
                        ids = chain.from_iterable(
                            b[0] for b in _leaf_blocks(leaf, offset, values=False))
                    else:  # not a Whoosh 3 segment: its own matcher
                        ids = [d + offset for d in sub.postings(field, text).all_ids()]
                    yield text, list(ids)

    def terms_in(self, fields: tuple[str, ...], tokens: Iterable[str]) -> DocSet:
        """Documents with any of the indexed ``tokens`` in any of ``fields``."""
        out = docsets.EMPTY
        for token in tokens:
            for f in fields:
                out |= self.term(f, token)
        return out

    def expand(self, fields: tuple[str, ...], match: Any, key: Any = None) -> set[str]:
        """Indexed terms of ``fields`` for which ``match(term)`` is true (cached under
        ``key`` for this snapshot: wildcard and fuzzy expansions scan the lexicon)."""
        cache_key = ("expand", fields, key)
        if key is not None and cache_key in self.cache:
            return self.cache[cache_key]  # type: ignore[no-any-return]
        found = {w for f in fields for w in self.lexicon(f) if match(w)}
        if key is not None:
            self.cache[cache_key] = found
        return found

    def term_frequencies(self, field: str, token: str) -> tuple[array[int], array[float]]:
        """Each document holding ``token`` in ``field`` and how often (cached)."""
        key = ("tf", field, token)
        found = self.cache.get(key)
        if found is None:
            docs, tfs = array("i"), array("f")
            live = docsets.as_bytes(self.live, self.size) if self.reader.has_deletions() \
                else None
            for ids, weights, _ in self._blocks(field, token):
                if live is None:  # (from a list: extending by an iterator is twice as slow)
                    docs.fromlist(ids if isinstance(ids, list) else list(ids))
                    tfs.fromlist(list(weights))
                else:  # documents deleted since the build hold no term
                    for d, w in zip(ids, weights, strict=True):
                        if live[d >> 3] >> (d & 7) & 1:
                            docs.append(d)
                            tfs.append(w)
            found = self.cache[key] = (docs, tfs)
        return found  # type: ignore[no-any-return]

    def field_lengths_part(self, field: str, only: Collection[int]) -> array[int]:
        """``field_lengths`` of the segments at positions ``only`` (``segments``)."""
        with self._read:
            return self._lengths(field, only)

    def field_lengths(self, field: str) -> array[int]:
        """Token count of ``field`` in every document (cached)."""
        key = ("lengths", field)
        found = self.cache.get(key)
        if found is None and self.derived is not None:
            found = self.derived.array(f"lengths:{field}")
            if found is not None:
                self.cache[key] = found
        if found is None:
            with self._read:
                found = self.cache[key] = self._lengths(field)
        return found  # type: ignore[no-any-return]

    def _lengths(self, field: str, only: Collection[int] | None = None) -> array[int]:
        """Each segment's length column read whole (a call per document and field was
        0.5 s per field at 100,000 items), decoded as Whoosh's ``doc_field_length``."""
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
        from whoosh.util.numeric import byte_to_length

        out = array("i")
        for sub, _ in self._subs(only):
            count = sub.doc_count_all()
            perdoc = getattr(sub, "_perdoc", None)
            column = (perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)
                      if perdoc is not None else None)
            raw = _numeric_values(column, count) if column is not None else [0] * count
            if raw is None:  # not the column kind read above: one document at a time
                length = sub.doc_field_length
                out.extend(length(d, field) or 0 for d in range(count))
            else:
                out.extend(map(byte_to_length, raw))
        return out


def _numeric_values(column: Any, count: int) -> list[int] | None:
    """Every value of a Whoosh ``NumericColumn`` reader of ``count`` documents, read as one
    slice of the file (None for another kind of reader). Whoosh stores them big-endian,
    fixed width; documents past the stored ones have the column's default."""
    if type(column) is not NumericColumn.Reader or column._reverse:
        return None
    values = array(column._typecode)
    if values.itemsize != column._fixedlen:
        return None
    stored = min(column._count, count)
    values.frombytes(column._dbfile.get(column._basepos, stored * column._fixedlen))
    if sys.byteorder == "little":
        values.byteswap()
    return values.tolist() + [column._default] * (count - stored)


class _Ids(Sequence[str | None]):
    """``Snapshot.ids``: each document's entity id, derived from the columns on access
    (a space entity's from its stored fields, read once)."""

    def __init__(self, nums: Sequence[int], live: bytes, spaces: bytes,
                 read: Callable[[int], str | None]) -> None:
        self._nums, self._live, self._spaces, self._read = nums, live, spaces, read
        self._space_ids: dict[int, str | None] = {}

    def __len__(self) -> int:
        return len(self._nums)

    def __getitem__(self, d: int) -> str | None:  # type: ignore[override]
        if d < 0:
            d += len(self._nums)
        if not self._live[d >> 3] >> (d & 7) & 1:
            return None
        if self._spaces[d >> 3] >> (d & 7) & 1:
            if d not in self._space_ids:
                self._space_ids[d] = self._read(d)
            return self._space_ids[d]
        return str(self._nums[d])

    def __iter__(self) -> Iterator[str | None]:
        return (self[d] for d in range(len(self._nums)))


_BLOCK_LENGTH = struct.Struct("!i")


def _posting_ids(buf: memoryview, start: int, offset: int) -> list[int]:
    """The document numbers of one Whoosh 3 postings list read straight from the mapped
    postings file: the layout ``W3LeafMatcher`` reads (a ``W3Bl`` tag, then blocks of a
    signed length, negative for the last, a pickled header tuple and the pickled,
    maybe compressed, (ids, weights, values) with ids delta-coded), without making a
    matcher per term: a fifth of the time when a whole field is read."""
    if bytes(buf[start:start + 4]) != b"W3Bl":
        raise ValueError(f"not a Whoosh 3 postings list at {start}")
    out: list[int] = []
    for _, (ids, _, _) in _w3_blocks(buf, start + 4):
        out.extend(map(op.add, accumulate(ids), repeat(offset)))
    return out


def _w3_blocks(buf: memoryview, pos: int) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Each block of the Whoosh 3 postings list whose first block starts at ``pos`` (just
    after its ``W3Bl`` tag): its header tuple (count, last id, max weight, compression,
    length bytes) and its decoded (delta-coded ids, weights, values). A block starts with
    its signed length, negative for the last (the term info's length is not usable:
    Whoosh stores it as a tuple)."""
    while True:
        (size,) = _BLOCK_LENGTH.unpack_from(buf, pos)
        block = io.BytesIO(buf[pos + 4:pos + 4 + abs(size)])
        header = pickle.load(block)
        data = block.read()
        yield header, pickle.loads(zlib.decompress(data) if header[3] else data)
        if size < 0:
            return
        pos += 4 + size


def _stored_blocks(sub: Any, field: str, token: str, offset: int
                   ) -> list[tuple[Iterable[int], Any, Any]] | None:
    """The blocks of ``token``'s postings in one segment read straight from its mapped
    postings file, as ``_posting_ids`` reads them, with their weights: no matcher, no
    file object moved per block (Whoosh's matcher was half the cost of reading a common
    word's 84,000 postings). An absent term has no blocks; None when the segment is not
    one read so (not Whoosh 3, not mapped, or postings kept inline: the matcher reads
    those)."""
    terms = getattr(sub, "_terms", None)
    buf = getattr(getattr(terms, "_postfile", None), "_buf", None)
    if not isinstance(buf, memoryview):
        return None
    try:
        info = sub.term_info(field, token)
    except TermNotFound:
        return []
    if info.is_inlined():
        return None
    pos = info.extent()[0]
    if bytes(buf[pos:pos + 4]) != b"W3Bl":
        return None
    out: list[tuple[Iterable[int], Any, Any]] = []
    for header, (deltas, weights, _) in _w3_blocks(buf, pos + 4):
        running = accumulate(deltas, initial=offset)
        next(running)  # the offset itself
        ids = list(running)
        if weights is None or isinstance(weights, float):
            weights = repeat(1.0 if weights is None else weights, header[0])
        out.append((ids, weights, None))
    return out


def _leaf_blocks(leaf: Any, offset: int, values: bool
                 ) -> Iterator[tuple[Iterable[int], Any, Any]]:
    """The blocks of one Whoosh 3 postings list (``W3LeafMatcher``, whose block layout
    this reads: a pickled (ids, weights, values) tuple, ids delta-coded unless bytes)."""
    while True:
        leaf._read_data()
        ids, weights, vals = leaf._data
        count = leaf._blocklength
        if not leaf._byteids:
            ids = accumulate(ids)
        if offset:
            ids = map(op.add, ids, repeat(offset))
        if weights is None or isinstance(weights, float):
            weights = repeat(1.0 if weights is None else weights, count)
        if values:
            leaf._read_values()
            vals = leaf._values
        yield list(ids), weights, (vals if values else None)
        if leaf._lastblock:
            return
        leaf._goto(leaf._nextoffset)


#: Phrase keys are checked in windows of this many (a buffer of a byte per key).
_WINDOW = 1 << 26


def _between(keys: array[int], lo: int, hi: int) -> Sequence[int]:
    """The keys in [lo, hi) of ascending ``keys``."""
    if lo == 0 and (not keys or keys[-1] < hi):
        return keys
    return keys[bisect_left(keys, lo):bisect_left(keys, hi)]


def _minus(keys: Iterable[int], lo: int) -> Iterable[int]:
    return map(op.add, keys, repeat(-lo)) if lo else keys


#: Whoosh's ``Positions`` value: a 4-byte count, then the deltas pickled (protocol 2).
_PICKLED = 4 + 2


class _Positions:
    """Every position of one token in one field, decoded a block of postings at a time
    with C iterators (Python runs once per block, never once per position).

    A block's values (Whoosh's ``Positions`` format: a 4-byte count, then the deltas
    pickled) are decoded by one unpickling of their pickles joined into one list; the
    running sum of all deltas is later rebased at each document's first position by
    adding a per-document constant (``placed``)."""

    def __init__(self, blocks: Iterable[tuple[Iterable[int], Any, Any]]) -> None:
        self.blocks: list[tuple[list[int], list[int], list[int], list[int]]] = []
        self.last = 0  # the largest position
        self.docs, self.tfs = array("i"), array("f")  # documents and term frequencies
        for ids_in, weights, vals in blocks:
            ids = list(ids_in)
            self.docs.extend(ids)
            self.tfs.extend(weights)
            deltas = _decode_positions(vals, len(ids))
            counts = list(map(len, deltas))
            running = list(accumulate(chain.from_iterable(deltas)))
            ends = list(accumulate(counts))
            lasts = list(map(running.__getitem__, map(op.add, ends, repeat(-1))))
            before = [0, *lasts[:-1]]
            self.last = max(self.last, *map(op.sub, lasts, before))
            self.blocks.append((ids, counts, running, before))
        self.count = sum(len(b[2]) for b in self.blocks)

    def placed(self, shift: int, back: int) -> Iterator[int]:
        """``(document << shift) + position - back`` of every position."""
        return chain.from_iterable(map(self._placed, self.blocks, repeat(shift),
                                       repeat(back)))

    @staticmethod
    def _placed(block: tuple[list[int], list[int], list[int], list[int]], shift: int,
                back: int) -> Iterator[int]:
        ids, counts, running, before = block
        base = map(op.sub, map(op.lshift, ids, repeat(shift)), before)
        if back:
            base = map(op.add, base, repeat(-back))
        return map(op.add, running, chain.from_iterable(map(repeat, base, counts)))


def _decode_positions(vals: Sequence[bytes], count: int) -> list[list[int]]:
    """The delta lists of one block's values: one unpickling of them joined, or one
    value at a time if they are not what Whoosh 2.7's ``Positions`` writes."""
    try:
        joined = b"".join(map(bytes.__getitem__, vals, repeat(slice(_PICKLED, -1))))
        deltas = pickle.loads(b"\x80\x02(" + joined + b"l.")
        if len(deltas) == count and all(map(
                bytes.startswith, vals, repeat(b"\x80\x02"), repeat(4))):
            return deltas  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - decoded one at a time below
        pass
    return [pickle.loads(v[4:] if v.endswith(b".") else v[4:] + b".") for v in vals]

def _close_quietly(searcher: Any) -> None:
    """Close a dropped snapshot's searcher; closing one twice is not an error here."""
    try:
        searcher.close()
    except Exception:  # noqa: BLE001 - already closed
        pass


def stored_doc(item_json: dict[str, Any]) -> str:
    return json.dumps(item_json, separators=(",", ":"), ensure_ascii=False)


__all__ = ["IndexStore", "Snapshot", "TEXT_FIELDS", "analyze", "build_schema"]
