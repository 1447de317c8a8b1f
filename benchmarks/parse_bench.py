"""Parser throughput: cql-search's front end beside raw Lark and Whoosh's query parser.

Run ``python -m benchmarks.parse_bench [--repeat N] [--json PATH] [--profile]``. In one
process and on the same queries (``benchmarks/queries/parse_mix.cql``, or ``--file``) it
measures, interleaved per repeat so a noisy neighbour slows all three alike:

- ``lark-raw``: ``cql.parser.raw_parser()`` (our grammar, LALR, no transformer) building a
  Lark parse tree: the floor that any Lark-based front end pays;
- ``cql``: ``cql.normalize(cql.parse(text))``: parse, build the AST, validate, normalize;
- ``whoosh``: ``whoosh.qparser.QueryParser.parse`` on an equivalent Whoosh query (each CQL
  query translated once, untimed: ``space:DEV AND type:page AND created:[20200101 TO]``).

It reports the median queries/s over the repeats and the ratios, as a Markdown table and
optionally as JSON. The issue's targets: at least 7,000 queries/s for ``cql`` on the 2-core
machine, and at least 3x Whoosh. ``run()`` is what ``benchmarks.harness`` calls.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import platform
import pstats
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cql
from cql import ast, dates, fields
from cql.ast import And, Clause, Date, FunctionCall, List, Not, Number, Op, Or, String

MIX = Path(__file__).with_name("queries") / "parse_mix.cql"
TARGET_QPS = 7_000
TARGET_RATIO = 3.0
#: A fixed clock for turning date functions into Whoosh date terms.
CLOCK = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def load_queries(path: Path = MIX) -> list[str]:
    """One query per line; blank lines and ``#`` comments skipped (the harness's format,
    which also allows ``name<TAB>cql``)."""
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        out.append((raw.split("\t", 1)[1] if "\t" in raw else raw).strip())
    return out


# --- CQL -> Whoosh query syntax (untimed) ----------------------------------------------


def _whoosh_field(name: str) -> str:
    """Whoosh's query syntax takes ``\\w+`` field names: ``space.title`` -> ``space_title``."""
    return re.sub(r"\W+", "_", name).strip("_")


def whoosh_schema() -> Any:
    """A schema with a field of the right kind for every CQL field."""
    from whoosh.fields import DATETIME, ID, KEYWORD, TEXT, Schema

    kinds = {fields.Kind.DATE: DATETIME, fields.Kind.TEXT: TEXT, fields.Kind.TITLE: TEXT,
             fields.Kind.STRING: KEYWORD}
    spec = {_whoosh_field(f.name): kinds.get(f.kind, ID)() for f in fields.FIELDS}
    spec["content_property"] = TEXT()
    return Schema(**spec)


