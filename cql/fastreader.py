"""A fast reader of the CQL grammar for valid queries; anything else goes to Lark.

Lark's LALR driver costs about 15 microseconds a token in CPython, which caps it below the
throughput a linter of saved queries needs. Valid queries therefore go through a small
recursive-descent reader of the same grammar; anything it does not accept outright (every
error, and rare shapes) goes to Lark, so errors and their messages come from one place.

The reader must produce exactly what Lark would, spans included. It lexes the way Lark's
contextual lexer does: at each point it tries the terminals Lark's parser state accepts,
built from the grammar's own terminal patterns, in Lark's own order (priority, then
width), so a keyword glued to a word or a word that merely starts like a keyword splits
exactly as it does in Lark. tests/test_cql_properties.py checks the two against each other.
"""

from __future__ import annotations

import re

from cql import fields, functions
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
    SortKey,
    Span,
    String,
)
from cql.errors import CqlError
from cql.lark_parser import PARSER, word_value
from cql.words import unquote


class _Fallback(Exception):
    """The fast path leaves this text to Lark."""


def _alternation(*names: str) -> re.Pattern[str]:
    """Whitespace, then the first of the terminals ``names`` that matches, in Lark's order."""
    terms = [t for t in PARSER.terminals if t.name in names]
    terms.sort(key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
    alts = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terms)
    return re.compile(rf"\s*(?:{alts})")


_START = _alternation("NOT", "ORDER", "FIELD", "LPAR")
_OPERAND = _alternation("NOT", "FIELD", "LPAR")
_AFTER_FIELD = _alternation("IN", "NOT", "CMP")
_IN = _alternation("IN")
_VALUE = _alternation("WORD", "STRING")
_IN_OPERAND = _alternation("LPAR", "WORD")
_AFTER_EXPR = _alternation("AND", "OR", "ORDER", "RPAR", "COMMA", "LPAR")
_LIST_NEXT = _alternation("COMMA", "RPAR", "LPAR")
_ARG_FIRST = _alternation("RPAR", "STRING", "WORD")
_ARG_NEXT = _alternation("COMMA", "RPAR")
_LPAR = _alternation("LPAR")
_BY = _alternation("BY")
_SORT_FIELD = _alternation("FIELD")
_AFTER_SORT = _alternation("ASC", "DESC", "COMMA")
_COMMA = _alternation("COMMA")
_BLANK = re.compile(r"\s*\Z")
#: Deeper than this, the reader hands over to Lark, which needs no recursion.
_FAST_DEPTH = 50


