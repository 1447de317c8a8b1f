"""The bulk segment writer hands Whoosh's postings writer whole blocks: the segment files
must be byte for byte those of one ``add_posting`` call per posting."""

from __future__ import annotations

import re
from pathlib import Path

from whoosh import index as whoosh_index

from index.core.backend import IndexStore
from index.core.bulkwrite import BulkSegmentWriter
from index.core.documents import content_document, space_document
from index.site.loader import load_site

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "site"


class PerPostingWriter(BulkSegmentWriter):
    """The oracle: the flush as it was, one Whoosh ``add`` call per posting."""

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        writer = self.fieldwriter
        base = self.docbase
        for name in sorted(self._postings):
            terms = self._postings[name]
            lengths = self._lengths.get(name)
            writer.start_field(name, self.schema[name])
            for tbytes in sorted(terms):
                postings = terms[tbytes]
                writer.start_term(tbytes)
                for docnum, weight, value in zip(postings.docs, postings.weights,
                                                 postings.values(), strict=True):
                    at = docnum - base
                    known = lengths is not None and at < len(lengths)
                    writer.add(docnum, weight, value, lengths[at] if known else 0)
                writer.finish_term()
            writer.finish_field()
        writer.close()


def _segment_files(tmp: Path, writer_class: type[BulkSegmentWriter]) -> dict[str, bytes]:
    site = load_site(FIXTURES)
    IndexStore.create(tmp)
    ix = whoosh_index.open_dir(str(tmp))
    writer = writer_class(ix, _lk=False, compound=False)  # one file per part, comparable
    for space in site.spaces.values():
        writer.add_document(**space_document(space))
    for _ in range(3):  # long posting lists: several blocks for common terms
        for item in site.content.values():
            writer.add_document(**content_document(item))
    segment = writer._finalize_segment()
    prefix = re.escape(f"{segment.indexname}_{segment.segid}")
    # the segment's random id is in its file names and in the compound file's directory
    segid = segment.segid.encode()
    return {re.sub(prefix, "SEG", f.name): f.read_bytes().replace(segid, b"SEGID")
            for f in tmp.iterdir() if re.match(prefix, f.name)}


def test_block_writes_equal_per_posting_writes(tmp_path: Path) -> None:
    blocks = _segment_files(tmp_path / "blocks", BulkSegmentWriter)
    oracle = _segment_files(tmp_path / "oracle", PerPostingWriter)
    assert blocks.keys() == oracle.keys() and len(blocks) >= 1
    for name in oracle:
        assert blocks[name] == oracle[name], name
