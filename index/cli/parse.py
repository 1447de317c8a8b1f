"""``cql parse``: a linter for saved CQL. Imports only the ``cql`` package.

Problems are reported the way compilers and ruff report them, ``FILE:LINE:COLUMN: code:
message``, so an editor or a CI log viewer jumps straight to the line; ``--format github``
writes GitHub Actions annotations instead, and ``--json`` one object per query carrying the
input's file and line. Exit 0 when every query is valid, 1 when any is not.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

import cql
from index.cli.conventions import usage_error
from index.cli.textio import BadLine, check_argument, decode_lines

#: A word that names a file rather than a query (used only to say "no such file").
_PATHLIKE = re.compile(r"^[\w./\\~-]+\.(cql|txt|lst)$|^[\w.~-]*/[\w./~-]*$")


@dataclass(frozen=True)
class Line:
    """One query to check and where it came from (``line`` counts from 1)."""

    source: str
    line: int
    text: str
    is_file: bool
    #: Set when the line could not be decoded: the query is not checked, this is reported.
    bad_encoding: str = ""
    bad_column: int = 1


def ast_to_json(node: Any) -> Any:
    """A JSON-ready view of an AST node: ``{"node": "Clause", ..., "span": [s, e]}``."""
    if isinstance(node, Enum):
        return node.value
    if isinstance(node, tuple):
        return [ast_to_json(n) for n in node]
    if is_dataclass(node):
        out: dict[str, Any] = {"node": type(node).__name__}
        for f in fields(node):
            if f.name == "bare":
                continue
            value = getattr(node, f.name)
            if f.name == "span":
                out["span"] = [value.start, value.end]
            else:
                out[f.name] = ast_to_json(value)
        return out
    return node


def _file_lines(source: str, stream: IO[bytes], is_file: bool) -> Iterator[Line]:
    """Non-blank, non-comment lines of a byte stream, decoded as UTF-8 line by line whatever
    the locale (``index.cli.textio``), so one bad byte costs one line, reported at its
    position, not the whole file."""
    for number, text in enumerate(decode_lines(stream, source), start=1):  # type: ignore[arg-type]
        if isinstance(text, BadLine):
            yield _bad(text, is_file)
        elif text.strip() and not text.lstrip().startswith("#"):
            yield Line(source, number, text, is_file)


def _bad(bad: BadLine, is_file: bool) -> Line:
    return Line(bad.source, bad.line, "", is_file, bad_encoding=(
        f"not valid UTF-8 (byte 0x{bad.byte:02x}); input must be UTF-8 text"),
        bad_column=bad.column)


def _stdin_lines() -> Iterator[Line]:
    yield from _file_lines("<stdin>", sys.stdin.buffer, False)


def inputs(args: argparse.Namespace) -> Iterator[Line]:
    """The queries to check: files and queries from the arguments, else standard input."""
    given: list[str] = list(args.inputs)
    if not given and not args.query:
        yield from _stdin_lines()
        return
    for number, word in enumerate(given, start=1):
        bad = check_argument(word, f"<argument {number}>")
        path = Path(word)
        if bad is not None:
            yield _bad(bad, False)
        elif word == "-":
            yield from _stdin_lines()
        elif path.is_file():
            with path.open("rb") as stream:
                yield from _file_lines(word, stream, True)
        elif path.is_dir():
            raise usage_error(f"{word} is a directory; give the files in it")
        elif _PATHLIKE.match(word) and not word.strip().startswith(("(", '"', "'")):
            raise usage_error(f"no such file: {word} (to check it as a query, use -e)")
        else:
            yield Line(f"<argument {number}>", 1, word, False)
    for number, word in enumerate(args.query, start=1):
        bad = check_argument(word, f"<query {number}>")
        yield _bad(bad, False) if bad is not None else Line(f"<query {number}>", 1, word, False)


# --- reporters -------------------------------------------------------------------------------


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


class Reporter:
    """Writes one result per query; subclasses choose the format."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def ok(self, item: Line, canonical: str, query: Any) -> None:
        # A file is linted, not reprinted: only its problems are shown.
        if not item.is_file:
            self.out.write(canonical + "\n")

    def problem(self, item: Line, code: str, message: str, line: int, column: int,
                error: cql.CqlError | None) -> None:
        self.out.write(f"{item.source}:{item.line + line - 1}:{column}: {code}: {message}\n")
        if error is not None and error.caret():
            self.out.write(error.caret() + "\n")


class JsonReporter(Reporter):
    def ok(self, item: Line, canonical: str, query: Any) -> None:
        self._write({"cql": item.text, "ok": True, "canonical": canonical,
                     "ast": ast_to_json(query)}, item)

    def problem(self, item: Line, code: str, message: str, line: int, column: int,
                error: cql.CqlError | None) -> None:
        detail = error.to_dict() if error is not None else {
            "code": code, "message": message, "line": line, "column": column}
        self._write({"cql": item.text, "ok": False, "error": detail}, item)

    def _write(self, record: dict[str, Any], item: Line) -> None:
        record["file"] = item.source
        record["line"] = item.line
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")


class GithubReporter(Reporter):
    """``::error file=F,line=L,col=C,title=T::message`` (GitHub Actions workflow commands)."""

    def ok(self, item: Line, canonical: str, query: Any) -> None:
        pass

    def problem(self, item: Line, code: str, message: str, line: int, column: int,
                error: cql.CqlError | None) -> None:
        where = f"file={_github_escape(item.source, prop=True)}," if item.is_file else ""
        self.out.write(f"::error {where}line={item.line + line - 1},col={column},"
                       f"title={_github_escape('cql ' + code, prop=True)}::"
                       f"{_github_escape(message)}\n")


REPORTERS: dict[str, type[Reporter]] = {
    "text": Reporter, "json": JsonReporter, "github": GithubReporter}


def run(args: argparse.Namespace) -> int:
    dialect = "lenient" if args.lenient else "strict"
    fmt = args.format or ("json" if args.json else "text")
    if args.json and args.format not in (None, "json"):
        raise usage_error("--json cannot be combined with --format " + args.format)
    reporter = REPORTERS[fmt](sys.stdout)
    return check(inputs(args), dialect, reporter)


def check(items: Iterable[Line], dialect: str, reporter: Reporter) -> int:
    failed = 0
    for item in items:
        if item.bad_encoding:
            failed += 1
            reporter.problem(item, "bad_encoding", item.bad_encoding, 1, item.bad_column, None)
            continue
        try:
            query = cql.normalize(cql.parse(item.text, dialect=dialect))
        except cql.CqlError as err:
            failed += 1
            reporter.problem(item, err.code.value, err.message, err.line, err.column, err)
            continue
        reporter.ok(item, cql.to_cql(query), query)
    reporter.out.flush()
    return 1 if failed else 0
