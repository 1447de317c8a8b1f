"""Data security policies, the app registry, grants and scopes: the models and the decisions.

Confluence's data security policies (sources.md, policies 1) decide what an *app* may see; users
are never filtered by the app access rule. This module holds:

- the models of the site files ``policies.json``, ``apps.json``, ``grants.json`` and
  ``site.json`` and functions that validate their already-loaded JSON, with errors that name
  the file and the item (docs/policies.md describes the shapes);
- the decisions, as pure functions over those models, so the engine can cache their results
  per store version and tests can pin every mode without building an index:
  ``blocked_spaces``, ``anonymous_blocked_spaces``, ``check_search_scopes``,
  ``hidden_types_for_scopes`` and ``check_grant``;
- ``PolicyStore``, the persisted, versioned policy state an engine enforces. Every change
  returns a ``PolicyChange`` (the policies before and after) from which ``index.security.events``
  computes the events for apps that lost access.
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from index.errors import EngineError
from index.security.callers import AnonymousCaller, AppCaller, AppKind, UserCaller

# --- limits (sources.md, policies 1.1, 1.2) ---------------------------------------------------

#: Spaces one CONTAINER policy may cover ("at most 15 spaces per policy", per instance; an
#: index holds one site, so the per-policy and per-instance limits coincide).
MAX_SPACES_PER_POLICY = 15
#: Apps one allowlist or blocklist may name.
MAX_APPS_PER_LIST = 20
#: Policies one organisation (here: one store) may hold.
MAX_POLICIES = 50


def _non_blank(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise ValueError(f"must be non-empty without leading or trailing spaces, got {value!r}")
    return value


_NonBlank = Annotated[StrictStr, AfterValidator(_non_blank)]


def _unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    """Name the unknown key and, when a known key is close, suggest it.

    A typo in a security rule (``anonymus_access``) must fail loudly: silently ignoring it
    would leave content open that the author meant to close.
    """
    allowed = sorted(allowed)

    def squash(word: str) -> str:
        return word.replace("_", "").replace("-", "").casefold()

    hint = [name for name in allowed if squash(name) == squash(key)]
    hint = hint or difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if len(key) >= 4:  # a truncated name ("eligible" for "eligible_for_blocking")
        hint = hint or [name for name in allowed if squash(name).startswith(squash(key))]
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"unknown key {key!r}{suggestion}; allowed keys: {', '.join(allowed)}"


class _Model(BaseModel):
    """Frozen, and strict about keys: an unknown key is an error with a suggestion."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in data:
                if key not in cls.model_fields:
                    raise ValueError(_unknown_key_message(str(key), cls.model_fields))
        return data


def _check_unique(values: Iterable[str], what: str, *, fold: bool = False) -> None:
    seen: set[str] = set()
    for value in values:
        probe = value.casefold() if fold else value
        if probe in seen:
            raise ValueError(f"{what} {value!r} is listed twice")
        seen.add(probe)


# --- models -----------------------------------------------------------------------------


