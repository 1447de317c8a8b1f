"""The derived file (``index.core.derived``): a build stores what opening would otherwise
rebuild (sort ranks, the default ordering, few-valued fields, what hangs below the
permission gates), and no answer depends on whether it is there, current, stale or
absent."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sitegen import BLOCKED_APP, USER, every_answer, item, write_site
from test_permissions_properties import STATUSES, PermSite, perm_sites, write_perm_site

from index import AnonymousCaller, Engine
from index import engine as engine_module
from index.core import derived, links, manifest, relevance
from index.core.backend import TEXT_FIELDS, IndexStore
from index.core.columns import build_ordering
from index.core.derived import DERIVED_FILE
from index.security import permissions
from index.site import catalogue
from index.site.models import Space

QUERIES = [
    "type = page", "space = A ORDER BY title", "space IN (A, B) ORDER BY space, type DESC",
    "type IN (comment, attachment) ORDER BY created DESC", "text ~ alpha",
    "space IN (A, B, C) ORDER BY id DESC", "type = space",
    "lastmodified > 2024-02-03 ORDER BY lastmodified",
    "parent = 1", "container = 4", "ancestor = 1 ORDER BY title DESC",
    "parent.title ~ root", "parent.title = \"Root\"", "parent.title ~ \"restricted\"",
    "type IN (page, blogpost) ORDER BY space DESC, title", "space IN (A, B) ORDER BY type, id DESC",
    "type IN (page, comment) ORDER BY type DESC, created",
]
CALLERS = [None, USER, BLOCKED_APP, AnonymousCaller()]


def content() -> list[dict[str, Any]]:
    restricted = item("3", space="A", parent="1", body="alpha", day=3)
    restricted["read_restrictions"] = {"users": ["u2"]}
    draft = item("4", space="B", body="alpha beta", day=4)
    draft["status"] = "draft"
    draft["creator"] = "u2"
    trashed = item("7", space="C", day=7)
    trashed["status"] = "trashed"
    return [
        item("1", space="A", title="Root", body="alpha", day=1),
        item("2", space="A", parent="1", title="Child", body="beta", day=2),
        restricted,
        item("5", space="A", parent="3", title="Under restricted", day=5),
        draft,
        item("6", "comment", space="B", container="4", body="alpha", day=6),
        trashed,
        item("8", "attachment", space="C", container="7", day=8),
        item("9", "blogpost", space="B", title="Blog", body="alpha gamma", day=9),
        item("10", "comment", space="A", container="1", day=10),
    ]


def answers(engine: Engine) -> list[Any]:
    return every_answer(engine, QUERIES, CALLERS)


def test_orderings_from_a_stored_one_are_those_built_from_ranks(tmp_path: Path) -> None:
    """A key list ending in a stored ordering's key starts from that ordering (with the
    file and without it); the result is the ordering three sorts of every document give."""
    lines = [item(str(n), ["page", "blogpost"][n % 2], space="AB"[n % 3 == 0],
                  title=f"t{n % 4}", day=n % 5 + 1) for n in range(1, 40)]
    Engine.build(write_site(tmp_path / "site", lines), tmp_path / "ix")
    for present in (True, False):
        if not present:
            drop_derived(tmp_path / "ix")
        snap = Engine.open(tmp_path / "ix").store.snapshot()
        assert (snap.derived is not None) == present
        for last in engine_module.STORED_ORDERS:
            for first in itertools.product(engine_module.SORT_FIELDS, (False, True)):
                keys = (first, *last)
                expected = build_ordering(
                    snap.size, [(engine_module._ranks(snap, f), d) for f, d in keys],
                    engine_module._ranks(snap, "id").__getitem__)
                assert engine_module._ordering(snap, keys).order == expected.order, keys


def drop_derived(index_dir: Path) -> None:
    (index_dir / "whoosh" / DERIVED_FILE).unlink()
    manifest.record(index_dir / "whoosh")


def test_a_build_writes_it_and_answers_do_not_depend_on_it(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", content())
    Engine.build(site, tmp_path / "ix")
    with_file = Engine.open(tmp_path / "ix")
    assert with_file.store.snapshot().derived is not None
    expected = answers(with_file)
    assert any(total for _, total, _ in expected)
    drop_derived(tmp_path / "ix")
    without = Engine.open(tmp_path / "ix")
    assert without.store.snapshot().derived is None
    assert answers(without) == expected


#: Parts of the derived file added after its first format: a file without them is read,
#: and what it lacks is computed as before.
LATER_PARTS = (links.CHILDREN_ARRAY, links.STARTS_ARRAY,
               *(relevance.SLICES_ARRAY.format(f) for f in TEXT_FIELDS),
               *(f"{permissions.CONTRIBUTED}:{part}" for part in ("accounts", "offsets",
                                                                  "members")))


def test_a_file_without_the_later_parts_is_read_and_the_next_write_adds_them(
        tmp_path: Path) -> None:
    lines = content()
    Engine.build(write_site(tmp_path / "site", lines), tmp_path / "ix")
    expected = answers(Engine.open(tmp_path / "ix"))
    whoosh_dir = tmp_path / "ix" / "whoosh"
    snap = IndexStore(whoosh_dir).snapshot()
    stored = snap.derived
    assert isinstance(stored, derived.Derived)
    assert all(stored.has(name) for name in LATER_PARTS)
    arrays = {name: found for name in stored._arrays if name not in LATER_PARTS
              and (found := stored.array(name)) is not None}
    derived.write(whoosh_dir, snap.reader, arrays,
                  {key: found for key in stored.keys()
                   if (found := stored.stored(*key)) is not None}, stored.complete)
    manifest.record(whoosh_dir)
    older = Engine.open(tmp_path / "ix")
    read = older.store.snapshot().derived
    assert read is not None and not any(read.has(name) for name in LATER_PARTS)
    assert answers(older) == expected
    changed = item("2", space="A", parent="1", title="Child renamed", body="alpha", day=12)
    older.upsert([changed])
    lines[1] = changed
    written = derived.load(whoosh_dir, older.store.snapshot().reader)
    assert written is not None and all(written.has(name) for name in LATER_PARTS)
    fresh = Engine.build(write_site(tmp_path / "site2", lines), tmp_path / "fresh")
    assert answers(Engine.open(tmp_path / "ix")) == answers(older) == answers(fresh)


def test_a_commit_rewrites_it_and_a_stale_copy_is_ignored(tmp_path: Path) -> None:
    lines = content()
    site = write_site(tmp_path / "site", lines)
    engine = Engine.build(site, tmp_path / "ix")
    derived_path = tmp_path / "ix" / "whoosh" / DERIVED_FILE
    shutil.copyfile(derived_path, tmp_path / "old.bin")
    changed = item("2", space="A", parent="1", title="Child renamed", body="alpha", day=12)
    engine.upsert([changed])
    lines[1] = changed
    fresh = Engine.build(write_site(tmp_path / "site2", lines), tmp_path / "fresh")
    expected = answers(fresh)
    # The commit wrote the file of the new commit, recorded in the manifest (verified).
    assert derived_path.read_bytes() != (tmp_path / "old.bin").read_bytes()
    reopened = Engine.open(tmp_path / "ix", verify=True)
    assert reopened.store.snapshot().derived is not None
    assert answers(reopened) == answers(engine) == expected
    engine.delete(["10"])
    assert Engine.open(tmp_path / "ix").store.snapshot().derived is not None
    shutil.copyfile(tmp_path / "old.bin", derived_path)  # a stale file of the first commit
    manifest.record(tmp_path / "ix" / "whoosh")
    stale = Engine.open(tmp_path / "ix")
    assert stale.store.snapshot().derived is None
    assert answers(stale) == answers(engine)
    drop_derived(tmp_path / "ix")
    assert answers(Engine.open(tmp_path / "ix")) == answers(engine)


def test_a_derived_file_that_does_not_parse_is_ignored(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", content())
    Engine.build(site, tmp_path / "ix")
    expected = answers(Engine.open(tmp_path / "ix"))
    (tmp_path / "ix" / "whoosh" / DERIVED_FILE).write_bytes(b"CQLDERIV\x09\x00\x00\x00junk")
    manifest.record(tmp_path / "ix" / "whoosh")
    reopened = Engine.open(tmp_path / "ix")
    assert reopened.store.snapshot().derived is None
    assert answers(reopened) == expected


# --- the permission gates it stores -------------------------------------------------------


def same_stored(index_dir: Path) -> None:
    """The gates, space sets and accounts' drafts a snapshot reads from the derived file
    are those computed from Whoosh, for the permissions of the index's catalogue."""
    rules = Engine.open(index_dir).permissions
    stored = IndexStore(index_dir / "whoosh").snapshot()
    assert stored.derived is not None
    assert permissions._stored_gates(stored) is not None
    assert permissions._stored_space_sets(stored, rules.token) is not None
    computed = IndexStore(index_dir / "whoosh").snapshot()
    computed.__dict__["derived"] = None  # as without the file
    assert permissions._gates(stored) == permissions._computed_gates(computed)
    assert permissions._space_sets(stored, rules) == permissions._space_sets(computed, rules)
    # Each account's own drafts: stored, and by its contributor term without the file.
    assert permissions._stored_contributions(stored.derived) is not None
    drafts = permissions._gates(computed).drafts
    for account in [*rules.users, *computed.lexicon("contributor"), "nobody"]:
        assert (permissions.own_drafts(stored, drafts, account)
                == permissions.own_drafts(computed, drafts, account)
                == drafts & computed.term("contributor", account)), account


