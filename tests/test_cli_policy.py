"""``cql policy`` (and the policy options of ``cql search``) through a real subprocess.

Each test works on its own copy of the fixture index, and ``XDG_CACHE_HOME`` points into the
test's temporary directory, so the default (bundled fixture) index a test may build never
touches the developer's cache. Exit codes: 0 done, 1 refused, 2 usage error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from index.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SITE = ROOT / "fixtures" / "site"
DANA = "bbfd51cb6d4e3152f5298a3f"  # account grant for app-syncbot, HR blocked for it
BRUNO = "3a759a057d9a7ed11ee5af5f"  # no grant for app-syncbot
CLOUD_EVENT_KEYS = {"specversion", "id", "source", "type", "time", "data"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("template") / "index"
    Engine.build(FIXTURE_SITE, index_dir)
    return index_dir


@pytest.fixture
def index(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(template, target)
    return target


@pytest.fixture
def cql(tmp_path: Path) -> Any:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONIOENCODING": "utf-8"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "index.cli.main", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    return run


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def store_version(index: Path) -> int:
    """The policy store's version, read from the file (no subprocess needed)."""
    return int(json.loads((index / "policies.json").read_text())["version"])


# --- reading --------------------------------------------------------------------------------


def test_help_documents_the_actions_and_the_event_format(cql: Any) -> None:
    out = ok(cql("policy", "--help"))
    for action in ("list", "show", "activate", "deactivate", "update", "delete", "events"):
        assert action in out
    out = ok(cql("policy", "events", "--help"))
    assert '"seq"' in out and "CloudEvent" in out and "--since" in out and "--wire" in out
    out = ok(cql("policy", "update", "--help"))
    for option in ("--spaces", "--workspace", "--mode", "--apps", "--no-app-access", "--name"):
        assert option in out
    assert "policy" in ok(cql("--help"))


def test_list(cql: Any, index: Path) -> None:
    out = ok(cql("policy", "list", "--index", str(index)))
    assert "p1" in out and "HR lockdown" in out and "blocklist app-syncbot" in out
    assert "p2" in out and "WORKSPACE" in out and "block all" in out
    data = json.loads(ok(cql("policy", "list", "--index", str(index), "--json")))
    assert [p["id"] for p in data["policies"]] == ["p1", "p2"]
    assert data["policies"][0]["rules"]["app_access"] == {"mode": "blocklist",
                                                          "apps": ["app-syncbot"]}
    assert data["version"] == 0


def test_show(cql: Any, index: Path) -> None:
    out = ok(cql("policy", "show", "p1", "--index", str(index)))
    assert "HR lockdown" in out and "app-syncbot (HR)" in out and "export" in out
    assert "app-roadmaps" in out  # never blocked: not eligible
    out = ok(cql("policy", "show", "p2", "--index", str(index)))
    assert "inactive" in out
    data = json.loads(ok(cql("policy", "show", "p1", "--index", str(index), "--json")))
    assert data["policy"]["id"] == "p1" and data["blocks"] == {"app-syncbot": ["HR"]}
    assert data["covered_spaces"] == ["HR"] and data["never_blocked"] == ["app-roadmaps"]


# --- changing ---------------------------------------------------------------------------------


def test_activate_reports_the_change_and_its_events(cql: Any, index: Path) -> None:
    out = ok(cql("policy", "activate", "p2", "--index", str(index)))
    assert "activated policy p2" in out and "active: false -> true" in out
    assert "store version 0 -> 1" in out
    lines = out.splitlines()
    syncbot = next(line for line in lines if line.strip().startswith("app-syncbot:"))
    wordcount = next(line for line in lines if line.strip().startswith("app-wordcount:"))
    assert "lost 9 spaces" in syncbot and "lost 10 spaces" in wordcount
    for line in (syncbot, wordcount):
        assert "affected" in line and "delivered" in line and "omitted 0" in line
    assert "app-roadmaps" not in out
    events = jsonl(ok(cql("policy", "events", "--index", str(index))))
    assert f"{len(events)} events generated" in out
    out = ok(cql("policy", "activate", "p2", "--index", str(index)))
    assert "already active" in out and "no events" in out


def test_change_json_has_the_bookkeeping(cql: Any, index: Path) -> None:
    data = json.loads(ok(cql("policy", "activate", "p2", "--index", str(index), "--json",
                             "--cap", "100", "--chunk-size", "30")))
    assert data["changed"] and data["trigger"] == "activated" and data["version"] == 1
    assert data["before"]["active"] is False and data["after"]["active"] is True
    records = {r["app_id"]: r for r in data["records"]}
    assert sorted(records) == ["app-syncbot", "app-wordcount"]
    for record in records.values():
        assert record["delivered"] == 100 and record["cap"] == 100
        assert record["omitted"] == record["affected"] - 100 > 0 and record["truncated"]
        assert record["object_events"] == 4  # 30 + 30 + 30 + 10
    assert data["events"] == sum(r["object_events"] + r["container_events"]
                                 for r in records.values())
    for entry in jsonl(ok(cql("policy", "events", "--index", str(index)))):
        for group in entry["event"]["data"].get("objects", []):
            assert len(group["ids"]) <= 30


