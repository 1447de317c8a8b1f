"""Phrases and relevance read the text fields' companions (the common words and each pair
of adjacent common words as terms, without positions: ``index.core.analysis``). Their
answers must be those of the positions they replace:

- generated sites, then upserts and deletes: ``~``, ``!~`` and ``title ~`` of generated
  phrases (repeated words, inflected words, rare words, one word) equal the reference
  evaluator's;
- what a companion holds equals what its text field holds for the same words (documents
  and frequencies, with deleted documents, across segments written by the bulk writer and
  by Whoosh's own writer);
- an index without companions (as built before they existed) answers the same by
  positions, and upserts into it keep it so.
"""

from __future__ import annotations

import tempfile
from itertools import chain
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sitegen import write_site

import cql
from index.core import backend
from index.core.analysis import common_field
from index.core.backend import TEXT_FIELDS
from index.engine import Engine
from index.reference.evaluator import ReferenceEvaluator
from index.security.callers import UserCaller
from index.site.loader import load_site

#: Few words, so that most are common and phrases of them are frequent; inflected forms
#: share a stem ("runs", "running"); the last words are rare.
COMMON = ["red", "fox", "jumps", "red", "red", "fox", "dog", "runs", "running"]
RARE = ["lazy", "over", "quick", "kite"]
USER = UserCaller(account_id="u1")
#: A page in every generated site, never deleted: common words for certain, and the
#: container of the attachments.
FIXED = {"id": "100", "type": "page", "title": "red fox jumps", "space": "A",
         "creator": "u1", "created": "2024-01-01T10:00:00Z",
         "lastmodified": "2024-01-01T10:00:00Z", "labels": [],
         "body": "<p>red fox red fox dog runs red red fox jumps</p>"}

words = st.sampled_from(COMMON + RARE[:2])
texts = st.lists(words, max_size=14).map(" ".join)
phrases = st.lists(st.sampled_from(COMMON + RARE), min_size=1, max_size=4).map(" ".join)


@st.composite
def items(draw: st.DrawFn, first: int, count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(first, first + count):
        out.append({
            "id": str(i), "type": draw(st.sampled_from(["page", "page", "attachment"])),
            "title": draw(texts) or "untitled", "space": "A", "creator": "u1",
            "created": "2024-01-01T10:00:00Z",
            "lastmodified": f"2024-02-{1 + i % 27:02d}T10:00:00Z",
            "body": f"<p>{draw(texts)}</p><p>{draw(texts)}</p>",
            "labels": draw(st.lists(st.sampled_from(["red", "fox", "kite"]), max_size=2,
                                    unique=True))})
        if out[-1]["type"] == "attachment":  # on the page every site has (``FIXED``)
            out[-1]["file_name"] = draw(texts).replace(" ", "-") + ".txt"
            out[-1]["container_id"] = FIXED["id"]
    return out


def check(engine: Engine, content: dict[str, dict[str, Any]], tmp: Path,
          queries: list[str]) -> None:
    site_dir = write_site(tmp / f"site{len(list(tmp.iterdir()))}", content.values())
    reference = ReferenceEvaluator(load_site(site_dir))
    for phrase in queries:
        for query in (f'text ~ "\\"{phrase}\\""', f'text !~ "\\"{phrase}\\""',
                      f'title ~ "\\"{phrase}\\""'):
            expected = reference.search(cql.parse(query), account_id="u1", caller=USER)
            page = engine.search(query, caller=USER, limit=1000)
            assert page.totalSize == len(expected), query
            assert sorted(r.id for r in page.results) == sorted(expected), query


def companions_match_fields(engine: Engine) -> int:
    """Each common word's raw postings (documents and frequencies, deleted documents
    included) from its companion equal those from its text field's positions."""
    snap = engine.store.snapshot()
    compared = 0
    for field in TEXT_FIELDS:
        for word in sorted(snap.common):
            main = [(list(ids), list(w)) for ids, w, _ in snap._blocks(field, word, values=True)]
            side = [(list(ids), list(w)) for ids, w, _ in snap._blocks(field, word)]
            assert _flat(side) == _flat(main), (field, word)
            compared += bool(main)
    return compared


def _flat(blocks: list[tuple[list[int], list[float]]]) -> list[tuple[int, float]]:
    return list(zip(chain.from_iterable(b[0] for b in blocks),
                    chain.from_iterable(b[1] for b in blocks), strict=True))


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_phrases_by_companions_equal_the_reference_after_writes(data: st.DataObject) -> None:
    built = data.draw(items(1, 12), label="site")
    queries = data.draw(st.lists(phrases, min_size=3, max_size=6), label="phrases")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        content = {i["id"]: i for i in [FIXED, *built]}
        engine = Engine.build(write_site(tmp / "site", content.values()), tmp / "ix")
        assert {"red", "fox", "jump"} <= engine.store.snapshot().common
        (tmp / "ref").mkdir()
        check(engine, content, tmp / "ref", queries)
        # Whoosh's writer adds segments; replaced and deleted documents stay in the
        # first one, marked deleted.
        changed = data.draw(items(8, 8), label="upserts")
        engine.upsert(changed)
        content.update((i["id"], i) for i in changed)
        gone = data.draw(st.lists(st.sampled_from(sorted(set(content) - {FIXED["id"]})),
                                  max_size=4, unique=True), label="deletes")
        engine.delete(gone)
        for doc_id in gone:
            del content[doc_id]
        assert companions_match_fields(engine) > 0
        check(engine, content, tmp / "ref", queries)


def test_an_index_without_companions_answers_by_positions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [{"id": str(i), "type": "page", "title": f"red fox {i}", "space": "A",
              "creator": "u1", "created": "2024-01-01T10:00:00Z",
              "lastmodified": "2024-02-01T10:00:00Z",
              "body": "<p>" + " ".join(["red fox", "fox red", "red red dog"][i % 3]
                                       for _ in range(i % 4 + 1)) + "</p>", "labels": []}
             for i in range(1, 30)]
    site = write_site(tmp_path / "site", lines)
    with monkeypatch.context() as patch:  # what a build before companions wrote
        patch.setattr(backend, "choose_common", lambda texts: frozenset())
        old = Engine.build(site, tmp_path / "old")
    new = Engine.build(site, tmp_path / "new")
    assert not old.store.snapshot().common and common_field("body") not in \
        old.store.snapshot().reader.schema
    assert {"red", "fox"} <= new.store.snapshot().common
    update = [dict(lines[0], body="<p>fox red red fox</p>"), dict(lines[1], id="99")]
    for engine in (old, new):
        engine.upsert(update)
        engine.delete(["5"])
    for phrase in ("red fox", "fox red", "red red", "red red dog", "red fox red", "dog"):
        query = f'text ~ "\\"{phrase}\\""'
        got = [engine.search(query, caller=USER, limit=100) for engine in (old, new)]
        assert [(r.id, r.score) for r in got[0].results] == \
            [(r.id, r.score) for r in got[1].results], phrase
        assert got[0].totalSize == got[1].totalSize > 0, phrase
    assert not Engine.open(tmp_path / "old").store.snapshot().common
    assert Engine.open(tmp_path / "new").store.snapshot().common == new.store.snapshot().common
