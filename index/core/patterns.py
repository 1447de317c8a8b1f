"""Wildcard and fuzzy matching of indexed words, in time linear in the word's length.

A wildcard used to become a regular expression (``a*b`` -> ``a.*b``), and Python's
backtracking engine takes exponential time on ``a*a*a*...*b`` against a long word of
``a``s; a fuzzy word was compared with every indexed word by a full Levenshtein table,
quadratic in their lengths. Here:

- a wildcard is split at its ``*`` (runs collapse: ``a**b`` is ``a*b``) into segments of
  literal characters and ``?``; the first segment must start the word, the last must end
  it, and each middle one is found at its leftmost place after the previous one (which is
  optimal: a later place can only leave less room). Segments without ``?`` use
  ``str.find``; the others a direct scan. Cost: O(word length x pattern length) at worst,
  linear in the word for a given pattern;
- fuzzy matching computes only the diagonal band of the Levenshtein table within the
  allowed distance: O(word length x (2 x distance + 1)).

A wildcard or fuzzy term stands for every indexed word it matches; ``MAX_EXPANSION``
bounds how many, so one short pattern cannot make a search union hundreds of thousands
of posting lists (``ExpansionTooLarge``, reported as a ``too_large`` CqlError).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

#: Indexed words one wildcard or fuzzy term may stand for (per field set).
MAX_EXPANSION = 10_000

_ANY = None  # a '?' in a segment
Segment = tuple[str | None, ...]


class ExpansionTooLarge(Exception):
    """A wildcard or fuzzy term matched more indexed words than ``MAX_EXPANSION``."""

    def __init__(self, term: str, limit: int) -> None:
        super().__init__(f"{term!r} matches more than {limit:,} indexed words; make it more "
                         "specific")
        self.term = term
        self.limit = limit


def _segments(pattern: str) -> list[Segment]:
    """The pattern split at unescaped ``*``; a backslash makes the next character literal."""
    out: list[Segment] = []
    current: list[str | None] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, "\\"))
        elif ch == "*":
            out.append(tuple(current))
            current = []
        elif ch == "?":
            current.append(_ANY)
        else:
            current.append(ch)
    out.append(tuple(current))
    return out


def _matches_at(word: str, start: int, segment: Segment) -> bool:
    for offset, want in enumerate(segment):
        if want is not _ANY and word[start + offset] != want:
            return False
    return True


def _find(word: str, segment: Segment, start: int, end: int) -> int:
    """The leftmost place of ``segment`` in ``word[start:end]``, or -1."""
    if _ANY not in segment:
        return word.find("".join(segment), start, end)  # type: ignore[arg-type]
    last = end - len(segment)
    for place in range(start, last + 1):
        if _matches_at(word, place, segment):
            return place
    return -1


@lru_cache(maxsize=4096)
def wildcard_matcher(pattern: str) -> Callable[[str], bool]:
    """A function telling whether a whole word matches ``pattern`` (``*`` any run,
    ``?`` one character)."""
    segments = _segments(pattern)
    if len(segments) == 1:
        only = segments[0]
        return lambda word: len(word) == len(only) and _matches_at(word, 0, only)
    head, middle, tail = segments[0], segments[1:-1], segments[-1]
    middle = [segment for segment in middle if segment]  # empty: from a run of '*'
    fixed = len(head) + len(tail) + sum(map(len, middle))

    def match(word: str) -> bool:
        size = len(word)
        if size < fixed:
            return False
        if not _matches_at(word, 0, head) or not _matches_at(word, size - len(tail), tail):
            return False
        position, end = len(head), size - len(tail)
        for segment in middle:
            found = _find(word, segment, position, end)
            if found < 0:
                return False
            position = found + len(segment)
        return True

    return match


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by binary search over C-speed slice comparisons."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def within_distance(a: str, b: str, limit: int) -> bool:
    """True when the Levenshtein distance of ``a`` and ``b`` is at most ``limit``.

    A common prefix and suffix never change the distance, so they are cut off first; of
    the table for the rest, only the cells within ``limit`` of the diagonal can stay within
    ``limit``, so only that band is computed (``band[k]`` is column ``i + k - limit``):
    linear in the words' length.
    """
    if abs(len(a) - len(b)) > limit:
        return False
    if a == b:
        return True
    cut = _common_prefix(a, b)
    a, b = a[cut:], b[cut:]
    cut = _common_prefix(a[::-1], b[::-1])
    if cut:
        a, b = a[:-cut], b[:-cut]
    n, m = len(a), len(b)
    if not n or not m:
        return max(n, m) <= limit
    big = limit + 1
    width = 2 * limit + 1
    previous = [k - limit if 0 <= k - limit <= m else big for k in range(width)]
    for i in range(1, n + 1):
        current = [big] * width
        char = a[i - 1]
        best = big
        for k in range(width):
            j = i + k - limit
            if j < 0 or j > m:
                continue
            if j == 0:
                value = i
            else:
                value = previous[k] + (char != b[j - 1])  # substitute (or match)
                if k + 1 < width and previous[k + 1] + 1 < value:
                    value = previous[k + 1] + 1  # delete from a
                if k and current[k - 1] + 1 < value:
                    value = current[k - 1] + 1  # insert into a
            current[k] = min(value, big)
            best = min(best, current[k])
        if best > limit:
            return False
        previous = current
    k = m - n + limit
    return 0 <= k < width and previous[k] <= limit
