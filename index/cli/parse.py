"""``cql parse``: a linter for saved CQL. Imports only the ``cql`` package."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any

import cql
from index.cli.textio import BadLine, check_argument, stdin_lines


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


def _queries(args: argparse.Namespace) -> Iterator[str | BadLine]:
    if args.queries:
        for number, text in enumerate(args.queries, start=1):
            yield check_argument(text, f"<argument {number}>") or text
        return
    for text in stdin_lines():  # bytes decoded as UTF-8 whatever the locale
        if isinstance(text, BadLine) or text.strip():
            yield text


def run(args: argparse.Namespace) -> int:
    dialect = "lenient" if args.lenient else "strict"
    out = sys.stdout
    failed = 0
    for text in _queries(args):
        if isinstance(text, BadLine):
            failed += 1
            if args.json:
                out.write(json.dumps({"cql": None, "ok": False, "error": {
                    "code": "bad_encoding", "message": str(text), "line": text.line,
                    "column": text.column}}) + "\n")
            else:
                out.write(f"error: {text}\n")
            continue
        try:
            query = cql.normalize(cql.parse(text, dialect=dialect))
        except cql.CqlError as err:
            failed += 1
            if args.json:
                out.write(json.dumps({"cql": text, "ok": False, "error": err.to_dict()}) + "\n")
            else:
                out.write(f"error: {err}\n")
            continue
        canonical = cql.to_cql(query)
        if args.json:
            out.write(json.dumps({"cql": text, "ok": True, "canonical": canonical,
                                  "ast": ast_to_json(query)}) + "\n")
        else:
            out.write(canonical + "\n")
    return 1 if failed else 0
