"""Text to syntax tree: the fast reader for valid queries, Lark for everything else.

The grammar lives in ``grammar.lark`` (``lark_parser.py`` builds Lark's LALR parser from
it). Valid queries take the faster road of ``fastreader.py``, which builds the very same
tree; anything it does not accept outright, and every error, goes to Lark, whose failures
``syntax_errors.py`` turns into :class:`CqlError` values. Lark's exceptions never leave
this package.
"""

from __future__ import annotations

from lark.exceptions import UnexpectedInput

from cql.ast import Query
from cql.errors import CqlError, ErrorCode
from cql.fastreader import fast_parse as _fast_parse
from cql.lark_parser import PARSER, raw_parser
from cql.syntax_errors import syntax_error

MAX_QUERY_LENGTH = 64 * 1024

__all__ = ["MAX_QUERY_LENGTH", "parse_syntax", "raw_parser"]


def parse_syntax(text: str) -> Query:
    """Parse ``text`` into an AST, checking syntax only (no field or value rules)."""
    if len(text) > MAX_QUERY_LENGTH:
        raise CqlError(
            ErrorCode.TOO_LARGE,
            f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_LENGTH:,}",
            text, MAX_QUERY_LENGTH, len(text),
        )
    query = _fast_parse(text)
    if query is not None:
        return query
    return _lark_parse(text)


def _lark_parse(text: str) -> Query:
    """The reference path: Lark, with its failures translated into :class:`CqlError`."""
    try:
        return PARSER.parse(text)  # type: ignore[return-value]
    except CqlError as err:
        raise err.with_query(text) from None
    except UnexpectedInput as err:
        raise syntax_error(text, err) from None
    except Exception as err:  # errors raised inside the transformer arrive wrapped
        inner = getattr(err, "orig_exc", None)
        if isinstance(inner, CqlError):
            raise inner.with_query(text) from None
        raise


