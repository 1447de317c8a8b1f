"""Lexical facts of CQL: reserved words and characters, and the shapes of bare literals.

One table each, shared by the parser (which rejects misuse), the printer (which quotes
exactly when it must) and the quoting helper.
"""

from __future__ import annotations

import re

#: Words that must be quoted when used as values (sources.md, CQL 2.4).
RESERVED_WORDS = frozenset(
    """after and as avg before begin by commit contains count distinct else empty end
    explain from having if in inner insert into is isnull left like limit max min not null
    or order outer right select sum then was where update""".split()
)

#: Characters a bare value may not contain (Cloud list, sources.md, CQL 2.3; the space
#: and the separators the lexer already splits on are left out).
RESERVED_CHARS = frozenset("+.,;?|*/%^$#@[]")

#: Keywords of the grammar; a bare value equal to one would be read as the keyword.
KEYWORDS = frozenset({"and", "or", "not", "in", "order", "by", "asc", "desc"})

NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
DATE_RE = re.compile(r"\d{4}([-/])\d{1,2}\1\d{1,2}")
#: What the grammar's WORD terminal accepts, plus no backslash (the printer's guarantee).
BARE_RE = re.compile(r"[^\s()\",'=!<>~\\]+")


def is_bare_safe(value: str) -> bool:
    """True when ``value`` can be written unquoted and read back as the same string."""
    return (
        BARE_RE.fullmatch(value) is not None
        and not RESERVED_CHARS.intersection(value)
        and value.lower() not in RESERVED_WORDS
        and value.lower() not in KEYWORDS
        and NUMBER_RE.fullmatch(value) is None
        and DATE_RE.fullmatch(value) is None
    )


def quote(value: str) -> str:
    """``value`` as a double-quoted CQL string; parsing it yields ``value`` back.

    For callers that build CQL from user input: every character is safe inside the quotes.
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(token: str) -> str:
    """The value of a quoted token: strip the quotes, a backslash escapes the next char."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", r"\1", body, flags=re.S)
