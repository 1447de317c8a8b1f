"""The REPL's state and its commands: what one line of input does, terminal or not.

A line is a query or a ``:command``. Both the interactive terminal and piped input feed
lines to :meth:`Session.handle`, and everything it prints goes through one ``show``
callback as styled fragments, so a scripted run prints exactly what a person sees, less
the colour.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prompt_toolkit.formatted_text import StyleAndTextTuples
from pydantic import ValidationError

import cql
from cql.normalize import normalize_report
from cql.parser import parse_syntax
from cql.validate import validate
from index.cli import options
from index.cli.conventions import CliError
from index.engine import MAX_LIMIT
from index.errors import EngineError
from index.repl.explain import ast_fragments, describe_caller, explain_fragments
from index.repl.highlight import fragments as query_fragments
from index.repl.pipeline import STAGES, Outcome, Settings, effective_policies, run
from index.repl.pipeline import Caller as CallerT
from index.security.callers import AnonymousCaller, AppCaller, UserCaller, parse_scopes
from index.security.policy import blocked_spaces

Frags = StyleAndTextTuples
DEFAULT_SCOPES = frozenset({"search:confluence"})


@dataclass(frozen=True)
class Command:
    usage: str
    help: str


#: Every command, in the order ``:help`` lists them. ``Session.cmd_<name>`` runs each.
COMMANDS: dict[str, Command] = {
    "ast": Command(":ast [QUERY]", "the syntax tree of the last query (or of QUERY), with "
                   "source spans; the normalized tree too when a rewrite fired"),
    "explain": Command(":explain [QUERY]", "the plan (index lookups, Whoosh text queries, "
                       "hits per clause), the mask in force, and for each shown result the "
                       "clauses it satisfies and fails"),
    "as": Command(":as user ID | app ID [for ACCOUNT] [SCOPE ...] | anonymous | local",
                  "search as someone else (no argument: who you are now)"),
    "policies": Command(":policies [toggle ID | reset]", "list the data security policies; "
                        "toggle flips one on or off for this session only (what-if: nothing "
                        "is written to the index's policy store)"),
    "limit": Command(":limit [N]", f"results per page (1-{MAX_LIMIT})"),
    "next": Command(":next", "the next page of the last query"),
    "prev": Command(":prev", "the previous page of the last query"),
    "now": Command(":now [ISO | clock]", "the instant dates are relative to (clock: the "
                   "wall clock)"),
    "tz": Command(":tz [ZONE]", "the IANA time zone for date literals and functions"),
    "space": Command(":space [KEY | none]", "the context space, for currentSpace()"),
    "strict": Command(":strict", "the strict dialect (as Confluence Cloud; the default)"),
    "lenient": Command(":lenient", "the lenient dialect"),
    "strict-scopes": Command(":strict-scopes [on | off]", "hide content types an app's "
                             "token holds no read scope for"),
    "pager": Command(":pager [on | off]", "page output taller than the screen through "
                     "$PAGER (default on at a terminal)"),
    "multiline": Command(":multiline [on | off]", "Enter inserts a newline and Esc-Enter "
                         "runs the query (off: Esc-Enter inserts a newline)"),
    "help": Command(":help", "this list"),
    "quit": Command(":quit", "leave (also :q, :exit, Ctrl-D)"),
}
ALIASES = {"q": "quit", "exit": "quit", "h": "help", "?": "help"}
#: Words that are never CQL (a query needs an operator) and mean a command in other shells.
BARE_COMMANDS = {"exit": "quit", "quit": "quit", "\\q": "quit", "help": "help",
                 "\\?": "help", "\\h": "help"}


class Session:
    """One REPL session over one engine."""

    def __init__(self, engine: Any, settings: Settings,
                 show: Callable[[Frags], None]) -> None:
        self.engine = engine
        self.settings = settings
        self.show = show
        self.last: Outcome | None = None
        self.running = True
        #: Terminal-only preferences (the config file sets them; commands toggle them).
        self.pager = True
        self.multiline = False
        self.table_style = "simple"
        #: The terminal's width when output goes to one (tables fit it), else None.
        self.width: Callable[[], int | None] = lambda: None

    # --- input ---------------------------------------------------------------------------

    def handle(self, line: str) -> None:
        """Run one query or command; never raises for anything the user typed."""
        text = line.strip()
        if not text or text.startswith("#"):  # '#' never starts CQL: a comment in a script
            return
        bare = BARE_COMMANDS.get(text.lower().rstrip(";"))
        if bare is not None:  # what psql, pgcli and a shell user type to leave or get help
            self.command(bare)
        elif text.startswith(":"):
            self.command(text[1:])
        else:
            self.query(text)

    def command(self, text: str) -> None:
        name, _, rest = text.strip().partition(" ")
        name = ALIASES.get(name.lower(), name.lower())
        if name not in COMMANDS:
            self.say("error", f"unknown command :{name}; :help lists the commands")
            return
        try:
            getattr(self, "cmd_" + name.replace("-", "_"))(rest.strip())
        except cql.CqlError as err:
            self.show(error_fragments(err))
        except (EngineError, ValueError, CliError) as err:
            self.say("error", f"error: {error_text(err)}")

    def query(self, text: str, start: int = 0) -> Outcome | None:
        """Run a query and show what became of it; None (after showing why) on failure."""
        try:
            outcome = run(self.engine, text, self.settings, start)
        except cql.CqlError as err:
            self.show(error_fragments(err))
            return None
        except (EngineError, ValueError) as err:
            self.say("error", f"error: {error_text(err)}")
            return None
        self.last = outcome
        self.show(outcome_fragments(outcome, style=self.table_style, width=self.width(),
                                    tz=self.settings.context.tz))
        if self.settings.overrides:  # never let a what-if pass for what the index enforces
            flipped = ", ".join(f"{pid} {_on(on)}" for pid, on in
                                sorted(self.settings.overrides.items()))
            self.say("warn", f"operator view: what-if policies in force ({flipped}); these "
                     "results are not what the stored policies give (:policies reset)")
        return outcome

    def say(self, style: str, text: str) -> None:
        self.show([(f"class:{style}" if style else "", text + "\n")])

    # --- commands --------------------------------------------------------------------------

    def _target(self, arg: str) -> Outcome | None:
        """The query a command is about: its argument (run now), or the last one."""
        if arg:
            return self.query(arg)
        if self.last is None:
            self.say("warn", "no query yet: type one, or give it after the command")
        return self.last

    def cmd_ast(self, arg: str) -> None:
        """The tree of the last query, or of QUERY without running it: a query that fails
        validation still has a tree, and seeing it is often how one learns why it fails."""
        if not arg:
            if self.last is None:
                self.say("warn", "no query yet: type one, or give it after the command")
                return
            arg = self.last.text
        parsed = parse_syntax(arg)
        self.say("head", "as parsed:")
        self.show(ast_fragments(parsed, arg))
        validate(parsed, arg, self.settings.dialect)
        normalized, fired = normalize_report(parsed)
        if fired:
            self.say("head", f"normalized ({', '.join(fired)}):")
            self.show(ast_fragments(normalized, arg))

    def cmd_explain(self, arg: str) -> None:
        outcome = self._target(arg)
        if outcome is not None:
            self.show([("class:head", "explain: ")] + query_fragments(outcome.canonical)
                      + [("", "\n")])
            self.show(explain_fragments(self.engine, outcome, self.settings))

    def cmd_as(self, arg: str) -> None:
        words = shlex.split(arg)
        if not words:
            self.say("", f"searching as {describe_caller(self.engine, self.settings.caller)}")
            return
        kind, rest = words[0].lower(), words[1:]
        if kind == "user" and len(rest) == 1:
            caller: CallerT | None = UserCaller(account_id=rest[0])
            if rest[0] not in self.engine.users:
                self.say("warn", f"note: {rest[0]} is not a user of this site")
        elif kind == "app" and rest:
            caller = self.app_caller(rest[0], rest[1:])
        elif kind == "anonymous" and not rest:
            caller = AnonymousCaller()
        elif kind == "local" and not rest:
            caller = None
        else:
            self.say("error", f"usage: {COMMANDS['as'].usage}")
            return
        self.engine.scope_for(caller, self.settings.strict_scopes)  # refuse a bad token now
        self.settings.caller = caller
        self.say("", f"searching as {describe_caller(self.engine, caller)}")

    def app_caller(self, app_id: str, words: list[str]) -> AppCaller:
        """An installed app's caller; a 3LO app, which always acts for a user, acts for the
        current user or else for the first account that granted it access (and says so).
        The checks are ``cql search``'s (``index.cli.options.app_caller``)."""
        acting: str | None = None
        if len(words) >= 2 and words[0].lower() == "for":
            acting, words = words[1], words[2:]
        scopes = parse_scopes(" ".join(words)) if words else DEFAULT_SCOPES
        current = self.settings.caller
        app = self.engine.policy_layer().store.app(app_id)
        if acting is None and app is not None and app.kind == "oauth2_3lo":
            if isinstance(current, UserCaller):
                acting = current.account_id
            elif isinstance(current, AppCaller) and current.acting_for:
                acting = current.acting_for
        return options.app_caller(self.engine, app_id, acting, scopes,
                                  choose_user=self.chose_user)

    def chose_user(self, app_id: str, account: str) -> None:
        self.say("warn", f"note: {app_id} is an oauth2_3lo app and always acts for a "
                 f"user; acting for {account}, the first account that granted it "
                 f"access (choose with :as app {app_id} for ACCOUNT)")

    def cmd_policies(self, arg: str) -> None:
        words = arg.split()
        overrides = self.settings.overrides
        if words[:1] == ["toggle"] and len(words) == 2:
            policy = self.engine.policy_layer().store.get(words[1])  # not_found if unknown
            active = not overrides.get(policy.id, policy.active)
            if active == policy.active:
                overrides.pop(policy.id, None)
            else:
                overrides[policy.id] = active
            self.say("warn", f"what-if: policy {policy.id} is now {_on(active)} for this "
                     "session (the index's policy store is unchanged)")
        elif words == ["reset"]:
            overrides.clear()
            self.say("", "what-if switches cleared: policies as stored")
        elif words:
            self.say("error", f"usage: {COMMANDS['policies'].usage}")
            return
        self.show(self.policy_table())

    def policy_table(self) -> Frags:
        layer = self.engine.policy_layer()
        policies = effective_policies(self.engine, self.settings.overrides)
        if not policies:
            return [("", "no data security policies in this index\n")]
        out: Frags = []
        if self.settings.caller is not None:  # the policy list is the operator's knowledge
            out.append(("class:warn", "operator view (not visible to the caller):\n"))
        for p in policies:
            flipped = p.id in self.settings.overrides
            out.append(("class:ok" if p.active else "class:dim",
                        f"{p.id:<6} {_on(p.active):<4}"))
            out.append(("class:warn", " (what-if)" if flipped else ""))
            cover = ("every space" if p.coverage.level == "WORKSPACE"
                     else ", ".join(p.coverage.spaces))
            rules = []
            if p.rules.app_access is not None:
                rule = p.rules.app_access
                apps = ", ".join(rule.apps) or "none"
                rules.append(f"app access {rule.mode} [{apps}]")
            if p.rules.anonymous_access:
                rules.append("no anonymous access")
            out.append(("", f"  {p.name}: covers {cover}; {'; '.join(rules) or 'no rules'}\n"))
        caller = self.settings.caller
        if isinstance(caller, AppCaller):
            hidden = blocked_spaces(caller.app_id, policies, layer.store.apps,
                                    list(self.engine.spaces))
            out.append(("", f"for {caller.app_id}: content hidden in "
                        f"{', '.join(sorted(hidden)) or 'no spaces'}\n"))
        return out

    def cmd_limit(self, arg: str) -> None:
        if arg:
            self.settings.limit = _checked(options.bounded(1, MAX_LIMIT), arg, ":limit")
        self.say("", f"limit: {self.settings.limit} results per page")

    def _page(self, step: int) -> None:
        if self.last is None:
            self.say("warn", "no query yet")
            return
        start = max(0, self.last.start + step * self.settings.limit)
        if step > 0 and start >= self.last.total:
            self.say("warn", "no more results")
            return
        if step < 0 and self.last.start == 0:
            self.say("warn", "already at the first page")
            return
        self.query(self.last.text, start)

    def cmd_next(self, arg: str) -> None:
        self._page(+1)

    def cmd_prev(self, arg: str) -> None:
        self._page(-1)

    def _context(self, **changes: Any) -> None:
        data = self.settings.context.model_dump()
        data.update(changes)
        self.settings.context = type(self.settings.context).model_validate(data)

    def cmd_now(self, arg: str) -> None:
        if arg:
            now = datetime.now(UTC) if arg == "clock" else _checked(options.instant, arg, ":now")
            self._context(now=now)
        self.say("", f"now: {self.settings.context.now.isoformat()}")

    def cmd_tz(self, arg: str) -> None:
        if arg:
            self._context(tz=_checked(options.zone, arg, ":tz"))
        self.say("", f"time zone: {self.settings.context.tz}")

    def cmd_space(self, arg: str) -> None:
        if arg:
            self._context(space_key=None if arg.lower() == "none" else arg)
        self.say("", f"context space: {self.settings.context.space_key or 'none'}")

    def cmd_strict(self, arg: str) -> None:
        self.settings.dialect = "strict"
        self.say("", "dialect: strict")

    def cmd_lenient(self, arg: str) -> None:
        self.settings.dialect = "lenient"
        self.say("", "dialect: lenient")

    def cmd_strict_scopes(self, arg: str) -> None:
        if arg:
            if arg.lower() not in ("on", "off"):
                raise ValueError("say :strict-scopes on or :strict-scopes off")
            self.settings.strict_scopes = arg.lower() == "on"
        self.say("", f"strict scopes: {_on(self.settings.strict_scopes)}")

    def _switch(self, arg: str, name: str) -> bool:
        value: bool = getattr(self, name)
        if arg:
            if arg.lower() not in ("on", "off"):
                raise ValueError(f"say :{name} on or :{name} off")
            value = arg.lower() == "on"
            setattr(self, name, value)
        self.say("", f"{name}: {_on(value)}")
        return value

    def cmd_pager(self, arg: str) -> None:
        self._switch(arg, "pager")

    def cmd_multiline(self, arg: str) -> None:
        self._switch(arg, "multiline")

    def cmd_help(self, arg: str) -> None:
        out: Frags = [("", "Type a CQL query to run it (Enter inside an open parenthesis or "
                       "quote starts a new line), or a command:\n")]
        for cmd in COMMANDS.values():
            out.append(("class:head", f"  {cmd.usage}\n"))
            out.append(("", f"      {cmd.help}\n"))
        self.show(out)

    def cmd_quit(self, arg: str) -> None:
        self.running = False


