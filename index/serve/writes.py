"""Creating, updating and deleting content: checks first, then one engine commit.

Order of checks for every write: the caller's scopes (done by the route), then visibility
through the engine (the item, its new parent, its space; anything the caller may not see is
a 404 exactly like a missing item), then the request's own validity, and only then
``Engine.upsert`` or ``Engine.delete``. Writes from several worker processes are serialised
by a file lock, which also makes new ids unique.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from index.core.documents import load_doc
from index.engine import Engine
from index.errors import EngineError
from index.security.callers import AppCaller, UserCaller
from index.serve.access import Reader, engine_error
from index.serve.errors import ApiError, bad_request
from index.serve.versions import Versions, write_lock
from index.site.models import ContentLine

LINE_FIELDS = frozenset(ContentLine.model_fields)


def author_of(caller: Any) -> str:
    """Whose name a write goes under: the user, the user an app acts for, or the app."""
    if isinstance(caller, UserCaller):
        return caller.account_id
    if isinstance(caller, AppCaller):
        return caller.acting_for or f"app:{caller.app_id}"
    raise ApiError(403, "Anonymous users may not change content", "FORBIDDEN")


class Writer:
    def __init__(self, engine: Engine, reader: Reader) -> None:
        self.engine = engine
        self.reader = reader
        self.versions = Versions(engine.index_dir)

    # --- checks ------------------------------------------------------------------------------

    def space_key(self, caller: Any, key: str | None = None, sid: str | None = None) -> str:
        """The key of a space the caller may write into; 404 when missing or blocked."""
        from index.serve.access import space_id

        found = None
        for space in self.engine.spaces.values():
            if (key is not None and space.key.casefold() == key.casefold()) or (
                    sid is not None and space_id(space.key) == sid):
                found = space.key
        if found is None or self._space_hidden(caller, found):
            raise ApiError(404, f"No space found: {key or sid}", "NOT_FOUND")
        return found

    def _space_hidden(self, caller: Any, key: str) -> bool:
        author_of(caller)  # anonymous callers never write: 403 before anything else
        try:
            scope = self.engine.scope_for(caller, self.reader.strict_scopes,
                                           search_scope=False)
        except EngineError as err:
            raise engine_error(err) from None
        return key.casefold() in {k.casefold() for k in scope.hidden_spaces}

    # --- operations ----------------------------------------------------------------------------

    def create(self, caller: Any, *, kind: str, space: str, title: str, body: str = "",
               parent_id: str | None = None, status: str = "current",
               url: str | None = None) -> str:
        author = author_of(caller)
        if parent_id:
            parent = self.reader.get(caller, parent_id)
            if parent["space"].casefold() != space.casefold():
                raise bad_request(f"the parent {parent_id} is in space {parent['space']}, "
                                  f"not {space}")
        if status not in ("current", "draft"):
            raise bad_request(f"status must be current or draft, not {status!r}")
        now = datetime.now(UTC).isoformat()
        line: dict[str, Any] = {"type": kind, "status": status, "title": title, "space": space,
                                "creator": author, "created": now, "lastmodified": now,
                                "body": body}
        if parent_id:
            line["parent_id"] = parent_id
        if url:
            line["url"] = url
        with write_lock(self.engine.index_dir):
            snap = self.engine.store.snapshot()
            nums = snap.column("num")
            line["id"] = str(max(nums, default=0) + 1)
            self._upsert(line)
            self.versions.set(line["id"], None)
        return str(line["id"])

    def update(self, caller: Any, doc: dict[str, Any], *, version: int | None,
               changes: dict[str, Any]) -> int:
        """Apply ``changes`` (line fields) to the visible item ``doc``; returns its version."""
        author = author_of(caller)
        parent = changes.get("parent_id")
        if parent and parent != doc.get("parent_id"):
            target = self.reader.get(caller, parent)
            if target["space"] != doc["space"]:
                raise bad_request("moving content to another space is not supported")
        with write_lock(self.engine.index_dir):
            current = self.versions.of(doc)
            if version is None:
                raise bad_request("version.number is required to update content")
            if version != current + 1:
                raise ApiError(409, f"Version must be incremented on update. Current "
                               f"version is: {current}", "CONFLICT")
            line = {k: v for k, v in doc.items() if k in LINE_FIELDS}
            line.update({k: v for k, v in changes.items() if v is not None})
            line["lastmodified"] = datetime.now(UTC).isoformat()
            # The author of the new version goes last: the latest version's author is the
            # last contributor (``versions.version_author``).
            others = [c for c in line.get("contributors", []) if c != author]
            line["contributors"] = [*others, author]
            self._upsert(line)
            self.versions.set(doc["id"], version)
        return version

    def trash(self, doc: dict[str, Any]) -> None:
        """Move a visible item to the trash, as Confluence's DELETE does: its status becomes
        ``trashed``, and so does the status of the comments and attachments it holds
        (they go to the trash with it, and leave search results with it), and its tree
        children move up to its parent. These are read from the snapshot, not through the
        caller: what the caller may not see must follow too."""
        with write_lock(self.engine.index_dir):
            snap = self.engine.store.snapshot()

            def line_of(item_id: str) -> dict[str, Any]:
                found = snap.docnum_of(item_id)  # (not a map of every id, per write)
                if found is None:  # deleted meanwhile, as the map's lookup failed before
                    raise KeyError(item_id)
                stored = load_doc(snap.stored(found))
                return {k: v for k, v in stored.items() if k in LINE_FIELDS}

            changed, holders = [], [doc["id"]]
            while holders:  # the item, what it holds, what that holds (an attachment's...)
                line = line_of(holders.pop())
                line["status"] = "trashed"
                changed.append(line)
                holders.extend(snap.ids_of(snap.term("container", line["id"])))
            for child_id in snap.ids_of(snap.term("parent", doc["id"])):
                child = line_of(child_id)
                child.pop("parent_id", None)
                if doc.get("parent_id"):
                    child["parent_id"] = doc["parent_id"]
                changed.append(child)
            self._upsert(changed)

    def purge(self, doc: dict[str, Any]) -> None:
        """Delete an item for good (``Engine.delete``: what it contains goes with it)."""
        with write_lock(self.engine.index_dir):
            self.engine.delete([doc["id"]])
            self.versions.set(doc["id"], None)

    def delete(self, doc: dict[str, Any], *, purge: bool) -> None:
        """Confluence's DELETE: a current or archived item goes to the trash; a trashed
        one is purged when the request says so (``purge``), else it is a 400; comments
        and drafts, which have no trash, are purged at once."""
        if doc["status"] == "trashed":
            if not purge:
                raise bad_request(f"content {doc['id']} is already in the trash; delete it "
                                  "with purge=true (v2) or status=trashed (v1) to purge it")
            self.purge(doc)
        elif purge:
            raise bad_request(f"content {doc['id']} is not in the trash: only trashed "
                              "content can be purged")
        elif doc["type"] == "comment" or doc["status"] == "draft":
            self.purge(doc)  # comments and drafts have no trash: they go for good
        else:
            self.trash(doc)

    def _upsert(self, line: dict[str, Any] | list[dict[str, Any]]) -> None:
        rejects = self.engine.upsert(line if isinstance(line, list) else [line])
        if rejects:
            raise bad_request("; ".join(r.message for r in rejects))