class _Reader:
    __slots__ = ("text", "pos", "depth")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def at_end(self) -> bool:
        return _BLANK.match(self.text, self.pos) is not None

    def query(self) -> Query:
        text = self.text
        if self.at_end():
            return Query(None, (), span=Span(0, 0))
        m = _START.match(text, 0)
        if m is None:
            raise _Fallback
        where: Expr | None = None
        order: tuple[SortKey, ...] = ()
        if m.lastgroup == "ORDER":
            self.pos = m.end()
            order = self.order_by()
        else:
            where = self.expr()
            m = _AFTER_EXPR.match(text, self.pos)
            if m is not None and m.lastgroup == "ORDER":
                self.pos = m.end()
                order = self.order_by()
            elif not self.at_end():
                raise _Fallback
        first = where if where is not None else order[0]
        last = order[-1] if order else where
        return Query(where, order, span=Span(first.span.start, last.span.end))  # type: ignore

    def expr(self) -> Expr:
        operands = [self.and_expr()]
        while True:
            m = _AFTER_EXPR.match(self.text, self.pos)
            if m is None or m.lastgroup != "OR":
                break
            self.pos = m.end()
            operands.append(self.and_expr())
        if len(operands) == 1:
            return operands[0]
        return Or(tuple(operands), span=Span(operands[0].span.start, operands[-1].span.end))

    def and_expr(self) -> Expr:
        operands = [self.not_expr()]
        while True:
            m = _AFTER_EXPR.match(self.text, self.pos)
            if m is None or m.lastgroup != "AND":
                break
            self.pos = m.end()
            operands.append(self.not_expr())
        if len(operands) == 1:
            return operands[0]
        return And(tuple(operands), span=Span(operands[0].span.start, operands[-1].span.end))

    def not_expr(self) -> Expr:
        m = _OPERAND.match(self.text, self.pos)
        if m is None:
            raise _Fallback
        kind = m.lastgroup
        self.pos = m.end()
        if kind == "FIELD":
            return self.clause(m.start(kind), m.end())
        self.depth += 1
        if self.depth > _FAST_DEPTH:
            raise _Fallback
        if kind == "NOT":
            operand = self.not_expr()
            node: Expr = Not(operand, span=Span(m.start(kind), operand.span.end))
        else:  # a group: parentheses leave no node
            node = self.expr()
            m = _AFTER_EXPR.match(self.text, self.pos)
            if m is None or m.lastgroup != "RPAR":
                raise _Fallback
            self.pos = m.end()
        self.depth -= 1
        return node

    def clause(self, start: int, end: int) -> Clause:
        field = fields.canonical_name(self.text[start:end])
        m = _AFTER_FIELD.match(self.text, self.pos)
        if m is None:
            raise _Fallback
        kind = m.lastgroup
        self.pos = m.end()
        value: Scalar | List
        if kind == "CMP":
            op = Op(m.group(kind))
            value = self.scalar()
        else:
            op = Op.IN
            if kind == "NOT":
                m = _IN.match(self.text, self.pos)
                if m is None:
                    raise _Fallback
                self.pos = m.end()
                op = Op.NOT_IN
            value = self.in_operand()
        return Clause(field, op, value, span=Span(start, value.span.end))

    def scalar(self) -> Scalar:
        m = _VALUE.match(self.text, self.pos)
        if m is None:
            raise _Fallback
        kind = m.lastgroup
        start = m.start(kind)
        self.pos = end = m.end()
        if kind == "STRING":
            return String(unquote(m.group(kind)), span=Span(start, end))
        lpar = _LPAR.match(self.text, end)
        if lpar is not None:
            self.pos = lpar.end()
            return self.function(start, end)
        try:
            return word_value(m.group(kind), Span(start, end))
        except CqlError:
            raise _Fallback from None

    def function(self, start: int, end: int) -> FunctionCall:
        """The rest of ``name(args)``; the reader stands after the '('."""
        name = functions.canonical_name(self.text[start:end])
        args: list[String | Number | Date] = []
        m = _ARG_FIRST.match(self.text, self.pos)
        if m is None:
            raise _Fallback
        while m.lastgroup != "RPAR":
            kind = m.lastgroup
            s, e = m.start(kind), m.end()
            if kind == "STRING":
                args.append(String(unquote(m.group(kind)), span=Span(s, e)))
            else:
                try:
                    args.append(word_value(m.group(kind), Span(s, e)))
                except CqlError:
                    raise _Fallback from None
            m = _ARG_NEXT.match(self.text, e)
            if m is None:
                raise _Fallback
            if m.lastgroup == "COMMA":
                m = _VALUE.match(self.text, m.end())
                if m is None:
                    raise _Fallback
        self.pos = m.end()
        return FunctionCall(name, tuple(args), span=Span(start, m.end()))  # type: ignore[arg-type]

    def in_operand(self) -> List | FunctionCall:
        m = _IN_OPERAND.match(self.text, self.pos)
        if m is None:
            raise _Fallback
        kind = m.lastgroup
        start = m.start(kind)
        self.pos = m.end()
        if kind == "WORD":
            lpar = _LPAR.match(self.text, self.pos)
            if lpar is None:
                raise _Fallback
            self.pos = lpar.end()
            return self.function(start, m.end())
        items = [self.scalar()]  # an empty list is an error: Lark reports it
        while True:
            m = _LIST_NEXT.match(self.text, self.pos)
            if m is None or m.lastgroup == "LPAR":
                raise _Fallback
            self.pos = m.end()
            if m.lastgroup == "RPAR":
                return List(tuple(items), span=Span(start, m.end()))
            items.append(self.scalar())

    def order_by(self) -> tuple[SortKey, ...]:
        m = _BY.match(self.text, self.pos)
        if m is None:
            raise _Fallback
        keys = []
        while True:
            m = _SORT_FIELD.match(self.text, m.end())
            if m is None:
                raise _Fallback
            start = m.start("FIELD")
            name = fields.canonical_name(self.text[start:m.end()])
            end = m.end()
            descending = False
            m = _AFTER_SORT.match(self.text, end)
            if m is not None and m.lastgroup in ("ASC", "DESC"):
                descending = m.lastgroup == "DESC"
                end = m.end()
                m = _COMMA.match(self.text, end)
            keys.append(SortKey(name, descending, span=Span(start, end)))
            if m is None or m.lastgroup != "COMMA":
                self.pos = end
                if not self.at_end():
                    raise _Fallback
                return tuple(keys)


def fast_parse(text: str) -> Query | None:
    """The AST Lark would build for ``text``, or None to let Lark do it."""
    try:
        return _Reader(text).query()
    except (_Fallback, RecursionError):  # RecursionError: a caller already deep in the stack
        return None

