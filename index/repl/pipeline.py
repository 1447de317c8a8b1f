"""One query through the engine's stages, each timed, under what-if policy switches.

``Engine.search`` answers a query in one call; a person asking *why* a query returns what
it returns wants the stages apart: the tree after parsing, what validation and each
normalizer pass did, the document sets the compiler made and how long each step took.
So the REPL runs the same stages itself, in the engine's order, with the engine's own
parts (``cql`` for the language, ``Compiler`` for document sets, the engine's ordering
and result rendering).

What-if policy switches (``:policies toggle``) never touch the index's policy store: the
REPL computes the caller's mask from the store's policies with the switched ones flipped,
using the same decision function the engine uses (``index.security.policy.blocked_spaces``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import cql
from cql.ast import Query
from cql.normalize import normalize_report
from cql.parser import parse_syntax
from cql.validate import validate
from index.core import docsets
from index.core.compiler import Catalog, Compiler, SearchScope
from index.core.context import SearchContext
from index.core.docsets import DocSet
from index.engine import MAX_LIMIT, SearchResult
from index.security.callers import AnonymousCaller, AppCaller, UserCaller
from index.security.policy import Policy, anonymous_blocked_spaces, blocked_spaces

Caller = UserCaller | AppCaller | AnonymousCaller
STAGES = ("parse", "validate", "normalize", "compile", "search")


@dataclass
class Settings:
    """Everything besides the query text that decides what a search returns."""

    caller: Caller | None = None
    context: SearchContext = field(default_factory=SearchContext)
    dialect: str = "strict"
    strict_scopes: bool = False
    limit: int = 10
    #: Policy id -> the ``active`` flag to pretend it has (in memory only).
    overrides: dict[str, bool] = field(default_factory=dict)


@dataclass
class Outcome:
    """A query that ran, with every intermediate the REPL may be asked about later."""

    text: str
    parsed: Query
    query: Query  # normalized
    fired: list[str]
    canonical: str
    scope: SearchScope
    compiler: Compiler
    hits: DocSet
    total: int
    start: int
    results: list[SearchResult]
    docnums: list[int]
    timings: dict[str, float]


def effective_policies(engine: Any, overrides: Mapping[str, bool]) -> list[Policy]:
    """The store's policies with the what-if switches applied."""
    return [p.model_copy(update={"active": overrides[p.id]}) if p.id in overrides else p
            for p in engine.policy_layer().store.list()]


def scope_for(engine: Any, settings: Settings) -> SearchScope:
    """The caller's scope as the engine computes it, then the policy mask recomputed when
    what-if switches are on. The engine's call comes first either way: it also refuses a
    token without search scopes and an app without the user's grant."""
    caller = settings.caller
    scope: SearchScope = engine.scope_for(caller, settings.strict_scopes)
    if not settings.overrides or caller is None or isinstance(caller, UserCaller):
        return scope
    layer = engine.policy_layer()
    policies = effective_policies(engine, settings.overrides)
    keys = list(engine.spaces)
    if isinstance(caller, AppCaller):
        hidden = blocked_spaces(caller.app_id, policies, layer.store.apps, keys)
    else:
        hidden = anonymous_blocked_spaces(policies, keys)
    return replace(scope, hidden_spaces=hidden)


def run(engine: Any, text: str, settings: Settings, start: int = 0) -> Outcome:
    """Run ``text`` stage by stage; raises :class:`cql.CqlError` or ``EngineError``."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now

    parsed = parse_syntax(text)
    lap("parse")
    validate(parsed, text, settings.dialect)
    lap("validate")
    query, fired = normalize_report(parsed)
    canonical = cql.to_cql(query)
    lap("normalize")
    scope = scope_for(engine, settings)
    snap = engine.store.snapshot()
    compiler = Compiler(snap, Catalog(engine.spaces, engine.users), scope, settings.context)
    try:
        hits = compiler.run(query)
    except cql.CqlError as err:
        raise err.with_query(text) from None
    total = docsets.count(hits)
    lap("compile")
    limit = max(1, min(settings.limit, MAX_LIMIT))
    page = engine.page(compiler, query, hits, start, limit, excerpt="none")
    results = [result for _, result in page]
    lap("search")
    return Outcome(text=text, parsed=parsed, query=query, fired=fired, canonical=canonical,
                   scope=scope, compiler=compiler, hits=hits, total=total, start=start,
                   results=results, docnums=[d for d, _ in page], timings=timings)
