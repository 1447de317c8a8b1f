"""Properties of the CQL front end that no list of examples can pin down.

1. Printing and parsing are inverses: ``parse_syntax(to_cql(ast)) == ast`` for any tree
   the parser can produce, and ``parse(to_cql(q)) == q`` for trees that validate.
2. Any text either parses or raises :class:`CqlError` with a span inside the text: never
   another exception, never a position that a front end cannot draw a caret under.
3. ``normalize`` is idempotent and its output prints to text that parses back to it.
4. ``quote`` is safe for any user input: ``label = <quote(s)>`` means exactly ``s``.

Along the way every text also goes through both parsers of ``cql.parser``: when the fast
reader answers, its tree (spans included) must be exactly the one Lark builds.

Example counts come from the Hypothesis profile (tests/conftest.py); ``_n`` scales them
per test so the ``long`` profile scales every test alike.
"""

from __future__ import annotations

import dataclasses
import re

from hypothesis import given, settings
from hypothesis import strategies as st

import cql
from cql import ast, fields, functions, textsearch
from cql.ast import And, Clause, Date, FunctionCall, List, Not, Number, Op, Or, Query, SortKey
from cql.ast import String as Str
from cql.errors import line_and_column
from cql.normalize import PASSES, is_normal, run_passes
from cql.parser import _fast_parse, _lark_parse, parse_syntax
from cql.words import KEYWORDS, RESERVED_WORDS


def _n(factor: float) -> settings:
    """The profile's example count times ``factor``."""
    return settings(max_examples=max(10, int(settings.default.max_examples * factor)))


# --- (1a) trees the parser can produce ----------------------------------------------

FIELD_NAMES = sorted(f.name for f in fields.FIELDS)
FUNCTION_NAMES = sorted(f.name for f in functions.FUNCTIONS)
CMP_OPS = [op for op in Op if not op.is_list]
CONTENT_FIELDS = [f for f in fields.FIELDS if not f.user_search_only]
LIST_OPS = [Op.IN, Op.NOT_IN]

_ident = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
#: What the grammar allows between the brackets of content.property[key].path.
_property_key = st.text(
    st.characters(blacklist_characters="]\"'()", blacklist_categories=("Cs",)), max_size=10
).filter(lambda k: re.fullmatch(r"[^\]\s\"'()]*", k) is not None)


def _property_fields(min_key: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda key, path: f"content.property[{key}].{'.'.join(path)}",
        _property_key.filter(lambda k: len(k) >= min_key),
        st.lists(_ident, min_size=1, max_size=3),
    )


property_fields = _property_fields(0)  # the grammar takes an empty key; validation does not
field_names = st.one_of(st.sampled_from(FIELD_NAMES), property_fields)

#: Text that stresses quoting: quotes, backslashes, reserved words and characters,
#: keywords, number and date shapes, whitespace of every kind, and anything at all.
tricky_text = st.one_of(
    st.text(),
    st.sampled_from(sorted(RESERVED_WORDS | KEYWORDS)),
    st.sampled_from(["", " ", '"', "'", "\\", '\\"', "a\\", "~jsmith", "2020-01-01", "-1",
                     "1.5", "DEV", "release-notes", "a.b", "x y", "\n", "\t", "é", "日本"]),
    st.text(alphabet="\"'\\ ()=!<>~,.*?-+AND0123456789aé\n", max_size=12),
)
strings = st.builds(Str, tricky_text)
numbers = st.from_regex(r"-?\d{1,20}(\.\d{1,6})?", fullmatch=True).map(Number)
dates = st.from_regex(r"\d{4}([-/])\d{1,2}\1\d{1,2}", fullmatch=True).map(Date)
literals = st.one_of(strings, numbers, dates)
calls = st.builds(
    FunctionCall, st.sampled_from(FUNCTION_NAMES), st.lists(literals, max_size=3).map(tuple)
)
scalars = st.one_of(literals, calls)
lists = st.lists(scalars, min_size=1, max_size=5).map(lambda items: List(tuple(items)))


@st.composite
def syntax_clauses(draw: st.DrawFn) -> Clause:
    field = draw(field_names)
    if draw(st.booleans()):
        return Clause(field, draw(st.sampled_from(LIST_OPS)), draw(st.one_of(lists, calls)))
    return Clause(field, draw(st.sampled_from(CMP_OPS)), draw(scalars))


