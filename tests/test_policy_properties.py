"""Property: for any site, policies, apps and query, a blocked app sees exactly the user's
results minus the spaces it is blocked from, and nothing from those spaces.

Hypothesis generates small sites (spaces, a content tree with every content type, labels,
words, two users with recently-viewed lists), an app registry (eligible or not), policies
(active or not, WORKSPACE or CONTAINER coverage with space keys in any case, allowlist,
blocklist, block all, the anonymous-access rule) and queries from a small CQL grammar over
the fields that can reach into a space (space, type, id, ancestor, parent, container,
label, text, creator, ``currentUser()``, ``recentlyViewedContent()``) under AND, OR, NOT
and ORDER BY.

The expected answer never comes from the engine's own policy code: which spaces an app is
blocked from is recomputed here from the generated policies (sources.md, policies 7.4), and the
results are compared with the reference evaluator (``index.reference.evaluator``) given those spaces
as ``hidden_spaces``. Each site is built once and then probed with several queries and one
random policy change, so an example costs one small index build.

Example counts follow the Hypothesis profile (tests/conftest.py); ``_n`` scales them so the
``ci`` profile stays well under a minute on two cores.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import cql
from index.engine import Engine
from index.reference.evaluator import ReferenceEvaluator
from index.security.callers import AnonymousCaller, AppCaller, UserCaller
from index.site.loader import load_site

#: Words whose Porter and Porter2 stems agree, so that text clauses test the mask and not
#: the (separately tested) analyzers of the two evaluators.
WORDS = ("alpha", "bravo", "delta", "echo", "harbor", "lemon", "river", "stone")
LABELS = ("red", "green", "blue")
USERS = ("u1", "u2")
SPACE_POOL = ("AA", "BB", "CC", "DD")
TYPES = ("page", "blogpost", "comment", "attachment", "whiteboard", "database", "embed",
         "folder")
TREE = ("page", "whiteboard", "database", "embed", "folder")
APP_POOL = ("x1", "x2", "x3")
SEARCH = frozenset({"search:confluence"})
SORT_KEYS = ("created", "lastmodified", "title", "type", "space", "id")
EVERY_STATUS_CONTEXT = None  # the default context: current content only


def _n(factor: float) -> Any:
    return settings(max_examples=max(10, int(settings.default.max_examples * factor)))


# --- sites ----------------------------------------------------------------------------------


@dataclass
class Generated:
    spaces: list[str]
    items: list[dict[str, Any]]
    users: list[dict[str, Any]]
    apps: list[dict[str, Any]]
    policies: list[dict[str, Any]]


def place(draw: st.DrawFn, item: dict[str, Any], kind: str, same: list[dict[str, Any]],
          under_a_parent: st.SearchStrategy[bool]) -> str:
    """Give a generated ``item`` of ``kind`` its place among the items ``same`` drawn before
    it in its space: a container (and file name) for comments and attachments, a parent
    when ``under_a_parent`` draws true for tree types, a URL for embeds. Returns its type:
    a page when a comment or attachment has nothing to belong to."""
    if kind in ("comment", "attachment"):
        holders = [i for i in same if i["type"] not in ("comment", "attachment")]
        if not holders:
            kind = "page"
        else:
            item["container_id"] = draw(st.sampled_from(holders))["id"]
            if kind == "attachment":
                item["file_name"] = f"{draw(st.sampled_from(WORDS))}.pdf"
    if kind in TREE:
        parents = [i for i in same if i["type"] in TREE]
        if parents and draw(under_a_parent):
            item["parent_id"] = draw(st.sampled_from(parents))["id"]
    if kind == "embed":
        item["url"] = "https://example.com/x"
    return kind


@st.composite
def sites(draw: st.DrawFn) -> Generated:
    spaces = draw(st.lists(st.sampled_from(SPACE_POOL), min_size=2, max_size=4, unique=True))
    items: list[dict[str, Any]] = []
    for n in range(1, draw(st.integers(3, 22)) + 1):
        space = draw(st.sampled_from(spaces))
        kind = draw(st.sampled_from(TYPES))
        same = [i for i in items if i["space"] == space]
        item: dict[str, Any] = {
            "id": str(n), "space": space, "creator": draw(st.sampled_from(USERS)),
            "title": " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2))),
            "body": " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=4))),
            "labels": draw(st.lists(st.sampled_from(LABELS), max_size=2, unique=True)),
            "created": f"2024-01-{draw(st.integers(1, 28)):02d}T10:00:00+00:00",
            "status": draw(st.sampled_from(("current",) * 5 + ("draft",))),
        }
        kind = place(draw, item, kind, same, st.booleans())
        item["type"] = kind
        items.append(item)
    ids = [i["id"] for i in items]
    users = [{"account_id": u, "display_name": f"User {u}",
              "recently_viewed_content": draw(st.lists(st.sampled_from(ids), max_size=6,
                                                       unique=True))} for u in USERS]
    apps = [{"app_id": a, "kind": "forge", "name": a.upper(),
             "eligible_for_blocking": draw(st.sampled_from((True, True, True, False)))}
            for a in draw(st.lists(st.sampled_from(APP_POOL), min_size=1, max_size=3,
                                   unique=True))]
    count = draw(st.sampled_from((0, 1, 1, 2, 2, 3)))
    policies = [draw(policies_for(spaces, n)) for n in range(count)]
    return Generated(spaces, items, users, apps, policies)


@st.composite
def policies_for(draw: st.DrawFn, spaces: list[str], n: int) -> dict[str, Any]:
    if draw(st.integers(0, 3)) == 0:
        coverage: dict[str, Any] = {"level": "WORKSPACE"}
    else:
        keys = draw(st.lists(st.sampled_from([*spaces, "ZZ"]), min_size=int(n > 0),
                             max_size=3, unique=True))
        # space keys compare case-insensitively
        keys = [k.lower() if draw(st.booleans()) else k for k in keys]
        coverage = {"level": "CONTAINER", "spaces": keys}
    rules: dict[str, Any] = {"anonymous_access": draw(st.booleans())}
    if draw(st.integers(0, 4)) > 0:
        mode = draw(st.sampled_from(("blocklist", "allowlist")))
        # a blocklist usually names someone (an empty one is legal but blocks nobody)
        listed = draw(st.lists(st.sampled_from([*APP_POOL, "not-installed"]),
                               min_size=int(mode == "blocklist"), max_size=3, unique=True))
        rules["app_access"] = {"mode": mode, "apps": listed}
    active = draw(st.sampled_from((True, True, True, False)))
    return {"id": f"p{n}", "name": f"Policy {n}", "active": active,
            "coverage": coverage, "rules": rules}


def write_site(path: Path, g: Generated) -> Path:
    path.mkdir()
    (path / "spaces.jsonl").write_text("".join(
        json.dumps({"key": k, "name": f"Space {k}", "type": "global", "permissions": {
            "view": {"anonymous": True, "all_licensed_users": True}}}) + "\n"
        for k in g.spaces))
    # anonymous callers may search, so the anonymous-access rule is what closes spaces
    (path / "site.json").write_text(json.dumps({
        "cloud_id": "c0ffee00-0000-4000-8000-0000000000aa", "name": "Generated",
        "base_url": "https://generated.example/wiki", "anonymous_access": True}))
    (path / "users.jsonl").write_text("".join(json.dumps(u) + "\n" for u in g.users))
    (path / "content.jsonl").write_text("".join(json.dumps(i) + "\n" for i in g.items))
    (path / "apps.json").write_text(json.dumps(g.apps))
    (path / "policies.json").write_text(json.dumps(g.policies))
    grants = [{"account_id": u, "app_id": a["app_id"], "scope": "account"}
              for u in USERS for a in g.apps]
    (path / "grants.json").write_text(json.dumps(grants))
    return path


# --- the oracle: who is blocked where (sources.md, policies 7.4), written independently -----


def blocked_for(app_id: str, policies: list[dict[str, Any]], apps: list[dict[str, Any]],
                spaces: list[str]) -> frozenset[str]:
    eligible = next((a["eligible_for_blocking"] for a in apps if a["app_id"] == app_id), True)
    if not eligible:
        return frozenset()
    out = set()
    for p in policies:
        rule = p["rules"].get("app_access")
        if not p["active"] or rule is None:
            continue
        listed = app_id in rule["apps"]
        if listed != (rule["mode"] == "blocklist"):
            continue
        out |= covered(p, spaces)
    return frozenset(out)


def anonymous_blocked(policies: list[dict[str, Any]], spaces: list[str]) -> frozenset[str]:
    out: set[str] = set()
    for p in policies:
        if p["active"] and p["rules"].get("anonymous_access"):
            out |= covered(p, spaces)
    return frozenset(out)


def covered(policy: dict[str, Any], spaces: list[str]) -> set[str]:
    if policy["coverage"]["level"] == "WORKSPACE":
        return set(spaces)
    named = {k.casefold() for k in policy["coverage"]["spaces"]}
    return {k for k in spaces if k.casefold() in named}


# --- queries: a small CQL grammar over the fields that reach into spaces -----------------------


def clauses(spaces: list[str], max_id: int) -> st.SearchStrategy[str]:
    space = st.sampled_from([*spaces, "ZZ"])
    ident = st.integers(1, max_id + 2).map(str)
    kind = st.sampled_from([*TYPES, "space"])

    def listed(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.lists(values, min_size=1, max_size=3, unique=True).map(", ".join)

    return st.one_of(
        st.builds("space {} {}".format, st.sampled_from(("=", "!=")), space),
        st.builds("space {} ({})".format, st.sampled_from(("IN", "NOT IN")), listed(space)),
        st.builds("type {} {}".format, st.sampled_from(("=", "!=")), kind),
        st.builds("type IN ({})".format, listed(kind)),
        st.builds("id {} {}".format, st.sampled_from(("=", "!=")), ident),
        st.builds("id IN ({})".format, listed(ident)),
        st.builds("{} = {}".format, st.sampled_from(("ancestor", "parent", "container")),
                  ident),
        st.builds("label = {}".format, st.sampled_from(LABELS)),
        st.builds("{} ~ {}".format, st.sampled_from(("text", "title")),
                  st.sampled_from(WORDS)),
        st.builds("creator = {}".format, st.sampled_from([*USERS, "currentUser()"])),
        st.builds("id IN recentlyViewedContent({})".format, st.integers(1, 6)),
    )


def expressions(spaces: list[str], max_id: int) -> st.SearchStrategy[str]:
    return st.recursive(
        clauses(spaces, max_id),
        lambda inner: st.one_of(
            inner.map("NOT ({})".format),
            st.builds("({}) AND ({})".format, inner, inner),
            st.builds("({}) OR ({})".format, inner, inner),
        ),
        max_leaves=5,
    )


@st.composite
def queries(draw: st.DrawFn, spaces: list[str], max_id: int) -> str:
    text = draw(expressions(spaces, max_id))
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(SORT_KEYS), min_size=1, max_size=2, unique=True))
        text += " ORDER BY " + ", ".join(
            f"{k} {draw(st.sampled_from(('ASC', 'DESC')))}" for k in keys)
    return text


# --- the property ------------------------------------------------------------------------------


def all_ids(engine: Engine, query: str, caller: Any) -> list[str]:
    page = engine.search(query, caller=caller, limit=7, dialect="lenient", excerpt="none")
    out = [r.id for r in page.results]
    total = page.totalSize
    while page.next is not None:
        page = engine.search(query, caller=caller, limit=7, cursor=page.next,
                             dialect="lenient", excerpt="none")
        assert page.totalSize == total
        out.extend(r.id for r in page.results)
    assert len(out) == total
    return out


def same(engine_ids: list[str], reference_ids: list[str], ordered: bool) -> bool:
    if ordered:
        return engine_ids == reference_ids
    return sorted(engine_ids) == sorted(reference_ids) and len(set(engine_ids)) == len(
        engine_ids)


def check(engine: Engine, ref: ReferenceEvaluator, g: Generated, policies: list[Any],
          query: str) -> None:
    parsed = cql.parse(query, dialect="lenient")
    ordered = bool(parsed.order_by)
    uses_user = "currentUser" in query or "recentlyViewed" in query
    space_of = {i["id"]: i["space"] for i in g.items}
    space_of.update({f"space:{k}": None for k in g.spaces})

    user_ids = all_ids(engine, query, UserCaller(account_id="u1"))
    assert same(user_ids, ref.search(parsed, account_id="u1",
                                     caller=UserCaller(account_id="u1")), ordered), query
    for app in g.apps:
        hidden = blocked_for(app["app_id"], policies, g.apps, g.spaces)
        callers = [AppCaller(app_id=app["app_id"], kind="forge", scopes=SEARCH,
                             acting_for="u1")]
        if not uses_user:
            callers.append(AppCaller(app_id=app["app_id"], kind="forge", scopes=SEARCH))
        for caller in callers:
            got = all_ids(engine, query, caller)
            leaked = [i for i in got if space_of[i] in hidden]
            assert not leaked, f"{query}: {caller.app_id} sees {leaked} from {set(hidden)}"
            want = ref.search(parsed, account_id=caller.acting_for, hidden_spaces=hidden,
                              caller=caller)
            assert same(got, want, ordered), (query, caller.app_id, hidden)
            if caller.acting_for == "u1":
                # Relevance statistics are taken over what each caller may see, so
                # without ORDER BY only the set is the user's minus the hidden spaces.
                visible = [i for i in user_ids if space_of[i] not in hidden]
                assert same(got, visible, ordered), query
    if not uses_user:
        closed = anonymous_blocked(policies, g.spaces)
        got = all_ids(engine, query, AnonymousCaller())
        assert same(got, ref.search(parsed, hidden_spaces=closed, caller=AnonymousCaller()),
                    ordered), query


@_n(1)
@given(st.data())
def test_a_blocked_app_sees_the_user_minus_its_blocked_spaces(data: st.DataObject) -> None:
    g = data.draw(sites(), label="site")
    with tempfile.TemporaryDirectory() as tmp:
        site_dir = write_site(Path(tmp) / "site", g)
        engine = Engine.build(site_dir, Path(tmp) / "index")
        assert engine.last_build is not None and engine.last_build.rejected == 0, \
            engine.last_build.rejects
        ref = ReferenceEvaluator(load_site(site_dir))
        policies = [dict(p) for p in g.policies]
        qs = data.draw(st.lists(queries(g.spaces, len(g.items)), min_size=3, max_size=6),
                       label="queries")
        for query in qs:
            check(engine, ref, g, policies, query)
        if policies:
            # a policy change takes effect on the next search, no rebuild
            n = data.draw(st.integers(0, len(policies) - 1), label="toggled policy")
            action = "deactivate" if policies[n]["active"] else "activate"
            engine.policy_layer().change(action, policies[n]["id"])
            policies[n] = {**policies[n], "active": not policies[n]["active"]}
            for query in qs[:2]:
                check(engine, ref, g, policies, query)
