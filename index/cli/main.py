"""The ``cql`` command: one entry point, subcommands imported only when used.

``cql parse`` must start fast (it lints thousands of saved queries), so nothing here
imports Whoosh, pydantic or the engine at module level.

Every command follows one convention (``index.cli.conventions``): errors on stderr as
``cql <command>: error: <one line>``, exit 1 for a query or data error, 2 for usage or
environment errors, 130 after Ctrl-C, never a traceback (``CQL_DEBUG=1`` shows one for a
bug), and with ``--json`` the error as ``{"error": {...}}`` on stdout too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from index.cli.conventions import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    CqlArgumentParser,
    color_wanted,
    emit_error,
    leaf_parser,
    one_line,
    subcommands,
    unknown_arguments,
)

Handler = Callable[[argparse.Namespace], int]


def _parse_command(sub: Any) -> None:
    p = sub.add_parser(
        "parse", help="validate CQL and print its canonical form (a linter for saved queries)",
        description="Parse, validate and normalize CQL. Each argument is a file of queries "
        "(one per line; '-' is standard input) when such a file exists, else a query; with "
        "no argument, queries are read from standard input. A valid query prints its "
        "canonical form (not for files); a problem prints FILE:LINE:COLUMN: code: message. "
        "Exit status: 0 all valid, 1 any invalid, 2 usage error.")
    p.add_argument("inputs", nargs="*", metavar="FILE_OR_QUERY",
                   help="files of queries, or queries (default: read lines from stdin)")
    p.add_argument("-e", "--query", action="append", default=[], metavar="QUERY",
                   help="a query, even if a file of that name exists (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.add_argument("--format", choices=("text", "json", "github"), default=None,
                   help="report format: text (default), json (= --json), github (GitHub "
                   "Actions annotations)")
    p.add_argument("--lenient", action="store_true", help="use the lenient dialect")
    p.set_defaults(run=_run_parse)


def _run_parse(args: argparse.Namespace) -> int:
    from index.cli import parse

    return parse.run(args)


def _engine_commands(sub: Any) -> None:
    from index.cli import search as cli_search

    cli_search.add_commands(sub)


def _policy_commands(sub: Any) -> None:
    from index.cli import policy as cli_policy

    cli_policy.add_commands(sub)


def _bench_commands(sub: Any) -> None:
    from index.cli import bench as cli_bench

    cli_bench.add_commands(sub)


def _serve_commands(sub: Any) -> None:
    from index.serve import cli as serve_cli

    serve_cli.add_commands(sub)


def _import_command(sub: Any) -> None:
    from index.importer import cli as cli_import

    cli_import.add_commands(sub)


def _repl_command(sub: Any) -> None:
    from index.repl import shell as repl

    repl.add_command(sub)


COMMANDS: list[Callable[[Any], None]] = [
    _parse_command,
    _engine_commands,
    _policy_commands,
    _bench_commands,
    _repl_command,
    _serve_commands,
    _import_command,
]

#: Which of :data:`COMMANDS` declares each subcommand, so that a line naming one builds
#: only that part of the parser (tests/test_cli_conventions.py keeps this complete).
ADDED_BY: dict[str, Callable[[Any], None]] = {
    "parse": _parse_command, "index": _engine_commands, "search": _engine_commands,
    "policy": _policy_commands, "bench": _bench_commands, "repl": _repl_command,
    "serve": _serve_commands, "token": _serve_commands, "credentials": _serve_commands,
    "import": _import_command,
}


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("cql-search")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _Version(argparse.Action):
    """``--version``, reading the installed metadata only when asked (importlib.metadata
    costs more start-up time than the rest of ``cql --help``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        sys.stdout.write(f"cql-search {version()}\n")
        parser.exit()


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``cql`` argument parser. Given the command line, and when it names a
    subcommand, only that subcommand is declared: declaring ``serve``, ``bench`` or
    ``repl`` imports their modules (socket, subprocess, statistics ...), time a one-shot
    ``cql search`` or ``cql parse`` should not pay. Any other line (``--help``, a typo
    to suggest a correction for) gets the whole parser."""
    parser = CqlArgumentParser(
        prog="cql", description="Confluence Query Language: parse, index and search.",
        epilog="Exit status: 0 success, 1 a query or data error, 2 a usage or environment "
        "error, 130 interrupted. NO_COLOR or --color never turns colour off.")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show the version and exit")
    parser.add_argument("--color", choices=("auto", "never", "always"), default="auto",
                        help="colour on a terminal (default auto; honours NO_COLOR)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=CqlArgumentParser)
    named = _command_word(argv) if argv is not None else None
    for add in [ADDED_BY[named]] if named in ADDED_BY else COMMANDS:
        add(sub)
    _every_leaf(parser, _add_color)
    return parser


def _command_word(argv: Sequence[str]) -> str | None:
    """The subcommand a command line names: its first word that is neither an option nor
    the value of ``--color``; None when help is asked for first."""
    words = iter(argv)
    for word in words:
        if word == "--color":
            next(words, None)
        elif word in ("-h", "--help", "--version", "--"):
            return None
        elif not word.startswith("-"):
            return word
    return None


def _add_color(parser: argparse.ArgumentParser) -> None:
    if "--color" not in parser._option_string_actions:
        parser.add_argument("--color", choices=("auto", "never", "always"),
                            default=argparse.SUPPRESS,
                            help="colour on a terminal (default auto; honours NO_COLOR)")


def _every_leaf(parser: argparse.ArgumentParser,
                visit: Callable[[argparse.ArgumentParser], None]) -> None:
    for child in subcommands(parser).values():
        visit(child)
        _every_leaf(child, visit)


def _by_prog(parser: argparse.ArgumentParser, prog: str) -> argparse.ArgumentParser | None:
    """The parser (or subparser) called ``prog``: the one that refused the line."""
    if parser.prog == prog:
        return parser
    for child in subcommands(parser).values():
        found = _by_prog(child, prog)
        if found is not None:
            return found
    return None


def _wants_json(argv: Sequence[str]) -> bool:
    words = list(argv)
    if "--" in words:
        words = words[: words.index("--")]
    return "--json" in words or "--format=json" in words or (
        "--format" in words and words[words.index("--format") + 1:][:1] == ["json"])


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cql``; returns the exit status. Ctrl-C at any moment exits 130 quietly."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED


def _main(argv: list[str]) -> int:
    from index.cli.textio import safe_output

    safe_output()  # no UnicodeEncodeError whatever the locale
    parser = build_parser(argv)
    leaf = leaf_parser(parser, argv)
    as_json = _wants_json(argv)
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:
            raise unknown_arguments(leaf, extras)
    except CliError as err:
        raised_by = _by_prog(parser, err.prog) or leaf
        err.detail = short_usage(raised_by)
        return emit_error(raised_by.prog, err, as_json=as_json,
                          color=color_wanted("auto", sys.stderr))
    color = color_wanted(getattr(args, "color", "auto"), sys.stdout)
    args.color_out = color
    args.color_err = color_wanted(getattr(args, "color", "auto"), sys.stderr)
    if not getattr(args, "run", None):
        leaf.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.run(args))
    except BrokenPipeError:
        # The reader went away (``cql search ... | head``): not an error; keep Python from
        # complaining while it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        raise
    except Exception as err:  # every failure leaves as one line, never a traceback
        return emit_error(leaf.prog, as_cli_error(err), as_json=as_json, color=args.color_err)


def short_usage(parser: argparse.ArgumentParser) -> str:
    """``usage: cql search [OPTIONS] query`` and where the full help is (argparse's own usage
    lists every option, a screenful for ``cql search``)."""
    words = [a.metavar or a.dest for a in parser._actions
             if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]
    if subcommands(parser):
        words.append("COMMAND ...")
    return (f"usage: {parser.prog} [OPTIONS] {' '.join(str(w) for w in words)}".rstrip()
            + f"\nrun '{parser.prog} --help' for the options")


def as_cli_error(err: BaseException) -> CliError:
    """Any exception a command let through, as the one-line error users see."""
    import cql

    if isinstance(err, CliError):
        return err
    if isinstance(err, cql.CqlError):
        caret = err.caret()
        return CliError(f"line {err.line}, column {err.column}: {err.message} "
                        f"[{err.code.value}]", code=err.code.value, status=EXIT_FAILED,
                        extra={k: v for k, v in err.to_dict().items() if k != "code"},
                        detail=caret)
    from index.errors import EngineError

    if isinstance(err, EngineError):
        from index.cli.conventions import USAGE_CODES

        status = EXIT_USAGE if err.code in USAGE_CODES else EXIT_FAILED
        return CliError(one_line(err.message), code=err.code, status=status)
    if isinstance(err, OSError):
        where = f" {err.filename}" if err.filename else ""
        return CliError(f"{err.strerror or err}{':' if where else ''}{where}",
                        code="environment", status=EXIT_USAGE)
    if type(err).__name__ == "ValidationError":  # pydantic, without importing it here
        problems: list[dict[str, Any]] = getattr(err, "errors", list)()
        text = "; ".join(str(p.get("msg", "")).removeprefix("Value error, ")
                         for p in problems) or str(err)
        return CliError(one_line(text), code="invalid", status=EXIT_FAILED)
    if os.environ.get("CQL_DEBUG"):
        raise err
    return CliError(f"internal error: {type(err).__name__}: {one_line(str(err))} (this is a "
                    "bug; run with CQL_DEBUG=1 for the traceback)", code="internal",
                    status=EXIT_FAILED)


if __name__ == "__main__":
    raise SystemExit(main())
