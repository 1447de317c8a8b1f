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

from index.cli.options import (
    add_caller_options,
    add_context_options,
    add_index_option,
    bounded,
    open_engine,
)
from index.cli.search import MAX_LIMIT

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
    add_index_option(p)
    add_caller_options(p)
    add_context_options(p)
    p.add_argument("--lenient", action="store_true", help="start in the lenient dialect")
    p.add_argument("--limit", type=bounded(1, MAX_LIMIT), default=10, metavar="N",
                   help=f"results per page (1-{MAX_LIMIT}, default 10)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Open the index, set the caller and context, then read lines until the end.

    The caller and context flags are the ones ``cql search`` takes, checked by the same
    code (``index.cli.options``), so the two commands refuse the same values alike."""
    from index.cli.options import caller_from_args, check_caller_args, context_from_args
    from index.repl.pipeline import Settings
    from index.repl.session import Session

    check_caller_args(args)
    context = context_from_args(args)
    engine = open_engine(args)
    settings = Settings(context=context, dialect="lenient" if args.lenient else "strict",
                        strict_scopes=args.strict_scopes, limit=args.limit)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    session = Session(engine, settings, _plain_show)
    settings.caller = caller_from_args(args, engine, choose_user=session.chose_user)
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
