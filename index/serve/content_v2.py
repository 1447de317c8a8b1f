"""v2 content, spaces and data policies under ``/wiki/api/v2``.

Lists page with cursors (``_links.next`` and an RFC 8288 ``Link`` header, as Cloud does).
For content the cursor is the engine's own, bound to the query, the caller and the
statuses; for spaces (not content, exempt from the app access rule) it is an offset.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from index.security.callers import AnonymousCaller, AppCaller
from index.serve import params as P
from index.serve.access import ALL_STATUSES, space_id
from index.serve.context import Call
from index.serve.errors import ApiError, bad_request
from index.serve.render import item_v2, label_v2, properties_v2, space_v2

V2 = "/wiki/api/v2"
MAX_V2_LIMIT = 250
#: Route segment -> content type.
KINDS = {"pages": "page", "blogposts": "blogpost", "embeds": "embed", "databases": "database",
         "folders": "folder", "whiteboards": "whiteboard"}


def listing(call: Call, path: str, results: list[Any], cursor: str | None) -> JSONResponse:
    links: dict[str, str] = {"base": call.base}
    headers = {}
    if cursor:
        carried = [(k, v) for k, v in call.params.multi_items() if k != "cursor"]
        nxt = f"{path}?{urlencode([*carried, ('cursor', cursor)])}"
        links["next"] = nxt
        headers["Link"] = f'<{nxt}>; rel="next", <{call.base}>; rel="base"'
    return JSONResponse({"results": results, "_links": links}, headers=headers)


def v2_limit(call: Call) -> int:
    return P.integer(call.params, "limit", 25, MAX_V2_LIMIT) or 1


def _statuses(call: Call) -> tuple[str, ...]:
    return P.statuses(call.params, ("current",))


def _parent_types(call: Call, docs: list[dict[str, Any]]) -> dict[str, str]:
    parents = sorted({d["parent_id"] for d in docs if d.get("parent_id")})
    return {p["id"]: p["type"] for p in call.reader.visible(call.caller, parents)}


def _render(call: Call, docs: list[dict[str, Any]], single: bool = False
            ) -> list[dict[str, Any]]:
    """v2 records; a single record (a GET by id) honours ``include-labels`` and
    ``include-properties``, as Confluence's do."""
    parent_types = _parent_types(call, docs)
    body_format = call.params.get("body-format")
    labels = single and P.boolean(call.params, "include-labels")
    properties = single and P.boolean(call.params, "include-properties")
    return [item_v2(d, version=call.writer.versions.of(d),
                    parent_type=parent_types.get(d.get("parent_id") or ""),
                    body_format=body_format, include_labels=labels,
                    include_properties=properties) for d in docs]


def _space_keys_for_ids(call: Call, ids: list[str]) -> list[str]:
    by_id = {space_id(s.key): s.key for s in call.engine.spaces.values()}
    return [by_id[i] for i in ids if i in by_id]


async def list_items(call: Call) -> JSONResponse:
    """``GET /pages`` and ``GET /blogposts``."""
    segment = call.request.url.path.rsplit("/", 1)[-1]
    kind = KINDS[segment]
    clauses = [f"type = {kind}"]
    space_ids = [s for v in call.params.getlist("space-id") for s in v.split(",") if s]
    if space_ids:
        keys = _space_keys_for_ids(call, space_ids)
        if not keys:
            return listing(call, f"{V2}/{segment}", [], None)
        clauses.append("space in (" + ", ".join(f'"{k}"' for k in keys) + ")")
    text = " and ".join(clauses) + " order by id"
    found = call.reader.find(text, call.caller, statuses=_statuses(call), limit=v2_limit(call),
                             cursor=call.params.get("cursor") or None)
    title = call.params.get("title")
    docs = [d for d in found.docs if title is None or d["title"] == title]
    return listing(call, f"{V2}/{segment}", _render(call, docs), found.page.next)


async def get_item(call: Call) -> JSONResponse:
    segment = call.request.url.path.split("/")[4]
    doc = call.reader.get(call.caller, call.request.path_params["id"], types=[KINDS[segment]],
                          statuses=ALL_STATUSES)
    return JSONResponse(_render(call, [doc], single=True)[0])


