"""The ``next page: --cursor X`` that ``cql search`` prints works when pasted into the next
command, though the wall clock moved in between (issue 11); a query that reads the clock
carries its instant in the cursor, so its second page is computed at the first page's time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from index.core.context import SearchContext
from index.engine import Engine
from index.errors import EngineError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cursor") / "index"
    Engine.build(ROOT / "fixtures" / "site", path)
    return path


def search(index: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "index.cli", "search", *args, "--index",
                           str(index)], capture_output=True, text=True, env=env, timeout=120)


def test_the_printed_cursor_works_in_the_next_command(index: Path) -> None:
    first = search(index, "type = page ORDER BY id", "--limit", "3")
    assert first.returncode == 0, first.stderr
    cursor = re.search(r"^next page: --cursor (\S+)$", first.stdout, re.M)
    assert cursor is not None
    second = search(index, "type = page ORDER BY id", "--limit", "3", "--cursor",
                    cursor.group(1))
    assert second.returncode == 0, second.stderr
    assert re.search(r"^4-6 of \d+ results", second.stdout, re.M)


def test_a_cursor_survives_the_clock_moving_unless_the_query_reads_it(index: Path) -> None:
    engine = Engine.open(index)
    t0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
    later = SearchContext(now=t0 + timedelta(hours=5))
    page = engine.search("type = page", limit=2, context=SearchContext(now=t0))
    assert engine.search("type = page", limit=2, context=later, cursor=page.next).start == 2
    # A date function: the second page is computed at the first page's instant.
    query = "type = page AND created < now('-30d') ORDER BY id"
    first = engine.search(query, limit=2, context=SearchContext(now=t0))
    whole = engine.search(query, limit=50, context=SearchContext(now=t0))
    second = engine.search(query, limit=2, context=later, cursor=first.next)
    assert second.totalSize == first.totalSize
    assert [r.id for r in second.results] == [r.id for r in whole.results[2:4]]


def test_a_cursor_still_refuses_another_query_and_says_why(index: Path) -> None:
    engine = Engine.open(index)
    page = engine.search("type = page", limit=2)
    with pytest.raises(EngineError) as err:
        engine.search("type = blogpost", limit=2, cursor=page.next)
    assert err.value.code == "bad_cursor" and "another query" in err.value.message
