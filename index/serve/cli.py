"""``cql serve``, ``cql token issue`` and ``cql credentials add``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _index_dir(args: argparse.Namespace) -> Path:
    if args.index:
        return Path(args.index)
    from index.cli.search import fixture_index

    return fixture_index()


def run_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from index.errors import EngineError

    index_dir = _index_dir(args)
    os.environ["CQL_SERVE_INDEX"] = str(index_dir)
    os.environ["CQL_SERVE_ANONYMOUS"] = "1" if args.allow_anonymous else ""
    os.environ["CQL_SERVE_STRICT_SCOPES"] = "1" if args.strict_scopes else ""
    os.environ["CQL_SERVE_WEBHOOKS"] = "" if args.no_webhooks else "1"
    os.environ["CQL_SERVE_NOW"] = args.now or ""
    try:
        from index.serve.factory import app_from_environment

        if args.workers == 1:
            app = app_from_environment()  # fail here, with a clear message, not in a worker
            uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        else:
            app_from_environment()
            uvicorn.run("index.serve.factory:app_from_environment", factory=True,
                        host=args.host, port=args.port, workers=args.workers,
                        log_level=args.log_level)
    except (EngineError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def run_token(args: argparse.Namespace) -> int:
    from index.engine import Engine
    from index.errors import EngineError
    from index.security.callers import parse_scopes
    from index.serve.auth import AUTH0_ISSUER, NATIVE_ISSUER, issue_token

    try:
        engine = Engine.open(_index_dir(args))
        app = engine.policy_layer().store.app(args.app)
    except EngineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if app is None:
        known = ", ".join(a.app_id for a in engine.policy_layer().store.apps) or "none"
        print(f"error: app {args.app!r} is not installed (apps.json lists: {known})",
              file=sys.stderr)
        return 1
    if app.kind == "oauth2_3lo" and not args.user:
        print("error: an OAuth 2.0 (3LO) app always acts for a user: give --user ACCOUNT",
              file=sys.stderr)
        return 1
    issuer = AUTH0_ISSUER if args.issuer == "auth0" else NATIVE_ISSUER
    print(issue_token(engine.index_dir, app.app_id, parse_scopes(args.scopes), args.user,
                      ttl=args.ttl, issuer=issuer))
    return 0


def run_credentials(args: argparse.Namespace) -> int:
    from index.serve.auth import add_credential

    index_dir = _index_dir(args)
    if not (index_dir / "catalog.json").is_file():
        print(f"error: no cql-search index in {index_dir}", file=sys.stderr)
        return 1
    try:
        print(add_credential(index_dir, args.email, args.account))
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="serve the index over Confluence's REST API",
                       description="Serve an index over a Confluence Cloud compatible REST "
                       "API (docs/serve.md).")
    s.add_argument("--index", help="index directory (default: the bundled fixtures)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8090)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--allow-anonymous", action="store_true",
                   help="answer requests without credentials as an anonymous user")
    s.add_argument("--strict-scopes", action="store_true",
                   help="hide content types an app's token holds no read scope for")
    s.add_argument("--no-webhooks", action="store_true",
                   help="do not deliver policy events to the apps' webhook URLs")
    s.add_argument("--now", help="a fixed clock for now() and friends, ISO-8601 (default: "
                   "the real clock)")
    s.add_argument("--log-level", default="info")
    s.set_defaults(run=run_serve)

    t = sub.add_parser("token", help="mint bearer tokens for apps")
    tsub = t.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    issue = tsub.add_parser("issue", help="print a new bearer token (JWT) for an app")
    issue.add_argument("--index", help="index directory (default: the bundled fixtures)")
    issue.add_argument("--app", required=True, help="the app id (from apps.json)")
    issue.add_argument("--user", help="the account the app acts for (omit: as the app)")
    issue.add_argument("--scopes", default="search:confluence",
                       help="comma- or space-separated OAuth scopes")
    issue.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    issue.add_argument("--issuer", choices=("native", "auth0"), default="native")
    issue.set_defaults(run=run_token)

    c = sub.add_parser("credentials", help="manage basic-auth accounts of the server")
    csub = c.add_subparsers(dest="credentials_command", metavar="ACTION", required=True)
    add = csub.add_parser("add", help="add an account and print its new API token")
    add.add_argument("email")
    add.add_argument("--account", required=True, help="the account id it signs in as")
    add.add_argument("--index", help="index directory (default: the bundled fixtures)")
    add.set_defaults(run=run_credentials)