async def properties(call: Call) -> JSONResponse:
    """``GET /{pages,blogposts,whiteboards,databases,embeds,folders}/{id}/properties``."""
    segment = call.request.url.path.split("/")[4]
    item_id = call.request.path_params["id"]
    doc = call.reader.get(call.caller, item_id, types=[KINDS[segment]], statuses=ALL_STATUSES)
    rows = properties_v2(doc)
    key = call.params.get("key")
    if key is not None:
        rows = [r for r in rows if r["key"] == key]
    start, limit = open_offset(call.params.get("cursor")), v2_limit(call)
    more = offset_cursor(start + limit) if start + limit < len(rows) else None
    return listing(call, f"{V2}/{segment}/{item_id}/properties", rows[start:start + limit],
                    more)


async def children(call: Call) -> JSONResponse:
    item_id = call.request.path_params["id"]
    call.reader.get(call.caller, item_id, types=["page"], statuses=ALL_STATUSES)
    found = call.reader.find(f"parent = {item_id} and type = page order by id", call.caller,
                             limit=v2_limit(call), cursor=call.params.get("cursor") or None)
    results = [{"id": d["id"], "status": d["status"], "title": d["title"],
                "spaceId": space_id(d["space"]), "childPosition": None} for d in found.docs]
    return listing(call, f"{V2}/pages/{item_id}/children", results, found.page.next)


async def ancestors(call: Call) -> JSONResponse:
    doc = call.reader.get(call.caller, call.request.path_params["id"], types=["page"],
                          statuses=ALL_STATUSES)
    shown = call.reader.visible(call.caller, doc.get("ancestors", []))
    return JSONResponse({"results": [{"id": a["id"], "type": a["type"]} for a in shown],
                         "_links": {"base": call.base}})


async def labels(call: Call) -> JSONResponse:
    segment = call.request.url.path.split("/")[4]
    doc = call.reader.get(call.caller, call.request.path_params["id"], types=[KINDS[segment]],
                          statuses=ALL_STATUSES)
    return JSONResponse({"results": [label_v2(n) for n in doc.get("labels", [])],
                         "_links": {"base": call.base}})


# --- writes -----------------------------------------------------------------------------------


def _text(body: dict[str, Any], name: str, required: bool = False) -> str | None:
    """A string field of a v2 body; v2 ids (``spaceId``, ``parentId``) may be integers."""
    return P.body_string(body, name, required, numbers=True)


def _body_value(body: dict[str, Any]) -> str | None:
    content = body.get("body")
    if content is None:
        return None
    if not isinstance(content, dict) or not isinstance(content.get("value", ""), str):
        raise bad_request('body must be {"representation": "storage", "value": "..."}')
    if content.get("representation", "storage") != "storage":
        raise bad_request("only the storage body representation is supported")
    return str(content.get("value", ""))


async def create_item(call: Call) -> JSONResponse:
    segment = call.request.url.path.rsplit("/", 1)[-1]
    kind = KINDS[segment]
    body = P.json_body(await call.request.body())
    key = call.writer.space_key(call.caller, sid=_text(body, "spaceId", True))
    parent = _text(body, "parentId") if kind != "blogpost" else None
    title = _text(body, "title", kind in ("page", "blogpost")) or f"Untitled {kind}"
    new_id = call.writer.create(call.caller, kind=kind, space=key, title=title,
                                body=_body_value(body) or "", parent_id=parent,
                                status=_text(body, "status") or "current",
                                url=_text(body, "embedUrl") if kind == "embed" else None)
    doc = call.reader.get(call.caller, new_id, statuses=ALL_STATUSES)
    return JSONResponse(_render(call, [doc])[0])


