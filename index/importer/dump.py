"""``cql import --from-dir DUMP``: saved REST responses instead of a live site.

For users who fetch with their own tools (a proxy, a script, an export job). The dump is a
directory with one folder per resource, each holding any number of ``*.json`` files; a
file is either a list response (``{"results": [...], "_links": ...}``, one page of a cursor
chain) or one record (a single GET):

    DUMP/spaces/          v2 /spaces
    DUMP/pages/           v2 /pages or /pages/{id}?body-format=storage&include-labels=true...
    DUMP/blogposts/       v2 /blogposts ...
    DUMP/whiteboards/ DUMP/databases/ DUMP/embeds/ DUMP/folders/    v2 single records
    DUMP/attachments/ DUMP/footer-comments/ DUMP/inline-comments/   v2 lists or singles
    DUMP/users/           v1 /rest/api/user/bulk (optional)

It answers the same questions as ``RemoteSource``, so the mapping, the checkpoint, the
deletions and the writers are the very code a live import runs. A record given twice (say
in a list page and as a single GET) counts once: the one with the higher version wins,
and at equal versions the one with more fields (a body, labels).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from index.importer.http import ImportFailure

FOLDERS = {"spaces": "space", "pages": "page", "blogposts": "blogpost",
           "whiteboards": "whiteboard", "databases": "database", "embeds": "embed",
           "folders": "folder", "attachments": "attachment",
           "footer-comments": "footer-comment", "inline-comments": "inline-comment",
           "users": "user"}
TREE_KINDS = ("page", "blogpost", "whiteboard", "database", "embed", "folder")
CONTAINED_KINDS = ("attachment", "footer-comment", "inline-comment")


class DumpSource:
    """Records read from a dump directory, grouped by kind."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ImportFailure(f"--from-dir: no such directory: {self.root}")
        known = [p.name for p in self.root.iterdir() if p.is_dir() and p.name in FOLDERS]
        if not known:
            raise ImportFailure(f"--from-dir {self.root}: no resource folders (expected some "
                                f"of {', '.join(sorted(FOLDERS))})")
        self.records: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in FOLDERS.values()}
        self.problems: list[str] = []
        for folder, kind in FOLDERS.items():
            for path in sorted((self.root / folder).glob("*.json")):
                self._read(path, kind)
        self._space_of: dict[str, str | None] = {}

    def _read(self, path: Path, kind: str) -> None:
        where = path.relative_to(self.root)
        try:
            body = json.loads(path.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            self.problems.append(f"{where}: not a JSON response ({err})")
            return
        results = body.get("results") if isinstance(body, dict) else None
        records = results if isinstance(results, list) else [body]
        for raw in records:
            ident = raw.get("accountId" if kind == "user" else "id") if isinstance(
                raw, dict) else None
            if ident is None:
                self.problems.append(f"{where}: a record without an id")
                continue
            table = self.records[kind]
            old = table.get(str(ident))
            if old is None or _rank(raw) >= _rank(old):
                table[str(ident)] = raw

    # --- the source protocol (see RemoteSource) -------------------------------------------

    def spaces(self, keys: Sequence[str] | None) -> Iterator[dict[str, Any]]:
        wanted = {k.casefold() for k in keys or ()}
        for raw in self.records["space"].values():
            if not wanted or str(raw.get("key", "")).casefold() in wanted:
                yield raw

    def listing(self, space: Mapping[str, Any]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        for kind in TREE_KINDS:
            batch = [(kind, raw) for raw in self.records[kind].values()
                     if self._space(kind, raw) == str(space.get("id"))]
            if batch:
                yield batch

    def detail(self, kind: str, summary: Mapping[str, Any]) -> dict[str, Any] | None:
        return dict(summary)

    def contained(self) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        for kind in CONTAINED_KINDS:
            if self.records[kind]:
                yield [(kind, raw) for raw in self.records[kind].values()]

    def enrich(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        return record

    def first_version(self, kind: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
        return None

    def users(self, account_ids: Sequence[str]) -> list[dict[str, Any]]:
        table = self.records["user"]
        return [table[a] for a in account_ids if a in table]

    def orphans(self) -> list[tuple[str, dict[str, Any]]]:
        """Tree records whose space cannot be told (no spaceId, nor a parent that has one)."""
        return [(kind, raw) for kind in TREE_KINDS for raw in self.records[kind].values()
                if self._space(kind, raw) is None]

    def _space(self, kind: str, raw: Mapping[str, Any]) -> str | None:
        """The v2 space id of a tree record: its own, or its nearest parent's."""
        if raw.get("spaceId") is not None:
            return str(raw["spaceId"])
        seen: set[str] = set()
        current: Mapping[str, Any] | None = raw
        while current is not None and current.get("spaceId") is None:
            parent = current.get("parentId")
            if not parent or str(parent) in seen:
                return None
            seen.add(str(parent))
            current = next((self.records[k][str(parent)] for k in TREE_KINDS
                            if str(parent) in self.records[k]), None)
        return None if current is None else str(current["spaceId"])


def _rank(raw: Mapping[str, Any]) -> tuple[int, int]:
    version = raw.get("version") if isinstance(raw.get("version"), Mapping) else {}
    number = version.get("number") if isinstance(version, Mapping) else None
    return (number if isinstance(number, int) else 0, len(raw))
