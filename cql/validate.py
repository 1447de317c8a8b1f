"""Checks a parsed query against the field and function registries.

Everything here is driven by the tables in ``fields.py`` and ``functions.py``: a rule
about a field is a row there, not a branch here. Errors carry the span of the part of
the query they are about.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from cql import dates, fields, functions, textsearch
from cql.ast import (
    And,
    Clause,
    Date,
    Expr,
    FunctionCall,
    List,
    Not,
    Number,
    Op,
    Or,
    Query,
    Scalar,
    Span,
    String,
)
from cql.errors import CqlError, ErrorCode
from cql.fields import FieldSpec, Kind
from cql.functions import Arg

MAX_CLAUSES = 1000
MAX_LIST = 1000
MAX_DEPTH = 100
DIALECTS = ("strict", "lenient")

#: Which function results a field kind can compare against.


def _err(code: ErrorCode, message: str, span: Span, text: str) -> CqlError:
    return CqlError(code, message, text, span.start, span.end)


def check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {DIALECTS}, not {dialect!r}")


def validate(query: Query, text: str = "", dialect: str = "strict") -> None:
    """Raise :class:`CqlError` for the first problem found in source order."""
    check_dialect(dialect)
    lenient = dialect == "lenient"
    _check_shape(query, text)
    if query.where is None and not lenient:
        if query.order_by:
            raise _err(ErrorCode.EMPTY_QUERY,
                       "a query needs at least one clause before ORDER BY "
                       "(a query of only ORDER BY needs the lenient dialect)",
                       query.order_by[0].span, text)
        raise CqlError(ErrorCode.EMPTY_QUERY, "the query is empty", text, 0, len(text))
    if query.where is not None and not lenient:
        _check_negative_first(query.where, text)
    for clause in _clauses(query.where):
        _check_clause(clause, text, lenient)
    for key in query.order_by:
        spec = fields.lookup(key.field)
        if spec is None:
            raise _err(ErrorCode.UNKNOWN_FIELD,
                       _no_such_field(key.field), key.span, text)
        if not fields.target(spec).sortable:
            sortable = ", ".join(f.name for f in fields.FIELDS if f.sortable)
            raise _err(ErrorCode.NOT_SORTABLE,
                       f"results cannot be ordered by '{key.field}'; sortable fields: "
                       f"{sortable}", key.span, text)


def _no_such_field(name: str) -> str:
    """Confluence's message, plus the nearest known field names when there are any."""
    known = [f.name for f in fields.FIELDS if not f.user_search_only]
    near = difflib.get_close_matches(name, known, n=2, cutoff=0.75) or \
        difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=1, cutoff=0.75)
    hint = f"; did you mean {' or '.join(repr(fields.canonical_name(n)) for n in near)}?" \
        if near else ""
    return f"No field exists with the name: '{name}'{hint}"


def _clauses(expr: Expr | None) -> Iterator[Clause]:
    stack: list[Expr] = [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, Clause):
            yield node
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            stack.extend(reversed(node.operands))


def _check_shape(query: Query, text: str) -> None:
    """Size and depth limits, checked without recursion so deep input cannot crash us."""
    count = 0
    stack: list[tuple[Expr, int]] = [(query.where, 1)] if query.where is not None else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _err(ErrorCode.TOO_LARGE,
                       f"the query nests deeper than {MAX_DEPTH} levels", node.span, text)
        if isinstance(node, Clause):
            count += 1
            if count > MAX_CLAUSES:
                raise _err(ErrorCode.TOO_LARGE,
                           f"the query has more than {MAX_CLAUSES:,} clauses", node.span, text)
            if isinstance(node.value, List) and len(node.value.items) > MAX_LIST:
                raise _err(ErrorCode.TOO_LARGE,
                           f"the IN list has {len(node.value.items):,} values; "
                           f"the limit is {MAX_LIST:,}", node.value.span, text)
        elif isinstance(node, Not):
            stack.append((node.operand, depth + 1))
        elif isinstance(node, And | Or):
            # Reversed, so nodes pop in source order and the error points at the
            # 1,001st clause (or the first too-deep node), not at the last one pushed.
            stack.extend((child, depth + 1) for child in reversed(node.operands))


