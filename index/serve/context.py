"""What every handler receives: the engine's reader and writer, the caller, the links base."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from starlette.requests import Request

from index.engine import Engine
from index.serve.access import Reader
from index.serve.writes import Writer


@dataclass
class Services:
    engine: Engine
    reader: Reader
    writer: Writer


@dataclass
class Call:
    """One authenticated request."""

    request: Request
    caller: Any
    services: Services

    @cached_property
    def base(self) -> str:
        """``_links.base``: the site root the client reached, with Confluence's ``/wiki``
        (worked out once per request: every rendered link of a response uses it)."""
        url = self.request.url
        return f"{url.scheme}://{url.netloc}/wiki"

    @property
    def params(self) -> Any:
        return self.request.query_params

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def reader(self) -> Reader:
        return self.services.reader

    @property
    def writer(self) -> Writer:
        return self.services.writer
