"""Packaging facts that a plain ``pip install`` depends on (.ci/run installs the wheel in a
fresh virtualenv and searches from another directory; these are the fast checks)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_directory_is_listed() -> None:
    """The package list is explicit (the sample site is mapped in as ``index._fixtures``),
    so a new subpackage must be added to it or the wheel silently lacks it."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for top in ("cql", "index", "benchmarks")
               for p in (ROOT / top).rglob("__init__.py")}
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject"
    assert listed - on_disk == {"index._fixtures"}


def test_the_sample_site_is_package_data() -> None:
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"]["index._fixtures"] == "fixtures"
    assert "site/*" in setuptools["package-data"]["index._fixtures"]
    from index.cli.fixture import fixture_site

    assert (fixture_site() / "content.jsonl").is_file()
    assert fixture_site().resolve() == (ROOT / "fixtures" / "site").resolve()


def test_typed_licensed_and_zone_data() -> None:
    project = PYPROJECT["project"]
    assert (ROOT / "index" / "py.typed").is_file() and (ROOT / "cql" / "py.typed").is_file()
    assert project["license"] == "MIT" and (ROOT / "LICENSE").is_file()
    assert any(dep.startswith("tzdata") for dep in project["dependencies"])
    assert "Typing :: Typed" in project["classifiers"]


def test_the_repository_top_level_is_unchanged() -> None:
    allowed = {"pyproject.toml", "README.md", "cql", "index", "tests", "fixtures",
               "benchmarks", "docs", "DIVERGENCES.md", "LICENSE"}
    tracked = {p.name for p in ROOT.iterdir()
               if not p.name.startswith(".") and p.name not in ("build", "dist")
               and not p.name.endswith(".egg-info")}
    assert tracked <= allowed, tracked - allowed