def _trees(leaves: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            kids.map(Not),
            st.lists(kids, min_size=2, max_size=4).map(lambda ops: And(tuple(ops))),
            st.lists(kids, min_size=2, max_size=4).map(lambda ops: Or(tuple(ops))),
        ),
        max_leaves=10,
    )


sort_keys = st.lists(
    st.builds(SortKey, field_names, st.booleans()), max_size=3
).map(tuple)
syntax_queries = st.builds(Query, st.none() | _trees(syntax_clauses()), sort_keys)


@_n(3)
@given(syntax_queries)
def test_printed_syntax_tree_parses_back_to_itself(query: Query) -> None:
    text = cql.to_cql(query)
    assert parse_syntax(text) == query, text
    # Printed text is the common case: the fast path must answer it, as Lark does.
    assert _fast_parse(text) is not None, text
    _check_fast_path(text)


# --- (1b) trees that also validate --------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_digits = st.from_regex(r"[0-9]{1,12}", fullmatch=True)
content_ids = st.one_of(_digits.map(Number), _digits.map(Str))
_real_dates = st.dates().filter(lambda d: d.year >= 1000)
date_literals = st.one_of(
    st.builds(lambda d, sep: Date(d.strftime(f"%Y{sep}%m{sep}%d")), _real_dates,
              st.sampled_from("-/")),
    st.builds(lambda d, sep, h, m: Str(d.strftime(f"%Y{sep}%m{sep}%d") + f" {h:02d}:{m:02d}"),
              _real_dates, st.sampled_from("-/"), st.integers(0, 23), st.integers(0, 59)),
)
increments = st.builds(
    lambda sign, n, unit: Str(f"{sign}{n}{unit}"),
    st.sampled_from(["", "+", "-"]), st.integers(0, 999), st.sampled_from("yMwdhm"),
)
increment_args = st.one_of(st.just(()), increments.map(lambda i: (i,)))
_words = st.text(_ALNUM, min_size=1, max_size=8)


def _searchable(text: str) -> bool:
    try:
        textsearch.parse_text(text)
    except textsearch.TextSyntaxError:
        return False
    return True


