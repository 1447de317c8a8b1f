"""Property: for any site with groups, space permissions, nested read restrictions, guests,
drafts, trash and policies, every caller sees exactly what the reference evaluator says.

Hypothesis generates small sites: spaces with random ``permissions`` (or none), groups with
random members, users of every kind (people, a single-space guest, a deactivated account, an
app's own account), a content tree of every type where tree items and blog posts may carry
``read_restrictions`` at any depth, items in every status with random contributors, the
site's anonymous-access switch, and data security policies (the generators of
``test_policy_properties``). Queries come from the same small CQL grammar plus
``parent.title``.

For every caller (the operator, each account, anonymous, an app acting for a user and apps
acting as themselves) the engine's answer is paged with cursors and compared with the
reference evaluator (``index.reference.evaluator``), which decides permissions item by item by
walking ancestors and shares no code with ``index.security.permissions``: same ids, the same
order under ORDER BY, the same ``totalSize`` on every page, the same errors.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_policy_properties import (
    SPACE_POOL,
    TYPES,
    WORDS,
    _n,
    anonymous_blocked,
    blocked_for,
    expressions,
    place,
    policies_for,
    same,
)

import cql
from index.core.context import SearchContext
from index.engine import Engine
from index.errors import EngineError
from index.reference.evaluator import ReferenceEvaluator
from index.security.callers import AnonymousCaller, AppCaller, UserCaller
from index.site.loader import load_site

ACCOUNTS = ("u1", "u2", "u3", "u4", "u5")  # u3 may be a guest, u5 is deactivated
GROUPS = ("g1", "g2", "g3")
APPS = ("x1", "x2")  # x1 has its own account in users.jsonl, x2 does not
SEARCH = frozenset({"search:confluence"})
STATUSES = ("current",) * 6 + ("draft", "draft", "trashed", "archived")
CONTEXTS = (("current",), ("current", "draft"), ("current", "draft", "trashed"))


@dataclass
class PermSite:
    spaces: dict[str, dict[str, Any] | None]
    groups: list[dict[str, Any]]
    users: list[dict[str, Any]]
    items: list[dict[str, Any]]
    apps: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    anonymous_access: bool


def grantees(draw: st.DrawFn, users: tuple[str, ...] = ACCOUNTS) -> dict[str, list[str]]:
    return {"users": draw(st.lists(st.sampled_from(users), max_size=2, unique=True)),
            "groups": draw(st.lists(st.sampled_from(GROUPS), max_size=2, unique=True))}


@st.composite
def space_permissions(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.integers(0, 3)) == 0:
        return None  # every licensed user may view
    out: dict[str, Any] = {}
    if draw(st.integers(0, 5)) > 0:
        out["view"] = {**grantees(draw, (*ACCOUNTS, "x1")),
                       "anonymous": draw(st.booleans()),
                       "all_licensed_users": draw(st.sampled_from((False, False, True)))}
    if draw(st.booleans()):
        out["administer"] = grantees(draw)
    return out


@st.composite
def perm_sites(draw: st.DrawFn) -> PermSite:
    keys = draw(st.lists(st.sampled_from(SPACE_POOL), min_size=2, max_size=4, unique=True))
    spaces = {k: draw(space_permissions()) for k in keys}
    groups = [{"name": g, "members": draw(st.lists(st.sampled_from((*ACCOUNTS, "x1")),
                                                   max_size=4, unique=True))}
              for g in draw(st.lists(st.sampled_from(GROUPS), max_size=3, unique=True))]
    users: list[dict[str, Any]] = []
    for account in ACCOUNTS:
        user: dict[str, Any] = {"account_id": account, "display_name": f"User {account}"}
        if account == "u3" and draw(st.booleans()):
            user.update(kind="guest", guest_space=draw(st.sampled_from(keys)))
        if account == "u5":
            user["active"] = False
        users.append(user)
    users.append({"account_id": "x1", "display_name": "X1 app", "kind": "app"})
    items: list[dict[str, Any]] = []
    for n in range(1, draw(st.integers(3, 20)) + 1):
        space = draw(st.sampled_from(keys))
        kind = draw(st.sampled_from(TYPES))
        same_space = [i for i in items if i["space"] == space]
        item: dict[str, Any] = {
            "id": str(n), "space": space, "creator": draw(st.sampled_from(ACCOUNTS[:4])),
            "title": " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2))),
            "body": " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=3))),
            "created": f"2024-01-{draw(st.integers(1, 28)):02d}T10:00:00+00:00",
            "status": draw(st.sampled_from(STATUSES)),
            "contributors": draw(st.lists(st.sampled_from(ACCOUNTS[:4]), max_size=2,
                                          unique=True)),
        }
        kind = place(draw, item, kind, same_space, st.integers(0, 3).map(lambda n: n > 0))
        if kind not in ("comment", "attachment") and draw(st.integers(0, 3)) == 0:
            item["read_restrictions"] = grantees(draw)
        item["type"] = kind
        items.append(item)
    apps = [{"app_id": a, "kind": "forge", "name": a.upper(),
             "eligible_for_blocking": draw(st.sampled_from((True, True, False)))}
            for a in APPS]
    count = draw(st.sampled_from((0, 1, 1, 2)))
    policies = [draw(policies_for(keys, n)) for n in range(count)]
    return PermSite(spaces, groups, users, items, apps, policies, draw(st.booleans()))


def write_perm_site(path: Path, g: PermSite) -> Path:
    path.mkdir()

    def lines(rows: list[dict[str, Any]]) -> str:
        return "".join(json.dumps(r) + "\n" for r in rows)

    spaces = []
    for key, perms in g.spaces.items():
        row: dict[str, Any] = {"key": key, "name": f"Space {key}", "type": "global"}
        if perms is not None:
            row["permissions"] = perms
        spaces.append(row)
    (path / "spaces.jsonl").write_text(lines(spaces))
    (path / "groups.jsonl").write_text(lines(g.groups))
    (path / "users.jsonl").write_text(lines(g.users))
    (path / "content.jsonl").write_text(lines(g.items))
    (path / "apps.json").write_text(json.dumps(g.apps))
    (path / "policies.json").write_text(json.dumps(g.policies))
    grants = [{"account_id": u, "app_id": a, "scope": "account"}
              for u in ACCOUNTS for a in APPS]
    (path / "grants.json").write_text(json.dumps(grants))
    (path / "site.json").write_text(json.dumps({
        "cloud_id": "c0ffee00-0000-4000-8000-000000000001", "name": "Generated",
        "base_url": "https://generated.example/wiki", "anonymous_access": g.anonymous_access}))
    return path


def callers(g: PermSite) -> list[Any]:
    out: list[Any] = [None, AnonymousCaller()]
    out += [UserCaller(account_id=a) for a in (*ACCOUNTS, "nobody-known")]
    out += [AppCaller(app_id=a, kind="forge", scopes=SEARCH) for a in APPS]
    out += [AppCaller(app_id="x1", kind="forge", scopes=SEARCH, acting_for=a)
            for a in ("u1", "u3")]
    return out


def policy_mask(caller: Any, g: PermSite) -> frozenset[str]:
    spaces = list(g.spaces)
    if isinstance(caller, AnonymousCaller):
        return anonymous_blocked(g.policies, spaces)
    if isinstance(caller, AppCaller):
        return blocked_for(caller.app_id, g.policies, g.apps, spaces)
    return frozenset()


def queries_for(keys: list[str], max_id: int) -> st.SearchStrategy[str]:
    base = expressions(keys, max_id)
    probes = st.one_of(
        st.builds("parent.title ~ {}".format, st.sampled_from(WORDS)),
        st.builds('parent.title = "{}"'.format, st.sampled_from(WORDS)),
        st.builds("({}) AND type = space".format, base),
        st.just("type = space"),
    )
    text = st.one_of(base, base, probes)
    order = st.sampled_from(("", " ORDER BY id", " ORDER BY title DESC", " ORDER BY created"))
    return st.builds("{}{}".format, text, order)


def run_engine(engine: Engine, query: str, caller: Any, ctx: SearchContext) -> Any:
    try:
        return _paged(engine, query, caller, ctx)
    except (cql.CqlError, EngineError) as err:
        return ("error", err.code)


def _paged(engine: Engine, query: str, caller: Any, ctx: SearchContext) -> list[str]:
    page = engine.search(query, caller=caller, limit=5, dialect="lenient", excerpt="none",
                         context=ctx)
    out, total = [r.id for r in page.results], page.totalSize
    while page.next is not None:
        page = engine.search(query, caller=caller, limit=5, cursor=page.next,
                             dialect="lenient", excerpt="none", context=ctx)
        assert page.totalSize == total
        out.extend(r.id for r in page.results)
    assert len(out) == total
    return out


def run_reference(ref: ReferenceEvaluator, query: str, caller: Any, g: PermSite,
                  ctx: SearchContext) -> Any:
    account = None
    if isinstance(caller, UserCaller):
        account = caller.account_id
    elif isinstance(caller, AppCaller):
        account = caller.acting_for
    try:
        return ref.search(cql.parse(query, dialect="lenient"), account_id=account,
                          hidden_spaces=policy_mask(caller, g), caller=caller, context=ctx)
    except (cql.CqlError, EngineError) as err:
        return ("error", err.code)


@_n(0.4)
@given(st.data())
def test_every_caller_sees_what_the_reference_allows(data: st.DataObject) -> None:
    g = data.draw(perm_sites(), label="site")
    with tempfile.TemporaryDirectory() as tmp:
        site_dir = write_perm_site(Path(tmp) / "site", g)
        engine = Engine.build(site_dir, Path(tmp) / "index")
        assert engine.last_build is not None and engine.last_build.rejected == 0, \
            engine.last_build.rejects
        ref = ReferenceEvaluator(load_site(site_dir))
        statuses = data.draw(st.sampled_from(CONTEXTS), label="statuses")
        ctx = SearchContext(content_statuses=statuses)
        for _ in range(3):
            query = data.draw(queries_for(list(g.spaces), len(g.items)), label="query")
            ordered = " ORDER BY " in query
            for caller in callers(g):
                got = run_engine(engine, query, caller, ctx)
                want = run_reference(ref, query, caller, g, ctx)
                if isinstance(want, tuple) or isinstance(got, tuple):
                    assert got == want, (query, caller)
                    continue
                assert same(got, want, ordered), (query, caller, got, want)


@_n(0.2)
@given(st.data())
def test_an_upserted_restriction_is_seen_by_the_next_search(data: st.DataObject) -> None:
    """Adding, changing or removing a restriction (or moving an item under a restricted
    one) by ``upsert`` gives every caller what a fresh build of the changed site gives."""
    g = data.draw(perm_sites(), label="site")
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.build(write_perm_site(Path(tmp) / "site", g), Path(tmp) / "index")
        for caller in callers(g):  # warm every cache first
            run_engine(engine, "type != space", caller, SearchContext())
        changed = []
        for item in data.draw(st.lists(st.sampled_from(g.items), min_size=1, max_size=3,
                                       unique_by=lambda i: i["id"]), label="changed"):
            new = dict(item)
            if item["type"] not in ("comment", "attachment"):
                new["read_restrictions"] = grantees(data.draw)
            new["status"] = data.draw(st.sampled_from(STATUSES))
            changed.append(new)
        assert engine.upsert(changed) == []
        by_id = {i["id"]: i for i in g.items} | {i["id"]: i for i in changed}
        g2 = PermSite(g.spaces, g.groups, g.users, list(by_id.values()), g.apps, g.policies,
                      g.anonymous_access)
        fresh = Engine.build(write_perm_site(Path(tmp) / "site2", g2), Path(tmp) / "index2")
        ctx = SearchContext(content_statuses=("current", "draft", "trashed"))
        for caller in callers(g):
            for query in ("type != space ORDER BY id", "parent.title ~ alpha ORDER BY id"):
                assert run_engine(engine, query, caller, ctx) == run_engine(
                    fresh, query, caller, ctx), (query, caller)


def test_a_deactivated_account_and_a_rejected_one_cannot_search(tmp_path: Path) -> None:
    site = PermSite({"AA": None}, [], [
        {"account_id": "u1", "display_name": "One"},
        {"account_id": "u5", "display_name": "Gone", "active": False},
        {"account_id": "u6", "display_name": "Broken", "kind": "guest"},  # no guest_space
    ], [{"id": "1", "type": "page", "space": "AA", "title": "alpha", "creator": "u1",
         "created": "2024-01-01T00:00:00+00:00"}], [], [], False)
    engine = Engine.build(write_perm_site(tmp_path / "site", site), tmp_path / "index")
    assert engine.count("type = page", caller=UserCaller(account_id="u1")) == 1
    for account, said in (("u5", "deactivated"), ("u6", "rejected")):
        with pytest.raises(EngineError) as err:
            engine.search("type = page", caller=UserCaller(account_id=account))
        assert err.value.code == "permission" and said in str(err.value)
        with pytest.raises(EngineError):
            engine.search("type = page", caller=AppCaller(
                app_id="x1", kind="forge", scopes=SEARCH, acting_for=account))
