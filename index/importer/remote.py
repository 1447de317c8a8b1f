"""Reading a live Confluence Cloud site: which endpoint gives what (docs/import.md).

v2 first, as the issue asks: ``/spaces``, ``/pages?space-id=``, ``/blogposts?space-id=``,
``/attachments``, ``/footer-comments``, ``/inline-comments`` list with cursors; single
records come from ``/pages/{id}`` (with ``include-labels`` and ``include-properties``) and
``/whiteboards/{id}``, ``/databases/{id}``, ``/embeds/{id}``, ``/folders/{id}``. Two things
v2 cannot do are read from v1: listing whiteboards, databases, embeds and folders (v2 has no
list endpoint for them, so they are found with CQL through ``/rest/api/content/search``),
and display names (``/rest/api/user/bulk``).

Listings carry no bodies: they say what exists and at which version, and the sync fetches
bodies only for what changed. Comments and attachments are listed whole (their lists carry
bodies and every field the mirror needs), so they need no second request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from index.importer.http import Client

V2 = "/api/v2"
LIMIT = 250
#: v2 path segment of each kind that is read one record at a time.
SINGLE_PATHS = {"page": "pages", "blogpost": "blogposts", "whiteboard": "whiteboards",
                "database": "databases", "embed": "embeds", "folder": "folders",
                "footer-comment": "footer-comments", "inline-comment": "inline-comments",
                "attachment": "attachments"}
#: Tree types without a v2 list endpoint, found through CQL.
CQL_KINDS = ("whiteboard", "database", "embed", "folder")
STATUSES = ["current", "archived"]
CONTEXT = json.dumps({"contentStatuses": STATUSES}, separators=(",", ":"))


class RemoteSource:
    """The reader of a live site (or of anything that answers like one, e.g. ``cql serve``)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.attachment_labels: dict[str, dict[str, Any]] = {}  # from the v1 listings

    def spaces(self, keys: Sequence[str] | None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"limit": LIMIT, "description-format": "plain",
                                  "include-labels": "true"}
        if keys:
            params["keys"] = ",".join(keys)
        for page in self.client.pages(f"{V2}/spaces", params):
            yield from page

    def listing(self, space: Mapping[str, Any]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        """Batches of (kind, summary) for the tree items and blog posts of one space."""
        space_id = space["id"]
        for kind, segment in (("page", "pages"), ("blogpost", "blogposts")):
            params = {"space-id": space_id, "limit": LIMIT, "status": STATUSES}
            for page in self.client.pages(f"{V2}/{segment}", params):
                yield [(kind, raw) for raw in page]
        # Attachments ride along for their labels only (the v2 attachment list has none):
        # one listing request per 250 instead of a label request per attachment.
        types = ", ".join((*CQL_KINDS, "attachment"))
        cql = f'space = "{space["key"]}" and type in ({types})'
        # ``ancestors`` gives the parent: a move makes no new version, so the version alone
        # would not show it.
        # v2 has no label endpoint for these types; v1 gives their labels in the listing.
        # ``includeArchivedSpaces``: without it, CQL leaves out the content of archived
        # spaces even when the query names the space.
        params = {"cql": cql, "cqlcontext": CONTEXT, "includeArchivedSpaces": "true",
                  "expand": "version,ancestors,metadata.labels", "limit": LIMIT}
        for page in self.client.pages("/rest/api/content/search", params):
            batch = []
            for raw in page:
                kind = str(raw.get("type"))
                labels = (raw.get("metadata") or {}).get("labels") or {"results": []}
                if kind == "attachment":
                    self.attachment_labels[str(raw.get("id"))] = labels
                    continue
                version = raw.get("version") or {}
                ancestors = [a for a in raw.get("ancestors") or [] if isinstance(a, dict)]
                batch.append((kind, {"id": str(raw.get("id")), "status": raw.get("status"),
                                     "title": raw.get("title"), "type": kind,
                                     "parentId": ancestors[-1].get("id") if ancestors else None,
                                     "labels": labels,
                                     "version": {"number": version.get("number"),
                                                 "createdAt": version.get("when")}}))
            yield batch

    def detail(self, kind: str, summary: Mapping[str, Any]) -> dict[str, Any] | None:
        """The full record of a listed item; None when it vanished since the listing."""
        segment = SINGLE_PATHS.get(kind)
        if segment is None:
            return dict(summary)  # the mapper reports the unknown type
        params: dict[str, Any] = {"include-properties": "true"}
        if kind in ("page", "blogpost"):
            params.update({"body-format": "storage", "include-labels": "true"})
        record = self.client.get_json(f"{V2}/{segment}/{summary['id']}", params, allow_404=True)
        if record is None:
            return None
        if "labels" not in record and "labels" in summary:
            record["labels"] = summary["labels"]
        for part in ("labels", "properties"):
            box = record.get(part)
            if isinstance(box, dict) and (box.get("meta") or {}).get("hasMore"):
                box["results"] = self._all(f"{V2}/{segment}/{summary['id']}/{part}")
        return record

    def contained(self) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        """Batches of (kind, record) of attachments, then footer and inline comments."""
        for kind, segment in (("attachment", "attachments"),
                              ("footer-comment", "footer-comments"),
                              ("inline-comment", "inline-comments")):
            params: dict[str, Any] = {"limit": LIMIT, "status": STATUSES}
            if kind != "attachment":
                params["body-format"] = "storage"
            for page in self.client.pages(f"{V2}/{segment}", params):
                yield [(kind, raw) for raw in page]

    def enrich(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        """A listed comment or attachment, completed: attachments' labels are not in the
        v2 list; they come from the v1 listing of the attachment's space, or else from
        ``/attachments/{id}/labels`` (comments have none)."""
        if kind == "attachment" and "labels" not in record:
            labels = self.attachment_labels.get(str(record["id"]))
            if labels is None or (labels.get("_links") or {}).get("next"):  # cut short
                labels = {"results": self._all(f"{V2}/attachments/{record['id']}/labels")}
            record = {**record, "labels": labels}
        return record

    def first_version(self, kind: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """Version 1 of an edited comment or attachment: its author is the creator."""
        segment = SINGLE_PATHS[kind]
        return self.client.get_json(f"{V2}/{segment}/{record['id']}/versions/1", allow_404=True)

    def users(self, account_ids: Sequence[str]) -> list[dict[str, Any]]:
        body = self.client.get_json("/rest/api/user/bulk",
                                    {"accountId": list(account_ids), "limit": len(account_ids)})
        return [u for u in (body or {}).get("results", []) if isinstance(u, dict)]

    def _all(self, path: str) -> list[dict[str, Any]]:
        return [raw for page in self.client.pages(path, {"limit": LIMIT}) for raw in page]
