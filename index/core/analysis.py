"""The one text analyzer: lower-case ``\\w+`` tokens, Porter2-stemmed, no stop words.

The same function runs at index time (inside Whoosh) and at query time (here and in the
reference evaluator): "the analyzer at query time must equal the analyzer at index time".
"""

from __future__ import annotations

import re

from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter
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


def words(text: str) -> list[str]:
    """Lower-cased tokens, not stemmed: split first, then lower-case, as Whoosh does."""
    return [w.lower() for w in _TOKEN_RE.findall(text)]


def analyze(text: str) -> list[str]:
    """Stemmed tokens in order: what the index holds for ``text``."""
    return [stem(w) for w in words(text)]


def positions_by_stem(text: str) -> dict[str, list[int]]:
    """Each stem of ``text`` with its token positions (for the bulk index writer)."""
    out: dict[str, list[int]] = {}
    for pos, word in enumerate(_TOKEN_RE.findall(text)):
        key = stem(word.lower())
        bucket = out.get(key)
        if bucket is None:
            out[key] = [pos]
        else:
            bucket.append(pos)
    return out


def whoosh_analyzer():  # type: ignore[no-untyped-def]
    """The same analysis as a Whoosh analyzer chain, for the schema."""
    return RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter() | StemFilter(stemfn=stem)
