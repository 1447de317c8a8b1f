"""A running engine whose index is replaced, and a policy store changed behind its back.

``cql index SITE --out DIR`` replaces ``DIR`` while a REPL or a service has it open. The
engine tells indexes apart by the build id written at build time (Whoosh's generation
number cannot: a fresh build is always generation 1) and then reloads the catalogue
(spaces, users), the snapshot and the policy store together. A search never mixes the
documents of one build with the policies or space list of another.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sitegen import APPS, BLOCKED_APP, POLICIES, SPACES, USER, all_ids, item, write_site

from index.engine import Engine
from index.errors import EngineError
from index.security.enforcement import POLICY_FILE


def build(tmp_path: Path, name: str, content: list[dict], *, spaces: list[dict] | None = None,
          policies: list[dict] | None = None, index: str = "index") -> Engine:
    site = write_site(tmp_path / name, content, spaces=spaces)
    if policies is not None:
        (site / "policies.json").write_text(json.dumps(policies))
    return Engine.build(site, tmp_path / index)


def test_the_build_id_is_the_index_identity_and_upserts_keep_it(tmp_path: Path) -> None:
    first = build(tmp_path, "one", [item("1")])
    ident = first.build_id
    assert ident and len(ident) >= 16
    assert first.upsert([item("2")]) == []
    assert Engine.open(tmp_path / "index").build_id == ident
    second = build(tmp_path, "two", [item("1")])
    assert second.build_id != ident


def test_old_documents_are_never_served_with_new_policies(tmp_path: Path) -> None:
    """v1: secret page 50 in B, which a policy closes to the app. v2: page 50 is gone and
    B is open. A mix of v1's documents and v2's policies would show 50 to the app."""
    running = build(tmp_path, "one", [item("1"), item("50", space="B", title="secret")])
    assert all_ids(running, "space = B", caller=BLOCKED_APP) == []
    build(tmp_path, "two", [item("1"), item("51", space="B")], policies=[])
    assert all_ids(running, "space = B", caller=BLOCKED_APP) == ["51"]
    assert all_ids(running, "id = 50") == []


def test_a_space_added_by_the_rebuild_is_masked(tmp_path: Path) -> None:
    """v2 adds space D, closed to the app. The running engine (whose index had moved past
    Whoosh generation 1, so it does reopen the new segments) must also load the new
    space list, or D's content would be unmasked."""
    running = build(tmp_path, "one", [item("1")])
    assert running.upsert([item("2")]) == []  # generation 2
    spaces = [*SPACES, {"key": "D", "name": "Space D", "type": "global"}]
    closed_d = [{**POLICIES[0], "id": "p-d", "coverage": {"level": "CONTAINER",
                                                          "spaces": ["D"]}}]
    build(tmp_path, "two", [item("1"), item("60", space="D")], spaces=spaces,
          policies=closed_d)
    assert all_ids(running, "id = 60", caller=BLOCKED_APP) == []
    assert all_ids(running, "id = 60", caller=USER) == ["60"]
    assert "D" in running.spaces
    assert "D" in {k for k in running.policy_layer().hidden_for_app("app-x")}


def test_a_cursor_from_the_old_build_is_refused(tmp_path: Path) -> None:
    running = build(tmp_path, "one", [item(str(n)) for n in range(1, 6)])
    page = running.search("type = page", limit=2)
    assert page.next is not None
    build(tmp_path, "two", [item(str(n)) for n in range(1, 6)])
    with pytest.raises(EngineError) as err:
        running.search("type = page", limit=2, cursor=page.next)
    assert err.value.code == "bad_cursor"


def test_policy_changes_are_seen_even_with_the_same_size_and_mtime(tmp_path: Path) -> None:
    running = build(tmp_path, "one", [item("1"), item("50", space="B")])
    assert all_ids(running, "space = B", caller=BLOCKED_APP) == []
    path = running.index_dir / POLICY_FILE
    before = os.stat(path)
    other = Engine.open(tmp_path / "index")
    other.policy_layer().change("deactivate", "p-b")
    # Same size and modification time as before, as a coarse-clocked copy could leave it.
    compact = json.dumps(json.loads(path.read_text()), separators=(",", ":"))
    assert len(compact) <= before.st_size
    path.write_text(compact.ljust(before.st_size))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    assert all_ids(running, "space = B", caller=BLOCKED_APP) == ["50"]


def test_apps_file_is_the_same_across_builds(tmp_path: Path) -> None:
    """Sanity for the helpers above: every build installs the blocked app."""
    running = build(tmp_path, "one", [item("1")])
    assert [a.app_id for a in running.policy_layer().store.apps] == [
        a["app_id"] for a in APPS]
