"""The Whoosh adapter: the only module that imports Whoosh's index, query and search APIs.

whoosh-reloaded is unmaintained (docs/whoosh.md), so everything the engine
needs from it passes through the small surface here: a schema, a writer, and a
``Snapshot`` of one searcher that answers in document sets (see ``docsets``), columns
for sorting, term frequencies and field lengths for relevance (scored in ``relevance``)
and stored fields for results. Another engine can be added by writing another module
with the same ``Snapshot`` methods.
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.columns import NumericColumn, VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.index import LockError
from whoosh.reading import TermNotFound

from index.core import derived, docsets, manifest
from index.core.analysis import analyze, whoosh_analyzer
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


def build_schema() -> Schema:
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
    return schema


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
            for doc in documents:
                if bulk:
                    writer.add_document(**doc)
                else:
                    writer.update_document(**doc)
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        derived.discard(self.path)  # derived from the commit before: ignored from now on
        restrict(self.path)  # new segment files: never writable by others (trust.py)
        manifest.record(self.path)

    def bulk_build(self, parts: list[Callable[[], Iterable[dict[str, Any]]]],
                   progress: Callable[[int], None] | None = None) -> None:
        """Fill a new, empty index: one segment per part, written in parallel."""
        from index.core.bulkwrite import build_segments

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
        if snap is not None and snap.searcher.up_to_date():
            return snap
        with self._refresh:
            snap = self._snapshot
            if snap is None or not snap.searcher.up_to_date():
                snap = self._snapshot = self._open_latest()
        return snap

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
        self._columns: dict[str, Sequence[Any]] = {}
        self._lexicons: dict[str, list[str]] = {}
        #: Structures that layers above build from this snapshot (orderings, date columns).
        self.cache: dict[Any, Any] = {}

    def close(self) -> None:
        self.searcher.close()

    @cached_property
    def derived(self) -> derived.Derived | None:
        """The structures a build derived from this commit, if it is the commit it wrote
        them for (``index.core.derived``)."""
        if self.path is None:
            return None
        with self._read:
            return derived.load(self.path, self.reader)

    @cached_property
    def live(self) -> DocSet:
        """Every document not deleted."""
        everything = docsets.full(self.size)
        with self._read:
            if not self.reader.has_deletions():
                return everything
            deleted = [d for d in range(self.size) if self.reader.is_deleted(d)]
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
            try:
                with self._read:
                    ids = list(self.reader.postings(field, value).all_ids())
                cached = docsets.from_ids(ids, self.size) & self.live
            except TermNotFound:  # only an absent term is "no documents"; any other
                cached = docsets.EMPTY  # failure (a closed reader, bad bytes) raises
            if len(self._terms) > 50_000:
                self._terms.clear()
            self._terms[key] = cached
        return cached

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

    def _column_values(self, field: str) -> list[Any]:
        """Whoosh's multi-segment column reader skips a segment in which no document has
        the field (a commit of space entities only), which would shift every later
        document; such a segment gets the column's default value instead."""
        readers = getattr(self.reader, "readers", None)
        if not readers:
            return list(self.reader.column_reader(field))
        values: list[Any] = []
        default = self.reader.schema[field].column_type.default_value()
        for sub in readers:
            if sub.has_column(field):
                values.extend(sub.column_reader(field))
            else:
                values.extend([default] * sub.doc_count_all())
        return values

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

        Candidates first: only documents holding every token in the field have their
        positions read (skipping through the postings), then checked for the sequence.
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
        for field in fields:
            candidates = self.live
            for token in set(tokens):
                candidates &= self.term(field, token)
                if not candidates:
                    break
            if not candidates:
                continue
            docs = docsets.members(candidates)
            where = {t: self._positions(field, t, docs) for t in set(tokens)}
            found = [d for d in docs if _has_sequence([where[t][d] for t in tokens])]
            out |= docsets.from_ids(found, self.size)
        self.cache[key] = out
        return out

    def _positions(self, field: str, token: str, docs: list[int]) -> dict[int, list[int]]:
        """Token positions of ``token`` in each of ``docs`` (ascending) that holds it."""
        decode = self.searcher.schema[field].format.decode_positions
        out: dict[int, list[int]] = {}
        with self._read:
            matcher = self.reader.postings(field, token)
            for d in docs:
                if not matcher.is_active():
                    break
                if matcher.id() < d:
                    matcher.skip_to(d)
                    if not matcher.is_active():
                        break
                if matcher.id() == d:
                    out[d] = decode(matcher.value())
        return out

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
            with self._read:
                try:
                    matcher = self.reader.postings(field, token)
                except TermNotFound:
                    matcher = None
                while matcher is not None and matcher.is_active():
                    docs.append(matcher.id())
                    tfs.append(matcher.weight())
                    matcher.next()
            found = self.cache[key] = (docs, tfs)
        return found  # type: ignore[no-any-return]

    def field_lengths(self, field: str) -> array[int]:
        """Token count of ``field`` in every document (cached)."""
        key = ("lengths", field)
        found = self.cache.get(key)
        if found is None and self.derived is not None:
            found = self.derived.array(f"lengths:{field}")
            if found is not None:
                self.cache[key] = found
        if found is None:
            length = self.reader.doc_field_length
            with self._read:
                found = self.cache[key] = array("i", (length(d, field) or 0
                                                      for d in range(self.size)))
        return found  # type: ignore[no-any-return]


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


def _close_quietly(searcher: Any) -> None:
    """Close a dropped snapshot's searcher; closing one twice is not an error here."""
    try:
        searcher.close()
    except Exception:  # noqa: BLE001 - already closed
        pass


def _has_sequence(positions: list[list[int]]) -> bool:
    """Is there a start ``p`` with ``p + i`` in the i-th position list, for every i?"""
    rest = [set(p) for p in positions[1:]]
    return any(all(p + i in later for i, later in enumerate(rest, 1)) for p in positions[0])


def stored_doc(item_json: dict[str, Any]) -> str:
    return json.dumps(item_json, separators=(",", ":"), ensure_ascii=False)


__all__ = ["IndexStore", "Snapshot", "TEXT_FIELDS", "analyze", "build_schema"]
