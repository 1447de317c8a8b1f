"""Extract what search needs from a Confluence storage-format body.

The rules are in docs/site-format.md ("Bodies"): ordinary XHTML is text, macro parameters
are not, rich and plain-text macro bodies are, ``<ri:user ri:account-id=...>`` is a
mention, emoticons, placeholders, task ids and task statuses are not text, link bodies are.

Why a small tokenizer of our own instead of ``html.parser.HTMLParser``: storage format relies
on ``<![CDATA[...]]>`` (code macros, link bodies), and CPython changed how ``HTMLParser``
treats CDATA sections and unterminated markup at end of input in 2025 security releases
(gh-135661, backported to the maintained branches), with more changes proposed (gh-153027
treats ``<![CDATA[`` in HTML content as a bogus comment ending at the first ``>``). The text we
index, and so the search results, must not depend on the Python patch release. The grammar
we need is small: tags with attributes, CDATA, comments, declarations, entities. The
tokenizer below is strict where the structure matters to search (the ``ac:``/``ri:``
elements that decide what is text, which macros a body uses, who is mentioned) and as
lenient as HTML elsewhere (unclosed ``<p>``, ``<br>``, undeclared prefixes, HTML entities).

What "cannot be parsed at all" means here (``StorageFormatError``):

- an unterminated CDATA section, comment, declaration or processing instruction;
- a ``<`` that starts a tag (``<x``, ``</``) but no well-formed tag follows;
- prefixed elements (``ac:``, ``ri:``, ...) that are not properly nested: a closing tag that
  does not match the innermost open prefixed element, a stray closing tag, or one left open
  at the end of the body.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

__all__ = ["BodyInfo", "StorageFormatError", "extract", "is_plain_text"]


class StorageFormatError(ValueError):
    """A body that cannot be parsed. ``offset`` is the 0-based position in the body."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class BodyInfo:
    """What the index takes from a body."""

    text: str
    macros: tuple[str, ...]  # sorted, unique, lower case
    mentions: tuple[str, ...]  # account ids, in order of first appearance


