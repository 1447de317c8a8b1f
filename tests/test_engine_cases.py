"""The Whoosh engine against the hand-written expectations of the tiny site.

The same ``tests/cases/reference_tiny.jsonl`` cases the reference evaluator passes, run
through ``Engine.search`` (the public API) with every page walked. Unordered cases compare
as sets, ordered ones exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cql
from index.core.compiler import SearchScope
from index.core.context import DEFAULT_NOW, SearchContext
from index.engine import Engine
from index.security.callers import UserCaller

HERE = Path(__file__).parent
CASES = [json.loads(line) for line in
         (HERE / "cases" / "reference_tiny.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.build(HERE / "sites" / "tiny", tmp_path_factory.mktemp("tiny") / "index")


def run(engine: Engine, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hidden_spaces = frozenset(case.get("hidden_spaces", ()))
    hidden_types = frozenset(case.get("hidden_types", ()))
    account = case.get("account_id")
    if hidden_spaces or hidden_types:
        # The mask normally comes from policies; here the case names it directly.
        monkeypatch.setattr(engine, "scope_for", lambda caller, strict=False, **_: SearchScope(
            account_id=account, hidden_spaces=hidden_spaces, hidden_types=hidden_types))
    caller = UserCaller(account_id=account) if account else None
    context = SearchContext.model_validate({"now": DEFAULT_NOW, **(case.get("context") or {})})
    ids: list[str] = []
    cursor = None
    while True:
        page = engine.search(case["cql"], caller=caller, context=context, limit=7,
                             cursor=cursor, dialect=case.get("dialect", "strict"))
        ids.extend(r.id for r in page.results)
        if page.next is None:
            assert len(ids) == page.totalSize
            return ids
        cursor = page.next


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(engine: Engine, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    error = case.get("error")
    if error is not None:
        with pytest.raises(cql.CqlError) as info:
            run(engine, case, monkeypatch)
        got = info.value
        assert (got.code.value, got.offset, got.end) == (
            error["code"], error["start"], error["end"]), got.message
        return
    got = run(engine, case, monkeypatch)
    if case["ordered"]:
        assert got == case["expected"]
    else:
        assert sorted(got) == sorted(case["expected"])
