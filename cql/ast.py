"""The CQL syntax tree: small frozen nodes that every stage and backend reads.

Every node carries a source ``span`` so that later stages (validation, the engine) can
point at the exact text they object to. Spans are excluded from equality and hashing:
two queries are equal when they mean the same thing, wherever their text came from.
Parentheses leave no node of their own; grouping is the shape of the tree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Span:
    """Half-open character range ``[start, end)`` in the query text."""

    start: int
    end: int


NO_SPAN = Span(0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, kw_only=True, repr=False)  # type: ignore[return-value]


class Op(enum.Enum):
    """Comparison operators; the value is the canonical CQL spelling."""

    EQ = "="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    CONTAINS = "~"
    NOT_CONTAINS = "!~"
    IN = "IN"
    NOT_IN = "NOT IN"

    @property
    def is_negative(self) -> bool:
        return self in (Op.NE, Op.NOT_CONTAINS, Op.NOT_IN)

    @property
    def is_list(self) -> bool:
        return self in (Op.IN, Op.NOT_IN)


# --- values -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class String:
    """A word or quoted string. ``bare`` records that it was unquoted (not compared)."""

    value: str
    span: Span = _span()
    bare: bool = field(default=False, compare=False, kw_only=True, repr=False)


@dataclass(frozen=True, slots=True)
class Number:
    """An unquoted number, kept as written (content ids exceed float precision)."""

    text: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Date:
    """An unquoted date literal such as ``2014/09/01`` or ``2014-09-01``."""

    text: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """``name(args)``; ``name`` is canonical camelCase when the function is known."""

    name: str
    args: tuple[String | Number | Date, ...] = ()  # a bare date-shaped argument is a Date
    span: Span = _span()


Scalar: TypeAlias = String | Number | Date | FunctionCall


@dataclass(frozen=True, slots=True)
class List:
    """The parenthesised operand of ``IN`` / ``NOT IN``."""

    items: tuple[Scalar, ...]
    span: Span = _span()


Value: TypeAlias = Scalar | List


# --- expressions --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clause:
    """``field op value``. ``field`` is as registered (canonical case) or as written."""

    field: str
    op: Op
    value: Value
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class And:
    """Two or more operands, all of which must match."""

    operands: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Or:
    """Two or more operands, any of which must match."""

    operands: tuple[Expr, ...]
    span: Span = _span()


Expr: TypeAlias = Clause | Not | And | Or


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Query:
    """A whole query: an optional filter (lenient dialect only) and sort keys."""

    where: Expr | None
    order_by: tuple[SortKey, ...] = ()
    span: Span = _span()


Node: TypeAlias = Query | Expr | Value | SortKey


def clauses(expr: Expr | None) -> list[Clause]:
    """Every clause of ``expr`` in source order."""
    out: list[Clause] = []
    stack: list[Expr] = [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, Clause):
            out.append(node)
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            stack.extend(reversed(node.operands))
    return out
