"""Stored items as Confluence's JSON objects: v1 ``Content``/``Space`` and v2 items.

Rendering is pure: it receives items the caller may see (``access.Reader``) and the links
base, and never looks anything up in the index itself. Expansions that need other items
(ancestors, children, container) are resolved by the routes through the reader and passed in.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote as url_quote

from index.core.documents import cloud_time, url_of
from index.serve.access import space_id
from index.serve.versions import version_author

#: v1 expansions the server implements; everything else stays in ``_expandable``.
V1_EXPANDABLE = ("body", "version", "space", "ancestors", "history", "metadata", "children",
                 "container", "childTypes", "descendants", "operations", "restrictions")


def user_ref(account_id: str, users: Mapping[str, Any]) -> dict[str, Any]:
    user = users.get(account_id)
    return {"type": "known", "accountId": account_id, "accountType": "atlassian",
            "displayName": user.display_name if user else account_id,
            "publicName": user.display_name if user else account_id}


def content_links(doc: dict[str, Any], base: str, webui: str | None = None) -> dict[str, str]:
    """``_links``; ``webui`` is ``url_of("content", doc)`` when the caller has it already
    (a search result's ``url``)."""
    return {"webui": webui or url_of("content", doc),
            "self": f"{base}/rest/api/content/{doc['id']}", "tinyui": f"/x/{doc['id']}"}


@lru_cache(maxsize=4096)
def space_path(key: str) -> str:
    """``/spaces/KEY``, quoted (once per space: every search result names its space)."""
    return f"/spaces/{url_quote(key)}"


def space_v1(space: Any, base: str) -> dict[str, Any]:
    return {"id": int(space_id(space.key)), "key": space.key, "name": space.name,
            "type": space.type, "status": space.status,
            "_expandable": {"homepage": "", "description": ""},
            "_links": {"webui": f"/spaces/{url_quote(space.key)}",
                       "self": f"{base}/rest/api/space/{url_quote(space.key)}"}}


def content_v1(doc: dict[str, Any], base: str, expand: set[str], *, spaces: dict[str, Any],
               users: Mapping[str, Any], version: int,
               ancestors: list[dict[str, Any]] | None = None,
               children: list[dict[str, Any]] | None = None,
               container: dict[str, Any] | None = None,
               webui: str | None = None) -> dict[str, Any]:
    """A v1 ``Content`` object; ``expand`` holds the requested expansion paths."""
    out: dict[str, Any] = {"id": doc["id"], "type": doc["type"], "status": doc["status"],
                           "title": doc["title"]}
    tops = {e.split(".")[0] for e in expand}
    space = spaces.get(doc["space"])
    if "space" in tops and space is not None:
        out["space"] = space_v1(space, base)
    if "version" in tops:
        out["version"] = {"number": version, "when": cloud_time(doc["lastmodified"]),
                          "by": user_ref(version_author(doc, version), users),
                          "minorEdit": False, "message": ""}
    if "history" in tops:
        out["history"] = history_v1(doc, users, version)
    if "body" in tops:
        out["body"] = {"storage": {"value": doc.get("body", ""), "representation": "storage"}}
    if "ancestors" in tops:
        out["ancestors"] = [content_v1(a, base, set(), spaces=spaces, users=users, version=1)
                            for a in ancestors or []]
    if "metadata" in tops:
        labels = [{"prefix": "global", "name": n, "id": n, "label": n}
                  for n in doc.get("labels", [])]
        out["metadata"] = {"labels": {"results": labels, "start": 0, "limit": 200,
                                      "size": len(labels)}}
    if "children" in tops:
        kids = [content_v1(c, base, set(), spaces=spaces, users=users, version=1)
                for c in children or []]
        out["children"] = {"page": {"results": kids, "start": 0, "limit": len(kids),
                                    "size": len(kids)}}
    if "container" in tops:
        if container is not None:
            out["container"] = content_v1(container, base, set(), spaces=spaces, users=users,
                                          version=1)
        elif space is not None:
            out["container"] = space_v1(space, base)
    if doc["type"] == "attachment" and doc.get("file_name"):
        out["extensions"] = {"fileName": doc["file_name"]}
    link = f"/rest/api/content/{doc['id']}"
    out["_expandable"] = {k: link for k in V1_EXPANDABLE if k not in tops}
    out["_links"] = content_links(doc, base, webui)
    return out


def history_v1(doc: dict[str, Any], users: Mapping[str, Any], version: int) -> dict[str, Any]:
    """``history`` of a content item: its creation and its last update (``lastUpdated``,
    whose ``number`` clients add one to when they update the item)."""
    return {"latest": True, "createdBy": user_ref(doc["creator"], users),
            "createdDate": cloud_time(doc["created"]),
            "lastUpdated": {"number": version, "when": cloud_time(doc["lastmodified"]),
                            "by": user_ref(version_author(doc, version), users),
                            "minorEdit": False, "message": ""}}


def search_result_v1(result: Any, doc: dict[str, Any] | None, content: dict[str, Any] | None,
                     spaces: dict[str, Any], base: str) -> dict[str, Any]:
    """One ``SearchResult`` of ``/wiki/rest/api/search``."""
    space = spaces.get(result.space) if result.space else None
    out: dict[str, Any] = {}
    if result.entityType == "space" and space is not None:
        out["space"] = space_v1(space, base)
        icon = "aui-icon space-avatar"
    else:
        out["content"] = content
        icon = f"aui-icon content-type-{result.type}"
    out.update({
        "title": result.title, "excerpt": result.excerpt, "url": result.url,
        "resultGlobalContainer": (
            {"title": space.name, "displayUrl": space_path(space.key)}
            if space is not None else None),
        "breadcrumbs": [], "entityType": result.entityType, "iconCssClass": icon,
        "lastModified": result.lastModified or "",
        "friendlyLastModified": _friendly(result.lastModified),
        "score": result.score if result.score is not None else 0.0,
    })
    if out["resultGlobalContainer"] is None:
        del out["resultGlobalContainer"]
    if doc is not None and doc.get("container_id"):
        out["resultParentContainer"] = {"title": "", "displayUrl":
                                        f"/pages/viewpage.action?pageId={doc['container_id']}"}
    return out


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _friendly(stamp: str | None) -> str:
    """A short human date (Confluence localises it; we write ``Mon DD, YYYY``)."""
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    # strftime's "%b %d, %Y" in the C locale, at a fraction of its cost
    return f"{MONTHS[moment.month - 1]} {moment.day:02d}, {moment.year}"


# --- v2 ------------------------------------------------------------------------------------

TREE_TYPES = ("page", "whiteboard", "database", "embed", "folder")


#: How many labels or properties a v2 record carries inline (``include-labels``,
#: ``include-properties``); ``meta.hasMore`` says when there are more, to be read from
#: the item's ``/labels`` or ``/properties``.
INLINE = 50


def numeric_id(*parts: str) -> str:
    """A stable numeric id for something the format names by key (a content property)."""
    text = "\x1f".join(parts)
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:12], 16))


