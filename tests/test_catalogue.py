"""The catalogue as opened equals the catalogue as validated (``index.site.catalogue``).

Opening an index makes its spaces, users and groups without validating them again and
reads each user's line only when asked for it; these properties hold that to what
validating the site gives: for generated catalogues (account ids and names with quotes,
backslashes, newlines, line separators and characters outside the BMP), for indexes
built from generated permission sites, and after upserts of content and of the
catalogue. A catalogue edited so that its layout no longer holds is read in full, or
refused, never read as the wrong user.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from test_permissions_properties import PermSite, perm_sites, write_perm_site

from index.engine import Engine
from index.errors import EngineError
from index.security.permissions import SitePermissions, site_permissions
from index.site import catalogue
from index.site.loader import load_site
from index.site.models import Group, Space, User

TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=6)
TRICKY = st.one_of(TEXT, st.sampled_from(['"', "\\", "\n", "\u2028", ",\n", "]}", "é𝄞"]))
NAMES = st.sampled_from(["g1", "g 2", "team-x", "é"])
ACCOUNTS = st.one_of(st.sampled_from(["u1", "u2", "712020:ab-cd"]), TRICKY)


def grantees(draw: st.DrawFn) -> dict[str, Any]:
    return {"users": draw(st.lists(ACCOUNTS, max_size=2)),
            "groups": draw(st.lists(NAMES, max_size=2))}


@st.composite
def spaces(draw: st.DrawFn) -> list[Space]:
    out = []
    for n, key in enumerate(draw(st.lists(st.sampled_from(["A", "B", "c9", "~u1"]),
                                          unique=True, max_size=4))):
        row: dict[str, Any] = {"key": key, "name": draw(TRICKY),
                               "type": "personal" if key.startswith("~") else "global",
                               "status": draw(st.sampled_from(["current", "archived"])),
                               "categories": draw(st.lists(st.sampled_from(["x", "y"]))),
                               "description": draw(TRICKY)}
        if n % 2 or draw(st.booleans()):
            row["permissions"] = {"view": {**grantees(draw), "anonymous": draw(st.booleans()),
                                           "all_licensed_users": draw(st.booleans())},
                                  "administer": grantees(draw)}
        out.append(valid(Space, row))
    return out


@st.composite
def users(draw: st.DrawFn) -> list[User]:
    out = []
    for account in draw(st.lists(ACCOUNTS, unique=True, max_size=5)):
        row: dict[str, Any] = {"account_id": account, "display_name": draw(TRICKY),
                               "active": draw(st.booleans()),
                               "favourite_content": draw(st.lists(st.sampled_from(["1", "22"]))),
                               "recently_viewed_spaces": draw(st.lists(TRICKY, max_size=2))}
        if draw(st.booleans()):
            row.update(kind="guest", guest_space="A")
        out.append(valid(User, row))
    return out


@st.composite
def groups(draw: st.DrawFn) -> list[Group]:
    return [valid(Group, {"name": name, "members": draw(st.lists(ACCOUNTS, max_size=3))})
            for name in draw(st.lists(NAMES, unique=True, max_size=3))]


def valid(model: Any, row: dict[str, Any]) -> Any:
    try:
        return model.model_validate(row)
    except ValidationError:
        from hypothesis import reject
        reject()


def same_catalogue(opened: catalogue.Catalogue, spaces_: list[Space], users_: list[User],
                   groups_: list[Group]) -> None:
    assert opened.spaces == {s.key: s for s in spaces_}
    assert list(opened.spaces) == [s.key for s in spaces_]
    assert list(opened.users) == [u.account_id for u in users_]
    assert {a: opened.users[a] for a in opened.users} == {u.account_id: u for u in users_}
    assert opened.groups == {g.name: g for g in groups_}
    for made in [*opened.spaces.values(), *opened.users.values(), *opened.groups.values()]:
        # what a later write dumps and a comparison reads: every field, nested ones made
        assert type(made).model_validate(made.model_dump(mode="json")) == made


@given(spaces(), users(), groups(), st.lists(TEXT, max_size=2), st.booleans())
@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
def test_the_opened_catalogue_is_the_validated_one(spaces_: list[Space], users_: list[User],
                                                   groups_: list[Group], rejected: list[str],
                                                   anonymous: bool) -> None:
    extras = {"site.json": {"anonymous_access": anonymous}}
    raw = catalogue.dumps(spaces_, users_, groups_, rejected, extras)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.json"
        path.write_bytes(raw)
        opened = catalogue.load(path)
        same_catalogue(opened, spaces_, users_, groups_)
        assert opened.rejected_accounts == sorted(rejected) and opened.extras == extras
        # the whole file is still one JSON object, in the fields of the older layout
        whole = json.loads(raw)
        assert whole["users"] == [u.model_dump(mode="json") for u in users_]
        assert whole["spaces"] == [s.model_dump(mode="json") for s in spaces_]
        # the older layout (one JSON object, any formatting) opens to the same catalogue
        path.write_text(json.dumps(whole, indent=1))
        same_catalogue(catalogue.load(path), spaces_, users_, groups_)
    validated = SitePermissions({s.key: s for s in spaces_}, {u.account_id: u for u in users_},
                                {g.name: g for g in groups_}, anonymous_access=anonymous)
    assert site_permissions(opened).token == validated.token


def test_the_token_follows_every_permission_fact() -> None:
    space = Space.model_validate({"key": "A", "name": "A", "type": "global", "permissions": {
        "view": {"users": ["u1"], "groups": ["g1"]}, "administer": {"users": ["u2"]}}})
    group = Group.model_validate({"name": "g1", "members": ["u1", "u2"]})

    def token(spaces_: list[Space], groups_: list[Group], anonymous: bool = False) -> str:
        return SitePermissions({s.key: s for s in spaces_}, {}, {g.name: g for g in groups_},
                               anonymous_access=anonymous).token

    base = token([space], [group])
    perms = space.permissions
    assert perms is not None
    changes = [
        token([space], [group], anonymous=True),
        token([], [group]),
        token([space], []),
        token([space], [group.model_copy(update={"members": ["u1"]})]),
        token([space], [group.model_copy(update={"name": "g2"})]),
        token([space.model_copy(update={"permissions": None})], [group]),
    ]
    for view in ({"users": ["u3"]}, {"groups": ["g2"]}, {"anonymous": True},
                 {"all_licensed_users": True}):
        changed = perms.model_copy(update={"view": perms.view.model_copy(update=view)})
        changes.append(token([space.model_copy(update={"permissions": changed})], [group]))
    for admin in ({"users": ["u3"]}, {"groups": ["g1"]}):
        changed = perms.model_copy(update={
            "administer": perms.administer.model_copy(update=admin)})
        changes.append(token([space.model_copy(update={"permissions": changed})], [group]))
    assert base not in changes and len(set(changes)) == len(changes)
    assert token([space], [group]) == base


def expected(site_dir: Path) -> tuple[list[Space], list[User], list[Group]]:
    site = load_site(site_dir)
    return list(site.spaces.values()), list(site.users.values()), list(site.groups.values())


@given(perm_sites(), st.data())
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_an_opened_index_has_the_validated_catalogue(g: PermSite, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        site_dir = write_perm_site(Path(tmp) / "site", g)
        built = Engine.build(site_dir, Path(tmp) / "index")
        spaces_, users_, groups_ = expected(site_dir)
        opened = Engine.open(Path(tmp) / "index")
        same_catalogue(opened._state.catalog, spaces_, users_, groups_)
        fresh = SitePermissions({s.key: s for s in spaces_}, {u.account_id: u for u in users_},
                                {g.name: g for g in groups_},
                                anonymous_access=g.anonymous_access)
        assert opened.permissions.token == fresh.token == built.permissions.token
        # a content upsert leaves the catalogue as it was
        first = g.items[0]
        assert opened.upsert([{**first, "title": "renamed"}]) == []
        same_catalogue(Engine.open(Path(tmp) / "index")._state.catalog, spaces_, users_,
                       groups_)
        # a catalogue upsert: a new space, a changed user, a new user
        new_space = {"key": "NEW", "name": "New \u2028 space", "type": "global",
                     "permissions": {"view": {"users": ["u1"], "groups": ["g2"]}}}
        changed = {**users_[0].model_dump(mode="json"),
                   "display_name": data.draw(TRICKY, label="display name")}
        new_user = {"account_id": 'n"ew\n', "display_name": "N"}
        opened.upsert_catalog(spaces=[new_space], users=[changed, new_user])
        spaces_.append(Space.model_validate(new_space))
        users_ = [User.model_validate(changed), *users_[1:], User.model_validate(new_user)]
        for engine in (opened, Engine.open(Path(tmp) / "index")):
            same_catalogue(engine._state.catalog, spaces_, users_, groups_)
            assert engine.spaces == {s.key: s for s in spaces_}
            assert engine.permissions.token == SitePermissions(
                {s.key: s for s in spaces_}, {u.account_id: u for u in users_},
                {g.name: g for g in groups_}, anonymous_access=g.anonymous_access).token


# --- a catalogue whose layout no longer holds ---------------------------------------------


def two_users(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.json"
    users_ = [User.model_validate({"account_id": a, "display_name": n})
              for a, n in (("aa", "Ann"), ("bb", "Bob"))]
    path.write_bytes(catalogue.dumps([], users_, [], [], {}))
    return path


def test_a_user_line_edited_to_another_length_is_read_in_full(tmp_path: Path) -> None:
    path = two_users(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"Ann"', b'"Annabel"'))
    opened = catalogue.load(path)
    assert opened.users["aa"].display_name == "Annabel"
    assert opened.users["bb"].display_name == "Bob"


def test_user_lines_swapped_are_refused_not_read_as_the_other_user(tmp_path: Path) -> None:
    path = two_users(tmp_path)
    head, first, second = path.read_bytes().removesuffix(b"\n]}").split(b"\n")
    path.write_bytes(b"\n".join([head, second + b",", first.rstrip(b",")]) + b"\n]}")
    opened = catalogue.load(path)  # the same lengths: the layout looks right
    with pytest.raises(EngineError) as err:
        opened.users["aa"]
    assert err.value.code == "damaged"


def test_an_unreadable_catalogue_is_damage(tmp_path: Path) -> None:
    path = two_users(tmp_path)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(EngineError) as err:
        catalogue.load(path)
    assert err.value.code == "damaged"


def test_records_without_every_field_get_the_defaults(tmp_path: Path) -> None:
    """An older catalogue may lack fields added since: they take their defaults, as when
    validated."""
    user = {"account_id": "a", "display_name": "A"}
    space = {"key": "S", "name": "S", "type": "global",
             "permissions": {"view": {"users": ["a"]}}}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"spaces": [space], "users": [user], "groups": [
        {"name": "g"}]}))
    opened = catalogue.load(path)
    assert opened.users["a"] == User.model_validate(user)
    assert opened.spaces["S"] == Space.model_validate(space)
    assert opened.groups["g"] == Group.model_validate({"name": "g"})
    assert opened.rejected_accounts == [] and opened.extras == {}
