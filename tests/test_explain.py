"""``Compiler.describe``: the plan ``:explain`` prints comes from the evaluating code itself.

Cases are data (``tests/cases/explain.jsonl``: a one-clause query and the words its
description must contain). Every field the compiler evaluates has a case, so a new field
without a ``note`` in the compiler fails here rather than printing a vague plan.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cql
from cql.ast import Clause
from cql.fields import FIELDS
from index import Engine, SearchContext, UserCaller
from index.repl.pipeline import Settings, run

HERE = Path(__file__).parent
CASES = [json.loads(line) for line in (HERE / "cases" / "explain.jsonl").read_text(
    encoding="utf-8").splitlines() if line.strip()]
CONTEXT = SearchContext(now="2026-11-01T12:00:00+00:00", tz="UTC")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.build(HERE / "sites" / "tiny", tmp_path_factory.mktemp("explain") / "ix")


@pytest.mark.parametrize("case", CASES, ids=[c["cql"] for c in CASES])
def test_describe_says_how_the_clause_is_evaluated(engine: Engine, case: dict[str, str]
                                                    ) -> None:
    settings = Settings(caller=UserCaller(account_id="alice"), context=CONTEXT,
                        dialect="lenient")
    outcome = run(engine, case["cql"], settings)
    clause = outcome.query.where
    assert isinstance(clause, Clause)
    before = list(outcome.compiler.score_terms)
    assert case["describe"] in outcome.compiler.describe(clause)
    assert outcome.compiler.score_terms == before  # describing leaves relevance alone


def test_every_content_field_has_a_case() -> None:
    covered = {cql.parse(c["cql"], dialect="lenient").where.field  # type: ignore[union-attr]
               for c in CASES}
    fields = {f.name for f in FIELDS if f.alias_of is None and not f.user_search_only}
    assert fields - covered == set()