def _term(value: str) -> str:
    """A single Whoosh term: bare when it is a plain word, else single-quoted."""
    if re.fullmatch(r"[\w\-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _date_term(value: ast.Scalar) -> str:
    """A CQL date (literal or function) as Whoosh's ``YYYYMMDD[HHMM]``."""
    if isinstance(value, FunctionCall):
        inc = dates.parse_increment(value.args[0].value, lenient=True) \
            if value.args and isinstance(value.args[0], String) else None
        moment = dates.evaluate_function(value.name, inc, CLOCK, UTC)
        return moment.strftime("%Y%m%d%H%M")
    raw = value.value if isinstance(value, String) else value.text  # type: ignore[union-attr]
    start, width = dates.parse_literal(raw)
    return start.strftime("%Y%m%d%H%M" if width.days == 0 else "%Y%m%d")


def _text_terms(value: str) -> str:
    """The text-search string as a Whoosh group: phrases kept, operators and words as typed."""
    inner = value.replace('\\"', '"')
    return "(" + inner + ")" if inner.strip() else "('')"


def _values(field: str, value: ast.Value) -> list[str]:
    items = value.items if isinstance(value, List) else (value,)
    out: list[str] = []
    for item in items:
        if isinstance(item, FunctionCall):  # list and user functions: a fixed stand-in
            if item.name in ("favouriteSpaces", "recentlyViewedSpaces"):
                out += [f"{field}:DEV", f"{field}:OPS"]
            elif item.name == "recentlyViewedContent":
                out += [f"{field}:{n}" for n in (101, 102, 103)]
            elif item.name == "currentSpace":
                out.append(f"{field}:DEV")
            else:
                out.append(f"{field}:{_term('5b6d7f20e6dba529eefdbad9')}")
        elif isinstance(item, String):
            out.append(f"{field}:{_term(item.value)}")
        else:
            assert isinstance(item, Number | Date)
            out.append(f"{field}:{_term(item.text)}")
    return out


_RANGES = {Op.GT: "{{{} TO]", Op.GE: "[{} TO]", Op.LT: "[TO {}}}", Op.LE: "[TO {}]"}


def _clause(clause: Clause) -> str:
    spec = fields.lookup(clause.field)
    field = _whoosh_field(clause.field)
    if clause.field.startswith(fields.PROPERTY_PREFIX):
        field = "content_property"
    if spec is not None and spec.kind is fields.Kind.DATE:
        assert not isinstance(clause.value, List)
        term = _date_term(clause.value)
        if clause.op in _RANGES:
            return f"{field}:{_RANGES[clause.op].format(term)}"
        return f"{'NOT ' if clause.op is Op.NE else ''}{field}:{term}"
    if clause.op in (Op.CONTAINS, Op.NOT_CONTAINS):
        assert isinstance(clause.value, String)
        text = f"{field}:{_text_terms(clause.value.value)}"
        return f"NOT {text}" if clause.op is Op.NOT_CONTAINS else text
    if clause.op in _RANGES:
        value = clause.value
        raw = value.text if isinstance(value, Number | Date) else getattr(value, "value", "")
        return f"{field}:{_RANGES[clause.op].format(_term(raw))}"
    terms = _values(field, clause.value)
    body = terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"
    return f"NOT {body}" if clause.op.is_negative else body


def to_whoosh(expr: ast.Expr | None) -> str:
    """Whoosh query syntax meaning (near enough for parsing cost) what ``expr`` means.
    Sorting has no place in Whoosh's query syntax, so ORDER BY is left out."""
    if expr is None:
        return "*"
    if isinstance(expr, Clause):
        return _clause(expr)
    if isinstance(expr, Not):
        return f"NOT ({to_whoosh(expr.operand)})"
    joiner = " AND " if isinstance(expr, And) else " OR "
    parts = [to_whoosh(op) for op in expr.operands]
    inner = joiner.join(f"({p})" if isinstance(op, And | Or) else p
                        for p, op in zip(parts, expr.operands, strict=True))
    return inner


# --- measuring --------------------------------------------------------------------------


def _time(fn: Callable[[], None]) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(queries: list[str], repeat: int) -> dict[str, Any]:
    """Median queries/s of raw Lark, ``cql`` (parse+validate+normalize) and Whoosh's parser
    over ``queries`` (those ``cql`` rejects are counted and left out of every column)."""
    from whoosh.qparser import QueryParser

    from cql.parser import raw_parser

    repeat = max(1, repeat)
    valid: list[str] = []
    rejected = 0
    for text in queries:
        try:
            cql.parse(text)
        except cql.CqlError:
            rejected += 1
        else:
            valid.append(text)
    if not valid:
        raise ValueError("no valid query to measure")
    translated = [to_whoosh(cql.normalize(cql.parse(t)).where) for t in valid]
    lark = raw_parser()
    whoosh = QueryParser("text", whoosh_schema())
    parse, normalize = cql.parse, cql.normalize
    lark_parse, whoosh_parse = lark.parse, whoosh.parse

    def run_lark() -> None:
        for text in valid:
            lark_parse(text)

    def run_cql() -> None:
        for text in valid:
            normalize(parse(text))

    def run_whoosh() -> None:
        for text in translated:
            whoosh_parse(text)

    runners = {"lark-raw": run_lark, "cql": run_cql, "whoosh": run_whoosh}
    for fn in runners.values():  # warm-up: caches, lazy imports, the allocator
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for i in range(repeat):
        for name in names[i % 3:] + names[:i % 3]:  # rotate who goes first
            seconds[name].append(_time(runners[name]))
    n = len(valid)
    qps = {name: [n / s for s in runs] for name, runs in seconds.items()}
    median = {name: statistics.median(v) for name, v in qps.items()}
    return {
        "queries": n,
        "rejected": rejected,
        "repeat": repeat,
        "queries_per_s": round(median["cql"], 1),
        "median_queries_per_s": {k: round(v, 1) for k, v in median.items()},
        "range_queries_per_s": {k: [round(min(v), 1), round(max(v), 1)] for k, v in qps.items()},
        "ratio_cql_vs_whoosh": round(median["cql"] / median["whoosh"], 2),
        "ratio_cql_vs_lark_raw": round(median["cql"] / median["lark-raw"], 2),
        "targets": {
            "cql_queries_per_s": TARGET_QPS,
            "cql_vs_whoosh": TARGET_RATIO,
            "met": median["cql"] >= TARGET_QPS
            and median["cql"] / median["whoosh"] >= TARGET_RATIO,
        },
        "sample_translation": {"cql": valid[0], "whoosh": translated[0]},
        "python": platform.python_version(),
    }


def table(result: dict[str, Any]) -> str:
    med, rng = result["median_queries_per_s"], result["range_queries_per_s"]
    rows = [
        ("lark-raw", "Lark LALR, our grammar, parse tree only"),
        ("cql", "cql.parse + cql.normalize (parse, AST, validate, normalize)"),
        ("whoosh", "whoosh.qparser.QueryParser.parse, equivalent queries"),
    ]
    lines = [
        f"{result['queries']} queries x {result['repeat']} repeats "
        f"(Python {result['python']}; {result['rejected']} rejected and left out)",
        "",
        "| parser | what is timed | queries/s (median) | min - max | cql is |",
        "|---|---|---:|---:|---:|",
    ]
    for name, what in rows:
        ratio = med["cql"] / med[name]
        lines.append(f"| {name} | {what} | {med[name]:,.0f} | {rng[name][0]:,.0f} - "
                     f"{rng[name][1]:,.0f} | {ratio:.2f}x |")
    t = result["targets"]
    lines += ["", f"targets: cql >= {t['cql_queries_per_s']:,} q/s and >= "
              f"{t['cql_vs_whoosh']}x whoosh: {'met' if t['met'] else 'MISSED'}"]
    return "\n".join(lines)


def profile(queries: list[str], top: int = 20) -> str:
    """cProfile of the ``cql`` column, for finding where the time goes."""
    for text in queries:
        cql.normalize(cql.parse(text))
    prof = cProfile.Profile()
    prof.enable()
    for text in queries:
        try:
            cql.normalize(cql.parse(text))
        except cql.CqlError:
            pass
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.parse_bench",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="timed passes per parser (7)")
    ap.add_argument("--file", type=Path, default=MIX, help="queries, one per line")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the result as JSON")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the cql pass")
    args = ap.parse_args(argv)
    queries = load_queries(args.file)
    result = run(queries, args.repeat)
    from benchmarks.report import print_for_terminal

    print_for_terminal(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.profile:
        print(profile(queries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
