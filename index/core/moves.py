"""What moves with an item: the space of everything below it.

Confluence moves a page to another space with its whole subtree, and comments and
attachments always live in their container's space. ``derive`` (``index.site.loader``)
recomputes ancestors and rejects an item whose parent or container is in another space,
so before deriving, an upsert gives every stored item below an upserted one the space of
the item it hangs from. Without this, the children and comments of a page moved to
another space were rejected and stayed in the old space, under a parent in the new one,
where a policy on the new space did not reach them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def carry_spaces(stored: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """Stored items (by id) overlaid with the ``incoming`` ones, each stored item given the
    space of the item it hangs from (parent or container) when that one is known here.

    Items arriving in the batch keep the space they state (a comment sent with its old
    space after its page moved is then rejected by ``derive``, not silently moved). Walks
    are iterative and memoised: linear in the number of items, whatever the depth.
    """
    known: dict[str, Any] = {**stored, **incoming}
    space: dict[str, str] = {i: incoming[i].space for i in incoming}
    for start in known:
        path: list[str] = []
        seen: set[str] = set()
        at: str | None = start
        while at is not None and at not in space and at in known and at not in seen:
            seen.add(at)
            path.append(at)
            item = known[at]
            at = item.parent_id or item.container_id
        top = space.get(at) if at is not None else None
        for item_id in reversed(path):
            # A root, an item hanging from something not loaded here, or a cycle (which
            # derive rejects) keeps its own space.
            top = space[item_id] = top if top is not None else known[item_id].space
    out: dict[str, Any] = {}
    for item_id, item in known.items():
        if item_id not in incoming and item.space != space[item_id]:
            item = item.model_copy(update={"space": space[item_id]})
        out[item_id] = item
    return out
