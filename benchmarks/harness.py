"""The benchmark run: build every engine, check they agree, time the mix, write reports.

Timing method (recorded in the report's ``settings``):

- Engines are interleaved query by query (engine A, B, C on query 1, then on query 2...),
  so a noisy neighbour slows every engine alike and the ratios hold.
- Per query and engine: ``warmup`` untimed runs, one calibration run, then enough timed
  runs to fill ``target_seconds`` (at least ``min_reps``, at most ``max_reps``). Each run is
  one ``timed`` call (parse, plan, execute, first page of ``limit`` hits and the exact total)
  measured with ``perf_counter_ns``. Percentiles interpolate linearly between samples.
  ``cpu_p50_ms`` is the p50 of the process CPU time of the same runs (``process_time_ns``,
  all threads): on a shared machine a call longer than a scheduler time slice is
  preempted and its wall time inflates, while its CPU time does not.
- Agreement is checked before timing, on every hit (not just the first page): id sets for
  every query, ordered lists when the query has an ORDER BY (ties are broken by id in every
  engine, as docs/semantics.md says), the total of the timed call against the number of
  hits, and the first page against the head of the full ordered list. A mismatch makes
  ``hits_agree`` false and the run exit non-zero. Naive Whoosh's timed total is reported but
  not held against it (its known ``And(X, Not(Y))`` defect, see ``baseline_whoosh``).
- A baseline that cannot express a query raises ``baseline_common.Unsupported``: the query
  is listed under ``unsupported`` (and shown as ``n/a``), neither timed nor compared, and
  does not make ``hits_agree`` false.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.baseline_common import Unsupported
from benchmarks.engines import (
    ENGINE_NAMES,
    OPTIONAL,
    Callers,
    Target,
    load_callers,
    open_target,
)
from benchmarks.queries import MixQuery, load_mix, parse_strings

REPORT_FORMAT = 1
EXAMPLES = 5  # example ids printed per side of a disagreement
#: Engines whose timed total may differ from their hit count without failing the run.
_COUNT_EXEMPT = frozenset({"whoosh-naive"})


@dataclass(frozen=True)
class Settings:
    limit: int = 25
    warmup: int = 2
    target_seconds: float = 0.5
    min_reps: int = 5
    max_reps: int = 200
    excerpt: str = "none"
    verify: bool = True
    reference_max_items: int = 10_000


# --- building --------------------------------------------------------------------------


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build_all(site_dir: Path, index_root: Path, engines: list[str]) -> dict[str, Any]:
    """Build each engine in its own process; return figures per engine."""
    index_root.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {}
    for name in [n for n in engines if _installed(n)]:
        out = index_root / name
        shutil.rmtree(out, ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:
            result = Path(tmp) / "result.json"
            cmd = [sys.executable, "-m", "benchmarks.build_child", name, str(site_dir),
                   str(out), str(result)]
            proc = subprocess.run(cmd, env=_child_env())
            if proc.returncode != 0:
                raise RuntimeError(f"building {name} failed (exit {proc.returncode})")
            fig = json.loads(result.read_text(encoding="utf-8"))
        fig["size_bytes"] = dir_size(out) if out.exists() else None
        if name == "reference":
            fig["note"] = "in memory: load_site + ReferenceEvaluator(site); nothing on disk"
        figures[name] = fig
    return figures


def _child_env() -> dict[str, str]:
    """The child must import this checkout's packages however the parent was started."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


# --- timing ----------------------------------------------------------------------------


