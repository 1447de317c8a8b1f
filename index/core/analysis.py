"""The one text analyzer: lower-case ``\\w+`` tokens, Porter2-stemmed, no stop words.

The same function runs at index time (inside Whoosh) and at query time (here and in the
reference evaluator): "the analyzer at query time must equal the analyzer at index time".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import compress
from operator import and_
from typing import Any

from whoosh.analysis import Filter, LowercaseFilter, RegexTokenizer, StemFilter
from whoosh.lang.porter2 import stem as _porter

TOKEN_PATTERN = r"\w+"
_TOKEN_RE = re.compile(TOKEN_PATTERN)


_STEMS: dict[str, str] = {}


def stem(word: str) -> str:
    """Porter2 stem of a lower-cased word, memoised (vocabularies repeat heavily)."""
    found = _STEMS.get(word)
    if found is None:
        if len(_STEMS) > 1_000_000:
            _STEMS.clear()
        found = _STEMS[word] = _porter(word)
    return found


#: Every ASCII character that the token pattern does not match, mapped to a space.
_ASCII_GAPS = str.maketrans({chr(c): " " for c in range(128)
                             if not _TOKEN_RE.fullmatch(chr(c))})


def words(text: str) -> list[str]:
    """Lower-cased tokens, not stemmed: split first, then lower-case, as Whoosh does.

    ASCII text is lower-cased first, its non-word characters made spaces and split there:
    the same tokens at a third of the regular expression's cost, since lower-casing an
    ASCII character gives one character, a word character exactly when it was one. (Not
    so beyond ASCII: "İ" lower-cases to "i" and a combining dot, which is not one.)"""
    if text.isascii():
        return text.lower().translate(_ASCII_GAPS).split()
    return list(map(str.lower, _TOKEN_RE.findall(text)))


def analyze(text: str) -> list[str]:
    """Stemmed tokens in order: what the index holds for ``text``."""
    tokens = words(text)
    known = list(map(_STEMS.get, tokens))  # most words were stemmed before
    if None in known:
        return [found if found is not None else stem(word)
                for found, word in zip(known, tokens, strict=True)]
    return known  # type: ignore[return-value]  # no None in it


def positions_of(stems: list[str]) -> dict[str, list[int]]:
    """Each stem of an analysed text with its token positions."""
    out: dict[str, list[int]] = {}
    for pos, key in enumerate(stems):
        bucket = out.get(key)
        if bucket is None:
            out[key] = [pos]
        else:
            bucket.append(pos)
    return out


def whoosh_analyzer():  # type: ignore[no-untyped-def]
    """The same analysis as a Whoosh analyzer chain, for the schema."""
    return RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter() | StemFilter(stemfn=stem)


# --- common words and their pairs -------------------------------------------------------
#
# A phrase of common words is the costly one: its words' positions run into millions at
# 100,000 items, and Whoosh stores them pickled. So each text field has a companion field
# (``backend.common_field``) holding, with their frequencies and without positions, the
# stems of a fixed set of common words and each adjacent *pair* of them as one term
# ("a b": a space never occurs inside a stem, so a pair cannot be mistaken for a word).
# A two-word phrase of common words is then one postings list, and relevance reads the
# common words' frequencies without their positions. The set is chosen when an index is
# built and kept in its schema (``CommonFilter``): any set gives the same answers, the
# choice only decides which phrases are fast.

#: At most this many common words (so at most this squared pair terms per field).
COMMON_WORDS = 64
#: A common word makes at least this share of the sampled tokens.
COMMON_SHARE = 0.001
#: The separator of a pair term's two stems.
PAIR = " "


def choose_common(texts: Iterable[str]) -> frozenset[str]:
    """The most frequent stems of a sample of texts: the ``COMMON_WORDS`` most frequent
    among those that make at least ``COMMON_SHARE`` of its tokens and occur twice."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(analyze(text))
    floor = max(2, sum(counts.values()) * COMMON_SHARE)
    return frozenset(w for w, n in counts.most_common(COMMON_WORDS) if n >= floor)


def pair(first: str, second: str) -> str:
    """The term of two adjacent common stems."""
    return first + PAIR + second


def common_terms(stems: list[str], common: frozenset[str]) -> Counter[str]:
    """What the companion field of a text holds, with frequencies: each common stem, and
    each pair of adjacent stems that are both common (``CommonFilter`` at index time).

    Counted with ``map`` and ``compress`` rather than a loop over the stems: a build calls
    this for every text."""
    flags = list(map(common.__contains__, stems))
    out = Counter(compress(stems, flags))
    if out:  # a pair needs a common stem
        both = map(and_, flags, flags[1:])
        out.update(map(PAIR.join, compress(zip(stems, stems[1:], strict=False), both)))
    return out


class CommonFilter(Filter):  # type: ignore[misc]
    """The end of the companion field's analyzer: keeps the common stems and adds a token
    for each pair of adjacent common stems, as ``common_terms`` counts them. It carries
    the index's set of common words, so the schema Whoosh stores records it."""

    def __init__(self, common: frozenset[str]) -> None:
        self.common = frozenset(common)

    def __call__(self, tokens: Iterator) -> Iterator:  # type: ignore[type-arg]
        common, prev = self.common, None
        for t in tokens:  # Whoosh reuses one token object: its text is read at each yield
            text = t.text
            if text in common:
                yield t
                if prev is not None:
                    t.text = prev + PAIR + text
                    yield t
                    t.text = text
                prev = text
            else:
                prev = None


def common_analyzer(common: frozenset[str]):  # type: ignore[no-untyped-def]
    """The companion field's analyzer: the one analysis, then ``CommonFilter``."""
    return whoosh_analyzer() | CommonFilter(common)


def common_field(field: str) -> str:
    """The name of a text field's companion."""
    return f"{field}_common"


def common_of(companion: Any) -> frozenset[str]:
    """The common words a companion field's analyzer (a Whoosh field) carries."""
    found = [f for f in getattr(companion.analyzer, "items", ()) if isinstance(f, CommonFilter)]
    return found[0].common if found else frozenset()
