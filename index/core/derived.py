"""Structures derived from one commit of the index, written once and read by memory map.

The first query after opening an index needs things Whoosh does not store in a form a
query can use: the dense ranks of every sort key, the default ordering and those of the
usual sorts (``engine.STORED_ORDERS``: building one is two sorts of every document), the
document sets of the few-valued fields (entity, status, type, space), each document's
parent as a document number (``index.core.links``) and the postings that the permission
gates look up. Rebuilt from Whoosh's columns and postings in Python they cost
0.6-1.6 s at 100,000 items on every open. A build writes them here (``DERIVED_FILE`` in
the Whoosh directory, recorded in the manifest with the rest of the build, and swapped
in with it); a snapshot decodes each part the first time it is asked for, at C speed
(``array.frombytes``, ``int.from_bytes``), and anything not here is computed as before.

The file names the commit it was derived from (generation, segments, document count):
a commit removes it, and the engine's upserts and deletes then write the new commit's
under the writer lock (``Engine`` ``_refresh_derived``). A file of another commit (a crash
between the two, another program's commit) no longer matches and is ignored, so a stale
file can cost time but never change an answer. It holds only JSON and
raw arrays: nothing in it is unpickled.

A write does not compute the file again: recomputing it from Whoosh cost about 3 s of
CPU per one-item write at 100,000 items. It carries the previous commit's over
(``index.core.carry``, held meanwhile as a ``Carried``): a small write keeps Whoosh's big
segments, so their parts are copied and only the new segment's documents are read. This
was chosen over deferring the file (to an idle moment, or every N writes), which would
leave the next process that opens the index without it, at the full cost of a first
query (about 1 s at 100,000 items), and over a delta file per commit on top of a base,
which would move the merging into every open. The ranks a carried file stores need not
be dense, only in the order of the values (every reader only compares them).
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import sys
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from index.core import docsets
from index.core.docsets import DocSet

DERIVED_FILE = "cql-derived.bin"
MAGIC = b"CQLDERIV"
VERSION = 1
_HEAD = struct.Struct("<8sII")  # magic, version, header length


def identity(reader: Any) -> dict[str, Any]:
    """What names one commit of a Whoosh index: generation, segments, document count."""
    readers = getattr(reader, "readers", None) or [reader]
    return {"generation": reader.generation(),
            "segments": [r.segment().segment_id() for r in readers],
            "documents": reader.doc_count_all()}


def write(whoosh_dir: Path, reader: Any, arrays: Mapping[str, array[Any]],
          terms: Mapping[tuple[str, str], DocSet | array[int]],
          complete: Iterable[str] = ()) -> None:
    """Write the derived file for the commit ``reader`` reads (atomically, durably).

    ``arrays`` are named per-document arrays; ``terms`` are document sets by (field,
    value) (or their ascending members), stored as bitmaps when dense and as sorted
    document numbers when sparse; ``complete`` names the fields whose every value is among
    ``terms``."""
    size = reader.doc_count_all()
    parts: dict[str, list[Any]] = {}
    entries: list[list[Any]] = []
    chunks: list[bytes] = []
    offset = 0

    def add(raw: bytes) -> tuple[int, int]:
        nonlocal offset
        start = offset
        chunks.append(raw)
        offset += len(raw)
        return start, len(raw)

    for name, values in arrays.items():
        parts[name] = [values.typecode, *add(_little(values))]
    for (field, value), docs in terms.items():
        if isinstance(docs, array):
            if len(docs) * 32 <= size:
                entries.append([field, value, "ids", *add(_little(array("I", docs)))])
                continue
            docs = docsets.from_ids(docs, size)
        if docsets.count(docs) * 32 > size:
            entries.append([field, value, "bits", *add(docsets.as_bytes(docs, size))])
        else:
            entries.append([field, value, "ids",
                            *add(_little(array("I", docsets.members(docs))))])
    header = json.dumps({**identity(reader), "arrays": parts, "terms": entries,
                         "complete": sorted(complete)}).encode()
    path = whoosh_dir / DERIVED_FILE
    temp = whoosh_dir / f"{DERIVED_FILE}.tmp-{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with open(fd, "wb") as fh:
        fh.write(_HEAD.pack(MAGIC, VERSION, len(header)))
        fh.write(header)
        for raw in chunks:
            fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)


def discard(whoosh_dir: Path) -> None:
    """Remove the derived file of an earlier commit (it would be ignored anyway)."""
    try:
        os.unlink(whoosh_dir / DERIVED_FILE)
    except FileNotFoundError:
        pass


def _little(values: array[Any]) -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


_Ids = array  # ``Derived.array`` hides the type inside the class


class Derived:
    """One derived file, mapped; parts are decoded on first use and kept."""

    def __init__(self, mapped: mmap.mmap, header: dict[str, Any], base: int) -> None:
        self._map = mapped
        self._base = base
        self.size: int = header["documents"]
        self._arrays: dict[str, list[Any]] = header["arrays"]
        self._terms = {(f, v): (kind, start, length)
                       for f, v, kind, start, length in header["terms"]}
        #: Fields whose every indexed value has an entry: an absent value matches nothing.
        self.complete = frozenset(header.get("complete", ()))

    def keys(self) -> list[tuple[str, str]]:
        """The (field, value) of every stored set."""
        return list(self._terms)

    def has(self, name: str) -> bool:
        """Does the file hold the array ``name`` (without decoding it)?"""
        return name in self._arrays

    def _bytes(self, start: int, length: int) -> bytes:
        start += self._base
        return self._map[start:start + length]

    def array(self, name: str) -> array[Any] | None:
        found = self._arrays.get(name)
        if found is None:
            return None
        typecode, start, length = found
        out = array(typecode)
        out.frombytes(self._bytes(start, length))
        if sys.byteorder == "big":
            out.byteswap()
        return out

    def term_ids(self, field: str, value: str) -> _Ids | None:
        """The stored set of (field, value) as ascending document numbers; None when the
        file does not know it."""
        found = self._terms.get((field, value))
        if found is None:
            return array("I") if field in self.complete else None
        kind, start, length = found
        raw = self._bytes(start, length)
        if kind == "bits":
            return array("I", docsets.members(int.from_bytes(raw, "little")))
        ids = array("I")
        ids.frombytes(raw)
        if sys.byteorder == "big":
            ids.byteswap()
        return ids

    def stored(self, field: str, value: str) -> DocSet | _Ids | None:
        """The stored set of (field, value) as it is stored: a ``DocSet`` if a bitmap, its
        ascending members if sparse (what a write carries over without converting)."""
        found = self._terms.get((field, value))
        if found is None:
            return None
        return self.term(field, value) if found[0] == "bits" else self.term_ids(field, value)

    def term(self, field: str, value: str) -> DocSet | None:
        """The stored set of (field, value); None when the file does not know it."""
        found = self._terms.get((field, value))
        if found is None:
            return docsets.EMPTY if field in self.complete else None
        kind, start, length = found
        raw = self._bytes(start, length)
        if kind == "bits":
            return int.from_bytes(raw, "little")
        ids = array("I")
        ids.frombytes(raw)
        if sys.byteorder == "big":
            ids.byteswap()
        return docsets.from_ids(ids, self.size)


class Carried:
    """What a small write carried over to its commit (``index.core.carry``), held in
    memory with ``Derived``'s methods: the writer's snapshot reads it while the rest is
    computed, then it is written as the new commit's file."""

    def __init__(self, size: int, arrays: dict[str, array[Any]],
                 terms: dict[tuple[str, str], DocSet | array[int]],
                 complete: Iterable[str]) -> None:
        self.size = size
        self.arrays = arrays
        self.terms = terms
        self.complete = frozenset(complete)

    def keys(self) -> list[tuple[str, str]]:
        return list(self.terms)

    def has(self, name: str) -> bool:
        return name in self.arrays

    def array(self, name: str) -> array[Any] | None:
        return self.arrays.get(name)

    def stored(self, field: str, value: str) -> DocSet | _Ids | None:
        return self.terms.get((field, value))

    def term_ids(self, field: str, value: str) -> _Ids | None:
        found = self.terms.get((field, value))
        if found is None:
            return array("I") if field in self.complete else None
        if isinstance(found, array):
            return found
        return array("I", docsets.members(found))

    def term(self, field: str, value: str) -> DocSet | None:
        found = self.terms.get((field, value))
        if found is None:
            return docsets.EMPTY if field in self.complete else None
        if isinstance(found, array):
            return docsets.from_ids(found, self.size)
        return found


def load(whoosh_dir: Path, reader: Any) -> Derived | None:
    """The derived file of the commit ``reader`` reads, or None (absent, another commit,
    another format version, or unreadable: then everything is computed as before)."""
    try:
        with open(whoosh_dir / DERIVED_FILE, "rb") as fh:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError, OSError):
        return None
    try:
        magic, version, length = _HEAD.unpack_from(mapped, 0)
        if magic != MAGIC or version != VERSION:
            raise ValueError(magic)
        header = json.loads(mapped[_HEAD.size:_HEAD.size + length])
        if {k: header.get(k) for k in ("generation", "segments", "documents")} != identity(
                reader):
            raise ValueError("another commit")
        return Derived(mapped, header, _HEAD.size + length)
    except (ValueError, KeyError, TypeError, struct.error):
        mapped.close()
        return None


__all__ = ["DERIVED_FILE", "Carried", "Derived", "discard", "load", "write"]
