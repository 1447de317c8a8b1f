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
    p.add_argument("--limit", type=bounded(1, MAX_LIMIT), default=None, metavar="N",
                   help=f"results per page (1-{MAX_LIMIT}, default 10)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Open the index, set the caller and context, then read lines until the end.

    The caller and context flags are the ones ``cql search`` takes, checked by the same
    code (``index.cli.options``), so the two commands refuse the same values alike."""
    from index.cli.options import caller_from_args, check_caller_args, context_from_args
    from index.repl.config import apply_defaults, load_config
    from index.repl.pipeline import Settings
    from index.repl.session import Session

    config = load_config()
    apply_defaults(args, config)
    check_caller_args(args)
    context = context_from_args(args)
    engine = open_engine(args)
    settings = Settings(context=context, dialect="lenient" if args.lenient else "strict",
                        strict_scopes=args.strict_scopes, limit=args.limit)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    session = Session(engine, settings, _plain_show)
    session.pager = config.pager
    session.table_style = config.table_style
    session.multiline = config.multiline
    settings.caller = caller_from_args(args, engine, choose_user=session.chose_user)
    if interactive:
        return _interactive(session, config)
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


def _interactive(session: Any, config: Any) -> int:
    """The terminal loop: one prompt_toolkit session, reused for every line."""
    import shutil

    from prompt_toolkit import PromptSession, print_formatted_text
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.filters import Condition
    from prompt_toolkit.formatted_text import FormattedText
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings

    from index.repl.complete import CqlCompleter
    from index.repl.explain import describe_caller
    from index.repl.highlight import STYLE, CqlLexer
    from index.repl.session import ALIASES, COMMANDS
    from index.repl.syntax import needs_more

    def show(frags: Any) -> None:
        print_formatted_text(FormattedText(frags), style=STYLE, end="")

    session.show = show
    session.width = lambda: shutil.get_terminal_size((100, 24)).columns
    path = history_path()
    history: History
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        history = FileHistory(str(path))
    except OSError as err:  # a read-only home must not keep the shell from starting
        show([("class:warn", f"note: history is not saved ({err})\n")])
        history = InMemoryHistory()
    keys = KeyBindings()

    @keys.add("escape", "enter", filter=Condition(lambda: not session.multiline))
    def _newline(event: Any) -> None:
        """Esc-Enter (Alt-Enter) inserts a newline in single-line mode; in multi-line mode
        prompt_toolkit's own Esc-Enter runs the query."""
        event.current_buffer.insert_text("\n")

    names = [f":{name}" for name in [*COMMANDS, *ALIASES]]
    prompt: PromptSession[str] = PromptSession(
        history=history, lexer=CqlLexer(), auto_suggest=AutoSuggestFromHistory(),
        completer=CqlCompleter(vocabulary_for(session), names), style=STYLE,
        complete_while_typing=True, include_default_pygments_style=False,
        key_bindings=keys, vi_mode=config.key_bindings == "vi",
        prompt_continuation=lambda width, line, soft: [("class:prompt", "...> ".rjust(width))])
    prompt.multiline = Condition(
        lambda: session.multiline or needs_more(prompt.default_buffer.text))
    engine = session.engine
    size = engine.store.snapshot().size
    # The whole index's size is an operator fact: labelled so when searching as someone else.
    held = (f"({size} documents)" if session.settings.caller is None
            else f"(operator view: the index holds {size} documents)")
    show([("class:head", "cql repl"),
          ("", f" on {engine.index_dir} {held}, as "
           f"{describe_caller(engine, session.settings.caller)}\n"),
          ("class:dim", ":help lists the commands; Tab completes; Ctrl-D leaves\n")])
    while session.running:
        try:
            text = prompt.prompt(lambda: _prompt_message(session))
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        collected: list[Any] = []
        session.show = collected.extend
        try:
            session.handle(text)
        except KeyboardInterrupt:  # Ctrl-C during a long query stops that query only
            collected.append(("class:warn", "interrupted\n"))
        finally:
            session.show = show
        if not (session.pager and page(collected, config.pager_command)):
            show(collected)
    return 0


def page(frags: Any, command: str | None) -> bool:
    """Send output taller than the terminal through a pager (``pager_command``, ``$PAGER``,
    else ``less -RFX``); False when it fits, or when no pager could run (then the caller
    prints it as usual)."""
    import shlex
    import shutil
    import subprocess

    text = "".join(part[1] for part in frags)
    rows = shutil.get_terminal_size((80, 24)).lines
    if text.count("\n") < rows - 1:
        return False
    argv = shlex.split(command or os.environ.get("PAGER") or "less -RFX")
    if not argv or shutil.which(argv[0]) is None:
        return False
    try:
        subprocess.run(argv, input=text, text=True, check=False)
    except OSError:
        return False
    return True


def vocabulary_for(session: Any) -> Any:
    """Completion values as the session's current caller sees them (its mask, with the
    session's what-if toggles), never the operator's whole index."""
    from index.repl.complete import Vocabulary
    from index.repl.pipeline import scope_for

    return Vocabulary(session.engine,
                      scope=lambda: scope_for(session.engine, session.settings),
                      context=lambda: session.settings.context)


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
