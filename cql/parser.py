"""Text to syntax tree: the Lark LALR parser and the translation of its failures.

The grammar lives in ``grammar.lark``; the parser is built once per process and the
tree is built by an inline transformer (no intermediate parse tree), which is what makes
linting thousands of saved queries fast. Lark's exceptions never leave this module: they
become :class:`CqlError` values with plain-words messages and the expected tokens.
"""

from __future__ import annotations

import re
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

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

MAX_QUERY_LENGTH = 64 * 1024


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
        text = str(tok)
        span = _tok_span(tok)
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


_GRAMMAR = Path(__file__).with_name("grammar.lark")
_PARSER = Lark(
    _GRAMMAR.read_text(encoding="utf-8"),
    parser="lalr",
    lexer="contextual",
    transformer=_ToAst(),
    maybe_placeholders=True,
)
#: The same grammar without a transformer, for benchmarks that measure Lark alone.
def raw_parser() -> Lark:
    return Lark(_GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual")


def parse_syntax(text: str) -> Query:
    """Parse ``text`` into an AST, checking syntax only (no field or value rules)."""
    if len(text) > MAX_QUERY_LENGTH:
        raise CqlError(
            ErrorCode.TOO_LARGE,
            f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_LENGTH:,}",
            text, MAX_QUERY_LENGTH, len(text),
        )
    try:
        return _PARSER.parse(text)  # type: ignore[return-value]
    except CqlError as err:
        raise err.with_query(text) from None
    except UnexpectedInput as err:
        raise _syntax_error(text, err) from None
    except Exception as err:  # errors raised inside the transformer arrive wrapped
        inner = getattr(err, "orig_exc", None)
        if isinstance(inner, CqlError):
            raise inner.with_query(text) from None
        raise


# --- syntax errors in plain words ---------------------------------------------------

_WORDS = {
    "FIELD": "a field name",
    "WORD": "a value",
    "STRING": "a value",
    "CMP": "an operator (=, !=, ~, !~, <, <=, >, >=)",
    "IN": "IN",
    "NOT": "NOT",
    "AND": "AND",
    "OR": "OR",
    "ORDER": "ORDER BY",
    "BY": "BY",
    "ASC": "ASC",
    "DESC": "DESC",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "$END": "the end of the query",
}
_ORDER = list(_WORDS)


def _expected_words(expected: set[str] | frozenset[str]) -> tuple[str, ...]:
    names = set(expected)
    if "AND" in names and "LPAR" in names:
        names.discard("LPAR")  # '(' after a value only means "this was a function name"
    words: list[str] = []
    for name in sorted(names, key=lambda n: _ORDER.index(n) if n in _ORDER else 99):
        word = _WORDS.get(name, name.lower())
        if word not in words:
            words.append(word)
    return tuple(words)


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the query"
    return repr(str(tok))


def _prev_word(text: str, pos: int) -> tuple[str, int] | None:
    """The word just before ``pos`` and its offset, if a word stands there."""
    m = re.search(r"([A-Za-z]+)\s*$", text[:pos])
    return (m.group(1), m.start(1)) if m else None


