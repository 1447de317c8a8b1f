"""The engines a run compares, behind one small interface.

Each target answers a ``MixQuery`` two ways:

- ``timed(query, limit) -> (total, first ids)``: what a user's search costs: the first
  page of ``limit`` hits and the exact total, as ``engine.search`` returns them;
- ``hits(query) -> ids``: every hit, for the agreement check (in ORDER BY order when the
  query has one; otherwise the order is not compared).

Callers: ``user`` queries run as the corpus's top user; ``app`` queries run as the blocked
app acting for its user; ``operator`` queries run with no caller (no mask at all), the
yardstick for what view permissions cost. The engine decides the app's mask itself
(``index.security.enforcement``); the baselines are given the spaces the site's policies
block for that app, computed with the pure decision function
``index.security.policy.blocked_spaces`` from the site's files.

View permissions (docs/permissions.md): the baselines know nothing of them, so their hit
lists are filtered by the reference evaluator's item-by-item decision
(``index.reference.evaluator.ReferenceAccess``), and the reference target is given the
caller. The filtering happens after a baseline's full hit list is fetched, so a baseline's
timing for a permission-filtered caller includes fetching every hit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from benchmarks.queries import MixQuery
from index.core.context import SearchContext

ENGINE_NAMES = ("cql-search", "whoosh-naive", "sqlite-fts5", "tantivy", "reference")
#: Engines that need an optional package (the ``bench`` extra): skipped with a message when absent.
OPTIONAL = {"tantivy": "tantivy"}
#: Largest page the engine serves (``index.engine.MAX_LIMIT``); the agreement check pages
#: through every hit with it.
PAGE = 1000


@dataclass(frozen=True)
class Callers:
    """Who runs the mix, from the corpus manifest and the site's policy files."""

    user: str
    app_id: str
    app_kind: str
    app_scopes: frozenset[str]
    app_user: str
    app_hidden: frozenset[str]

    def account(self, query: MixQuery) -> str | None:
        if query.caller == "operator":
            return None
        return self.app_user if query.caller == "app" else self.user

    def caller(self, query: MixQuery) -> Any:
        """The engine's caller object for ``query`` (None for the operator)."""
        from index.security.callers import AppCaller, UserCaller

        if query.caller == "operator":
            return None
        if query.caller == "app":
            return AppCaller(app_id=self.app_id, kind=self.app_kind,  # type: ignore[arg-type]
                             scopes=self.app_scopes, acting_for=self.app_user)
        return UserCaller(account_id=self.user)

    def hidden(self, query: MixQuery) -> frozenset[str]:
        return self.app_hidden if query.caller == "app" else frozenset()


