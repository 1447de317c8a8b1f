"""Runs the data-driven CQL cases in ``tests/cases/`` and checks that they cover the language.

The cases are data so that a reviewer can read the language's behaviour line by line:

* ``valid.jsonl``: ``cql`` parses (in ``dialect``, default strict) and normalizes to the
  ``canonical`` text, which is a fixed point (it parses back to the same tree).
* ``invalid.jsonl``: ``cql`` raises ``CqlError`` with ``code`` at ``line``/``column``
  (1-based; line defaults to 1) and a message containing ``message_contains``.
* ``documented.jsonl``: every example query of docs/sources.md (CQL), with its canonical form
  or the code we reject it with, and a note saying why.
* ``normalize.jsonl``: the normalized text and the names of the passes that fired.

The coverage tests at the end make the claims "every field, operator, function and error
code" checkable instead of hopeful. Size limits are generated here rather than stored,
since a 64 KiB line helps no reader.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

import cql
from cql import ast, fields, functions
from cql.ast import And, Clause, FunctionCall, List, Not, Op, Or, String
from cql.parser import MAX_QUERY_LENGTH, _fast_parse, _lark_parse, parse_syntax
from cql.validate import MAX_CLAUSES, MAX_DEPTH, MAX_LIST

CASES = Path(__file__).parent / "cases"
#: Lark terminal names that must never reach a user.
TERMINAL_NAMES = {"FIELD", "WORD", "STRING", "CMP", "LPAR", "RPAR", "COMMA", "$END", "ORDER",
                  "AND_", "__ANON"}
#: Codes only the engine raises (it needs a caller or a context to know).
ENGINE_ONLY = {cql.ErrorCode.NEEDS_CONTEXT, cql.ErrorCode.PERMISSION}


def _load(name: str) -> list[dict[str, Any]]:
    lines = (CASES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _cases(name: str) -> list[Any]:
    """pytest params with readable ids: line number and the note (or the query)."""
    params = []
    for n, case in enumerate(_load(name), start=1):
        label = case.get("note") or case["cql"]
        label = re.sub(r"\s+", " ", f"{case['cql']!r} {label}")[:90]
        params.append(pytest.param(case, id=f"{n:03d} {label}"))
    return params


VALID = _load("valid.jsonl")
INVALID = _load("invalid.jsonl")
DOCUMENTED = _load("documented.jsonl")
NORMALIZE = _load("normalize.jsonl")


def _canonical(text: str, dialect: str) -> str:
    return cql.to_cql(cql.normalize(cql.parse(text, dialect=dialect)))


def _exact(node: object) -> object:
    """A node with everything equality ignores (spans, ``bare``) made visible."""
    if isinstance(node, tuple):
        return tuple(_exact(n) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,) + tuple(
            (f.name, _exact(getattr(node, f.name))) for f in dataclasses.fields(node)
        )
    return node


def _check_both_parsers(text: str) -> None:
    """The fast reader answers exactly as Lark does, or leaves the text to Lark."""
    fast = _fast_parse(text)
    try:
        reference = _lark_parse(text)
    except cql.CqlError:
        assert fast is None, "the fast path accepted text that Lark rejects"
        return
    if fast is not None:
        assert _exact(fast) == _exact(reference)


def _check_error(err: cql.CqlError, case: dict[str, Any]) -> None:
    text = case["cql"]
    where = f"{err.code.value} at {err.line}:{err.column}: {err.message}"
    assert err.code.value == case["code"], where
    assert err.column == case["column"], where
    assert err.line == case.get("line", 1), where
    if "message_contains" in case:
        assert case["message_contains"] in err.message, where
    assert 0 <= err.offset <= err.end <= len(text)
    rendered = str(err)
    assert rendered.startswith(f"line {err.line}, column {err.column}: "), rendered
    if text:
        lines = rendered.split("\n")
        assert lines[1] == text.split("\n")[err.line - 1]
        assert lines[2].index("^") == err.column - 1, rendered
        assert set(lines[2][err.column - 1:]) == {"^"}
    for word in err.expected:
        assert word not in TERMINAL_NAMES and not word.startswith("__"), err.expected


# --- the four files -------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("valid.jsonl"))
def test_valid(case: dict[str, Any]) -> None:
    dialect = case.get("dialect", "strict")
    canonical = case["canonical"]
    assert _canonical(case["cql"], dialect) == canonical
    # The canonical text is a fixed point, in the same dialect.
    normalized = cql.normalize(cql.parse(case["cql"], dialect=dialect))
    assert cql.parse(canonical, dialect=dialect) == normalized
    assert _canonical(canonical, dialect) == canonical
    if dialect == "strict":  # lenient only adds: what strict accepts, lenient accepts alike
        assert _canonical(case["cql"], "lenient") == canonical
    _check_both_parsers(case["cql"])
    assert _fast_parse(canonical) is not None, "canonical text takes the fast path"


@pytest.mark.parametrize("case", _cases("invalid.jsonl"))
def test_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(cql.CqlError) as info:
        cql.parse(case["cql"], dialect=case.get("dialect", "strict"))
    _check_error(info.value, case)
    _check_both_parsers(case["cql"])


@pytest.mark.parametrize("case", _cases("documented.jsonl"))
def test_documented(case: dict[str, Any]) -> None:
    dialect = case.get("dialect", "strict")
    assert case.get("section") and ("canonical" in case) != ("code" in case)
    if "canonical" in case:
        assert _canonical(case["cql"], dialect) == case["canonical"]
        return
    assert case.get("note"), "a rejected documented example needs a note saying why"
    with pytest.raises(cql.CqlError) as info:
        cql.parse(case["cql"], dialect=dialect)
    _check_error(info.value, case)


@pytest.mark.parametrize("case", _cases("normalize.jsonl"))
def test_normalize(case: dict[str, Any]) -> None:
    dialect = case.get("dialect", "strict")
    query = cql.parse(case["cql"], dialect=dialect)
    normalized, fired = cql.normalize_report(query)
    assert cql.to_cql(normalized) == case["normalized"]
    assert fired == case["fired"]
    assert cql.normalize_report(normalized) == (normalized, [])
    assert cql.parse(case["normalized"], dialect=dialect) == normalized


# --- size limits (too_large) ----------------------------------------------------------


def _in_list(n: int) -> str:
    return "label IN (" + ", ".join(f"v{i}" for i in range(n)) + ")"


def _clauses(n: int, joiner: str = " AND ") -> str:
    return joiner.join(f"label = v{i}" for i in range(n))


def _nested(levels: int) -> str:
    """``label = n AND (label = n-1 OR (...))``: ``levels`` nested AND/OR nodes, so the
    innermost clauses sit at depth ``levels + 1``."""
    text = "label = a OR label = b"
    for i in range(levels - 1):
        text = f"label = v{i} {'AND' if i % 2 == 0 else 'OR'} ({text})"
    return text


LIMITS = [
    # (id, text, dialect, too large?, the text the error points at)
    ("query at 64 KiB", "label = " + '"' + "x" * (MAX_QUERY_LENGTH - 10) + '"', "strict",
     False, None),
    ("query over 64 KiB", "label = " + '"' + "x" * MAX_QUERY_LENGTH + '"', "strict", True,
     "x" * 9 + '"'),
    ("IN list of 1,000", _in_list(MAX_LIST), "strict", False, None),
    ("IN list of 1,001", _in_list(MAX_LIST + 1), "strict", True, "(v0, v1"),
    ("NOT IN list of 1,001", "type = page AND label NOT IN ("
     + ", ".join(str(i) for i in range(MAX_LIST + 1)) + ")", "strict", True, "(0, 1"),
    ("1,000 clauses", _clauses(MAX_CLAUSES), "strict", False, None),
    ("1,001 clauses with AND", _clauses(MAX_CLAUSES + 1), "strict", True, "label = v1000"),
    ("1,001 clauses with OR", _clauses(MAX_CLAUSES + 1, " OR "), "strict", True,
     "label = v1000"),
    ("nesting at the limit", _nested(MAX_DEPTH - 1), "strict", False, None),
    ("nesting over the limit", _nested(MAX_DEPTH), "strict", True, "label = a"),
    ("NOT chain at the limit", "NOT " * (MAX_DEPTH - 1) + "label = x", "lenient", False,
     None),
    ("NOT chain over the limit", "NOT " * MAX_DEPTH + "label = x", "lenient", True,
     "label = x"),
    ("16,000 NOTs", "NOT " * 16_000 + "label = x", "lenient", True, "NOT NOT"),
    ("5,000 redundant parentheses", "(" * 5000 + "label = x" + ")" * 5000, "strict", False,
     None),
]


@pytest.mark.parametrize(("text", "dialect", "too_large", "points_at"),
                         [pytest.param(*rest, id=name) for name, *rest in LIMITS])
def test_size_limits(text: str, dialect: str, too_large: bool, points_at: str | None) -> None:
    if not too_large:
        assert isinstance(cql.parse(text, dialect=dialect), ast.Query)
        return
    with pytest.raises(cql.CqlError) as info:
        cql.parse(text, dialect=dialect)
    err = info.value
    assert err.code is cql.ErrorCode.TOO_LARGE
    assert text[err.offset:err.end].startswith(points_at), text[err.offset:err.offset + 40]
    assert str(err).startswith(f"line 1, column {err.offset + 1}: ")


def test_the_1001st_clause_is_the_one_reported() -> None:
    text = _clauses(MAX_CLAUSES + 5)
    with pytest.raises(cql.CqlError) as info:
        cql.parse(text)
    assert text[info.value.offset:info.value.end] == f"label = v{MAX_CLAUSES}"


# --- precedence and shape -------------------------------------------------------------


def _c(value: str, field: str = "label") -> Clause:
    return Clause(field, Op.EQ, String(value))


@pytest.mark.parametrize(("text", "tree"), [
    pytest.param("label = a OR label = b AND label = c",
                 Or((_c("a"), And((_c("b"), _c("c"))))), id="AND binds tighter than OR"),
    pytest.param("label = a AND label = b OR label = c",
                 Or((And((_c("a"), _c("b"))), _c("c"))), id="AND first, then OR"),
    pytest.param("(label = a OR label = b) AND label = c",
                 And((Or((_c("a"), _c("b"))), _c("c"))), id="parentheses override"),
    pytest.param("NOT label = a AND label = b",
                 And((Not(_c("a")), _c("b"))), id="NOT binds tighter than AND"),
    pytest.param("NOT label = a OR label = b AND NOT label = c",
                 Or((Not(_c("a")), And((_c("b"), Not(_c("c")))))), id="NOT, AND, OR"),
    pytest.param("label = a AND label = b AND label = c",
                 And((_c("a"), _c("b"), _c("c"))), id="a run of ANDs is one node"),
    pytest.param("label = a OR label = b OR label = c",
                 Or((_c("a"), _c("b"), _c("c"))), id="a run of ORs is one node"),
    pytest.param("label = a AND (label = b AND label = c)",
                 And((_c("a"), And((_c("b"), _c("c"))))), id="groups keep their shape"),
    pytest.param("NOT NOT label = a", Not(Not(_c("a"))), id="NOT NOT"),
    pytest.param("NOT (label = a OR label = b)", Not(Or((_c("a"), _c("b")))), id="NOT group"),
])
def test_precedence(text: str, tree: ast.Expr) -> None:
    assert parse_syntax(text).where == tree
    assert parse_syntax(cql.to_cql(tree)).where == tree


def test_spans_point_into_the_text() -> None:
    text = "space = DEV AND label IN (a, 'b c') ORDER BY created DESC"
    query = cql.parse(text)
    assert isinstance(query.where, And)
    space, label = query.where.operands
    assert isinstance(space, Clause) and isinstance(label, Clause)
    assert isinstance(label.value, List)

    def at(node: Any) -> str:
        return text[node.span.start:node.span.end]

    assert at(query) == text
    assert at(query.where) == "space = DEV AND label IN (a, 'b c')"
    assert at(space) == "space = DEV"
    assert at(space.value) == "DEV"
    assert at(label.value) == "(a, 'b c')"
    assert [at(v) for v in label.value.items] == ["a", "'b c'"]
    assert at(query.order_by[0]) == "created DESC"


def test_span_is_not_part_of_equality() -> None:
    assert cql.parse("label = x") == cql.parse("  label   =   'x'  ")


# --- coverage of the cases themselves ----------------------------------------------------


def _parsed_valid_clauses() -> list[tuple[str, Clause]]:
    out = []
    for case in VALID + [c for c in DOCUMENTED if "canonical" in c]:
        query = cql.parse(case["cql"], dialect=case.get("dialect", "strict"))
        out.extend((case["cql"], c) for c in ast.clauses(query.where))
    return out


def _field_of(name: str) -> str:
    spec = fields.lookup(name)
    assert spec is not None
    return spec.name


def test_every_field_and_allowed_operator_has_a_valid_case() -> None:
    seen = {(_field_of(c.field), c.op) for _, c in _parsed_valid_clauses()}
    missing = [
        (spec.name, op.value)
        for spec in (*fields.FIELDS, fields.PROPERTY) if not spec.user_search_only
        for op in spec.ops if (spec.name, op) not in seen
    ]
    assert missing == []


def _last_field(text: str) -> str:
    """The field of the last clause: the one an operator case is about."""
    return _field_of(ast.clauses(parse_syntax(text).where)[-1].field)


def test_every_field_has_a_case_with_a_rejected_operator() -> None:
    rejected = {_last_field(case["cql"]) for case in INVALID
                if case["code"] in ("operator_not_allowed", "user_search_field")}
    missing = [s.name for s in fields.FIELDS if s.name not in rejected]
    assert missing == []


def test_every_function_is_used_well_and_badly() -> None:
    used = set()
    for _, clause in _parsed_valid_clauses():
        values = clause.value.items if isinstance(clause.value, List) else (clause.value,)
        used.update(v.name for v in values if isinstance(v, FunctionCall))
    assert used == {f.name for f in functions.FUNCTIONS}
    misused: dict[str, set[str]] = {}
    for case in INVALID:
        for name in re.findall(r"(\w+)\(", case["cql"]):
            misused.setdefault(functions.canonical_name(name), set()).add(case["code"])
    for fn in functions.FUNCTIONS:
        assert misused.get(fn.name, set()) & {"function_not_allowed", "bad_arguments",
                                              "bad_increment"}, fn.name
    all_codes = set().union(*misused.values())
    assert {"unknown_function", "function_not_allowed", "bad_arguments",
            "bad_increment"} <= all_codes


def test_every_error_code_has_a_case() -> None:
    codes = {case["code"] for case in INVALID} | {"too_large"}  # too_large: test_size_limits
    expected = {code.value for code in cql.ErrorCode if code not in ENGINE_ONLY}
    assert expected - codes == set()


def test_every_reserved_word_and_character_is_rejected_bare() -> None:
    from cql.words import RESERVED_CHARS, RESERVED_WORDS

    words = {case["cql"].removeprefix("label = ").lower() for case in INVALID
             if case["code"] == "reserved_word"}
    assert RESERVED_WORDS <= words
    chars = {ch for case in INVALID if case["code"] == "reserved_character"
             for ch in case["cql"] if ch in RESERVED_CHARS}
    assert chars == set(RESERVED_CHARS)


def test_case_counts() -> None:
    assert len(VALID) + len(INVALID) + len(DOCUMENTED) + len(NORMALIZE) >= 300
    assert {c.get("dialect", "strict") for c in VALID} == {"strict", "lenient"}
    assert {c.get("dialect", "strict") for c in INVALID} == {"strict", "lenient"}


# --- the parser benchmark's mix stays valid (it is data too) -----------------------------


def test_parse_benchmark_mix_is_valid_and_translatable() -> None:
    from benchmarks import parse_bench

    queries = parse_bench.load_queries()
    assert len(queries) >= 1000
    for text in queries:
        query = cql.normalize(cql.parse(text))
        assert parse_bench.to_whoosh(query.where)
    result = parse_bench.run(queries[:40], repeat=1)
    assert result["queries"] == 40 and result["rejected"] == 0
    assert result["queries_per_s"] > 0
    assert set(result["median_queries_per_s"]) == {"lark-raw", "cql", "whoosh"}
