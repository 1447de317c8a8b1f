"""Site items to index documents: what each CQL field is stored as.

The stored ``doc`` keeps the item as loaded (body included) so that results can be shown,
excerpts cut and moved subtrees re-indexed without the original site files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote as url_quote

from index.core.backend import stored_doc
from index.core.compiler import epoch, title_key


def _keywords(values: list[str], lower: bool = False) -> str:
    return ",".join((v.lower() if lower else v).replace(",", " ") for v in values if v)


def content_document(item: Any) -> dict[str, Any]:
    """The Whoosh document for one content item (``index.site.models.ContentItem``)."""
    raw = item.model_dump(mode="json")
    doc: dict[str, Any] = {
        "id": item.id,
        "num": int(item.id),
        "entity": "content",
        "type": item.type,
        "space": item.space.lower(),
        "status": item.status,
        "creator": item.creator,
        "title": item.title,
        "title_key": title_key(item.title),
        "title_sort": item.title.casefold().encode("utf-8"),
        "body": item.text,
        "labels_text": " ".join(item.labels),
        "label": _keywords(item.labels, lower=True),
        "macro": _keywords(item.macros, lower=True),
        "contributor": _keywords(item.contributors),
        "mention": _keywords(item.mentions),
        "watcher": _keywords(item.watchers),
        "ancestor": _keywords(item.ancestors),
        "created": epoch(item.created),
        "lastmodified": epoch(item.lastmodified),
        "doc": stored_doc(raw),
    }
    if item.file_name:
        doc["file_name"] = item.file_name
    if item.page_status:
        doc["page_status"] = item.page_status.lower()
    if item.parent_id:
        doc["parent"] = item.parent_id
    if item.container_id:
        doc["container"] = item.container_id
    if item.restricted:  # read restrictions: what the permission mask gates on
        doc["restricted"] = "1"
        doc["read_user"] = _keywords(item.read_restrictions.users)
        doc["read_group"] = _keywords(item.read_restrictions.groups)
    return doc


def space_document(space: Any) -> dict[str, Any]:
    """The document of a space entity: found by ``type = space`` queries."""
    return {
        "id": f"space:{space.key}",
        "num": 0,
        "entity": "space",
        "type": "space",
        "space": space.key.lower(),
        "status": "current",
        "title": space.name,
        "title_key": title_key(space.name),
        "title_sort": space.name.casefold().encode("utf-8"),
        "body": space.description,
        "doc": stored_doc(space.model_dump(mode="json")),
    }


def url_of(entity: str, doc: dict[str, Any]) -> str:
    """A site-relative URL in Confluence Cloud's shape."""
    if entity == "space":
        return f"/spaces/{url_quote(doc['key'])}"
    space = url_quote(doc["space"])
    kind, item_id = doc["type"], doc["id"]
    slug = url_quote(doc["title"].replace(" ", "+"), safe="+")
    if kind == "page":
        return f"/spaces/{space}/pages/{item_id}/{slug}"
    if kind == "blogpost":
        return f"/spaces/{space}/blog/{item_id}/{slug}"
    if kind == "comment":
        where = "blog" if doc.get("container_type") == "blogpost" else "pages"
        return f"/spaces/{space}/{where}/{doc.get('container_id')}?focusedCommentId={item_id}"
    if kind == "attachment":
        name = url_quote(doc.get("file_name") or doc["title"])
        return f"/download/attachments/{doc.get('container_id')}/{name}"
    return f"/spaces/{space}/{kind}/{item_id}"


def load_doc(stored: dict[str, Any]) -> dict[str, Any]:
    return json.loads(stored["doc"])  # type: ignore[no-any-return]


def cloud_time(iso: str) -> str:
    """ISO-8601 in UTC with milliseconds (``2025-05-12T15:56:21.000Z``), as Confluence
    Cloud writes dates: a search result's ``lastModified`` and every date ``cql serve``
    renders."""
    m = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    # what strftime("%Y-%m-%dT%H:%M:%S.") wrote on Linux (%Y unpadded before the year
    # 1000), at a fraction of its cost: every result and rendered item has dates
    return (f"{m.year}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}."
            f"{m.microsecond // 1000:03d}Z")