class App(_Model):
    """An installed app (a line of ``apps.json``).

    ``eligible_for_blocking=False`` marks the apps Atlassian's support page says cannot be
    blocked (sources.md, policies 1.2, list unknown); no policy ever blocks them.
    """

    app_id: _NonBlank
    kind: AppKind
    name: _NonBlank
    eligible_for_blocking: StrictBool = True
    #: Where ``cql serve`` POSTs this app's policy events (CloudEvents); None: not delivered.
    webhook_url: _NonBlank | None = None

    @field_validator("webhook_url")
    @classmethod
    def _http_webhook(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(f"webhook_url must be an http(s) URL, got {url!r}")
        return url


class AppAccessRule(_Model):
    """The app access rule of one policy.

    ``allowlist`` blocks every eligible app except those listed (an empty allowlist is
    "block all eligible apps"); ``blocklist`` blocks only the listed apps.
    """

    mode: Literal["allowlist", "blocklist"]
    apps: list[_NonBlank] = Field(default_factory=list)

    @field_validator("apps")
    @classmethod
    def _apps_limit(cls, apps: list[str]) -> list[str]:
        if len(apps) > MAX_APPS_PER_LIST:
            raise ValueError(
                f"at most {MAX_APPS_PER_LIST} apps per list, got {len(apps)}; to block more "
                "apps use an allowlist, or split the list over several policies"
            )
        _check_unique(apps, "app")
        return apps

    @property
    def blocks_all(self) -> bool:
        return self.mode == "allowlist" and not self.apps

    def blocks(self, app_id: str) -> bool:
        """True when this rule blocks an (eligible) app."""
        listed = app_id in self.apps
        return not listed if self.mode == "allowlist" else listed


class Rules(_Model):
    """The rules of a policy. Each boolean rule is ``true`` when it is switched on.

    ``anonymous_access: true`` is the "prevent anonymous access" rule, ``export: true``
    "prevent export", ``public_links: true`` "prevent public links" (sources.md, policies 1.1).
    Search enforces ``app_access`` and ``anonymous_access``; the others are stored and
    validated so the store round-trips a site's policies faithfully.
    """

    app_access: AppAccessRule | None = None
    export: StrictBool = False
    public_links: StrictBool = False
    anonymous_access: StrictBool = False


class Coverage(_Model):
    """What a policy covers: the whole site (``WORKSPACE``) or listed spaces (``CONTAINER``).

    Space keys compare case-insensitively, as everywhere in CQL.
    """

    level: Literal["WORKSPACE", "CONTAINER"]
    spaces: list[_NonBlank] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _classification(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("level") == "CLASSIFICATION":
            raise ValueError(
                "CLASSIFICATION coverage is not supported: content in this index carries no "
                "classification levels; use WORKSPACE or CONTAINER"
            )
        return data

    @model_validator(mode="after")
    def _spaces_match_level(self) -> Coverage:
        if self.level == "WORKSPACE" and self.spaces:
            raise ValueError("WORKSPACE coverage covers every space: leave 'spaces' out")
        if len(self.spaces) > MAX_SPACES_PER_POLICY:
            raise ValueError(
                f"a policy covers at most {MAX_SPACES_PER_POLICY} spaces, got "
                f"{len(self.spaces)}; split the spaces over several policies"
            )
        _check_unique(self.spaces, "space", fold=True)
        return self

    def covers(self, space_key: str) -> bool:
        if self.level == "WORKSPACE":
            return True
        folded = space_key.casefold()
        return any(key.casefold() == folded for key in self.spaces)


class Policy(_Model):
    """A data security policy (an item of ``policies.json``). Rules apply only while active."""

    id: _NonBlank
    name: _NonBlank
    description: StrictStr | None = None
    active: StrictBool
    coverage: Coverage
    rules: Rules = Field(default_factory=Rules)

    def covers(self, space_key: str) -> bool:
        return self.coverage.covers(space_key)


class Grant(_Model):
    """A user's consent for an app (an item of ``grants.json``, sources.md, policies 5).

    An ``account`` grant covers every site where the app is installed; a ``site`` grant
    covers only the cloud ids in ``sites``.
    """

    account_id: _NonBlank
    app_id: _NonBlank
    scope: Literal["account", "site"]
    sites: list[_NonBlank] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sites_match_scope(self) -> Grant:
        if self.scope == "site" and not self.sites:
            raise ValueError("a site-restricted grant lists at least one cloud id in 'sites'")
        if self.scope == "account" and self.sites:
            raise ValueError("an account-level grant covers every site: leave 'sites' out")
        _check_unique(self.sites, "site")
        return self

    def covers(self, cloud_id: str) -> bool:
        return self.scope == "account" or cloud_id in self.sites


class SiteInfo(_Model):
    """The site an index was built from (``site.json``)."""

    cloud_id: _NonBlank
    name: _NonBlank
    base_url: _NonBlank
    #: Whether anonymous callers may search at all (docs/permissions.md).
    anonymous_access: StrictBool = False

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
        return url


# --- parsing the site files -------------------------------------------------------------

_M = TypeVar("_M", bound=BaseModel)


def _describe(error: ValidationError) -> str:
    """Pydantic's errors as one line: ``where: what`` joined by ``; ``."""
    parts = []
    for item in error.errors():
        where = ".".join(str(step) for step in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _validate(model: type[_M], data: Any, where: str, code: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise EngineError(code, f"{where}: {_describe(error)}") from None


def _item_label(source: str, index: int, item: Any, id_key: str) -> str:
    label = f"{source}[{index}]"
    if isinstance(item, Mapping) and isinstance(item.get(id_key), str):
        label += f" ({id_key} {item[id_key]!r})"
    return label


def _parse_list(raw: Any, model: type[_M], source: str, id_key: str, code: str) -> list[_M]:
    if not isinstance(raw, list):
        raise EngineError(code, f"{source}: expected a JSON list, got {type(raw).__name__}")
    return [
        _validate(model, item, _item_label(source, index, item, id_key), code)
        for index, item in enumerate(raw)
    ]


def _unique_ids(values: Iterable[str], source: str, what: str, code: str) -> None:
    try:
        _check_unique(values, what)
    except ValueError as error:
        raise EngineError(code, f"{source}: {error}") from None


def parse_apps(raw: Any, source: str = "apps.json") -> list[App]:
    """The app registry from the loaded JSON of ``apps.json`` (app ids are unique)."""
    apps = _parse_list(raw, App, source, "app_id", "invalid_site")
    _unique_ids((app.app_id for app in apps), source, "app_id", "invalid_site")
    return apps


def parse_policies(raw: Any, source: str = "policies.json") -> list[Policy]:
    """Policies from the loaded JSON of ``policies.json`` (unique ids, at most 50)."""
    policies = _parse_list(raw, Policy, source, "id", "invalid_policy")
    if len(policies) > MAX_POLICIES:
        raise EngineError(
            "invalid_policy",
            f"{source}: an organisation has at most {MAX_POLICIES} policies, got {len(policies)}",
        )
    _unique_ids((policy.id for policy in policies), source, "policy id", "invalid_policy")
    return policies


def parse_grants(raw: Any, source: str = "grants.json") -> list[Grant]:
    """Grants from the loaded JSON of ``grants.json`` (one grant per app and account)."""
    grants = _parse_list(raw, Grant, source, "app_id", "invalid_site")
    seen: set[tuple[str, str]] = set()
    for index, grant in enumerate(grants):
        key = (grant.app_id, grant.account_id)
        if key in seen:
            raise EngineError(
                "invalid_site",
                f"{source}[{index}]: app {grant.app_id!r} already has a grant from account "
                f"{grant.account_id!r}; there is one grant per app and account (add sites to "
                "it instead)",
            )
        seen.add(key)
    return grants


def parse_site_info(raw: Any, source: str = "site.json") -> SiteInfo:
    """The site description from the loaded JSON of ``site.json``."""
    if not isinstance(raw, Mapping):
        raise EngineError(
            "invalid_site", f"{source}: expected a JSON object, got {type(raw).__name__}"
        )
    return _validate(SiteInfo, raw, source, "invalid_site")


# --- warnings ----------------------------------------------------------------------------


def reference_warnings(
    policies: Iterable[Policy], apps: Iterable[App], space_keys: Iterable[str]
) -> list[str]:
    """Policies naming apps that are not installed or spaces the index does not hold.

    Not errors: a policy may be written before the app is installed or the space created,
    and it applies as written (a blocklisted app is blocked once installed). But a typo in
    an app id or a space key silently protects nothing, so it is worth a warning at build
    time and in ``cql policy list``/``show``.
    """
    installed = {app.app_id for app in apps}
    spaces = {key.casefold() for key in space_keys}
    out: list[str] = []
    for policy in policies:
        label = f"policy {policy.id} ({policy.name})"
        rule = policy.rules.app_access
        for app_id in rule.apps if rule is not None else ():
            if app_id not in installed:
                out.append(f"{label}: app {app_id!r} is not installed (the rule still names "
                           "it and applies once it is)")
        for key in policy.coverage.spaces:
            if key.casefold() not in spaces:
                out.append(f"{label}: space {key!r} does not exist in this index (the policy "
                           "still covers it if it is added)")
    return out


# --- decisions ---------------------------------------------------------------------------


def covered_spaces(policy: Policy, all_space_keys: Iterable[str]) -> frozenset[str]:
    """The keys (spelled as in ``all_space_keys``) a policy covers, active or not."""
    return frozenset(key for key in all_space_keys if policy.covers(key))


def policy_blocks_app(policy: Policy, app_id: str, apps: Iterable[App]) -> bool:
    """True when ``policy`` is active and its app access rule blocks ``app_id``.

    An app missing from the registry is treated as eligible: failing closed keeps an
    unregistered app from slipping past a "block all" rule.
    """
    rule = policy.rules.app_access
    if not policy.active or rule is None:
        return False
    app = next((candidate for candidate in apps if candidate.app_id == app_id), None)
    if app is not None and not app.eligible_for_blocking:
        return False
    return rule.blocks(app_id)


def blocked_spaces(
    app_id: str,
    policies: Iterable[Policy],
    apps: Iterable[App],
    all_space_keys: Iterable[str],
) -> frozenset[str]:
    """The spaces whose content ``app_id`` may not see.

    Policies add up and a block always wins (sources.md, policies 1.1): a space is blocked when
    any active policy covering it has an app access rule that blocks the app. Space
    entities themselves stay visible; this is about the content inside them.
    """
    apps = list(apps)
    blocking = [policy for policy in policies if policy_blocks_app(policy, app_id, apps)]
    if not blocking:
        return frozenset()
    return frozenset(
        key for key in all_space_keys if any(policy.covers(key) for policy in blocking)
    )


def anonymous_blocked_spaces(
    policies: Iterable[Policy], all_space_keys: Iterable[str]
) -> frozenset[str]:
    """The spaces an anonymous caller gets nothing from: covered by an active policy whose
    "prevent anonymous access" rule is on (sources.md, policies 7.6 step 6)."""
    closing = [policy for policy in policies if policy.active and policy.rules.anonymous_access]
    return frozenset(key for key in all_space_keys if any(p.covers(key) for p in closing))


# --- scopes ------------------------------------------------------------------------------

#: Either of these lets an app call the CQL search endpoints (sources.md, policies 3.1).
SEARCH_SCOPES: frozenset[str] = frozenset({"search:confluence", "read:content-details:confluence"})
#: The Connect scope that both search endpoints accept instead (sources.md, policies 3.1).
CONNECT_READ_SCOPE = "READ"

#: For strict-scopes mode: a content type is visible when the token holds any of its scopes
#: (sources.md, policies 3.2, granular v2 scope first, then the classic scopes covering it).
TYPE_READ_SCOPES: Mapping[str, frozenset[str]] = {
    "page": frozenset(
        {
            "read:page:confluence",
            "read:confluence-content.all",
            "read:confluence-content.summary",
        }
    ),
    "blogpost": frozenset(
        {
            "read:page:confluence",
            "read:blogpost:confluence",
            "read:confluence-content.all",
            "read:confluence-content.summary",
        }
    ),
    "comment": frozenset({"read:comment:confluence", "read:confluence-content.all"}),
    "attachment": frozenset({"read:attachment:confluence", "read:confluence-content.all"}),
    "whiteboard": frozenset({"read:whiteboard:confluence"}),
    "database": frozenset({"read:database:confluence"}),
    "embed": frozenset({"read:embed:confluence"}),
    "folder": frozenset({"read:folder:confluence"}),
    "space": frozenset({"read:space:confluence", "read:confluence-space.summary"}),
}


def _reads_everything(caller: AppCaller) -> bool:
    # Connect apps have no per-type scopes; READ covers reading every kind of content.
    return caller.kind == "connect" and CONNECT_READ_SCOPE in caller.scopes


def check_search_scopes(caller: UserCaller | AppCaller | AnonymousCaller) -> None:
    """Refuse an app whose token may not call search at all (``scope``).

    Users and anonymous callers hold no scopes and are never refused here.
    """
    if not isinstance(caller, AppCaller):
        return
    if caller.scopes & SEARCH_SCOPES or _reads_everything(caller):
        return
    needed = " or ".join(sorted(SEARCH_SCOPES))
    if caller.kind == "connect":
        needed += f" (or {CONNECT_READ_SCOPE} for a Connect app)"
    held = ", ".join(sorted(caller.scopes)) or "no scopes"
    raise EngineError(
        "scope",
        f"app {caller.app_id!r} may not search: its token lacks the scope {needed} "
        f"(it holds {held})",
    )


def hidden_types_for_scopes(caller: UserCaller | AppCaller | AnonymousCaller) -> frozenset[str]:
    """Strict-scopes mode: the content types the caller's token holds no read scope for.

    Off by default in the engine, because Confluence does not document it (sources.md,
    policies 3.2). Users and anonymous callers hold no tokens and see every type.
    """
    if not isinstance(caller, AppCaller) or _reads_everything(caller):
        return frozenset()
    return frozenset(
        kind for kind, scopes in TYPE_READ_SCOPES.items() if not caller.scopes & scopes
    )


# --- grants ------------------------------------------------------------------------------


def check_grant(
    caller: UserCaller | AppCaller | AnonymousCaller,
    grants: Iterable[Grant],
    site: SiteInfo,
) -> None:
    """Refuse an app acting for a user who has not granted it access to this site.

    Only Forge and 3LO apps act on a user's consent (sources.md, policies 5); Connect apps are
    installed by an admin and impersonate users without a per-user grant, and an app
    acting as itself needs no user's consent. The error is ``no_grant``, not an empty
    result, so the app can ask the user to consent instead of concluding nothing matched.
    """
    if not isinstance(caller, AppCaller) or caller.acting_for is None:
        return
    if caller.kind == "connect":
        return
    grant = next(
        (g for g in grants if g.app_id == caller.app_id and g.account_id == caller.acting_for),
        None,
    )
    if grant is None:
        raise EngineError(
            "no_grant",
            f"app {caller.app_id!r} has no grant from account {caller.acting_for!r}: the user "
            "has not consented to this app (or revoked consent)",
        )
    if not grant.covers(site.cloud_id):
        raise EngineError(
            "no_grant",
            f"app {caller.app_id!r} holds a site-restricted grant from account "
            f"{caller.acting_for!r} that does not include this site ({site.name}, cloud id "
            f"{site.cloud_id!r}); the user must consent for this site",
        )


# --- the store ---------------------------------------------------------------------------

ChangeTrigger = Literal[
    "created", "updated", "coverage_changed", "activated", "deactivated", "deleted"
]


class PolicyChange(BaseModel):
    """One store mutation: every policy before and after it (``index.security.events`` diffs them).

    ``before == after`` for a call that changed nothing (activating an active policy);
    such a call does not bump the store version and generates no events.
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    policy_id: str
    trigger: ChangeTrigger
    before: builtins.list[Policy]
    after: builtins.list[Policy]
    version: int

    @property
    def changed(self) -> bool:
        return self.before != self.after


_STORE_FORMAT = 1


@dataclass(frozen=True)
class _StoreState:
    """Everything the store file holds, validated."""

    version: int = 0
    site: SiteInfo | None = None
    apps: tuple[App, ...] = ()
    grants: tuple[Grant, ...] = ()
    policies: tuple[Policy, ...] = ()

    @classmethod
    def parse(cls, raw: Any, where: str) -> _StoreState:
        if not isinstance(raw, Mapping):
            raise EngineError("invalid_store", f"{where}: expected a JSON object")
        if raw.get("format") != _STORE_FORMAT:
            raise EngineError(
                "invalid_store",
                f"{where}: unknown store format {raw.get('format')!r} "
                f"(this version reads format {_STORE_FORMAT})",
            )
        version = raw.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise EngineError("invalid_store", f"{where}: version must be a non-negative integer")
        site = raw.get("site")
        return cls(
            version=version,
            site=None if site is None else parse_site_info(site, f"{where} site"),
            apps=tuple(parse_apps(raw.get("apps", []), f"{where} apps")),
            grants=tuple(parse_grants(raw.get("grants", []), f"{where} grants")),
            policies=tuple(parse_policies(raw.get("policies", []), f"{where} policies")),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "format": _STORE_FORMAT,
            "version": self.version,
            "site": self.site.model_dump(mode="json") if self.site is not None else None,
            "apps": [app.model_dump(mode="json", exclude_none=True) for app in self.apps],
            "grants": [grant.model_dump(mode="json") for grant in self.grants],
            "policies": [
                policy.model_dump(mode="json", exclude_none=True) for policy in self.policies
            ],
        }


class PolicyStore:
    """The policy state an engine enforces, persisted as one JSON file.

    The file holds the site info, apps, grants and policies, plus ``version``, which grows
    by one on every change so an engine can tell when its cached masks are stale, even
    across processes (``reload``). Writes go to a temporary file in the same directory and
    then ``os.replace`` it, so a crash leaves either the old or the new state, never half.
    Every change re-reads the file first, so changes made by another process are kept;
    two processes changing policies at the very same moment are not coordinated.

    A missing file opens as an empty store (version 0); the first change creates it.
    """

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.RLock()
        self._state = _StoreState()
        #: Called with the change and the new file text just before a change is written
        #: (``index.security.journal`` journals it there); raising aborts the change.
        self.before_write: Callable[[PolicyChange, str], None] | None = None
        self.reload()

    @classmethod
    def initialize(
        cls,
        path: Path,
        *,
        site: SiteInfo | None = None,
        apps: Iterable[App] = (),
        policies: Iterable[Policy] = (),
        grants: Iterable[Grant] = (),
    ) -> PolicyStore:
        """Write a fresh store (replacing any file at ``path``) from a site's parsed files.

        The models go through the site-file parsers again, so duplicate ids and the policy
        limit are checked here as well.
        """
        raw = _StoreState(
            site=site, apps=tuple(apps), grants=tuple(grants), policies=tuple(policies)
        ).dump()
        state = _StoreState.parse(raw, str(path))
        write_atomically(Path(path), _to_text(state))
        return cls(path)

    # -- reading ------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def version(self) -> int:
        return self._state.version

    @property
    def site(self) -> SiteInfo | None:
        return self._state.site

    @property
    def apps(self) -> builtins.list[App]:
        return builtins.list(self._state.apps)

    @property
    def grants(self) -> builtins.list[Grant]:
        return builtins.list(self._state.grants)

    def app(self, app_id: str) -> App | None:
        """The registered app, or ``None`` when no app with that id is installed."""
        return next((app for app in self._state.apps if app.app_id == app_id), None)

    def get(self, policy_id: str) -> Policy:
        """The policy with this id, or ``not_found``."""
        for policy in self._state.policies:
            if policy.id == policy_id:
                return policy
        known = ", ".join(policy.id for policy in self._state.policies) or "none"
        raise EngineError("not_found", f"no policy with id {policy_id!r} (policies: {known})")

    def list(self) -> builtins.list[Policy]:
        """Every policy, in creation order."""
        return builtins.list(self._state.policies)

    def reload(self) -> None:
        """Re-read the file (another process may have changed it)."""
        with self._lock:
            try:
                text = self._path.read_text(encoding="utf-8")
            except FileNotFoundError:
                self._state = _StoreState()
                return
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as error:
                raise EngineError(
                    "invalid_store", f"{self._path}: not valid JSON ({error})"
                ) from None
            self._state = _StoreState.parse(raw, str(self._path))

    # -- changing -----------------------------------------------------------------------

    def install(self, text: str) -> None:
        """Replace the whole store with ``text`` (a journalled state being completed)."""
        with self._lock:
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as error:
                raise EngineError("invalid_store", f"journalled store: not valid JSON ({error})"
                                  ) from None
            state = _StoreState.parse(raw, f"{self._path} (journalled)")
            write_atomically(self._path, text)
            self._state = state

    def create(self, policy: Policy | Mapping[str, Any]) -> PolicyChange:
        """Add a policy (a model, or its JSON shape as in ``policies.json``)."""
        with self._lock:
            self.reload()
            new = _coerce(policy)
            if any(existing.id == new.id for existing in self._state.policies):
                raise EngineError("invalid_policy", f"a policy with id {new.id!r} already exists")
            if len(self._state.policies) >= MAX_POLICIES:
                raise EngineError(
                    "invalid_policy",
                    f"an organisation has at most {MAX_POLICIES} policies; delete one first",
                )
            return self._commit(new.id, "created", (*self._state.policies, new))

    def update(
        self,
        policy_id: str,
        *,
        name: str | None = None,
        coverage: Coverage | Mapping[str, Any] | None = None,
        rules: Rules | Mapping[str, Any] | None = None,
    ) -> PolicyChange:
        """Replace a policy's name, coverage and/or rules (``None`` leaves a part as it is).

        The coverage *level* is fixed once a policy exists (sources.md, policies 1.1); the spaces
        within a CONTAINER coverage may change. ``rules`` replaces all rules, app lists
        included.
        """
        with self._lock:
            self.reload()
            old = self.get(policy_id)
            data = old.model_dump(mode="json")
            if name is not None:
                data["name"] = name
            if coverage is not None:
                data["coverage"] = _as_json(coverage)
            if rules is not None:
                data["rules"] = _as_json(rules)
            new = _coerce(data)
            if new.coverage.level != old.coverage.level:
                raise EngineError(
                    "invalid_policy",
                    f"policy {policy_id!r}: the coverage level cannot change once set (from "
                    f"{old.coverage.level} to {new.coverage.level}); create a new policy instead",
                )
            only_coverage = (
                new.coverage != old.coverage
                and new.model_copy(update={"coverage": old.coverage}) == old
            )
            trigger: ChangeTrigger = "coverage_changed" if only_coverage else "updated"
            return self._commit(policy_id, trigger, self._replaced(new))

    def activate(self, policy_id: str) -> PolicyChange:
        """Switch a policy on (its rules are enforced from the next search)."""
        return self._set_active(policy_id, True)

    def deactivate(self, policy_id: str) -> PolicyChange:
        """Switch a policy off; apps regain access without any event."""
        return self._set_active(policy_id, False)

    def delete(self, policy_id: str) -> PolicyChange:
        """Remove a policy; apps regain access without any event."""
        with self._lock:
            self.reload()
            self.get(policy_id)
            remaining = tuple(p for p in self._state.policies if p.id != policy_id)
            return self._commit(policy_id, "deleted", remaining)

    # -- internals ----------------------------------------------------------------------

    def _set_active(self, policy_id: str, active: bool) -> PolicyChange:
        with self._lock:
            self.reload()
            new = self.get(policy_id).model_copy(update={"active": active})
            trigger: ChangeTrigger = "activated" if active else "deactivated"
            return self._commit(policy_id, trigger, self._replaced(new))

    def _replaced(self, new: Policy) -> tuple[Policy, ...]:
        return tuple(new if p.id == new.id else p for p in self._state.policies)

    def _commit(
        self, policy_id: str, trigger: ChangeTrigger, after: tuple[Policy, ...]
    ) -> PolicyChange:
        before = self._state
        state = before
        if after != before.policies:
            state = replace(before, version=before.version + 1, policies=after)
        change = PolicyChange(
            policy_id=policy_id,
            trigger=trigger,
            before=builtins.list(before.policies),
            after=builtins.list(after),
            version=state.version,
        )
        if state is not before:
            text = _to_text(state)
            if self.before_write is not None:
                self.before_write(change, text)
            write_atomically(self._path, text)
            self._state = state
        return change


def _coerce(policy: Policy | Mapping[str, Any]) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if not isinstance(policy, Mapping):
        raise EngineError("invalid_policy", "a policy is a JSON object (or a Policy)")
    where = f"policy {policy.get('id')!r}" if isinstance(policy.get("id"), str) else "policy"
    return _validate(Policy, policy, where, "invalid_policy")


def _as_json(value: BaseModel | Mapping[str, Any]) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else dict(value)


def _to_text(state: _StoreState) -> str:
    return json.dumps(state.dump(), indent=2, ensure_ascii=False) + "\n"


def fsync_dir(directory: Path) -> None:
    """Make a rename or removal in ``directory`` durable (where the filesystem allows)."""
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers see the old or the new file, never a mix,
    and the replacement survives a crash once this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
