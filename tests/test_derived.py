"""The derived file (``index.core.derived``): a build stores what opening would otherwise
rebuild (sort ranks, the default ordering, few-valued fields, the permission gates' sets),
and no answer depends on whether it is there, current, stale or absent."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sitegen import BLOCKED_APP, USER, item, write_site

from index import AnonymousCaller, Engine
from index.core import manifest
from index.core.derived import DERIVED_FILE

QUERIES = [
    "type = page", "space = A ORDER BY title", "space IN (A, B) ORDER BY space, type DESC",
    "type IN (comment, attachment) ORDER BY created DESC", "text ~ alpha",
    "space IN (A, B, C) ORDER BY id DESC", "type = space",
    "lastmodified > 2024-02-03 ORDER BY lastmodified",
    "parent = 1", "container = 4", "ancestor = 1 ORDER BY title DESC",
    "parent.title ~ root", "parent.title = \"Root\"", "parent.title ~ \"restricted\"",
]
CALLERS = [None, USER, BLOCKED_APP, AnonymousCaller()]


def content() -> list[dict[str, Any]]:
    restricted = item("3", space="A", parent="1", body="alpha", day=3)
    restricted["read_restrictions"] = {"users": ["u2"]}
    draft = item("4", space="B", body="alpha beta", day=4)
    draft["status"] = "draft"
    draft["creator"] = "u2"
    trashed = item("7", space="C", day=7)
    trashed["status"] = "trashed"
    return [
        item("1", space="A", title="Root", body="alpha", day=1),
        item("2", space="A", parent="1", title="Child", body="beta", day=2),
        restricted,
        item("5", space="A", parent="3", title="Under restricted", day=5),
        draft,
        item("6", "comment", space="B", container="4", body="alpha", day=6),
        trashed,
        item("8", "attachment", space="C", container="7", day=8),
        item("9", "blogpost", space="B", title="Blog", body="alpha gamma", day=9),
        item("10", "comment", space="A", container="1", day=10),
    ]


def answers(engine: Engine) -> list[Any]:
    out = []
    for query in QUERIES:
        for caller in CALLERS:
            page = engine.search(query, caller=caller, limit=100, excerpt="highlight")
            out.append((query, page.totalSize, [r.model_dump() for r in page.results]))
    return out


def drop_derived(index_dir: Path) -> None:
    (index_dir / "whoosh" / DERIVED_FILE).unlink()
    manifest.record(index_dir / "whoosh")


def test_a_build_writes_it_and_answers_do_not_depend_on_it(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", content())
    Engine.build(site, tmp_path / "ix")
    with_file = Engine.open(tmp_path / "ix")
    assert with_file.store.snapshot().derived is not None
    expected = answers(with_file)
    assert any(total for _, total, _ in expected)
    drop_derived(tmp_path / "ix")
    without = Engine.open(tmp_path / "ix")
    assert without.store.snapshot().derived is None
    assert answers(without) == expected


def test_a_commit_rewrites_it_and_a_stale_copy_is_ignored(tmp_path: Path) -> None:
    lines = content()
    site = write_site(tmp_path / "site", lines)
    engine = Engine.build(site, tmp_path / "ix")
    derived_path = tmp_path / "ix" / "whoosh" / DERIVED_FILE
    shutil.copyfile(derived_path, tmp_path / "old.bin")
    changed = item("2", space="A", parent="1", title="Child renamed", body="alpha", day=12)
    engine.upsert([changed])
    lines[1] = changed
    fresh = Engine.build(write_site(tmp_path / "site2", lines), tmp_path / "fresh")
    expected = answers(fresh)
    # The commit wrote the file of the new commit, recorded in the manifest (verified).
    assert derived_path.read_bytes() != (tmp_path / "old.bin").read_bytes()
    reopened = Engine.open(tmp_path / "ix", verify=True)
    assert reopened.store.snapshot().derived is not None
    assert answers(reopened) == answers(engine) == expected
    engine.delete(["10"])
    assert Engine.open(tmp_path / "ix").store.snapshot().derived is not None
    shutil.copyfile(tmp_path / "old.bin", derived_path)  # a stale file of the first commit
    manifest.record(tmp_path / "ix" / "whoosh")
    stale = Engine.open(tmp_path / "ix")
    assert stale.store.snapshot().derived is None
    assert answers(stale) == answers(engine)
    drop_derived(tmp_path / "ix")
    assert answers(Engine.open(tmp_path / "ix")) == answers(engine)


def test_a_derived_file_that_does_not_parse_is_ignored(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", content())
    Engine.build(site, tmp_path / "ix")
    expected = answers(Engine.open(tmp_path / "ix"))
    (tmp_path / "ix" / "whoosh" / DERIVED_FILE).write_bytes(b"CQLDERIV\x09\x00\x00\x00junk")
    manifest.record(tmp_path / "ix" / "whoosh")
    reopened = Engine.open(tmp_path / "ix")
    assert reopened.store.snapshot().derived is None
    assert answers(reopened) == expected
