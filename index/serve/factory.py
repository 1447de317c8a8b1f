"""Build the app from environment variables: what ``uvicorn --workers N`` imports in each
worker process (``cql serve`` sets the variables before starting uvicorn)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from starlette.applications import Starlette


def app_from_environment() -> Starlette:
    from index.engine import Engine
    from index.serve.app import create_app

    engine = Engine.open(os.environ["CQL_SERVE_INDEX"])
    fixed = os.environ.get("CQL_SERVE_NOW")
    now = datetime.fromisoformat(fixed) if fixed else None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return create_app(engine, allow_anonymous=bool(os.environ.get("CQL_SERVE_ANONYMOUS")),
                      strict_scopes=bool(os.environ.get("CQL_SERVE_STRICT_SCOPES")),
                      webhooks=bool(os.environ.get("CQL_SERVE_WEBHOOKS")), now=now)
