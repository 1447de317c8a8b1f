"""Invalid UTF-8 is a positioned error whatever the locale, through the real front doors.

Each command runs as a subprocess with ``PYTHONIOENCODING`` unset under ``LC_ALL=C``, once
with Python's usual C-locale coercion to UTF-8 and once with it switched off (so the
locale's encoding is ASCII). Before, ``cql parse`` echoed an invalid byte back as if it were
text, and an ASCII locale turned valid UTF-8 into escapes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SITE = ROOT / "fixtures" / "site"
LOCALES = {
    "C": {"LC_ALL": "C"},
    "C, no coercion": {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},
}


def cql(args: list[str], locale: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONIOENCODING", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONUTF8")}
    env.update(LOCALES[locale], PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "index.cli", *args], cwd=ROOT, input=stdin,
                          capture_output=True, env=env, timeout=120)


@pytest.mark.parametrize("locale", LOCALES)
def test_cql_parse_stdin(locale: str) -> None:
    done = cql(["parse"], locale, 'title = "caf\xe9"\n'.encode("latin-1")
               + 'title = "café"\n'.encode() + b"\xff\n")
    assert done.returncode == 1
    assert done.stdout.decode("utf-8").splitlines() == [
        # The linter's FILE:LINE:COLUMN: code: message (issue 11).
        "<stdin>:1:13: bad_encoding: not valid UTF-8 (byte 0xe9); input must be UTF-8 text",
        'title = café' if locale == "C" else 'title = caf\\xe9',
        "<stdin>:3:1: bad_encoding: not valid UTF-8 (byte 0xff); input must be UTF-8 text",
    ]
    assert done.stderr == b""


@pytest.mark.parametrize("locale", LOCALES)
def test_cql_parse_json_and_arguments(locale: str) -> None:
    done = cql(["parse", "--json"], locale, b'space = "\xc3"\n')
    assert b'"code": "bad_encoding"' in done.stdout and b'"column": 10' in done.stdout
    done = cql(["parse", os.fsdecode(b'title = "\xff"')], locale)
    assert done.stdout.decode().strip() == (
        "<argument 1>:1:10: bad_encoding: not valid UTF-8 (byte 0xff); input must be UTF-8 "
        "text")


@pytest.mark.parametrize("locale", LOCALES)
def test_cql_repl_piped(locale: str) -> None:
    done = cql(["repl"], locale, b'title ~ "\xfe"\ntype = page\n')
    out = done.stdout.decode("utf-8", errors="replace")
    assert done.returncode == 0, done.stderr
    assert "error: <stdin>:1:10: not valid UTF-8 (byte 0xfe)" in out
    assert "results" in out.split("not valid UTF-8", 1)[1]  # the next line still ran
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize("locale", LOCALES)
def test_cql_search_argument(locale: str) -> None:
    done = cql(["search", os.fsdecode(b'title ~ "\xff"')], locale)
    assert done.returncode == 1
    assert done.stderr.decode().strip() == (
        "cql search: error: <query>:1:10: not valid UTF-8 (byte 0xff); input must be UTF-8 "
        "text")


@pytest.mark.parametrize("locale", LOCALES)
def test_site_files(tmp_path: Path, locale: str) -> None:
    site = tmp_path / "site"
    shutil.copytree(FIXTURE_SITE, site)
    with (site / "content.jsonl").open("ab") as handle:
        handle.write(b'{"id": "777", "title": "\xe9t\xe9"}\n')
    lines = (site / "content.jsonl").read_bytes().count(b"\n")
    done = cql(["index", str(site), "--out", str(tmp_path / "index")], locale)
    assert done.returncode == 1  # a line was rejected; the index was built
    assert (f"rejected: content.jsonl:{lines}: not valid UTF-8 at column 25 (byte 0xe9)"
            in done.stderr.decode())
    (site / "policies.json").write_bytes(b'[\n  {"id": "p\xff"}\n]\n')
    done = cql(["index", str(site), "--out", str(tmp_path / "again")], locale)
    assert done.returncode == 1
    assert done.stderr.decode().strip().splitlines() == [
        "cql index: error: cannot build an index without its policy files: policies.json:2: "
        "not valid UTF-8 at column 12 (byte 0xff)"]