def test_a_change_is_enforced_by_the_next_search(cql: Any, index: Path) -> None:
    def hr_total(*who: str) -> int:
        out = ok(cql("search", "space = HR", "--index", str(index), "--json", *who))
        return int(json.loads(out)["totalSize"])

    app = ("--as-app", "app-syncbot", "--as-user", DANA)
    user_total = hr_total("--as-user", DANA)
    assert user_total > 0 and hr_total(*app) == 0
    out = ok(cql("policy", "deactivate", "p1", "--index", str(index)))
    assert "deactivated policy p1" in out and "0 events generated" in out
    assert hr_total(*app) == user_total
    assert jsonl(ok(cql("policy", "events", "--index", str(index)))) == []
    out = ok(cql("policy", "activate", "p1", "--index", str(index)))
    assert "app-syncbot: lost 1 space (HR)" in out
    assert hr_total(*app) == 0 and hr_total("--as-user", DANA) == user_total


def test_update_coverage_and_app_lists(cql: Any, index: Path) -> None:
    out = ok(cql("policy", "update", "p1", "--spaces", "HR,ENG", "--index", str(index)))
    assert "coverage: CONTAINER HR -> CONTAINER HR,ENG" in out
    assert "app-syncbot: lost 1 space (ENG)" in out
    out = ok(cql("policy", "update", "p1", "--mode", "allowlist", "--apps", "app-syncbot",
                 "--index", str(index)))
    assert "app access: blocklist app-syncbot -> allowlist app-syncbot" in out
    assert "app-wordcount: lost 2 spaces (ENG,HR)" in out and "app-syncbot:" not in out
    out = ok(cql("policy", "update", "p1", "--apps", "", "--index", str(index)))
    assert "block all" in out and "app-syncbot: lost 2 spaces" in out
    out = ok(cql("policy", "update", "p1", "--name", "HR and ENG", "--index", str(index)))
    assert "name: HR lockdown -> HR and ENG" in out and "0 events generated" in out
    out = ok(cql("policy", "update", "p1", "--no-app-access", "--index", str(index)))
    assert "app access: block all (allowlist, empty) -> -" in out
    data = json.loads(ok(cql("policy", "show", "p1", "--index", str(index), "--json")))
    assert data["policy"]["rules"]["export"] is True  # other rules are kept
    assert "app_access" not in data["policy"]["rules"]
    out = ok(cql("policy", "update", "p2", "--workspace", "--index", str(index)))
    assert "unchanged" in out


def test_delete(cql: Any, index: Path) -> None:
    out = ok(cql("policy", "delete", "p1", "--index", str(index)))
    assert "deleted policy p1" in out and "0 events generated" in out
    listed = json.loads(ok(cql("policy", "list", "--index", str(index), "--json")))
    assert [p["id"] for p in listed["policies"]] == ["p2"]
    proc = cql("policy", "delete", "p1", "--index", str(index))
    assert proc.returncode == 1 and "no policy with id 'p1'" in proc.stderr


# --- events ------------------------------------------------------------------------------------


def test_events_lines_since_app_and_wire(cql: Any, index: Path) -> None:
    assert ok(cql("policy", "events", "--index", str(index))) == ""
    ok(cql("policy", "update", "p1", "--spaces", "HR,MKT", "--index", str(index)))
    ok(cql("policy", "activate", "p2", "--index", str(index)))
    entries = jsonl(ok(cql("policy", "events", "--index", str(index))))
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    for entry in entries:
        assert set(entry) == {"seq", "app_id", "event"}
        assert set(entry["event"]) == CLOUD_EVENT_KEYS
        assert entry["event"]["specversion"] == "1.0"
    assert entries[0]["app_id"] == "app-syncbot"
    assert entries[0]["event"]["data"]["container"] == {"product": "confluence", "id": "MKT"}
    since = jsonl(ok(cql("policy", "events", "--since", "3", "--index", str(index))))
    assert since == entries[3:]
    proc = cql("policy", "events", "--since", "3", "--wire", "--app", "app-wordcount",
               "--index", str(index))
    assert jsonl(ok(proc)) == [e["event"] for e in entries[3:] if e["app_id"] == "app-wordcount"]
    assert f"last seq: {entries[-1]['seq']}" in proc.stderr
    assert ok(cql("policy", "events", "--since", "9999", "--index", str(index))) == ""


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,fragment", [
    (["show", "nope"], "no policy with id 'nope'"),
    (["activate", "nope"], "no policy with id 'nope'"),
    (["update", "nope", "--name", "x"], "no policy with id 'nope'"),
    (["update", "p1", "--workspace"], "coverage level cannot change"),
    (["update", "p2", "--spaces", "HR"], "coverage level cannot change"),
    (["update", "p1", "--spaces", ",".join(f"S{i}" for i in range(16))], "at most 15"),
    (["update", "p1", "--apps", ",".join(f"app-{i}" for i in range(21))], "at most 20"),
    (["update", "p1", "--spaces", "HR,hr"], "listed twice"),
    (["update", "p1", "--name", " padded "], "name"),
])
def test_refusals_exit_1_with_a_clear_message(cql: Any, index: Path, args: list[str],
                                              fragment: str) -> None:
    proc = cql("policy", *args, "--index", str(index))
    assert proc.returncode == 1, proc.stdout
    assert proc.stderr.startswith(f"cql policy {args[0]}: error: ") and fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert store_version(index) == 0  # nothing changed


