"""The Lark LALR parser of ``grammar.lark`` and the transformer that builds the AST.

Built once per process. The transformer runs inline as the parser reduces, so no parse
tree is ever made; spans come from the tokens. Bare words are classified here (number,
date, or string) and rejected when they hold a reserved character or are a reserved word.
"""

from __future__ import annotations

import os
from pathlib import Path

from lark import Lark, Token, Transformer, v_args

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
    SortKey,
    Span,
    String,
)
from cql.errors import CqlError, ErrorCode
from cql.words import DATE_RE, NUMBER_RE, RESERVED_CHARS, RESERVED_WORDS, unquote


def _tok_span(tok: Token) -> Span:
    return Span(tok.start_pos, tok.end_pos)  # type: ignore[arg-type]


def _join(first: object, last: object) -> Span:
    return Span(first.span.start, last.span.end)  # type: ignore[attr-defined]


@v_args(inline=True)
class _ToAst(Transformer):
    """Builds AST nodes as the LALR parser reduces, so no parse tree is ever made."""

    def start(self, *parts: object) -> Query:
        where = next((p for p in parts if not isinstance(p, tuple)), None)
        order = next((p for p in parts if isinstance(p, tuple)), ())
        nodes = [n for n in (where, *order) if n is not None]
        span = _join(nodes[0], nodes[-1]) if nodes else Span(0, 0)
        return Query(where, order, span=span)  # type: ignore[arg-type]

    def expr(self, *parts: Expr) -> Or:
        operands = parts[::2]
        return Or(operands, span=_join(operands[0], operands[-1]))

    def and_expr(self, *parts: Expr) -> And:
        operands = parts[::2]
        return And(operands, span=_join(operands[0], operands[-1]))

    def negation(self, tok: Token, operand: Expr) -> Not:
        return Not(operand, span=Span(tok.start_pos, operand.span.end))  # type: ignore[arg-type]

    def group(self, _lpar: Token, expr: Expr, _rpar: Token) -> Expr:
        return expr

    def compare(self, field: Token, op: Token, value: object) -> Clause:
        return Clause(
            fields.canonical_name(str(field)), Op(str(op)), value,  # type: ignore[arg-type]
            span=Span(field.start_pos, value.span.end),  # type: ignore[arg-type,attr-defined]
        )

    def in_clause(self, field: Token, _in: Token, value: object) -> Clause:
        return Clause(
            fields.canonical_name(str(field)), Op.IN, value,  # type: ignore[arg-type]
            span=Span(field.start_pos, value.span.end),  # type: ignore[arg-type,attr-defined]
        )

    def not_in_clause(self, field: Token, _not: Token, _in: Token, value: object) -> Clause:
        return Clause(
            fields.canonical_name(str(field)), Op.NOT_IN, value,  # type: ignore[arg-type]
            span=Span(field.start_pos, value.span.end),  # type: ignore[arg-type,attr-defined]
        )

    def in_list(self, lpar: Token, *rest: object) -> List:
        items = tuple(x for x in rest[:-1] if x is not None and not isinstance(x, Token))
        if not items:
            raise CqlError(
                ErrorCode.SYNTAX,
                "empty IN list: put at least one value between the parentheses",
                offset=lpar.start_pos, end=rest[-1].end_pos,  # type: ignore
                expected=("a value",),
            )
        return List(items, span=Span(lpar.start_pos, rest[-1].end_pos))  # type: ignore

    def function(self, name: Token, _lpar: Token, *rest: object) -> FunctionCall:
        args = tuple(x for x in rest[:-1] if x is not None and not isinstance(x, Token))
        return FunctionCall(
            functions.canonical_name(str(name)), args,  # type: ignore[arg-type]
            span=Span(name.start_pos, rest[-1].end_pos),  # type: ignore
        )

    def word(self, tok: Token) -> String | Number | Date:
        return word_value(str(tok), _tok_span(tok))

    def string(self, tok: Token) -> String:
        return String(unquote(str(tok)), span=_tok_span(tok))

    def order_by(self, _order: Token, _by: Token, *keys: object) -> tuple[SortKey, ...]:
        return tuple(k for k in keys if isinstance(k, SortKey))

    def sort_key(self, field: Token, direction: Token | None) -> SortKey:
        end = direction.end_pos if direction is not None else field.end_pos
        return SortKey(
            fields.canonical_name(str(field)),
            direction is not None and direction.type == "DESC",
            span=Span(field.start_pos, end),  # type: ignore[arg-type]
        )


def word_value(text: str, span: Span) -> String | Number | Date:
    """A bare word as a value: a number, a date, or a string that needs no quotes."""
    if NUMBER_RE.fullmatch(text):
        return Number(text, span=span)
    if DATE_RE.fullmatch(text):
        return Date(text, span=span)
    bad = RESERVED_CHARS.intersection(text)
    if bad:
        ch = min(bad, key=text.index)
        raise CqlError(
            ErrorCode.RESERVED_CHARACTER,
            f"the value {text!r} contains the reserved character {ch!r}; "
            f"put the value in quotes: \"{text}\"",
            offset=span.start, end=span.end,
        )
    if text.lower() in RESERVED_WORDS:
        raise CqlError(
            ErrorCode.RESERVED_WORD,
            f"{text!r} is a reserved word; to use it as a value, quote it: \"{text}\"",
            offset=span.start, end=span.end,
        )
    return String(text, span=span, bare=True)


_GRAMMAR = Path(__file__).with_name("grammar.lark")


def _grammar_cache() -> str | bool:
    """Where Lark keeps its analysis of the grammar between processes (building the LALR
    tables is most of ``cql parse``'s start-up time; loading them takes a few ms).

    The user's own cache directory, never the shared temporary directory Lark defaults to:
    the cache is a pickle, and loading a pickle someone else could write runs their code.
    Lark stores a digest of the grammar, its options and its version in the file and
    rebuilds when any differs, or when the file cannot be read. ``CQL_GRAMMAR_CACHE=0``
    turns it off."""
    if os.environ.get("CQL_GRAMMAR_CACHE") == "0":
        return False
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "cql-search"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return False  # not ours alone: do not trust a pickle from it
    except (OSError, AttributeError):
        return False
    return str(folder / "grammar-lalr.cache")


PARSER = Lark(
    _GRAMMAR.read_text(encoding="utf-8"),
    parser="lalr",
    lexer="contextual",
    transformer=_ToAst(),
    maybe_placeholders=True,
    cache=_grammar_cache(),
)


def raw_parser() -> Lark:
    """The same grammar without a transformer: for the REPL, which wants tokens and parser
    states, and for benchmarks that measure Lark alone. Built with the same options from the
    same cache (Lark leaves the transformer out of the cache key), so it loads in
    milliseconds; building it afresh cost the REPL's first prompt a quarter of a second."""
    return Lark(_GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                maybe_placeholders=True, cache=_grammar_cache())
