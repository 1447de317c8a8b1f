"""The one table renderer (``index.display``), seen from the commands that print tables.

Run as a user runs them: ``cql search`` in a subprocess writing to a pipe (nothing cut),
and in a pseudo-terminal (fitted to its width); ``cql bench compare`` draws its table with
the same renderer while the report file it reads stays Markdown. Columns are checked by
display width, the columns a terminal gives text (CJK and emoji take two).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from rich.cells import cell_len

from index.engine import Engine
from tests.sitegen import item, write_site

ROOT = Path(__file__).resolve().parents[1]
TITLES = {"1": "日本語のページ", "2": "Emoji 😀 release notes", "3": "Plain page",
          "4": "Café e\u0301 accents",
          "5": " ".join(["한국어 문서와 아주 긴 제목이 있는 페이지"] * 3)}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tables")
    site = write_site(base / "site", [item(k, title=t, day=int(k)) for k, t in TITLES.items()])
    Engine.build(site, base / "index")
    return base / "index"


def env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1"}


def columns_of(line: str, starts: list[int]) -> list[str]:
    """The text of each column, cutting ``line`` at display columns ``starts``."""
    out, col, current = [], 0, ""
    bounds = starts[1:] + [10**9]
    for ch in line:
        if col >= bounds[len(out)]:
            out.append(current)
            current = ""
        current += ch
        col += cell_len(ch)
    return [*out, current]


def test_search_columns_line_up_by_display_width_and_nothing_is_cut_in_a_pipe(
        index: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "index.cli", "search", "type = page",
                          "--index", str(index)], capture_output=True, text=True, cwd=ROOT,
                         env=env(), timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = lines[0]
    starts = [cell_len(header[: header.index(name)])
              for name in ("id", "type", "space", "title", "last modified")]
    rows = [columns_of(line, starts) for line in lines[2:2 + len(TITLES)]]
    assert {r[0].strip(): r[3].strip() for r in rows} == TITLES  # whole titles, each in place
    assert all(r[1].strip() == "page" and r[2].strip() == "A" for r in rows)
    assert all(r[4].strip().startswith("2024-02-0") for r in rows)


def test_search_on_a_terminal_fits_its_width(index: Path) -> None:
    child = pexpect.spawn(sys.executable, ["-m", "index.cli", "search", "type = page",
                                           "--index", str(index)], cwd=str(ROOT), env=env(),
                          encoding="utf-8", dimensions=(40, 60), timeout=120)
    child.expect(pexpect.EOF)
    out = child.before.replace("\r\n", "\n")
    table = out.split("\n\n")[0].splitlines()
    assert len(table) == 2 + len(TITLES)
    assert max(cell_len(line) for line in table) <= 60
    assert any(line.endswith("…") or "… " in line for line in table)  # the long title cut
    assert any("日本語のページ" in line for line in table)  # short ones whole


def test_bench_compare_draws_its_table_with_the_renderer(tmp_path: Path) -> None:
    def report(p50: float) -> Path:
        path = tmp_path / f"{p50}.json"
        path.write_text(json.dumps({"items": 10, "queries": [
            {"name": "title-日本語", "engines": {"cql-search": {"p50_ms": p50}}},
            {"name": "plain", "engines": {"cql-search": {"p50_ms": 1.0}}}]}), encoding="utf-8")
        return path

    old, new = report(1.0), report(2.0)
    run = subprocess.run([sys.executable, "-m", "index.cli", "bench", "compare", str(old),
                          str(new)], capture_output=True, text=True, cwd=ROOT, env=env(),
                         timeout=120)
    assert "|---" not in run.stdout and "`" not in run.stdout, run.stdout
    lines = run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("query"))
    assert set(lines[header + 1]) == {"─"}
    body = lines[header + 2: header + 4]
    assert body[0].startswith("title-日本語") and "REGRESSION" in body[0]
    # Figures are right-aligned under their header, by display width: "old" ends where
    # each row's old figure ends, whatever the query name before it holds.
    old_end = cell_len(lines[header][: lines[header].index("old") + len("old")])
    assert [cell_len(b[: b.index("1.00") + len("1.00")]) for b in body] == [old_end] * 2
