"""Packaging facts that a plain ``pip install`` depends on.

.ci/run builds the wheel, installs it in a fresh virtualenv and searches from another
directory, and runs tests from the unpacked sdist; these are the fast checks of the same
facts, read from pyproject.toml.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
BUILD = PYPROJECT["tool"]["hatch"]["build"]["targets"]


def test_the_wheel_holds_every_package_and_the_sample_site() -> None:
    assert set(BUILD["wheel"]["packages"]) == {"cql", "index", "benchmarks"}
    mapped = BUILD["wheel"]["force-include"]
    assert mapped["fixtures/site"] == "index/_fixtures/site"
    assert mapped["fixtures/__init__.py"] == "index/_fixtures/__init__.py"
    from index.cli.fixture import fixture_site

    assert (fixture_site() / "content.jsonl").is_file()
    assert fixture_site().resolve() == (ROOT / "fixtures" / "site").resolve()


def test_the_sdist_holds_what_the_tests_need() -> None:
    included = set(BUILD["sdist"]["include"])
    for needed in ("/tests", "/fixtures", "/docs", "/cql", "/index", "/benchmarks",
                   "/README.md", "/LICENSE", "/pyproject.toml"):
        assert needed in included
    # The tests read these at run time; each must exist under an included directory.
    for data in ("tests/cases", "tests/sites", "tests/conftest.py", "docs/architecture.md"):
        assert (ROOT / data).exists()


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
               if not p.name.startswith(".") and p.name not in ("build", "dist", "PKG-INFO")
               and not p.name.endswith(".egg-info")}
    assert tracked <= allowed, tracked - allowed
