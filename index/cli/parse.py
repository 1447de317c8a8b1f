"""``cql parse``: a linter for saved CQL. Imports only the ``cql`` package."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any

import cql


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


def _queries(args: argparse.Namespace) -> Iterator[str]:
    if args.queries:
        yield from args.queries
        return
    lines: Iterable[str] = sys.stdin
    for line in lines:
        text = line.rstrip("\n").rstrip("\r")
        if text.strip():
            yield text


def run(args: argparse.Namespace) -> int:
    dialect = "lenient" if args.lenient else "strict"
    out = sys.stdout
    failed = 0
    for text in _queries(args):
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
