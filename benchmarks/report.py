"""Reports: the Markdown table, comparing two reports, and the latency plot.

Markdown is what goes into the README's Performance section and into reviews, so the table
shows the figure people ask for first (p50 of each engine, and each baseline's ratio to
cql-search) and leaves p95/p99/mean to the JSON. Report files stay Markdown; what the
harness prints goes through :func:`for_terminal`, which draws each table with the renderer
every ``cql`` command uses (``index.display``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: A figure cell: right-aligned on the terminal ("1,234", "0.52*", "+12%", "3.1x", "n/a").
_FIGURE = re.compile(r"[-+]?[\d,]*\.?\d+ ?(%|x|ms|MB|s|\*|†)?|-|n/a|skipped|error|"
                     r"[\d,]+ - [\d,]+|[\d/]+")


def for_terminal(markdown: str, width: int | None = None) -> str:
    """Markdown as a terminal shows it: each table drawn by the shared renderer (display
    width measured, fitted to ``width``, its first column giving way first; figures
    right-aligned), code and emphasis marks dropped, headings without their ``#``."""
    from index.display import table_text

    out: list[str] = []
    block: list[list[str]] = []

    def flush() -> None:
        if block:
            head, rows = block[0], [r for r in block[1:] if not _is_rule(r)]
            right = {h for i, h in enumerate(head)
                     if rows and all(_FIGURE.fullmatch(r[i]) for r in rows if r[i])}
            out.append(table_text(head, rows, width=width, right=right,
                                  shrink=(head[0].split(" ")[0],)).rstrip("\n"))
            block.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            block.append([_plain(c.strip()) for c in line.strip().strip("|").split("|")])
            continue
        flush()
        out.append(_plain(re.sub(r"^#+ ", "", line)))
    flush()
    return "\n".join(out) + ("\n" if markdown.endswith("\n") else "")


def _is_rule(cells: Sequence[str]) -> bool:
    return all(re.fullmatch(r":?-+:?", c) for c in cells)