def version_v2(doc: dict[str, Any], number: int) -> dict[str, Any]:
    """A v2 ``Version``: version 1 is the creation, a later one the last modification."""
    when = doc["created"] if number == 1 else doc["lastmodified"]
    return {"createdAt": cloud_time(when), "message": "", "number": number,
            "minorEdit": False, "authorId": version_author(doc, number)}


def labels_v2(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [label_v2(n) for n in doc.get("labels", [])]


def properties_v2(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A v2 ``ContentProperty`` per entry of the item's ``properties``."""
    return [{"id": numeric_id(doc["id"], key), "key": key, "value": value,
             "version": {"createdAt": cloud_time(doc["created"]), "message": "",
                         "number": 1, "minorEdit": False, "authorId": doc["creator"]}}
            for key, value in (doc.get("properties") or {}).items()]


def inline(results: list[dict[str, Any]]) -> dict[str, Any]:
    """An inline list of a v2 record (``labels``, ``properties``)."""
    return {"results": results[:INLINE], "meta": {"hasMore": len(results) > INLINE,
                                                  "cursor": None}, "_links": {}}


def container_key(container_type: str | None, kind: str) -> str:
    """The field that names a comment's or attachment's container in v2."""
    if container_type == "page":
        return "pageId"
    if container_type == "blogpost":
        return "blogPostId"
    if container_type == "attachment" and kind == "comment":
        return "attachmentId"
    return "customContentId"


def _body_v2(doc: dict[str, Any], body_format: str | None) -> dict[str, Any]:
    if body_format != "storage":
        return {}
    return {"storage": {"representation": "storage", "value": doc.get("body", "")}}


def comment_v2(doc: dict[str, Any], *, version: int, container_type: str | None,
               body_format: str | None = None) -> dict[str, Any]:
    """A v2 footer comment (the format has no inline comments: DIVERGENCES)."""
    placed = {**doc, "container_type": container_type}
    return {"id": doc["id"], "status": doc["status"], "title": doc["title"],
            container_key(container_type, "comment"): doc.get("container_id"),
            "version": version_v2(doc, version), "body": _body_v2(doc, body_format),
            "_links": {"webui": url_of("content", placed)}}


def attachment_v2(doc: dict[str, Any], *, version: int, container_type: str | None
                  ) -> dict[str, Any]:
    """A v2 attachment. The format keeps no file: no size, and a media type guessed from
    the file name."""
    name = doc.get("file_name") or doc["title"]
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    download = f"/download/attachments/{doc.get('container_id')}/{url_quote(name)}"
    webui = (f"/pages/viewpageattachments.action?pageId={doc.get('container_id')}"
             f"&preview={url_quote('/' + str(doc.get('container_id')) + '/' + doc['id'])}")
    return {"id": doc["id"], "status": doc["status"], "title": doc["title"],
            "createdAt": cloud_time(doc["created"]),
            container_key(container_type, "attachment"): doc.get("container_id"),
            "mediaType": media, "mediaTypeDescription": media, "comment": "",
            "fileId": numeric_id(doc["id"], "file"), "fileSize": 0, "webuiLink": webui,
            "downloadLink": download, "version": version_v2(doc, version),
            "_links": {"webui": webui, "download": download}}


def item_v2(doc: dict[str, Any], *, version: int, parent_type: str | None,
            body_format: str | None = None, include_labels: bool = False,
            include_properties: bool = False) -> dict[str, Any]:
    """A v2 page, blog post, embed, database, folder or whiteboard."""
    kind = doc["type"]
    out: dict[str, Any] = {"id": doc["id"], "type": kind, "status": doc["status"],
                           "title": doc["title"], "spaceId": space_id(doc["space"]),
                           "authorId": doc["creator"], "ownerId": doc["creator"],
                           "createdAt": cloud_time(doc["created"])}
    if kind in TREE_TYPES:
        out["parentId"] = doc.get("parent_id")
        out["parentType"] = parent_type if doc.get("parent_id") else None
        out["position"] = None
    if kind == "embed":
        out["embedUrl"] = doc.get("url") or ""
    out["version"] = version_v2(doc, version)
    if kind in ("page", "blogpost"):
        out["body"] = _body_v2(doc, body_format)
    if include_labels:
        out["labels"] = inline(labels_v2(doc))
    if include_properties:
        out["properties"] = inline(properties_v2(doc))
    out["_links"] = {"webui": url_of("content", doc), "tinyui": f"/x/{doc['id']}"}
    return out


def space_v2(space: Any, homepage_id: str | None = None, include_labels: bool = False
             ) -> dict[str, Any]:
    """A v2 space; its categories are its ``team`` labels, as in Confluence."""
    out = {"id": space_id(space.key), "key": space.key, "name": space.name,
           "type": space.type, "status": space.status, "homepageId": homepage_id,
           "description": {"plain": {"value": space.description,
                                     "representation": "plain"}},
           "_links": {"webui": f"/spaces/{url_quote(space.key)}"}}
    if include_labels:
        out["labels"] = inline([{"id": numeric_id(space.key, "team", c), "name": c,
                                 "prefix": "team"} for c in space.categories])
    return out


def label_v2(name: str) -> dict[str, Any]:
    return {"id": name, "name": name, "prefix": "global"}
