"""``cql parse``, the linter for saved CQL, run the way a user or a CI script runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cql_parse(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "index.cli.main", "parse", *args],
        input=stdin if stdin is not None else "", capture_output=True, text=True, cwd=ROOT,
        timeout=120,
    )


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_queries_as_arguments_print_canonical_text() -> None:
    run = cql_parse("type=smartlink and Space=DEV order by created desc", "label in ('a','b')")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "type = embed AND space = DEV ORDER BY created DESC",
        "label IN (a, b)",
    ]


def test_an_invalid_argument_prints_the_error_and_exits_1() -> None:
    run = cql_parse("type = page", "label = x AND")
    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        "type = page",
        "<argument 2>:1:11: syntax: dangling AND: a clause must follow it",
        "label = x AND",
        "          ^^^",
    ]


def test_queries_from_stdin_one_per_line() -> None:
    run = cql_parse(stdin="type = page\n\n   \nlabel = x\r\nspace = DEV")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["type = page", "label = x", "space = DEV"]


def test_arguments_win_over_stdin() -> None:
    run = cql_parse("label = a", stdin="label = b\n")
    assert run.stdout.splitlines() == ["label = a"]


def test_empty_stdin_is_not_an_error() -> None:
    run = cql_parse(stdin="")
    assert (run.returncode, run.stdout) == (0, "")


def test_json_ok_shape() -> None:
    run = cql_parse("--json", "space.key = DEV")
    assert run.returncode == 0
    (record,) = json_lines(run.stdout)
    assert list(record) == ["cql", "ok", "canonical", "ast", "file", "line"]
    assert (record["file"], record["line"]) == ("<argument 1>", 1)
    assert record["cql"] == "space.key = DEV"
    assert record["ok"] is True
    assert record["canonical"] == "space = DEV"
    assert record["ast"] == {
        "node": "Query",
        "where": {
            "node": "Clause", "field": "space", "op": "=",
            "value": {"node": "String", "value": "DEV", "span": [12, 15]},
            "span": [0, 15],
        },
        "order_by": [],
        "span": [0, 15],
    }


def test_json_error_shape() -> None:
    run = cql_parse("--json", "type = page AND label ~ x")
    assert run.returncode == 1
    (record,) = json_lines(run.stdout)
    assert list(record) == ["cql", "ok", "error", "file", "line"]
    assert record["ok"] is False
    assert record["error"] == {
        "code": "operator_not_allowed",
        "message": "the operator '~' is not supported by the field 'label'; it supports: "
                   "=, !=, IN, NOT IN",
        "line": 1, "column": 17, "offset": 16, "end": 25,
    }


def test_json_syntax_error_adds_only_expected() -> None:
    # The issue lists code, message, line, column, offset and end; syntax errors add the
    # expected tokens in words, and nothing else.
    run = cql_parse("--json", "label IN (a b)")
    (record,) = json_lines(run.stdout)
    error = record["error"]
    assert set(error) - {"expected"} == {"code", "message", "line", "column", "offset", "end"}
    assert error["code"] == "syntax" and error["column"] == 13
    assert error["expected"] == ["','", "')'"]


def test_json_mixed_stdin_keeps_order_and_input_text() -> None:
    lines = ["type = page", "label != x", "type = smartlink", "bogus = 1"]
    run = cql_parse("--json", stdin="\n".join(lines) + "\n")
    assert run.returncode == 1
    records = json_lines(run.stdout)
    assert [r["cql"] for r in records] == lines
    assert [r["ok"] for r in records] == [True, False, True, False]
    assert [r.get("error", {}).get("code") for r in records] == \
        [None, "negative_first", None, "unknown_field"]


def test_lenient_switches_dialect() -> None:
    queries = ["label != x", "order by created", 'created > now("-4w2d")', "type = foo"]
    strict = cql_parse("--json", *queries)
    lenient = cql_parse("--json", "--lenient", *queries)
    assert strict.returncode == 1 and lenient.returncode == 0
    assert [r["ok"] for r in json_lines(strict.stdout)] == [False] * 4
    assert [r["canonical"] for r in json_lines(lenient.stdout)] == [
        "label != x", "ORDER BY created", 'created > now("-4w2d")', "type = foo",
    ]


@pytest.mark.parametrize("args", [
    pytest.param(["--bogus"], id="unknown option"),
    pytest.param(["--json=yes"], id="flag with a value"),
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    run = cql_parse(*args, "type = page")
    assert run.returncode == 2
    assert run.stdout == ""
    assert "usage:" in run.stderr


def test_no_command_exits_2() -> None:
    run = subprocess.run([sys.executable, "-m", "index.cli.main"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert run.returncode == 2
    assert "parse" in run.stderr


def test_help_exits_0() -> None:
    run = cql_parse("--help")
    assert run.returncode == 0
    assert "--lenient" in run.stdout and "--json" in run.stdout


def test_two_thousand_lines_in_one_process() -> None:
    base = [
        "space = DEV AND type = page",
        'label IN (howto, "release-notes") ORDER BY lastmodified DESC',
        'text ~ "quarterly report" AND created >= now("-4w")',
        "ancestor = 12345 AND type = page ORDER BY title",
        "label = x AND",
    ]
    lines = [f"{base[i % len(base)]}" for i in range(2000)]
    run = cql_parse("--json", stdin="\n".join(lines) + "\n")
    records = json_lines(run.stdout)
    assert len(records) == 2000
    assert sum(not r["ok"] for r in records) == 400
    assert run.returncode == 1


def test_parse_command_does_not_load_whoosh() -> None:
    code = (
        "import sys\n"
        "from index.cli.main import main\n"
        "main(['parse', 'type = page'])\n"
        "print(any(m.split('.')[0] == 'whoosh' for m in sys.modules), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert run.stdout == "type = page\n"
    assert run.stderr.strip() == "False"


#: Text before the error, and the columns a terminal gives it: CJK and emoji take two, a
#: combining accent none, a ZWJ family one emoji (two), a flag two.
WIDE_TEXT = [
    pytest.param("日本語", 6, id="cjk"),
    pytest.param("😀😀", 4, id="emoji"),
    pytest.param("e\u0301te\u0301", 3, id="combining"),
    pytest.param("👨\u200d👩\u200d👧", 2, id="zwj-family"),
    pytest.param("🇫🇷", 2, id="flag"),
    pytest.param("\u2764\ufe0f", 2, id="emoji-presentation"),
    pytest.param("ｔｙｐｅ", 8, id="fullwidth"),
]


@pytest.mark.parametrize(("before", "columns"), WIDE_TEXT)
def test_the_caret_stands_under_the_error_after_wide_characters(before: str,
                                                                 columns: int) -> None:
    query = f'title = "{before}" AND labl = x'
    run = cql_parse(query)
    assert run.returncode == 1
    line, caret = run.stdout.splitlines()[1:3]
    assert line == query
    # 'title = "' is 9 columns, the text `columns`, '" AND ' 6 more; then "labl" (4).
    assert caret == " " * (9 + columns + 6) + "^^^^"


def test_the_caret_of_a_search_error_counts_display_width_too(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "NO_COLOR": "1"}
    run = subprocess.run([sys.executable, "-m", "index.cli.main", "search",
                          "title ~ 中文 AND labl = x"], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=600)
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("cql search:")):]
    assert lines[0].startswith("cql search: error: line 1, column 16: ")
    assert lines[1:3] == ["title ~ 中文 AND labl = x", " " * 17 + "^^^^"]
