"""Colour: the query as it is typed, and the one style every REPL output shares.

The lexer colours the grammar's own tokens (``repl_syntax.scan``), so what looks like a
field is what the parser will read as a field: a value that merely looks like a keyword,
or a keyword glued to a word, shows up the way the parser will see it. Known fields and
functions are told apart from unknown ones by the registries, not by lists kept here.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles import Style

from cql import fields, functions
from index.repl.syntax import KEYWORD_TYPES, Tok, scan

#: Every class the REPL writes with, in one place (queries, tables, errors, explain).
STYLE = Style.from_dict({
    "cql.keyword": "bold ansiblue",
    "cql.field": "ansicyan",
    "cql.unknown": "ansired underline",
    "cql.operator": "ansiyellow",
    "cql.string": "ansigreen",
    "cql.value": "ansigreen",
    "cql.function": "ansimagenta",
    "cql.punct": "",
    "cql.error": "bg:ansired ansiwhite",
    "prompt": "bold",
    "prompt.who": "ansimagenta",
    "head": "bold",
    "dim": "ansibrightblack",
    "caret": "bold ansired",
    "error": "bold ansired",
    "warn": "ansiyellow",
    "ok": "ansigreen",
    "fail": "ansired",
    "count": "bold",
})

_CLASS = {"CMP": "cql.operator", "STRING": "cql.string", "LPAR": "cql.punct",
          "RPAR": "cql.punct", "COMMA": "cql.punct", "ERROR": "cql.error"}


def token_classes(text: str) -> list[tuple[Tok, str]]:
    """Each token of ``text`` with its style class."""
    toks = scan(text).tokens
    out: list[tuple[Tok, str]] = []
    for i, tok in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if tok.type in KEYWORD_TYPES:
            cls = "cql.keyword"
        elif tok.type == "FIELD":
            cls = "cql.field" if fields.lookup(tok.text) else "cql.unknown"
        elif tok.type == "WORD" and nxt is not None and nxt.type == "LPAR":
            cls = "cql.function" if functions.lookup(tok.text) else "cql.unknown"
        elif tok.type == "WORD":
            cls = "cql.value"
        else:
            cls = _CLASS.get(tok.type, "")
        out.append((tok, cls))
    return out


def fragments(text: str) -> StyleAndTextTuples:
    """``text`` as styled fragments, whitespace and all (for printing a query back)."""
    out: StyleAndTextTuples = []
    pos = 0
    for tok, cls in token_classes(text):
        if tok.start > pos:
            out.append(("", text[pos:tok.start]))
        out.append((f"class:{cls}" if cls else "", text[tok.start:tok.end]))
        pos = tok.end
    if pos < len(text):
        out.append(("", text[pos:]))
    return out


class CqlLexer(Lexer):
    """prompt_toolkit's view of ``fragments``: one line of the (multi-line) buffer at a time."""

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        lines: list[StyleAndTextTuples] = [[]]
        if document.text.lstrip().startswith(":"):
            return lambda n: [("class:head", document.lines[n])] if n < len(
                document.lines) else []
        for style, text in fragments(document.text):
            parts = text.split("\n")
            for j, part in enumerate(parts):
                if j:
                    lines.append([])
                if part:
                    lines[-1].append((style, part))
        return lambda n: lines[n] if n < len(lines) else []
