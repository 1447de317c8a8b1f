"""A site file that exists but is not a regular readable file fails the build.

``policies.json``, ``apps.json``, ``grants.json`` and ``site.json`` may be left out (no
policies, no apps...), but one that is a directory or a dangling symbolic link used to be
skipped silently, which for ``policies.json`` means "no policies": content its policies
were written to close would be open. Now it fails the build like a malformed file, with
one clear line from ``cql index``. The same paths in place of a JSON Lines file are a
reject (the build goes on, as with any unusable line).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.engine import Engine
from index.errors import EngineError

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SITE = ROOT / "fixtures" / "site"
POLICY_FILES = ("policies.json", "apps.json", "grants.json", "site.json")
SHAPES = {
    "directory": ("is a directory, not a file", lambda path: path.mkdir()),
    "dangling symlink": ("is a dangling symbolic link", lambda path: path.symlink_to("nowhere")),
    "symlink to a directory": ("is a directory, not a file",
                               lambda path: path.symlink_to(path.parent)),
}


def site_with(tmp_path: Path, name: str, shape: str) -> Path:
    site = tmp_path / "site"
    shutil.copytree(FIXTURE_SITE, site)
    target = site / name
    target.unlink(missing_ok=True)
    SHAPES[shape][1](target)
    return site


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", POLICY_FILES)
def test_a_policy_file_that_is_not_a_file_fails_the_build(tmp_path: Path, name: str,
                                                          shape: str) -> None:
    site = site_with(tmp_path, name, shape)
    with pytest.raises(EngineError) as caught:
        Engine.build(site, tmp_path / "index")
    assert caught.value.code == "invalid_policy"
    assert f"{name}: {SHAPES[shape][0]}" in caught.value.message
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize("name", ["policies.json", "site.json"])
def test_cql_index_says_so_in_one_line(tmp_path: Path, name: str) -> None:
    site = site_with(tmp_path, name, "directory")
    done = subprocess.run([sys.executable, "-m", "index.cli", "index", str(site), "--out",
                           str(tmp_path / "index")], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cql index: error: "), done.stderr
    assert f"{name}: is a directory, not a file" in lines[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_policy_file_fails_the_build(tmp_path: Path) -> None:
    site = site_with(tmp_path, "apps.json", "directory")
    (site / "apps.json").rmdir()
    shutil.copy(FIXTURE_SITE / "apps.json", site / "apps.json")
    (site / "apps.json").chmod(0)
    with pytest.raises(EngineError) as caught:
        Engine.build(site, tmp_path / "index")
    assert "apps.json: cannot be read" in caught.value.message


@pytest.mark.parametrize("shape", SHAPES)
def test_a_jsonl_file_that_is_not_a_file_is_a_reject(tmp_path: Path, shape: str) -> None:
    site = site_with(tmp_path, "users.jsonl", shape)
    engine = Engine.build(site, tmp_path / "index")
    assert engine.last_build is not None
    users = [r for r in engine.last_build.rejects if r.startswith("users.jsonl")]
    assert len(users) == 1 and users[0].startswith(f"users.jsonl: {SHAPES[shape][0]}")
    assert engine.count("type = page") > 0
