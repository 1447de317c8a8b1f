"""v2 attachments and comments: the site-wide lists, the lists of one page or blog post,
single records, their version details and attachment labels.

Like every read, each list is a CQL search for the caller (``type = attachment``,
``container = N and type = comment``, ...) paged by the engine's cursor, so what the caller
may not see is neither listed nor counted, and a hidden id is the same 404 as a missing
one. The site format does not tell footer comments from inline ones: every comment is a
footer comment, and the inline lists are empty (DIVERGENCES).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from index.serve import params as P
from index.serve.access import ALL_STATUSES
from index.serve.content_v2 import KINDS, V2, listing, offset_cursor, open_offset, v2_limit
from index.serve.context import Call
from index.serve.errors import ApiError, not_found
from index.serve.render import attachment_v2, comment_v2, label_v2, version_v2

#: Route segment -> content type of the records it serves.
RECORDS = {"attachments": "attachment", "footer-comments": "comment",
           "inline-comments": "comment"}


def _render(call: Call, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records of visible comments or attachments; a container's type is read through the
    caller too (what a caller sees hangs from something it sees)."""
    holders = sorted({d["container_id"] for d in docs if d.get("container_id")})
    types = {h["id"]: h["type"] for h in call.reader.visible(call.caller, holders)}
    body_format = call.params.get("body-format")
    out = []
    for doc in docs:
        version = call.writer.versions.of(doc)
        holder = types.get(doc.get("container_id") or "")
        if doc["type"] == "attachment":
            out.append(attachment_v2(doc, version=version, container_type=holder))
        else:
            out.append(comment_v2(doc, version=version, container_type=holder,
                                  body_format=body_format))
    return out


def _segment(call: Call, index: int) -> str:
    return call.request.url.path.split("/")[index]


def _page(call: Call, path: str, text: str) -> JSONResponse:
    found = call.reader.find(text + " order by id", call.caller,
                             statuses=P.statuses(call.params, ("current",)),
                             limit=v2_limit(call), cursor=call.params.get("cursor") or None)
    return listing(call, path, _render(call, found.docs), found.page.next)


def _empty(call: Call, path: str) -> JSONResponse:
    P.statuses(call.params)  # the same 400s as a list that has records
    v2_limit(call)
    return listing(call, path, [], None)


async def list_all(call: Call) -> JSONResponse:
    """``GET /attachments``, ``/footer-comments``, ``/inline-comments``."""
    segment = _segment(call, 4)
    if segment == "inline-comments":
        return _empty(call, f"{V2}/{segment}")
    return _page(call, f"{V2}/{segment}", f"type = {RECORDS[segment]}")


async def list_of(call: Call) -> JSONResponse:
    """``GET /pages/{id}/attachments``, ``.../footer-comments``, ``.../inline-comments``
    (and the same under ``/blogposts``): 404 when the page itself is not visible."""
    kind, segment = KINDS[_segment(call, 4)], _segment(call, 6)
    item_id = call.request.path_params["id"]
    call.reader.get(call.caller, item_id, types=[kind], statuses=ALL_STATUSES)
    path = f"{V2}/{_segment(call, 4)}/{item_id}/{segment}"
    if segment == "inline-comments":
        return _empty(call, path)
    return _page(call, path, f"container = {item_id} and type = {RECORDS[segment]}")


def _record(call: Call) -> dict[str, Any]:
    segment = _segment(call, 4)
    item_id = call.request.path_params["id"]
    if segment == "inline-comments":
        raise not_found(item_id)
    return call.reader.get(call.caller, item_id, types=[RECORDS[segment]],
                           statuses=ALL_STATUSES)


async def get_one(call: Call) -> JSONResponse:
    """``GET /attachments/{id}``, ``/footer-comments/{id}``, ``/inline-comments/{id}``."""
    doc = _record(call)
    out = _render(call, [doc])[0]
    if doc["type"] == "attachment" and P.boolean(call.params, "include-labels"):
        labels = [label_v2(n) for n in doc.get("labels", [])]
        out["labels"] = {"results": labels, "meta": {"hasMore": False, "cursor": None},
                         "_links": {}}
    return JSONResponse(out)


async def version(call: Call) -> JSONResponse:
    """``GET /{attachments,footer-comments,inline-comments}/{id}/versions/{number}``.

    The format keeps no history: version 1 (the creation) and the current version are
    known, the ones between are not (DIVERGENCES 78)."""
    doc = _record(call)
    current = call.writer.versions.of(doc)
    raw = call.request.path_params["number"]
    number = int(raw) if raw.isdigit() and len(raw) < 10 else 0
    if number not in (1, current):
        raise ApiError(404, f"No version {raw} of content {doc['id']} is kept", "NOT_FOUND")
    shown = version_v2(doc, number)
    return JSONResponse({**shown, "contentTypeModified": False, "collaborators": [],
                         "prevVersion": number - 1 if number > 1 else None,
                         "nextVersion": number + 1 if number < current else None})


async def attachment_labels(call: Call) -> JSONResponse:
    doc = _record(call)
    labels = [label_v2(n) for n in doc.get("labels", [])]
    start, limit = open_offset(call.params.get("cursor")), v2_limit(call)
    more = offset_cursor(start + limit) if start + limit < len(labels) else None
    return listing(call, f"{V2}/attachments/{doc['id']}/labels", labels[start:start + limit],
                    more)
