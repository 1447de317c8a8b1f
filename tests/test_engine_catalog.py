"""``Engine.upsert_catalog``: spaces and users added to a live index (used by ``cql import
--index``) give the same answers as a fresh build of the site with those lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from index.engine import Engine
from index.errors import EngineError

TINY = Path(__file__).parent / "sites" / "tiny"
SPACE = {"key": "NEWS", "name": "Newsroom", "type": "collaboration", "categories": ["press"],
         "description": "Announcements"}
USER = {"account_id": "newbie", "display_name": "Nia Newcomer"}
ITEM = {"id": "990100", "type": "blogpost", "title": "Hello from the newsroom", "space": "NEWS",
        "creator": "newbie", "created": "2026-11-30T10:00:00+00:00", "body": "<p>First</p>"}
QUERIES = ("space = NEWS", 'creator.fullname ~ "Nia"', "space.category = press",
           "type = space ORDER BY title", "type = space AND space.type = collaboration",
           "created > 2000-01-01 ORDER BY lastmodified DESC",
           "type IN (page, blogpost, space) ORDER BY created",
           'text ~ "announcements"', "type = blogpost order by title desc")


def _append(path: Path, line: dict) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def test_upsert_catalog_equals_a_fresh_build(tmp_path: Path) -> None:
    live = Engine.build(TINY, tmp_path / "live")
    live.upsert_catalog(spaces=[SPACE], users=[USER])
    assert live.upsert([ITEM]) == []
    site = tmp_path / "site"
    shutil.copytree(TINY, site)
    _append(site / "spaces.jsonl", SPACE)
    _append(site / "users.jsonl", USER)
    _append(site / "content.jsonl", ITEM)
    fresh = Engine.build(site, tmp_path / "fresh")
    reopened = Engine.open(tmp_path / "live")
    for query in QUERIES:
        want = fresh.search(query, limit=1000)
        for engine in (live, reopened):
            got = engine.search(query, limit=1000)
            assert [r.id for r in got.results] == [r.id for r in want.results], query
            assert got.totalSize == want.totalSize, query


def test_upsert_catalog_rejects_bad_lines_and_changes_nothing(tmp_path: Path) -> None:
    engine = Engine.build(TINY, tmp_path / "i")
    before = (tmp_path / "i" / "catalog.json").read_bytes()
    with pytest.raises(EngineError) as err:
        engine.upsert_catalog(spaces=[{**SPACE, "type": "team"}], users=[USER])
    assert err.value.code == "invalid_site" and "type" in err.value.message
    key = next(iter(engine.spaces))
    with pytest.raises(EngineError, match="keys compare case-insensitively"):
        engine.upsert_catalog(spaces=[{**SPACE, "key": key.lower() if key != key.lower()
                                       else key.upper()}])
    assert (tmp_path / "i" / "catalog.json").read_bytes() == before
    assert "newbie" not in engine.users
