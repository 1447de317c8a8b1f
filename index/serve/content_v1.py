"""v1 content and spaces: ``/wiki/rest/api/content[/{id}[/child/page]]``, ``/space[/{key}]``.

Lists page by ``start``/``limit`` like Confluence's v1 API; every list and lookup is a CQL
search run for the caller (``access.Reader``), so hidden items never show, nor count.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from index.serve import params as P
from index.serve.access import ALL_STATUSES, quote
from index.serve.content_v2 import visible_spaces
from index.serve.context import Call
from index.serve.errors import ApiError, bad_request
from index.serve.render import content_v1, history_v1, space_v1

V1_TYPES = ("page", "blogpost")
WRITE_EXPAND = {"body.storage", "version", "space", "history", "ancestors"}
BY_ID_STATUSES = ("current", "archived")


def render(call: Call, doc: dict[str, Any], expand: set[str]) -> dict[str, Any]:
    tops = {e.split(".")[0] for e in expand}
    reader = call.reader
    ancestors = reader.visible(call.caller, doc.get("ancestors", [])) \
        if "ancestors" in tops else None
    children = None
    if "children" in tops:
        children = reader.find(f"parent = {doc['id']} and type = page order by id",
                               call.caller, limit=200).docs
    container = None
    if "container" in tops and doc.get("container_id"):
        found = reader.visible(call.caller, [doc["container_id"]])
        container = found[0] if found else None
    return content_v1(doc, call.base, expand, spaces=call.engine.spaces,
                      users=call.engine.users, version=call.writer.versions.of(doc),
                      ancestors=ancestors, children=children, container=container)


def _page(call: Call, path: str, docs: list[dict[str, Any]], start: int, limit: int,
          total: int, expand: set[str]) -> JSONResponse:
    links = {"base": call.base, "context": "/wiki",
             "self": f"{call.base}{path}?{call.request.url.query}".rstrip("?")}
    if start + len(docs) < total:
        carried = [(k, v) for k, v in call.params.multi_items() if k not in ("start", "limit")]
        query = urlencode([*carried, ("start", start + len(docs)), ("limit", limit)])
        links["next"] = f"{path}?{query}"
    return JSONResponse({"results": [render(call, d, expand) for d in docs], "start": start,
                         "limit": limit, "size": len(docs), "_links": links})


async def list_content(call: Call) -> JSONResponse:
    params = call.params
    kind = params.get("type") or "page"
    if kind not in V1_TYPES:
        raise bad_request(f"type must be page or blogpost, got {kind!r}")
    start = P.integer(params, "start", 0)
    limit = P.integer(params, "limit", 25, P.MAX_LIMIT) or 1
    expand = P.expand(params)
    clauses = [f"type = {kind}"]
    if params.get("spaceKey"):
        clauses.append(f"space = {quote(params['spaceKey'])}")
    title = params.get("title")
    if title:
        clauses.append(f"title = {quote(title)}")
    text = " and ".join(clauses) + " order by id"
    statuses = P.statuses(params)
    if title:  # CQL's title = matches words; the v1 filter wants the exact title
        found = call.reader.find(text, call.caller, statuses=statuses, limit=P.MAX_LIMIT)
        exact = [d for d in found.docs if d["title"] == title]
        return _page(call, "/rest/api/content", exact[start:start + limit], start, limit,
                     len(exact), expand)
    found = call.reader.find(text, call.caller, statuses=statuses, start=start, limit=limit)
    return _page(call, "/rest/api/content", found.docs, start, limit, found.page.totalSize,
                 expand)


async def get_content(call: Call) -> JSONResponse:
    item_id = call.request.path_params["id"]
    doc = call.reader.get(call.caller, item_id,
                          statuses=P.statuses(call.params, BY_ID_STATUSES))
    return JSONResponse(render(call, doc, P.expand(call.params)))


async def history(call: Call) -> JSONResponse:
    doc = call.reader.get(call.caller, call.request.path_params["id"], statuses=ALL_STATUSES)
    return JSONResponse(history_v1(doc, call.engine.users,
                                   call.writer.versions.of(doc)))


async def child_pages(call: Call) -> JSONResponse:
    item_id = call.request.path_params["id"]
    call.reader.get(call.caller, item_id)
    start = P.integer(call.params, "start", 0)
    limit = P.integer(call.params, "limit", 25, P.MAX_LIMIT) or 1
    found = call.reader.find(f"parent = {item_id} and type = page order by id", call.caller,
                             start=start, limit=limit)
    return _page(call, f"/rest/api/content/{item_id}/child/page", found.docs, start, limit,
                 found.page.totalSize, P.expand(call.params))


def _storage(body: dict[str, Any]) -> str | None:
    content = body.get("body")
    if content is None:
        return None
    if not isinstance(content, dict):
        raise bad_request("body must be an object such as {\"storage\": {\"value\": ...}}")
    storage = content.get("storage") or content.get("editor") or {}
    if not isinstance(storage, dict) or not isinstance(storage.get("value", ""), str):
        raise bad_request("body.storage.value must be a string")
    return str(storage.get("value", ""))


def _parent(body: dict[str, Any]) -> str | None:
    ancestors = body.get("ancestors")
    if not ancestors:
        return None
    if not isinstance(ancestors, list) or not isinstance(ancestors[-1], dict):
        raise bad_request("ancestors must be a list of {\"id\": ...}")
    return str(ancestors[-1].get("id"))


async def create_content(call: Call) -> JSONResponse:
    body = P.json_body(await call.request.body())
    kind = P.body_string(body, "type", True)
    if kind not in V1_TYPES:
        raise bad_request(f"type must be page or blogpost, got {kind!r}")
    title = P.body_string(body, "title", True)
    space = body.get("space")
    if not isinstance(space, dict) or not isinstance(space.get("key"), str):
        raise bad_request("space.key is required")
    key = call.writer.space_key(call.caller, key=space["key"])
    parent = _parent(body) if kind == "page" else None
    new_id = call.writer.create(call.caller, kind=kind, space=key, title=str(title),
                                body=_storage(body) or "", parent_id=parent,
                                status=P.body_string(body, "status") or "current")
    doc = call.reader.get(call.caller, new_id, statuses=ALL_STATUSES)
    return JSONResponse(render(call, doc, WRITE_EXPAND))


async def update_content(call: Call) -> JSONResponse:
    item_id = call.request.path_params["id"]
    doc = call.reader.get(call.caller, item_id, types=V1_TYPES)
    body = P.json_body(await call.request.body())
    version = body.get("version")
    number = version.get("number") if isinstance(version, dict) else None
    if not isinstance(number, int):
        raise bad_request("version.number is required to update content")
    kind = P.body_string(body, "type")
    if kind is not None and kind != doc["type"]:
        raise bad_request(f"cannot change the type of content {item_id} from {doc['type']} "
                          f"to {kind}")
    status = P.body_string(body, "status")
    if status is not None and status not in ("current", "draft", "archived"):
        raise bad_request(f"status must be current, draft or archived, got {status!r}")
    changes = {"title": P.body_string(body, "title"), "body": _storage(body), "status": status,
               "parent_id": _parent(body) if doc["type"] == "page" else None}
    call.writer.update(call.caller, doc, version=number, changes=changes)
    fresh = call.reader.get(call.caller, item_id, statuses=ALL_STATUSES)
    return JSONResponse(render(call, fresh, WRITE_EXPAND))


async def delete_content(call: Call) -> Response:
    """Trash the item, or with ``status=trashed`` purge it from the trash (Confluence's
    v1 contract: the status names the item's current status)."""
    item_id = call.request.path_params["id"]
    doc = call.reader.get(call.caller, item_id, statuses=ALL_STATUSES)
    P.statuses(call.params)  # an unknown status is a 400
    call.writer.delete(doc, purge=call.params.get("status") == "trashed")
    return Response(status_code=204)


async def list_spaces(call: Call) -> JSONResponse:
    start = P.integer(call.params, "start", 0)
    limit = P.integer(call.params, "limit", 25, P.MAX_LIMIT) or 1
    keys = call.params.getlist("spaceKey")
    spaces = [s for s in visible_spaces(call) if not keys or s.key in keys]
    shown = spaces[start:start + limit]
    links = {"base": call.base, "context": "/wiki",
             "self": f"{call.base}/rest/api/space"}
    if start + len(shown) < len(spaces):
        query = urlencode({"start": start + len(shown), "limit": limit})
        links["next"] = f"/rest/api/space?{query}"
    return JSONResponse({"results": [space_v1(s, call.base) for s in shown], "start": start,
                         "limit": limit, "size": len(shown), "_links": links})


async def get_space(call: Call) -> JSONResponse:
    key = call.request.path_params["spaceKey"]
    space = next((s for s in visible_spaces(call) if s.key.casefold() == key.casefold()),
                 None)
    if space is None:
        raise ApiError(404, f"No space found with key: {key}", "NOT_FOUND")
    return JSONResponse(space_v1(space, call.base))
