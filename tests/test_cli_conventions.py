"""Every ``cql`` command's error paths, run as a user runs them: a real subprocess.

One convention (``index.cli.conventions``): the error is one line on stderr, prefixed
``cql <command>: error:``; exit 1 for a query or data error, 2 for a usage or environment
error; stdout stays empty (with ``--json`` it holds ``{"error": {...}}``); and no Python
traceback or pydantic dump ever reaches the user. The table below walks every command and
option with bad values; a new command or option belongs in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from index.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_SITE = ROOT / "fixtures" / "site"
DUMPS = ("Traceback", "validation error", "pydantic", "For further information visit")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conventions") / "index"
    Engine.build(FIXTURE_SITE, path)
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    return {**os.environ, "XDG_CACHE_HOME": str(home / "cache"), "NO_COLOR": "1",
            "CQL_REPL_HISTORY": str(home / "history"), "COLUMNS": "100",
            "CQL_REPL_CONFIG": str(home / "no-config.toml")}


def cql(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "index.cli", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def check_error(proc: subprocess.CompletedProcess[str], prefix: str, status: int,
                fragment: str, *, json_out: bool = False) -> None:
    everything = proc.stdout + proc.stderr
    assert not any(dump in everything for dump in DUMPS), everything
    assert proc.returncode == status, everything
    first = proc.stderr.splitlines()[0] if proc.stderr else ""
    assert first.startswith(f"{prefix}: error: "), proc.stderr
    assert fragment in first, first
    if json_out:
        error = json.loads(proc.stdout)["error"]
        assert set(error) >= {"code", "message"} and fragment in error["message"] + first
    else:
        assert proc.stdout == "", proc.stdout


# (arguments, the prefix, exit status, a fragment of the one line). "{index}" is replaced.
IX = ("--index", "{index}")
CASES: list[tuple[tuple[str, ...], str, int, str]] = [
    # the top level
    (("serch", "type = page"), "cql", 2, "did you mean 'search'?"),
    (("--colour=never", "parse", "type = page"), "cql parse", 2, "did you mean '--color'?"),
    (("--color", "sometimes", "parse", "type = page"), "cql", 2,
     "unknown value for --color 'sometimes'"),
    (("search", "--color", "alwyas", "type = page"), "cql search", 2, "did you mean 'always'"),
    # cql search: usage
    (("search", "type", "=", "page", *IX), "cql search", 2, "quote it"),
    (("search", "type = page", "--as-usr", "x", *IX), "cql search", 2,
     "did you mean '--as-user'?"),
    (("search", "type = page", "--tz", "Mars/Olympus", *IX), "cql search", 2,
     "unknown IANA time zone 'Mars/Olympus'"),
    (("search", "type = page", "--status", "bogus", *IX), "cql search", 2,
     "unknown content status 'bogus'"),
    (("search", "type = page", "--status", ",", *IX), "cql search", 2, "at least one"),
    (("search", "type = page", "--now", "yesterday", *IX), "cql search", 2,
     "expected an ISO-8601 instant"),
    (("search", "type = page", "--limit", "abc", *IX), "cql search", 2, "whole number"),
    (("search", "type = page", "--limit", "0", *IX), "cql search", 2, "between 1 and"),
    (("search", "type = page", "--start", "-1", *IX), "cql search", 2, "between 0 and"),
    (("search", "type = page", "--cursor", "garbage", *IX), "cql search", 2, "cursor"),
    (("search", "type = page", "--index", "/nonexistent/index"), "cql search", 2,
     "no cql-search index"),
    (("search", "--json", "type = page", "--index", "/nonexistent/index"), "cql search", 2,
     "no cql-search index"),
    # cql search: caller flags fail closed (issue 10)
    (("search", "type = page", "--as-app", "", *IX), "cql search", 2, "must not be empty"),
    (("search", "type = page", "--as-app", "  ", *IX), "cql search", 2, "must not be empty"),
    (("search", "type = page", "--as-user", "", *IX), "cql search", 2, "must not be empty"),
    (("search", "type = page", "--anonymous", "--as-app", "app-wordcount", *IX),
     "cql search", 2, "--anonymous cannot be combined"),
    (("search", "type = page", "--anonymous", "--as-user", "x", *IX), "cql search", 2,
     "--anonymous cannot be combined"),
    (("search", "type = page", "--as-app", "app-nope", *IX), "cql search", 2,
     "no app 'app-nope' is installed"),
    (("search", "type = page", "--as-app", "app-syncbot", *IX), "cql search", 2,
     "always acts for a user: add --as-user ACCOUNT"),
    (("search", "type = page", "--scopes", "read:page:confluence", *IX), "cql search", 2,
     "give --as-app too"),
    # cql search: query and data errors
    (("search", "type = page AND", *IX), "cql search", 1, "dangling AND"),
    (("search", "created > now('yesterday')", *IX), "cql search", 1, "line 1"),
    (("search", "type = page", "--as-app", "app-wordcount", "--scopes", "read:page:confluence",
      *IX), "cql search", 1, "search:confluence"),
    # cql parse
    (("parse", "--bogus", "type = page"), "cql parse", 2, "unknown option '--bogus'"),
    (("parse", "--format", "xml", "type = page"), "cql parse", 2, "unknown value"),
    (("parse", "saved/queries.cql"), "cql parse", 2, "no such file"),
    (("parse", "--json", "--format", "github", "type = page"), "cql parse", 2,
     "cannot be combined"),
    # cql index
    (("index", "/nonexistent/site", "--out", "/nonexistent/out"), "cql index", 2, ""),
    (("index", "--out", "x"), "cql index", 2, "required"),
    # cql policy
    (("policy",), "cql policy", 2, "required"),
    (("policy", "show", "nope", *IX), "cql policy show", 1, "no policy with id 'nope'"),
    (("policy", "lsit", *IX), "cql policy", 2, "did you mean 'list'?"),
    (("policy", "list", "--index", "/nonexistent/index"), "cql policy list", 2,
     "no cql-search index"),
    (("policy", "events", "--since", "-3", *IX), "cql policy events", 2, "at least 0"),
    (("policy", "update", "p1", *IX), "cql policy update", 2, "nothing to update"),
    # cql repl: the same flags, the same checks
    (("repl", "--tz", "Mars/Olympus", *IX), "cql repl", 2, "unknown IANA time zone"),
    (("repl", "--as-app", "", *IX), "cql repl", 2, "must not be empty"),
    (("repl", "--as-app", "app-nope", *IX), "cql repl", 2, "no app 'app-nope' is installed"),
    (("repl", "--anonymous", "--as-user", "x", *IX), "cql repl", 2,
     "--anonymous cannot be combined"),
    (("repl", "--limit", "abc", *IX), "cql repl", 2, "whole number"),
    (("repl", "--index", "/nonexistent/index"), "cql repl", 2, "no cql-search index"),
    # cql bench: bad paths and values
    (("bench", "compare", "/nonexistent/a.json", "/nonexistent/b.json"), "cql bench compare",
     2, "/nonexistent/a.json"),
    (("bench", "corpus", "--items", "many", "--out", "x"), "cql bench corpus", 2, "many"),
    (("bench", "build", "--site", "/nonexistent/site", "--out", "/nonexistent/o"),
     "cql bench build", 2, ""),
]


@pytest.mark.parametrize("args,prefix,status,fragment", CASES,
                         ids=[" ".join(c[0])[:60] for c in CASES])
def test_every_error_is_one_line_with_the_right_exit(
        index: Path, env: dict[str, str], args: tuple[str, ...], prefix: str, status: int,
        fragment: str) -> None:
    argv = [a.replace("{index}", str(index)) for a in args]
    proc = cql(env, *argv)
    check_error(proc, prefix, status, fragment, json_out="--json" in argv)


# Shared options (issue 9): search and repl refuse each bad value with the same words.
SHARED_BAD = [
    ("--tz", "Mars/Olympus"), ("--now", "yesterday"), ("--status", "bogus"),
    ("--as-app", ""), ("--as-user", " "), ("--space", ""), ("--as-app", "app-nope"),
    ("--scopes", "x"),
]


@pytest.mark.parametrize("option,value", SHARED_BAD)
def test_search_and_repl_refuse_the_same_values_alike(
        index: Path, env: dict[str, str], option: str, value: str) -> None:
    search = cql(env, "search", "type = page", option, value, "--index", str(index))
    repl = cql(env, "repl", option, value, "--index", str(index), stdin="type = page\n")
    assert search.returncode == repl.returncode == 2
    said = [p.stderr.splitlines()[0].split(": error: ", 1)[1] for p in (search, repl)]
    assert said[0] == said[1]
    assert "cql:" not in repl.stdout  # no query ran


def test_json_errors_go_to_stdout_for_search_policy_and_parse(
        index: Path, env: dict[str, str]) -> None:
    proc = cql(env, "search", "--json", "type = page AND label ~ x", "--index", str(index))
    assert proc.returncode == 1
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "operator_not_allowed" and error["column"] == 17
    assert error["message"].startswith("the operator '~' is not supported")
    proc = cql(env, "policy", "show", "nope", "--json", "--index", str(index))
    assert proc.returncode == 1
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "not_found" and "no policy with id 'nope'" in error["message"]
    proc = cql(env, "parse", "--json", "--bogus")
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"]["code"] == "usage"


def test_repl_chooses_a_granting_user_for_a_3lo_app_and_says_so(
        index: Path, env: dict[str, str]) -> None:
    search = cql(env, "search", "type = page", "--as-app", "app-syncbot", "--index", str(index))
    assert search.returncode == 2 and "add --as-user ACCOUNT" in search.stderr
    repl = cql(env, "repl", "--as-app", "app-syncbot", "--index", str(index),
               stdin="type = page\n")
    assert repl.returncode == 0, repl.stderr
    assert "is an oauth2_3lo app and always acts for a user; acting for" in repl.stdout


def test_version_and_help(env: dict[str, str]) -> None:
    proc = cql(env, "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("cql-search ")
    for command in ("search", "repl", "parse", "policy", "index", "bench"):
        proc = cql(env, command, "--help")
        assert proc.returncode == 0 and "--color" in proc.stdout, command


def test_the_max_limit_copy_matches_the_engine() -> None:
    from index import engine
    from index.cli import search

    assert search.MAX_LIMIT == engine.MAX_LIMIT


def test_the_status_list_copy_matches_the_context() -> None:
    from index.cli import options
    from index.core.context import CONTENT_STATUSES

    assert set(options.STATUSES) == CONTENT_STATUSES


def test_ctrl_c_exits_130_without_a_traceback(index: Path, env: dict[str, str]) -> None:
    """SIGINT while the REPL reads its input, and while ``cql`` is still starting up."""
    import signal
    import time

    # From 0.3 s on, ``cql`` is running (the interpreter's own start-up and the import of the
    # ``index`` package come before any code of ours can catch the signal).
    for delay in (0.3, 1.5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "index.cli", "repl", "--index", str(index)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=ROOT, env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        assert proc.returncode in (130, -signal.SIGINT), (delay, proc.returncode, err)


def test_colour_follows_the_flag_and_no_color(index: Path, env: dict[str, str]) -> None:
    plain = cql(env, "search", "type = page", "--limit", "1", "--index", str(index))
    forced = cql(env, "search", "type = page", "--limit", "1", "--color", "always",
                 "--index", str(index))
    assert "\x1b[" not in plain.stdout and "\x1b[" in forced.stdout
    bad = cql(env, "--color", "always", "search", "type = page AND", "--index", str(index))
    assert "\x1b[1;31merror" in bad.stderr


def run_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_repl_result_under_a_what_if_toggle_says_so(index: Path, env: dict[str, str]) -> None:
    proc = cql(env, "repl", "--as-app", "app-wordcount", "--index", str(index),
               stdin="type = page\n:policies toggle p1\ntype = page\n:policies reset\n"
                     "type = page\n")
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stdout.splitlines() if "what-if policies in force" in line]
    assert len(notes) == 1 and notes[0].startswith("operator view:")


def test_a_line_naming_a_subcommand_builds_that_subcommand_as_the_full_parser_does() -> None:
    """``cql search ...`` declares only ``search`` (start-up: ``serve`` and ``bench`` import
    modules a search never uses); it must be the same parser the full one holds."""
    from index.cli.conventions import subcommands
    from index.cli.main import ADDED_BY, build_parser

    full = subcommands(build_parser())
    assert set(full) == set(ADDED_BY)
    for name, parser in full.items():
        alone = subcommands(build_parser([name, "--help"]))
        assert name in alone and len(alone) < len(full)
        assert (sorted(alone[name]._option_string_actions)
                == sorted(parser._option_string_actions))
        assert set(subcommands(alone[name])) == set(subcommands(parser))
    assert set(subcommands(build_parser(["--color", "never", "--help"]))) == set(full)
