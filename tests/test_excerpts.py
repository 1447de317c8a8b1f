"""Excerpts cut from the start of a long body are exactly those cut from all of it.

Without text terms, ``highlight`` flattens only the first ``4 * WIDTH`` characters of a
body (index/core/excerpts.py); this compares it, for generated bodies, tokens and modes,
with the plain definition: flatten the first ``WIDTH * 40`` characters, then cut the
window.
"""

from __future__ import annotations

import html

from hypothesis import given, settings
from hypothesis import strategies as st

from index.core import excerpts
from index.core.analysis import stem
from index.core.excerpts import WIDTH, _mark, _window, highlight

MODES = ("highlight", "indexed", "highlight_unescaped", "indexed_unescaped")
WORDS = ("alpha", "beta", "release", "releases", "notes", "gamma", "x", "<b>", "&amp;",
         "Über", "naïve", "relea", "a" * 30)
SPACES = (" ", "  ", "\n", "\t", " \u00a0", "\u2003", "\r\n ")


def reference(title: str, body: str, tokens: list[str], mode: str) -> tuple[str, str]:
    """``highlight`` as defined: the whole flattened body, then the window."""
    if mode == "none":
        return title, ""
    flat = " ".join(body[: WIDTH * 40].split())
    escape = not mode.endswith("_unescaped")
    stems = frozenset(tokens)
    if mode.startswith("indexed") or not stems:
        excerpt = _window(flat, frozenset())
        return title, html.escape(excerpt) if escape else excerpt
    return _mark(title, stems, escape), _mark(_window(flat, stems), stems, escape)


@st.composite
def bodies(draw: st.DrawFn) -> str:
    """Bodies of words and whitespace runs around the cut points (960 and 9,600)."""
    parts = draw(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SPACES)),
                          max_size=40))
    text = "".join(w + s for w, s in parts)
    repeat = draw(st.sampled_from((1, 1, 10, 60, 400)))
    lead = draw(st.sampled_from(("", " ", "\n\n", " " * 1000)))
    return (lead + text * repeat)[: draw(st.integers(0, 20_000))]


@settings(max_examples=max(100, settings.default.max_examples))
@given(body=bodies(), words=st.lists(st.sampled_from(WORDS), max_size=3),
       mode=st.sampled_from(MODES))
def test_excerpt_from_the_start_equals_excerpt_from_the_whole(body: str, words: list[str],
                                                              mode: str) -> None:
    tokens = [stem(w.lower()) for w in words]
    assert highlight("Release notes", body, tokens, mode) == reference(
        "Release notes", body, tokens, mode)


def test_a_long_body_without_text_terms_is_cut_from_its_start() -> None:
    body = "word  \n" * 2000
    assert excerpts._flat_start(body)[1] is False  # the shortcut is taken
    for mode in MODES:
        assert highlight("t", body, [], mode) == reference("t", body, [], mode)


def test_a_match_far_into_the_body_is_found() -> None:
    body = "filler " * 500 + "release notes " + "tail " * 50
    title, excerpt = highlight("t", body, [stem("release")], "highlight")
    assert "@@@hl@@@release@@@endhl@@@" in excerpt
    assert excerpt == reference("t", body, [stem("release")], "highlight")[1]