def test_a_policy_without_an_app_rule_needs_a_mode(cql: Any, index: Path) -> None:
    ok(cql("policy", "update", "p1", "--no-app-access", "--index", str(index)))
    proc = cql("policy", "update", "p1", "--apps", "app-x", "--index", str(index))
    assert proc.returncode == 1 and "--mode" in proc.stderr


def test_missing_index_exits_2(cql: Any, tmp_path: Path) -> None:
    # A missing index is an environment error: exit 2, the convention of every command.
    for action in (["list"], ["events"], ["activate", "p1"]):
        proc = cql("policy", *action, "--index", str(tmp_path / "nothing"))
        assert proc.returncode == 2 and "no cql-search index" in proc.stderr


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["activate"],
    ["show"],
    ["events", "--since", "-1"],
    ["events", "--since", "abc"],
    ["update", "p1"],
    ["update", "p1", "--spaces", "HR", "--workspace"],
    ["update", "p1", "--no-app-access", "--mode", "blocklist"],
    ["update", "p1", "--no-app-access", "--apps", "x"],
    ["update", "p1", "--mode", "greylist"],
    ["activate", "p2", "--cap", "-1"],
    ["activate", "p2", "--chunk-size", "0"],
])
def test_usage_errors_exit_2(index: Path, args: list[str],
                             capsys: pytest.CaptureFixture[str]) -> None:
    """In-process (argparse exits through SystemExit) to keep the suite fast; the next test
    checks the real exit status of a subprocess."""
    from index.cli.main import main

    try:
        code = main(["policy", *args, "--index", str(index)])
    except SystemExit as exit_:
        code = exit_.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err
    assert err and "Traceback" not in err
    assert store_version(index) == 0


def test_a_usage_error_exits_2_from_the_shell(cql: Any, index: Path) -> None:
    proc = cql("policy", "update", "p1", "--spaces", "HR", "--workspace", "--index",
               str(index))
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr
    proc = cql("policy", "update", "p1", "--index", str(index))
    assert proc.returncode == 2 and "nothing to update" in proc.stderr


def test_the_default_index_is_the_fixture_index(cql: Any, tmp_path: Path) -> None:
    out = ok(cql("policy", "list"))
    assert "HR lockdown" in out
    proc = cql("policy", "deactivate", "p1")
    assert proc.returncode == 0 and "note: changing the bundled fixture index" in proc.stderr
    assert str(tmp_path / "cache") in proc.stderr


# --- cql search's caller options ----------------------------------------------------------------


@pytest.mark.parametrize("args,code,fragment", [
    (["--as-app", "app-wordcount", "--scopes", "read:page:confluence"], 1, "search:confluence"),
    (["--as-app", "app-syncbot", "--as-user", BRUNO], 1, "no grant"),
    # Fail closed (issue 10): a 3LO app needs a user; --anonymous never wins over an app.
    (["--as-app", "app-syncbot"], 2, "always acts for a user: add --as-user ACCOUNT"),
    (["--as-app", "app-wordcount", "--anonymous"], 2, "--anonymous cannot be combined"),
])
def test_search_caller_errors(cql: Any, index: Path, args: list[str], code: int,
                              fragment: str) -> None:
    proc = cql("search", "type = page", "--index", str(index), *args)
    assert proc.returncode == code, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr


def test_search_strict_scopes_and_anonymous(cql: Any, index: Path) -> None:
    def total(query: str, *who: str) -> int:
        out = ok(cql("search", query, "--index", str(index), "--json", *who))
        return int(json.loads(out)["totalSize"])

    app = ("--as-app", "app-wordcount", "--scopes", "search:confluence,read:page:confluence")
    assert total("type = embed", *app) > 0
    assert total("type = embed", *app, "--strict-scopes") == 0
    # the app acting as itself has its own account's view (docs/permissions.md)
    assert total("type = page", *app, "--strict-scopes") == total(
        "type = page", "--as-user", "app-wordcount") > 0
    # anonymous callers see the one space open to them (ITKB), not HR
    assert total("space = ITKB", "--anonymous") == total("space = ITKB") > 0
    assert total("space = HR", "--anonymous") == 0 < total("space = HR")
    assert total("space = HR", "--as-app", "app-syncbot", "--as-user", DANA) == 0