def percentile(sorted_ms: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    if not sorted_ms:
        return math.nan
    pos = (len(sorted_ms) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (pos - lo)


def measure(fn: Callable[[], Any], settings: Settings) -> dict[str, Any]:
    for _ in range(settings.warmup):
        fn()
    began = time.perf_counter()
    fn()
    once = time.perf_counter() - began
    reps = int(settings.target_seconds / max(once, 1e-6))
    reps = max(settings.min_reps, min(settings.max_reps, reps))
    samples: list[float] = []
    cpu: list[float] = []
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    for _ in range(reps):
        c0 = cpu_clock()
        t0 = clock()
        fn()
        samples.append((clock() - t0) / 1e6)
        cpu.append((cpu_clock() - c0) / 1e6)
    samples.sort()
    cpu.sort()
    return {
        "p50_ms": round(percentile(samples, 0.50), 4),
        "p95_ms": round(percentile(samples, 0.95), 4),
        "p99_ms": round(percentile(samples, 0.99), 4),
        "mean_ms": round(sum(samples) / len(samples), 4),
        "min_ms": round(samples[0], 4),
        "cpu_p50_ms": round(percentile(cpu, 0.50), 4),
        "reps": reps,
    }


# --- agreement -------------------------------------------------------------------------


def _ordered(query: MixQuery) -> bool:
    import cql

    return bool(cql.parse(query.cql).order_by)


def compare_hits(
    query: MixQuery, hits: dict[str, list[str]], timed: dict[str, tuple[int, list[str]]],
    limit: int,
) -> list[dict[str, Any]]:
    """Every way the engines' answers to ``query`` differ (empty when they agree)."""
    problems: list[dict[str, Any]] = []
    if not hits:
        return problems
    ordered = _ordered(query)
    base_name = "cql-search" if "cql-search" in hits else next(iter(hits))
    base = hits[base_name]
    for name, ids in hits.items():
        if name == base_name:
            continue
        a, b = set(base), set(ids)
        if a != b:
            problems.append({
                "query": query.name, "kind": "set", "engines": [base_name, name],
                "counts": [len(a), len(b)],
                f"only_in_{base_name}": sorted(a - b, key=_id_sort)[:EXAMPLES],
                f"only_in_{name}": sorted(b - a, key=_id_sort)[:EXAMPLES],
            })  # fmt: skip
        elif ordered and base != ids:
            at = next(i for i, (x, y) in enumerate(zip(base, ids, strict=False)) if x != y)
            problems.append({
                "query": query.name, "kind": "order", "engines": [base_name, name],
                "first_difference_at": at,
                base_name: base[at : at + EXAMPLES], name: ids[at : at + EXAMPLES],
            })  # fmt: skip
    for name, (total, first) in timed.items():
        ids = hits.get(name)
        if ids is None:
            continue
        if total != len(ids) and name not in _COUNT_EXEMPT:
            problems.append({"query": query.name, "kind": "count", "engines": [name],
                             "timed_total": total, "hits": len(ids)})
        if ordered and name not in _COUNT_EXEMPT and first != ids[:limit]:
            problems.append({"query": query.name, "kind": "first_page", "engines": [name],
                             "first_page": first[:EXAMPLES], "expected": ids[:EXAMPLES]})
        elif not ordered and not set(first) <= set(ids) and name not in _COUNT_EXEMPT:
            problems.append({"query": query.name, "kind": "first_page", "engines": [name],
                             "not_in_hits": sorted(set(first) - set(ids), key=_id_sort)[:EXAMPLES]})
    return problems


def _id_sort(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


# --- the run ---------------------------------------------------------------------------


def run_mix(queries: list[MixQuery], targets: list[Target], settings: Settings,
            progress: bool = True) -> dict[str, Any]:
    """Verify and time every query on every target; return the ``queries`` part of a report
    plus ``hits_agree``, ``disagreements``, ``errors``, ``skipped`` and ``unsupported``."""
    from tqdm import tqdm

    records: list[dict[str, Any]] = []
    disagreements: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    unsupported: list[dict[str, Any]] = []
    bar = tqdm(queries, desc="queries", unit="query", leave=False,
               disable=not (progress and sys.stderr.isatty()))
    for query in bar:
        bar.set_postfix_str(query.name)
        hits: dict[str, list[str]] = {}
        timed: dict[str, tuple[int, list[str]]] = {}
        failed: dict[str, str] = {}
        for target in targets:
            try:
                timed[target.name] = target.timed(query, settings.limit)
                if settings.verify:
                    hits[target.name] = target.hits(query)
            except Unsupported as exc:  # the engine's query language cannot say it
                failed[target.name] = f"unsupported: {exc}"
                unsupported.append({"query": query.name, "engine": target.name,
                                    "reason": str(exc)})
            except ImportError as exc:  # a layer not integrated yet (e.g. enforcement)
                failed[target.name] = f"skipped: {exc}"
                skipped.append({"query": query.name, "engine": target.name, "error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
                failed[target.name] = f"{type(exc).__name__}: {exc}"
                errors.append({"query": query.name, "engine": target.name,
                               "error": f"{type(exc).__name__}: {exc}"})
        problems = compare_hits(query, hits, timed, settings.limit) if settings.verify else []
        disagreements.extend(problems)
        engines: dict[str, Any] = {}
        for target in targets:
            if target.name in failed:
                engines[target.name] = {"error": failed[target.name]}
                continue
            # Collect, then freeze what survived: a full collection over what the engines
            # cached since (gigabytes at a million items) cost seconds before every query.
            gc.collect()
            gc.freeze()
            stats = measure(lambda t=target, q=query: t.timed(q, settings.limit), settings)
            stats["total"] = timed[target.name][0]
            full = hits.get(target.name)
            if full is not None and stats["total"] != len(full):
                # Only tolerated for whoosh-naive (see _COUNT_EXEMPT); shown in the table.
                stats["count_wrong"] = {"timed_total": stats["total"], "hits": len(full)}
            engines[target.name] = stats
        count_source = hits.get("cql-search") or next(iter(hits.values()), None)
        records.append({
            "name": query.name,
            "category": query.category,
            "caller": query.caller,
            "cql": query.cql,
            "ordered": _ordered(query),
            "hits": len(count_source) if count_source is not None else
            next((t[0] for t in timed.values()), None),
            "agree": not problems and not any(e["query"] == query.name for e in errors)
            if settings.verify else None,
            "engines": engines,
        })  # fmt: skip
    bar.close()
    agree = None if not settings.verify else (not disagreements and not errors)
    return {"queries": records, "hits_agree": agree, "disagreements": disagreements,
            "errors": errors, "skipped": skipped, "unsupported": unsupported}


def summarize(records: list[dict[str, Any]], engines: list[str]) -> dict[str, Any]:
    """Per engine: geometric mean of its p50 over cql-search's p50 (how many times slower
    than the engine; < 1 means faster), over the queries both answered."""
    out: dict[str, Any] = {}
    for name in engines:
        ratios = []
        for rec in records:
            mine = rec["engines"].get(name, {}).get("p50_ms")
            ours = rec["engines"].get("cql-search", {}).get("p50_ms")
            if mine and ours:
                ratios.append(mine / ours)
        if ratios:
            geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
            out[name] = {"p50_ratio_geomean": round(geo, 3), "queries": len(ratios)}
    return out


# --- parse -----------------------------------------------------------------------------


def parse_throughput(files: list[Path] | None, repeat: int,
                     params: dict[str, str] | None = None,
                     only: str | None = None) -> dict[str, Any]:
    """Parser throughput over the mix (``benchmarks.parse_bench.run`` when it exists)."""
    if params is None:
        params = _sample_params()
    strings = parse_strings(files, params, only)
    if not strings:
        return {"queries_per_s": None, "queries": 0, "repeat": repeat, "via": "none matched"}
    try:
        from benchmarks import parse_bench  # owned by the parser benchmark
    except ImportError:
        parse_bench = None  # type: ignore[assignment]
    if parse_bench is not None and hasattr(parse_bench, "run"):
        result = parse_bench.run(strings, repeat)
        if isinstance(result, dict) and "queries_per_s" in result:
            out = dict(result)
            out.setdefault("queries", len(strings))
            out.setdefault("repeat", repeat)
            out["via"] = "benchmarks.parse_bench.run"
            return out
        if isinstance(result, int | float):
            return {"queries_per_s": float(result), "queries": len(strings), "repeat": repeat,
                    "via": "benchmarks.parse_bench.run"}
    import cql

    for text in strings:  # warm-up (grammar construction, caches)
        cql.normalize(cql.parse(text))
    began = time.perf_counter()
    for _ in range(repeat):
        for text in strings:
            cql.normalize(cql.parse(text))
    seconds = time.perf_counter() - began
    return {"queries_per_s": round(len(strings) * repeat / seconds, 1), "queries": len(strings),
            "repeat": repeat, "via": "cql.parse + cql.normalize (fallback)"}


def _sample_params() -> dict[str, str]:
    """Parameters for the mix without a corpus at hand: those of a tiny corpus."""
    from benchmarks.corpus import write_corpus

    with tempfile.TemporaryDirectory() as tmp:
        params: dict[str, str] = write_corpus(Path(tmp), 60)["params"]
        return params


# --- report context --------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    return info


def versions() -> dict[str, Any]:
    out: dict[str, Any] = {"sqlite": sqlite3.sqlite_version}
    for dist in ("cql-search", "whoosh-reloaded", "tantivy", "pydantic", "lark", "tqdm"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    root = Path(__file__).resolve().parent.parent
    try:  # read-only: the commit the checkout is on (the working tree may differ)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=5)
        out["git_commit"] = commit.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = None
    return out


# --- commands --------------------------------------------------------------------------


_MISSING_REPORTED: set[str] = set()


def _installed(name: str) -> bool:
    """False (said once on stderr) for an engine whose optional package is absent."""
    package = OPTIONAL.get(name)
    if package is None or importlib.util.find_spec(package) is not None:
        return True
    if name not in _MISSING_REPORTED:
        _MISSING_REPORTED.add(name)
        print(f"{name}: skipped, the {package!r} package is not installed "
              f"(pip install {package}, or cql-search[bench])", file=sys.stderr)
    return False


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(limit=args.limit, warmup=args.warmup, target_seconds=args.target_seconds,
                    min_reps=args.min_reps, max_reps=args.max_reps,
                    verify=not args.no_verify, reference_max_items=args.reference_max_items)


def _engines_for(requested: list[str], items: int, settings: Settings) -> list[str]:
    names = [n for n in ENGINE_NAMES if n in requested and _installed(n)]
    if items > settings.reference_max_items and "reference" in names:
        names.remove("reference")
    return names


def run_suite(work: Path, site_dir: Path, args: argparse.Namespace,
              build: dict[str, Any] | None, parse_repeat: int = 20) -> dict[str, Any]:
    """Run the mix (and parse throughput) against indexes in ``work/indexes``; return the
    report (also written to ``work/report.json`` and ``work/report.md``)."""
    from benchmarks.report import write_markdown
    from index.core.context import DEFAULT_NOW, SearchContext

    settings = _settings(args)
    manifest = json.loads((site_dir / "corpus.json").read_text(encoding="utf-8"))
    items = int(manifest["items"])
    engines = _engines_for(args.engines, items, settings)
    if build is None and (work / "build.json").is_file():
        build = json.loads((work / "build.json").read_text(encoding="utf-8"))
    build = build or {}
    engines = [n for n in engines if n == "reference" or (work / "indexes" / n).exists()]
    callers = load_callers(site_dir, manifest)
    context = SearchContext(now=DEFAULT_NOW)  # pinned: the same answers every run
    queries = load_mix(args.queries, manifest["params"], args.only)
    targets: list[Target] = []
    opened: list[str] = []
    for name in engines:
        targets.append(open_target(name, work / "indexes", site_dir, callers, context,
                                   settings.excerpt))
        opened.append(name)
    # Everything loaded so far (indexes, the reference's site, caches) lives for the whole
    # run: freeze it so the per-measurement collections below scan only new garbage.
    gc.collect()
    gc.freeze()
    try:
        result = run_mix(queries, targets, settings)
    finally:
        for target in targets:
            target.close()
        gc.unfreeze()
    stage(f"run: {len(queries)} queries x {len(opened)} engines done")
    parse = None
    if not getattr(args, "skip_parse", False):
        parse = parse_throughput(args.queries, parse_repeat, manifest["params"], args.only)
        stage(f"parse: {parse['queries_per_s']} queries/s over {parse['queries']} queries")
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "items": items,
        "corpus": {k: manifest[k] for k in ("seed", "spaces", "users", "types", "max_depth")},
        "machine": machine_info(),
        "versions": versions(),
        "settings": {
            **asdict(settings),
            "engines": opened,
            "context_now": context.now.isoformat(),
            "callers": _callers_summary(callers),
            "query_files": [str(p) for p in args.queries] if args.queries else "default",
            "timed_operation": {
                "cql-search": f"engine.search(cql, limit={settings.limit}, "
                f"excerpt={settings.excerpt!r}): first page + totalSize",
                "whoosh-naive": "searcher.search(q, limit, sortedby) + len(results); one "
                "reused searcher, no caches; hits checked with docs_for_query / limit=None",
                "sqlite-fts5": "SELECT count(*) + SELECT id ... ORDER BY ... LIMIT; "
                "unordered queries ordered by lastmodified DESC (no relevance)",
                "tantivy": "searcher.search(q, limit, count=True[, order_by_field=rank]); "
                "unordered queries ranked by BM25; ids from a fast field",
                "reference": "ReferenceEvaluator.search (every hit, in memory)",
            },
        },
        "build": build,
        "parse": parse,
        "hits_agree": result["hits_agree"],
        "disagreements": result["disagreements"],
        "errors": result["errors"],
        "skipped": result["skipped"],
        "unsupported": result["unsupported"],
        "summary": summarize(result["queries"], opened),
        "queries": result["queries"],
    }
    (work / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    write_markdown(report, work / "report.md")
    return report


def stage(message: str) -> None:
    """One line per finished stage on stderr when it is not a terminal (a CI log shows
    progress; on a terminal the progress bars do)."""
    if not sys.stderr.isatty():
        print(f"stage {message}", file=sys.stderr, flush=True)


def terminal_summary(report: dict[str, Any]) -> str:
    """Agreement, build speed and the geometric means, in a few lines for a person."""
    agree = {True: "yes", False: "NO", None: "not checked"}[report["hits_agree"]]
    lines = [f"hits agree: {agree}"]
    for name, fig in report.get("build", {}).items():
        if fig.get("items_per_s"):
            lines.append(f"build {name}: {fig['items_per_s']:,.0f} items/s")
    for name, fig in report.get("summary", {}).items():
        if name != "cql-search":
            lines.append(f"{name}: {fig['p50_ratio_geomean']:,.1f}x cql-search's p50 "
                         f"(geometric mean over {fig['queries']} queries)")
    parse = report.get("parse")
    if parse and parse.get("queries_per_s"):
        lines.append(f"parse: {parse['queries_per_s']:,.0f} queries/s")
    return "\n".join(lines)


def _callers_summary(callers: Callers) -> dict[str, Any]:
    return {
        "user": callers.user,
        "app": {"app_id": callers.app_id, "kind": callers.app_kind,
                "acting_for": callers.app_user, "scopes": sorted(callers.app_scopes),
                "blocked_spaces": len(callers.app_hidden)},
    }


def _print_outcome(report: dict[str, Any], work: Path) -> int:
    from benchmarks.report import describe, markdown_table, print_for_terminal

    print_for_terminal(markdown_table(report))
    if sys.stdout.isatty():
        print("\n" + terminal_summary(report))
    print(f"\nreport: {work / 'report.json'} and {work / 'report.md'}")
    for item in report["skipped"]:
        print(f"skipped: {item['query']} on {item['engine']}: {item['error']}", file=sys.stderr)
    for item in report.get("unsupported", []):
        print(f"unsupported: {item['query']} on {item['engine']}: {item['reason']}",
              file=sys.stderr)
    if report["hits_agree"] is False:
        print("\nHITS DISAGREE:", file=sys.stderr)
        for item in report["errors"]:
            print(f"  {item['query']}: {item['engine']} failed: {item['error']}", file=sys.stderr)
        for problem in report["disagreements"]:
            print(f"  {describe(problem)}", file=sys.stderr)
        return 1
    return 0


def run_command(args: argparse.Namespace) -> int:
    work: Path = args.out
    site_dir = args.site or work / "site"
    report = run_suite(work, site_dir, args, None)
    status = _print_outcome(report, work)
    if args.plot:
        from benchmarks.report import plot

        plot([report], work / "latency.png")
    return status


def all_command(args: argparse.Namespace) -> int:
    from benchmarks.corpus import MANIFEST_FILE, write_corpus
    from benchmarks.report import plot, write_markdown

    settings = _settings(args)
    sizes = sorted(set(args.items))
    reports: list[dict[str, Any]] = []
    status = 0
    for items in sizes:
        work = args.out if len(sizes) == 1 else args.out / f"items-{items}"
        work.mkdir(parents=True, exist_ok=True)
        site_dir = work / "site"
        manifest_path = site_dir / MANIFEST_FILE
        reuse = False
        if args.keep and manifest_path.is_file():
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
            reuse = old.get("items") == items and old.get("seed") == args.seed
        if not reuse:
            shutil.rmtree(site_dir, ignore_errors=True)
            began = time.perf_counter()
            write_corpus(site_dir, items, seed=args.seed, progress=sys.stderr.isatty())
            stage(f"corpus: {items:,} items in {time.perf_counter() - began:.1f} s "
                  f"({dir_size(site_dir) / 1e6:.1f} MB)")
        engines = _engines_for(args.engines, items, settings)
        build = build_all(site_dir, work / "indexes", engines)
        stage(f"build: {', '.join(engines)} into {work / 'indexes'}")
        (work / "build.json").write_text(json.dumps(build, indent=2) + "\n", encoding="utf-8")
        report = run_suite(work, site_dir, args, build, args.parse_repeat)
        reports.append(report)
        status |= _print_outcome(report, work)
    if len(sizes) > 1:
        combined = dict(reports[-1])
        combined["series"] = [
            {"items": r["items"], "build": r["build"], "parse": r["parse"],
             "hits_agree": r["hits_agree"],
             "queries": {q["name"]: {e: s.get("p50_ms") for e, s in q["engines"].items()}
                         for q in r["queries"]}}
            for r in reports
        ]  # fmt: skip
        combined["hits_agree"] = all(r["hits_agree"] is not False for r in reports)
        (args.out / "report.json").write_text(json.dumps(combined, indent=2) + "\n",
                                              encoding="utf-8")
        write_markdown(combined, args.out / "report.md")
    if args.plot:
        plot(reports, args.out / "latency.png")
    return status
