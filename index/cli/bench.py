"""``cql bench``: the benchmark harness (``python -m benchmarks``) as a ``cql`` subcommand.

The subcommands are defined once, in ``benchmarks.cli``, so the two entry points cannot
drift apart; this module only mounts them under ``bench``. Nothing heavy is imported until
a subcommand runs, so ``cql parse`` stays fast.
"""

from __future__ import annotations

import argparse
import sys


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from benchmarks import cli

    p = sub.add_parser("bench", help="benchmarks: corpus, build, run, parse, compare, all",
                       description=cli.DESCRIPTION)
    cli.add_subcommands(p.add_subparsers(dest="bench_command", metavar="SUBCOMMAND"))
    p.set_defaults(run=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
