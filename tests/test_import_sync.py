"""``cql import`` end to end: a real subprocess against a stand-in Confluence on 127.0.0.1.

The stand-in (benchmarks/fake_confluence.py) serves a site directory in Confluence Cloud's
REST shapes. These tests hold the importer to its promises: the token comes only from the
environment, an incremental run equals a fresh import of the changed site (creates, edits,
moves, deletes), ``--index`` keeps an index equal to a fresh build, and a run killed with
SIGKILL at random points resumes to exactly the site an uninterrupted run writes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.fake_confluence import FakeConfluence, editorial_changes
from index.engine import Engine
from index.site.loader import load_site

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "site"
USER, TOKEN = "me@example.com", "s3cret-token"
SITE_FILES = ("spaces.jsonl", "users.jsonl", "content.jsonl")


@pytest.fixture
def server() -> Iterator[FakeConfluence]:
    with FakeConfluence(FIXTURE, user=USER, token=TOKEN) as fake:
        yield fake


def _command(url: str, target: str, path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "index.cli.main", "import", "--url", url, "--user", USER,
            "--token-env", "CQL_TEST_TOKEN", target, str(path), *extra]


ENV = {**os.environ, "PYTHONPATH": str(ROOT), "CQL_TEST_TOKEN": TOKEN}


def _import(url: str, out: Path, *extra: str, target: str = "--out"
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(url, target, out, *extra), capture_output=True, text=True,
                          env=ENV, timeout=300)


def _site_bytes(site: Path) -> dict[str, bytes]:
    return {name: (site / name).read_bytes() for name in SITE_FILES}


def test_fixture_site_round_trips_through_rest_and_the_readme_works(
        server: FakeConfluence, tmp_path: Path) -> None:
    done = _import(server.url, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    site = load_site(tmp_path / "site")
    original = load_site(FIXTURE)
    assert site.rejects == []
    listed = {i for i, item in original.content.items() if item.status in ("current",
                                                                             "archived")}
    assert set(site.content) == listed
    for item_id in listed:
        mine, theirs = site.content[item_id], original.content[item_id]
        assert (mine.type, mine.title, mine.space, mine.parent_id, mine.container_id,
                mine.creator, mine.created, mine.lastmodified, mine.text, mine.macros,
                mine.ancestors, mine.properties) == (
            theirs.type, theirs.title, theirs.space, theirs.parent_id, theirs.container_id,
            theirs.creator, theirs.created, theirs.lastmodified, theirs.text, theirs.macros,
            theirs.ancestors, theirs.properties), item_id
    assert {k: (s.name, s.type, s.status, s.categories) for k, s in site.spaces.items()} == {
        k: (s.name, s.type, s.status, s.categories) for k, s in original.spaces.items()}
    # Then the other two commands of README "Search your own Confluence", as written there.
    cql = [sys.executable, "-m", "index.cli.main"]
    subprocess.run([*cql, "index", str(tmp_path / "site"), "--out", str(tmp_path / "idx")],
                   check=True, capture_output=True, env=ENV, timeout=300)
    done = subprocess.run([*cql, "search", "--index", str(tmp_path / "idx"), "--json",
                           "type = page AND space = ENG"], capture_output=True, text=True,
                          env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = [i for i, item in original.content.items()
                if item.space == "ENG" and item.type == "page" and item.status == "current"]
    assert json.loads(done.stdout)["totalSize"] == len(expected) > 0


def test_token_only_from_the_environment(server: FakeConfluence, tmp_path: Path) -> None:
    wrong = {**ENV, "CQL_TEST_TOKEN": "wrong"}
    done = subprocess.run(_command(server.url, "--out", tmp_path / "a"), capture_output=True,
                          text=True, env=wrong, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("error: GET http://127.0.0.1:")
    assert "401 Unauthorized: check --user, the token" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "a").exists()
    unset = {k: v for k, v in ENV.items() if k != "CQL_TEST_TOKEN"}
    done = subprocess.run(_command(server.url, "--out", tmp_path / "b"), capture_output=True,
                          text=True, env=unset, timeout=60, stdin=subprocess.DEVNULL)
    assert done.stderr == "error: --token-env: the variable CQL_TEST_TOKEN is not set\n"
    no_env = [a for a in _command(server.url, "--out", tmp_path / "c")
              if a not in ("--token-env", "CQL_TEST_TOKEN")]
    done = subprocess.run(no_env, capture_output=True, text=True, env=unset, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert "the token is never accepted as an argument" in done.stderr
    done = subprocess.run(no_env + ["--token", TOKEN], capture_output=True, text=True,
                          env=unset, timeout=60)
    assert done.returncode == 2 and "never accepted as an argument" in done.stderr
    assert TOKEN not in done.stderr
    done = subprocess.run(no_env + ["--token-env", "s3cret-token"], capture_output=True,
                          text=True, env=unset, timeout=60)
    assert done.returncode == 2 and "NAME of an environment variable" in done.stderr
    assert "s3cret-token" not in done.stderr


def test_incremental_run_equals_a_fresh_import(server: FakeConfluence, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert _import(server.url, out).returncode == 0
    editorial_changes(server.site)
    server.site.requests.clear()
    done = _import(server.url, out)
    assert done.returncode == 0, done.stderr
    singles = [p for p in server.site.requests
               if p.startswith("/wiki/api/v2/pages/") and p.count("/") == 5]
    # Only the created, edited and moved pages are fetched again (the deleted page's
    # children move up, which changes their parent, so they are fetched too).
    assert 3 <= len(singles) <= 12, singles
    fresh = tmp_path / "fresh"
    assert _import(server.url, fresh).returncode == 0
    assert _site_bytes(out) == _site_bytes(fresh)
    got = load_site(out)
    assert "990002" in got.content and got.content["990001"].ancestors
    assert "deleted" in done.stdout and " 0 deleted" not in done.stdout


def test_index_target_equals_a_fresh_build_and_takes_new_spaces(
        server: FakeConfluence, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert _import(server.url, site).returncode == 0
    index = tmp_path / "index"
    Engine.build(site, index)
    editorial_changes(server.site)
    done = _import(server.url, index, target="--index")
    assert done.returncode == 0, done.stderr
    fresh_site = tmp_path / "fresh"
    assert _import(server.url, fresh_site).returncode == 0
    live, fresh = Engine.open(index), Engine.build(fresh_site, tmp_path / "fresh-index")
    for query in ("type = page", "type in (comment, attachment)", "ancestor = 65571",
                  'title = "Renamed By The Server"', "label = runbook", "macro = toc",
                  "space = ENG order by lastmodified desc", 'text ~ "edited"'):
        a, b = live.search(query, limit=1000), fresh.search(query, limit=1000)
        assert [r.id for r in a.results] == [r.id for r in b.results], query
        assert a.totalSize == b.totalSize, query
    # A second run has nothing to do.
    again = _import(server.url, index, target="--index")
    assert "(0 fetched" in again.stdout and " 0 deleted" in again.stdout
    # A new space, its author and a post: the catalog takes the space and the name.
    server.site.create_space({"key": "NEWS", "name": "Newsroom", "type": "collaboration",
                              "categories": ["press"]})
    server.site.users["newbie"] = {"account_id": "newbie", "display_name": "Nia Newcomer"}
    server.site.create({"id": "990100", "type": "blogpost", "title": "Hello from the newsroom",
                        "space": "NEWS", "creator": "newbie",
                        "created": "2026-11-30T10:00:00+00:00", "body": "<p>First post</p>"})
    done = _import(server.url, index, target="--index")
    assert done.returncode == 0, done.stderr
    assert "(1 fetched" in done.stdout
    engine = Engine.open(index)
    for query in ("space = NEWS", 'creator.fullname ~ "Nia"', "space.category = press"):
        assert [r.id for r in engine.search(query).results] == ["990100"], query
    assert [r.id for r in engine.search("type = space AND space = NEWS").results] == [
        "space:NEWS"]


def test_since_fetches_only_what_changed_after_it(server: FakeConfluence, tmp_path: Path
                                                  ) -> None:
    site = tmp_path / "site"
    assert _import(server.url, site).returncode == 0
    index = tmp_path / "index"
    Engine.build(site, index)  # an index without the importer's checkpoint
    editable = sorted(i for i, line in server.site.items.items()
                      if line["type"] == "page" and line.get("status", "current") == "current")
    server.site.edit(editable[0], title="Edited After The Cut")
    server.site.edit(editable[1], body="<p>newer words</p>")
    server.site.requests.clear()
    done = _import(server.url, index, "--since", "2026-11-01T00:00:00+00:00", target="--index")
    assert done.returncode == 0, done.stderr
    assert "(2 fetched" in done.stdout
    details = [p for p in server.site.requests if p.startswith("/wiki/api/v2/pages/")]
    assert sorted(details) == sorted(f"/wiki/api/v2/pages/{i}" for i in editable[:2])
    engine = Engine.open(index)
    assert [r.id for r in engine.search('title = "Edited After The Cut"').results] == [
        editable[0]]
    assert [r.id for r in engine.search('text ~ "newer"').results] == [editable[1]]


def test_since_must_be_a_date(tmp_path: Path) -> None:
    done = _import("http://127.0.0.1:9/wiki", tmp_path / "s", "--since", "yesterday")
    assert done.returncode == 2
    assert "expected an ISO-8601 date-time" in done.stderr and "Traceback" not in done.stderr


def test_killed_runs_resume_to_the_uninterrupted_site(tmp_path: Path) -> None:
    with FakeConfluence(FIXTURE, user=USER, token=TOKEN) as fake:
        fake.site.delay = 0.004  # a run now takes a few seconds: time to kill it
        reference = tmp_path / "reference"
        began = time.monotonic()
        assert _import(fake.url, reference, "--concurrency", "4").returncode == 0
        # Kill points are fractions of an uninterrupted run, so a faster or slower machine
        # still kills mid-run.
        duration = time.monotonic() - began
        rng = random.Random(int(os.environ.get("IMPORT_KILL_SEED", "14")))
        out = tmp_path / "site"
        kills = 0
        # A resumed run has less left to do than the first, and a loaded machine starts
        # Python slowly: kill early in the run, and try until three runs died mid-way.
        for _ in range(10):
            proc = subprocess.Popen(_command(fake.url, "--out", out, "--concurrency", "4"),
                                    env=ENV, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.1, 0.6) * duration)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
            if kills == 3:
                break
        assert kills >= 2
        fake.site.delay = 0.0
        done = _import(fake.url, out, "--concurrency", "4")
        assert done.returncode == 0, done.stderr
    assert _site_bytes(out) == _site_bytes(reference)
    assert not (tmp_path / "site.partial").exists() and not (tmp_path / "site.old").exists()


def test_child_of_an_unreadable_parent_is_kept_at_the_top(server: FakeConfluence,
                                                          tmp_path: Path) -> None:
    base = {"space": "ENG", "creator": "5b6d7f20e6dba529eefdbad9",
            "created": "2026-11-30T10:00:00+00:00"}
    server.site.create({**base, "id": "990010", "type": "page", "title": "Unpublished parent",
                        "status": "draft"})
    server.site.create({**base, "id": "990011", "type": "page", "title": "Published child",
                        "parent_id": "990010"})
    out = tmp_path / "site"
    done = _import(server.url, out)
    assert done.returncode == 1
    assert ("skipped: content 990011: parent 990010 is not readable (a draft, trashed or "
            "restricted); kept at the top of its space") in done.stderr.splitlines()
    child = load_site(out).content["990011"]
    assert child.parent_id is None and child.ancestors == []
    index = tmp_path / "index"
    Engine.build(out, index)
    assert _import(server.url, index, target="--index").returncode == 1  # the same report
    server.site.create({**base, "id": "990012", "type": "page", "title": "Second child",
                        "parent_id": "990010"})
    done = _import(server.url, index, target="--index")
    assert "skipped: content 990012: parent 990010 is not readable" in done.stderr
    assert "rejected:" not in done.stderr
    hit = Engine.open(index).search("id = 990012").results
    assert [(r.id, r.parentId) for r in hit] == [("990012", None)]
    server.site.edit("990010", status="current")  # published: the next run places the child
    for target, path in (("--out", out), ("--index", index)):
        done = _import(server.url, path, target=target)
        assert done.returncode == 0, done.stderr
    assert load_site(out).content["990011"].ancestors == ["990010"]
    assert [r.id for r in Engine.open(index).search("ancestor = 990010").results] == [
        "990011", "990012"]


def test_progress_bars_on_a_terminal(server: FakeConfluence, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, _command(server.url, "--out", tmp_path / "s")[1:],
                          env=ENV, encoding="utf-8", timeout=120, dimensions=(24, 120))
    child.expect(r"imported into .*items/s\)")
    shown = child.before + child.after
    child.expect(pexpect.EOF)
    assert "page:" in shown and "item/s" in shown  # tqdm: one bar per resource
    assert "import: page: 1,000 items" not in shown
