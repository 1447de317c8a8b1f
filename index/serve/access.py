"""Every content read, through ``Engine.search`` with the caller of the request.

Nothing here reads the index around the engine's mask: an item is looked up by running
``id = N`` (or ``parent = N``, ``space = K and type = page``, ...) as CQL for the caller, and
only the ids the search returned are then read from the snapshot to render their fields.
So an item a policy blocks or a scope hides is missing from every read, list and count in
exactly the way it is missing from a search.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cql
from index.core.context import SearchContext
from index.core.documents import load_doc
from index.engine import Engine, SearchPage
from index.errors import EngineError
from index.serve.errors import SCOPE_MESSAGE, ApiError, bad_request, not_found

ALL_STATUSES = ("current", "draft", "archived", "trashed")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def quote(value: str) -> str:
    """A CQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def space_id(key: str) -> str:
    """A stable numeric v2 id for a space key (the site format has no space ids)."""
    return str(int(hashlib.sha256(key.casefold().encode()).hexdigest()[:12], 16))


def engine_error(err: EngineError) -> ApiError:
    """An engine refusal as an HTTP error (scope problems are the gateway's 401)."""
    if err.code == "scope":
        return ApiError(401, SCOPE_MESSAGE, "UNAUTHORIZED")
    if err.code in ("no_grant", "permission"):
        return ApiError(403, err.message, "FORBIDDEN")
    return bad_request(err.message, code=err.code)


def cql_error(err: cql.CqlError) -> ApiError:
    info = err.to_dict()
    return ApiError(400, f"Could not parse cql : {err.query}: {str(err).splitlines()[0]}",
                    "INVALID_CQL", {"cqlError": info})


@dataclass
class Found:
    page: SearchPage
    docs: list[dict[str, Any]]


class Reader:
    """Masked reads for one engine."""

    def __init__(self, engine: Engine, strict_scopes: bool = False,
                 now: datetime | None = None) -> None:
        self.engine = engine
        self.strict_scopes = strict_scopes
        self.fixed_now = now

    def now(self) -> datetime:
        """The clock of ``now()`` and friends: fixed with ``cql serve --now``, else real
        (to the millisecond, the precision a paging cursor carries it with)."""
        if self.fixed_now is not None:
            return self.fixed_now
        moment = datetime.now(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def search(self, text: str, caller: Any, *, context: SearchContext | None = None,
               start: int = 0, limit: int = 25, cursor: str | None = None,
               excerpt: str = "none", search_scope: bool = True) -> SearchPage:
        """A CQL search for ``caller``. ``search_scope=False`` for the content reads of
        other operations, whose scopes the route has checked (``Engine.search``)."""
        context = context or SearchContext(now=self.now())
        if cursor is not None:
            # The engine binds its cursor to the whole context, clock included: the clock of
            # the first page travels in the cursor so that later pages use the same instant.
            cursor, _, millis = cursor.rpartition(".")
            if not millis.isdigit() or len(millis) > 15:
                raise bad_request("the cursor is not valid for this query and caller",
                                  code="bad_cursor")
            context = context.model_copy(update={"now": EPOCH + timedelta(
                milliseconds=int(millis))})
        try:
            page = self.engine.search(text, caller=caller, context=context, start=start,
                                      limit=limit, cursor=cursor, excerpt=excerpt,
                                      strict_scopes=self.strict_scopes,
                                      search_scope=search_scope)
            if page.next is not None:
                millis = (context.now - EPOCH) // timedelta(milliseconds=1)
                page = page.model_copy(update={"next": f"{page.next}.{millis}"})
            return page
        except cql.CqlError as err:
            raise cql_error(err) from None
        except EngineError as err:
            raise engine_error(err) from None

    def find(self, text: str, caller: Any, *, statuses: Sequence[str] = ("current",),
             start: int = 0, limit: int = 25, cursor: str | None = None) -> Found:
        """One page of the items ``text`` matches for ``caller``, with their stored fields."""
        context = SearchContext(content_statuses=tuple(statuses), include_archived_spaces=True,
                                now=self.now())
        page = self.search(text, caller, context=context, start=start, limit=limit,
                           cursor=cursor, search_scope=False)
        return Found(page, [d for d in self.docs_of(page) if d is not None])

    def docs_of(self, page: SearchPage) -> list[dict[str, Any] | None]:
        """Stored fields of the results of a masked search, one per result in order (None
        for a result gone meanwhile): the items the engine decoded to render them, read
        again only when the page does not carry them."""
        docs = page.stored_docs()
        if docs is not None and len(docs) == len(page.results):
            return list(docs)
        out: list[dict[str, Any] | None] = []
        for result in page.results:
            found = self.stored([result.id])
            out.append(found[0] if found else None)
        return out

    def stored(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """Stored fields of ids a masked search just returned (never of other ids)."""
        snap = self.engine.store.snapshot()
        out = []
        for item_id in ids:
            num = snap.docnum_of(item_id)  # not the map of every id: 0.25 s after a write
            if num is not None:
                out.append(load_doc(snap.stored(num)))
        return out

    def get(self, caller: Any, item_id: str, types: Iterable[str] | None = None,
            statuses: Sequence[str] = ALL_STATUSES) -> dict[str, Any]:
        """The item ``item_id`` if ``caller`` may see it (and it has one of ``types``),
        else the same 404 as for an id that does not exist."""
        if not item_id.isdigit() or len(item_id) > 18:
            raise not_found(item_id)
        text = f"id = {item_id}"
        if types is not None:
            text += f" and type in ({', '.join(types)})"
        found = self.find(text, caller, statuses=statuses, limit=1)
        if not found.docs:
            raise not_found(item_id)
        return found.docs[0]

    def visible(self, caller: Any, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Those of ``ids`` the caller may see, in the order given (for ancestors)."""
        wanted = [i for i in ids if i.isdigit()]
        if not wanted:
            return []
        found = self.find(f"id in ({', '.join(wanted)})", caller, statuses=ALL_STATUSES,
                          limit=len(wanted))
        by_id = {d["id"]: d for d in found.docs}
        return [by_id[i] for i in wanted if i in by_id]