def print_for_terminal(markdown: str) -> None:
    """Print ``markdown`` on standard output through :func:`for_terminal`, fitted to the
    terminal when it is one."""
    from index.display import terminal_width

    sys.stdout.write(for_terminal(markdown.rstrip("\n") + "\n", terminal_width(sys.stdout)))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table of figures on standard output, drawn by the renderer of every ``cql``
    command (``index.display``): names left, figures right, fitted to a terminal."""
    from index.display import table_text, terminal_width

    sys.stdout.write(table_text(headers, rows, width=terminal_width(sys.stdout),
                                shrink=(headers[0],), right=headers[1:]))


def _plain(text: str) -> str:
    return text.replace("**", "").replace("`", "").replace("\\*", "*")

_ORDER = ("cql-search", "whoosh-naive", "sqlite-fts5", "tantivy", "reference")


def _engines(report: dict[str, Any]) -> list[str]:
    seen = {name for q in report["queries"] for name in q["engines"]}
    return [n for n in _ORDER if n in seen] + sorted(seen - set(_ORDER))


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(stats: dict[str, Any]) -> str:
    if "error" in stats:
        error = str(stats["error"])
        if error.startswith("unsupported"):
            return "n/a"
        return "skipped" if error.startswith("skipped") else "error"
    mark = "*" if "count_wrong" in stats else ""
    return _ms(stats.get("p50_ms")) + mark


def markdown_table(report: dict[str, Any]) -> str:
    """The per-query table: hits, cql-search p50/p95, and each baseline's p50 and ratio."""
    engines = _engines(report)
    others = [e for e in engines if e != "cql-search"]
    head = ["query", "hits", "cql-search p50", "p95"]
    for name in others:
        head += [f"{name} p50", "x"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for q in report["queries"]:
        ours = q["engines"].get("cql-search", {})
        flag = "" if q.get("agree") in (True, None) else " **(disagree)**"
        row = [f"`{q['name']}`{flag}", f"{q['hits']:,}" if q["hits"] is not None else "-",
               _cell(ours), _ms(ours.get("p95_ms"))]
        for name in others:
            stats = q["engines"].get(name, {})
            row.append(_cell(stats))
            mine, base = stats.get("p50_ms"), ours.get("p50_ms")
            row.append(f"{mine / base:,.1f}" if mine and base else "-")
        lines.append("| " + " | ".join(row) + " |")
    unsupported = report.get("unsupported", [])
    if unsupported:
        lines += ["", "n/a: the engine's query language cannot express the query ("
                  + "; ".join(sorted({f"{u['engine']}: {u['reason']}" for u in unsupported}))
                  + ")."]
    if any("count_wrong" in s for q in report["queries"] for s in q["engines"].values()):
        lines += ["", "\\* the timed call's total differed from the true number of hits "
                  "(naive Whoosh's `And(X, Not(Y))` defect under a limit; its hits were "
                  "checked with `docs_for_query` and agree)."]
    return "\n".join(lines)


def build_table(report: dict[str, Any]) -> str:
    lines = ["| engine | items/s | build s | size on disk | peak RSS | peak PSS |",
             "|---|---|---|---|---|---|"]
    for name, fig in report.get("build", {}).items():
        size = fig.get("size_bytes")
        size_text = "in memory" if name == "reference" else (
            f"{size / 1e6:,.1f} MB" if size is not None else "-")
        lines.append(f"| {name} | {fig.get('items_per_s') or 0:,.0f} | "
                     f"{fig.get('seconds', 0):,.1f} | {size_text} | "
                     f"{fig.get('peak_rss_mb', 0):,.0f} MB | "
                     f"{_mb(fig.get('peak_pss_mb'))} |")
    return "\n".join(lines)


def _mb(value: float | None) -> str:
    return f"{value:,.0f} MB" if value else "-"


def render(report: dict[str, Any]) -> str:
    machine = report.get("machine", {})
    settings = report.get("settings", {})
    parse = report.get("parse") or {}
    agree = report.get("hits_agree")
    parts = [
        f"# Benchmark: {report['items']:,} items",
        "",
        f"- machine: {machine.get('cpu', '?')}, "
        f"{machine.get('cpus_usable', machine.get('cpu_count'))} cores usable, "
        f"{machine.get('memory_gb', '?')} GB; Python {machine.get('python')}",
        f"- created {report.get('created')}; commit {report.get('versions', {}).get('git_commit')}",
        f"- timed: p50 of {settings.get('min_reps')}-{settings.get('max_reps')} calibrated runs "
        f"(~{settings.get('target_seconds')} s per query and engine) after "
        f"{settings.get('warmup')} warm-up runs; first page of {settings.get('limit')} + total",
        f"- hits_agree: **{agree}**"
        + (f" ({len(report.get('disagreements', []))} disagreements, "
           f"{len(report.get('errors', []))} errors)" if agree is False else ""),
        (f"- parse: {parse['queries_per_s']:,.0f} queries/s ({parse.get('via', '')})"
         if parse.get("queries_per_s") else "- parse: skipped"),
        "",
        "## Build",
        "",
        build_table(report),
        "",
        "## Queries (milliseconds; x = baseline p50 / cql-search p50)",
        "",
        markdown_table(report),
    ]
    summary = report.get("summary", {})
    if summary:
        parts += ["", "Geometric mean of p50 ratios to cql-search: " + ", ".join(
            f"{name} {s['p50_ratio_geomean']:,.2f}x ({s['queries']} queries)"
            for name, s in summary.items() if name != "cql-search")]
    problems = report.get("disagreements", []) + report.get("errors", [])
    if problems:
        parts += ["", "## Disagreements", ""]
        for p in report.get("errors", []):
            parts.append(f"- `{p['query']}`: {p['engine']} failed: {p['error']}")
        parts += [f"- {describe(p)}" for p in report.get("disagreements", [])]
    return "\n".join(parts) + "\n"


def describe(problem: dict[str, Any]) -> str:
    """One readable line for a disagreement."""
    details = {k: v for k, v in problem.items() if k not in ("query", "kind", "engines")}
    pairs = "; ".join(f"{k}={v}" for k, v in details.items())
    engines = " vs ".join(problem["engines"])
    return f"{problem['query']}: {problem['kind']} differs [{engines}] {pairs}"


def write_markdown(report: dict[str, Any], path: Path) -> None:
    path.write_text(render(report), encoding="utf-8")


# --- compare ---------------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any]:
    if path.is_dir():
        path = path / "report.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def compare_reports(old_path: Path, new_path: Path, *, engine: str = "cql-search",
                    threshold: float = 0.10, metric: str = "p50_ms",
                    min_ms: float = 0.05) -> tuple[str, list[str]]:
    """Two reports side by side; a regression is ``new > old * (1 + threshold)`` (and by at
    least ``min_ms``, so timer noise on sub-millisecond queries is not flagged), a build
    or parse throughput below ``old * (1 - threshold)``, or agreement lost."""
    old, new = _load(old_path), _load(new_path)
    regressions: list[str] = []
    lines = [f"# {engine} {metric}: {old_path} ({old['items']:,} items) -> "
             f"{new_path} ({new['items']:,} items)", "",
             "| query | old | new | change | |", "|---|---|---|---|---|"]
    if old["items"] != new["items"]:
        lines.insert(1, "\n(warning: different corpus sizes)")
    before = {q["name"]: q for q in old["queries"]}
    for q in new["queries"]:
        was = before.get(q["name"])
        a = (was or {}).get("engines", {}).get(engine, {}).get(metric)
        b = q["engines"].get(engine, {}).get(metric)
        if a is None or b is None:
            lines.append(f"| `{q['name']}` | {_ms(a)} | {_ms(b)} | - | new/missing |")
            continue
        change = (b - a) / a if a else 0.0
        flag = ""
        if b > a * (1 + threshold) and b - a >= min_ms:
            flag = "REGRESSION"
            regressions.append(f"{q['name']}: {a:.3f} -> {b:.3f} ms ({change:+.0%})")
        elif b < a * (1 - threshold) and a - b >= min_ms:
            flag = "faster"
        lines.append(f"| `{q['name']}` | {_ms(a)} | {_ms(b)} | {change:+.0%} | {flag} |")
    ob, nb = old.get("build", {}).get(engine, {}), new.get("build", {}).get(engine, {})
    if ob.get("items_per_s") and nb.get("items_per_s"):
        a, b = ob["items_per_s"], nb["items_per_s"]
        flag = "REGRESSION" if b < a * (1 - threshold) else ""
        if flag:
            regressions.append(f"build: {a:,.0f} -> {b:,.0f} items/s")
        lines.append(f"| build items/s | {a:,.0f} | {b:,.0f} | {(b - a) / a:+.0%} | {flag} |")
    op, np_ = (old.get("parse") or {}).get("queries_per_s"), (new.get("parse") or {}).get(
        "queries_per_s")
    if op and np_:
        flag = "REGRESSION" if np_ < op * (1 - threshold) else ""
        if flag:
            regressions.append(f"parse: {op:,.0f} -> {np_:,.0f} queries/s")
        change = (np_ - op) / op
        lines.append(f"| parse queries/s | {op:,.0f} | {np_:,.0f} | {change:+.0%} | {flag} |")
    if new.get("hits_agree") is False:
        regressions.append("hits_agree is false in the new report")
    lines += ["", f"{len(regressions)} regression(s) beyond {threshold:.0%}"]
    lines += [f"- {r}" for r in regressions]
    return "\n".join(lines), regressions


