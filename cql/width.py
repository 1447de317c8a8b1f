"""How many terminal columns text takes: a caret must stand under the character it names.

A CJK character or an emoji takes two columns and a combining accent none, so counting
code points puts ``CqlError.caret``'s ``^`` in the wrong place after such text. The
widths come from the standard library's Unicode database, keeping the language package
free of dependencies; they follow what terminals (and ``wcwidth`` and rich, which the
table renderer measures with) do:

- East Asian Wide and Fullwidth characters (CJK, most emoji) take two columns;
- combining marks, format characters (zero-width joiner, variation selectors) and other
  controls take none;
- a character glued on by a zero-width joiner (the rest of a family emoji) and a skin-tone
  modifier after an emoji take none: the sequence shows as one emoji;
- an emoji variation selector (U+FE0F) widens the narrow character before it to two.

A tab is one column here; callers that lay text under text keep tabs as tabs.
"""

from __future__ import annotations

import unicodedata

_ZWJ = "\u200d"
_EMOJI_PRESENTATION = "\ufe0f"
_SKIN_TONES = range(0x1F3FB, 0x1F400)


def widths(text: str) -> list[int]:
    """The columns each code point of ``text`` takes, in order (their sum is the width)."""
    out: list[int] = []
    previous = ""
    for ch in text:
        if previous == _ZWJ or (ord(ch) in _SKIN_TONES and out and out[-1] == 2):
            width = 0
        elif ch == _EMOJI_PRESENTATION:
            width = 1 if out and out[-1] == 1 and previous != "\t" else 0
        elif ch == "\t":
            width = 1
        elif unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cc", "Zl", "Zp"):
            width = 0
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            width = 2
        else:
            width = 1
        out.append(width)
        previous = ch
    return out


def display_width(text: str) -> int:
    """The number of terminal columns ``text`` takes on one line."""
    if text.isascii():
        return sum(1 for ch in text if " " <= ch < "\x7f" or ch == "\t")
    return sum(widths(text))