def test_stored_gates_of_nested_restrictions_drafts_and_trash(tmp_path: Path) -> None:
    """Every set of the gates non-empty: restrictions within restrictions, a draft and a
    trashed page holding comments and attachments."""
    lines = content()
    inner = item("11", space="A", parent="3", title="Inner", day=11)
    inner["read_restrictions"] = {"users": ["u1"]}
    lines += [inner, item("12", space="A", parent="11", day=12),
              item("13", "attachment", space="A", container="11", day=13)]
    Engine.build(write_site(tmp_path / "site", lines), tmp_path / "ix")
    same_stored(tmp_path / "ix")
    gates = permissions._gates(IndexStore(tmp_path / "ix" / "whoosh").snapshot())
    assert all(getattr(gates, name) for name in (*permissions._GATE_SETS,
                                                 *permissions._GATE_MAPS))


@given(perm_sites(), st.data())
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_stored_gates_are_the_computed_ones(g: PermSite, data: st.DataObject) -> None:
    """On generated permission sites, after a build and after upserts that restrict, open,
    draft and trash items, and a delete."""
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "ix"
        engine = Engine.build(write_perm_site(Path(tmp) / "site", g), index_dir)
        same_stored(index_dir)
        tree = [i for i in g.items if i["type"] not in ("comment", "attachment")]
        changed = []
        for line in data.draw(st.lists(st.sampled_from(tree), max_size=3, unique_by=id)):
            new = {**line, "status": data.draw(st.sampled_from(STATUSES))}
            new.pop("read_restrictions", None)
            if data.draw(st.booleans()):
                new["read_restrictions"] = {"users": ["u1"], "groups": ["g2"]}
            changed.append(new)
        assert engine.upsert(changed) == []
        same_stored(index_dir)
        gone = data.draw(st.lists(st.sampled_from([i["id"] for i in g.items]), max_size=2))
        engine.delete(gone)
        same_stored(index_dir)
        # the catalogue: a space's grants change (a commit of its entity), a space is added
        key = data.draw(st.sampled_from(sorted(g.spaces)))
        view = {"groups": ["g1"], "all_licensed_users": data.draw(st.booleans()),
                "anonymous": data.draw(st.booleans())}
        engine.upsert_catalog(spaces=[
            {"key": key, "name": f"Space {key}", "type": "global", "permissions": {"view": view}},
            {"key": "ADDED", "name": "Added", "type": "global"}])
        same_stored(index_dir)