search_text = st.one_of(
    st.lists(_words, min_size=1, max_size=4).map(" ".join),
    st.lists(_words, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
    st.text(max_size=20),
).filter(_searchable).map(Str)  # "OR" alone is an operator, not a term
any_literal = st.one_of(st.builds(Str, st.text(max_size=15)), numbers, dates)


def _cased(values: list[str]) -> st.SearchStrategy[Str]:
    return st.builds(
        lambda v, how: Str(v.upper() if how == 1 else v.capitalize() if how == 2 else v),
        st.sampled_from(values), st.integers(0, 2),
    )


def _literal_for(spec: fields.FieldSpec, op: Op) -> st.SearchStrategy[ast.Scalar]:
    kind = spec.kind
    if op in fields.FULLTEXT:
        return search_text
    if kind is fields.Kind.CONTENT:
        return content_ids
    if kind is fields.Kind.DATE:
        return date_literals
    if kind is fields.Kind.TYPE:
        return _cased(sorted(fields.TYPE_VALUES))
    if kind is fields.Kind.SPACE_TYPE:
        return _cased(sorted(fields.SPACE_TYPES))
    return any_literal


def _function_for(spec: fields.FieldSpec, op: Op) -> st.SearchStrategy[FunctionCall] | None:
    """A call valid for ``spec`` and ``op``, or None when the field has none."""
    options: list[st.SearchStrategy[FunctionCall]] = []
    allowed = fields.target(spec).functions | spec.functions
    for name in sorted(allowed):
        fn = functions.lookup(name)
        assert fn is not None
        if op not in fn.ops:
            continue
        if name in fields.DATE_FUNCTIONS:
            options.append(st.builds(FunctionCall, st.just(name), increment_args))
        elif name == "recentlyViewedContent":
            options.append(st.builds(
                FunctionCall, st.just(name),
                st.lists(st.one_of(_digits.map(Number), _digits.map(Str)), min_size=1,
                         max_size=2).map(tuple)))
        elif name == "recentlyViewedSpaces":
            options.append(st.builds(FunctionCall, st.just(name),
                                     _digits.map(lambda d: (Number(d),))))
        else:
            options.append(st.just(FunctionCall(name)))
    return st.one_of(options) if options else None



@st.composite
def valid_clauses(draw: st.DrawFn) -> Clause:
    if draw(st.integers(0, 9)) == 0:
        spec, name = fields.PROPERTY, draw(_property_fields(1))
    else:
        spec = draw(st.sampled_from(CONTENT_FIELDS))
        name = spec.name
    op = draw(st.sampled_from(sorted(spec.ops, key=lambda o: o.value)))
    literal = _literal_for(spec, op)
    call = _function_for(spec, op)
    if op.is_list:
        if call is not None and draw(st.booleans()):
            list_call = call.filter(lambda c: functions.lookup(c.name).ops <= {Op.IN, Op.NOT_IN})
            if draw(st.booleans()):
                return Clause(name, op, draw(list_call))
        items = draw(st.lists(literal, min_size=1, max_size=4))
        if call is not None and draw(st.booleans()):
            items.insert(draw(st.integers(0, len(items))), draw(call))
        return Clause(name, op, List(tuple(items)))
    scalar = st.one_of(literal, call) if call is not None else literal
    return Clause(name, op, draw(scalar))


SORTABLE = sorted(f.name for f in fields.FIELDS if fields.target(f).sortable)
valid_queries = st.builds(
    Query,
    _trees(valid_clauses()),
    st.lists(st.builds(SortKey, st.sampled_from(SORTABLE), st.booleans()), max_size=3)
    .map(tuple),
)


def _starts_negative(expr: ast.Expr) -> bool:
    """Whether the strict dialect's negative-first rule applies (docs/semantics.md)."""
    while isinstance(expr, And | Or):
        expr = expr.operands[0]
    return isinstance(expr, Not) or expr.op is Op.NE


@_n(3)
@given(valid_queries)
def test_printed_valid_tree_parses_and_validates_to_itself(query: Query) -> None:
    text = cql.to_cql(query)
    assert cql.parse(text, dialect="lenient") == query, text
    assert _fast_parse(text) is not None, text
    assert query.where is not None
    if not _starts_negative(query.where):
        assert cql.parse(text) == query, text


# --- (2) any text: a Query or a well-placed CqlError ---------------------------------

TOKENS = [
    "label", "space", "type", "title", "text", "created", "id", "ancestor", "creator",
    "content.property[k].p", "space.key", "Space", "foo", "=", "!=", "~", "!~", ">", ">=",
    "<", "<=", "in", "IN", "not", "NOT", "and", "AND", "or", "OR", "(", ")", ",", "order",
    "by", "ORDER BY", "asc", "desc", "DEV", "page", "smartlink", "x", '"a b"', "'q'", '"',
    "'", "\\", "now(", "now()", '"-4w"', "-4w", "currentUser()", "favouriteSpaces()",
    "recentlyViewedContent(", "10", "2020-01-01", "2020/13/40", "-3", "1.5", "~jsmith",
    "*", ".", "[", "]", "é", "\n", "\t", "\r\n", "", "  ",
]
token_soup = st.lists(
    st.tuples(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)),
              st.sampled_from(["", " ", " ", "\n"])),
    max_size=14,
).map(lambda parts: "".join(tok + sep for tok, sep in parts))


@st.composite
def plausible_clauses(draw: st.DrawFn) -> Clause:
    """A known field, usually with an operator it allows, and a value that is often one of
    its own functions, with arguments of any shape: the mistakes validation must catch."""
    spec = draw(st.sampled_from(CONTENT_FIELDS))
    ops = sorted(spec.ops, key=lambda o: o.value)
    op = draw(st.sampled_from(ops) if draw(st.integers(0, 9)) else st.sampled_from(list(Op)))
    own = sorted(fields.target(spec).functions | spec.functions)
    scalar = literals
    if own:
        own_calls = st.builds(FunctionCall, st.sampled_from(own),
                              st.lists(literals, max_size=3).map(tuple))
        scalar = st.one_of(literals, own_calls, own_calls)
    value = st.lists(scalar, min_size=1, max_size=3).map(lambda i: List(tuple(i))) \
        if op.is_list else scalar
    return Clause(spec.name, op, draw(value))


