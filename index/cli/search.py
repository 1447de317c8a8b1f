"""``cql index`` and ``cql search``: build an index, query it from the shell."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from index.cli.fixture import FIXTURE_INDEX_FORMAT, fixture_index, fixture_site
from index.cli.options import (
    add_caller_options,
    add_context_options,
    add_index_option,
    bounded,
    open_engine,
)
from index.display import local_time, paint, table_text, terminal_width

#: ``index.engine.MAX_LIMIT``, repeated so that building the argument parser (which ``cql
#: parse`` does too) does not import the engine; tests/test_cli_conventions.py keeps them equal.
MAX_LIMIT = 1000

__all__ = ["FIXTURE_INDEX_FORMAT", "add_commands", "fixture_index", "fixture_site",
           "format_table", "run_index", "run_search"]


def _progress_bar(total_hint: str) -> Any:
    from tqdm import tqdm

    bar = tqdm(total=0, unit="item", desc=total_hint, file=sys.stderr, leave=False,
               disable=not sys.stderr.isatty())

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    update.close = bar.close  # type: ignore[attr-defined]
    return update


def run_index(args: argparse.Namespace) -> int:
    from index.engine import Engine

    progress = _progress_bar("indexing")
    # A terminated build unwinds like an interrupted one, removing its temporary sibling.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:  # errors leave through main's one convention (cql index: error: ...)
        engine = Engine.build(args.site_dir, args.out, progress=progress,
                              force=args.force)
    finally:
        progress.close()
    report = engine.last_build
    assert report is not None
    for line in report.rejects:
        print(f"rejected: {line}", file=sys.stderr)
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    rate = report.items / report.seconds if report.seconds else 0.0
    print(f"indexed {report.items} items and {report.spaces} spaces into {args.out} "
          f"in {report.seconds:.1f} s ({rate:,.0f} items/s); {report.rejected} lines rejected")
    return 1 if report.rejected else 0


def run_search(args: argparse.Namespace) -> int:
    from index.cli.conventions import CliError
    from index.cli.options import caller_from_args, check_caller_args, context_from_args
    from index.cli.textio import check_argument

    bad = check_argument(args.query, "<query>")
    if bad is not None:
        raise CliError(str(bad), code="bad_encoding", status=1)
    check_caller_args(args)
    context = context_from_args(args)
    engine = open_engine(args)
    page = engine.search(
        args.query, caller=caller_from_args(args, engine), context=context,
        limit=args.limit, start=args.start, cursor=args.cursor,
        dialect="lenient" if args.lenient else "strict",
        strict_scopes=args.strict_scopes,
        excerpt="highlight" if args.json else "none")
    if args.json:
        print(json.dumps(page.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return 0
    sys.stdout.write(format_table(page, tz=context.tz, color=args.color_out,
                                  width=terminal_width(sys.stdout)))
    return 0


def format_table(page: Any, *, tz: str = "UTC", color: bool = False,
                 width: int | None = None) -> str:
    """A result page as the table people read, times shown in ``tz``."""
    headers = ("id", "type", "space", "title", f"last modified ({tz})")
    rows = [(r.id, r.type, r.space, r.title, local_time(r.lastModified, tz))
            for r in page.results]
    out = table_text(headers, rows, color=color, width=width) if rows else ""
    shown = f"{page.start + 1}-{page.start + page.size}" if page.size else "0"
    out += (f"\n{shown} of {page.totalSize} results ({page.searchDuration} ms)  "
            f"cql: {page.cqlQuery}\n")
    if page.next:
        out += paint(f"next page: --cursor {page.next}", "dim", color) + "\n"
    return out


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("index", help="build an index from a site directory",
                       description="Load SITE_DIR (JSON Lines, see docs/site-format.md) and "
                       "index it into --out; rejected lines are reported and skipped.")
    p.add_argument("site_dir")
    p.add_argument("--out", required=True, help="index directory (replaced when complete)")
    p.add_argument("--force", action="store_true",
                   help="replace --out even if it is not a cql-search index, is the site "
                   "directory (or inside or around it) or is the current directory")
    p.set_defaults(run=run_index)

    s = sub.add_parser("search", help="run a CQL query",
                       description="Run a CQL query against an index (default: the "
                       "bundled sample site) and print one page of results. Quote the "
                       "query: cql search 'type = page AND space = DEV'.")
    s.add_argument("query", help="the CQL query, as one (quoted) argument")
    add_index_option(s)
    add_caller_options(s)
    add_context_options(s)
    page = s.add_argument_group("paging and output")
    page.add_argument("--limit", type=bounded(1, MAX_LIMIT), default=25, metavar="N",
                      help=f"results per page (1-{MAX_LIMIT}, default 25)")
    page.add_argument("--start", type=bounded(0, 10**9), default=0, metavar="N",
                      help="index of the first result (default 0)")
    page.add_argument("--cursor", help="the cursor printed by a previous page")
    page.add_argument("--lenient", action="store_true", help="use the lenient dialect")
    page.add_argument("--json", action="store_true",
                      help="print the result page (or the error) as JSON on stdout")
    s.set_defaults(run=run_search)
