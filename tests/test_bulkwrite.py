"""The bulk segment writer writes its own blocks, terms table, positions and terms of the
non-text fields: the segment files must be byte for byte those of Whoosh's own
``SegmentWriter`` given the same documents (with their companion fields, as an update
writes them), so that every reader of an index is unchanged."""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whoosh import index as whoosh_index
from whoosh.formats import Positions
from whoosh.writing import SegmentWriter

from index.core.analysis import analyze, choose_common, common_terms, pair
from index.core.backend import (
    ID_FIELDS,
    KEYWORD_FIELDS,
    TEXT_FIELDS,
    IndexStore,
    build_schema,
    with_companions,
)
from index.core.bulkwrite import (
    COMMAS,
    ONE_TERM,
    BulkSegmentWriter,
    _shortcut,
    encode_positions,
)
from index.core.documents import content_document, space_document
from index.core.postingblocks import PAD, block_values
from index.site.loader import load_site

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "site"


def _segment_files(tmp: Path, docs: list[dict[str, Any]], bulk: bool,
                   common: frozenset[str]) -> dict[str, bytes]:
    IndexStore.create(tmp)
    whoosh_index.create_in(str(tmp), build_schema(common))
    ix = whoosh_index.open_dir(str(tmp))
    # one file per part, comparable
    writer = (BulkSegmentWriter if bulk else SegmentWriter)(ix, _lk=False, compound=False)
    for doc in docs:
        if bulk:
            writer.add_document(**doc)
        else:
            writer.add_document(**with_companions(doc, ix.schema))
    segment = writer._finalize_segment()
    prefix = re.escape(f"{segment.indexname}_{segment.segid}")
    # the segment's random id is in its file names and in the compound file's directory
    segid = segment.segid.encode()
    return {re.sub(prefix, "SEG", f.name): f.read_bytes().replace(segid, b"SEGID")
            for f in tmp.iterdir() if re.match(prefix, f.name)}


def _assert_same_files(tmp: Path, docs: list[dict[str, Any]]) -> None:
    common = choose_common(doc[f] for doc in docs for f in TEXT_FIELDS if doc.get(f))
    bulk = _segment_files(tmp / "bulk", docs, True, common)
    whoosh = _segment_files(tmp / "whoosh", docs, False, common)
    assert bulk.keys() == whoosh.keys() and len(bulk) >= 1
    for name in whoosh:
        assert bulk[name] == whoosh[name], name


def test_the_fixture_site_is_written_as_whoosh_writes_it(tmp_path: Path) -> None:
    site = load_site(FIXTURES)
    docs = [space_document(space) for space in site.spaces.values()]
    for _ in range(3):  # long posting lists: several blocks for common terms
        docs += [content_document(item) for item in site.content.values()]
    _assert_same_files(tmp_path, docs)


# Words from a small vocabulary (so terms repeat within and across documents and fill
# several blocks), unicode letters, digits and punctuation that splits tokens.
_WORDS = st.sampled_from(["the", "a", "Cat", "cats", "running", "ran", "über", "Straße",
                          "naïve", "İstanbul", "ǅemal", "x1", "42", "日本語", "ﬁsh",
                          "KELVIN", "\u212a", "σς", "ΣΑΣ", "_", "don't", "e-mail"])
_TEXT = st.tuples(st.lists(st.one_of(_WORDS, st.text(max_size=6)), max_size=60),
                  st.sampled_from([1, 1, 1, 20])).map(lambda t: " ".join(t[0] * t[1]))
_KEYWORDS = st.lists(st.one_of(st.sampled_from(["a", "b", " c ", "", "ü"]),
                               st.text(max_size=4)), max_size=5).map(",".join)


@st.composite
def _documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    docs = []
    for n in range(draw(st.integers(1, 40))):
        doc: dict[str, Any] = {"id": str(n), "num": n, "entity": "content",
                               "doc": draw(st.text(max_size=20))}
        for name in TEXT_FIELDS:
            if draw(st.booleans()):
                doc[name] = draw(_TEXT)
        for name in KEYWORD_FIELDS:
            if draw(st.booleans()):
                doc[name] = draw(_KEYWORDS)
        for name in ID_FIELDS:
            if name not in doc and draw(st.booleans()):
                doc[name] = draw(st.sampled_from(["page", "ds", "Ab", "ü", ""]))
        docs.append(doc)
    # a common repeated document: long posting lists, several blocks per term
    return docs * draw(st.sampled_from([1, 1, 5]))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_documents())
def test_generated_documents_are_written_as_whoosh_writes_them(
        docs: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _assert_same_files(Path(tmp), docs)


@given(st.lists(st.integers(0, 1 << 20), min_size=1, max_size=300).map(sorted))
def test_positions_are_encoded_as_whoosh_encodes_them(positions: list[int]) -> None:
    assert encode_positions(positions) == Positions().encode(positions)


def test_every_non_text_field_takes_a_shortcut() -> None:
    schema = build_schema(frozenset({"the"}))
    for name in ID_FIELDS:
        assert _shortcut(schema[name]) is ONE_TERM, name
    for name in KEYWORD_FIELDS:
        assert _shortcut(schema[name]) is COMMAS, name


def test_text_is_analysed_as_the_schema_analyses_it() -> None:
    field = build_schema()["body"]
    text = "Über the naïve cats, RUNNING ǅemal KELVIN \u212a x1_2 日本語"
    assert analyze(text) == [t.text for t in field.analyzer(text)]


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_may_be_lower_cased_before_it_is_split(text: str) -> None:
    field = build_schema()["body"]
    assert analyze(text) == [t.text for t in field.analyzer(text)]


@given(st.text())
def test_any_text_is_analysed_as_the_schema_analyses_it(text: str) -> None:
    field = build_schema()["body"]
    assert analyze(text) == [t.text for t in field.analyzer(text)]


def _common_terms_by_hand(stems: list[str], common: frozenset[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for n, word in enumerate(stems):
        if word in common:
            out[word] += 1
            if n and stems[n - 1] in common:
                out[pair(stems[n - 1], word)] += 1
    return out


@given(st.lists(st.sampled_from(["a", "b", "c", "d", "the"]), max_size=30),
       st.frozensets(st.sampled_from(["a", "b", "the", "x"])))
def test_common_terms_are_the_common_stems_and_their_adjacent_pairs(
        stems: list[str], common: frozenset[str]) -> None:
    assert common_terms(stems, common) == _common_terms_by_hand(stems, common)


def test_a_blocks_values_are_objects_of_their_own() -> None:
    shared = b"\x00\x00\x00\x01positions" + PAD
    stored = [shared, b"\x00\x00\x00\x02other" + PAD, shared, shared, PAD]
    values = block_values(stored)
    assert list(values) == [v[:-1] for v in stored if v[:-1]]
    assert len({id(v) for v in values}) == len(values)
