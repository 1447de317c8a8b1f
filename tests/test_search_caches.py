"""What a search keeps between searches, against the same work done from scratch.

A warm search reuses the parsed tree of its text, the rendered rows of the results it
showed, the build id of an unchanged marker file and the digest of an equal caller.
Each shortcut must give what the uncached path gives, must never keep an error, must not
let one caller's copy of a result reach another, and must follow a write.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sitegen import BLOCKED_APP, USER, item, write_site

import cql
from index.core import docsets
from index.core.context import DEFAULT_NOW, SearchContext
from index.core.indexfiles import read_build_id, write_marker
from index.engine import PARSE_CACHE_TEXT, Engine, _parse, _parse_cached, parsed
from index.security.callers import AppCaller, UserCaller, _fingerprint

QUERIES = [
    "type = page",
    "space = A AND label = red ORDER BY title",
    "label IN (red, blue) OR title ~ \"page\"",
    "type = page AND NOT space = B",
    "type = page and space = a order by created desc, title",
    "creator = currentUser()",
    "text ~ \"body words\"",
    "parent = 1",
    "created >= 2024-01-01 AND lastmodified < now(\"-1d\")",
    "id = 3",
]

# --- document sets ----------------------------------------------------------------------


@given(st.lists(st.integers(0, 5_000), max_size=300), st.booleans())
def test_members_lists_every_member_in_order(ids: list[int], dense: bool) -> None:
    """Sparse sets take the byte-search path, dense ones the other: both are exact."""
    size = 5_001
    if dense:
        ids = ids + list(range(0, size, 3))
    docs = docsets.from_ids(ids, size)
    want = sorted(set(ids))
    assert docsets.members(docs) == want
    # A count given by the caller only picks the way, even a wrong one.
    for count in (len(want), 0, size):
        assert docsets.members(docs, count) == want


@given(st.integers(1, 3_000).flatmap(lambda size: st.tuples(
    st.just(size), st.lists(st.integers(0, size - 1), max_size=600),
    st.sampled_from(["list", "array", "iterator"]))))
def test_from_ids_is_the_set_of_its_ids_by_either_way(case: tuple[int, list[int], str]
                                                      ) -> None:
    """Few ids set bit by bit, many (dense) marked a byte per document then packed, an
    iterator of unknown length: each is the plain sum of distinct bits (repeated and
    unsorted ids, sizes not a multiple of 8, the last document)."""
    from array import array

    size, ids, form = case
    given_ids = {"list": ids, "array": array("i", ids), "iterator": iter(ids)}[form]
    assert docsets.from_ids(given_ids, size) == sum(1 << d for d in set(ids))
    assert docsets.from_flags(bytes(d in set(ids) for d in range(size))) == sum(
        1 << d for d in set(ids))


def test_members_of_bytes_with_several_bits_and_the_top_bit() -> None:
    ids = [0, 1, 7, 8, 63, 64, 65, 100_000, 100_001, 100_007]
    assert docsets.members(docsets.from_ids(ids, 100_008)) == ids
    assert docsets.members(docsets.EMPTY) == []


# --- parsed trees -----------------------------------------------------------------------


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("dialect", ["strict", "lenient"])
def test_a_kept_tree_is_the_tree_parsing_gives(text: str, dialect: str) -> None:
    fresh = _parse(text, dialect)
    assert parsed(text, dialect) == fresh
    assert parsed(text, dialect) == fresh  # the kept one, this time
    assert fresh[1] == cql.to_cql(cql.normalize(cql.parse(text, dialect=dialect)))


def test_a_text_with_an_error_is_never_kept() -> None:
    bad = "type = = page"
    for _ in range(2):
        with pytest.raises(cql.CqlError):
            parsed(bad)
    # The dialect is part of the key: what lenient accepts, strict still refuses.
    lenient_only = "ORDER BY title"
    parsed(lenient_only, "lenient")
    with pytest.raises(cql.CqlError):
        parsed(lenient_only, "strict")


def test_long_texts_are_parsed_every_time() -> None:
    text = " OR ".join(f"label = l{i}" for i in range(PARSE_CACHE_TEXT // 10))
    assert len(text) > PARSE_CACHE_TEXT
    before = _parse_cached.cache_info().currsize
    assert parsed(text) == _parse(text, "strict")
    assert _parse_cached.cache_info().currsize == before


# --- whole searches -----------------------------------------------------------------------


def _content() -> list[dict[str, Any]]:
    out = []
    for n in range(1, 41):
        space = "ABC"[n % 3]
        out.append(item(str(n), "blogpost" if n % 5 == 0 else "page", space=space,
                        title=f"page {n}", day=n % 28 + 1, body=f"body words {n}",
                        labels=["red"] if n % 2 else ["blue", "red"],
                        parent=str(n - 3) if n > 3 and n % 3 == (n - 3) % 3 else None))
    return out


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    site = write_site(tmp_path / "site", _content())
    return Engine.build(site, tmp_path / "index")


def _pages(engine: Engine, text: str) -> list[dict[str, Any]]:
    out = []
    for caller in (None, USER, BLOCKED_APP):
        for excerpt in ("none", "highlight"):
            page = engine.search(text, caller=caller, limit=7, excerpt=excerpt,
                                 context=SearchContext(now=DEFAULT_NOW))
            out.append(page.model_dump(exclude={"searchDuration"}))
            out.append(page.stored_docs())
    return out


@pytest.mark.parametrize("text", [q for q in QUERIES if "currentUser" not in q])
def test_warm_searches_answer_as_a_fresh_engine_does(engine: Engine, text: str) -> None:
    """The second run reuses every cache; a new engine in a cleared process has none."""
    warm = _pages(engine, text)
    assert _pages(engine, text) == warm
    _parse_cached.cache_clear()
    _fingerprint.cache_clear()
    assert _pages(Engine.open(engine.index_dir), text) == warm


def test_changing_a_result_does_not_change_the_next_search(engine: Engine) -> None:
    first = engine.search("space = A", limit=5).results[0]
    shown = first.model_dump()
    first.labels.append("mine")
    first.title = "changed"
    assert engine.search("space = A", limit=5).results[0].model_dump() == shown


def test_a_write_is_seen_by_the_next_search_of_the_same_text(engine: Engine) -> None:
    text = "label = red ORDER BY title"
    before = engine.search(text, limit=50)
    assert "retitled" not in [r.title for r in before.results]
    engine.upsert([item("1", title="retitled", labels=["red", "new"], day=20)])
    after = engine.search(text, limit=50)
    shown = {r.id: r for r in after.results}
    assert shown["1"].title == "retitled" and shown["1"].labels == ["red", "new"]
    assert [r.id for r in engine.search("label = new").results] == ["1"]


# --- the marker's build id -----------------------------------------------------------------


def test_a_marker_rewritten_in_place_gives_its_new_build_id(tmp_path: Path) -> None:
    """The identity check must see a rewrite of the same file, not only a new inode."""
    write_marker(tmp_path, "a" * 32)
    assert read_build_id(tmp_path) == "a" * 32
    assert read_build_id(tmp_path) == "a" * 32  # known
    marker = tmp_path / "cql-index.json"
    inode = marker.stat().st_ino
    write_marker(tmp_path, "b" * 40)  # same path, written over: longer, newer
    assert marker.stat().st_ino == inode
    assert read_build_id(tmp_path) == "b" * 40
    os.remove(marker)
    assert read_build_id(tmp_path) == ""  # an index from before markers


# --- callers --------------------------------------------------------------------------------


def test_equal_callers_share_a_fingerprint_and_others_do_not() -> None:
    def app(scopes: set[str]) -> AppCaller:
        return AppCaller(app_id="app-x", kind="forge", scopes=frozenset(scopes),
                         acting_for="u1")

    assert app({"a", "b"}).fingerprint() == app({"b", "a"}).fingerprint()
    assert app({"a"}).fingerprint() != app({"a", "b"}).fingerprint()
    assert UserCaller(account_id="u1").fingerprint() != app({"a"}).fingerprint()
    _fingerprint.cache_clear()
    assert app({"a"}).fingerprint() == _fingerprint.__wrapped__(app({"a"}))


# --- Whoosh's stored column -----------------------------------------------------------------


@given(st.lists(st.binary(max_size=40), max_size=60), st.booleans())
def test_stored_columns_read_back_with_offsets_derived_or_stored(
        values: list[bytes], store_offsets: bool) -> None:
    """``backend`` derives a column's offsets in C (``_patch_stored_offsets``); the bytes
    read back must be the ones written, whether the segment stored its offsets or not."""
    from whoosh.columns import VarBytesColumn
    from whoosh.filedb.filestore import RamStorage

    import index.core.backend  # noqa: F401  (the patch)

    column = VarBytesColumn(allow_offsets=store_offsets, write_offsets_cutoff=0)
    storage = RamStorage()
    out = storage.create_file("column")
    writer = column.writer(out)
    for docnum, value in enumerate(values):
        if value:  # an empty value is a document without one, as Whoosh fills it
            writer.add(docnum, value)
    writer.finish(len(values))
    length = out.tell()
    out.close()
    reader = column.reader(storage.open_file("column"), 0, length, len(values))
    assert reader.had_stored_offsets == (store_offsets and len(values) > 0)
    assert [reader[d] for d in range(len(values))] == values
    assert list(reader) == values


@pytest.mark.parametrize("raw", ["zout -miox", "\"two words\" OR (a b*)", "!!", "x~ -y",
                                 "word " * 300])
def test_a_kept_search_text_is_the_text_parsing_gives(raw: str) -> None:
    from cql import textsearch
    from index.core.compiler import parsed_text, prune

    fresh = prune(textsearch.parse_text(raw))
    assert parsed_text(raw) == fresh
    assert parsed_text(raw) == fresh  # the kept one, this time (when short)


def test_a_search_text_with_an_error_is_never_kept() -> None:
    from cql import textsearch
    from index.core.compiler import _parsed_text, parsed_text

    before = _parsed_text.cache_info().currsize
    for _ in range(2):
        with pytest.raises(textsearch.TextSyntaxError):
            parsed_text("\"unclosed")
    assert _parsed_text.cache_info().currsize == before
    parsed_text("w" * 1001)  # too long to keep
    assert _parsed_text.cache_info().currsize == before
