"""What the Whoosh adapter reads in bulk instead of a call per document or posting
(``index.core.backend``) equals what Whoosh's own APIs give, on an index with several
segments (a build, then upserts) and deleted documents.

Phrases are found by set algebra on positions decoded a block of postings at a time
(``Snapshot.phrase_docs``), pinned against Whoosh's ``Phrase`` query over postings long
enough for many blocks and phrases with repeated words; field lengths and numeric columns
are read a segment at a time, pinned against ``doc_field_length`` and Whoosh's column
readers; stored documents' offsets are made when read, pinned against their sums."""

from __future__ import annotations

import random
from array import array
from itertools import accumulate
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sitegen import all_ids, item, write_site
from whoosh.query import Or, Phrase
from whoosh.reading import TermNotFound

from index import Engine
from index.core import docsets
from index.core.backend import TEXT_FIELDS, Snapshot, StoredOffsets, analyze

WORDS = ["red", "fox", "jumps", "over", "lazy", "dog", "red", "red", "fox"]
PHRASES = ["red fox", "fox red", "red red", "red fox jumps", "lazy dog", "dog red fox",
           "red red red", "over lazy dog red", "jumps jumps", "red nosuchword", "cat dog"]


def body(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))


def oracle(engine: Engine, phrase: str) -> list[str]:
    snap = engine.store.snapshot()
    tokens = analyze(phrase)
    query = Or([Phrase(field, tokens) for field in TEXT_FIELDS])
    docs = snap.searcher.docs_for_query(query)
    return sorted(doc_id for d in docs if (doc_id := snap.ids[d]) is not None)


def found(engine: Engine, phrase: str) -> list[str]:
    query = f'text ~ "\\"{phrase}\\""'
    ids = all_ids(engine, query)
    assert engine.search(query, limit=1).totalSize == len(ids)
    return sorted(ids)


def segmented(tmp_path: Path) -> Engine:
    rng = random.Random(5)
    lines = [item(str(i), space="A", title=" ".join(rng.sample(WORDS, 3)), body=body(rng),
                  day=1 + i % 20) for i in range(1, 400)]
    engine = Engine.build(write_site(tmp_path / "site", lines), tmp_path / "ix")
    # Upserts add segments and delete the replaced documents from the first one.
    engine.upsert([item(str(i), space="A", title="fox", body=body(rng), day=2)
                   for i in range(1, 60, 3)])
    engine.upsert([item(str(i), space="A", body="red fox jumps over lazy dog", day=3)
                   for i in range(400, 405)])
    engine.upsert([item("405", space="A", body="dog red fox red red red", day=4)])  # inline
    engine.delete([str(i) for i in range(100, 130)])
    return engine


def test_phrases_match_whoosh_phrase_queries_across_segments_and_deletions(
        tmp_path: Path) -> None:
    engine = segmented(tmp_path)
    checked = 0
    for phrase in PHRASES:
        expected = oracle(engine, phrase)
        assert found(engine, phrase) == expected, phrase
        checked += bool(expected)
    assert checked >= 8


def test_lengths_and_numeric_columns_match_whoosh_per_document_reads(tmp_path: Path) -> None:
    snap = segmented(tmp_path).store.snapshot()
    assert len(snap.reader.readers) > 1 and snap.reader.has_deletions()
    for field in TEXT_FIELDS:
        assert list(snap.field_lengths(field)) == [
            snap.reader.doc_field_length(d, field) or 0 for d in range(snap.size)]
    for field in ("num", "created", "lastmodified"):
        expected = []
        for sub in snap.reader.readers:
            expected.extend(sub.column_reader(field) if sub.has_column(field) else
                            [0] * sub.doc_count_all())
        assert list(snap.column(field)) == expected
        assert any(expected)


def whoosh_postings(snap: Snapshot, field: str, token: str) -> list[tuple[int, float]]:
    """Live (document, weight) of a term by Whoosh's own matcher (which skips deleted
    documents and adds each segment's offset)."""
    try:
        matcher = snap.reader.postings(field, token)
    except TermNotFound:
        return []
    out = []
    while matcher.is_active():
        out.append((matcher.id(), matcher.weight()))
        matcher.next()
    return out


def test_postings_read_from_the_mapped_file_match_whoosh_matchers(tmp_path: Path) -> None:
    """Term frequencies (a common word's from its field's companion) and document sets read
    straight from the postings file equal Whoosh's matchers over several segments (blocks
    of 128 postings, the last one short) with deleted documents; so do absent terms."""
    snap = segmented(tmp_path).store.snapshot()
    assert len(snap.reader.readers) > 1 and snap.reader.has_deletions()
    assert snap.common, "the test needs common words (read from companions)"
    live = set(docsets.members(snap.live))
    checked = 0
    for field in TEXT_FIELDS:
        for token in sorted({t for w in WORDS for t in analyze(w)}) + ["nosuchword"]:
            expected = whoosh_postings(snap, field, token)
            docs, tfs = snap.term_frequencies(field, token)
            assert list(zip(docs, tfs, strict=True)) == expected, (field, token)
            assert set(docsets.members(snap.term(field, token))) == {d for d, _ in expected}
            checked += len(expected) > 128
    for field, value in (("space", "a"), ("entity", "content"), ("type", "page")):
        expected_ids = [d for d, _ in whoosh_postings(snap, field, value)]
        assert expected_ids and set(expected_ids) <= live
        assert list(snap.term_ids(field, value)) == expected_ids, (field, value)
    assert checked >= 3


@given(st.lists(st.integers(0, 70_000), max_size=1_200), st.data())
def test_stored_offsets_are_the_sums_of_the_lengths_before(lengths: list[int],
                                                          data: st.DataObject) -> None:
    """``StoredOffsets`` (a stored column's offsets, made a block at a time when read)
    gives each document the sum of the lengths before it, whatever order it is asked."""
    offsets = StoredOffsets(array("H" if max(lengths, default=0) < 65536 else "I", lengths))
    expected = list(accumulate(lengths, initial=0))[:-1]
    assert len(offsets) == len(lengths)
    for d in data.draw(st.lists(st.integers(0, max(len(lengths) - 1, 0)), max_size=30)
                       if lengths else st.just([])):
        assert offsets[d] == expected[d]
    assert [offsets[d] for d in range(len(lengths))] == expected
    with pytest.raises(IndexError):
        offsets[len(lengths)]
