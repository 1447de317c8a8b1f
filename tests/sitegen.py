"""Small sites written on the fly, for the tests of an index that changes.

Three spaces (``A``, ``B``, ``C``), two users, one Forge app ``app-x`` that a policy blocks
from space ``B``: small enough that a build takes a few tens of milliseconds, so tests can
compare an index changed step by step with a fresh build of the same content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from index.security.callers import AppCaller, UserCaller

SPACES = [
    {"key": "A", "name": "Space A", "type": "global"},
    {"key": "B", "name": "Space B", "type": "global"},
    {"key": "C", "name": "Space C", "type": "global"},
]
USERS = [{"account_id": "u1", "display_name": "User One"},
         {"account_id": "u2", "display_name": "User Two"}]
APPS = [{"app_id": "app-x", "kind": "forge", "name": "App X"}]
POLICIES = [{"id": "p-b", "name": "Block app-x from B", "active": True,
             "coverage": {"level": "CONTAINER", "spaces": ["B"]},
             "rules": {"app_access": {"mode": "blocklist", "apps": ["app-x"]}}}]
BLOCKED_APP = AppCaller(app_id="app-x", kind="forge",
                        scopes=frozenset({"search:confluence"}))
USER = UserCaller(account_id="u1")


def item(item_id: str, kind: str = "page", *, space: str = "A", title: str | None = None,
         parent: str | None = None, container: str | None = None, body: str = "",
         day: int = 1, labels: Iterable[str] = ()) -> dict[str, Any]:
    """One content line; ``day`` spreads lastmodified so that default order is stable."""
    out: dict[str, Any] = {
        "id": item_id, "type": kind, "title": title or f"{kind} {item_id}", "space": space,
        "creator": "u1", "created": "2024-01-01T10:00:00Z",
        "lastmodified": f"2024-02-{day:02d}T10:00:00Z", "body": body,
        "labels": list(labels)}
    if parent is not None:
        out["parent_id"] = parent
    if container is not None:
        out["container_id"] = container
    if kind == "attachment":
        out["file_name"] = out["title"]
    return out


def write_site(path: Path, content: Iterable[Mapping[str, Any]], *,
               spaces: list[dict[str, Any]] | None = None) -> Path:
    """Write a site directory with the standard spaces, users, app and policy."""
    path.mkdir(parents=True, exist_ok=True)
    lines = {"spaces.jsonl": spaces or SPACES, "users.jsonl": USERS, "content.jsonl": content}
    for name, records in lines.items():
        (path / name).write_text("".join(json.dumps(r) + "\n" for r in records),
                                 encoding="utf-8")
    (path / "apps.json").write_text(json.dumps(APPS), encoding="utf-8")
    (path / "policies.json").write_text(json.dumps(POLICIES), encoding="utf-8")
    return path


def all_ids(engine: Any, query: str, **kwargs: Any) -> list[str]:
    """Every hit of ``query`` in result order, walking the cursors."""
    seen: list[str] = []
    page = engine.search(query, limit=50, **kwargs)
    while True:
        seen.extend(r.id for r in page.results)
        if page.next is None:
            return seen
        page = engine.search(query, limit=50, cursor=page.next, **kwargs)


def every_answer(engine: Any, queries: Iterable[str], callers: Iterable[Any]) -> list[Any]:
    """Each query's total and results (with highlighted excerpts) for each caller: what
    differential tests compare between a written index, a reopened one and a fresh build."""
    callers = list(callers)
    out = []
    for query in queries:
        for caller in callers:
            page = engine.search(query, caller=caller, limit=100, excerpt="highlight")
            out.append((query, page.totalSize, [r.model_dump() for r in page.results]))
    return out