def _check_negative_first(expr: Expr, text: str) -> None:
    node = expr
    while True:
        if isinstance(node, Not):
            break
        if isinstance(node, And | Or):
            node = node.operands[0]
            continue
        if node.op is not Op.NE:
            return
        break
    raise _err(ErrorCode.NEGATIVE_FIRST,
               "a negative expression cannot be the first clause; start with a positive "
               "clause (or use the lenient dialect)", node.span, text)


def _check_clause(clause: Clause, text: str, lenient: bool) -> None:
    spec = fields.lookup(clause.field)
    field_span = Span(clause.span.start, clause.span.start + len(clause.field))
    if spec is None:
        raise _err(ErrorCode.UNKNOWN_FIELD,
                   _no_such_field(clause.field), field_span, text)
    if spec.user_search_only:
        raise _err(ErrorCode.USER_SEARCH_FIELD,
                   f"'{clause.field}' is a user search field; use the user search "
                   "(/wiki/rest/api/search/user), not content search", field_span, text)
    if spec is fields.PROPERTY:
        key, path = fields.property_parts(clause.field)
        if not key or not path:
            raise _err(ErrorCode.UNKNOWN_FIELD,
                       f"'{clause.field}' is not a content property field; write "
                       "content.property[key].path", field_span, text)
    if clause.op not in spec.ops:
        raise _err(ErrorCode.OPERATOR_NOT_ALLOWED,
                   f"the operator '{clause.op.value}' is not supported by the field "
                   f"'{clause.field}'; it supports: {_in_order(spec.ops)}",
                   clause.span, text)
    values: tuple[Scalar, ...] = (
        clause.value.items if isinstance(clause.value, List) else (clause.value,)  # type: ignore
    )
    for value in values:
        if isinstance(value, FunctionCall):
            _check_function(value, spec, clause, text, lenient)
        else:
            _check_literal(value, spec, clause, text, lenient)


#: The largest content id and count: Confluence's ids are Java longs, and so are the
#: index's. A longer number is a ``bad_value`` (or ``bad_arguments``), never a bare
#: ``ValueError`` from ``int()`` (which refuses strings of over 4,300 digits).
MAX_WHOLE_NUMBER = 2**63 - 1


