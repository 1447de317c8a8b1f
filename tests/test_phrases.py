"""Phrases are found by set algebra on positions decoded a block of postings at a time
(``Snapshot.phrase_docs``); Whoosh's own ``Phrase`` query is the oracle. The index has
several segments (a build, then upserts), deleted documents, postings long enough for many
blocks and short ones Whoosh keeps inline, and phrases with repeated words."""

from __future__ import annotations

import random
from pathlib import Path

from sitegen import all_ids, item, write_site
from whoosh.query import Or, Phrase

from index import Engine
from index.core.backend import TEXT_FIELDS, analyze

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


def test_phrases_match_whoosh_phrase_queries_across_segments_and_deletions(
        tmp_path: Path) -> None:
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
    checked = 0
    for phrase in PHRASES:
        expected = oracle(engine, phrase)
        assert found(engine, phrase) == expected, phrase
        checked += bool(expected)
    assert checked >= 8