def _checked(parse: Callable[[str], Any], text: str, what: str) -> Any:
    """A value through the same check its command-line flag uses, as a ValueError."""
    import argparse

    try:
        return parse(text)
    except argparse.ArgumentTypeError as err:
        raise ValueError(f"{what}: {err}") from None


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def error_text(err: Exception) -> str:
    """An error as one line for people (pydantic's list of problems joined)."""
    if isinstance(err, ValidationError):
        return "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
    return str(err)


# --- rendering -------------------------------------------------------------------------------


def outcome_fragments(outcome: Outcome, *, style: str = "simple", width: int | None = None,
                      tz: str = "UTC") -> Frags:
    """Canonical CQL, rewrites, the results table, the total and the time per stage."""
    out: Frags = [("class:head", "cql: ")]
    out.extend(query_fragments(outcome.canonical))
    out.append(("", "\n"))
    if outcome.fired:
        out.append(("class:head", "rewrites: "))
        out.append(("", ", ".join(outcome.fired) + "   "))
        out.append(("class:dim", f"as written: {cql.to_cql(outcome.parsed)}\n"))
    else:
        out.append(("class:dim", "rewrites: none\n"))
    out.extend(table_fragments(outcome, style=style, width=width, tz=tz))
    out.append(("class:dim", "time: " + ", ".join(
        f"{stage} {outcome.timings[stage] * 1000:.2f} ms" for stage in STAGES)
        + f" (total {sum(outcome.timings.values()) * 1000:.2f} ms)\n"))
    return out


