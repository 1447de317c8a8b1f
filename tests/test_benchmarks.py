"""The benchmark harness end to end on a tiny corpus (issue 4).

Why these tests exist: every performance claim comes from this harness, so CI must prove
that it runs, that its report has the promised shape, and that every engine returns the
same hits for the whole mix. Timings are never asserted (CI machines are noisy); the run
uses the smallest repetition settings so the whole module stays well under a minute.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cli
from benchmarks.corpus import TYPE_MIX, write_corpus
from benchmarks.queries import MixError, default_files, load_mix
from index.site.loader import load_site

ITEMS = 300
FAST = ["--target-seconds", "0.001", "--min-reps", "1", "--max-reps", "2", "--warmup", "0"]
# tantivy is in the ``test`` extra; an environment without it runs the rest (and the
# harness says it skipped tantivy).
HAVE_TANTIVY = importlib.util.find_spec("tantivy") is not None
ENGINES = ("cql-search", "whoosh-naive", "sqlite-fts5", "reference") + (
    ("tantivy",) if HAVE_TANTIVY else ())
needs_tantivy = pytest.mark.skipif(not HAVE_TANTIVY, reason="tantivy is not installed")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], int]:
    out = tmp_path_factory.mktemp("bench")
    # The mix files named explicitly: parse throughput then skips the parser benchmark's
    # large parse_mix.cql, which is not what this test is about.
    files = [arg for path in default_files() for arg in ("--queries", str(path))]
    status = cli.main(["all", "--items", str(ITEMS), "--out", str(out), "--parse-repeat", "1",
                       *FAST, *files])
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return out, report, status


def test_all_engines_agree_on_every_query(run: tuple[Path, dict[str, Any], int]) -> None:
    _, report, status = run
    problems = report["disagreements"] + report["errors"]
    assert report["hits_agree"] is True, problems
    assert status == 0
    assert report["skipped"] == []


def test_report_has_the_promised_shape(run: tuple[Path, dict[str, Any], int]) -> None:
    out, report, _ = run
    assert report["items"] == ITEMS
    for key in ("machine", "versions", "settings", "corpus", "summary"):
        assert isinstance(report[key], dict), key
    assert set(report["build"]) == set(ENGINES)
    for figures in report["build"].values():
        assert figures["items"] == ITEMS
        assert figures["items_per_s"] > 0
        assert figures["peak_rss_mb"] > 0
        assert "size_bytes" in figures
    assert report["build"]["cql-search"]["size_bytes"] > 0
    assert report["parse"]["queries_per_s"] > 0
    mix = load_mix(None, json.loads((out / "site" / "corpus.json").read_text())["params"])
    assert [q["name"] for q in report["queries"]] == [q.name for q in mix]
    for query in report["queries"]:
        assert {"name", "cql", "hits", "engines", "caller", "agree"} <= set(query)
        assert set(query["engines"]) == set(ENGINES), query["name"]
        for stats in query["engines"].values():
            if str(stats.get("error", "")).startswith("unsupported"):
                continue  # checked in test_tantivy_answers_all_but_multi_key_orders
            assert {"p50_ms", "p95_ms", "p99_ms", "mean_ms", "reps"} <= set(stats)
            assert stats["p50_ms"] <= stats["p99_ms"]
            assert stats["cpu_p50_ms"] >= 0
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| query | hits | cql-search p50 |" in markdown
    assert "hits_agree: **True**" in markdown


def test_the_mix_covers_every_category_and_the_blocked_app(
    run: tuple[Path, dict[str, Any], int],
) -> None:
    _, report, _ = run
    categories = {q["category"] for q in report["queries"]}
    assert {"exact", "in", "text", "prefix", "wildcard", "fuzzy", "date", "order", "tree",
            "bool", "count"} <= categories
    app = {q["category"] for q in report["queries"] if q["caller"] == "app"}
    assert {"exact", "in", "text", "prefix", "fuzzy", "date", "order", "tree", "bool",
            "count"} <= app
    ordered = {q["cql"].rsplit("ORDER BY", 1)[1] for q in report["queries"] if q["ordered"]}
    for key in ("created", "lastmodified", "title", "type", "space", "id"):
        assert any(key in keys for keys in ordered), key
    # The blocked app sees less than the user for the same query on a blocked space.
    by_name = {q["name"]: q for q in report["queries"]}
    assert by_name["exact.blocked_space@app"]["hits"] == 0
    assert by_name["count.pages@app"]["hits"] < by_name["count.pages"]["hits"]


def test_compare_flags_a_regression(run: tuple[Path, dict[str, Any], int],
                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, report, _ = run
    slower = json.loads(json.dumps(report))
    slower["queries"][0]["engines"]["cql-search"]["p50_ms"] = (
        report["queries"][0]["engines"]["cql-search"]["p50_ms"] * 3 + 1
    )
    (tmp_path / "report.json").write_text(json.dumps(slower), encoding="utf-8")
    assert cli.main(["compare", str(out), str(out)]) == 0
    assert cli.main(["compare", str(out), str(tmp_path)]) == 1
    assert "REGRESSION" in capsys.readouterr().out


def test_corpus_is_deterministic_and_loads_cleanly(tmp_path: Path) -> None:
    a = write_corpus(tmp_path / "a", 400, seed=3)
    write_corpus(tmp_path / "b", 400, seed=3)
    c = write_corpus(tmp_path / "c", 400, seed=4)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(
        ["apps.json", "content.jsonl", "corpus.json", "grants.json", "groups.jsonl",
         "policies.json", "site.json", "spaces.jsonl", "users.jsonl"]
    )
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "content.jsonl").read_bytes() != (
        tmp_path / "c" / "content.jsonl"
    ).read_bytes()
    site = load_site(tmp_path / "a")
    assert site.rejects == []
    assert len(site.content) == 400 and len(site.spaces) == 200 and len(site.users) == 2000
    assert set(a["types"]) == {name for name, _ in TYPE_MIX}
    assert max(len(item.ancestors) for item in site.content.values()) <= 8
    assert c["params"] != a["params"]


def test_mix_files_are_well_formed(tmp_path: Path) -> None:
    params = write_corpus(tmp_path / "s", 50)["params"]
    assert default_files(), "no mix files shipped"
    assert all(p.name != "parse_mix.cql" for p in default_files())
    bad = tmp_path / "bad.cql"
    bad.write_text("x\tspace = ${no_such_param}\n", encoding="utf-8")
    with pytest.raises(MixError, match="bad.cql:1"):
        load_mix([bad], params)
    bad.write_text("y\tspace = = x\n", encoding="utf-8")
    with pytest.raises(MixError, match="not valid CQL"):
        load_mix([bad], params)


def test_cql_bench_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    from index.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    assert "compare" in capsys.readouterr().out


def test_disagreements_are_caught_and_named() -> None:
    from benchmarks.harness import compare_hits
    from benchmarks.queries import MixQuery
    from benchmarks.report import describe

    unordered = MixQuery("x.set", "type = page", "user", "t:1")
    ordered = MixQuery("x.order", "type = page ORDER BY title", "user", "t:2")
    same = {"cql-search": ["1", "2", "3"], "sqlite-fts5": ["3", "2", "1"]}
    timed = {"cql-search": (3, ["1"]), "sqlite-fts5": (3, ["3"])}
    assert compare_hits(unordered, same, timed, 1) == []

    problems = compare_hits(unordered, {"cql-search": ["1", "2"], "sqlite-fts5": ["2", "9"]},
                            {"cql-search": (2, ["1"]), "sqlite-fts5": (2, ["2"])}, 1)
    assert [p["kind"] for p in problems] == ["set"]
    assert problems[0]["only_in_cql-search"] == ["1"]
    assert problems[0]["only_in_sqlite-fts5"] == ["9"]
    assert "x.set: set differs [cql-search vs sqlite-fts5]" in describe(problems[0])

    # sqlite's order differs; cql-search's total and its first page disagree with its hits.
    problems = compare_hits(ordered, same, {"cql-search": (4, ["2"]), "sqlite-fts5": (3, ["3"])},
                            1)
    assert {p["kind"] for p in problems} == {"order", "count", "first_page"}


def test_first_runs_times_every_user_query(run: tuple[Path, dict[str, Any], int]) -> None:
    from benchmarks.first_runs import first_runs

    out, report, _ = run
    times = first_runs(out / "indexes" / "cql-search", out / "site")
    users = [q["name"] for q in report["queries"]
             if not q["name"].endswith(("@app", "@operator"))]
    assert set(times) == {"(open)", *users}
    assert all(ms >= 0 for ms in times.values())


def test_cold_times_open_and_first_query_in_fresh_processes(
        run: tuple[Path, dict[str, Any], int]) -> None:
    """``python -m benchmarks.cold``: open + first query per fresh process, as a table."""
    out, _, _ = run
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.cold", str(out / "indexes" / "cql-search"),
         str(out / "site"), "exact.label_rare", "text.word_rare", "--runs", "1"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()[1:3]}
    assert set(rows) == {"exact.label_rare", "text.word_rare"}
    for figures in rows.values():
        open_ms, open_cpu, total_ms, total_cpu = map(float, figures)
        assert 0 < open_ms <= total_ms and 0 < open_cpu <= total_cpu


def test_run_stages_skip_parse_and_only(run: tuple[Path, dict[str, Any], int],
                                        tmp_path: Path) -> None:
    """Off a terminal each stage prints a line; --skip-parse skips the parser stage; --only
    scopes it (issue 11). Runs on a copy: the shared run's reports stay as they were."""
    import shutil
    import subprocess
    import sys

    from benchmarks.queries import parse_strings

    out = tmp_path / "run"
    shutil.copytree(run[0], out)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--out", str(out), "--skip-parse",
         "--only", "exact", "--engines", "cql-search", *FAST],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "stage run:" in proc.stderr and "stage parse" not in proc.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["parse"] is None
    assert report["queries"] and all("exact" in q["name"] for q in report["queries"])
    params = json.loads((out / "site" / "corpus.json").read_text(encoding="utf-8"))["params"]
    everything = parse_strings(default_files(), params)
    scoped = parse_strings(default_files(), params, "exact")
    assert 0 < len(scoped) < len(everything)


