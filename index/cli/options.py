"""The caller and context options, declared and checked in one place.

``cql search``, ``cql repl`` (and ``cql serve``) all decide *who* is searching and *in what
context*; if each declared its own ``--as-app`` or ``--tz``, one would sooner or later
accept a value another refuses (it happened: an empty ``--as-app`` once meant the unmasked
operator in one command and an error in another). So the flags, their value checks and the
rules between them live here, and every front door calls the same four functions:
:func:`add_caller_options`, :func:`add_context_options`, :func:`caller_from_args` and
:func:`context_from_args`.

Caller flags fail closed: a blank id, ``--anonymous`` with an app or a user, an app that is
not installed, ``--scopes`` without an app: each is a usage error (exit 2), never a
fallback to the local operator, who sees everything.

Value checks run while argparse reads the line (``type=`` functions), so a bad ``--tz`` is
refused before an index is opened, with the same words in every command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from index.cli.conventions import CliError, usage_error

if TYPE_CHECKING:
    from index.core.context import SearchContext
    from index.engine import Engine
    from index.security.callers import AnonymousCaller, AppCaller, UserCaller

    Caller = UserCaller | AppCaller | AnonymousCaller

#: The token scopes ``--as-app`` assumes without ``--scopes``.
DEFAULT_SCOPES = "search:confluence"
#: Content statuses a context may ask for (mirrors ``index.core.context.CONTENT_STATUSES``;
#: a test keeps the two equal, and this module must not import pydantic to list them).
STATUSES = ("archived", "current", "draft", "trashed")


# --- value checks (argparse ``type=`` functions) -----------------------------------------------


def identifier(text: str) -> str:
    """An account or app id: non-empty, without surrounding blanks (never "nobody")."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    if text != text.strip():
        raise argparse.ArgumentTypeError(f"has leading or trailing blanks: {text!r}")
    return text


def instant(text: str) -> datetime:
    """``--now``: an ISO-8601 date or date-time; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 instant such as 2026-11-01T12:00:00Z, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def zone(text: str) -> str:
    """``--tz``: an IANA zone name known to this host (or to the ``tzdata`` package)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise argparse.ArgumentTypeError(
            f"unknown IANA time zone {text!r} (examples: UTC, Europe/Paris)") from None
    return text


