"""``cql repl``: the shell a person opens to find out why a query returns what it returns.

At a terminal it is a prompt_toolkit line editor (history, highlighting, completion,
multi-line input while a bracket or quote is open); with piped input it reads one query or
command per line and prints plain text, so the same session can be scripted. Either way
each line goes to :class:`index.repl.session.Session`; the parts live beside this module:
``repl_syntax`` (tokens from the grammar), ``repl_highlight``, ``repl_complete``,
``repl_pipeline`` (the stages, timed), ``repl_explain`` and ``repl_session`` (commands).

Only ``argparse`` is imported at module level: ``cql parse`` builds the same argument
parser and must stay quick to start.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

HISTORY_ENV = "CQL_REPL_HISTORY"


def history_path() -> Path:
    """``$CQL_REPL_HISTORY``, else ``$XDG_STATE_HOME/cql-search/history`` (by default under
    ``~/.local/state``): history is state, not configuration or cache."""
    override = os.environ.get(HISTORY_ENV)
    if override:
        return Path(override)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cql-search" / "history"


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "repl", help="an interactive shell for debugging queries",
        description="Run CQL queries one at a time and see what became of each: canonical "
        "form, rewrites, results, time per stage, the tree (:ast) and why each result "
        "matched (:explain). Reads one query or :command per line when input is piped. "
        "Type :help inside for the commands; docs/repl.md has the details.")
    p.add_argument("--index", help="index directory (default: the bundled fixtures)")
    p.add_argument("--as-user", metavar="ACCOUNT", help="search as this user")
    p.add_argument("--as-app", metavar="APP_ID", help="search as this app (with --as-user: "
                   "acting for that user)")
    p.add_argument("--scopes", help="comma-separated OAuth scopes of the app's token "
                   "(default: search:confluence)")
    p.add_argument("--anonymous", action="store_true", help="search as an anonymous caller")
    p.add_argument("--strict-scopes", action="store_true",
                   help="hide content types the app holds no read scope for")
    p.add_argument("--now", help="the clock, ISO-8601 (default: the wall clock)")
    p.add_argument("--tz", default="UTC", help="time zone for dates (default UTC)")
    p.add_argument("--space", help="the context space, for currentSpace()")
    p.add_argument("--lenient", action="store_true", help="start in the lenient dialect")
    p.add_argument("--limit", type=int, default=10, help="results per page (default 10)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Open the index, set the caller and context, then read lines until the end."""
    from index.cli.search import fixture_index, make_context
    from index.engine import MAX_LIMIT, Engine
    from index.errors import EngineError
    from index.repl.pipeline import Settings
    from index.repl.session import Session, error_text

    def usage(message: str) -> int:
        print(f"cql repl: error: {message}", file=sys.stderr)
        return 2

    if not 1 <= args.limit <= MAX_LIMIT:
        return usage(f"--limit must be between 1 and {MAX_LIMIT}")
    if args.anonymous and (args.as_user or args.as_app):
        return usage("--anonymous cannot be combined with --as-user or --as-app")
    try:
        engine = Engine.open(args.index or fixture_index())
    except EngineError as err:
        return usage(str(err))
    try:
        context = make_context(args)
    except ValueError as err:
        return usage(error_text(err))
    settings = Settings(context=context, dialect="lenient" if args.lenient else "strict",
                        strict_scopes=args.strict_scopes, limit=args.limit)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    session = Session(engine, settings, _plain_show)
    try:
        settings.caller = _initial_caller(args, session)
        engine.scope_for(settings.caller, settings.strict_scopes)
    except (ValueError, EngineError) as err:
        return usage(error_text(err))
    if interactive:
        return _interactive(session)
    from index.cli.textio import BadLine, stdin_lines

    for line in stdin_lines():  # bytes decoded as UTF-8 whatever the locale
        if isinstance(line, BadLine):
            print(f"error: {line}", flush=True)
            continue
        session.handle(line)
        if not session.running:
            break
    return 0


def _initial_caller(args: argparse.Namespace, session: Any) -> Any:
    from index.security.callers import AnonymousCaller, UserCaller

    if args.anonymous:
        return AnonymousCaller()
    if args.as_app:
        words = ["for", args.as_user] if args.as_user else []
        if args.scopes:
            words.append(args.scopes)
        return session.app_caller(args.as_app, words)
    if args.as_user:
        return UserCaller(account_id=args.as_user)
    return None


def _plain_show(frags: Any) -> None:
    sys.stdout.write("".join(text for _, text in frags))
    sys.stdout.flush()


def _interactive(session: Any) -> int:
    """The terminal loop: one prompt_toolkit session, reused for every line."""
    from prompt_toolkit import PromptSession, print_formatted_text
    from prompt_toolkit.filters import Condition
    from prompt_toolkit.formatted_text import FormattedText
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory

    from index.repl.complete import CqlCompleter, Vocabulary
    from index.repl.explain import describe_caller
    from index.repl.highlight import STYLE, CqlLexer
    from index.repl.session import ALIASES, COMMANDS
    from index.repl.syntax import needs_more

    def show(frags: Any) -> None:
        print_formatted_text(FormattedText(frags), style=STYLE, end="")

    session.show = show
    path = history_path()
    history: History
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        history = FileHistory(str(path))
    except OSError as err:  # a read-only home must not keep the shell from starting
        show([("class:warn", f"note: history is not saved ({err})\n")])
        history = InMemoryHistory()
    names = [f":{name}" for name in [*COMMANDS, *ALIASES]]
    prompt: PromptSession[str] = PromptSession(
        history=history, lexer=CqlLexer(),
        completer=CqlCompleter(Vocabulary(session.engine), names), style=STYLE,
        complete_while_typing=True, include_default_pygments_style=False,
        prompt_continuation=lambda width, line, soft: [("class:prompt", "...> ".rjust(width))])
    prompt.multiline = Condition(lambda: needs_more(prompt.default_buffer.text))
    engine = session.engine
    show([("class:head", "cql repl"),
          ("", f" on {engine.index_dir} ({engine.store.snapshot().size} documents), as "
           f"{describe_caller(engine, session.settings.caller)}\n"),
          ("class:dim", ":help lists the commands; Tab completes; Ctrl-D leaves\n")])
    while session.running:
        try:
            text = prompt.prompt(lambda: _prompt_message(session))
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            session.handle(text)
        except KeyboardInterrupt:  # Ctrl-C during a long query stops that query only
            show([("class:warn", "interrupted\n")])
    return 0


def _prompt_message(session: Any) -> Any:
    """``cql>``, with who is searching when it is not the local operator."""
    from index.security.callers import AnonymousCaller, AppCaller, UserCaller

    caller = session.settings.caller
    who = ""
    if isinstance(caller, UserCaller):
        user = session.engine.users.get(caller.account_id)
        who = user.display_name if user is not None else caller.account_id
    elif isinstance(caller, AppCaller):
        who = caller.app_id
    elif isinstance(caller, AnonymousCaller):
        who = "anonymous"
    out = [("class:prompt", "cql")]
    if who:
        out.append(("class:prompt.who", f"[{who}]"))
    out.append(("class:prompt", "> "))
    return out
