"""``python -m benchmarks`` (and ``cql bench``): corpus, build, run, parse, compare, import, all.

Heavy modules (Whoosh, the engine, sqlite) are imported by the subcommand that needs them,
so ``corpus`` and ``compare`` start fast and ``--help`` works without an index.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_ENGINES = ("cql-search", "whoosh-naive", "sqlite-fts5", "tantivy", "reference")


def _existing(kind: str) -> Any:
    """An argparse type for a path that must exist (a bad path is a usage error, found before
    any work starts, never a traceback from a child process)."""

    def check(text: str) -> Path:
        path = Path(text)
        ok = path.is_dir() if kind == "directory" else path.exists()
        if not ok:
            raise argparse.ArgumentTypeError(f"no such {kind}: {text}")
        return path

    return check


def _engines(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DEFAULT_ENGINES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown engine {unknown[0]!r}; choose from {', '.join(DEFAULT_ENGINES)}"
        )
    return names


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queries", type=Path, action="append", default=None, metavar="FILE",
                   help="query mix file(s) (default: every benchmarks/queries/*.cql "
                   "except parse_mix.cql)")
    p.add_argument("--engines", type=_engines, default=list(DEFAULT_ENGINES),
                   help="comma-separated engines to run (default: all)")
    p.add_argument("--only", default=None, metavar="SUBSTR",
                   help="run only the queries whose name contains SUBSTR")
    p.add_argument("--target-seconds", type=float, default=0.5,
                   help="time budget per query and engine for the timed repetitions "
                   "(calibrated; default 0.5)")
    p.add_argument("--min-reps", type=int, default=5, help="at least this many timed runs")
    p.add_argument("--max-reps", type=int, default=200, help="at most this many timed runs")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    p.add_argument("--limit", type=int, default=25, help="page size of the timed searches")
    p.add_argument("--reference-max-items", type=int, default=10_000,
                   help="skip the reference evaluator above this corpus size")
    p.add_argument("--no-verify", action="store_true",
                   help="time only; do not compare the engines' hits (hits_agree is null)")


DESCRIPTION = "Benchmark harness: synthetic corpora, query mixes, baselines, reports."


def build_parser(prog: str = "python -m benchmarks") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_subcommands(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    """The subcommands, shared by ``python -m benchmarks`` and ``cql bench``."""
    from benchmarks import startup

    startup.add_command(sub)
    p = sub.add_parser("corpus", help="write a deterministic synthetic site")
    p.add_argument("--items", type=int, required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, required=True, help="site directory to write")
    p.set_defaults(run=_cmd_corpus)

    p = sub.add_parser("build", help="index a site with every engine; report build figures")
    p.add_argument("--site", type=_existing("directory"), required=True)
    p.add_argument("--out", type=Path, required=True,
                   help="work directory: indexes go to OUT/indexes, figures to OUT/build.json")
    p.add_argument("--engines", type=_engines, default=list(DEFAULT_ENGINES))
    p.set_defaults(run=_cmd_build)

    p = sub.add_parser("run", help="run the query mix on built indexes; write the report")
    p.add_argument("--out", type=Path, required=True,
                   help="work directory of a previous build (site in OUT/site unless --site)")
    p.add_argument("--site", type=Path, default=None)
    _add_run_options(p)
    p.add_argument("--plot", action="store_true", help="also draw OUT/latency.png")
    p.add_argument("--skip-parse", action="store_true", help="skip the parser throughput stage")
    p.set_defaults(bench_parser=p)
    p.set_defaults(run=_cmd_run)

    p = sub.add_parser("parse", help="parser throughput (queries/s)")
    p.add_argument("--queries", type=Path, action="append", default=None, metavar="FILE")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_parse)

    from benchmarks.serve_bench import add_command as add_serve

    add_serve(sub)

    from benchmarks.permissions_bench import add_command as add_permissions

    add_permissions(sub)

    p = sub.add_parser("compare", help="two reports side by side, flagging regressions")
    p.add_argument("old", type=_existing("file"), help="report.json (or its directory)")
    p.add_argument("new", type=_existing("file"), help="report.json (or its directory)")
    p.add_argument("--engine", default="cql-search")
    p.add_argument("--threshold", type=float, default=0.10,
                   help="flag a slowdown above this fraction (default 0.10 = 10%%)")
    p.add_argument("--metric", default="p50_ms", choices=("p50_ms", "p95_ms", "p99_ms", "mean_ms"))
    p.add_argument("--min-ms", type=float, default=0.05,
                   help="ignore differences smaller than this many ms (timer noise)")
    p.set_defaults(run=_cmd_compare)

    p = sub.add_parser("growth", help="p50 per query category across runs of several sizes")
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN",
                   help="run directories, report.json files, or a multi-size 'all' directory")
    p.add_argument("--out", type=Path, default=None, metavar="MD", help="also write the table")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG",
                   help="also draw the growth plot (needs matplotlib; checked first)")
    p.add_argument("--metric", default="p50_ms", choices=("p50_ms", "cpu_p50_ms", "p95_ms"),
                   help="cpu_p50_ms: process CPU time, robust to a loaded machine")
    p.add_argument("--engines", type=_engines, default=None,
                   help="comma-separated engines to show (default: every engine found)")
    p.set_defaults(run=_cmd_growth)

    p = sub.add_parser("import", help="cql import throughput from a local server (items/s)")
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--concurrency", type=int, default=16,
                   help="cql import --concurrency (default 16)")
    p.add_argument("--out", type=Path, default=Path("bench-import"),
                   help="work directory: corpus, imported site, import.json")
    p.add_argument("--keep", action="store_true", help="reuse the corpus in OUT if it matches")
    p.set_defaults(run=_cmd_import)

    p = sub.add_parser("all", help="corpus + build + run + parse; writes report.json/.md")
    p.add_argument("--items", type=int, action="append", required=True,
                   help="corpus size (repeat for several sizes, e.g. for --plot)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--plot", action="store_true",
                   help="draw latency against corpus size (needs matplotlib)")
    p.add_argument("--parse-repeat", type=int, default=20)
    p.add_argument("--skip-parse", action="store_true", help="skip the parser throughput stage")
    p.set_defaults(bench_parser=p)
    p.add_argument("--keep", action="store_true",
                   help="reuse an existing corpus in OUT if its manifest matches")
    _add_run_options(p)
    p.set_defaults(run=_cmd_all)


# --- commands ---------------------------------------------------------------------------


def _cmd_corpus(args: argparse.Namespace) -> int:
    from benchmarks.corpus import write_corpus

    began = time.perf_counter()
    manifest = write_corpus(args.out, args.items, seed=args.seed, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - began
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"wrote {manifest['items']:,} items, {manifest['spaces']} spaces, "
          f"{manifest['users']:,} users to {args.out} ({size / 1e6:.1f} MB) in {seconds:.1f} s")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from benchmarks.harness import build_all

    figures = build_all(args.site, args.out / "indexes", args.engines)
    (args.out / "build.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    from benchmarks.report import print_table

    print_table(("engine", "items/s", "size on disk", "peak RSS", "seconds"),
                [(name, f"{fig['items_per_s']:,.0f}", f"{fig['size_bytes'] / 1e6:,.1f} MB",
                  f"{fig['peak_rss_mb']:,.1f} MB", f"{fig['seconds']:.1f}")
                 for name, fig in figures.items()])
    return 0



def _check_plot(args: argparse.Namespace) -> None:
    """``--plot`` needs matplotlib: say so before a run of many minutes, not after it."""
    from benchmarks.growth import plot_available

    if getattr(args, "plot", False) and not plot_available():
        # The subcommand's own parser reports it: argparse's usage error under
        # ``python -m benchmarks``, cql's one-line convention under ``cql bench``.
        args.bench_parser.error("--plot needs matplotlib: pip install 'cql-search[plot]'")


def _cmd_run(args: argparse.Namespace) -> int:
    from benchmarks.harness import run_command

    _check_plot(args)
    return run_command(args)


def _cmd_parse(args: argparse.Namespace) -> int:
    from benchmarks.harness import parse_throughput

    result = parse_throughput(args.queries, args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['queries_per_s']:,.0f} queries/s ({result['queries']} queries x "
              f"{result['repeat']} via {result['via']})")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from benchmarks.report import compare_reports, print_for_terminal

    text, regressions = compare_reports(
        args.old, args.new, engine=args.engine, threshold=args.threshold, metric=args.metric,
        min_ms=args.min_ms)
    print_for_terminal(text)
    return 1 if regressions else 0


def _cmd_growth(args: argparse.Namespace) -> int:
    from benchmarks.growth import run

    return run(args.runs, args.out, args.plot, args.metric, args.engines)

def _cmd_import(args: argparse.Namespace) -> int:
    from benchmarks.import_bench import run_import_bench

    figures = run_import_bench(args.out, args.items, seed=args.seed,
                               concurrency=args.concurrency, keep=args.keep)
    from benchmarks.report import print_table

    print_table(("import", "items/s", "items", "seconds", "requests", "reported"),
                [(run, f"{fig['items_per_s']:,.0f}", f"{fig['imported']:,}",
                  f"{fig['seconds']:.1f}", f"{fig['requests']:,}", str(fig["reported"]))
                 for run, fig in ((r, figures[r]) for r in ("first", "incremental"))])
    return 0


def _cmd_all(args: argparse.Namespace) -> int:
    from benchmarks.harness import all_command

    _check_plot(args)
    return all_command(args)


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmarks") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except OSError as err:  # a bad path: one line, as ``cql bench`` prints it
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # no tracebacks (cql bench maps errors through index.cli)
        print(f"{prog}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
