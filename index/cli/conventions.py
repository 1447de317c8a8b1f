"""One convention for every ``cql`` command: how errors look, where they go, what exits mean.

Users of ripgrep, git or pgcli expect a command that fails to say so on standard error in
one line that names the command (``cql search: error: ...``), to exit 1 when the input
(a query, a site, a policy) is wrong and 2 when the command line or the environment is
(an unknown flag, a missing index), and 130 after Ctrl-C, without a Python traceback in
any case. With ``--json`` a script reads the same error from standard output as
``{"error": {"code": ..., "message": ..., ...}}``.

This module is imported by ``cql parse`` and ``cql --help``: standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import IO, Any, NoReturn

#: Exit statuses (the ``grep``/``rg`` convention, with 130 = 128 + SIGINT).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: ``EngineError`` codes that mean the command line or the environment is wrong (exit 2);
#: every other code is a refusal about the data or the query (exit 1).
USAGE_CODES = frozenset({"usage", "bad_request", "bad_cursor", "no_index", "environment"})


class CliError(Exception):
    """A failure a command reports as one line: ``code`` for ``--json``, ``status`` to exit.

    ``extra`` adds fields to the JSON error object (a query error's line and column)."""

    def __init__(self, message: str, *, code: str = "usage", status: int = EXIT_USAGE,
                 extra: dict[str, Any] | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.extra = extra or {}
        #: Lines shown after the one-line message in text mode (a caret block, a usage line).
        self.detail = detail
        #: The (sub)command that raised it, when an argument parser did.
        self.prog = ""


def usage_error(message: str) -> CliError:
    return CliError(message, code="usage", status=EXIT_USAGE)


def emit_error(prog: str, err: CliError, *, as_json: bool, color: bool = False,
               stderr: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Print ``err`` the way every command does and return its exit status."""
    stderr = stderr or sys.stderr
    if as_json:
        out = stdout or sys.stdout
        body = {"code": err.code, "message": err.message, **err.extra}
        out.write(json.dumps({"error": body}, ensure_ascii=False) + "\n")
        out.flush()
    label = "\x1b[1;31merror\x1b[0m" if color else "error"
    stderr.write(f"{prog}: {label}: {err.message}\n")
    if err.detail and not as_json:
        stderr.write(err.detail.rstrip("\n") + "\n")
    stderr.flush()
    return err.status


def one_line(text: str) -> str:
    """Messages are one line: fold anything a library put on several."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class CqlArgumentParser(argparse.ArgumentParser):
    """argparse, with errors in the ``cql <command>: error:`` shape and suggestions.

    argparse prints the usage first and the error last; we print the error first (the one
    line a script greps for) and then the command's usage, and suggest the nearest option
    or subcommand for a typo."""

    def error(self, message: str) -> NoReturn:
        err = usage_error(suggest(self, message))
        err.prog = self.prog
        raise err

    def usage_hint(self) -> str:
        return self.format_usage().strip() + f"\n(see '{self.prog} --help')"


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommand name -> parser (empty when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def suggest(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's message, with "did you mean" for a mistyped subcommand or choice."""
    m = re.match(r"argument (\S+): invalid choice: '([^']*)'", message)
    if not m:
        return message
    name, given = m.group(1), m.group(2)
    choices: list[str] = []
    for action in parser._actions:
        if name in action.option_strings or name in (action.metavar, action.dest):
            choices = [str(c) for c in (action.choices or [])]
    close = difflib.get_close_matches(given, choices, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    what = f"value for {name}" if name.startswith("-") else "command"
    return f"unknown {what} '{given}' (choose from {', '.join(choices)}){hint}"


def leaf_parser(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The (sub)parser the words of ``argv`` select: ``cql policy list`` -> its parser."""
    current = parser
    for word in argv:
        if word == "--":
            break
        choices = subcommands(current)
        if word in choices:
            current = choices[word]
    return current


def unknown_arguments(parser: argparse.ArgumentParser, extras: list[str]) -> CliError:
    """The error for words argparse could not place: a mistyped flag gets the nearest
    real one; a query typed as several words gets "quote the query"."""
    flags = [w for w in extras if w.startswith("-") and len(w) > 1]
    if flags:
        flag = flags[0].split("=", 1)[0]
        close = difflib.get_close_matches(flag, _option_strings(parser), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return usage_error(f"unknown option '{flag}'{hint}")
    takes_query = any(a.dest == "query" for a in parser._actions)
    if takes_query:
        return usage_error(
            f"the query must be one argument, but {len(extras) + 1} words were given: quote "
            f"it, as in {parser.prog} 'type = page AND space = DEV'")
    return usage_error(f"unexpected argument '{extras[0]}'")


def color_wanted(mode: str, stream: IO[str]) -> bool:
    """``--color auto`` colours a terminal unless ``NO_COLOR`` is set (no-color.org) or the
    terminal is dumb; ``always`` and ``never`` mean what they say."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
