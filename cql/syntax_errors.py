"""Lark's parse failures as :class:`CqlError` values in plain words.

The common mistakes get their own messages (missing AND/OR, unclosed parenthesis or
quote, empty IN list, dangling AND/OR, missing operator or value); the expected tokens are
named in words, never with Lark's terminal names.
"""

from __future__ import annotations

import re

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from cql.errors import CqlError, ErrorCode

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


def syntax_error(text: str, err: UnexpectedInput) -> CqlError:
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
    # A keyword right after an operator was read as the value (``label = AND type = x``);
    # the parser only notices at the token after it, so point back at the keyword.
    kw = None if at_end else re.search(r"[=<>~]\s*(AND|OR|NOT|ORDER)\s*$", text[:pos], re.I)
    if kw is not None:
        return fail("missing value: a value must follow the operator",
                    kw.start(1), kw.end(1), ("a value",))
    prev_word = _prev_word(text, pos)
    if expected_names & {"WORD", "STRING"} and not expected_names & {"AND", "OR", "FIELD"}:
        what = "missing value" if at_end or tok.type in ("AND", "OR", "RPAR", "ORDER") \
            else f"expected a value, found {_describe(tok)}"
        return fail(f"{what}: a value must follow the operator", pos, end, expected)
    if "CMP" in expected_names:
        # After AND/OR/NOT only a field may come, so ``AND ORDER BY`` reads ORDER as a field.
        dangling = re.search(r"\b(AND|OR|NOT)\s+ORDER\s*$", text[:pos], re.I)
        if dangling is not None and tok.type == "BY":
            word = dangling.group(1).upper()
            return fail(f"dangling {word}: a clause must follow it", dangling.start(1),
                        dangling.end(1), ("a field name", "NOT", "'('"))
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
            last = len(text.rstrip()) - 1
            if last >= 0 and text[last] == ",":
                return fail("a field name must follow ','", last, last + 1, expected)
            if last >= 0 and text[last] == "(":
                return fail("the query ends after '(': a clause must follow it",
                            last, last + 1, expected)
            return fail("the query ends where a field name was expected", len(text), None,
                        expected)
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
