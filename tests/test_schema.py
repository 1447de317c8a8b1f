"""docs/schema/*.json are the JSON Schemas of the pydantic models that validate a site, and
stay so: regenerate with ``python -m index.cli.schema docs/schema`` after changing a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.cli.schema import render, schemas

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "docs" / "schema"
GENERATED = schemas()


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_the_checked_in_schema_matches_the_models(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.is_file(), f"missing {path}: run python -m index.cli.schema docs/schema"
    assert path.read_text(encoding="utf-8") == render(GENERATED[name]), (
        f"{path} is stale: run python -m index.cli.schema docs/schema")


def test_no_stray_schema_files() -> None:
    assert {p.name for p in SCHEMA_DIR.glob("*.json")} == {
        f"{name}.schema.json" for name in GENERATED}


def test_the_schemas_describe_the_sample_site() -> None:
    """Every key the bundled site uses is a property of its file's schema, and the schema's
    required keys are present: the schemas describe real data, not an imagined format."""
    site = ROOT / "fixtures" / "site"
    for name in ("spaces.jsonl", "users.jsonl", "content.jsonl"):
        schema = GENERATED[name]
        props, required = set(schema["properties"]), set(schema.get("required", []))
        for line in (site / name).read_text(encoding="utf-8").splitlines()[:500]:
            keys = set(json.loads(line))
            assert keys <= props and required <= keys, (name, keys - props, required - keys)


def test_site_format_doc_links_every_schema() -> None:
    doc = (ROOT / "docs" / "site-format.md").read_text(encoding="utf-8")
    for name in GENERATED:
        assert f"schema/{name}.schema.json" in doc
