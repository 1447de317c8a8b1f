"""Confluence REST JSON (v2, and v1 where v2 has no equivalent) onto the site format.

docs/import.md is the field-by-field table this module implements. Each function takes one
raw record as Confluence returns it and gives back one line of the site format, already
validated by the loader's own rules (``parse_content_line``), or raises ``Skip`` with a
message that names the resource and its id. A record that is fine but not for the mirror
(trashed content, a comment on a page outside the imported spaces) is ``Skip(report=False)``:
counted, not reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from index.site.loader import parse_content_line, summarise_validation_error
from index.site.models import TREE_TYPES, Space, User

#: Raw record kinds and the site-format type each becomes.
CONTENT_KINDS: dict[str, str] = {
    "page": "page",
    "blogpost": "blogpost",
    "whiteboard": "whiteboard",
    "database": "database",
    "embed": "embed",
    "folder": "folder",
    "footer-comment": "comment",
    "inline-comment": "comment",
    "attachment": "attachment",
}
#: v2 ContentStatus values kept in the mirror; the rest (trashed, deleted, historical)
#: means "gone" to a search mirror. Drafts are kept: the format and CQL know them.
KEPT_STATUSES = frozenset({"current", "archived", "draft"})
SPACE_TYPES = frozenset({"global", "personal", "collaboration", "knowledge_base"})
#: Where a comment or attachment says what it belongs to, in the order tried.
CONTAINER_KEYS = ("attachmentId", "pageId", "blogPostId", "customContentId")


class Skip(Exception):
    """A record left out of the mirror; ``report`` says whether the user should hear of it."""

    def __init__(self, message: str, *, report: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.report = report


@dataclass(frozen=True, slots=True)
class Container:
    """What a comment or attachment needs to know about the item it belongs to."""

    space: str
    type: str
    title: str


def label(kind: str, raw: Mapping[str, Any]) -> str:
    """``page 65602``: how messages name a record."""
    ident = raw.get("id", raw.get("accountId", "?"))
    return f"{kind} {ident}"


def map_space(raw: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A v2 space -> (its numeric id, a ``spaces.jsonl`` line)."""
    if raw.get("type") not in SPACE_TYPES:
        raise Skip(f"{label('space', raw)}: unknown space type {raw.get('type')!r}")
    description = ((raw.get("description") or {}).get("plain") or {}).get("value") or ""
    labels = (raw.get("labels") or {}).get("results") or []
    line: dict[str, Any] = {
        "key": raw.get("key"),
        "name": raw.get("name"),
        "type": raw["type"],
        "status": raw.get("status") or "current",
        "categories": [lab["name"] for lab in labels if isinstance(lab, dict)
                       and lab.get("prefix") == "team" and lab.get("name")],
        "description": description,
    }
    try:
        Space.model_validate(line)
    except ValidationError as err:
        raise Skip(f"{label('space', raw)}: {summarise_validation_error(err)}") from None
    return str(raw.get("id")), line


