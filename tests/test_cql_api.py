"""The public API of ``cql`` end to end, as a caller outside the package sees it."""

from __future__ import annotations

import dataclasses
import doctest
import json
import pickle
import subprocess
import sys

import pytest

import cql
from cql import ast
from cql.ast import And, Clause, FunctionCall, Number, Op, Query, SortKey, String


def test_public_names() -> None:
    assert set(cql.__all__) == {"CqlError", "ErrorCode", "ast", "normalize",
                                "normalize_report", "parse", "quote", "to_cql"}
    for name in cql.__all__:
        assert getattr(cql, name).__doc__, f"{name} has no docstring"


def test_package_docstring_example_runs() -> None:
    result = doctest.testmod(cql, verbose=False)
    assert result.attempted >= 3 and result.failed == 0


def test_parse_normalize_print_round_trip() -> None:
    query = cql.parse("type = smartlink and space = DEV order by created desc")
    assert query == Query(
        And((Clause("type", Op.EQ, String("smartlink")), Clause("space", Op.EQ, String("DEV")))),
        (SortKey("created", descending=True),),
    )
    assert cql.to_cql(query) == "type = smartlink AND space = DEV ORDER BY created DESC"
    assert cql.to_cql(cql.normalize(query)) == \
        "type = embed AND space = DEV ORDER BY created DESC"


def test_to_cql_prints_expressions_too() -> None:
    where = cql.parse("label = a OR (label = b AND label = 'c d')").where
    assert where is not None
    assert cql.to_cql(where) == 'label = a OR label = b AND label = "c d"'


def test_trees_are_frozen() -> None:
    query = cql.parse("label = x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.where = None  # type: ignore[misc]


def test_dialect_is_checked() -> None:
    with pytest.raises(ValueError, match="dialect"):
        cql.parse("label = x", dialect="loose")
    with pytest.raises(TypeError):
        cql.parse("label = x", "lenient")  # type: ignore[misc]  # keyword-only


# --- errors -------------------------------------------------------------------------


def test_syntax_error_attributes() -> None:
    text = "space = DEV\nAND label = x\nAND title ="
    with pytest.raises(cql.CqlError) as info:
        cql.parse(text)
    err = info.value
    assert err.code is cql.ErrorCode.SYNTAX
    assert err.code == "syntax"  # a StrEnum: compares with its wire value
    assert err.message == "missing value: a value must follow the operator"
    assert (err.offset, err.end) == (len(text), len(text))
    assert (err.line, err.column) == (3, 12)
    assert err.expected == ("a value",)
    assert err.query == text
    assert str(err) == (
        "line 3, column 12: missing value: a value must follow the operator\n"
        "AND title =\n"
        "           ^"
    )
    assert err.to_dict() == {
        "code": "syntax", "message": err.message, "line": 3, "column": 12,
        "offset": len(text), "end": len(text), "expected": ["a value"],
    }
    json.dumps(err.to_dict())


def test_validation_error_attributes() -> None:
    text = "type = page AND label ~ x"
    with pytest.raises(cql.CqlError) as info:
        cql.parse(text)
    err = info.value
    assert err.code is cql.ErrorCode.OPERATOR_NOT_ALLOWED
    assert text[err.offset:err.end] == "label ~ x"
    assert (err.line, err.column) == (1, 17)
    assert err.expected == ()
    assert "expected" not in err.to_dict()
    assert set(err.to_dict()) == {"code", "message", "line", "column", "offset", "end"}
    assert str(err).splitlines() == [
        "line 1, column 17: " + err.message,
        text,
        " " * 16 + "^" * len("label ~ x"),
    ]


def test_caret_keeps_tabs_so_it_lines_up() -> None:
    text = "type = page\tAND\tlabel = a.b"
    with pytest.raises(cql.CqlError) as info:
        cql.parse(text)
    caret = str(info.value).splitlines()[2]
    assert caret == "\t".join(["           ", "   ", "        ^^^"])


def test_error_spanning_lines_carets_to_the_end_of_its_first_line() -> None:
    text = 'title = "abc\ndef'
    with pytest.raises(cql.CqlError) as info:
        cql.parse(text)
    err = info.value
    assert (err.offset, err.end) == (8, len(text))
    assert str(err).splitlines()[1:] == ['title = "abc', "        ^^^^"]


def test_errors_pickle() -> None:
    with pytest.raises(cql.CqlError) as info:
        cql.parse("label IN ()")
    err = info.value
    copy = pickle.loads(pickle.dumps(err))
    assert isinstance(copy, cql.CqlError)
    assert copy.to_dict() == err.to_dict() and str(copy) == str(err)


def test_error_codes_are_stable_strings() -> None:
    values = {code.value for code in cql.ErrorCode}
    assert {"syntax", "unknown_field", "operator_not_allowed", "reserved_word",
            "negative_first", "bad_date", "bad_increment", "unknown_function",
            "bad_arguments", "not_sortable", "unknown_type", "needs_context", "permission",
            "too_large"} <= values
    assert all(v == v.lower() and " " not in v for v in values)


def test_cql_error_is_an_exception_with_the_rendered_text() -> None:
    err = cql.CqlError("bad_date", "nope", "created = x", 10, 11)
    assert isinstance(err, Exception)
    assert err.args == (str(err),)
    assert err.code is cql.ErrorCode.BAD_DATE
    assert (err.line, err.column) == (1, 11)


def test_error_spans_are_clamped_to_the_text() -> None:
    err = cql.CqlError("syntax", "x", "abc", 10, 20)
    assert (err.offset, err.end) == (3, 3)
    err = cql.CqlError("syntax", "x", "abc", 1)
    assert (err.offset, err.end) == (1, 2)


# --- quote ----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "quoted"), [
    ("DEV", '"DEV"'),
    ("", '""'),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("it's", '"it\'s"'),
    ("order", '"order"'),
    ("~jsmith", '"~jsmith"'),
    ("a\nb", '"a\nb"'),
])
def test_quote(value: str, quoted: str) -> None:
    assert cql.quote(value) == quoted
    assert cql.parse(f"label = {quoted}").where == Clause("label", Op.EQ, String(value))