def _is_whole_number(raw: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``"²"`` and other digits that
    ``int()`` and the index cannot read as a content id or a count."""
    return raw.isascii() and raw.isdigit()


def _fits(raw: str) -> bool:
    """A whole number no larger than ``MAX_WHOLE_NUMBER`` (leading zeros allowed)."""
    digits = raw.lstrip("0")
    return len(digits) <= 19 and int(digits or "0") <= MAX_WHOLE_NUMBER


def _short(raw: str) -> str:
    """A value for a message: a 5,000-digit number is not repeated in full."""
    return repr(raw) if len(raw) <= 40 else repr(raw[:30]) + f"... ({len(raw)} characters)"


_OP_ORDER = [Op.EQ, Op.NE, Op.GT, Op.GE, Op.LT, Op.LE, Op.CONTAINS, Op.NOT_CONTAINS,
             Op.IN, Op.NOT_IN]


def _in_order(ops: frozenset[Op]) -> str:
    return ", ".join(op.value for op in _OP_ORDER if op in ops)


def _check_function(call: FunctionCall, spec: FieldSpec, clause: Clause, text: str,
                    lenient: bool) -> None:
    fn = functions.lookup(call.name)
    if fn is None:
        known = ", ".join(f"{f.name}()" for f in functions.FUNCTIONS)
        raise _err(ErrorCode.UNKNOWN_FUNCTION,
                   f"unknown function '{call.name}()'; known functions: {known}",
                   call.span, text)
    target = fields.target(spec)
    if fn.name not in target.functions and fn.name not in spec.functions:
        raise _err(ErrorCode.FUNCTION_NOT_ALLOWED,
                   f"{fn.name}() cannot be used with the field '{clause.field}'",
                   call.span, text)
    if clause.op not in fn.ops:
        if fn.ops <= functions.LIST_OPS:
            msg = f"{fn.name}() returns a list; use it with IN or NOT IN"
        else:
            msg = f"{fn.name}() cannot be used with '{clause.op.value}'; use {_in_order(fn.ops)}"
        raise _err(ErrorCode.FUNCTION_NOT_ALLOWED, msg, call.span, text)
    if not fn.required <= len(call.args) <= len(fn.args):
        want = (f"{fn.required}" if fn.required == len(fn.args)
                else f"{fn.required} to {len(fn.args)}")
        raise _err(ErrorCode.BAD_ARGUMENTS,
                   f"{fn.signature} takes {want} argument(s), got {len(call.args)}",
                   call.span, text)
    for arg, kind in zip(call.args, fn.args, strict=False):
        # A bare date-shaped argument arrives as a Date node, which has ``text``, not
        # ``value``; read every non-String literal through ``text``.
        raw = arg.value if isinstance(arg, String) else arg.text
        if kind is Arg.INT:
            if not _is_whole_number(raw):
                raise _err(ErrorCode.BAD_ARGUMENTS,
                           f"{fn.signature}: {_short(raw)} is not a whole number", arg.span,
                           text)
            if not _fits(raw):
                raise _err(ErrorCode.BAD_ARGUMENTS,
                           f"{fn.signature}: {_short(raw)} is too large (at most "
                           f"{MAX_WHOLE_NUMBER})", arg.span, text)
        else:
            quoted = isinstance(arg, String) and not arg.bare
            if not quoted and not lenient:
                raise _err(ErrorCode.BAD_INCREMENT,
                           f"put the increment in quotes: {fn.name}(\"{raw}\") "
                           "(unquoted increments need the lenient dialect)", arg.span, text)
            try:
                dates.parse_increment(raw, lenient=lenient)
            except dates.DateSyntaxError as err:
                raise _err(ErrorCode.BAD_INCREMENT, str(err), arg.span, text) from None


def _check_literal(value: String | Number | Date, spec: FieldSpec, clause: Clause, text: str,
                   lenient: bool) -> None:
    raw = value.value if isinstance(value, String) else value.text
    kind = spec.kind
    if kind is Kind.CONTENT and not _is_whole_number(raw):
        raise _err(ErrorCode.BAD_VALUE,
                   f"'{clause.field}' takes a content id (a number), not {_short(raw)}",
                   value.span, text)
    if kind is Kind.CONTENT and not _fits(raw):
        raise _err(ErrorCode.BAD_VALUE,
                   f"'{clause.field}' takes a content id, and content ids are at most "
                   f"{MAX_WHOLE_NUMBER}; got {_short(raw)}", value.span, text)
    if kind is Kind.DATE:
        try:
            dates.parse_literal(raw)
        except dates.DateSyntaxError as err:
            raise _err(ErrorCode.BAD_DATE, str(err), value.span, text) from None
    if kind is Kind.TYPE and raw.lower() not in fields.TYPE_VALUES and not lenient:
        expected = ", ".join(sorted(fields.TYPE_VALUES - {"smartlink"}))
        raise _err(ErrorCode.UNKNOWN_TYPE,
                   f"Unsupported value for type, got : {raw}, expected one of : [{expected}]",
                   value.span, text)
    if kind is Kind.SPACE_TYPE and raw.lower() not in fields.SPACE_TYPES:
        raise _err(ErrorCode.BAD_VALUE,
                   f"Unsupported space type : {raw}; expected one of: "
                   f"{', '.join(sorted(fields.SPACE_TYPES))}", value.span, text)
    if clause.op in fields.FULLTEXT:
        try:
            textsearch.parse_text(raw)
        except textsearch.TextSyntaxError as err:
            raise _err(ErrorCode.BAD_VALUE, str(err), value.span, text) from None