def test_plot_without_matplotlib_is_refused_before_the_run(tmp_path: Path) -> None:
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("matplotlib") is not None:
        pytest.skip("matplotlib is installed: --plot would run")
    proc = subprocess.run([sys.executable, "-m", "index.cli", "bench", "run", "--out",
                           str(tmp_path / "nothing"), "--plot"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--plot needs matplotlib" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "nothing").exists()


# --- the tantivy baseline and growth reports (issue 15) ----------------------------------


@needs_tantivy
def test_tantivy_answers_all_but_multi_key_orders(run: tuple[Path, dict[str, Any], int]) -> None:
    """tantivy agrees on every query it can express (the run's hits_agree covers it), and
    the only ones it cannot are ORDER BY with several keys: reported as n/a, not errors."""
    import cql

    out, report, _ = run
    assert report["build"]["tantivy"]["size_bytes"] > 0
    multi_key = {q["name"] for q in report["queries"] if len(cql.parse(q["cql"]).order_by) > 1}
    assert multi_key, "the mix lost its multi-key ORDER BY queries"
    unsupported = {u["query"] for u in report["unsupported"] if u["engine"] == "tantivy"}
    assert unsupported == multi_key
    assert all(u["engine"] == "tantivy" for u in report["unsupported"])
    for q in report["queries"]:
        stats = q["engines"]["tantivy"]
        if q["name"] in multi_key:
            assert stats["error"].startswith("unsupported: ORDER BY several keys")
        else:
            assert stats["total"] == q["hits"], q["name"]
    assert report["hits_agree"] is True
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| n/a |" in markdown and "tantivy: ORDER BY several keys" in markdown


@pytest.mark.parametrize(("pattern", "regex"), [
    ("plorn*", "plorn.*"),
    ("pl?rn", "pl.rn"),
    ("*orn*", ".*orn.*"),
    ("a.b[c]", "a\\.b\\[c\\]"),
    ("x-y~z", "x\\-y\\~z"),
])
def test_tantivy_wildcards_become_anchored_regexes(pattern: str, regex: str) -> None:
    from benchmarks.baseline_tantivy import glob_to_regex

    assert glob_to_regex(pattern) == regex


def test_tantivy_sort_ranks_break_ties_by_id_and_put_missing_dates_first() -> None:
    from benchmarks.baseline_tantivy import _ranks

    # docs: two content items with the same date (ids 5 and 3), a later one, a space entity.
    keys = [(10, (0, 5, "a")), (10, (0, 3, "b")), (20, (0, 1, "a")), (None, (1, 0, "s"))]
    asc, desc = _ranks(keys)
    assert sorted(range(4), key=asc.__getitem__) == [3, 1, 0, 2]
    assert sorted(range(4), key=desc.__getitem__) == [2, 1, 0, 3]  # ties still by id asc


def test_harness_skips_an_engine_whose_package_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks import harness

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tantivy" else real(name, *a))
    monkeypatch.setattr(harness, "_MISSING_REPORTED", set())
    names = harness._engines_for(["cql-search", "tantivy"], 100, harness.Settings())
    assert names == ["cql-search"]
    assert "tantivy: skipped, the 'tantivy' package is not installed" in capsys.readouterr().err


def test_plot_without_matplotlib_fails_before_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    from benchmarks import growth

    monkeypatch.setattr(growth, "plot_available", lambda: False)
    with pytest.raises(SystemExit) as usage:  # a usage error, from the subcommand's parser
        cli.main(["all", "--items", "50", "--out", str(tmp_path / "w"), "--plot"])
    assert usage.value.code == 2
    assert not (tmp_path / "w").exists()  # nothing was generated
    assert cli.main(["growth", str(tmp_path), "--plot", str(tmp_path / "g.png")]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err


def test_growth_reports_p50_per_category_across_sizes(
    run: tuple[Path, dict[str, Any], int], tmp_path: Path,
) -> None:
    """Two runs (the real one and a copy posing as a 10x corpus, every p50 doubled) give
    one column per engine and size, the category medians, and the build figures."""
    import statistics

    out, report, _ = run
    bigger = json.loads(json.dumps(report))
    bigger["items"] = ITEMS * 10
    for q in bigger["queries"]:
        for stats in q["engines"].values():
            if "p50_ms" in stats:
                stats["p50_ms"] *= 2
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "report.json").write_text(json.dumps(bigger), encoding="utf-8")
    md = tmp_path / "growth.md"
    argv = [sys.executable, "-m", "benchmarks", "growth", str(tmp_path / "big"), str(out),
            "--out", str(md)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # The file is Markdown; the terminal gets the same tables from the shared renderer.
    shown = proc.stdout.splitlines()
    assert "cql-search 300" in shown[0] and set(shown[1]) == {"─"}
    assert not any(line.startswith("|") for line in shown)
    lines = md.read_text(encoding="utf-8").splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head[2:4] == ["cql-search 300", "cql-search 3k"]  # sizes in ascending order
    for engine in ENGINES:
        assert f"{engine} 300" in head and f"{engine} 3k" in head
    exact = [line for line in lines if line.startswith("| exact |")][0]
    cells = [c.strip() for c in exact.strip("|").split("|")]
    p50s = [q["engines"]["cql-search"]["p50_ms"] for q in report["queries"]
            if q["category"] == "exact" and q["caller"] == "user"]
    assert cells[1] == str(len(p50s))
    small, big = statistics.median(p50s), statistics.median(p50s) * 2
    from benchmarks.report import _ms

    assert cells[2:4] == [_ms(small), _ms(big)]
    for row in ("| blocked app", "| selective (< 1,000 hits) |", "| all queries |",
                "| slowest query |", "| build | items | items/s | size on disk |"):
        assert any(line.startswith(row) for line in lines), row
    assert any(line.startswith("| cql-search | 3,000 |") for line in lines)
    if HAVE_TANTIVY:
        # tantivy's order row misses the multi-key queries
        assert "†" in md.read_text(encoding="utf-8")
    missing = subprocess.run([sys.executable, "-m", "benchmarks", "growth",
                              str(tmp_path / "nothing")], capture_output=True, text=True)
    assert missing.returncode == 2
    assert missing.stderr.startswith("growth: no report.json in")
    assert "Traceback" not in missing.stderr


def test_growth_plot(run: tuple[Path, dict[str, Any], int], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out, _, _ = run
    png = tmp_path / "growth.png"
    assert cli.main(["growth", str(out), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_growth_can_report_cpu_time(run: tuple[Path, dict[str, Any], int],
                                    capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The table file is Markdown (for the README); the terminal gets the same table from
    the renderer every cql command uses."""
    out, report, _ = run
    assert cli.main(["growth", str(out), "--metric", "cpu_p50_ms", "--out",
                     str(tmp_path / "growth.md"), "--engines", "cql-search,sqlite-fts5"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].split() == ["cpu_p50", "ms", "(median", "per", "category)", "queries",
                                "cql-search", "300", "sqlite-fts5", "300"]
    assert set(shown[1]) == {"─"} and not any(line.startswith("|") for line in shown)
    text = (tmp_path / "growth.md").read_text(encoding="utf-8")
    assert text.startswith("| cpu_p50 ms (median per category) | queries | cql-search 300 | "
                           "sqlite-fts5 300 |\n")
    slowest = [line for line in text.splitlines() if line.startswith("| slowest query |")][0]
    worst = max(q["engines"]["cql-search"]["cpu_p50_ms"] for q in report["queries"])
    from benchmarks.report import _ms

    assert slowest.split("|")[3].strip() == _ms(worst)


def test_permissions_compares_users_with_the_operator_and_times_first_searches(
        run: tuple[Path, dict[str, Any], int], tmp_path: Path) -> None:
    """``python -m benchmarks permissions`` on the shared run's site and index (copied):
    one row per query of permissions.cql with both callers' p50 and the first-search
    difference, and the summaries the README quotes."""
    import shutil
    import subprocess
    import sys

    out = tmp_path / "perm"
    out.mkdir()
    shutil.copytree(run[0] / "site", out / "site")
    shutil.copytree(run[0] / "indexes" / "cql-search", out / "indexes" / "cql-search")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "permissions", "--out", str(out),
         "--rounds", "3", "--new-users", "24"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "user/operator p50 geometric mean" in proc.stdout
    report = json.loads((out / f"permissions-{ITEMS}.json").read_text(encoding="utf-8"))
    assert report["items"] == ITEMS and report["groups"] == 50
    rows = report["queries"]
    assert rows and all(name.startswith("perm.") for name in rows)
    assert all(row["user_p50_ms"] > 0 and row["operator_p50_ms"] > 0 for row in rows.values())
    for part in ("mix", "text"):
        assert report[part]["gmean_ratio"] > 0 and report[part]["new_users"] > 0
        assert "first_extra_p50_ms" in report[part]


def test_sparse_sets_benchmark_runs_both_ways_and_they_agree(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m benchmarks.sparse_sets`` (its two paths must give the same page)."""
    from benchmarks import sparse_sets

    assert sparse_sets.main(["--sizes", "1000,5000", "--members", "3,40", "--repeat", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and "integers us" in lines[0]
