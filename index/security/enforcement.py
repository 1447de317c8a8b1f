"""Where policies meet the engine: masks for callers, and events for policy changes.

The policy decisions themselves are pure functions in ``policy.py``; this module keeps the
engine's ``PolicyStore`` (persisted beside the index), turns a caller into the set of
spaces and types it may not see (cached per store version, so a policy change costs one
recomputation, not an index rebuild), and streams the events a change generates to the
event bus and the event log.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from index.core import docsets
from index.core.backend import IndexStore
from index.core.compiler import SearchScope
from index.errors import EngineError
from index.security.callers import AppCaller
from index.security.events import (
    REPORTED_TYPES,
    EventBus,
    EventLog,
    EventSettings,
    PolicyEvents,
    utc_now,
)
from index.security.journal import Outcome, PolicyJournal
from index.security.policy import (
    PolicyChange,
    PolicyStore,
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
    reference_warnings,
)
from index.site.models import Space


class IndexView(Protocol):
    """What the security layer needs of an open index (``index.engine.Engine`` is one).

    A protocol rather than an import: the engine uses this layer, so this layer must not
    import the engine (docs/architecture.md)."""

    # Read-only properties: an engine's plain attributes (a dict of spaces) satisfy them,
    # where a mutable Mapping attribute would not (mypy: attributes are invariant).
    @property
    def index_dir(self) -> Path: ...
    @property
    def store(self) -> IndexStore: ...
    @property
    def spaces(self) -> Mapping[str, Space]: ...

POLICY_FILE = "policies.json"
EVENT_LOG_FILE = "events.jsonl"
#: App callers whose passed checks one policy layer keeps (then it starts again).
SCOPE_CACHE = 4096
LOCAL_SITE = SiteInfo(cloud_id="local", name="local site", base_url="http://localhost/wiki")


def initialize_store(index_dir: Path, extras: dict[str, Any]) -> PolicyStore:
    """Create the index's policy store from a site's ``policies.json``, ``apps.json``,
    ``grants.json`` and ``site.json`` (each optional). Invalid files fail the build:
    a policy silently dropped would open content it was meant to close."""
    site = parse_site_info(extras["site.json"]) if "site.json" in extras else None
    return PolicyStore.initialize(
        index_dir / POLICY_FILE,
        site=site,
        apps=parse_apps(extras.get("apps.json", [])),
        policies=parse_policies(extras.get("policies.json", [])),
        grants=parse_grants(extras.get("grants.json", [])),
    )


class IndexObjects:
    """The ``ObjectSource`` of policy events: reported objects of spaces, in event order."""

    def __init__(self, engine: IndexView) -> None:
        self.engine = engine

    def objects_in_spaces(self, space_keys: list[str]) -> Iterator[tuple[str, str, str]]:
        snap = self.engine.store.snapshot()
        ids = snap.ids
        content = snap.term("entity", "content")
        for key in space_keys:
            in_space = snap.term("space", key.lower()) & content
            for kind in sorted(REPORTED_TYPES):
                found = [ids[d] for d in docsets.members(in_space & snap.term("type", kind))]
                for object_id in sorted((i for i in found if i), key=int):
                    yield key, kind, object_id


class PolicyLayer:
    """The engine's policy state and the masks it implies."""

    def __init__(self, engine: IndexView) -> None:
        self.engine = engine
        path = engine.index_dir / POLICY_FILE
        if not path.is_file():
            # Fail closed: an index without its policy store must not serve app callers
            # as if no policy existed. Every build writes one, even an empty one.
            raise EngineError("invalid_store", f"the policy store {path} is missing; "
                              "rebuild the index or restore the file")
        self.store = PolicyStore(path)
        self.bus = EventBus()
        self.log = EventLog(engine.index_dir / EVENT_LOG_FILE)
        self.settings = EventSettings()
        self._masks: dict[tuple[str, int], frozenset[str]] = {}
        #: Callers whose checks passed at a store version: (account, hidden spaces,
        #: hidden types), emptied with ``_masks``.
        self._scopes: dict[tuple[Any, ...], tuple[str | None, frozenset[str],
                                                  frozenset[str]]] = {}
        self._mtime = _signature(path)
        self.last_records: list[Any] = []
        #: Changes an interrupted process had left pending, completed by this layer.
        self.recovered: list[Outcome] = []
        try:
            self.recover()
        except EngineError as error:
            if error.code != "io":
                raise
            # A reader that cannot write here (read-only directory, full disk) still
            # serves the store as it is; the next writer completes the change.

    # --- masks -----------------------------------------------------------------------------

    def _fresh(self) -> PolicyStore:
        """Pick up changes another process wrote (``cql policy activate`` beside a REPL)."""
        mtime = _signature(self.store.path)
        if mtime != self._mtime:
            if not self.store.path.is_file():
                raise EngineError("invalid_store", f"the policy store {self.store.path} "
                                  "is missing; rebuild the index or restore the file")
            self.store.reload()
            self._mtime = mtime
            # A rebuilt index restarts its store at version 0: drop every cached mask
            # rather than trust (app, version) keys across files.
            self._masks = {}
            self._scopes = {}
        return self.store

    def _space_keys(self) -> list[str]:
        return list(self.engine.spaces)

    def hidden_for_app(self, app_id: str) -> frozenset[str]:
        return self._hidden_for_app(self._fresh(), app_id)

    def _hidden_for_app(self, store: PolicyStore, app_id: str) -> frozenset[str]:
        key = (app_id, store.version)
        mask = self._masks.get(key)
        if mask is None:
            mask = blocked_spaces(app_id, store.list(), store.apps, self._space_keys())
            self._masks = {k: v for k, v in self._masks.items() if k[1] == store.version}
            self._masks[key] = mask
        return mask

    def anonymous_hidden(self) -> frozenset[str]:
        store = self._fresh()
        return anonymous_blocked_spaces(store.list(), self._space_keys())

    def app_scope(self, caller: AppCaller, strict_scopes: bool, *,
                  search_scope: bool = True) -> SearchScope:
        """The account, hidden spaces and hidden types of an app caller, or an error when
        its token may not search (unless ``search_scope`` is False: the front end checked
        the scopes of its own operation) or its user never granted it access."""
        store = self._fresh()
        key = (caller, strict_scopes, search_scope, store.version)
        known = self._scopes.get(key)
        if known is None:
            known = self._checked_scope(store, caller, strict_scopes, search_scope)
            if len(self._scopes) >= SCOPE_CACHE:
                self._scopes = {}
            self._scopes[key] = known
        account, hidden_spaces, hidden_types = known
        return SearchScope(account_id=account, hidden_spaces=hidden_spaces,
                           hidden_types=hidden_types)

    def _checked_scope(self, store: PolicyStore, caller: AppCaller, strict_scopes: bool,
                       search_scope: bool) -> tuple[str | None, frozenset[str],
                                                    frozenset[str]]:
        """``app_scope``'s checks and answer, which depend on the caller and the store
        only: an app's searches repeat them only when the store changes (they were most
        of what a search cost an app more than its user)."""
        registered = store.app(caller.app_id)
        if registered is not None and registered.kind != caller.kind:
            # The installed app's kind decides which checks apply (grants, scopes); a
            # caller may not present itself as another kind to skip them.
            raise EngineError("permission", f"app {caller.app_id!r} is installed as a "
                              f"{registered.kind} app, not {caller.kind}")
        if search_scope:
            check_search_scopes(caller)
        if caller.acting_for is not None:
            check_grant(caller, store.grants, store.site or LOCAL_SITE)
        return (caller.acting_for, self._hidden_for_app(store, caller.app_id),
                hidden_types_for_scopes(caller) if strict_scopes else frozenset())

    def warnings(self, policy_id: str | None = None) -> list[str]:
        """Policies (or one policy) naming apps not installed or spaces not in the index."""
        store = self._fresh()
        policies = [p for p in store.list() if policy_id is None or p.id == policy_id]
        return reference_warnings(policies, store.apps, self._space_keys())

    # --- changes and their events ------------------------------------------------------------

    def _events(self, change: PolicyChange, settings: EventSettings,
                clock: Callable[[], datetime], new_id: Callable[[], str]) -> PolicyEvents:
        site = self.store.site or LOCAL_SITE
        return PolicyEvents(change, apps=self.store.apps, space_keys=self._space_keys(),
                            objects=IndexObjects(self.engine), cloud_id=site.cloud_id,
                            settings=settings, clock=clock, new_id=new_id)

    def _journal(self) -> PolicyJournal:
        return PolicyJournal(self.engine.index_dir, self.store, self.log, self._events)

    def recover(self) -> Outcome | None:
        """Complete a policy change an interrupted process left journalled (its store write
        and events; ``index.security.journal``). Returns what was completed, if anything."""
        journal = self._journal()
        if not journal.path.exists():
            return None
        with journal.locked():
            outcome = journal.recover()
        if outcome is not None:
            self.recovered.append(outcome)
            self._mtime = _signature(self.store.path)
            self._masks = {}
            self._scopes = {}
        return outcome

    def change(self, action: str, policy_id: str, **fields: Any) -> PolicyChange:
        """Run one store mutation (``activate``, ``deactivate``, ``update``, ``delete``,
        ``create``) and emit its events, as one journalled transaction: a process killed at
        any point leaves either no change or one the next change (or engine) completes.

        Returns the change; ``last_records`` says what it did to each app. Generation
        streams: memory stays flat however many objects the change blocks.
        """
        method = getattr(self.store, action, None)
        if action not in ("activate", "deactivate", "update", "delete", "create") or not method:
            raise EngineError("bad_request", f"unknown policy action {action!r}")
        journal = self._journal()
        with journal.locked():
            earlier = journal.recover()
            change, outcome = journal.run(
                lambda: method(policy_id, **fields) if action != "create" else method(fields),
                utc_now(), self.settings)
        self._mtime = _signature(self.store.path)
        self._masks = {}
        self._scopes = {}
        if earlier is not None:
            self.recovered.append(earlier)
            journal.publish(earlier, self.bus)
        self.last_records = list(outcome.events.records) if outcome is not None else []
        if outcome is not None:
            journal.publish(outcome, self.bus)
        return change


def _signature(path: Path) -> tuple[int, ...]:
    """What identifies one version of the store file: its inode (a save writes a new file
    and renames it over the old one, and so does a rebuild), size, and modification and
    change times in nanoseconds. The modification time alone misses a change made within
    the file system's clock resolution, or by a copy that kept the old time; the change
    time cannot be set back by anyone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
