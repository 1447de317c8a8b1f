"""Callers, policy models and limits, the blocking decisions, scopes, grants and the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from index.errors import EngineError
from index.security.callers import (
    AnonymousCaller,
    AppCaller,
    UserCaller,
    parse_caller,
    parse_scopes,
)
from index.security.policy import (
    TYPE_READ_SCOPES,
    App,
    Coverage,
    Grant,
    Policy,
    PolicyStore,
    Rules,
    SiteInfo,
    anonymous_blocked_spaces,
    blocked_spaces,
    check_grant,
    check_search_scopes,
    hidden_types_for_scopes,
    parse_apps,
    parse_grants,
    parse_policies,
    parse_site_info,
)

SPACES = ["DEV", "ENG", "HR", "~alice"]
APPS = [
    App(app_id="app-a", kind="forge", name="A"),
    App(app_id="app-b", kind="oauth2_3lo", name="B"),
    App(app_id="app-c", kind="connect", name="C"),
    App(app_id="app-atl", kind="forge", name="Atlassian's own", eligible_for_blocking=False),
]
SITE = SiteInfo(cloud_id="cloud-1", name="Acme", base_url="https://acme.atlassian.net")


def policy(
    pid: str = "p1",
    *,
    spaces: list[str] | None = None,
    mode: str | None = None,
    apps: list[str] | None = None,
    active: bool = True,
    anonymous: bool = False,
) -> Policy:
    """A policy; ``spaces=None`` means WORKSPACE coverage, ``mode=None`` no app access rule."""
    coverage: dict[str, Any] = (
        {"level": "WORKSPACE"} if spaces is None else {"level": "CONTAINER", "spaces": spaces}
    )
    rules: dict[str, Any] = {"anonymous_access": anonymous}
    if mode is not None:
        rules["app_access"] = {"mode": mode, "apps": apps or []}
    return Policy.model_validate(
        {"id": pid, "name": pid.upper(), "active": active, "coverage": coverage, "rules": rules}
    )


# --- blocking decisions ------------------------------------------------------------------

BLOCKING_CASES: list[tuple[str, list[Policy], str, set[str]]] = [
    ("no policies", [], "app-a", set()),
    ("block all", [policy(spaces=["HR"], mode="allowlist")], "app-a", {"HR"}),
    (
        "allowlist, listed",
        [policy(spaces=["HR"], mode="allowlist", apps=["app-a"])],
        "app-a",
        set(),
    ),
    (
        "allowlist, not listed",
        [policy(spaces=["HR"], mode="allowlist", apps=["app-b"])],
        "app-a",
        {"HR"},
    ),
    (
        "blocklist, listed",
        [policy(spaces=["HR"], mode="blocklist", apps=["app-a"])],
        "app-a",
        {"HR"},
    ),
    (
        "blocklist, not listed",
        [policy(spaces=["HR"], mode="blocklist", apps=["app-b"])],
        "app-a",
        set(),
    ),
    ("empty blocklist blocks nobody", [policy(spaces=["HR"], mode="blocklist")], "app-a", set()),
    ("inactive", [policy(spaces=["HR"], mode="allowlist", active=False)], "app-a", set()),
    ("workspace covers every space", [policy(mode="allowlist")], "app-a", set(SPACES)),
    ("no app access rule", [policy(spaces=["HR"])], "app-a", set()),
    ("ineligible app, block all", [policy(mode="allowlist")], "app-atl", set()),
    (
        "ineligible app, blocklisted by name",
        [policy(mode="blocklist", apps=["app-atl"])],
        "app-atl",
        set(),
    ),
    ("unregistered app is eligible", [policy(spaces=["HR"], mode="allowlist")], "app-zz", {"HR"}),
    ("space keys are case-insensitive", [policy(spaces=["hr"], mode="allowlist")], "app-a", {"HR"}),
    ("personal space", [policy(spaces=["~ALICE"], mode="allowlist")], "app-a", {"~alice"}),
    ("unknown space is ignored", [policy(spaces=["NOPE"], mode="allowlist")], "app-a", set()),
    (
        "policies add up",
        [
            policy("p1", spaces=["HR"], mode="blocklist", apps=["app-a"]),
            policy("p2", spaces=["ENG"], mode="allowlist"),
        ],
        "app-a",
        {"HR", "ENG"},
    ),
    (
        "block wins over allow on the same space",
        [
            policy("p1", spaces=["HR"], mode="allowlist", apps=["app-a"]),
            policy("p2", spaces=["HR", "DEV"], mode="blocklist", apps=["app-a"]),
        ],
        "app-a",
        {"HR", "DEV"},
    ),
    (
        "workspace allowlist plus container blocklist",
        [
            policy("p1", mode="allowlist", apps=["app-a"]),
            policy("p2", spaces=["ENG"], mode="blocklist", apps=["app-a"]),
        ],
        "app-a",
        {"ENG"},
    ),
    (
        "inactive policy adds nothing",
        [
            policy("p1", spaces=["HR"], mode="allowlist"),
            policy("p2", spaces=["ENG"], mode="allowlist", active=False),
        ],
        "app-a",
        {"HR"},
    ),
    (
        "another app's blocklist",
        [policy(spaces=["HR"], mode="blocklist", apps=["app-b"])],
        "app-b",
        {"HR"},
    ),
]


@pytest.mark.parametrize(
    ("policies", "app_id", "expected"),
    [case[1:] for case in BLOCKING_CASES],
    ids=[case[0] for case in BLOCKING_CASES],
)
def test_blocked_spaces(policies: list[Policy], app_id: str, expected: set[str]) -> None:
    assert blocked_spaces(app_id, policies, APPS, SPACES) == frozenset(expected)


def test_blocked_spaces_accept_any_iterables() -> None:
    policies = (p for p in [policy(spaces=["HR"], mode="allowlist")])
    assert blocked_spaces("app-a", policies, iter(APPS), {"HR", "DEV"}) == {"HR"}


def test_anonymous_blocked_spaces() -> None:
    policies = [
        policy("p1", spaces=["HR"], anonymous=True),
        policy("p2", spaces=["ENG"], anonymous=True, active=False),
        policy("p3", spaces=["DEV"], mode="allowlist"),
    ]
    assert anonymous_blocked_spaces(policies, SPACES) == {"HR"}
    assert anonymous_blocked_spaces([policy(anonymous=True)], SPACES) == set(SPACES)
    assert anonymous_blocked_spaces([], SPACES) == set()


# --- file shapes and validation ----------------------------------------------------------


def test_documented_file_shapes_parse() -> None:
    policies = parse_policies(
        [
            {
                "id": "p1",
                "name": "HR lockdown",
                "active": True,
                "coverage": {"level": "CONTAINER", "spaces": ["HR"]},
                "rules": {"app_access": {"mode": "blocklist", "apps": ["app-x"]}, "export": True},
            },
            {
                "id": "p2",
                "name": "Block all",
                "active": False,
                "coverage": {"level": "WORKSPACE"},
                "rules": {"app_access": {"mode": "allowlist", "apps": []}},
            },
        ]
    )
    assert policies[0].rules.export is True
    assert policies[0].rules.app_access is not None
    assert policies[0].rules.app_access.blocks("app-x")
    assert policies[1].rules.app_access is not None
    assert policies[1].rules.app_access.blocks_all
    apps = parse_apps(
        [{"app_id": "app-x", "kind": "forge", "name": "X", "eligible_for_blocking": True}]
    )
    assert apps == [App(app_id="app-x", kind="forge", name="X")]
    grants = parse_grants(
        [
            {"account_id": "u1", "app_id": "app-x", "scope": "account"},
            {"account_id": "u2", "app_id": "app-x", "scope": "site", "sites": ["cloud-1"]},
        ]
    )
    assert grants[1].covers("cloud-1") and not grants[1].covers("cloud-2")
    assert grants[0].covers("anything")
    site = parse_site_info({"cloud_id": "c", "name": "n", "base_url": "https://x.atlassian.net"})
    assert site.cloud_id == "c"


def _policy_item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "p1",
        "name": "HR lockdown",
        "active": True,
        "coverage": {"level": "CONTAINER", "spaces": ["HR"]},
        "rules": {},
    }
    item.update(overrides)
    return item


INVALID_POLICIES: list[tuple[str, Any, str]] = [
    ("not a list", {"id": "p1"}, "policies.json: expected a JSON list"),
    (
        "21 apps",
        [
            _policy_item(
                rules={"app_access": {"mode": "blocklist", "apps": [f"a{i}" for i in range(21)]}}
            )
        ],
        "at most 20 apps per list, got 21",
    ),
    (
        "16 spaces",
        [_policy_item(coverage={"level": "CONTAINER", "spaces": [f"S{i}" for i in range(16)]})],
        "at most 15 spaces, got 16",
    ),
    (
        "51 policies",
        [_policy_item(id=f"p{i}") for i in range(51)],
        "at most 50 policies, got 51",
    ),
    ("duplicate ids", [_policy_item(), _policy_item()], "policy id 'p1' is listed twice"),
    (
        "workspace with spaces",
        [_policy_item(coverage={"level": "WORKSPACE", "spaces": ["HR"]})],
        "WORKSPACE coverage covers every space",
    ),
    (
        "classification",
        [_policy_item(coverage={"level": "CLASSIFICATION"})],
        "CLASSIFICATION coverage is not supported",
    ),
    (
        "unknown level",
        [_policy_item(coverage={"level": "SPACE"})],
        "coverage.level: Input should be 'WORKSPACE' or 'CONTAINER'",
    ),
    (
        "duplicate space, any case",
        [_policy_item(coverage={"level": "CONTAINER", "spaces": ["HR", "hr"]})],
        "space 'hr' is listed twice",
    ),
    (
        "duplicate app",
        [_policy_item(rules={"app_access": {"mode": "allowlist", "apps": ["a", "a"]}})],
        "app 'a' is listed twice",
    ),
    (
        "camelCase rule name",
        [_policy_item(rules={"anonymousAccess": True})],
        "unknown key 'anonymousAccess' (did you mean 'anonymous_access'?)",
    ),
    (
        "misspelt rule name",
        [_policy_item(rules={"anonymus_access": True})],
        "did you mean 'anonymous_access'?",
    ),
    (
        "unknown mode",
        [_policy_item(rules={"app_access": {"mode": "blockall"}})],
        "rules.app_access.mode: Input should be 'allowlist' or 'blocklist'",
    ),
    ("string boolean", [_policy_item(active="yes")], "active: Input should be a valid boolean"),
    ("blank name", [_policy_item(name="  ")], "name: must be non-empty"),
    ("missing coverage", [{"id": "p1", "name": "x", "active": True}], "coverage: Field required"),
    ("unknown top-level key", [_policy_item(enabled=True)], "unknown key 'enabled'"),
]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [case[1:] for case in INVALID_POLICIES],
    ids=[case[0] for case in INVALID_POLICIES],
)
def test_invalid_policies(raw: Any, fragment: str) -> None:
    with pytest.raises(EngineError) as caught:
        parse_policies(raw)
    assert caught.value.code == "invalid_policy"
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("policies.json")


def test_policy_error_names_file_and_item() -> None:
    raw = [_policy_item(id="p1"), _policy_item(id="p2", active=1)]
    with pytest.raises(EngineError) as caught:
        parse_policies(raw, source="site/policies.json")
    assert str(caught.value).startswith("site/policies.json[1] (id 'p2'): active:")


def test_limits_allow_the_maximum() -> None:
    parse_policies(
        [_policy_item(id=f"p{i}") for i in range(49)]
        + [
            _policy_item(
                id="big",
                coverage={"level": "CONTAINER", "spaces": [f"S{i}" for i in range(15)]},
                rules={"app_access": {"mode": "blocklist", "apps": [f"a{i}" for i in range(20)]}},
            )
        ]
    )


@pytest.mark.parametrize(
    ("parse", "raw", "fragment"),
    [
        (
            parse_apps,
            [{"app_id": "x", "kind": "plugin", "name": "X"}],
            "apps.json[0] (app_id 'x'): kind",
        ),
        (
            parse_apps,
            [{"app_id": "x", "kind": "forge", "name": "X"}] * 2,
            "app_id 'x' is listed twice",
        ),
        (
            parse_apps,
            [{"app_id": "x", "kind": "forge", "name": "X", "eligible": False}],
            "did you mean 'eligible_for_blocking'?",
        ),
        (
            parse_grants,
            [{"account_id": "u", "app_id": "x", "scope": "site"}],
            "lists at least one cloud id",
        ),
        (
            parse_grants,
            [{"account_id": "u", "app_id": "x", "scope": "account", "sites": ["c"]}],
            "covers every site",
        ),
        (
            parse_grants,
            [{"account_id": "u", "app_id": "x", "scope": "account"}] * 2,
            "grants.json[1]: app 'x' already has a grant from account 'u'",
        ),
        (parse_site_info, [], "site.json: expected a JSON object"),
        (
            parse_site_info,
            {"cloud_id": "c", "name": "n", "base_url": "acme.atlassian.net"},
            "site.json: base_url: base_url must be an http(s) URL",
        ),
    ],
)
def test_invalid_site_files(parse: Any, raw: Any, fragment: str) -> None:
    with pytest.raises(EngineError) as caught:
        parse(raw)
    assert caught.value.code == "invalid_site"
    assert fragment in str(caught.value)


def test_engine_error_shape() -> None:
    error = EngineError("scope", "no scope")
    assert str(error) == "no scope"
    assert error.code == "scope"
    assert error.to_dict() == {"code": "scope", "message": "no scope"}


# --- callers -----------------------------------------------------------------------------


def test_parse_caller_discriminates() -> None:
    assert parse_caller({"caller": "user", "account_id": "u1"}) == UserCaller(account_id="u1")
    assert parse_caller({"caller": "anonymous"}) == AnonymousCaller()
    app = parse_caller(
        {"caller": "app", "app_id": "x", "kind": "forge", "scopes": ["b", "a"], "acting_for": "u1"}
    )
    assert isinstance(app, AppCaller) and app.scopes == {"a", "b"}
    with pytest.raises(ValidationError):
        parse_caller({"caller": "robot"})


def test_three_lo_callers_act_for_a_user() -> None:
    with pytest.raises(ValidationError, match="always acts for a user"):
        AppCaller(app_id="x", kind="oauth2_3lo")
    assert AppCaller(app_id="x", kind="forge").acting_for is None


def test_fingerprint_is_stable_and_distinguishes_callers() -> None:
    one = AppCaller(app_id="x", kind="forge", scopes=frozenset({"a", "b"}), acting_for="u1")
    same = AppCaller(app_id="x", kind="forge", scopes=frozenset({"b", "a"}), acting_for="u1")
    assert one.fingerprint() == same.fingerprint()
    others = [
        one.model_copy(update={"acting_for": None}),
        one.model_copy(update={"acting_for": "u2"}),
        one.model_copy(update={"scopes": frozenset({"a"})}),
        one.model_copy(update={"kind": "connect"}),
        one.model_copy(update={"app_id": "y"}),
        UserCaller(account_id="u1"),
        AnonymousCaller(),
    ]
    prints = {caller.fingerprint() for caller in [one, *others]}
    assert len(prints) == len(others) + 1
    # The same in a fresh interpreter (no hash randomisation, no object identity).
    code = (
        "from index.security.callers import AppCaller;"
        "print(AppCaller(app_id='x', kind='forge', scopes={'b','a'}, acting_for='u1')"
        ".fingerprint())"
    )
    root = Path(__file__).resolve().parent.parent
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == one.fingerprint()


def test_parse_scopes() -> None:
    assert parse_scopes("search:confluence, read:page:confluence") == {
        "search:confluence",
        "read:page:confluence",
    }
    assert parse_scopes("a b\tc") == {"a", "b", "c"}
    assert parse_scopes("") == frozenset()


# --- scopes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caller",
    [
        UserCaller(account_id="u1"),
        AnonymousCaller(),
        AppCaller(app_id="x", kind="forge", scopes=frozenset({"search:confluence"})),
        AppCaller(app_id="x", kind="forge", scopes=frozenset({"read:content-details:confluence"})),
        AppCaller(app_id="x", kind="connect", scopes=frozenset({"READ"})),
    ],
)
def test_search_scopes_allowed(caller: Any) -> None:
    check_search_scopes(caller)


def test_search_scope_missing_names_the_scopes() -> None:
    caller = AppCaller(app_id="app-a", kind="forge", scopes=frozenset({"read:page:confluence"}))
    with pytest.raises(EngineError) as caught:
        check_search_scopes(caller)
    assert caught.value.code == "scope"
    message = str(caught.value)
    assert "read:content-details:confluence or search:confluence" in message
    assert "app-a" in message and "read:page:confluence" in message
    with pytest.raises(EngineError, match="no scopes"):
        check_search_scopes(AppCaller(app_id="x", kind="forge"))
    with pytest.raises(EngineError, match="READ for a Connect app"):
        check_search_scopes(AppCaller(app_id="x", kind="connect"))
    # READ is a Connect scope: it does not open search to a Forge app.
    with pytest.raises(EngineError):
        check_search_scopes(AppCaller(app_id="x", kind="forge", scopes=frozenset({"READ"})))


def test_hidden_types_for_scopes() -> None:
    everything = frozenset(TYPE_READ_SCOPES)
    assert hidden_types_for_scopes(UserCaller(account_id="u")) == frozenset()
    assert hidden_types_for_scopes(AnonymousCaller()) == frozenset()
    bare = AppCaller(app_id="x", kind="forge", scopes=frozenset({"search:confluence"}))
    assert hidden_types_for_scopes(bare) == everything
    granular = bare.model_copy(
        update={
            "scopes": frozenset(
                {"search:confluence", "read:page:confluence", "read:embed:confluence"}
            )
        }
    )
    assert hidden_types_for_scopes(granular) == everything - {"page", "blogpost", "embed"}
    assert "database" in hidden_types_for_scopes(granular)
    with_db = granular.model_copy(update={"scopes": granular.scopes | {"read:database:confluence"}})
    assert "database" not in hidden_types_for_scopes(with_db)
    classic = bare.model_copy(
        update={
            "scopes": frozenset({"read:confluence-content.all", "read:confluence-space.summary"})
        }
    )
    assert hidden_types_for_scopes(classic) == {"whiteboard", "database", "embed", "folder"}
    connect = AppCaller(app_id="c", kind="connect", scopes=frozenset({"READ"}))
    assert hidden_types_for_scopes(connect) == frozenset()


# --- grants ------------------------------------------------------------------------------

GRANTS = [
    Grant(account_id="u1", app_id="app-b", scope="account"),
    Grant(account_id="u2", app_id="app-b", scope="site", sites=["cloud-1"]),
    Grant(account_id="u3", app_id="app-b", scope="site", sites=["cloud-2"]),
]


@pytest.mark.parametrize(
    "caller",
    [
        UserCaller(account_id="u9"),
        AnonymousCaller(),
        AppCaller(app_id="app-a", kind="forge"),  # as itself: no user consent involved
        AppCaller(app_id="app-b", kind="oauth2_3lo", acting_for="u1"),  # account grant
        AppCaller(app_id="app-b", kind="oauth2_3lo", acting_for="u2"),  # this site
        AppCaller(app_id="app-c", kind="connect", acting_for="u9"),  # Connect: no grants
    ],
)
def test_grant_accepted(caller: Any) -> None:
    check_grant(caller, GRANTS, SITE)


def test_account_grant_covers_every_site() -> None:
    other = SITE.model_copy(update={"cloud_id": "cloud-7"})
    check_grant(AppCaller(app_id="app-b", kind="oauth2_3lo", acting_for="u1"), GRANTS, other)


@pytest.mark.parametrize(
    ("caller", "fragment"),
    [
        (
            AppCaller(app_id="app-b", kind="oauth2_3lo", acting_for="u3"),
            "does not include this site (Acme, cloud id 'cloud-1')",
        ),
        (
            AppCaller(app_id="app-b", kind="oauth2_3lo", acting_for="u9"),
            "app 'app-b' has no grant from account 'u9'",
        ),
        (
            AppCaller(app_id="app-a", kind="forge", acting_for="u1"),  # u1 granted app-b only
            "app 'app-a' has no grant from account 'u1'",
        ),
    ],
)
def test_grant_refused(caller: AppCaller, fragment: str) -> None:
    with pytest.raises(EngineError) as caught:
        check_grant(caller, GRANTS, SITE)
    assert caught.value.code == "no_grant"
    assert fragment in str(caught.value)


# --- the store ---------------------------------------------------------------------------


def _raw(pid: str = "p1", **overrides: Any) -> dict[str, Any]:
    return _policy_item(id=pid, **overrides)


@pytest.fixture
def store(tmp_path: Path) -> PolicyStore:
    return PolicyStore.initialize(
        tmp_path / "index" / "policies.json",
        site=SITE,
        apps=APPS,
        grants=GRANTS,
        policies=[policy("p1", spaces=["HR"], mode="allowlist", active=False)],
    )


def test_store_lifecycle_and_versions(store: PolicyStore) -> None:
    assert store.version == 0
    assert [p.id for p in store.list()] == ["p1"]

    change = store.activate("p1")
    assert change.trigger == "activated" and change.version == 1 == store.version
    assert change.before[0].active is False and change.after[0].active is True

    again = store.activate("p1")  # no-op: same state, same version
    assert not again.changed and again.before == again.after and store.version == 1

    change = store.create(
        _raw("p2", rules={"app_access": {"mode": "blocklist", "apps": ["app-a"]}})
    )
    assert change.trigger == "created" and [p.id for p in change.after] == ["p1", "p2"]
    assert [p.id for p in change.before] == ["p1"] and store.version == 2

    change = store.update("p2", coverage={"level": "CONTAINER", "spaces": ["HR", "ENG"]})
    assert change.trigger == "coverage_changed" and store.get("p2").coverage.spaces == ["HR", "ENG"]

    change = store.update("p2", rules=Rules(export=True), name="Renamed")
    assert change.trigger == "updated" and store.get("p2").name == "Renamed"
    assert store.get("p2").rules.app_access is None

    change = store.deactivate("p1")
    assert change.trigger == "deactivated" and store.get("p1").active is False

    change = store.delete("p2")
    assert change.trigger == "deleted" and [p.id for p in store.list()] == ["p1"]
    assert store.version == 6


def test_store_reopen_has_same_state(store: PolicyStore) -> None:
    store.activate("p1")
    store.create(_raw("p2", description="why it exists"))
    store.update("p2", rules={"app_access": {"mode": "allowlist", "apps": ["app-a"]}})
    reopened = PolicyStore(store.path)
    assert reopened.version == store.version == 3
    assert reopened.list() == store.list()
    assert reopened.apps == APPS and reopened.grants == GRANTS and reopened.site == SITE
    assert reopened.get("p2").description == "why it exists"
    assert reopened.app("app-atl") is not None and reopened.app("nope") is None
    # Changes continue from the persisted version.
    assert reopened.deactivate("p1").version == 4


def test_store_writes_atomically(store: PolicyStore) -> None:
    store.activate("p1")
    leftovers = [p.name for p in store.path.parent.iterdir() if p.name != store.path.name]
    assert leftovers == []
    state = json.loads(store.path.read_text())
    assert state["version"] == 1 and state["policies"][0]["active"] is True


def test_store_builds_on_changes_made_elsewhere(store: PolicyStore) -> None:
    other = PolicyStore(store.path)
    other.create(_raw("p2"))
    change = store.activate("p1")  # re-reads before changing: p2 survives
    assert [p.id for p in change.after] == ["p1", "p2"] and store.version == 2
    assert [p.id for p in PolicyStore(store.path).list()] == ["p1", "p2"]


def test_missing_store_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "policies.json"
    store = PolicyStore(path)
    assert store.version == 0 and store.list() == [] and store.site is None
    assert not path.exists()
    store.create(_raw("p1"))
    assert PolicyStore(path).list()[0].id == "p1"


@pytest.mark.parametrize(
    ("action", "code", "fragment"),
    [
        (lambda s: s.get("nope"), "not_found", "no policy with id 'nope' (policies: p1)"),
        (lambda s: s.activate("nope"), "not_found", "no policy with id 'nope'"),
        (lambda s: s.delete("nope"), "not_found", "no policy with id 'nope'"),
        (lambda s: s.create(_raw("p1")), "invalid_policy", "already exists"),
        (
            lambda s: s.create(_raw("p9", coverage={"level": "WORKSPACE", "spaces": ["X"]})),
            "invalid_policy",
            "policy 'p9': coverage: WORKSPACE coverage covers every space",
        ),
        (
            lambda s: s.update("p1", coverage=Coverage(level="WORKSPACE")),
            "invalid_policy",
            "the coverage level cannot change once set (from CONTAINER to WORKSPACE)",
        ),
        (
            lambda s: s.update(
                "p1",
                rules={"app_access": {"mode": "allowlist", "apps": [str(i) for i in range(21)]}},
            ),
            "invalid_policy",
            "rules.app_access.apps: at most 20 apps per list",
        ),
    ],
)
def test_store_errors(store: PolicyStore, action: Any, code: str, fragment: str) -> None:
    version = store.version
    with pytest.raises(EngineError) as caught:
        action(store)
    assert caught.value.code == code
    assert fragment in str(caught.value)
    assert store.version == version and PolicyStore(store.path).version == version


def test_store_policy_limit(tmp_path: Path) -> None:
    store = PolicyStore.initialize(
        tmp_path / "s.json", policies=[policy(f"p{i}", spaces=["HR"]) for i in range(50)]
    )
    with pytest.raises(EngineError, match="at most 50 policies"):
        store.create(_raw("p50"))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"format": 99}', "unknown store format 99"),
        ('{"format": 1, "version": -1}', "version must be a non-negative integer"),
    ],
)
def test_corrupt_store(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "policies.json"
    path.write_text(text)
    with pytest.raises(EngineError) as caught:
        PolicyStore(path)
    assert caught.value.code == "invalid_store" and fragment in str(caught.value)


def test_store_validates_its_policies(tmp_path: Path) -> None:
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"format": 1, "policies": [_raw(active="no")]}))
    with pytest.raises(EngineError) as caught:
        PolicyStore(path)
    assert caught.value.code == "invalid_policy"
    assert "policies[0] (id 'p1'): active" in str(caught.value)


def test_failed_write_changes_nothing(store: PolicyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("index.security.policy.os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        store.activate("p1")
    monkeypatch.undo()
    assert store.version == 0 and store.get("p1").active is False
    assert [p.name for p in store.path.parent.iterdir()] == [store.path.name]
    assert PolicyStore(store.path).get("p1").active is False


def test_initialize_validates_like_the_site_files(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as caught:
        PolicyStore.initialize(tmp_path / "s.json", apps=[APPS[0], APPS[0]])
    assert caught.value.code == "invalid_site" and "listed twice" in str(caught.value)
    assert not (tmp_path / "s.json").exists()
