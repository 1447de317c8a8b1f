"""One bad line is a reject, never an aborted build; dates at the calendar's edges are
answered or refused with a ``CqlError``, never a traceback.

``tests/cases/site_lines.jsonl`` lists lines appended to the tiny site: accepted edge
lines (the last second of year 9999, the largest id, properties nested to the limit) must
be indexed and shown; each bad line (an id past 64 bits, a lone surrogate anywhere, JSON
nested thousands deep, a date whose offset leaves the calendar) must be exactly one reject
naming its file and line, while the rest of the site builds. ``{deep_object:N}`` and
``{deep_array:N}`` in a line stand for N nested objects or arrays (too long to write out).

``tests/cases/date_edges.jsonl`` holds queries at the calendar's edges, run in three time
zones through the engine and the reference evaluator, which must agree.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import cql
from index.core.context import CONTENT_STATUSES, SearchContext
from index.engine import Engine
from index.reference.evaluator import ReferenceEvaluator
from index.site.loader import load_site

HERE = Path(__file__).parent
TINY = HERE / "sites" / "tiny"
LINES = [json.loads(line) for line in
         (HERE / "cases" / "site_lines.jsonl").read_text(encoding="utf-8").splitlines()]
DATE_CASES = [json.loads(line) for line in
              (HERE / "cases" / "date_edges.jsonl").read_text(encoding="utf-8").splitlines()]
ZONES = ("UTC", "Pacific/Kiritimati", "Etc/GMT+12")  # +14 and -12: the widest offsets
EVERYTHING = {"content_statuses": sorted(CONTENT_STATUSES), "include_archived_spaces": True}


def expand(line: str) -> str:
    """Write out ``{deep_object:N}`` and ``{deep_array:N}``."""
    line = re.sub(r"\{deep_object:(\d+)\}",
                  lambda m: '{"a":' * (int(m[1]) - 1) + '{"a":1' + "}" * int(m[1]), line)
    return re.sub(r"\{deep_array:(\d+)\}", lambda m: "[" * int(m[1]) + "]" * int(m[1]), line)


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The tiny site with every case line appended; returns it and each case's line."""
    target = tmp_path_factory.mktemp("edges") / "site"
    shutil.copytree(TINY, target)
    numbers: dict[str, int] = {}
    for case in LINES:
        path = target / case["file"]
        with path.open("ab") as handle:
            handle.write(expand(case["line"]).encode("utf-8") + b"\n")
        numbers[case["name"]] = path.read_bytes().count(b"\n")
    return target, numbers


@pytest.fixture(scope="module")
def engine(site_dir: tuple[Path, dict[str, int]],
           tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.build(site_dir[0], tmp_path_factory.mktemp("edges") / "index")


def test_case_names_are_unique() -> None:
    assert len({case["name"] for case in LINES}) == len(LINES)


@pytest.mark.parametrize("case", [c for c in LINES if "reject" in c], ids=lambda c: c["name"])
def test_a_bad_line_is_one_reject(engine: Engine, site_dir: tuple[Path, dict[str, int]],
                                  case: dict[str, Any]) -> None:
    assert engine.last_build is not None
    line = site_dir[1][case["name"]]
    prefix = f"{case['file']}:{line}: "
    here = [r for r in engine.last_build.rejects if r.startswith(prefix)]
    assert len(here) == 1, engine.last_build.rejects
    assert case["reject"] in here[0]
    assert len(here[0]) < 300 and "\n" not in here[0]  # one readable line


@pytest.mark.parametrize("case", [c for c in LINES if "id" in c], ids=lambda c: c["name"])
def test_an_edge_line_is_indexed_and_shown(engine: Engine, case: dict[str, Any]) -> None:
    for tz in ZONES:
        context = SearchContext.model_validate({**EVERYTHING, "tz": tz})
        page = engine.search(f"id = {case['id']}", context=context)
        assert [r.id for r in page.results] == [case["id"]]
        assert engine.search("type = page", context=context, limit=200).totalSize > 0


def test_the_rest_of_the_site_still_builds(engine: Engine) -> None:
    """Every line of the tiny site is indexed, plus the accepted edge lines."""
    assert engine.last_build is not None
    tiny = load_site(TINY)
    accepted = [c for c in LINES if "id" in c]
    assert engine.last_build.items == len(tiny.content) + len(accepted)
    assert engine.last_build.rejected == len([c for c in LINES if "reject" in c])


@pytest.mark.parametrize("case", [c for c in LINES if "reject" in c and
                                  c["file"] == "content.jsonl"], ids=lambda c: c["name"])
def test_an_upserted_bad_item_is_a_reject(engine: Engine, case: dict[str, Any]) -> None:
    try:
        item = json.loads(expand(case["line"]))
    except RecursionError:  # json cannot read it back; build the same nesting by hand
        deep: Any = []
        for _ in range(5000):
            deep = [deep]
        item = {"id": "918", "x": deep}
    rejects = engine.upsert([item])
    assert len(rejects) == 1 and rejects[0].file == "upsert"
    assert engine.count("type = page") > 0


@pytest.fixture(scope="module")
def reference(site_dir: tuple[Path, dict[str, int]]) -> ReferenceEvaluator:
    return ReferenceEvaluator(load_site(site_dir[0]))


@pytest.mark.parametrize("case", DATE_CASES, ids=lambda c: c["cql"])
@pytest.mark.parametrize("tz", ZONES)
def test_dates_at_the_calendar_edges(engine: Engine, reference: ReferenceEvaluator,
                                     case: dict[str, Any], tz: str) -> None:
    context = SearchContext.model_validate({**EVERYTHING, "tz": tz})
    dialect = case.get("dialect", "strict")
    if "error" in case:
        with pytest.raises(cql.CqlError) as caught:
            engine.search(case["cql"], context=context, dialect=dialect)
        assert caught.value.code.value == case["error"]
        return
    got = []
    page = engine.search(case["cql"], context=context, limit=200, dialect=dialect)
    got = sorted(r.id for r in page.results)
    want = sorted(reference.search(cql.parse(case["cql"], dialect=dialect), account_id=None,
                                   context=context))
    assert got == want


def test_the_repl_explains_bounds_past_the_calendar() -> None:
    import os
    import subprocess
    import sys

    root = HERE.parent
    done = subprocess.run(
        [sys.executable, "-m", "index.cli", "repl"], cwd=root, capture_output=True, text=True,
        input=':explain created <= "9999-12-31"\n:explain created < now("+10000y")\n',
        env={**os.environ, "PYTHONPATH": str(root)}, timeout=300)
    assert done.returncode == 0 and "error" not in done.stdout + done.stderr, done.stdout
    assert done.stdout.count("(after 9999-12-31)") == 2