def map_user(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 user (``/rest/api/user/bulk``) -> a ``users.jsonl`` line. Favourites and recent
    activity are not readable for other users over REST, so they stay empty. Permission
    fields (kind, active, guest space) are not imported: the loader's defaults apply."""
    account = raw.get("accountId")
    if not isinstance(account, str) or not account:
        raise Skip(f"{label('user', raw)}: missing accountId")
    name = raw.get("displayName") or raw.get("publicName") or account
    return User(account_id=account, display_name=name).model_dump(
        mode="json", exclude={"kind", "active", "guest_space"})


def _version(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    version = raw.get("version")
    return version if isinstance(version, Mapping) else {}


def change_key(raw: Mapping[str, Any]) -> str:
    """What must differ for a listed record to be fetched again: its version, status, tree
    parent and container (a move changes the parent without a new version)."""
    parts = [str(_version(raw).get("number", "")), str(raw.get("status", "")),
             str(raw.get("parentId") or "")]
    parts.extend(str(raw.get(key) or "") for key in CONTAINER_KEYS)
    return "|".join(parts)


def container_of(raw: Mapping[str, Any]) -> str | None:
    for key in CONTAINER_KEYS:
        value = raw.get(key)
        if value:
            return str(value)
    return None


def map_content(kind: str, raw: Mapping[str, Any], *, space_keys: Mapping[str, str],
                containers: Mapping[str, Container] | None = None,
                space_hint: str | None = None,
                first_version: Mapping[str, Any] | None = None
                ) -> tuple[dict[str, Any], list[str]]:
    """A v2 content record -> (a validated ``content.jsonl`` line, the account ids in it).

    ``space_keys`` maps v2 space ids to keys; ``space_hint`` is the key of the space the
    record was listed under (v2 whiteboards, databases, embeds and folders may lack
    ``spaceId``); ``containers`` gives comments and attachments their container's space
    and title; ``first_version`` is version 1 of an edited comment or attachment (these
    records carry only their current version, whose author is the last editor).
    """
    what = label(kind, raw)
    if kind not in CONTENT_KINDS:
        raise Skip(f"{what}: unknown content type {kind!r}")
    content_type = CONTENT_KINDS[kind]
    status = raw.get("status") or "current"
    if status not in KEPT_STATUSES:
        raise Skip(f"{what}: status {status}", report=False)
    version = _version(raw)
    line: dict[str, Any] = {"id": str(raw.get("id", "")), "type": content_type,
                            "status": status, "title": raw.get("title") or ""}

    if content_type in ("comment", "attachment"):
        container_id = container_of(raw)
        if container_id is None:
            raise Skip(f"{what}: no pageId, blogPostId or attachmentId")
        holder = (containers or {}).get(container_id)
        if holder is None:
            raise Skip(f"{what}: container {container_id} is not imported", report=False)
        line["space"] = holder.space
        line["container_id"] = container_id
        if content_type == "comment" and not line["title"]:
            line["title"] = f"Re: {holder.title}"
    else:
        space_id = raw.get("spaceId")
        if space_id is not None:
            key = space_keys.get(str(space_id))
            if key is None:
                raise Skip(f"{what}: space {space_id} is not imported")
        elif space_hint is not None:
            key = space_hint
        else:
            raise Skip(f"{what}: missing spaceId")
        line["space"] = key
        parent = raw.get("parentId")
        if parent and content_type in TREE_TYPES:
            if raw.get("parentType") not in (None, *TREE_TYPES):
                raise Skip(f"{what}: parent {parent} has unknown type {raw.get('parentType')!r}")
            line["parent_id"] = str(parent)

    origin = first_version or version
    creator = raw.get("authorId") or origin.get("authorId") or version.get("authorId")
    created = raw.get("createdAt") or origin.get("createdAt") or version.get("createdAt")
    if not creator:
        raise Skip(f"{what}: no authorId")
    if not created:
        raise Skip(f"{what}: no createdAt")
    line["creator"] = creator
    line["created"] = created
    modified = version.get("createdAt")
    if modified and modified != created:
        line["lastmodified"] = modified
    editor = version.get("authorId")
    if editor and editor != creator:
        line["contributors"] = [creator, editor]

    labels = [lab.get("name") for lab in (raw.get("labels") or {}).get("results") or []
              if isinstance(lab, Mapping) and lab.get("prefix", "global") == "global"]
    if labels:
        line["labels"] = labels
    properties = {prop["key"]: prop.get("value")
                  for prop in (raw.get("properties") or {}).get("results") or []
                  if isinstance(prop, Mapping) and isinstance(prop.get("key"), str)}
    if properties:
        line["properties"] = properties
    body = ((raw.get("body") or {}).get("storage") or {}).get("value")
    if body:
        line["body"] = body
    if content_type == "attachment":
        line["file_name"] = raw.get("title") or ""
    if content_type == "embed" and raw.get("embedUrl"):
        line["url"] = raw["embedUrl"]

    return line, _validated(line, what)


def _validated(line: dict[str, Any], what: str) -> list[str]:
    """Check the line with the loader's rules; the people it names (creator, contributors,
    mentioned users) so their display names can be fetched."""
    try:
        item = parse_content_line(line)
    except ValidationError as err:
        if _only_lastmodified_before_created(err):
            # Clock skew between a version's and the content's timestamps: keep the item.
            line.pop("lastmodified", None)
            return _validated(line, what)
        raise Skip(f"{what}: {summarise_validation_error(err)}") from None
    return list(dict.fromkeys([item.creator, *item.contributors, *item.mentions]))


def _only_lastmodified_before_created(err: ValidationError) -> bool:
    errors = err.errors(include_url=False)
    return len(errors) == 1 and "lastmodified is before created" in errors[0]["msg"]
