"""``cql import``: the command line of the importer (docs/import.md).

The API token never appears on the command line (where ``ps`` and shell history would keep
it): it is read from the environment variable named by ``--token-env``, or prompted for.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from datetime import datetime
from pathlib import Path

from index.errors import EngineError


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import", help="mirror a Confluence Cloud site into a site directory or an index",
        description="Read spaces, content, comments, attachments and users from Confluence "
        "Cloud (REST v2, v1 where v2 has no equivalent) into the site format, or into an "
        "existing index. Re-running continues from the checkpoint kept with the output: "
        "only changed content is fetched, and trashed or purged content is removed.",
        allow_abbrev=False)  # "--token SECRET" must not be read as "--token-env SECRET"
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="the site, e.g. https://SITE.atlassian.net/wiki")
    source.add_argument("--from-dir", type=Path, metavar="DUMP",
                        help="read saved REST JSON responses instead (docs/import.md)")
    p.add_argument("--user", help="the account e-mail for basic authentication")
    p.add_argument("--token-env", metavar="VAR", type=_variable_name,
                   help="environment variable holding the API token (default: prompt)")
    p.add_argument("--token", nargs="?", action=_RefuseToken, help=argparse.SUPPRESS)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, metavar="SITE_DIR",
                        help="write a site directory (replaced atomically when complete)")
    target.add_argument("--index", type=Path, metavar="INDEX_DIR",
                        help="upsert into an existing index, in batches")
    p.add_argument("--space", action="append", metavar="KEY",
                   help="import only this space (repeat for more; default: all spaces)")
    p.add_argument("--since", type=_iso, metavar="ISO",
                   help="do not fetch again items the output has that were last modified "
                   "before this date-time")
    p.add_argument("--concurrency", type=_positive, default=8, metavar="N",
                   help="requests in flight at once (default 8)")
    p.add_argument("--retries", type=_positive, default=8, metavar="N",
                   help="attempts per request before giving up (default 8)")
    p.set_defaults(run=run)


class _RefuseToken(argparse.Action):
    """``--token``: refused without echoing the value (argparse would print it back)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        parser.error("--token: the API token is never accepted as an argument (shell "
                     "history and ps would keep it); use --token-env VAR or the prompt")


def _variable_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        # Not echoed: a token pasted here by mistake must not land in a log.
        raise argparse.ArgumentTypeError("expected the NAME of an environment variable "
                                         "(letters, digits, _), not its value")
    return text


def _iso(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 date-time, e.g. 2026-01-31T09:00:00+00:00 (got {text!r})"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number (got {text!r})")
    return value


def _token(args: argparse.Namespace) -> str | None:
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            raise EngineError("usage", f"--token-env: the variable {args.token_env} is not set")
        return token
    if not args.user:
        return None
    if not sys.stdin.isatty():
        raise EngineError("usage", "no token: give --token-env VAR (the token is never "
                          "accepted as an argument)")
    return getpass.getpass(f"API token for {args.user}: ")


def run(args: argparse.Namespace) -> int:
    from index.importer.dump import DumpSource
    from index.importer.http import Client, RetryPolicy
    from index.importer.remote import RemoteSource
    from index.importer.sinks import IndexSink, SiteSink
    from index.importer.state import State
    from index.importer.sync import Progress, Run

    client = None
    try:
        if args.url:
            if not args.url.startswith(("http://", "https://")):
                raise EngineError("usage", f"--url: expected http(s)://..., got {args.url!r}")
            client = Client(args.url, args.user, _token(args), concurrency=args.concurrency,
                            retry=RetryPolicy(attempts=args.retries))
            source: RemoteSource | DumpSource = RemoteSource(client)
        else:
            dump = DumpSource(args.from_dir)
            for problem in dump.problems:
                print(f"skipped: {problem}", file=sys.stderr)
            source = dump
        sink = SiteSink(args.out) if args.out else IndexSink(args.index)
        if sink.resuming:
            print("import: resuming the interrupted run", file=sys.stderr)
        state = State(sink.state_path)
        job = Run(source, state, sink, space_keys=args.space, since=args.since,
                  concurrency=args.concurrency, progress=Progress())
        report = job.run()
        total = sink.finish(state)
    except EngineError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: {err.strerror or err}: {err.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    where = args.out or args.index
    rate = report.fetched / job.seconds if job.seconds else 0.0
    extra = f", {client.retries} retried requests" if client is not None and client.retries \
        else ""
    print(f"imported into {where}: {total:,} items ({report.fetched:,} fetched, "
          f"{report.unchanged:,} unchanged, {report.deleted:,} deleted, "
          f"{len(report.problems):,} skipped with a problem{extra}) in {job.seconds:.1f} s "
          f"({rate:,.0f} items/s)")
    rejects = sink.rejects if isinstance(sink, IndexSink) else []
    for line in rejects:
        print(f"rejected: {line}", file=sys.stderr)
    return 1 if report.problems or rejects else 0
