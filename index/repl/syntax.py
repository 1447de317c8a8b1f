"""The query as the grammar sees it while it is being typed: tokens, state, open brackets.

Highlighting and completion must agree with the parser, so both read the tokens Lark's own
contextual lexer produces for ``cql/grammar.lark`` (through an interactive LALR parser, the
way Lark's ``accepts()`` is meant for editors) instead of a second, hand-written idea of
CQL. Half-typed text is the normal case here, so nothing in this module raises: the text
up to the first error is read by the grammar, and the rest by a rough classifier that is
only ever used for colour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from cql.parser import raw_parser
from cql.words import KEYWORDS

#: Keyword terminals of the grammar (their token type is the upper-case word).
KEYWORD_TYPES = frozenset(k.upper() for k in KEYWORDS)


@dataclass(frozen=True, slots=True)
class Tok:
    """One token: the grammar's terminal name (or ``ERROR``) and where it stands."""

    type: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Scan:
    """What the grammar made of a text.

    ``accepts`` is the set of terminals that may come next, or ``None`` when the text
    already holds a syntax error (at ``error``, an offset): nothing can be suggested then.
    """

    tokens: tuple[Tok, ...]
    accepts: frozenset[str] | None
    error: int | None


@lru_cache(maxsize=1)
def _parser() -> Any:
    """One parser without a transformer: the REPL wants tokens and states, not trees."""
    return raw_parser()


def scan(text: str) -> Scan:
    """Tokens of ``text`` and the terminals that may follow it."""
    interactive = _parser().parse_interactive(text)
    tokens: list[Tok] = []
    try:
        for tok in interactive.iter_parse():
            tokens.append(Tok(tok.type, tok.start_pos, tok.end_pos, str(tok)))
    except UnexpectedInput as err:
        return Scan(tuple(tokens) + tuple(_rest(text, err)), None, _error_offset(err, text))
    return Scan(tuple(tokens), frozenset(interactive.accepts()), None)


def _error_offset(err: UnexpectedInput, text: str) -> int:
    if isinstance(err, UnexpectedToken) and err.token.start_pos is not None:
        return int(err.token.start_pos)
    pos = getattr(err, "pos_in_stream", None)
    return int(pos) if pos is not None else len(text)


def _rest(text: str, err: UnexpectedInput) -> list[Tok]:
    """The text from the error on: the offending token marked, the rest classified roughly.

    An unclosed quote at the end is not shown as an error: it is a string being typed.
    """
    out: list[Tok] = []
    pos = _error_offset(err, text)
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type != "$END":
            out.append(Tok("ERROR", tok.start_pos, tok.end_pos, str(tok)))
            pos = tok.end_pos
    elif isinstance(err, UnexpectedCharacters) and text[pos] not in "\"'":
        out.append(Tok("ERROR", pos, pos + 1, text[pos]))
        pos += 1
    out.extend(rough_tokens(text, pos))
    return out


_ROUGH = re.compile(
    r"""(?P<STRING>"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?)
      | (?P<CMP>!=|>=|<=|!~|=|>|<|~)
      | (?P<LPAR>\()
      | (?P<RPAR>\))
      | (?P<COMMA>,)
      | (?P<WORD>[^\s()",'=!<>~]+)
      | (?P<ERROR>\S)""",
    re.X | re.S,
)


def rough_tokens(text: str, pos: int = 0) -> list[Tok]:
    """Tokens by shape alone (keywords, strings, operators, words), from ``pos`` on."""
    out: list[Tok] = []
    for m in _ROUGH.finditer(text, pos):
        kind = m.lastgroup or "ERROR"
        word = m.group()
        if kind == "WORD" and word.upper() in KEYWORD_TYPES:
            kind = word.upper()
        out.append(Tok(kind, m.start(), m.end(), word))
    return out


def _open(text: str) -> tuple[int, str]:
    """Parentheses left open, and the quote character of a string left open ("" if none)."""
    depth = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
    return depth, quote


def needs_more(text: str) -> bool:
    """True while a parenthesis or a quote is open: Enter then starts a new line.

    Commands (``:...``) are always one line.
    """
    if text.lstrip().startswith(":"):
        return False
    depth, quote = _open(text)
    return bool(quote) or depth > 0


#: The characters that end the word being completed (the WORD terminal's complement).
_WORD_TAIL = re.compile(r"""[^\s()",'=!<>~]*\Z""")
_OP_TAIL = re.compile(r"[!<>=~]+\Z")
_OPEN_STRING = re.compile(r"""(?:"(?:[^"\\]|\\.)*|'(?:[^'\\]|\\.)*)\Z""", re.S)


def word_before(text: str) -> str:
    """The part of ``text`` the cursor is completing: an open string, an operator or a word."""
    if _open(text)[1]:
        m = _OPEN_STRING.search(text)
        if m is not None:
            return m.group()
    m = _OP_TAIL.search(text)
    if m is not None:
        return m.group()
    m = _WORD_TAIL.search(text)
    return m.group() if m else ""
