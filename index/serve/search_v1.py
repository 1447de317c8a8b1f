"""``GET /wiki/rest/api/search`` and ``GET /wiki/rest/api/content/search``.

Both run the CQL through ``Engine.search`` for the caller; the response envelope, paging
links and result objects follow Confluence Cloud (sources.md, CQL 10.1-10.2). The ``next``
link carries the engine's cursor, which is bound to the query, the caller and the context,
so it cannot page another caller's results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from index.serve import params as P
from index.serve.context import Call
from index.serve.errors import bad_request
from index.serve.render import content_v1, search_result_v1
from index.serve.responses import JSONResponse

EXCERPTS = ("highlight", "indexed", "none", "highlight_unescaped", "indexed_unescaped")
#: Query parameters a ``next`` link repeats (so the cursor's binding matches again).
CARRIED = ("cql", "cqlcontext", "excerpt", "expand", "includeArchivedSpaces",
           "excludeCurrentSpaces")


def _limit_for(expand: set[str]) -> int:
    """Confluence's caps: 50 with a body expansion, 1000 otherwise (sources.md, CQL 10.1)."""
    return 50 if any(".body" in e or e.startswith("body") for e in expand) else P.MAX_LIMIT


def _run(call: Call) -> tuple[Any, str, set[str], int]:
    params = call.params
    text = P.required(params, "cql")
    expand = P.expand(params)
    limit = P.integer(params, "limit", 25, _limit_for(expand))
    start = P.integer(params, "start", 0)
    excerpt = params.get("excerpt") or "highlight"
    if excerpt not in EXCERPTS:
        raise bad_request(f"excerpt must be one of {', '.join(EXCERPTS)}, got {excerpt!r}")
    context = P.search_context(params, call.reader.now())
    cursor = params.get("cursor") or None
    page = call.reader.search(text, call.caller, context=context, start=start, limit=limit,
                              cursor=cursor, excerpt=excerpt)
    return page, text, expand, limit


def _links(call: Call, path: str, page: Any, limit: int) -> dict[str, str]:
    links = {"base": call.base, "context": "/wiki",
             "self": f"{call.base}{path}?{call.request.url.query}".rstrip("?")}
    if page.next:
        carried = [(k, v) for k in CARRIED for v in call.params.getlist(k)]
        query = urlencode([("next", "true"), ("cursor", page.next), ("limit", limit),
                           ("start", page.start + page.size), *carried])
        links["next"] = f"{path}?{query}"
    return links


def _content(call: Call, doc: dict[str, Any], expand: set[str],
             versions: Mapping[str, int], webui: str | None = None) -> dict[str, Any]:
    engine = call.engine
    ancestors = (call.reader.visible(call.caller, doc.get("ancestors", []))
                 if "ancestors" in {e.split(".")[0] for e in expand} else None)
    return content_v1(doc, call.base, expand, spaces=engine.spaces, users=engine.users,
                      version=call.writer.versions.of(doc, versions), ancestors=ancestors,
                      webui=webui)


async def search(call: Call) -> JSONResponse:
    page, _, expand, limit = _run(call)
    inner = {e.removeprefix("content.") for e in expand if e.startswith("content.")}
    versions = call.writer.versions.recorded()
    results = []
    for r, doc in zip(page.results, call.reader.docs_of(page), strict=True):
        if r.entityType != "content":
            doc = None
        content = _content(call, doc, inner, versions, r.url) if doc is not None else None
        results.append(search_result_v1(r, doc, content, call.engine.spaces, call.base))
    return JSONResponse({
        "results": results, "start": page.start, "limit": page.limit, "size": len(results),
        "totalSize": page.totalSize, "cqlQuery": page.cqlQuery,
        "searchDuration": page.searchDuration,
        "_links": _links(call, "/rest/api/search", page, limit)})


async def content_search(call: Call) -> JSONResponse:
    page, _, expand, limit = _run(call)
    docs, versions = call.reader.docs_of(page), call.writer.versions.recorded()
    results = [_content(call, d, expand, versions, r.url)
               for r, d in zip(page.results, docs, strict=True)
               if r.entityType == "content" and d is not None]
    return JSONResponse({
        "results": results, "start": page.start, "limit": page.limit, "size": len(results),
        "totalSize": page.totalSize, "cqlQuery": page.cqlQuery,
        "searchDuration": page.searchDuration,
        "_links": _links(call, "/rest/api/content/search", page, limit)})