def test_masks_stored_under_another_format_are_not_read(tmp_path: Path,
                                                        monkeypatch: Any) -> None:
    site = write_site(tmp_path / "site", content())
    Engine.build(site, tmp_path / "ix")
    token = Engine.open(tmp_path / "ix").permissions.token
    expected = answers(Engine.open(tmp_path / "ix"))
    # what another program wrote under these names
    monkeypatch.setattr(permissions, "GATES_FORMAT", "gates.v0")
    monkeypatch.setattr(permissions, "SPACES_FORMAT", "spaces.v0")
    snap = IndexStore(tmp_path / "ix" / "whoosh").snapshot()
    assert snap.derived is not None and permissions._stored_gates(snap) is None
    assert permissions._stored_space_sets(snap, token) is None
    assert answers(Engine.open(tmp_path / "ix")) == expected


def test_space_sets_of_other_permission_facts_are_not_read(tmp_path: Path) -> None:
    """A catalogue rewritten without a commit (by another program): the stored sets were
    made for other facts, and the masks are computed for these ones."""
    site = write_site(tmp_path / "site", content())
    Engine.build(site, tmp_path / "ix")
    before = Engine.open(tmp_path / "ix")
    opened = catalogue.load(tmp_path / "ix" / "catalog.json")
    closed = Space.model_validate({"key": "A", "name": "Space A", "type": "global",
                                   "permissions": {"view": {"users": ["u2"]}}})
    (tmp_path / "ix" / "catalog.json").write_bytes(catalogue.dumps(
        [closed, *(s for k, s in opened.spaces.items() if k != "A")],
        opened.users.values(), opened.groups.values(), opened.rejected_accounts,
        opened.extras))
    after = Engine.open(tmp_path / "ix")
    assert after.permissions.token != before.permissions.token
    snap = after.store.snapshot()
    assert snap.derived is not None
    assert permissions._stored_space_sets(snap, after.permissions.token) is None
    assert after.count("space = A", caller=USER) == 0 < before.count("space = A", caller=USER)
