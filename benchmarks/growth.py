"""Growth: how each engine's latency changes with corpus size, from several runs.

``python -m benchmarks growth DIR1 DIR2 ... [--out growth.md] [--plot growth.png]`` reads
the ``report.json`` of runs at different sizes (a run directory, a report file, or the
directory of a multi-size ``all`` run, whose ``items-N/`` subdirectories are read) and
prints, per engine and size, the median p50 of each query category, so a reader sees at a
glance which costs follow the answer and which follow the corpus.

Why medians of p50s per category: a category holds queries of very different selectivity
(a rare label and a common one), and one slow query should not hide the others; the
``slowest`` row keeps the worst query in view, and ``selective`` (fewer than 1,000 hits at
that size) is the class the scale targets are written for. Medians are over the queries
the engine answered; a cell marked ``†`` misses some (``n/a``: the engine's query language
cannot express them), so compare such a cell with care.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import _ORDER, _ms

#: Queries with fewer hits than this are "selective" (the issue's scale targets).
SELECTIVE_HITS = 1000
APP_ROW = "blocked app (every @app query)"


def find_reports(paths: list[Path]) -> list[dict[str, Any]]:
    """Every report under ``paths``, one per corpus size (a later path wins a tie)."""
    by_size: dict[int, dict[str, Any]] = {}
    for path in paths:
        if path.is_dir():
            files = sorted(path.glob("items-*/report.json")) or [path / "report.json"]
        else:
            files = [path]
        if not all(f.is_file() for f in files):
            raise FileNotFoundError(f"no report.json in {path}")
        for file in files:
            report = json.loads(file.read_text(encoding="utf-8"))
            report["_path"] = str(file)
            by_size[int(report["items"])] = report
    return [by_size[k] for k in sorted(by_size)]


def _engines(reports: list[dict[str, Any]], only: list[str] | None = None) -> list[str]:
    """The engines in the reports (those of ``only`` when given), in report order."""
    seen = {e for r in reports for q in r["queries"] for e in q["engines"]}
    if only is not None:
        seen &= set(only)
    return [e for e in _ORDER if e in seen] + sorted(seen - set(_ORDER))


def _size(items: int) -> str:
    if items >= 1_000_000 and items % 1_000_000 == 0:
        return f"{items // 1_000_000}M"
    if items >= 1000 and items % 1000 == 0:
        return f"{items // 1000}k"
    return f"{items:,}"


def _rows(reports: list[dict[str, Any]]) -> list[tuple[str, Callable[[dict[str, Any]], bool]]]:
    """(label, which queries) for each row: user categories in mix order, then summaries."""
    categories: list[str] = []
    for r in reports:
        for q in r["queries"]:
            if q["caller"] != "app" and q["category"] not in categories:
                categories.append(q["category"])
    rows: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
        (cat, lambda q, c=cat: q["caller"] != "app" and q["category"] == c)
        for cat in categories
    ]
    rows.append((APP_ROW, lambda q: q["caller"] == "app"))
    rows.append((f"selective (< {SELECTIVE_HITS:,} hits)",
                 lambda q: q["hits"] is not None and q["hits"] < SELECTIVE_HITS))
    rows.append(("all queries", lambda q: True))
    return rows


def cell(report: dict[str, Any], engine: str, which: Callable[[dict[str, Any]], bool],
         reduce: Callable[[list[float]], float] = statistics.median,
         metric: str = "p50_ms") -> tuple[float | None, bool]:
    """(median ``metric`` of the selected queries this engine answered, whether it answered
    all of them)."""
    chosen = [q for q in report["queries"] if which(q)]
    values = [q["engines"].get(engine, {}).get(metric) for q in chosen]
    answered = [v for v in values if v is not None]
    if not answered:
        return None, False
    return reduce(answered), len(answered) == len(chosen)


def markdown(reports: list[dict[str, Any]], metric: str = "p50_ms",
             only: list[str] | None = None) -> str:
    engines = _engines(reports, only)
    sizes = [_size(r["items"]) for r in reports]
    head = [f"{metric.removesuffix('_ms')} ms (median per category)", "queries"]
    head += [f"{e} {s}" for e in engines for s in sizes]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    rows = _rows(reports)
    rows.append(("slowest query", lambda q: True))
    partial = False
    for label, which in rows:
        counts = sorted({sum(1 for q in r["queries"] if which(q)) for r in reports})
        out = [label, "/".join(str(c) for c in counts)]
        reduce: Callable[[list[float]], float] = max if label == "slowest query" else (
            statistics.median)
        for engine in engines:
            for r in reports:
                value, complete = cell(r, engine, which, reduce, metric)
                if value is None:
                    out.append("-")
                    continue
                mark = "" if complete else "†"
                partial |= not complete
                out.append(_ms(value) + mark)
        lines.append("| " + " | ".join(out) + " |")
    lines += ["", _build_table(reports, engines)]
    notes = ["", "Sources: " + ", ".join(
        f"{_size(r['items'])} `{r['_path']}` ({r.get('created', '?')}, commit "
        f"{str((r.get('versions') or {}).get('git_commit'))[:10]})" for r in reports) + "."]
    if partial:
        notes.append("† the engine answered only some of the row's queries (the others are "
                     "n/a: its query language cannot express them); the median is over those "
                     "it answered.")
    return "\n".join(lines + notes) + "\n"


def _build_table(reports: list[dict[str, Any]], engines: list[str]) -> str:
    lines = ["| build | items | items/s | size on disk | peak PSS | peak RSS |",
             "|---|---:|---:|---:|---:|---:|"]
    for engine in engines:
        for r in reports:
            fig = (r.get("build") or {}).get(engine)
            if not fig:
                continue
            size = fig.get("size_bytes")
            size_text = "in memory" if engine == "reference" else (
                f"{size / 1e6:,.1f} MB" if size else "-")
            pss = fig.get("peak_pss_mb")
            lines.append(f"| {engine} | {r['items']:,} | {fig.get('items_per_s') or 0:,.0f} | "
                         f"{size_text} | {f'{pss:,.0f} MB' if pss else '-'} | "
                         f"{fig.get('peak_rss_mb', 0):,.0f} MB |")
    return "\n".join(lines)


def plot_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot(reports: list[dict[str, Any]], path: Path, metric: str = "p50_ms",
         only: list[str] | None = None) -> None:
    """One panel per engine: p50 (log) against items (log), one line per table row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = _engines(reports, only)
    rows = _rows(reports)
    fig, axes = plt.subplots(1, len(engines), figsize=(4.5 * len(engines), 4.5), sharey=True,
                             squeeze=False)
    for ax, engine in zip(axes[0], engines, strict=True):
        ax.set_prop_cycle(color=plt.cm.tab20.colors)  # type: ignore[attr-defined]
        for label, which in rows:
            xs, ys = [], []
            for r in reports:
                value, _ = cell(r, engine, which, metric=metric)
                if value:
                    xs.append(r["items"])
                    ys.append(value)
            if xs:
                style = "--" if label in (APP_ROW,) or label.startswith(("selective", "all")) \
                    else "-"
                ax.plot(xs, ys, style, marker="o", label=label)
        ax.set_title(engine)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("items")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(f"{metric.removesuffix('_ms')}, median per category (ms)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(paths: list[Path], out: Path | None, plot_path: Path | None,
        metric: str = "p50_ms", engines: list[str] | None = None) -> int:
    if plot_path is not None and not plot_available():
        print("--plot needs matplotlib: pip install matplotlib (or cql-search[plot])",
              file=sys.stderr)
        return 2
    try:
        reports = find_reports(paths)
    except (OSError, ValueError, KeyError) as exc:
        print(f"growth: {exc}", file=sys.stderr)
        return 2
    from benchmarks.report import print_for_terminal

    text = markdown(reports, metric, engines)
    print_for_terminal(text)
    if out is not None:
        out.write_text(text, encoding="utf-8")
    if plot_path is not None:
        plot(reports, plot_path, metric, engines)
        print(f"plot: {plot_path}", file=sys.stderr)
    return 0
