"""Excerpts and highlighting in Confluence's shape (``@@@hl@@@word@@@endhl@@@``).

A word is highlighted when its stem is one of the search's positive stems, so what is
marked is exactly what matched. Only text the caller may see ever reaches this module.
"""

from __future__ import annotations

import html
import re

from index.analysis import stem

HL, END = "@@@hl@@@", "@@@endhl@@@"
WIDTH = 240
_WORD = re.compile(r"\w+")


def _mark(text: str, stems: frozenset[str], escape: bool) -> str:
    out: list[str] = []
    pos = 0
    for m in _WORD.finditer(text):
        if stem(m.group().lower()) in stems:
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
    for m in _WORD.finditer(body):
        if stem(m.group().lower()) in stems:
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


def highlight(title: str, body: str, tokens: list[str], mode: str) -> tuple[str, str]:
    """(title, excerpt) for one result in the requested excerpt mode."""
    body = " ".join(body.split())
    if mode == "none":
        return title, ""
    escape = not mode.endswith("_unescaped")
    stems = frozenset(tokens)
    if mode.startswith("indexed") or not stems:
        excerpt = _window(body, frozenset())
        return title, html.escape(excerpt) if escape else excerpt
    return _mark(title, stems, escape), _mark(_window(body, stems), stems, escape)