def table_fragments(outcome: Outcome, *, style: str = "simple", width: int | None = None,
                    tz: str = "UTC") -> Frags:
    """The results through the one table renderer of every front end (``index.display``:
    display width measured, fitted to ``width``), result times in the session's zone."""
    from index.display import local_time, table_text

    rows = [(r.id, r.type, r.space, r.title, local_time(r.lastModified, tz))
            for r in outcome.results]
    head = ("id", "type", "space", "title", "last modified" if tz == "UTC"
            else f"last modified ({tz})")
    out: Frags = []
    if rows:
        lines = table_text(head, rows, width=width, style=style).splitlines(keepends=True)
        if style == "simple":
            out.append(("class:head", lines[0]))
            out.append(("class:dim", lines[1]))
            lines = lines[2:]
        out.extend(("", line) for line in lines)
        shown = f"{outcome.start + 1}-{outcome.start + len(rows)} of "
    else:
        shown = "0 of "
    out.append(("class:count", f"{shown}{outcome.total} results"))
    more = outcome.start + len(rows) < outcome.total
    out.append(("class:dim", "; :next for more\n" if more else "\n"))
    return out


def error_fragments(err: cql.CqlError) -> Frags:
    """The message, the query line with a caret run under the span, the expected tokens."""
    out: Frags = [("class:error", f"error [{err.code.value}] "),
                  ("", f"at line {err.line}, column {err.column}: {err.message}\n")]
    caret = err.caret()
    if caret:
        text, marks = caret.split("\n", 1)
        out.append(("", f"  {text}\n"))
        out.append(("class:caret", f"  {marks}\n"))
    if err.expected:
        out.append(("class:dim", f"  expected: {', '.join(err.expected)}\n"))
    return out