# --- plot ------------------------------------------------------------------------------


def plot(reports: list[dict[str, Any]], path: Path) -> bool:
    """Latency (p50, log scale) against corpus size, one panel per engine, one line per
    query category (median over the category's queries). Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install matplotlib (or cql-search[plot])",
              file=sys.stderr)
        return False
    import statistics

    reports = sorted(reports, key=lambda r: r["items"])
    engines = [e for e in _ORDER if any(e in q["engines"] for r in reports for q in r["queries"])]
    categories = sorted({q["category"] + ("@app" if q["caller"] == "app" else "")
                         for r in reports for q in r["queries"]})
    fig, axes = plt.subplots(1, len(engines), figsize=(5 * len(engines), 4.5), sharey=True,
                             squeeze=False)
    for ax, engine in zip(axes[0], engines, strict=True):
        ax.set_prop_cycle(color=plt.cm.tab20.colors)  # type: ignore[attr-defined]
        for cat in categories:
            xs, ys = [], []
            for r in reports:
                values = [q["engines"].get(engine, {}).get("p50_ms") for q in r["queries"]
                          if q["category"] + ("@app" if q["caller"] == "app" else "") == cat]
                values = [v for v in values if v]
                if values:
                    xs.append(r["items"])
                    ys.append(statistics.median(values))
            if xs:
                ax.plot(xs, ys, marker="o", label=cat)
        ax.set_title(engine)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("items")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("p50 latency (ms)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot: {path}", file=sys.stderr)
    return True
