"""The text-search syntax on the right of ``~`` and ``!~`` (docs/semantics.md, "Text search").

A small Lucene-classic dialect: bare terms must all match (any order); ``"a b"`` is a
phrase; ``*`` and ``?`` are wildcards (never leading); ``term~`` is fuzzy; upper-case
``AND``/``OR``/``NOT``, ``+``/``-`` prefixes and parentheses combine; a backslash escapes
the next character. The result is a tiny tree of its own that both engines read; how
words are analysed (lower-casing, stemming) is the engine's business, not the syntax's.
A query made only of exclusions matches nothing, as in Lucene.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias


class TextSyntaxError(ValueError):
    """Raised with a plain-words message; the caller positions it on the value."""


@dataclass(frozen=True, slots=True)
class Term:
    text: str


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str


@dataclass(frozen=True, slots=True)
class Wildcard:
    pattern: str  # lower-cased; '*' any run, '?' one character


@dataclass(frozen=True, slots=True)
class Fuzzy:
    text: str


@dataclass(frozen=True, slots=True)
class All:
    """Every ``must`` part matches and no ``must_not`` part does."""

    must: tuple[TextQuery, ...]
    must_not: tuple[TextQuery, ...] = ()


@dataclass(frozen=True, slots=True)
class Any:
    parts: tuple[TextQuery, ...]


TextQuery: TypeAlias = Term | Phrase | Wildcard | Fuzzy | All | Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<phrase>"(?:[^"\\]|\\.)*"?)
      | (?P<lpar>\()
      | (?P<rpar>\))
      | (?P<word>(?:[^\s()"\\]|\\.)+)
    )""",
    re.X | re.S,
)


_CLOSED_PHRASE = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def _lex(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip():
                raise TextSyntaxError(f"cannot read the search text at {text[pos:]!r}")
            break
        pos = m.end()
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
    return tokens


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


def _word(raw: str) -> TextQuery | None:
    fuzzy = raw.endswith("~") and not raw.endswith("\\~")
    if fuzzy:
        raw = raw[:-1]
    # Wildcards are the unescaped * and ?; everything escaped is literal.
    has_wild = re.search(r"(?<!\\)[*?]", raw) is not None
    if has_wild:
        if raw[0] in "*?":
            raise TextSyntaxError(f"a search term may not start with '*' or '?': {raw!r}")
        return Wildcard(raw.lower())
    text = _unescape(raw)
    if not text:
        return None
    return Fuzzy(text) if fuzzy else Term(text)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def expr(self) -> TextQuery | None:
        parts = [self.sequence()]
        while (tok := self.peek()) is not None and tok == ("word", "OR"):
            self.i += 1
            parts.append(self.sequence())
        kept = tuple(p for p in parts if p is not None)
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Any(kept)

    def sequence(self) -> TextQuery | None:
        must: list[TextQuery] = []
        must_not: list[TextQuery] = []
        while (tok := self.peek()) is not None and tok[0] != "rpar" and tok != ("word", "OR"):
            if tok == ("word", "AND"):
                self.i += 1
                continue
            negate = False
            while (tok := self.peek()) is not None and tok[0] == "word" and (
                tok[1] == "NOT" or tok[1] in ("-", "+")
            ):
                negate ^= tok[1] in ("NOT", "-")
                self.i += 1
            tok = self.peek()
            if tok is not None and tok[0] == "word" and len(tok[1]) > 1 and tok[1][0] in "+-":
                negate ^= tok[1][0] == "-"
                self.tokens[self.i] = ("word", tok[1][1:])
            part = self.primary()
            if part is None:
                continue
            (must_not if negate else must).append(part)
        if not must and not must_not:
            return None
        if len(must) == 1 and not must_not:
            return must[0]
        return All(tuple(must), tuple(must_not))

    def primary(self) -> TextQuery | None:
        tok = self.peek()
        if tok is None:
            raise TextSyntaxError("the search text ends where a term was expected")
        kind, raw = tok
        self.i += 1
        if kind == "lpar":
            inner = self.expr()
            if self.peek() is None or self.peek()[0] != "rpar":  # type: ignore[index]
                raise TextSyntaxError("unclosed '(' in the search text")
            self.i += 1
            return inner
        if kind == "rpar":
            raise TextSyntaxError("unmatched ')' in the search text")
        if kind == "phrase":
            if not _CLOSED_PHRASE.fullmatch(raw):
                raise TextSyntaxError("unclosed '\"' in the search text")
            words = _unescape(raw[1:-1]).strip()
            return Phrase(words) if words else None
        return _word(raw)


def parse_text(text: str) -> TextQuery:
    """Parse a text-search string; raise :class:`TextSyntaxError` when it has no terms."""
    parser = _Parser(_lex(text))
    tree = parser.expr()
    if parser.peek() is not None:
        raise TextSyntaxError("unmatched ')' in the search text")
    if tree is None:
        raise TextSyntaxError("the search text has no terms")
    return tree
