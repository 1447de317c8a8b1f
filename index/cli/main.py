"""The ``cql`` command: one entry point, subcommands imported only when used.

``cql parse`` must start fast (it lints thousands of saved queries), so nothing here
imports Whoosh or the engine at module level.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _parse_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parse", help="validate CQL and print its canonical form",
                       description="Parse, validate and normalize CQL queries given as "
                       "arguments, or one per line on standard input.")
    p.add_argument("queries", nargs="*", help="queries (default: read lines from stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.add_argument("--lenient", action="store_true", help="use the lenient dialect")
    p.set_defaults(run=_run_parse)


def _run_parse(args: argparse.Namespace) -> int:
    from index.cli import parse

    return parse.run(args)


def _engine_commands(sub: argparse._SubParsersAction) -> None:
    from index.cli import search as cli_search

    cli_search.add_commands(sub)


def _policy_commands(sub: argparse._SubParsersAction) -> None:
    from index.cli import policy as cli_policy

    cli_policy.add_commands(sub)


def _bench_commands(sub: argparse._SubParsersAction) -> None:
    from index.cli import bench as cli_bench

    cli_bench.add_commands(sub)


def _serve_commands(sub: argparse._SubParsersAction) -> None:
    from index.serve import cli as serve_cli

    serve_cli.add_commands(sub)


def _import_command(sub: argparse._SubParsersAction) -> None:
    from index.importer import cli as cli_import

    cli_import.add_commands(sub)


def _repl_command(sub: argparse._SubParsersAction) -> None:
    from index.repl import shell as repl

    repl.add_command(sub)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _parse_command,
    _engine_commands,
    _policy_commands,
    _bench_commands,
    _repl_command,
    _serve_commands,
    _import_command,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cql", description="Confluence Query Language: parse, index and search.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from index.cli.textio import safe_output

    safe_output()  # no UnicodeEncodeError whatever the locale
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
