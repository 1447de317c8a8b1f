"""The one text analyzer: lower-case ``\\w+`` tokens, Porter2-stemmed, no stop words.

The same function runs at index time (inside Whoosh) and at query time (here and in the
reference evaluator): "the analyzer at query time must equal the analyzer at index time".
"""

from __future__ import annotations

import re
from functools import lru_cache

from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter
from whoosh.lang.porter2 import stem as _porter

TOKEN_PATTERN = r"\w+"
_TOKEN_RE = re.compile(TOKEN_PATTERN)


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    return _porter(word)


def words(text: str) -> list[str]:
    """Lower-cased tokens, not stemmed (what wildcard patterns are lower-cased like)."""
    return _TOKEN_RE.findall(text.lower())


def analyze(text: str) -> list[str]:
    """Stemmed tokens in order: what the index holds for ``text``."""
    return [stem(w) for w in _TOKEN_RE.findall(text.lower())]


def whoosh_analyzer():  # type: ignore[no-untyped-def]
    """The same analysis as a Whoosh analyzer chain, for the schema."""
    return RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter() | StemFilter(stemfn=stem)