plausible_queries = st.builds(Query, _trees(plausible_clauses()), sort_keys)


@st.composite
def mutated_query_text(draw: st.DrawFn) -> str:
    """Printed trees (any field, function and argument mix, so validation sees everything
    the parser can build), then maybe cut and spliced with a token."""
    text = cql.to_cql(draw(st.one_of(syntax_queries, plausible_queries)))
    if text and draw(st.booleans()):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 6)))
        text = text[:start] + draw(st.sampled_from(TOKENS)) + text[end:]
    return text


grammar_text = st.one_of(token_soup, mutated_query_text())


LARK_TERMINALS = {"FIELD", "WORD", "STRING", "CMP", "LPAR", "RPAR", "COMMA", "$END", "ORDER"}


def _check_any_text(text: str) -> None:
    _check_fast_path(text)
    for dialect in ("strict", "lenient"):
        try:
            result = cql.parse(text, dialect=dialect)
        except cql.CqlError as err:
            assert 0 <= err.offset <= err.end <= len(text), (err.offset, err.end, len(text))
            assert (err.line, err.column) == line_and_column(text, err.offset)
            assert 1 <= err.line <= text.count("\n") + 1
            assert f"line {err.line}, column {err.column}:" in str(err)
            assert isinstance(err.code, cql.ErrorCode)
            assert not set(err.expected) & LARK_TERMINALS, err.expected
        else:
            assert isinstance(result, Query)


@_n(5)
@given(st.text())
def test_any_text_parses_or_raises_a_positioned_cql_error(text: str) -> None:
    _check_any_text(text)


@_n(10)
@given(grammar_text)
def test_cql_like_text_parses_or_raises_a_positioned_cql_error(text: str) -> None:
    _check_any_text(text)


# --- the fast path and Lark agree (checked inside the tests above) -------------------


def _exact(node: object) -> object:
    """A node with everything equality ignores (spans, ``bare``) made visible."""
    if isinstance(node, tuple):
        return tuple(_exact(n) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,) + tuple(
            (f.name, _exact(getattr(node, f.name))) for f in dataclasses.fields(node)
        )
    return node


def _reference(text: str) -> Query | None:
    try:
        return _lark_parse(text)
    except cql.CqlError:
        return None


def _check_fast_path(text: str) -> None:
    fast = _fast_parse(text)
    if fast is not None:  # the fast path may decline; when it answers, Lark agrees exactly
        reference = _reference(text)
        assert reference is not None, "fast path accepted what Lark rejects"
        assert _exact(fast) == _exact(reference)


# --- (3) normalize ------------------------------------------------------------------

#: Small pools so that duplicates, aliases and nesting come up often.
_dupe_clauses = st.one_of(
    st.sampled_from([
        "type = smartlink", "type = SmartLink", "type = page", "type IN (page, smartlink)",
        "type NOT IN (smartlink, page, page)", "favorite = currentUser()", "content = 1",
        "space.key = DEV", "space = DEV", "siteSearch ~ x", "text ~ x", "label = a",
        "label = a", 'label = "a"', "label IN (a, b, a)", "id = 1", 'id = "1"',
    ]).map(lambda t: cql.parse(t, dialect="lenient").where),
    valid_clauses(),
)
normalize_inputs = st.one_of(
    valid_queries,
    st.builds(Query, _trees(_dupe_clauses),
              st.lists(st.builds(SortKey, st.sampled_from(SORTABLE), st.booleans()),
                       max_size=4).map(tuple)),
)


@_n(3)
@given(normalize_inputs)
def test_normalize_is_idempotent_and_prints_back_to_itself(query: Query) -> None:
    once, fired = cql.normalize_report(query)
    twice, fired_again = cql.normalize_report(once)
    assert twice == once
    assert fired_again == []
    assert cql.normalize(query) == once
    assert cql.parse(cql.to_cql(once), dialect="lenient") == once


