"""The grammar cache that keeps ``cql parse`` quick to start: only in a directory the user
alone can write (it is a pickle), and a parse from the cache equals a parse without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cql.lark_parser import _grammar_cache

ROOT = Path(__file__).resolve().parents[1]


def test_the_cache_lives_only_where_the_user_alone_can_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _grammar_cache() == str(tmp_path / "cql-search" / "grammar-lalr.cache")
    os.chmod(tmp_path / "cql-search", 0o777)
    assert _grammar_cache() is False
    monkeypatch.setenv("CQL_GRAMMAR_CACHE", "0")
    os.chmod(tmp_path / "cql-search", 0o700)
    assert _grammar_cache() is False


def test_a_cached_parse_equals_an_uncached_one(tmp_path: Path) -> None:
    queries = ["type=smartlink and Space=DEV order by created desc", "label in ('a','b')",
               "title ~ \"x\" AND (space = A OR NOT label = b)", "label = x AND"]

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), **extra}
        return subprocess.run([sys.executable, "-m", "index.cli", "parse", "--json", *queries],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)

    first, cached = run(), run()
    assert (tmp_path / "cql-search" / "grammar-lalr.cache").is_file()
    plain = run(CQL_GRAMMAR_CACHE="0")
    assert first.stdout == cached.stdout == plain.stdout and first.returncode == 1
    (tmp_path / "cql-search" / "grammar-lalr.cache").write_bytes(b"garbage\n")
    damaged = run()
    assert damaged.stdout == plain.stdout and "Traceback" not in damaged.stderr
