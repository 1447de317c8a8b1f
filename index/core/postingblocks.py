"""A field's postings and its rows of the terms table, written as Whoosh 3 blocks in bulk.

Part of the Whoosh adapter (with ``bulkwrite.py``). Whoosh's ``W3FieldWriter`` writes a
term by a dozen Python calls per block (``start_postings``, ``add_posting`` per posting,
``_write_block`` with its ``_mini_*`` helpers and three ``StructFile`` writes, ``add_block``
and ``to_bytes`` of the term's statistics, the table's ``add`` with an MD5 through a hex
string); most terms of a fresh segment have one small block, so those calls, not the data,
were most of a segment's flush. Here each block is made from the term's packed arrays in a
few steps and a whole field goes to each file in one write. The bytes are exactly those of
``W3FieldWriter``: the same pickles (protocol 2) of the same tuples, the same zlib level,
the same statistics (``tests/test_bulkwrite.py`` compares the files with Whoosh's own
writer), so every reader of the segment is unchanged.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from hashlib import md5
from itertools import repeat
from operator import getitem, sub
from pickle import dumps
from typing import Any

from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3TermInfo
from whoosh.filedb.filetables import _lengths
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numeric import length_to_byte

#: What a block's postings carry besides ids and weights: positions (one value each),
#: frequencies (4 bytes each) or nothing (``Format.fixed_value_size``: None, 4, 0).
POSITIONS, FREQUENCIES, NOTHING = "positions", "frequencies", "nothing"

_TERMINFO = W3TermInfo._struct


class Postings(list):  # type: ignore[type-arg]
    """One term's postings in docnum order, flat: document number, frequency and stored
    value (``PAD``-ended positions; None for the other kinds, whose values follow from the
    frequency) of each posting in turn. One ``+=`` a posting, and no object of its own: a
    document's number is one int for all its postings, and equal values may be one bytes
    object."""

    __slots__ = ()


#: The byte each stored positions value ends with. Cutting it off when a block is pickled
#: (``block_values``) makes every value a new bytes object, as Whoosh's freshly encoded
#: ones are: pickle writes an object it has seen before as a reference to it, so values
#: shared while the postings were gathered would change the block's bytes.
PAD = b"\x00"
_UNPADDED = slice(None, -1)


def block_values(stored: list[bytes]) -> tuple[bytes, ...]:
    """The values of a block of postings as Whoosh pickles them: each a bytes object of
    its own, the empty ones left out."""
    return tuple(filter(None, map(getitem, stored, repeat(_UNPADDED))))  # type: ignore[arg-type]


def value_kind(fieldobj: Any) -> str:
    """Which of the three kinds of values a field's format gives its postings."""
    size = fieldobj.format.fixed_value_size()
    if size is None or size < 0:
        return POSITIONS
    if size == 0:
        return NOTHING
    if size == 4:
        return FREQUENCIES
    raise ValueError(f"no bulk encoding for values of {size} bytes")


def write_field(fieldwriter: Any, name: str, fieldobj: Any, terms: dict[bytes, Postings],
                lengths: Sequence[int] | None) -> None:
    """Write one field's terms (sorted here) through ``fieldwriter``, a ``W3FieldWriter``
    between fields: what ``start_field``, then per term ``start_term``, ``add`` per
    posting and ``finish_term``, then ``finish_field`` write.

    ``lengths`` holds each document's length in this field, by docnum, for every document
    of the segment (0: unknown, as Whoosh's writer passes a length of 0; None: all 0)."""
    fieldwriter.start_field(name, fieldobj)
    fieldwriter._postwriter = None
    probe = fieldwriter._codec.postings_writer(fieldwriter._postfile)
    limit, level = probe._blocklimit, probe._compression
    assert probe._inlinelimit <= 1 and level, "inlined or uncompressed postings"
    assert fieldobj.format.field_boost == 1.0, "weights are the frequencies"
    kind = value_kind(fieldobj)
    fieldid = pack_ushort(fieldwriter._fieldid)

    postfile = fieldwriter._postfile
    tindex = fieldwriter._tindex
    posts = bytearray()
    posts_at = postfile.tell()
    table = bytearray()
    table_at = tindex.dbfile.tell()
    positions = tindex.index
    buckets = tindex.buckets
    lastkey = tindex.lastkey
    length_of = lengths.__getitem__ if lengths is not None else None

    for tbytes in sorted(terms):
        postings = terms[tbytes]
        docs, freqs = postings[0::3], postings[1::3]
        count = len(docs)
        start = posts_at + len(posts)
        posts += WHOOSH3_HEADER_MAGIC
        weight = 0.0
        maxweight: float = 0
        minlength: int | None = None
        maxlength = 0
        for at in range(0, count, limit):
            end = min(at + limit, count)
            ids = docs[at:end]
            fr = freqs[at:end]
            low, high = min(fr), max(fr)
            weights: Any
            if high == 1:
                weights = None
            elif low == high:
                weights = float(high)
            else:
                weights = tuple(map(float, fr))
            if kind is POSITIONS:
                values: Any = block_values(postings[3 * at + 2:3 * end:3])
            elif kind is FREQUENCIES:
                values = struct.pack(f"!{end - at}I", *fr)
            else:
                values = None
            data = zlib.compress(
                dumps(((ids[0], *map(sub, ids[1:], ids)), weights, values), 2), level)
            if length_of is not None:
                found = list(filter(None, map(length_of, ids)))
                block_min = min(found) if found else None
                block_max = max(found) if found else 0
            else:
                block_min, block_max = None, 0
            info = dumps((end - at, ids[-1], float(high), level,
                          length_to_byte(block_min), length_to_byte(block_max)), 2)
            size = len(info) + len(data)
            posts += pack_int(-size if end == count else size)
            posts += info
            posts += data
            # the term's statistics, as ``W3TermInfo.add_block`` gathers them
            weight += sum(fr)
            minlength = block_min if minlength is None else min(minlength, block_min)  # type: ignore[type-var]
            maxlength = max(maxlength, block_max)
            maxweight = max(maxweight, float(high))
        length = posts_at + len(posts) - start
        value = _TERMINFO.pack(
            False, weight, count, 0 if minlength is None else length_to_byte(minlength),
            length_to_byte(maxlength), maxweight, docs[0], docs[-1],
        ) + pack_long(start) + pack_int(length)
        # the row of the terms table, as ``OrderedHashWriter.add`` writes it
        key = fieldid + tbytes
        if key <= lastkey:
            raise ValueError(f"keys must increase: {lastkey!r}..{key!r}")
        lastkey = key
        row_at = table_at + len(table)
        positions.append(row_at)
        table += _lengths.pack(len(key), len(value))
        table += key
        table += value
        digest = int.from_bytes(md5(key, usedforsecurity=False).digest()[12:], "big")
        buckets[digest & 255].append((digest, row_at))

    postfile.write(bytes(posts))
    tindex.dbfile.write(bytes(table))
    tindex.lastkey = lastkey
    fieldwriter.finish_field()
