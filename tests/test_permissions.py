"""View permissions end to end: what each caller may see, and that nothing else leaks.

A hand-made site (docs/permissions.md has the model): a team space and an open space, a
restricted subtree three levels deep with comments and attachments on it, a draft with a
child page and a comment, trashed content, a guest, an app's own account, and a space open
to anonymous callers. The tests attack the mask the way ``test_security`` attacks the
policy mask: counts, ids, ``ancestor``/``parent``/``container`` probes, ``parent.title``,
ordering, relevance statistics, cursors and error messages, and require that a restricted
item looks exactly like one that does not exist. Expected answers are written from the
model, never read back from the engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import cql
from index.core.context import SearchContext
from index.engine import Engine, SearchPage
from index.errors import EngineError
from index.security.callers import AnonymousCaller, AppCaller, UserCaller
from index.security.permissions import SitePermissions
from index.site.loader import load_site
from index.site.models import Grantees, Group, Space, SpacePermissions, ViewGrant

ROOT = Path(__file__).resolve().parent.parent
SEARCH = frozenset({"search:confluence"})
MISSING = "999999"
ANN, BEN, CAT, GUS = "ann", "ben", "cat", "gus"  # gus is a guest of OPEN
STAFF, SECRETS = "staff", "secret-keepers"


def _item(id_: int, title: str, space: str, *, kind: str = "page", creator: str = ANN,
          body: str = "", **extra: Any) -> dict[str, Any]:
    out = {"id": str(id_), "type": kind, "title": title, "space": space, "creator": creator,
           "created": f"2024-02-{id_ % 27 + 1:02d}T10:00:00+00:00", "body": body}
    out.update(extra)
    return out


def site_files(*, secret_body: str = "merger zebra zebra zebra") -> dict[str, list[Any]]:
    """The site as JSON records; ``secret_body`` changes only restricted content."""
    restrict = {"read_restrictions": {"users": [ANN], "groups": [SECRETS]}}
    content = [
        _item(1, "Team home", "TEAM", body="zebra welcome"),
        _item(2, "Merger plans", "TEAM", parent_id="1", body=secret_body, **restrict),
        _item(3, "Merger timeline", "TEAM", parent_id="2", body=secret_body),
        _item(4, "Merger budget", "TEAM", parent_id="3", body=secret_body),
        _item(5, "", "TEAM", kind="comment", container_id="3", body=secret_body),
        _item(6, "terms.pdf", "TEAM", kind="attachment", container_id="4",
              file_name="terms.pdf"),
        _item(7, "Zebra crossing", "TEAM", body="zebra notes for everyone"),
        _item(8, "Bens unpublished idea", "TEAM", creator=BEN, status="draft",
              body="zebra idea"),
        _item(9, "Child of a draft", "TEAM", parent_id="8", body="zebra child"),
        _item(10, "", "TEAM", kind="comment", container_id="8", body="zebra remark"),
        _item(11, "Old zebra page", "TEAM", status="trashed", body="zebra old"),
        _item(12, "Open zebra page", "OPEN", body="zebra open"),
        _item(13, "Open restricted", "OPEN", read_restrictions={"users": [CAT]}),
        _item(14, "Public zebra notice", "PUB", body="zebra public"),
        _item(15, "Blog zebra", "TEAM", kind="blogpost", body="zebra blog",
              read_restrictions={"users": [], "groups": []}),  # empty: unrestricted
    ]
    return {
        "spaces.jsonl": [
            {"key": "TEAM", "name": "Team", "type": "global", "permissions": {
                "view": {"groups": [STAFF]}, "administer": {"users": [ANN]}}},
            {"key": "OPEN", "name": "Open", "type": "global"},
            {"key": "PUB", "name": "Public", "type": "global", "permissions": {
                "view": {"anonymous": True, "all_licensed_users": True}}},
        ],
        "groups.jsonl": [{"name": STAFF, "members": [ANN, BEN, CAT, GUS, "app-bot"]},
                         {"name": SECRETS, "members": [BEN]}],
        "users.jsonl": [
            {"account_id": ANN, "display_name": "Ann"},
            {"account_id": BEN, "display_name": "Ben"},
            {"account_id": CAT, "display_name": "Cat"},
            {"account_id": GUS, "display_name": "Gus", "kind": "guest", "guest_space": "OPEN"},
            {"account_id": "app-bot", "display_name": "Bot", "kind": "app"},
        ],
        "content.jsonl": content,
        "site.json": [{"cloud_id": "c0ffee00-0000-4000-8000-000000000002", "name": "Perm",
                       "base_url": "https://perm.example/wiki", "anonymous_access": True}],
        "apps.json": [[{"app_id": "app-bot", "kind": "forge", "name": "Bot",
                        "eligible_for_blocking": True}]],
        "grants.json": [[{"account_id": CAT, "app_id": "app-bot", "scope": "account"}]],
    }


def write(path: Path, files: dict[str, list[Any]]) -> Path:
    path.mkdir(parents=True)
    for name, rows in files.items():
        if name.endswith(".json"):
            (path / name).write_text(json.dumps(rows[0]))
        else:
            (path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    tmp = tmp_path_factory.mktemp("perm")
    built = Engine.build(write(tmp / "site", site_files()), tmp / "index")
    assert built.last_build is not None and built.last_build.rejected == 0
    return built


def ids(engine: Engine, query: str, caller: Any, **kw: Any) -> set[str]:
    return {r.id for r in engine.search(query, caller=caller, limit=100, **kw).results}


def user(account: str) -> UserCaller:
    return UserCaller(account_id=account)


EVERY = SearchContext(content_statuses=("current", "draft", "trashed"))


# --- who sees what --------------------------------------------------------------------------


@pytest.mark.parametrize("caller, expected", [
    # ann: staff, named on the restriction, space admin of TEAM (sees its trash)
    (user(ANN), {"1", "2", "3", "4", "5", "6", "7", "9", "11", "12", "14", "15"}),
    # ben: in the restriction's group; his own draft and what it holds
    (user(BEN), {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "14", "15"}),
    # cat: staff but restricted out (the whole subtree, its comment and attachment)
    (user(CAT), {"1", "7", "9", "12", "13", "14", "15"}),
    # an account unknown to users.jsonl: a licensed user without groups
    (user("zed"), {"12", "14"}),
    # the guest: OPEN only, although the staff group grants TEAM
    (user(GUS), {"12"}),
    (AnonymousCaller(), {"14"}),
    # an app acting for cat sees cat's view (no policy blocks it here)
    (AppCaller(app_id="app-bot", kind="forge", scopes=SEARCH, acting_for=CAT),
     {"1", "7", "9", "12", "13", "14", "15"}),
    # the app as itself: its own account is in staff, not in the restriction
    (AppCaller(app_id="app-bot", kind="forge", scopes=SEARCH),
     {"1", "7", "9", "12", "14", "15"}),
])
def test_each_caller_sees_its_permitted_content(engine: Engine, caller: Any,
                                                expected: set[str]) -> None:
    query = "type IN (page, blogpost, comment, attachment)"
    assert ids(engine, query, caller, context=EVERY) == expected
    page = engine.search(query, caller=caller, context=EVERY, limit=1)
    assert page.totalSize == len(expected)


def test_the_operator_sees_everything(engine: Engine) -> None:
    assert len(ids(engine, "type != space", None, context=EVERY, dialect="lenient")) == 15


def test_space_entities_follow_view_permission(engine: Engine) -> None:
    assert ids(engine, "type = space", user(CAT)) == {"space:TEAM", "space:OPEN", "space:PUB"}
    assert ids(engine, "type = space", user(GUS)) == {"space:OPEN"}
    assert ids(engine, "type = space", AnonymousCaller()) == {"space:PUB"}
    assert ids(engine, "type = space", user("zed")) == {"space:OPEN", "space:PUB"}


# --- a restricted item looks exactly like a missing one ---------------------------------------


def comparable(page: SearchPage) -> dict[str, Any]:
    data = page.model_dump(mode="json")
    data.pop("cqlQuery")
    data.pop("searchDuration")
    return data


@pytest.mark.parametrize("template", [
    "id = {}", "ancestor = {}", "parent = {}", "container = {}", "id IN ({}, 999998)",
    "ancestor = {} OR id = {}", "space = TEAM AND NOT ancestor = {}",
    "id = {} ORDER BY title", "parent = {} AND text ~ zebra",
])
@pytest.mark.parametrize("restricted", ["2", "3", "4", "5", "13"])
def test_probes_of_restricted_items_look_like_probes_of_missing_ones(
        engine: Engine, template: str, restricted: str) -> None:
    refused, allowed = (user(BEN), user(CAT)) if restricted == "13" else (user(CAT), user(BEN))
    probe = engine.search(template.format(restricted, restricted), caller=refused)
    missing = engine.search(template.format(MISSING, MISSING), caller=refused)
    assert comparable(probe) == comparable(missing)
    # and the probe is not vacuous: a caller the restriction lets through finds the item
    if template.startswith(("id = ", "id IN")):
        assert engine.search(template.format(restricted, restricted),
                             caller=allowed).totalSize == 1


def test_parent_title_cannot_name_a_parent_the_caller_may_not_view(engine: Engine) -> None:
    # 9's parent is ben's draft: its title is ben's to search, not cat's
    assert ids(engine, 'parent.title = "Bens unpublished idea"', user(BEN)) == {"9"}
    assert ids(engine, 'parent.title ~ unpublished', user(BEN)) == {"9"}
    for caller in (user(CAT), user(ANN)):
        assert ids(engine, 'parent.title = "Bens unpublished idea"', caller) == set()
        assert ids(engine, "parent.title ~ unpublished", caller) == set()
    assert ids(engine, "parent.title ~ unpublished", None) == {"9"}


def test_relevance_statistics_ignore_content_the_caller_may_not_view(tmp_path: Path) -> None:
    """Stuffing restricted items with the search word changes nothing cat sees: not the
    set, not the order, not the scores (document frequencies are cat's)."""
    pages = []
    for n, body in enumerate(("zebra", "zebra zebra zebra zebra zebra zebra zebra zebra")):
        site = write(tmp_path / f"site{n}", site_files(secret_body=body))
        engine = Engine.build(site, tmp_path / f"index{n}")
        pages.append(engine.search("text ~ zebra", caller=user(CAT), limit=50,
                                   excerpt="highlight"))
    assert pages[0].totalSize > 0
    assert [comparable(p) for p in pages][0] == [comparable(p) for p in pages][1]
    # ben sees the stuffed items, so for him the order does depend on them (not vacuous)
    assert pages[0].results[0].id != "2"


def test_excerpts_and_counts_never_carry_restricted_text(engine: Engine) -> None:
    page = engine.search("text ~ merger", caller=user(CAT), limit=50)
    assert page.totalSize == 0 and page.results == []
    allowed = engine.search("text ~ merger", caller=user(BEN), limit=50)
    assert {r.id for r in allowed.results} == {"2", "3", "4", "5"}
    for r in engine.search("text ~ zebra", caller=user(CAT), limit=50).results:
        assert "merger" not in (r.excerpt + r.title).lower()


def test_a_cursor_is_bound_to_its_caller(engine: Engine) -> None:
    page = engine.search("space = TEAM", caller=user(BEN), limit=2)
    assert page.next is not None
    with pytest.raises(EngineError) as err:
        engine.search("space = TEAM", caller=user(CAT), limit=2, cursor=page.next)
    assert err.value.code == "bad_cursor"
    seen = [r.id for r in page.results]
    while page.next is not None:
        page = engine.search("space = TEAM", caller=user(BEN), limit=2, cursor=page.next)
        seen += [r.id for r in page.results]
    assert "2" in seen and len(seen) == len(set(seen))


def test_errors_say_nothing_about_restricted_content(engine: Engine) -> None:
    for caller in (user(BEN), AnonymousCaller()):
        for bad in ("id = 13 AND", "ancestor = 13 ORDER BY nope", "parent = 13 AND ("):
            with pytest.raises(cql.CqlError) as probe:
                engine.search(bad, caller=caller)
            with pytest.raises(cql.CqlError) as missing:
                engine.search(bad.replace("13", "98"), caller=caller)
            assert str(probe.value).replace("13", "98") == str(missing.value)
    with pytest.raises(cql.CqlError) as err:
        engine.search("creator = currentUser()", caller=AnonymousCaller())
    assert err.value.code == "needs_context"


# --- anonymous access and policies ------------------------------------------------------------


def test_anonymous_access_needs_the_site_switch(tmp_path: Path) -> None:
    files = site_files()
    files["site.json"][0]["anonymous_access"] = False
    engine = Engine.build(write(tmp_path / "site", files), tmp_path / "index")
    assert engine.count("type != space", caller=AnonymousCaller(), dialect="lenient") == 0
    # signed-in users are not affected by the switch
    assert ids(engine, "space = PUB", user("zed")) == {"14"}


@pytest.mark.parametrize("switch", [True, False])
def test_a_signed_in_account_may_view_what_anonymous_may(tmp_path: Path, switch: bool) -> None:
    files = site_files()
    files["spaces.jsonl"][2]["permissions"] = {"view": {"anonymous": True}}
    files["site.json"][0]["anonymous_access"] = switch
    engine = Engine.build(write(tmp_path / "site", files), tmp_path / "index")
    assert ids(engine, "space = PUB", AnonymousCaller()) == ({"14"} if switch else set())
    assert ids(engine, "space = PUB", user("zed")) == ({"14"} if switch else set())
    assert ids(engine, "space = PUB", user(GUS)) == set()  # a guest: OPEN only


def test_the_anonymous_access_rule_closes_an_anonymous_space(tmp_path: Path) -> None:
    files = site_files()
    files["policies.json"] = [[{"id": "p", "name": "No anon PUB", "active": True,
                                "coverage": {"level": "CONTAINER", "spaces": ["PUB"]},
                                "rules": {"anonymous_access": True}}]]
    engine = Engine.build(write(tmp_path / "site", files), tmp_path / "index")
    assert engine.count("space = PUB", caller=AnonymousCaller()) == 0
    assert engine.count("space = PUB", caller=user(CAT)) == 1


def test_an_app_sees_the_intersection_of_user_policy_and_scopes(tmp_path: Path) -> None:
    files = site_files()
    files["policies.json"] = [[{"id": "p", "name": "Block bot in OPEN", "active": True,
                                "coverage": {"level": "CONTAINER", "spaces": ["OPEN"]},
                                "rules": {"app_access": {"mode": "blocklist",
                                                         "apps": ["app-bot"]}}}]]
    engine = Engine.build(write(tmp_path / "site", files), tmp_path / "index")
    app = AppCaller(app_id="app-bot", kind="forge", scopes=SEARCH, acting_for=CAT)
    assert ids(engine, "type = page", app) == ids(engine, "type = page", user(CAT)) - {
        "12", "13"}
    strict = engine.search("type = page", caller=app.model_copy(
        update={"scopes": SEARCH | {"read:blogpost:confluence"}}), strict_scopes=True)
    assert strict.totalSize == 0  # no page scope: pages hidden on top of the rest


# --- changes ----------------------------------------------------------------------------------


def test_an_upserted_restriction_is_visible_to_the_next_search(tmp_path: Path) -> None:
    engine = Engine.build(write(tmp_path / "site", site_files()), tmp_path / "index")
    assert "7" in ids(engine, "text ~ zebra", user(CAT))
    item = next(i for i in site_files()["content.jsonl"] if i["id"] == "7")
    assert engine.upsert([{**item, "read_restrictions": {"users": [ANN]}}]) == []
    assert "7" not in ids(engine, "text ~ zebra", user(CAT))
    assert "7" in ids(engine, "text ~ zebra", user(ANN))
    # moving an open page under the restricted one closes it too
    item = next(i for i in site_files()["content.jsonl"] if i["id"] == "1")
    moved = next(i for i in site_files()["content.jsonl"] if i["id"] == "9")
    assert engine.upsert([{**moved, "parent_id": "2"}]) == []
    assert "9" not in ids(engine, "text ~ zebra", user(CAT))
    assert item["id"] in ids(engine, "text ~ zebra", user(CAT))


def test_every_restriction_change_is_seen_by_the_next_search_of_a_warm_caller(
        tmp_path: Path) -> None:
    """Each caller searched first (masks, visible sets and relevance statistics cached),
    then a restriction is added to a group, moved to another group, lifted, and its page
    deleted: every next search, counts and scores included, follows at once."""
    engine = Engine.build(write(tmp_path / "site", site_files()), tmp_path / "index")
    page = next(i for i in site_files()["content.jsonl"] if i["id"] == "7")

    def seen(account: str) -> tuple[bool, int, list[float | None]]:
        found = engine.search("text ~ zebra", caller=user(account), limit=50)
        return ("7" in {r.id for r in found.results}, found.totalSize,
                [r.score for r in found.results])

    before = {a: seen(a) for a in (ANN, BEN, CAT)}
    assert all(visible for visible, _, _ in before.values())
    steps: list[tuple[dict[str, Any], set[str]]] = [
        ({"groups": [SECRETS]}, {BEN}),  # ben is in secret-keepers
        ({"groups": [STAFF]}, {ANN, BEN, CAT}),
        ({"users": [CAT]}, {CAT}),
        ({"users": [], "groups": []}, {ANN, BEN, CAT}),  # empty: lifted
    ]
    for restriction, allowed in steps:
        assert engine.upsert([{**page, "read_restrictions": restriction}]) == []
        for account in (ANN, BEN, CAT):
            visible, total, _ = seen(account)
            assert visible == (account in allowed), (restriction, account)
            assert total == before[account][1] - (account not in allowed)
    assert {a: seen(a) for a in (ANN, BEN, CAT)} == before  # scores too, once lifted
    assert engine.delete(["7"]) == 1
    assert not any(seen(a)[0] for a in (ANN, BEN, CAT))


def test_per_caller_caches_are_bounded_and_evicted_entries_recomputed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Masks, visible sets and relevance statistics are kept for the most recent callers
    only (an LRU each): many callers never grow them past their bound, and a caller whose
    entries were dropped gets the same answers when it comes back."""
    from index.core import compiler, lru, relevance
    from index.security import permissions

    monkeypatch.setattr(compiler, "VISIBLE_CACHE", 3)
    monkeypatch.setattr(permissions, "MASK_CACHE", 2)
    monkeypatch.setattr(relevance, "STATISTICS_CACHE", 2)
    engine = Engine.build(write(tmp_path / "site", site_files()), tmp_path / "index")
    callers = [user(a) for a in (ANN, BEN, CAT, "zed", GUS)] + [AnonymousCaller()]
    first = {}
    for round_ in range(2):
        for caller in callers:
            for query in ("text ~ zebra", "type = page", "text ~ zebra OR title ~ merger"):
                page = engine.search(query, caller=caller, limit=50)
                got = [(r.id, r.score) for r in page.results], page.totalSize
                if round_ == 0:
                    first[(repr(caller), query)] = got
                else:  # every entry of round 0 was evicted by then
                    assert got == first[(repr(caller), query)]
        snap = engine.store.snapshot()
        assert len(lru.on(snap, "visible", 99)) <= 3
        assert len(lru.on(snap, "permission_masks", 99)) <= 2
        assert len(lru.on(snap, "relevance_statistics", 99)) <= 2


# --- the site format --------------------------------------------------------------------------


BAD_LINES = [
    ("spaces.jsonl", {"key": "X", "name": "X", "type": "global",
                      "permissions": {"view": {"groups": "staff"}}}, "permissions.view.groups"),
    ("spaces.jsonl", {"key": "Y", "name": "Y", "type": "global",
                      "permissions": {"view": {"anonymous": "yes"}}}, "anonymous"),
    ("spaces.jsonl", {"key": "Z", "name": "Z", "type": "global",
                      "permissions": {"viev": {}}}, "unknown field"),
    ("users.jsonl", {"account_id": "g1", "display_name": "G", "kind": "guest"},
     "guest_space is required"),
    ("users.jsonl", {"account_id": "g2", "display_name": "G", "kind": "guest",
                     "guest_space": "NOPE"}, "guest_space 'NOPE'"),
    ("users.jsonl", {"account_id": "g3", "display_name": "G", "kind": "robot"}, "kind"),
    ("groups.jsonl", {"name": "a,b", "members": []}, "commas"),
    ("groups.jsonl", {"name": "staff", "members": ["x"]}, "duplicate group name"),
    ("content.jsonl", _item(50, "R", "OPEN", read_restrictions={"users": [""]}),
     "read_restrictions.users"),
    ("content.jsonl", _item(51, "", "OPEN", kind="comment", container_id="12",
                            read_restrictions={"users": [ANN]}), "follows its container"),
    ("content.jsonl", _item(52, "R", "OPEN", read_restrictions=["ann"]), "read_restrictions"),
]


def test_malformed_permission_data_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    files = site_files()
    for name, row, _ in BAD_LINES:
        files[name].append(row)
    # a child of a page whose restriction was rejected is rejected too: never indexed open
    files["content.jsonl"].append(_item(53, "Child", "OPEN", parent_id="52"))
    site = load_site(write(tmp_path / "site", files))
    by_file: dict[str, list[str]] = {}
    for reject in site.rejects:
        by_file.setdefault(reject.file, []).append(str(reject))
    for name, row, said in BAD_LINES:
        line = files[name].index(row) + 1
        found = [r for r in by_file.get(name, []) if r.startswith(f"{name}:{line}: ")]
        assert found and said in found[0], (name, line, by_file.get(name))
        assert "\n" not in found[0] and "pydantic" not in found[0]
    assert any(r.startswith("content.jsonl:") and "53" in r and "52 was rejected" in r
               for r in by_file["content.jsonl"])
    assert "53" not in site.content and "52" not in site.content


def test_sites_without_permission_data_load_and_search_as_before(tmp_path: Path) -> None:
    files = site_files()
    for space in files["spaces.jsonl"]:
        space.pop("permissions", None)
    for item in files["content.jsonl"]:
        item.pop("read_restrictions", None)
    del files["groups.jsonl"]
    engine = Engine.build(write(tmp_path / "site", files), tmp_path / "index")
    everyone = ids(engine, "type IN (page, blogpost, comment, attachment)", None)
    # every licensed user sees every current item, except what ben's draft holds (a draft
    # and its comments stay its contributors')
    assert ids(engine, "type IN (page, blogpost, comment, attachment)", user(CAT)) == (
        everyone - {"10"})
    assert ids(engine, "type IN (page, blogpost, comment, attachment)", user(BEN)) == everyone
    # a space without permissions names no administrator: its trash is the operator's only
    assert "11" in ids(engine, "type = page", None, context=EVERY)
    for account in (ANN, BEN, CAT):
        assert "11" not in ids(engine, "type = page", user(account), context=EVERY)


# --- the CLI, as a subprocess -------------------------------------------------------------------


def test_cli_search_as_user_shows_the_difference(engine: Engine) -> None:
    def run(*extra: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "index.cli", "search", "--index", str(engine.index_dir),
             "--json", "text ~ merger", *extra],
            capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    assert run()["totalSize"] == 4
    assert run("--as-user", BEN)["totalSize"] == 4
    assert run("--as-user", CAT)["totalSize"] == 0
    assert run("--anonymous")["totalSize"] == 0


# --- the permission facts' token --------------------------------------------------------


def _one_field_changed(model: Any) -> Iterator[tuple[str, Any]]:
    """Each copy of ``model`` with one leaf field changed (a flag flipped, a name added),
    by the class's own list of fields: a field added to a model later is changed too."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            for path, changed in _one_field_changed(value):
                yield f"{name}.{path}", model.model_copy(update={name: changed})
        elif isinstance(value, bool):
            yield name, model.model_copy(update={name: not value})
        elif isinstance(value, list):
            yield name, model.model_copy(update={name: [*value, "someone-new"]})
        elif isinstance(value, str):
            yield name, model.model_copy(update={name: value + "-renamed"})
        else:
            raise AssertionError(f"teach this test to change {name}: {value!r}")


def test_every_permission_fact_changes_the_token() -> None:
    """Masks are cached under the token: a fact it missed would keep a stale mask after
    that fact changed, showing content the new facts hide."""
    space = Space(key="DEV", name="Development", type="global",
                  permissions=SpacePermissions(view=ViewGrant(users=["a"]),
                                               administer=Grantees(groups=["admins"])))
    group = Group(name="staff", members=["a"])

    def token(space: Space, group: Group, anonymous: bool = False) -> str:
        return SitePermissions({"DEV": space}, {}, {"staff": group},
                               anonymous_access=anonymous).token

    base = token(space, group)
    assert token(space, group, anonymous=True) != base
    assert token(space.model_copy(update={"permissions": None}), group) != base
    changes = [(f"permissions.{path}", token(space.model_copy(update={"permissions": p}),
                                             group))
               for path, p in _one_field_changed(space.permissions)]
    changes += [(f"group.{path}", token(space, g)) for path, g in _one_field_changed(group)]
    # view: users, groups, anonymous, all licensed; administer: users, groups; group: 2
    assert len(changes) == 8
    assert [path for path, found in changes if found == base] == []


def test_the_token_is_the_same_in_every_process() -> None:
    """The derived file names its stored space sets with the token of the build's process:
    another process must find them (a set's order varies with the hash seed)."""
    code = ("from index.site.loader import load_site; "
            "from index.security.permissions import SitePermissions; "
            "s = load_site(__import__('pathlib').Path('fixtures/site')); "
            "print(SitePermissions(s.spaces, s.users, s.groups).token)")
    tokens = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True,
                             capture_output=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout
              for seed in ("1", "2", "3")}
    assert len(tokens) == 1
