"""Excerpts and highlighting in Confluence's shape (``@@@hl@@@word@@@endhl@@@``).

A word is highlighted when its stem is one of the search's positive stems, so what is
marked is exactly what matched. Only text the caller may see ever reaches this module.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from functools import lru_cache

from index.core.analysis import stem

HL, END = "@@@hl@@@", "@@@endhl@@@"
WIDTH = 240


@lru_cache(maxsize=256)
def _finder(stems: frozenset[str]) -> re.Pattern[str]:
    """Words that may have one of ``stems``: those starting like the stem (a Porter2 stem
    is the word's prefix but for its last letter, as in happi/happy); each candidate is
    then stemmed to be sure. Stemming every word of every excerpt cost milliseconds."""
    heads = sorted({s[:-1] if len(s) > 2 else s for s in stems}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, heads)) + r")\w*", re.IGNORECASE)


def _matches(text: str, stems: frozenset[str]) -> Iterator[re.Match[str]]:
    for m in _finder(stems).finditer(text):
        if stem(m.group().lower()) in stems:
            yield m


def _mark(text: str, stems: frozenset[str], escape: bool) -> str:
    out: list[str] = []
    pos = 0
    for m in _matches(text, stems):
        before = text[pos:m.start()]
        out.append(html.escape(before) if escape else before)
        word = html.escape(m.group()) if escape else m.group()
        out.append(f"{HL}{word}{END}")
        pos = m.end()
    rest = text[pos:]
    out.append(html.escape(rest) if escape else rest)
    return "".join(out)


def _window(body: str, stems: frozenset[str]) -> str:
    """About WIDTH characters of ``body``, starting near the first matched word."""
    start = 0
    for m in _matches(body, stems) if stems else ():
        start = max(0, m.start() - WIDTH // 4)
        break
    if start:
        space = body.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    cut = body[start:start + WIDTH]
    if start + WIDTH < len(body):
        space = cut.rfind(" ")
        cut = (cut[:space] if space > WIDTH // 2 else cut) + "..."
    return ("..." if start else "") + cut


def _flat(body: str) -> str:
    """The text excerpts are cut from: the body's first ``WIDTH * 40`` characters with
    every run of whitespace made one space."""
    return " ".join(body[: WIDTH * 40].split())


def _flat_start(body: str) -> tuple[str, bool]:
    """A start of ``_flat(body)`` from its first ``4 * WIDTH`` characters, and whether it
    is all of it. Splitting 9,600 characters per result to keep the first 240 (the
    excerpt of a search without text terms) cost a fifth of such a search.

    The start is exact: when the cut falls inside a word, that word is left out, so the
    text ends where ``_flat(body)`` has a space."""
    size = 4 * WIDTH
    if size >= min(len(body), WIDTH * 40):
        return _flat(body), True
    text = " ".join(body[:size].split())
    if not body[size].isspace():
        text = text[: max(text.rfind(" "), 0)]
    return text, False


def highlight(title: str, body: str, tokens: list[str], mode: str) -> tuple[str, str]:
    """(title, excerpt) for one result in the requested excerpt mode."""
    if mode == "none":
        return title, ""
    escape = not mode.endswith("_unescaped")
    stems = frozenset(tokens)
    if mode.startswith("indexed") or not stems:
        text, whole = _flat_start(body)
        if not whole and len(text) <= WIDTH:  # ``_window`` reads WIDTH + 1 characters
            text = _flat(body)
        excerpt = _window(text, frozenset())
        return title, html.escape(excerpt) if escape else excerpt
    # A window around the first match: where that is, only all of the text tells.
    return _mark(title, stems, escape), _mark(_window(_flat(body), stems), stems, escape)