def load_callers(site_dir: Path, manifest: dict[str, Any]) -> Callers:
    from index.security.policy import blocked_spaces, parse_apps, parse_policies

    app = manifest["blocked_app"]

    def read(name: str) -> Any:
        path = site_dir / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []

    keys = [
        json.loads(line)["key"]
        for line in (site_dir / "spaces.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    hidden = blocked_spaces(
        app["app_id"], parse_policies(read("policies.json")), parse_apps(read("apps.json")), keys
    )
    return Callers(
        user=manifest["params"]["user_top"],
        app_id=app["app_id"],
        app_kind=app["kind"],
        app_scopes=frozenset(app["scopes"]),
        app_user=app["acting_for"],
        app_hidden=frozenset(hidden),
    )


class Target(Protocol):
    name: str

    def timed(self, query: MixQuery, limit: int) -> tuple[int, list[str]]: ...

    def hits(self, query: MixQuery) -> list[str]: ...

    def close(self) -> None: ...


class CqlSearchTarget:
    """The engine under test, through its public API only."""

    name = "cql-search"

    def __init__(self, index_dir: Path, callers: Callers, context: SearchContext,
                 excerpt: str = "none") -> None:
        from index.engine import Engine

        self.engine = Engine.open(index_dir)
        self.callers = callers
        self.context = context
        self.excerpt = excerpt

    def _caller(self, query: MixQuery) -> Any:
        return self.callers.caller(query)

    def timed(self, query: MixQuery, limit: int) -> tuple[int, list[str]]:
        page = self.engine.search(query.cql, caller=self._caller(query), context=self.context,
                                  limit=limit, excerpt=self.excerpt)
        return page.totalSize, [r.id for r in page.results]

    def hits(self, query: MixQuery) -> list[str]:
        caller = self._caller(query)
        ids: list[str] = []
        start = 0
        while True:
            page = self.engine.search(query.cql, caller=caller, context=self.context,
                                      limit=PAGE, start=start, excerpt="none")
            ids.extend(r.id for r in page.results)
            start += PAGE
            if start >= page.totalSize or not page.results:
                if len(ids) != page.totalSize:
                    raise AssertionError(
                        f"paged {len(ids)} hits but totalSize is {page.totalSize}")
                return ids

    def close(self) -> None:
        pass


class _BaselineTarget:
    """Adapts a baseline's ``timed``/``hits`` (text, account, context, hidden spaces)."""

    def __init__(self, impl: Any, callers: Callers, context: SearchContext,
                 site_dir: Path) -> None:
        self.impl = impl
        self.name: str = impl.name
        self.callers = callers
        self.context = context
        self.invisible = Invisible(site_dir, callers)

    def timed(self, query: MixQuery, limit: int) -> tuple[int, list[str]]:
        c = self.callers
        hidden = self.invisible(query)
        if not hidden:
            result: tuple[int, list[str]] = self.impl.timed(
                query.cql, c.account(query), self.context, c.hidden(query), limit)
            return result
        ids = self.hits(query)
        return len(ids), ids[:limit]

    def hits(self, query: MixQuery) -> list[str]:
        c = self.callers
        result: list[str] = self.impl.hits(
            query.cql, c.account(query), self.context, c.hidden(query))
        hidden = self.invisible(query)
        return [i for i in result if i not in hidden] if hidden else result

    def close(self) -> None:
        self.impl.close()


class Invisible:
    """The entity ids each caller may not view, decided by the reference evaluator's
    permission model item by item (computed once per caller, the site loaded once)."""

    def __init__(self, site_dir: Path, callers: Callers) -> None:
        self.site_dir = site_dir
        self.callers = callers
        self._site: Any = None
        self._by_caller: dict[str, frozenset[str]] = {}

    def __call__(self, query: MixQuery) -> frozenset[str]:
        caller = self.callers.caller(query)
        if caller is None:
            return frozenset()
        key = caller.fingerprint()
        if key not in self._by_caller:
            from index.reference.evaluator import ReferenceAccess
            from index.site.loader import load_site

            if self._site is None:
                self._site = load_site(self.site_dir)
            access = ReferenceAccess(self._site, caller)
            ids = [*self._site.content, *(f"space:{k}" for k in self._site.spaces)]
            self._by_caller[key] = frozenset(i for i in ids if not access.may_view(i))
        return self._by_caller[key]


class ReferenceTarget:
    """``index.reference.evaluator.ReferenceEvaluator`` over the site loaded in memory."""

    name = "reference"

    def __init__(self, site_dir: Path, callers: Callers, context: SearchContext) -> None:
        from index.reference.evaluator import ReferenceEvaluator
        from index.site.loader import load_site

        self.evaluator = ReferenceEvaluator(load_site(site_dir))
        self.callers = callers
        self.context = context

    def _run(self, query: MixQuery) -> list[str]:
        import cql

        c = self.callers
        ids: list[str] = self.evaluator.search(
            cql.parse(query.cql), account_id=c.account(query), context=self.context,
            hidden_spaces=c.hidden(query), caller=c.caller(query))
        return ids

    def timed(self, query: MixQuery, limit: int) -> tuple[int, list[str]]:
        ids = self._run(query)
        return len(ids), ids[:limit]

    def hits(self, query: MixQuery) -> list[str]:
        return self._run(query)

    def close(self) -> None:
        pass


def open_target(name: str, index_root: Path, site_dir: Path, callers: Callers,
                context: SearchContext, excerpt: str = "none") -> Target:
    """Open one engine's index (built by ``benchmarks.build_child``)."""
    if name == "cql-search":
        return CqlSearchTarget(index_root / name, callers, context, excerpt)
    if name == "whoosh-naive":
        from benchmarks.baseline_whoosh import NaiveWhoosh

        return _BaselineTarget(NaiveWhoosh(index_root / name), callers, context, site_dir)
    if name == "sqlite-fts5":
        from benchmarks.baseline_sqlite import SqliteFts

        return _BaselineTarget(SqliteFts(index_root / name), callers, context, site_dir)
    if name == "tantivy":
        from benchmarks.baseline_tantivy import Tantivy

        return _BaselineTarget(Tantivy(index_root / name), callers, context, site_dir)
    if name == "reference":
        return ReferenceTarget(site_dir, callers, context)
    raise ValueError(f"unknown engine {name!r}")