_CLAUSE_TEXTS = [
    "type = smartlink", "TYPE = SmartLink", "Type in (page, smartlink, page)", "type = page",
    "favorite = currentUser()", "Favourite = currentuser()", "content = 1", "CONTENT in (1, 2)",
    "space.key = DEV", "Space = DEV", "siteSearch ~ x", "text ~ x", "label = a", "label = 'a'",
    'label = "a"', "label not in (a, b, a)", "id = 1", "LastModified > now('-1d')",
    "created >= 2020-01-01", "title !~ win",
]
written_queries = st.recursive(
    st.sampled_from(_CLAUSE_TEXTS),
    lambda kids: st.one_of(
        kids.map(lambda k: f"({k})"),
        kids.map(lambda k: f"not {k}"),
        st.tuples(kids, st.sampled_from([" and ", " OR ", " And "]), kids)
        .map(lambda t: "".join(t)),
    ),
    max_leaves=8,
)
written_sorts = st.lists(st.sampled_from(["created", "Title desc", "space.key", "ID asc"]),
                         max_size=3).map(lambda ks: " order by " + ", ".join(ks) if ks else "")


@_n(2)
@given(written_queries, written_sorts)
def test_normalize_of_written_queries_is_idempotent(where: str, order: str) -> None:
    query = cql.parse(where + order, dialect="lenient")
    once, fired = cql.normalize_report(query)
    assert cql.normalize_report(once) == (once, [])
    assert cql.parse(cql.to_cql(once), dialect="lenient") == once
    assert set(fired) <= {name for name, _ in PASSES}


def _any_case(names: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(names).flatmap(
        lambda n: st.sampled_from([n, n.upper(), n.lower(), n.capitalize()]))


@st.composite
def odd_case_clauses(draw: st.DrawFn) -> Clause:
    """Clauses as code might build them: names in any case, aliases, duplicate items."""
    field = draw(_any_case(FIELD_NAMES))
    call = st.builds(FunctionCall, _any_case(FUNCTION_NAMES),
                     st.lists(numbers, max_size=1).map(tuple))
    item = st.one_of(st.sampled_from([Str("smartlink"), Str("SmartLink"), Str("page"),
                                      Str("a"), Number("1")]), call)
    if draw(st.booleans()):
        return Clause(field, draw(st.sampled_from(LIST_OPS)),
                      List(tuple(draw(st.lists(item, min_size=1, max_size=4)))))
    return Clause(field, draw(st.sampled_from(CMP_OPS)), draw(item))


odd_case_queries = st.builds(
    Query, st.none() | _trees(odd_case_clauses()),
    st.lists(st.builds(SortKey, _any_case(FIELD_NAMES), st.booleans()), max_size=3).map(tuple),
)


@_n(3)
@given(st.one_of(normalize_inputs, odd_case_queries, syntax_queries))
def test_is_normal_agrees_with_running_the_passes(query: Query) -> None:
    # normalize_report skips the passes when is_normal says none would fire: it must
    # never say so wrongly (a missed rewrite), nor miss the common already-normal case.
    normalized, fired = run_passes(query)
    assert is_normal(query) == (fired == [])
    assert cql.normalize_report(query) == (normalized, fired)
    assert is_normal(normalized)


# --- (4) quote ----------------------------------------------------------------------


@_n(3)
@given(tricky_text)
def test_quoted_value_parses_to_the_same_string(s: str) -> None:
    where = cql.parse("label = " + cql.quote(s)).where
    assert where == Clause("label", Op.EQ, Str(s))


@_n(2)
@given(st.lists(tricky_text, min_size=1, max_size=4))
def test_quoted_values_in_an_in_list(values: list[str]) -> None:
    text = "label IN (" + ", ".join(cql.quote(v) for v in values) + ")"
    where = cql.parse(text).where
    assert where == Clause("label", Op.IN, List(tuple(Str(v) for v in values)))


@_n(2)
@given(st.lists(tricky_text, max_size=3))
def test_quoted_function_arguments(values: list[str]) -> None:
    # Function arguments are checked against the function's signature by validation, so
    # arbitrary strings can only go through the syntax stage.
    text = "created > now(" + ", ".join(cql.quote(v) for v in values) + ")"
    where = parse_syntax(text).where
    assert where == Clause("created", Op.GT, FunctionCall("now", tuple(Str(v) for v in values)))


@given(_digits)
def test_quoted_content_ids_validate_as_function_arguments(digits: str) -> None:
    text = f"id IN recentlyViewedContent({cql.quote(digits)})"
    assert cql.parse(text).where == Clause(
        "id", Op.IN, FunctionCall("recentlyViewedContent", (Str(digits),))
    )
