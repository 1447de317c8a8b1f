"""Policies naming apps that are not installed or spaces that do not exist are reported
(as warnings: they still apply) by the build, ``cql index`` and ``cql policy list/show``.

A typo in an app id or a space key used to protect nothing, silently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SITE = ROOT / "fixtures" / "site"
GHOST = {"id": "p-ghost", "name": "Typos", "active": True,
         "coverage": {"level": "CONTAINER", "spaces": ["HR", "NOPE"]},
         "rules": {"app_access": {"mode": "blocklist", "apps": ["app-wordcount", "app-ghost"]}}}
WARNINGS = [
    "policy p-ghost (Typos): app 'app-ghost' is not installed (the rule still names it and "
    "applies once it is)",
    "policy p-ghost (Typos): space 'NOPE' does not exist in this index (the policy still "
    "covers it if it is added)",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ghost") / "site"
    shutil.copytree(FIXTURE_SITE, target)
    policies = json.loads((target / "policies.json").read_text(encoding="utf-8"))
    (target / "policies.json").write_text(json.dumps([*policies, GHOST]), encoding="utf-8")
    return target


def cql(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "index.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_the_build_reports_them_and_they_still_apply(site: Path, tmp_path: Path) -> None:
    engine = Engine.build(site, tmp_path / "index")
    assert engine.last_build is not None and engine.last_build.warnings == WARNINGS
    layer = engine.policy_layer()
    assert layer.hidden_for_app("app-wordcount") == {"HR"}  # the real parts still apply
    assert "HR" in layer.hidden_for_app("app-ghost")  # ...and so does the unknown app's


def test_the_fixture_site_has_none(tmp_path: Path) -> None:
    engine = Engine.build(FIXTURE_SITE, tmp_path / "index")
    assert engine.last_build is not None and engine.last_build.warnings == []


def test_the_cli_prints_them(site: Path, tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    built = cql("index", str(site), "--out", index)
    assert built.returncode == 0, built.stderr  # warnings are not failures
    assert [line for line in built.stderr.splitlines() if line.startswith("warning: ")] == [
        f"warning: {w}" for w in WARNINGS]
    listed = cql("policy", "list", "--index", index)
    assert listed.returncode == 0 and "p-ghost" in listed.stdout
    assert listed.stderr.splitlines() == [f"warning: {w}" for w in WARNINGS]
    shown = cql("policy", "show", "p1", "--index", index)
    assert shown.returncode == 0 and shown.stderr == ""  # p1 names only what exists
    shown = cql("policy", "show", "p-ghost", "--index", index)
    assert shown.stderr.splitlines() == [f"warning: {w}" for w in WARNINGS]