async def update_item(call: Call) -> JSONResponse:
    segment = call.request.url.path.split("/")[4]
    item_id = call.request.path_params["id"]
    doc = call.reader.get(call.caller, item_id, types=[KINDS[segment]], statuses=ALL_STATUSES)
    body = P.json_body(await call.request.body())
    version = body.get("version")
    number = version.get("number") if isinstance(version, dict) else None
    if not isinstance(number, int) or isinstance(number, bool):
        raise bad_request("version.number is required")
    status = _text(body, "status")
    if status is not None and status not in ("current", "draft", "archived"):
        raise bad_request(f"status must be current, draft or archived, got {status!r}")
    changes = {"title": _text(body, "title"), "body": _body_value(body), "status": status,
               "parent_id": _text(body, "parentId") if segment == "pages" else None}
    call.writer.update(call.caller, doc, version=number, changes=changes)
    fresh = call.reader.get(call.caller, item_id, statuses=ALL_STATUSES)
    return JSONResponse(_render(call, [fresh])[0])


async def delete_item(call: Call) -> Response:
    segment = call.request.url.path.split("/")[4]
    doc = call.reader.get(call.caller, call.request.path_params["id"], types=[KINDS[segment]],
                          statuses=ALL_STATUSES)
    call.writer.delete(doc, purge=P.boolean(call.params, "purge"))
    return Response(status_code=204)


# --- spaces and data policies ----------------------------------------------------------------


def offset_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def open_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith("o:") and text[2:].isdigit():
            return int(text[2:])
    except ValueError:
        pass
    raise bad_request("the cursor is not valid")


def visible_spaces(call: Call) -> list[Any]:
    """Spaces are exempt from the app access rule; an anonymous caller does not see the
    spaces a policy closes to anonymous access."""
    spaces = list(call.engine.spaces.values())
    if isinstance(call.caller, AnonymousCaller):
        closed = call.engine.policy_layer().anonymous_hidden()
        spaces = [s for s in spaces if s.key not in closed]
    return spaces


async def list_spaces(call: Call) -> JSONResponse:
    params = call.params
    ids = {s for v in params.getlist("ids") for s in v.split(",") if s}
    keys = {s for v in params.getlist("keys") for s in v.split(",") if s}
    spaces = [s for s in visible_spaces(call)
              if (not ids or space_id(s.key) in ids) and (not keys or s.key in keys)
              and (not params.get("type") or s.type == params["type"])
              and (not params.get("status") or s.status == params["status"])]
    start, limit = open_offset(params.get("cursor")), v2_limit(call)
    shown = spaces[start:start + limit]
    more = offset_cursor(start + limit) if start + limit < len(spaces) else None
    labels = P.boolean(params, "include-labels")
    return listing(call, f"{V2}/spaces", [space_v2(s, include_labels=labels) for s in shown],
                    more)


async def get_space(call: Call) -> JSONResponse:
    sid = call.request.path_params["id"]
    space = next((s for s in visible_spaces(call) if space_id(s.key) == sid), None)
    if space is None:
        raise ApiError(404, f"No space found with id: {sid}", "NOT_FOUND")
    return JSONResponse(space_v2(space, include_labels=P.boolean(call.params,
                                                                 "include-labels")))


def _blocked(call: Call) -> frozenset[str]:
    if not isinstance(call.caller, AppCaller):
        return frozenset()
    return call.engine.policy_layer().hidden_for_app(call.caller.app_id)


async def policy_metadata(call: Call) -> JSONResponse:
    return JSONResponse({"anyContentBlocked": bool(_blocked(call))})


async def policy_spaces(call: Call) -> JSONResponse:
    blocked = _blocked(call)
    start, limit = open_offset(call.params.get("cursor")), v2_limit(call)
    spaces = visible_spaces(call)
    shown = spaces[start:start + limit]
    results = [{"id": space_id(s.key), "key": s.key, "name": s.name,
                "description": {"plain": {"value": s.description, "representation": "plain"}},
                "dataPolicy": {"anyContentBlocked": s.key in blocked},
                "_links": {"webui": f"/spaces/{s.key}"}} for s in shown]
    more = offset_cursor(start + limit) if start + limit < len(spaces) else None
    return listing(call, f"{V2}/data-policies/spaces", results, more)
