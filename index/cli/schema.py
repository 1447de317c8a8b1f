"""JSON Schemas of the site format, generated from the pydantic models that validate it.

The schemas in ``docs/schema/`` are this module's output, checked in so an editor or a
validator can use them without this package, and kept equal to the models by a test
(``tests/test_schema.py``): regenerate with ``python -m index.cli.schema docs/schema``.
A schema says what a line *may* hold; the loader's cross-line rules (a parent that exists,
a key used once) are in docs/site-format.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema (one line of a ``.jsonl`` file; the whole ``.json`` file)."""
    from pydantic import TypeAdapter

    from index.security.policy import App, Grant, Policy, SiteInfo
    from index.site.models import ContentLine, Space, User

    def titled(schema: dict[str, Any], file: str, what: str) -> dict[str, Any]:
        return {**schema, "$schema": SCHEMA_DIALECT,
                "$id": f"cql-search/site/{file}.schema.json", "description": what}

    out = {
        "spaces.jsonl": titled(Space.model_json_schema(), "spaces.jsonl",
                               "One line of spaces.jsonl: a space."),
        "users.jsonl": titled(User.model_json_schema(), "users.jsonl",
                              "One line of users.jsonl: a user."),
        "content.jsonl": titled(ContentLine.model_json_schema(), "content.jsonl",
                                "One line of content.jsonl: a page, blog post, comment, "
                                "attachment, whiteboard, database, embed or folder."),
        "policies.json": titled(TypeAdapter(list[Policy]).json_schema(), "policies.json",
                                "policies.json: a list of data security policies."),
        "apps.json": titled(TypeAdapter(list[App]).json_schema(), "apps.json",
                            "apps.json: a list of installed apps."),
        "grants.json": titled(TypeAdapter(list[Grant]).json_schema(), "grants.json",
                              "grants.json: a list of users' grants to 3LO apps."),
        "site.json": titled(SiteInfo.model_json_schema(), "site.json",
                            "site.json: the site itself."),
    }
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schema")):
        print(written)
