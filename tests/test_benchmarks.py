"""The benchmark harness end to end on a tiny corpus (issue 4).

Why these tests exist: every performance claim comes from this harness, so CI must prove
that it runs, that its report has the promised shape, and that every engine returns the
same hits for the whole mix. Timings are never asserted (CI machines are noisy); the run
uses the smallest repetition settings so the whole module stays well under a minute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cli
from benchmarks.corpus import TYPE_MIX, write_corpus
from benchmarks.queries import MixError, default_files, load_mix
from index.site.loader import load_site

ITEMS = 300
FAST = ["--target-seconds", "0.001", "--min-reps", "1", "--max-reps", "2", "--warmup", "0"]
ENGINES = ("cql-search", "whoosh-naive", "sqlite-fts5", "reference")


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
            assert {"p50_ms", "p95_ms", "p99_ms", "mean_ms", "reps"} <= set(stats)
            assert stats["p50_ms"] <= stats["p99_ms"]
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


def test_run_stages_skip_parse_and_only(run: tuple[Path, dict[str, Any], int]) -> None:
    """Off a terminal each stage prints a line; --skip-parse skips the parser stage; --only
    scopes it (issue 11)."""
    import subprocess
    import sys

    from benchmarks.queries import parse_strings

    out, _, _ = run
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
