"""cql: the Confluence Query Language, as text, tree and canonical text.

    >>> import cql
    >>> q = cql.parse("type = smartlink and space = DEV order by created desc")
    >>> cql.to_cql(cql.normalize(q))
    'type = embed AND space = DEV ORDER BY created DESC'

This package knows nothing of indexes or search engines; ``index`` compiles its trees.
"""

from __future__ import annotations

from cql import ast
from cql.errors import CqlError, ErrorCode
from cql.normalize import normalize, normalize_report
from cql.parser import parse_syntax
from cql.printer import to_cql
from cql.validate import check_dialect, validate
from cql.words import quote

__all__ = [
    "CqlError",
    "ErrorCode",
    "ast",
    "normalize",
    "normalize_report",
    "parse",
    "quote",
    "to_cql",
]


def parse(text: str, *, dialect: str = "strict") -> ast.Query:
    """Parse and validate ``text``; raise :class:`CqlError` with a span on any problem.

    ``dialect`` is ``"strict"`` (mirrors Confluence Cloud, the default) or ``"lenient"``
    (also accepts a negative first clause, an empty or ORDER BY-only query, combined or
    unquoted date increments and unknown type values).
    """
    check_dialect(dialect)
    query = parse_syntax(text)
    validate(query, text, dialect)
    return query
