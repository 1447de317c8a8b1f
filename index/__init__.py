"""cql-search's engine: run Confluence Query Language against a local index of a site.

Everything a user of the library needs is importable from here::

    from index import Engine, SearchContext, UserCaller, AppCaller, AnonymousCaller

The names are loaded on first use (PEP 562), so importing a front end such as ``cql
parse`` (``index.cli``) does not pay for Whoosh and pydantic. ``docs/architecture.md``
says what each subpackage is for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.core.context import SearchContext
    from index.engine import BuildReport, Engine, SearchPage, SearchResult
    from index.errors import EngineError
    from index.security.callers import AnonymousCaller, AppCaller, Caller, UserCaller

__all__ = [
    "AnonymousCaller",
    "AppCaller",
    "BuildReport",
    "Caller",
    "Engine",
    "EngineError",
    "SearchContext",
    "SearchPage",
    "SearchResult",
    "UserCaller",
]

_HOMES = {
    "Engine": "index.engine",
    "SearchPage": "index.engine",
    "SearchResult": "index.engine",
    "BuildReport": "index.engine",
    "SearchContext": "index.core.context",
    "EngineError": "index.errors",
    "UserCaller": "index.security.callers",
    "AppCaller": "index.security.callers",
    "AnonymousCaller": "index.security.callers",
    "Caller": "index.security.callers",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'index' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