# A start or end tag. Attribute values may contain ">" inside quotes.
_TAG_RE = re.compile(
    r"""<(?P<close>/)?
    (?P<name>[A-Za-z][A-Za-z0-9_.:-]*)
    (?P<attrs>(?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>=`]+))?)*)
    \s*(?P<selfclose>/)?>""",
    re.VERBOSE,
)
_ATTR_RE = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>=`]+)))?""")

#: Prefixed elements whose content is never body text (besides every ``ri:`` element).
_NOT_TEXT = frozenset(
    {
        "ac:parameter",
        "ac:default-parameter",
        "ac:task-id",
        "ac:task-uuid",
        "ac:task-status",
        "ac:placeholder",
        "ac:emoticon",
    }
)
#: Prefixed elements that sit inside running text: no word break at their edges (an inline
#: comment marker may cover part of a word; a link's text continues the sentence). Every other
#: prefixed element, emoticons and images included, separates words.
_INLINE_PREFIXED = frozenset(
    {"ac:link", "ac:link-body", "ac:plain-text-link-body", "ac:inline-comment-marker"}
)
_MACRO_ELEMENTS = frozenset({"ac:structured-macro", "ac:macro"})
#: HTML elements at whose edges words break (``<p>a</p><p>b</p>`` is "a b", but
#: ``<strong>Rel</strong>ease`` is "Release").
_BLOCK_HTML = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "col", "colgroup", "dd",
        "details", "div", "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4",
        "h5", "h6", "header", "hr", "li", "nav", "ol", "p", "pre", "section", "summary",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip


def is_plain_text(body: str) -> bool:
    """A body that does not start with ``<`` (after whitespace) is plain text, indexed as is."""
    return not body.lstrip().startswith("<")


def _where(body: str, offset: int) -> str:
    line = body.count("\n", 0, offset) + 1
    column = offset - (body.rfind("\n", 0, offset) + 1) + 1
    snippet = body[offset : offset + 30]
    if len(body) > offset + 30:
        snippet += "..."
    return f"at line {line}, column {column} (near {snippet!r})"


def _fail(body: str, offset: int, what: str) -> StorageFormatError:
    return StorageFormatError(f"{what} {_where(body, offset)}", offset)


def _attribute(attrs: str, wanted: str) -> str | None:
    """The unescaped value of one attribute (names compared case-insensitively)."""
    for match in _ATTR_RE.finditer(attrs):
        if match.group(1).lower() == wanted:
            raw = match.group(2) or match.group(3) or match.group(4) or ""
            return html.unescape(raw)
    return None


def extract(body: str) -> BodyInfo:
    """Return the searchable text, macro names and mentioned account ids of a body.

    Plain-text bodies come back unchanged as text. Storage-format text is entity-decoded
    and its whitespace collapsed to single spaces. Raises ``StorageFormatError`` for a body
    that cannot be parsed (see the module docstring).
    """
    if is_plain_text(body):
        return BodyInfo(text=body, macros=(), mentions=())

    pieces: list[str] = []
    macros: set[str] = set()
    mentions: dict[str, None] = {}
    # Open prefixed elements: (name, offset, suppresses text).
    stack: list[tuple[str, int, bool]] = []
    hidden = 0  # how many open elements suppress text
    pos = 0
    end = len(body)
    find = body.find

    while pos < end:
        lt = find("<", pos)
        if lt < 0:
            if not hidden:
                pieces.append(html.unescape(body[pos:]))
            break
        if lt > pos and not hidden:
            pieces.append(html.unescape(body[pos:lt]))
        nxt = body[lt + 1 : lt + 2]

        if nxt == "!":
            if body.startswith("<![CDATA[", lt):
                close = find("]]>", lt + 9)
                if close < 0:
                    raise _fail(body, lt, "unterminated CDATA section")
                if not hidden:
                    pieces.append(body[lt + 9 : close])  # CDATA is literal: no entities
                pos = close + 3
            elif body.startswith("<!--", lt):
                close = find("-->", lt + 4)
                if close < 0:
                    raise _fail(body, lt, "unterminated comment")
                pos = close + 3
            else:  # <!DOCTYPE ...> and other declarations: not text
                close = find(">", lt + 2)
                if close < 0:
                    raise _fail(body, lt, "unterminated declaration")
                pos = close + 1
            continue
        if nxt == "?":
            close = find("?>", lt + 2)
            if close < 0:
                raise _fail(body, lt, "unterminated processing instruction")
            pos = close + 2
            continue
        if not (nxt == "/" or ("a" <= nxt <= "z") or ("A" <= nxt <= "Z")):
            # A lone "<" ("a < b"), tolerated as text the way HTML does.
            if not hidden:
                pieces.append("<")
            pos = lt + 1
            continue

        match = _TAG_RE.match(body, lt)
        if match is None:
            raise _fail(body, lt, "unterminated or malformed tag")
        pos = match.end()
        name = match.group("name").lower()

        if ":" not in name:
            # Ordinary (X)HTML: lenient, only word breaks matter.
            if name in _BLOCK_HTML:
                pieces.append(" ")
            continue

        if match.group("close"):
            if not stack:
                raise _fail(body, lt, f"unexpected closing tag </{name}>")
            open_name, open_at, suppress = stack[-1]
            if open_name != name:
                raise _fail(
                    body,
                    lt,
                    f"closing tag </{name}> does not match <{open_name}> "
                    f"(opened {_where(body, open_at).split(' (near')[0]})",
                )
            stack.pop()
            if suppress:
                hidden -= 1
        else:
            if name in _MACRO_ELEMENTS:
                macro = (_attribute(match.group("attrs"), "ac:name") or "").strip().lower()
                if macro:
                    macros.add(macro)
            elif name == "ri:user":
                account = (_attribute(match.group("attrs"), "ri:account-id") or "").strip()
                if account:
                    mentions.setdefault(account)
            if not match.group("selfclose"):
                suppress = name in _NOT_TEXT or name.startswith("ri:")
                stack.append((name, lt, suppress))
                if suppress:
                    hidden += 1
        if name not in _INLINE_PREFIXED and not name.startswith("ri:"):
            pieces.append(" ")

    if stack:
        open_name, open_at, _ = stack[-1]
        raise _fail(body, open_at, f"<{open_name}> is never closed: opened")

    text = " ".join("".join(pieces).split())
    return BodyInfo(text=text, macros=tuple(sorted(macros)), mentions=tuple(mentions))