def _unclosed_paren(text: str) -> int | None:
    """Offset of the last '(' left open, ignoring quoted text."""
    opened: list[int] = []
    for m in re.finditer(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[()]", text, re.S):
        if m.group() == "(":
            opened.append(m.start())
        elif m.group() == ")" and opened:
            opened.pop()
    return opened[-1] if opened else None


def _in_value_list(text: str, pos: int) -> bool:
    """True when the innermost '(' open at ``pos`` holds IN values or function arguments
    (it follows IN or a function name) rather than a group (after AND, OR, NOT or '(')."""
    opened = _unclosed_paren(text[:pos])
    if opened is None:
        return False
    m = re.search(r"([^\s()\",'=!<>~]+)\s*$", text[:opened])
    return m is not None and m.group(1).upper() not in ("AND", "OR", "NOT")


def _syntax_error(text: str, err: UnexpectedInput) -> CqlError:
    def fail(message: str, offset: int, end: int | None = None,
             expected: tuple[str, ...] = ()) -> CqlError:
        return CqlError(ErrorCode.SYNTAX, message, text, offset, end, expected)

    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream
        ch = text[pos]
        expected = _expected_words(err.allowed)
        if ch in "\"'":
            return fail(f"unclosed quote: the string starting here needs a closing {ch}",
                        pos, len(text), expected)
        if ch == "~" and "WORD" in err.allowed:
            word = re.match(r"~[^\s()\",'=!<>]*", text[pos:])
            value = word.group() if word else "~"
            return fail(f"personal space keys must be quoted: \"{value}\"",
                        pos, pos + len(value), expected)
        return fail(f"unexpected character {ch!r}; expected {_one_of(expected)}",
                    pos, pos + 1, expected)

    assert isinstance(err, UnexpectedToken | UnexpectedEOF)
    tok: Token = err.token  # type: ignore[assignment]
    expected_names = set(err.expected)
    expected = _expected_words(expected_names)
    at_end = tok.type == "$END"
    pos = len(text) if at_end else tok.start_pos
    end = None if at_end else tok.end_pos

    if at_end and "RPAR" in expected_names and _unclosed_paren(text) is not None:
        if not expected_names & {"WORD", "STRING", "FIELD"}:
            opened = _unclosed_paren(text)
            return fail("unclosed parenthesis: this '(' has no matching ')'",
                        opened, opened + 1, expected)  # type: ignore[operator]
    if tok.type == "CMP" and str(tok) == "~" and expected_names & {"WORD", "STRING"}:
        word = re.match(r"~[^\s()\",'=!<>]*", text[pos:])
        value = word.group() if word else "~"
        return fail(f"personal space keys must be quoted: \"{value}\"",
                    pos, pos + len(value), expected)
    prev_word = _prev_word(text, pos)
    if expected_names & {"WORD", "STRING"} and not expected_names & {"AND", "OR", "FIELD"}:
        what = "missing value" if at_end or tok.type in ("AND", "OR", "RPAR", "ORDER") \
            else f"expected a value, found {_describe(tok)}"
        return fail(f"{what}: a value must follow the operator", pos, end, expected)
    if "CMP" in expected_names:
        if prev_word is not None and prev_word[0].upper() in ("AND", "OR"):
            word, start = prev_word
            return fail(f"{word.upper()} needs a clause on each side", start, start + len(word),
                        ("a field name", "NOT", "'('"))
        return fail(f"missing operator after the field name, found {_describe(tok)}; "
                    f"expected {_one_of(expected)}", pos, end, expected)
    if "FIELD" in expected_names and not expected_names & {"AND", "OR"}:
        if at_end:
            prev = prev_word[0].upper() if prev_word else ""
            if prev == "BY":
                return fail("ORDER BY needs at least one field to sort by", len(text), None,
                            expected)
            if prev in ("AND", "OR", "NOT"):
                return fail(f"dangling {prev}: a clause must follow it",
                            len(text.rstrip()) - len(prev), len(text.rstrip()), expected)
            return fail("the query is empty", 0, 0, expected)
        if tok.type in ("AND", "OR"):
            return fail(f"{str(tok).upper()} needs a clause on each side", pos, end, expected)
        return fail(f"expected a field name, found {_describe(tok)}", pos, end, expected)
    if expected_names & {"AND", "OR"} and tok.type in ("FIELD", "WORD", "STRING", "NOT", "LPAR"):
        # The LALR state after a value is shared by clauses and lists, so its expected set
        # mixes AND/OR with ','; the open parenthesis tells which one the user is in.
        if "COMMA" in expected_names and _in_value_list(text, pos):
            return fail(f"missing ',' between values before {_describe(tok)}",
                        pos, end, ("','", "')'"))
        return fail(f"missing AND or OR between clauses before {_describe(tok)}",
                    pos, end, expected)
    if tok.type == "RPAR":
        return fail("unmatched ')': there is no '(' for it", pos, end, expected)
    return fail(f"unexpected {_describe(tok)}; expected {_one_of(expected)}", pos, end, expected)


def _one_of(words: tuple[str, ...]) -> str:
    if not words:
        return "nothing more"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]