def statuses(text: str) -> tuple[str, ...]:
    """``--status``: comma-separated content statuses, each one of :data:`STATUSES`."""
    parts = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not parts:
        raise argparse.ArgumentTypeError(f"name at least one of {', '.join(STATUSES)}")
    unknown = [p for p in parts if p not in STATUSES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown content status {unknown[0]!r}; expected some of {', '.join(STATUSES)}")
    return parts


def scopes(text: str) -> frozenset[str]:
    """``--scopes``: comma- or space-separated OAuth scopes (at least one)."""
    import re

    found = frozenset(p for p in re.split(r"[\s,]+", text) if p)
    if not found:
        raise argparse.ArgumentTypeError("name at least one scope, e.g. search:confluence")
    return found


def bounded(low: int, high: int) -> Callable[[str], int]:
    """An integer option between ``low`` and ``high`` inclusive."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    parse.__name__ = "number"  # argparse names the type in "invalid number value"
    return parse


# --- declarations ----------------------------------------------------------------------------


def add_index_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", metavar="DIR",
                        help="index directory (default: the bundled sample site)")


def add_caller_options(parser: argparse.ArgumentParser) -> None:
    """Who is searching. None of them: the local operator, who sees everything."""
    group = parser.add_argument_group("caller (default: the local operator, unmasked)")
    group.add_argument("--as-user", metavar="ACCOUNT", type=identifier,
                       help="search as this user (with --as-app: the user the app acts for)")
    group.add_argument("--as-app", metavar="APP_ID", type=identifier,
                       help="search as this installed app")
    group.add_argument("--scopes", type=scopes, metavar="SCOPES",
                       help=f"the app token's OAuth scopes, comma-separated (default: "
                       f"{DEFAULT_SCOPES}; needs --as-app)")
    group.add_argument("--strict-scopes", action="store_true",
                       help="hide content types the app holds no read scope for")
    group.add_argument("--anonymous", action="store_true",
                       help="search as an anonymous visitor")


def add_context_options(parser: argparse.ArgumentParser) -> None:
    """The search context: clock, zone and Confluence's ``cqlcontext``."""
    group = parser.add_argument_group("context")
    group.add_argument("--now", type=instant, metavar="ISO",
                       help="the clock, ISO-8601 (default: the wall clock)")
    group.add_argument("--tz", type=zone, default="UTC", metavar="ZONE",
                       help="IANA time zone for date literals, date functions and the times "
                       "shown (default UTC)")
    group.add_argument("--space", metavar="KEY", type=identifier,
                       help="the context space, for currentSpace()")
    group.add_argument("--content", metavar="ID", type=identifier,
                       help="the context content id (Confluence's cqlcontext contentId)")
    group.add_argument("--status", type=statuses, metavar="S,S",
                       help=f"content statuses to search (default: current; any of "
                       f"{', '.join(STATUSES)})")
    group.add_argument("--archived", action="store_true", help="include archived spaces")


# --- decisions -------------------------------------------------------------------------------


def check_caller_args(args: argparse.Namespace) -> None:
    """The rules between caller flags that need no index (run before opening one)."""
    if args.anonymous and (args.as_user is not None or args.as_app is not None):
        raise usage_error("--anonymous cannot be combined with --as-user or --as-app")
    if args.scopes is not None and args.as_app is None:
        raise usage_error("--scopes is the token of an app: give --as-app too")


def granting_users(engine: Engine, app_id: str) -> list[str]:
    """Accounts that granted ``app_id`` access to this site, in the store's order."""
    from index.security.enforcement import LOCAL_SITE

    store = engine.policy_layer().store
    site = (store.site or LOCAL_SITE).cloud_id
    return [g.account_id for g in store.grants if g.app_id == app_id and g.covers(site)]


def app_caller(engine: Engine, app_id: str, acting_for: str | None,
               token_scopes: frozenset[str] | None, *,
               choose_user: Callable[[str, str], None] | None = None) -> AppCaller:
    """An app caller for an installed app. A 3LO app always acts for a user: without one,
    ``choose_user`` (the REPL) picks the first granting account and is told which; without
    ``choose_user`` it is an error that says what to add."""
    from index.security.callers import AppCaller

    store = engine.policy_layer().store
    app = store.app(app_id)
    if app is None:
        installed = ", ".join(a.app_id for a in store.apps) or "none"
        raise usage_error(f"no app {app_id!r} is installed on this site (installed: "
                          f"{installed})")
    if app.kind == "oauth2_3lo" and acting_for is None:
        granted = granting_users(engine, app_id)
        if choose_user is None or not granted:
            example = f" (accounts that granted it: {', '.join(granted)})" if granted else \
                " (no account has granted it access to this site)"
            raise usage_error(f"{app_id} is an oauth2_3lo app, which always acts for a user: "
                              f"add --as-user ACCOUNT{example}")
        acting_for = granted[0]
        choose_user(app_id, acting_for)
    return AppCaller(app_id=app_id, kind=app.kind,
                     scopes=token_scopes if token_scopes is not None
                     else frozenset({DEFAULT_SCOPES}),
                     acting_for=acting_for)


def caller_from_args(args: argparse.Namespace, engine: Engine, *,
                     choose_user: Callable[[str, str], None] | None = None) -> Caller | None:
    """The caller the flags name (None: the local operator), checked against the index."""
    from index.security.callers import AnonymousCaller, UserCaller

    check_caller_args(args)
    if args.anonymous:
        return AnonymousCaller()
    if args.as_app is not None:
        caller: Caller = app_caller(engine, args.as_app, args.as_user, args.scopes,
                                    choose_user=choose_user)
    elif args.as_user is not None:
        caller = UserCaller(account_id=args.as_user)
    else:
        return None
    try:
        engine.scope_for(caller, args.strict_scopes)  # a token without search scope, no grant
    except Exception as err:
        from index.errors import EngineError

        if isinstance(err, EngineError):
            raise CliError(err.message, code=err.code, status=1) from None
        raise
    return caller


def context_from_args(args: argparse.Namespace) -> SearchContext:
    """The search context the flags describe; the wall clock unless ``--now``."""
    from index.core.context import SearchContext

    return SearchContext(
        now=args.now or datetime.now(UTC), tz=args.tz, space_key=args.space,
        content_id=args.content, content_statuses=args.status or ("current",),
        include_archived_spaces=args.archived)


def open_engine(args: argparse.Namespace) -> Engine:
    """The index ``--index`` names, or the bundled sample site's (built on first use)."""
    from index.cli.fixture import fixture_index
    from index.engine import Engine

    if args.index is None:
        return Engine.open(fixture_index())
    from pathlib import Path

    path = Path(args.index)
    if not path.is_dir():
        raise CliError(f"no cql-search index in {path} (no such directory; build one with "
                       "cql index SITE_DIR --out DIR)", code="no_index")
    try:
        return Engine.open(path)
    except Exception as err:
        from index.errors import EngineError

        if isinstance(err, EngineError) and err.code == "not_found":
            raise CliError(err.message, code="no_index") from None
        raise


__all__ = ["add_caller_options", "add_context_options", "add_index_option", "app_caller",
           "caller_from_args", "check_caller_args", "context_from_args", "open_engine"]
