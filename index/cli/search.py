"""``cql index`` and ``cql search``: build an index, query it from the shell."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cql
from index.errors import EngineError

FIXTURE_SITE = Path(__file__).resolve().parents[2] / "fixtures" / "site"
# Part of the cache key: an index pickles the module paths of its analyzer, so a cached
# fixture index built by a release with another package layout must not be reused.
FIXTURE_INDEX_FORMAT = "layout-2"


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
    try:
        engine = Engine.build(args.site_dir, args.out, progress=progress)
    except (OSError, EngineError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
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


def fixture_index() -> Path:
    """The index of the bundled fixture site, built on first use and when it changes."""
    digest = hashlib.sha256(FIXTURE_INDEX_FORMAT.encode())
    for path in sorted(FIXTURE_SITE.iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cql-search"
    target = cache / f"fixtures-{digest.hexdigest()[:16]}"
    if not (target / "catalog.json").is_file():
        from index.engine import Engine

        print(f"building the fixture index in {target} (first use) ...", file=sys.stderr)
        Engine.build(FIXTURE_SITE, target)
    return target


def make_caller(args: argparse.Namespace, engine: Any) -> Any:
    from index.security.callers import AnonymousCaller, AppCaller, UserCaller, parse_scopes

    if getattr(args, "anonymous", False):
        return AnonymousCaller()
    if getattr(args, "as_app", None):
        app = engine.policy_layer().store.app(args.as_app)
        kind = app.kind if app is not None else "forge"
        scopes = parse_scopes(args.scopes) if args.scopes is not None else frozenset(
            {"search:confluence"})
        return AppCaller(app_id=args.as_app, kind=kind, scopes=scopes,
                         acting_for=args.as_user)
    if args.as_user:
        return UserCaller(account_id=args.as_user)
    return None


def make_context(args: argparse.Namespace) -> Any:
    from index.core.context import SearchContext

    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    statuses = tuple(args.status.split(",")) if getattr(args, "status", None) else ("current",)
    return SearchContext(now=now, tz=args.tz, space_key=args.space,
                         content_statuses=statuses,
                         include_archived_spaces=getattr(args, "archived", False))


def run_search(args: argparse.Namespace) -> int:
    from index.cli.textio import check_argument
    from index.engine import Engine

    bad = check_argument(args.query, "<query>")
    if bad is not None:
        print(f"error: {bad}", file=sys.stderr)
        return 1
    try:
        engine = Engine.open(args.index or fixture_index())
        page = engine.search(
            args.query, caller=make_caller(args, engine), context=make_context(args),
            limit=args.limit, start=args.start, cursor=args.cursor,
            dialect="lenient" if args.lenient else "strict",
            strict_scopes=args.strict_scopes,
            excerpt="highlight" if args.json else "none")
    except cql.CqlError as err:
        print(str(err), file=sys.stderr)
        return 1
    except (EngineError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(page.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return 0
    print(format_table(page))
    return 0


def format_table(page: Any) -> str:
    rows = [("id", "type", "space", "title", "last modified")]
    for r in page.results:
        rows.append((r.id, r.type, r.space, _clip(r.title, 60), (r.lastModified or "")[:16]))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    shown = f"{page.start + 1}-{page.start + page.size}" if page.size else "0"
    lines.append(f"\n{shown} of {page.totalSize} results ({page.searchDuration} ms)  "
                 f"cql: {page.cqlQuery}")
    if page.next:
        lines.append(f"next page: --cursor {page.next}")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="build an index from a site directory",
                       description="Load SITE_DIR (JSON Lines, see docs/site-format.md) and "
                       "index it into --out; rejected lines are reported and skipped.")
    p.add_argument("site_dir")
    p.add_argument("--out", required=True, help="index directory (replaced when complete)")
    p.set_defaults(run=run_index)

    s = sub.add_parser("search", help="run a CQL query",
                       description="Run a CQL query against an index (default: the "
                       "bundled fixture site).")
    s.add_argument("query")
    s.add_argument("--index", help="index directory (default: the bundled fixtures)")
    s.add_argument("--as-user", metavar="ACCOUNT", help="search as this user")
    s.add_argument("--as-app", metavar="APP_ID", help="search as this app (with --as-user: "
                   "acting for that user)")
    s.add_argument("--scopes", help="comma-separated OAuth scopes of the app's token "
                   "(default: search:confluence)")
    s.add_argument("--strict-scopes", action="store_true",
                   help="hide content types the app holds no read scope for")
    s.add_argument("--anonymous", action="store_true", help="search as an anonymous caller")
    s.add_argument("--limit", type=int, default=25)
    s.add_argument("--start", type=int, default=0)
    s.add_argument("--cursor", help="the cursor printed by a previous page")
    s.add_argument("--now", help="the clock, ISO-8601 (default: now)")
    s.add_argument("--tz", default="UTC", help="time zone for dates (default UTC)")
    s.add_argument("--space", help="the context space, for currentSpace()")
    s.add_argument("--status", help="content statuses to search, comma-separated "
                   "(default: current)")
    s.add_argument("--archived", action="store_true", help="include archived spaces")
    s.add_argument("--lenient", action="store_true", help="use the lenient dialect")
    s.add_argument("--json", action="store_true", help="print the result page as JSON")
    s.set_defaults(run=run_search)