def test_quote_builds_safe_queries_from_user_input() -> None:
    hostile = '" OR space = SECRET OR label = "'
    query = cql.parse(f"label = {cql.quote(hostile)} AND space = DEV")
    assert query.where == And((Clause("label", Op.EQ, String(hostile)),
                               Clause("space", Op.EQ, String("DEV"))))


# --- normalize ------------------------------------------------------------------------


def test_normalize_report_names_the_passes_in_order() -> None:
    query = cql.parse("type = smartlink AND (favorite = currentUser() AND type = embed)")
    normalized, fired = cql.normalize_report(query)
    assert fired == ["field_aliases", "smartlink_to_embed", "flatten", "drop_duplicates"]
    assert cql.to_cql(normalized) == "type = embed AND favourite = currentUser()"
    assert cql.normalize(query) == normalized


def test_normalize_returns_the_same_object_when_nothing_fires() -> None:
    query = cql.parse("type = page AND label = x ORDER BY created")
    assert cql.normalize_report(query) == (query, [])
    assert cql.normalize(query) is query


def test_canonical_names_pass_fires_on_hand_built_trees() -> None:
    # The parser already spells fields and functions canonically; trees built by code
    # (an embedder, the REPL) may not.
    query = Query(
        And((Clause("LastModified", Op.GT, FunctionCall("NOW", (String("-1d"),))),
             Clause("SPACE.KEY", Op.EQ, String("DEV")))),
        (SortKey("Title"),),
    )
    normalized, fired = cql.normalize_report(query)
    assert fired == ["canonical_names", "field_aliases"]
    assert cql.to_cql(normalized) == 'lastmodified > now("-1d") AND space = DEV ORDER BY title'


def test_normalize_keeps_spans_of_untouched_nodes() -> None:
    text = "label = a AND type = smartlink"
    normalized = cql.normalize(cql.parse(text))
    assert isinstance(normalized.where, And)
    label, kind = normalized.where.operands
    assert text[label.span.start:label.span.end] == "label = a"
    assert text[kind.span.start:kind.span.end] == "type = smartlink"


def test_node_types_a_backend_needs() -> None:
    query = cql.parse("id IN (1, recentlyViewedContent(5)) AND created > 2020-01-01 "
                      "ORDER BY title")
    assert isinstance(query.where, And)
    ids, created = query.where.operands
    assert isinstance(ids, Clause) and isinstance(ids.value, ast.List)
    assert ids.value.items == (Number("1"), FunctionCall("recentlyViewedContent", (Number("5"),)))
    assert isinstance(created, Clause) and created.value == ast.Date("2020-01-01")
    assert ast.clauses(query.where) == [ids, created]


# --- import hygiene -----------------------------------------------------------------


def test_import_cql_imports_neither_whoosh_nor_index() -> None:
    code = (
        "import sys, cql\n"
        "cql.normalize(cql.parse('type = page'))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('whoosh', 'index'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("text", [
    "plain ascii", "日本語のテキスト", "😀 smile", "e\u0301te\u0301", "👨\u200d👩\u200d👧",
    "🇫🇷🇩🇪", "\u2764\ufe0f love", "ｆｕｌｌ", "한국어", "👍🏽 ok", "mixed 中 and ✓"])
def test_display_width_agrees_with_the_table_renderer(text: str) -> None:
    """The caret (cql.width, standard library only) and the tables (rich's cell widths)
    must measure alike, or a caret and a table would disagree about the same text."""
    from rich.cells import cell_len

    from cql.width import display_width

    assert display_width(text) == cell_len(text)
