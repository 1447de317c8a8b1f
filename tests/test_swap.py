"""The build's final swap, durability, and what ``cql index --out`` may replace.

* A build is swapped in by one atomic exchange: a process killed (``kill -9``) at any
  point of a build or an upsert leaves a whole index at the target, the old one or the
  new one, that opens and answers.
* ``cql index SITE --out DIR`` never deletes what it did not create: a non-empty
  directory that is not an index, the site directory (or inside or around it) and the
  current directory are refused unless ``--force``; temporary siblings are removed on
  every path (a failure, SIGTERM, and after ``kill -9`` by the next build).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sitegen import item, write_site

from index.core.swap import swap_in
from index.engine import Engine
from index.errors import EngineError

ROOT = Path(__file__).resolve().parent.parent
CHURN = """
import sys
from pathlib import Path
from index.engine import Engine
one, two, target = sys.argv[1:4]
n = 0
print("ready", flush=True)
while True:
    n += 1
    Engine.build(one if n % 2 else two, target)
    engine = Engine.open(target)
    engine.upsert([{"id": "900", "type": "page", "title": "upserted", "space": "A",
                    "creator": "u1", "created": "2024-01-01T10:00:00Z"}])
    engine.delete(["900"])
"""


def cql(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "index.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_kill_9_at_random_points_always_leaves_a_whole_index(tmp_path: Path) -> None:
    one = write_site(tmp_path / "one", [item(str(n)) for n in range(1, 11)])
    two = write_site(tmp_path / "two", [item(str(n)) for n in range(1, 21)])
    target = tmp_path / "index"
    Engine.build(one, target)
    rng = random.Random(7)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", CHURN, str(one), str(two), str(target)],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        engine = Engine.open(target)  # checks every file against the manifest
        assert engine.count("type = page") in (10, 11, 20, 21)
        engine.store.close()
    # The next build cleans what the killed ones left.
    Engine.build(one, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "one", "two"]


def test_the_swap_is_one_exchange(tmp_path: Path) -> None:
    old, new = tmp_path / "index", tmp_path / "new"
    old.mkdir()
    (old / "which").write_text("old")
    new.mkdir()
    (new / "which").write_text("new")
    swap_in(new, old)
    assert (old / "which").read_text() == "new" and not new.exists()


def test_out_refuses_a_directory_that_is_not_an_index(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", [item("1")])
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    run = cql("index", str(site), "--out", str(precious))
    assert run.returncode == 1 and "not a cql-search index" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert (precious / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious", "site"]
    forced = cql("index", str(site), "--out", str(precious), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not (precious / "thesis.tex").exists()


@pytest.mark.parametrize("where", ["site", "site/index", "."])
def test_out_refuses_the_site_directory_around_it_and_the_current_one(
        tmp_path: Path, where: str) -> None:
    site = write_site(tmp_path / "site", [item("1")])
    out = {"site": site, "site/index": site / "index", ".": Path(".")}[where]
    cwd = tmp_path if where != "." else tmp_path / "site"
    run = cql("index", str(site), "--out", str(out), cwd=cwd)
    assert run.returncode == 1 and "--force" in run.stderr
    assert (site / "content.jsonl").is_file()
    with pytest.raises(EngineError) as err:
        Engine.build(site, tmp_path)  # around the site
    assert err.value.code == "refused"


def test_an_existing_index_and_an_empty_directory_are_replaced(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", [item("1")])
    (tmp_path / "empty").mkdir()
    assert cql("index", str(site), "--out", str(tmp_path / "empty")).returncode == 0
    assert cql("index", str(site), "--out", str(tmp_path / "empty")).returncode == 0
    assert Engine.open(tmp_path / "empty").count("type = page") == 1


def test_a_failed_build_leaves_no_temporary_sibling(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    site = write_site(tmp_path / "site", [item("1")])

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("index.core.backend.IndexStore.bulk_build", boom)
    with pytest.raises(KeyboardInterrupt):
        Engine.build(site, tmp_path / "index")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_a_sigterm_during_a_build_leaves_no_temporary_sibling(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", [item(str(n)) for n in range(1, 3000)])
    proc = subprocess.Popen([sys.executable, "-m", "index.cli", "index", str(site), "--out",
                             str(tmp_path / "index")], cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not any(".cql-tmp-" in p.name for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.terminate()
    proc.wait(timeout=30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
