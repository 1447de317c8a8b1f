"""AST to canonical CQL text.

Keywords upper-case, fields and functions as registered, values quoted only when they
must be, parentheses only where precedence needs them. ``parse(to_cql(q)) == q`` for any
query the parser can produce.
"""

from __future__ import annotations

from cql.ast import (
    And,
    Clause,
    Date,
    Expr,
    FunctionCall,
    List,
    Not,
    Number,
    Or,
    Query,
    SortKey,
    String,
)
from cql.words import is_bare_safe, quote


def _value(node: object) -> str:
    if isinstance(node, String):
        return node.value if is_bare_safe(node.value) else quote(node.value)
    if isinstance(node, Number | Date):
        return node.text
    if isinstance(node, FunctionCall):
        # String arguments are always quoted: the strict dialect rejects an unquoted date
        # increment (``now(-4w)``), so a bare one would not re-parse in strict mode.
        args = (quote(a.value) if isinstance(a, String) else _value(a) for a in node.args)
        return f"{node.name}({', '.join(args)})"
    if isinstance(node, List):
        return f"({', '.join(_value(v) for v in node.items)})"
    raise TypeError(f"not a value: {node!r}")


def _expr(node: Expr) -> str:
    if isinstance(node, Clause):
        return f"{node.field} {node.op.value} {_value(node.value)}"
    if isinstance(node, Not):
        inner = node.operand
        body = _expr(inner)
        return f"NOT ({body})" if isinstance(inner, And | Or) else f"NOT {body}"
    word = " AND " if isinstance(node, And) else " OR "
    parts = []
    for child in node.operands:
        text = _expr(child)
        # An AND inside an OR reads the same without parentheses; anything else nested
        # in its own kind, or an OR inside an AND, needs them to keep its shape.
        needs = isinstance(child, Or) or (isinstance(child, And) and isinstance(node, And))
        parts.append(f"({text})" if needs else text)
    return word.join(parts)


def _sort_key(key: SortKey) -> str:
    return f"{key.field} DESC" if key.descending else key.field


def to_cql(node: Query | Expr) -> str:
    """Canonical CQL text for a query or an expression."""
    if not isinstance(node, Query):
        return _expr(node)
    parts = []
    if node.where is not None:
        parts.append(_expr(node.where))
    if node.order_by:
        parts.append("ORDER BY " + ", ".join(_sort_key(k) for k in node.order_by))
    return " ".join(parts)

