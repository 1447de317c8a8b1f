"""One exception for every problem with a query, with a stable code and a source span.

The ``code`` is the API; message wording may improve over time. ``str(error)`` renders the
message, the query line and a caret under the offending span, so a front end can print it
as it is; front ends that colour the caret read ``line``, ``column`` and ``end`` instead.
"""

from __future__ import annotations

import enum

from cql.width import display_width, widths


class ErrorCode(enum.StrEnum):
    """Stable error codes: callers branch on these, never on message wording."""

    SYNTAX = "syntax"
    UNKNOWN_FIELD = "unknown_field"
    OPERATOR_NOT_ALLOWED = "operator_not_allowed"
    BAD_VALUE = "bad_value"
    RESERVED_WORD = "reserved_word"
    RESERVED_CHARACTER = "reserved_character"
    NEGATIVE_FIRST = "negative_first"
    BAD_DATE = "bad_date"
    BAD_INCREMENT = "bad_increment"
    UNKNOWN_FUNCTION = "unknown_function"
    BAD_ARGUMENTS = "bad_arguments"
    NOT_SORTABLE = "not_sortable"
    UNKNOWN_TYPE = "unknown_type"
    USER_SEARCH_FIELD = "user_search_field"
    EMPTY_QUERY = "empty_query"
    NEEDS_CONTEXT = "needs_context"
    PERMISSION = "permission"
    TOO_LARGE = "too_large"
    FUNCTION_NOT_ALLOWED = "function_not_allowed"


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    return line, offset - line_start + 1


class CqlError(Exception):
    """A query that cannot be run, and exactly where and why."""

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        query: str = "",
        offset: int = 0,
        end: int | None = None,
        expected: tuple[str, ...] = (),
    ) -> None:
        self.code = ErrorCode(code)
        self.message = message
        self.query = query
        limit = len(query) if query else max(offset, end or 0)
        self.offset = max(0, min(offset, limit))
        self.end = max(self.offset, min(end if end is not None else offset + 1, limit))
        self.expected = expected
        self.line, self.column = line_and_column(query, self.offset)
        super().__init__(self.__str__())

    def with_query(self, query: str) -> CqlError:
        """The same error positioned in ``query`` (for errors raised before text was known)."""
        return CqlError(self.code, self.message, query, self.offset, self.end, self.expected)

    def caret(self) -> str:
        """The line holding the error and a caret run under its span, placed by display
        width (a CJK character or an emoji before the error takes two columns), with the
        line's tabs kept so a terminal expands them alike above and below."""
        if not self.query:
            return ""
        lines = self.query.split("\n")
        text = lines[self.line - 1]
        end_line, _ = line_and_column(self.query, self.end)
        start = self.column - 1
        stop = start + (self.end - self.offset) if end_line == self.line else len(text)
        before = text[:start]
        pad = "".join("\t" if ch == "\t" else " " * cells
                      for ch, cells in zip(before, widths(before), strict=True))
        return f"{text}\n{pad}{'^' * max(1, display_width(text[start:stop]))}"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "code": self.code.value,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "offset": self.offset,
            "end": self.end,
        }
        if self.expected:
            out["expected"] = list(self.expected)
        return out

    def __str__(self) -> str:
        head = f"line {self.line}, column {self.column}: {self.message}"
        caret = self.caret()
        return f"{head}\n{caret}" if caret else head

    # Keep pickling (multiprocessing) working with our signature.
    def __reduce__(self) -> tuple[object, ...]:
        return (
            CqlError,
            (self.code, self.message, self.query, self.offset, self.end, self.expected),
        )
