"""The search engine: build or open an index, then answer CQL for a caller.

``Engine.search`` runs the pipeline of the README: parse and validate (``cql``), normalize,
compile to document sets over one long-lived snapshot (``compiler``), apply the caller's
mask, order, page and cut excerpts. What a caller may see is decided here, outside the
query, and is the first and last thing applied.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hmac
import json
import os
import re
import secrets
import shutil
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

import cql
from cql.ast import Query
from index.core import derived, docsets, links, manifest, relevance
from index.core.backend import TEXT_FIELDS, IndexStore, Snapshot
from index.core.carry import Plan, patch_ordering, patch_ranks
from index.core.columns import Ordering, build_ordering, dense_ranks
from index.core.compiler import Catalog, Compiler, SearchScope
from index.core.context import SearchContext
from index.core.docsets import Hits
from index.core.documents import cloud_time, content_document, load_doc, space_document, url_of
from index.core.excerpts import highlight
from index.core.indexfiles import (
    MARKER_FILE,
    fsync_tree,
    is_index,
    new_build_id,
    read_build_id,
    write_marker,
)
from index.core.locking import WriterLock
from index.core.moves import carry_spaces
from index.core.swap import check_out_dir, staging_dir, swap_in
from index.core.trust import check_trusted, restrict, trusted_by_environment
from index.errors import EngineError
from index.security.callers import AnonymousCaller, AppCaller, UserCaller
from index.security.enforcement import PolicyLayer, initialize_store
from index.security.permissions import SitePermissions, site_permissions
from index.site import catalogue
from index.site.loader import (
    Reject,
    Site,
    derive,
    load_site,
    parse_content_line,
    summarise_validation_error,
)
from index.site.models import Group, Space, User
from index.site.partitioned import SplitSite, load_split, spilled_items, splittable

Caller = UserCaller | AppCaller | AnonymousCaller
#: ``Engine.open``'s ``verify``: stat-vouched checksums, every checksum, or sizes only.
Verify = bool | Literal["full"]
#: Every value of ``Verify``: any other (``"Full"``, 1) is refused rather than read as
#: true, which would check every file under another name.
VERIFY_MODES: tuple[Verify, ...] = (True, False, "full")
MAX_LIMIT = 1000
EXCERPT_MODES = ("highlight", "indexed", "none", "highlight_unescaped", "indexed_unescaped")
CATALOG_FILE = "catalog.json"
POLICY_FILES = ("policies.json", "apps.json", "grants.json", "site.json")
SECRET_FILE = "cursor.key"
#: Default seconds a writer waits for another one (``Engine.lock_timeout``).
LOCK_TIMEOUT = 30.0
#: Files of the index directory that must not be writable by others (``core.trust``).
TRUSTED_FILES = (CATALOG_FILE, SECRET_FILE, MARKER_FILE, "policies.json")
#: How often a search starts again when the index is replaced while it runs.
REPLACED_RETRIES = 5
WHOOSH_DIR = "whoosh"


class SearchResult(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str
    entityType: str
    type: str
    status: str
    title: str
    space: str
    url: str
    excerpt: str
    lastModified: str | None = None
    created: str | None = None
    score: float | None = None
    creator: str | None = None
    parentId: str | None = None
    containerId: str | None = None
    fileName: str | None = None
    labels: list[str] = Field(default_factory=list)


class SearchPage(BaseModel):
    model_config = ConfigDict(defer_build=True)
    results: list[SearchResult]
    start: int
    limit: int
    size: int
    totalSize: int
    cqlQuery: str
    searchDuration: int
    next: str | None = None
    #: The stored items the results were rendered from, decoded, in result order.
    _docs: list[dict[str, Any]] | None = PrivateAttr(default=None)

    def stored_docs(self) -> list[dict[str, Any]] | None:
        """The stored items (as ``load_doc`` gives them) that the search decoded to render
        ``results``, one per result in the same order, or None for a page made elsewhere.
        A front end that renders more of each item (``cql serve``) uses them instead of
        reading and decoding the items a second time, which cost as much as the rest of
        its request. Read-only."""
        return self._docs


class BuildReport(BaseModel):
    model_config = ConfigDict(defer_build=True)
    items: int
    spaces: int
    rejected: int
    rejects: list[str]
    seconds: float
    #: Not errors: policies naming apps not installed or spaces not in the site.
    warnings: list[str] = Field(default_factory=list)


@dataclass
class _Loaded:
    """One build of the index as this engine loaded it: everything a search reads that
    must come from the same build (README, "Concurrency")."""

    build_id: str
    spaces: dict[str, Space]
    users: Mapping[str, User]
    extras: dict[str, Any]
    secret: bytes
    store: IndexStore
    #: The catalogue as opened (groups, rejected accounts) and the view permissions it
    #: implies, from the same build as everything else here.
    catalog: catalogue.Catalogue
    permissions: SitePermissions
    policy_layer: Any = None
    _view: Catalog | None = None

    def catalog_view(self) -> Catalog:
        """The compiler's view of the spaces and users, made again only when they change
        (``upsert_catalog`` replaces the dictionaries), so per-catalogue facts such as the
        archived spaces are computed once, not per search."""
        view = self._view
        if view is None or view.spaces is not self.spaces or view.users is not self.users:
            view = self._view = Catalog(self.spaces, self.users)
        return view


class Engine:
    """A CQL search engine over one index directory."""

    def __init__(self, index_dir: Path, *, verify: Verify = True,
                 allow_untrusted: bool = False) -> None:
        self.index_dir = Path(index_dir)
        if verify not in VERIFY_MODES or type(verify) not in (bool, str):
            raise ValueError(f"verify must be True, False or 'full', not {verify!r}")
        #: How files are checked against the manifest when loading a build: True, the
        #: checksum of each file whose stat signature changed since its checksum was
        #: last seen to match; "full", every checksum; False, sizes only.
        self.verify = verify
        #: Open even an index that other users can write (``index.core.trust``).
        self.allow_untrusted = allow_untrusted or trusted_by_environment()
        self.last_build: BuildReport | None = None
        #: Seconds a writer waits for another writer before ``EngineError("busy")``.
        self.lock_timeout = LOCK_TIMEOUT
        self._writer_lock = WriterLock(self.index_dir)
        self._reload_lock = threading.Lock()
        self._state = self._load()

    # --- the loaded build ----------------------------------------------------------------

    def _load(self) -> _Loaded:
        """Read the catalogue, cursor key and Whoosh index of the build now at
        ``index_dir``, retrying if the directory is replaced while reading."""
        for _ in range(5):
            build_id = read_build_id(self.index_dir)
            # Before Whoosh reads (and unpickles) anything: who can write it, and sizes and
            # checksums.
            if not self.allow_untrusted:
                check_trusted(self.index_dir, self.index_dir / WHOOSH_DIR, TRUSTED_FILES)
            manifest.verify(self.index_dir / WHOOSH_DIR, checksums=self.verify)
            # Validated by the build, vouched for by the trust check: not validated again.
            catalog = catalogue.load(self.index_dir / CATALOG_FILE)
            loaded = _Loaded(
                build_id=build_id, spaces=catalog.spaces, users=catalog.users,
                extras=catalog.extras,
                secret=(self.index_dir / SECRET_FILE).read_bytes(),
                store=IndexStore(self.index_dir / WHOOSH_DIR),
                catalog=catalog, permissions=site_permissions(catalog))
            if read_build_id(self.index_dir) == build_id:
                return loaded
        raise EngineError("busy", f"the index at {self.index_dir} is being replaced "
                          "over and over; try again later")

    def _current(self) -> _Loaded:
        """The loaded build, reloaded first (catalogue, snapshot and policy store
        together) when the directory now holds another build."""
        state = self._state
        if read_build_id(self.index_dir) != state.build_id:
            with self._reload_lock:
                state = self._state
                if read_build_id(self.index_dir) != state.build_id:
                    old, state = state, self._load()
                    if old.policy_layer is not None:  # subscribers stay subscribed
                        state.policy_layer = PolicyLayer(self)
                        state.policy_layer.bus = old.policy_layer.bus
                    self._state = state
        return state

    def _unchanged(self, state: _Loaded) -> bool:
        """Is ``state`` still the build in the directory? Checked after a search: if the
        directory was replaced while it ran, what it read may mix two builds."""
        return read_build_id(self.index_dir) == state.build_id

    @property
    def build_id(self) -> str:
        """The identity of the loaded index: random per build, kept by upserts."""
        return self._state.build_id

    @property
    def spaces(self) -> dict[str, Space]:
        return self._state.spaces

    @property
    def users(self) -> Mapping[str, User]:
        return self._state.users

    @property
    def extras(self) -> dict[str, Any]:
        return self._state.extras

    @property
    def store(self) -> IndexStore:
        return self._state.store

    @property
    def permissions(self) -> SitePermissions:
        return self._state.permissions

    # --- building ------------------------------------------------------------------------

    @classmethod
    def build(cls, site_dir: str | Path, index_dir: str | Path,
              progress: Callable[[int, int], None] | None = None, *,
              force: bool = False) -> Engine:
        """Index a site directory into ``index_dir``, replacing it only when complete.

        Rejected lines are reported in ``engine.last_build`` and everything else is indexed.
        The build is written to a temporary sibling, flushed to disk and swapped in
        atomically (``index.core.swap``): at every moment ``index_dir`` holds the old
        index or the new one. ``EngineError("refused")`` when ``index_dir`` is not
        ours to replace (a non-empty directory that is not an index, the site directory
        or one inside or around it, the current directory), unless ``force``.
        """
        started = time.perf_counter()
        target = Path(index_dir)
        check_out_dir(Path(site_dir), target, force)
        staging: Path | None = None
        try:
            if splittable(site_dir, _split_threshold()):
                staging = staging_dir(target)
                spill = staging / "spill"
                spill.mkdir()
                split = load_split(site_dir, spill)
                site, items = split.site, split.items
                parts = _split_parts(split)
                del split  # the parts hold what the workers need; nothing else is kept
            else:
                site = load_site(site_dir)
                items = len(site.content)
                parts = _document_parts(site)
            broken = [r for r in site.rejects if r.file in POLICY_FILES]
            if broken:
                # A policy file that cannot be read must not become "no policies": that
                # would open the content it was written to close. Content lines may be
                # skipped; policy files may not.
                raise EngineError("invalid_policy", "cannot build an index without its "
                                  f"policy files: {'; '.join(map(str, broken))}")
            if staging is None:
                staging = staging_dir(target)
            _write_catalog(staging, site.spaces.values(), site.users.values(),
                           site.groups.values(), site.rejected_accounts, site.extras)
            # --- cql serve (index/serve/auth.py): the site's basic-auth accounts travel with
            # the index, which keeps them private; the server never serves this file. ---
            if (Path(site_dir) / "credentials.json").is_file():
                shutil.copyfile(Path(site_dir) / "credentials.json",
                                staging / "credentials.json")
            (staging / SECRET_FILE).write_bytes(secrets.token_bytes(32))
            write_marker(staging, new_build_id())
            initialize_store(staging, site.extras)
            store = IndexStore.create(staging / WHOOSH_DIR)
            store.bulk_build(parts, _counting(progress, items))
            parts.clear()  # the ancestors of a large site, no longer needed
            store.close()
            _write_derived(staging)
            shutil.rmtree(staging / "spill", ignore_errors=True)
            restrict(staging)  # before the manifest: a chmod would change the signatures
            manifest.record(staging / WHOOSH_DIR)
            fsync_tree(staging)
            if is_index(target):  # wait for a running upsert; later ones see the new build
                with WriterLock(target).hold(LOCK_TIMEOUT):
                    swap_in(staging, target)
            else:
                swap_in(staging, target)
        except BaseException:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        engine = cls(target)
        engine.last_build = BuildReport(
            items=items, spaces=len(site.spaces), rejected=len(site.rejects),
            rejects=[str(r) for r in site.rejects], seconds=time.perf_counter() - started,
            warnings=engine.policy_layer().warnings())
        return engine

    @classmethod
    def open(cls, index_dir: str | Path, *, verify: Verify = True,
             allow_untrusted: bool = False) -> Engine:
        """Open the index in ``index_dir``.

        Whoosh unpickles files when it opens an index, and unpickling can run code: an
        index directory that someone else can write is their code running as you. So an
        index whose directory or files are writable by group or others, or owned by
        another user, is refused with ``EngineError("untrusted")`` unless
        ``allow_untrusted`` (or ``CQL_TRUST_INDEX=1``). Every file is then checked
        against the manifest of the last commit before Whoosh reads it:
        ``EngineError("damaged")`` names a file that changed. ``verify=True`` reads the
        files whose stat signature (inode, size, times) changed since their checksum was
        last seen to match, ``verify="full"`` reads every file (bit rot under an unchanged
        signature too), ``verify=False`` checks sizes only (``index.core.manifest``).
        """
        path = Path(index_dir)
        if not (path / CATALOG_FILE).is_file() or not IndexStore.exists(path / WHOOSH_DIR):
            raise EngineError("not_found", f"no cql-search index in {path}")
        return cls(path, verify=verify, allow_untrusted=allow_untrusted)

    # --- incremental changes ---------------------------------------------------------------

    def upsert(self, items: Iterable[Mapping[str, Any]]) -> list[Reject]:
        """Add or replace content items; moved items take their subtrees with them.

        Returns the items rejected (validation, unknown space, dangling parent, cycle);
        the others are written in one commit. Writers are serialised (README,
        "Concurrency"): ``EngineError("busy")`` after ``lock_timeout`` seconds.
        """
        with self._writing():
            return self._upsert(items)

    def _upsert(self, items: Iterable[Mapping[str, Any]]) -> list[Reject]:
        state = self._current()
        snap = state.store.snapshot()
        rejects: list[Reject] = []
        incoming = {}
        positions: dict[str, int] = {}
        for n, raw in enumerate(items, 1):
            try:
                item = parse_content_line(raw)
            except ValidationError as err:
                rejects.append(Reject("upsert", n, summarise_validation_error(err)))
                continue
            if item.space not in state.spaces:
                rejects.append(Reject("upsert", n, f"unknown space key {item.space!r}"))
                continue
            incoming[item.id] = item
            positions[item.id] = n
        # From the index, only what the new items hang from (their new parents and
        # containers with those items' ancestors) and what they carry along (everything
        # below them): an upsert reads a few documents, not the whole index.
        needed: set[str] = set()
        for item in incoming.values():
            for link in (item.parent_id, item.container_id):
                if link and link not in incoming and (found := snap.docnum_of(link)) is not None:
                    needed.add(link)
                    needed.update(load_doc(snap.stored(found)).get("ancestors", []))
            if snap.docnum_of(item.id) is not None:
                needed.update(snap.ids_of(snap.term("ancestor", item.id)))
        stored = {i.id: i for i in self._stored_items(snap, needed - set(incoming))}
        known = carry_spaces(stored, incoming)
        derived, problems = derive(known, lines=positions, file="upsert",
                                   unchanged=set(stored) - set(incoming))
        rejects.extend(problems)
        changed = [derived[i] for i in derived if i in incoming or derived[i] != stored[i]]
        _ = snap.derived  # the commit's derived file, which the write removes: carried over
        state.store.write(content_document(i) for i in changed)
        _refresh_derived(self, state, snap)
        return rejects

    def delete(self, ids: Iterable[str]) -> int:
        """Delete content items by id, as Confluence does: comments and attachments go with
        the item they belong to, and tree children move up to the nearest surviving
        ancestor (their subtrees with them). Returns how many of ``ids`` were present."""
        with self._writing():
            return self._delete(ids)

    def _delete(self, ids: Iterable[str]) -> int:
        state = self._current()
        snap = state.store.snapshot()
        present = {i for i in ids
                   if not i.startswith("space:") and snap.docnum_of(i) is not None}
        if not present:
            return 0
        # Only what the deletion reaches is read (reading every stored item cost seconds at
        # 100,000 items): the items contained in the doomed ones, everything below them
        # (their ``ancestor`` terms) and, to hang the survivors on, the doomed items'
        # ancestors.
        doomed, frontier = set(present), set(present)
        while frontier:  # contained items of contained items (a comment's attachments, ...)
            frontier = set(snap.ids_of(snap.terms("container", frontier))) - doomed
            doomed |= frontier
        reached = doomed | set(snap.ids_of(snap.terms("ancestor", doomed)))
        items = {item.id: item for item in self._stored_items(snap, sorted(reached))}
        above = {a for i in doomed for a in items[i].ancestors} - reached
        context = {item.id: item for item in self._stored_items(snap, sorted(above))}
        survivors = {}
        for item_id, item in items.items():
            if item_id in doomed:
                continue
            parent = item.parent_id
            while parent in doomed:
                parent = items[parent].parent_id
            if parent != item.parent_id:
                item = item.model_copy(update={"parent_id": parent})
            survivors[item_id] = item
        derived, _ = derive({**context, **survivors}, file="delete", unchanged=set(context))
        moved = sorted((it for i, it in derived.items() if i in survivors and (
            it.ancestors != items[i].ancestors or it.parent_id != items[i].parent_id)),
            key=lambda it: snap.docnum_of(it.id) or 0)  # in index order, as they were
        _ = snap.derived  # the commit's derived file, which the write removes: carried over
        state.store.write((content_document(i) for i in moved), delete_ids=sorted(doomed))
        _refresh_derived(self, state, snap)
        return len(present)

    def upsert_catalog(self, spaces: Iterable[Mapping[str, Any]] = (),
                       users: Iterable[Mapping[str, Any]] = ()) -> None:
        """Add or replace spaces and users (lines of spaces.jsonl and users.jsonl), so that
        content of a new space can be upserted and new users' names are searchable.

        Raises ``EngineError("invalid_site", ...)`` for a line the site loader would reject
        (nothing is changed then). The catalog file is replaced atomically, under the
        writer lock, and keeps the index's groups and rejected accounts.
        """
        try:
            new_spaces = [Space.model_validate(s) for s in spaces]
            new_users = [User.model_validate(u) for u in users]
        except ValidationError as err:
            raise EngineError("invalid_site", summarise_validation_error(err)) from None
        with self._writing():
            state = self._current()
            folded = {key.casefold(): key for key in state.spaces}
            for space in new_spaces:
                same = folded.get(space.key.casefold())
                if same is not None and same != space.key:
                    raise EngineError("invalid_site", f"space key {space.key!r} is the same "
                                      f"as {same!r}: keys compare case-insensitively")
            new_spaces = [s for s in new_spaces if state.spaces.get(s.key) != s]
            new_users = [u for u in new_users if state.users.get(u.account_id) != u]
            if not new_spaces and not new_users:
                return
            spaces_now = {**state.spaces, **{s.key: s for s in new_spaces}}
            users_now = {**state.users, **{u.account_id: u for u in new_users}}
            staging = self.index_dir / f"{CATALOG_FILE}.tmp-{os.getpid()}"
            staging.mkdir(exist_ok=True)
            catalog = state.catalog
            _write_catalog(staging, spaces_now.values(), users_now.values(),
                           catalog.groups.values(), catalog.rejected_accounts, state.extras)
            os.replace(staging / CATALOG_FILE, self.index_dir / CATALOG_FILE)
            staging.rmdir()
            before = state.store.snapshot()
            _ = before.derived  # the commit's derived file, which the write removes
            if new_spaces:
                state.store.write(space_document(s) for s in new_spaces)
            state.spaces, state.users = spaces_now, users_now
            state.catalog = catalog = dataclasses.replace(catalog, spaces=spaces_now,
                                                          users=users_now)
            state.permissions = site_permissions(catalog)
            if new_spaces:
                _refresh_derived(self, state, before)

    def _writing(self) -> AbstractContextManager[None]:
        """Hold the index's writer lock (re-entrant in one thread) for a change."""
        return self._writer_lock.hold(self.lock_timeout)

    def _stored_items(self, snap: Snapshot, ids: Iterable[str] | None = None) -> list[Any]:
        """Content items as stored in the index: all of them, or those of ``ids``."""
        from index.site.models import ContentItem

        if ids is None:
            stored = (s for _, s in snap.all_stored())
        else:
            found = (snap.docnum_of(i) for i in ids)  # (a map of every id: 0.25 s)
            stored = (snap.stored(d) for d in found if d is not None)
        out = []
        for fields in stored:
            doc = load_doc(fields)
            if "key" not in doc:
                out.append(ContentItem.model_validate(doc))
        return out

    # --- searching -----------------------------------------------------------------------

    def search(self, cql_text: str, *, caller: Caller | None = None,
               context: SearchContext | None = None, limit: int = 25, start: int = 0,
               cursor: str | None = None, excerpt: str = "highlight",
               dialect: str = "strict", strict_scopes: bool = False,
               search_scope: bool = True) -> SearchPage:
        """Run ``cql_text`` for ``caller`` and return one page of results.

        ``caller=None`` is the local operator: no account, no policy mask. Errors in the
        query raise :class:`cql.CqlError`; access problems raise :class:`EngineError`.
        ``search_scope=False`` is for a front end that runs CQL to answer another
        operation whose scopes it has checked itself (``cql serve`` reads a page by id
        with ``id = N``): an app's token then needs no *search* scope. Nothing else
        changes: the policy mask, grants and strict-scopes types still apply.
        """
        began = time.perf_counter()
        context = context or SearchContext()
        if excerpt not in EXCERPT_MODES:
            raise EngineError("bad_request", f"excerpt must be one of {EXCERPT_MODES}")
        if limit < 0 or start < 0:
            raise EngineError("bad_request", "limit and start cannot be less than zero")
        limit = min(limit, MAX_LIMIT) or 1
        query, canonical = parsed(cql_text, dialect)
        if cursor is not None:
            context = _cursor_clock(cursor, query, context)
        for _ in range(REPLACED_RETRIES):
            # Everything below reads one build: if the index was replaced meanwhile, what
            # was read may mix two, so the search runs again on the new one.
            state = self._current()
            scope = self.scope_for(caller, strict_scopes, search_scope=search_scope,
                                   state=state)
            first = start
            if cursor is not None:
                first = self._open_cursor(cursor, canonical, caller, context, scope,
                                          state)
            snap = state.store.snapshot()
            compiler = Compiler(snap, state.catalog_view(), scope, context)
            try:
                hits = compiler.select(query)
                total = docsets.size_of(hits)
                rendered = self._render(compiler, query, hits, first, limit, excerpt, total)
            except cql.CqlError as err:
                raise err.with_query(cql_text) from None
            except EngineError:
                raise
            except Exception as err:
                # A failure inside Whoosh: if a file is damaged, say which.
                manifest.verify(self.index_dir / WHOOSH_DIR, checksums="full")
                raise err
            nxt = None
            if first + limit < total:
                nxt = self._make_cursor(first + limit, canonical, caller, context, scope,
                                        state, clock=_reads_clock(canonical))
            if self._unchanged(state):
                break
        else:
            raise EngineError("busy", f"the index at {self.index_dir} was replaced during "
                              "every attempt at this search; try again")
        start = first
        results = [r for _, r, _ in rendered]
        # Made, not validated: every value is the engine's own, and validating would build
        # the models' validators first (about 10 ms of a process's first search).
        return _construct_page(
            {"results": results, "start": start, "limit": limit, "size": len(results),
             "totalSize": total, "cqlQuery": canonical,
             "searchDuration": round((time.perf_counter() - began) * 1000), "next": nxt},
            [doc for _, _, doc in rendered])

    def page(self, compiler: Compiler, query: Query, hits: Hits, start: int, limit: int,
             excerpt: str = "highlight") -> list[tuple[int, SearchResult]]:
        """Order the document set ``hits`` that ``compiler`` made for ``query`` and render
        positions ``[start, start + limit)``: (document number, result) pairs.

        ``search`` is parse + ``Compiler.run`` + this; front ends that run the stages
        themselves (the REPL, to time them) call it directly.
        """
        return [(d, r) for d, r, _ in self._render(compiler, query, hits, start, limit,
                                                    excerpt)]

    def _render(self, compiler: Compiler, query: Query, hits: Hits, start: int, limit: int,
                excerpt: str, total: int | None = None
                ) -> list[tuple[int, SearchResult, dict[str, Any]]]:
        """``page``, with the decoded stored item of each result; ``total`` is the size of
        ``hits`` when the caller has counted it already (a count reads the whole set)."""
        snap = compiler.snap
        if total is None:
            total = docsets.size_of(hits)
        ordered = self._order(snap, query, hits, total, compiler.score_terms, start + limit,
                              compiler.universe, lambda within: compiler.hit_flags(hits, within))
        tokens = compiler.score_tokens
        rows: dict[int, _Row] = snap.cache.setdefault("rows", {})
        out = []
        for d, score in ordered[start: start + limit]:
            row = rows.get(d) or _row(snap, d)
            result, doc = self._result(row, score, tokens, excerpt)
            out.append((d, result, doc))
        return out

    def count(self, cql_text: str, **kwargs: Any) -> int:
        return self.search(cql_text, limit=1, excerpt="none", **kwargs).totalSize

    # --- callers -------------------------------------------------------------------------

    def scope_for(self, caller: Caller | None, strict_scopes: bool = False, *,
                  search_scope: bool = True, state: _Loaded | None = None) -> SearchScope:
        """What ``caller`` may see: its account (for currentUser()), its policy mask and
        its view permissions (docs/permissions.md). An app whose token lacks a search
        scope is refused unless ``search_scope`` is False (see ``search``). ``state`` is
        the loaded build a search reads (by default the current one)."""
        if caller is None:
            return SearchScope()
        state = state or self._current()
        mask = state.permissions.mask(caller)
        if isinstance(caller, UserCaller):
            return SearchScope(account_id=caller.account_id, permissions=mask)
        layer = self._policy_layer(state)
        if isinstance(caller, AnonymousCaller):
            return SearchScope(hidden_spaces=layer.anonymous_hidden(), permissions=mask)
        scope = layer.app_scope(caller, strict_scopes, search_scope=search_scope)
        scope.permissions = mask
        return scope

    def policy_layer(self) -> Any:
        return self._policy_layer(self._current())

    def _policy_layer(self, state: _Loaded) -> Any:
        if state.policy_layer is None:
            with self._reload_lock:
                if state.policy_layer is None:
                    state.policy_layer = PolicyLayer(self)
        return state.policy_layer

    # --- ordering ------------------------------------------------------------------------

    def _order(self, snap: Snapshot, query: Query, hits: Hits, total: int,
               terms: list[tuple[str, str]], needed: int, universe: int,
               hit_flags: Callable[[int], bytes | bytearray | None] | None = None
               ) -> list[tuple[int, float | None]]:
        """The first ``needed`` hits in result order, with scores when relevance-ranked
        (``hit_flags``: ``relevance.top``'s)."""
        if query.order_by:
            keys = tuple((k.field, k.descending) for k in query.order_by)
            return [(d, None) for d in _ordering(snap, keys).top(hits, total, needed)]
        if not terms:
            default = _ordering(snap, (("lastmodified", True),))
            return [(d, None) for d in default.top(hits, total, needed)]
        return list(relevance.top(snap, tuple(sorted(set(terms))), universe, hits, total,
                                  needed, _ordering(snap, (("lastmodified", True),)),
                                  hit_flags))

    # --- results -------------------------------------------------------------------------

    def _result(self, row: _Row, score: float | None, tokens: list[str],
                mode: str) -> tuple[SearchResult, dict[str, Any]]:
        fields, title, body, doc = row
        values = fields.copy()  # every field, in declared order, as no query marks it
        if mode != "none":
            values["title"], values["excerpt"] = highlight(title, body, tokens, mode)
        if score is not None:
            values["score"] = score
        values["labels"] = list(values["labels"])  # the row's own tuple stays unshared
        return _construct(values), doc

    # --- cursors -------------------------------------------------------------------------

    def _binding(self, canonical: str, caller: Caller | None, context: SearchContext,
                 scope: SearchScope) -> str:
        """What a cursor is valid for: the query, the caller, what that caller may see
        (mask and strict-scopes types) and the context."""
        who = caller.fingerprint() if caller is not None else "local"
        seen = f"{_sorted_text(scope.hidden_spaces)}|{_sorted_text(scope.hidden_types)}|" \
            f"{scope.account_id}"
        # The clock is part of what a cursor is for only when the query reads it (a date
        # function): a cursor printed under the wall clock must still work a minute later.
        clock = context.now.isoformat() if _reads_clock(canonical) else ""
        rest = _context_text(context)
        return f"{canonical}\x00{who}\x00{seen}\x00{rest}\x00{clock}"

    def _make_cursor(self, offset: int, canonical: str, caller: Caller | None,
                     context: SearchContext, scope: SearchScope, state: _Loaded,
                     clock: bool = False) -> str:
        # The instant the first page was computed at, so page 2 uses it too.
        instant = context.now.isoformat() if clock else None
        return _signed_cursor(offset, instant, state.secret,
                              self._binding(canonical, caller, context, scope))

    def _open_cursor(self, cursor: str, canonical: str, caller: Caller | None,
                     context: SearchContext, scope: SearchScope, state: _Loaded) -> int:
        bad = EngineError("bad_cursor", "the cursor was made for another query, caller or "
                          "context (space, statuses, time zone), or is damaged: run the "
                          "query again without --cursor")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            body, mac = raw[:-16], raw[-16:]
            want = hmac.digest(state.secret,
                               body + self._binding(canonical, caller, context, scope).encode(),
                               "sha256")[:16]
            if not hmac.compare_digest(mac, want):
                raise bad
            offset = int(json.loads(body)["o"])
        except EngineError:
            raise
        except Exception:
            raise bad from None
        if offset < 0:
            raise bad
        return offset


# --- helpers ---------------------------------------------------------------------------


#: Query texts longer than this are parsed on every search rather than kept, which bounds
#: a kept tree to some tens of kB (a few hundred clauses at most).
PARSE_CACHE_TEXT = 1024


def parsed(cql_text: str, dialect: str = "strict") -> tuple[Query, str]:
    """``cql_text`` parsed, validated and normalized, with its canonical text.

    A query's tree depends on its text and dialect only (what depends on the caller, the
    context or the index is decided by the compiler), so the last ``PARSE_CACHE`` texts'
    trees are kept for every caller and snapshot: the trees are immutable, and a text
    with an error is never kept, so its error is raised again on each search. Parsing was
    a tenth of a selective query's time."""
    if len(cql_text) > PARSE_CACHE_TEXT:
        return _parse(cql_text, dialect)
    return _parse_cached(cql_text, dialect)


def _parse(cql_text: str, dialect: str) -> tuple[Query, str]:
    query = cql.normalize(cql.parse(cql_text, dialect=dialect))
    return query, cql.to_cql(query)


#: How many distinct query texts ``parsed`` keeps: typically a few kB each, at worst
#: some tens of MB together.
PARSE_CACHE = 1024
_parse_cached = functools.lru_cache(maxsize=PARSE_CACHE)(_parse)


def uses_clock(query: Query) -> bool:
    """Whether ``query`` calls a date function (``now()``, ``startOfDay()``, ...): its
    results then depend on the clock, so its cursors carry the instant."""
    return _reads_clock(cql.to_cql(query))


@functools.lru_cache(maxsize=256)
def _sorted_text(keys: frozenset[str]) -> str:
    """A set of keys as its sorted list's text (an app's hidden spaces: every cursor
    binds them, and the policy layer hands out the same set until a policy changes)."""
    return str(sorted(keys))


@functools.lru_cache(maxsize=256)
def _context_text(context: SearchContext) -> str:
    """What a cursor binds of a context besides its clock (contexts are frozen: a front
    end hands the same one, or an equal one, to search after search)."""
    return context.model_dump_json(exclude={"now"})


@functools.lru_cache(maxsize=1024)
def _signed_cursor(offset: int, instant: str | None, secret: bytes, binding: str) -> str:
    """The cursor to ``offset`` (and ``instant``) for ``binding``, signed with ``secret``:
    the same inputs make the same cursor, so the cursors of the pages last served are
    kept rather than encoded and signed again on every search (a tenth of a selective
    query's time)."""
    fields: dict[str, Any] = {"o": offset}
    if instant is not None:
        fields["n"] = instant
    body = json.dumps(fields).encode()
    mac = hmac.digest(secret, body + binding.encode(), "sha256")[:16]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


_CLOCK_FUNCTIONS = re.compile(r"\b(now|(start|end)Of(Day|Week|Month|Year))\s*\(")


def _reads_clock(canonical: str) -> bool:
    # The canonical text names every function call; a string literal that merely contains
    # "now(" would make a cursor stricter (bound to the instant), never looser.
    return bool(_CLOCK_FUNCTIONS.search(canonical))


def _cursor_clock(cursor: str, query: Query, context: SearchContext) -> SearchContext:
    """The context with the instant a cursor carries (its MAC is checked afterwards)."""
    if not uses_clock(query):
        return context
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        instant = datetime.fromisoformat(json.loads(raw[:-16])["n"])
    except Exception:
        return context  # not a clock cursor: _open_cursor refuses it
    if instant.tzinfo is None:
        return context
    return context.model_copy(update={"now": instant})



def _construct(values: dict[str, Any]) -> SearchResult:
    """A ``SearchResult`` of values that were validated when the index was built:
    ``values`` holds every field, in declared order, and becomes the instance's own.

    What ``model_construct`` does, without its per-field bookkeeping (a fifth of a
    selective query's time): every field is given (a missing one would make pydantic
    parse the default factory's signature on every call, 4 ms a page), so the instance
    needs only its fields, the set of them, and no extras or private attributes."""
    result = _new_result(SearchResult)
    _set_dict(result, values)
    _set_fields_set(result, _FIELD_SET)
    _set_extra(result, None)
    _set_private(result, None)
    return result


def _construct_page(values: dict[str, Any], docs: list[dict[str, Any]]) -> SearchPage:
    """A ``SearchPage`` of values the engine made (results it constructed, counts), as
    ``_construct`` makes results: validating them again was 6 microseconds a search."""
    page = _new_page(SearchPage)
    _set(page, "__dict__", values)
    _set(page, "__pydantic_fields_set__", set(values))
    _set(page, "__pydantic_extra__", None)
    _set(page, "__pydantic_private__", {"_docs": docs})
    return page


_new_result = SearchResult.__new__
_new_page = SearchPage.__new__
_set = object.__setattr__
#: Setters of a model's four slots, called directly: a third less than ``_set`` by name.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
#: ``SearchResult``'s fields in their declared order (the order they are dumped in).
_FIELDS = tuple(SearchResult.model_fields)
#: The set fields of every result made by ``_construct``: one set shared by all of them
#: (a copy each was a tenth of rendering a result). Pydantic only ever adds a field's
#: name to it (on assignment), which every field's already is, and copies it for
#: ``model_copy``; nothing in the engine changes it.
_FIELD_SET = set(_FIELDS)
#: Every result field, as a space entity's result leaves it (``_row`` fills them in).
_BLANK: dict[str, Any] = {name: None for name in _FIELDS} | {"excerpt": "", "labels": ()}

#: How many rendered result rows a snapshot keeps (``_row``); a row is a few hundred
#: bytes plus its body text (at most a few kB), so a full cache stays around 10 MB.
ROW_CACHE = 4096


#: One cached result row: all of its result fields in declared order, as a search that
#: neither marks nor scores shows them (its title unmarked, no excerpt, no score, labels
#: as a tuple), its title, body text and decoded stored item.
_Row = tuple[dict[str, Any], str, str, dict[str, Any]]


def _row(snap: Snapshot, docnum: int) -> _Row:
    """What a result shows of one document, except what depends on the query (title
    marks, excerpt, score): its fields, its title, its body text, and the decoded stored
    item (``SearchPage.stored_docs``; shared by every search of the snapshot, so read-only).

    Reading a stored document (decompress, unpickle, parse JSON, format two dates, look
    up a comment's container) was most of a selective query's time; the rows of the
    documents last shown are kept per snapshot, so they change with every commit."""
    rows: dict[int, _Row] = snap.cache.setdefault("rows", {})
    row = rows.get(docnum)
    if row is not None:
        return row
    stored = snap.stored(docnum)
    doc = load_doc(stored)
    if "key" in doc:  # a space entity
        row = (_BLANK | {"id": stored["id"], "entityType": "space", "type": "space",
                         "status": doc["status"], "title": doc["name"], "space": doc["key"],
                         "url": url_of("space", doc)},
               doc["name"], doc.get("description", ""), doc)
    else:
        container = doc.get("container_id")
        where = snap.docnum_of(container) if container else None
        if where is not None:
            doc["container_type"] = load_doc(snap.stored(where))["type"]
        fields = {"id": doc["id"], "entityType": "content", "type": doc["type"],
                  "status": doc["status"], "title": doc["title"], "space": doc["space"],
                  "url": url_of("content", doc),
                  "lastModified": cloud_time(doc["lastmodified"]),
                  "created": cloud_time(doc["created"]), "creator": doc["creator"],
                  "parentId": doc.get("parent_id"), "containerId": container,
                  "fileName": doc.get("file_name"), "labels": tuple(doc.get("labels", ()))}
        row = (_BLANK | fields, doc["title"], str(doc.get("text", "")), doc)
    if len(rows) >= ROW_CACHE:
        rows.pop(next(iter(rows)))
    rows[docnum] = row
    return row


def _id_key(snap: Snapshot) -> Callable[[int], tuple[int, int, str]]:
    """Content by numeric id, then space entities by key."""
    nums = snap.column("num")
    ids = snap.ids
    spaces = docsets.as_bytes(snap.term("entity", "space"), snap.size)

    def key(d: int) -> tuple[int, int, str]:
        if spaces[d >> 3] >> (d & 7) & 1:
            return (1, 0, (ids[d] or "").lower())
        return (0, nums[d], "")

    return key


def _ranks(snap: Snapshot, field: str) -> list[int]:
    """Dense ranks of one sort field over every document of the snapshot."""
    key = ("ranks", field)
    ranks = snap.cache.get(key)
    if ranks is None and snap.derived is not None:
        ranks = snap.derived.array(f"ranks:{field}")
        if ranks is not None:
            snap.cache[key] = ranks
    if ranks is None:
        if field == "id":
            values: list[Any] = [_id_key(snap)(d) for d in range(snap.size)]
        elif field in ("created", "lastmodified"):
            col = snap.column(field)
            spaces = docsets.as_bytes(snap.term("entity", "space"), snap.size)
            low = -(2**63)  # space entities have no dates: first ascending, last descending
            values = [low if spaces[d >> 3] >> (d & 7) & 1 else col[d]
                      for d in range(snap.size)]
        else:
            values = list(snap.column({"title": "title_sort"}.get(field, field)))
        ranks = snap.cache[key] = dense_ranks(values)
    return ranks  # type: ignore[no-any-return]


def _ordering(snap: Snapshot, keys: tuple[tuple[str, bool], ...]) -> Ordering:
    """The snapshot's ordering by ``keys`` (field, descending), then id: built once."""
    cache_key = ("ordering", keys)
    ordering = snap.cache.get(cache_key)
    if ordering is None and snap.derived is not None:
        name = _ordering_name(keys)
        order, rank = snap.derived.array(f"{name}:order"), snap.derived.array(f"{name}:rank")
        if order is not None and rank is not None:
            ordering = snap.cache[cache_key] = Ordering(order, snap.size, rank)
    if ordering is None:
        ordering = snap.cache[cache_key] = _build_ordering(snap, keys)
    return ordering  # type: ignore[no-any-return]


def _build_ordering(snap: Snapshot, keys: tuple[tuple[str, bool], ...]) -> Ordering:
    """The ordering by ``keys`` then id, from the stored ordering of its last key when
    there is one: that ordering is already by (last key, id), so what is left is one
    stable sort per earlier key (``ORDER BY space DESC, title`` is one sort of the title
    ordering by space instead of three sorts of every document)."""
    if len(keys) > 1 and keys[-1:] in STORED_ORDERS:
        docs = list(_ordering(snap, keys[-1:]).order)
        for field, descending in reversed(keys[:-1]):
            docs.sort(key=_ranks(snap, field).__getitem__, reverse=descending)
        return Ordering(docs, snap.size)
    id_ranks = _ranks(snap, "id")
    return build_ordering(snap.size, [(_ranks(snap, f), desc) for f, desc in keys],
                          id_ranks.__getitem__)


def _ordering_name(keys: tuple[tuple[str, bool], ...]) -> str:
    return "ordering:" + ",".join(f"{f}{' desc' if d else ''}" for f, d in keys)


#: The sort keys of CQL (``ORDER BY``), whose ranks a build stores.
SORT_FIELDS = ("created", "id", "lastmodified", "space", "title", "type")
#: The order of results without ORDER BY and without text, which a build stores.
DEFAULT_ORDER = (("lastmodified", True),)
#: The orderings a build stores (order and rank, 8 bytes a document each) so that the
#: first query of a process sorted by one of them does not build it (two sorts of every
#: document, 0.1 s at 100,000 documents): the default, Confluence's usual sorts (title,
#: newest and oldest created, oldest modified) and newest id. Every other single key is
#: built on first use; a key list ending in one of these starts from it.
STORED_ORDERS: tuple[tuple[tuple[str, bool], ...], ...] = (
    DEFAULT_ORDER, (("title", False),), (("created", True),), (("created", False),),
    (("lastmodified", False),), (("id", True),))
#: Exact fields with few values, every value of which a build stores as a document set.
FEW_VALUED = ("entity", "status", "type", "space", "restricted")


def _write_derived(index_dir: Path) -> None:
    """Store what opening would otherwise rebuild (``index.core.derived``): the ranks of
    every sort key, the default ordering, the columns they come from, the text fields'
    lengths, every set of the few-valued fields, and what the permission masks start
    from (``permissions.derived_arrays``, so this follows ``permissions`` as it is)."""
    # The build's own staging directory, just written: trusted, checked when opened.
    engine = Engine(index_dir, verify=False, allow_untrusted=True)
    _store_derived(engine, engine.store.snapshot())
    engine.store.close()


def _refresh_derived(engine: Engine, state: _Loaded, before: Snapshot) -> None:
    """After a commit, under the writer lock: the derived file of the new commit, so that
    the next open (any process) starts from it as after a build. The structures are
    carried over from ``before`` (the snapshot the write started from, whose derived
    file it loaded before committing) when the write kept Whoosh's big segments, else
    computed again; either way on this engine's snapshot of the new commit, which its
    next query uses. A crash before the file is written leaves none (or one of another
    commit): ignored, as before."""
    snap = state.store.snapshot()
    if not _carry_derived(engine, before, snap):
        _store_derived(engine, snap)
        snap.reload_derived()
    manifest.record(engine.index_dir / WHOOSH_DIR)


#: The maps of ``permissions.derived_arrays`` a write carries over: (the field whose
#: postings they are, the map's name, the gate sets its roots are).
_GATE_MAPS = (("ancestor", "subtrees", ("restricted",)),
              ("container", "held", ("drafts", "trashed")))
_GATE_FIELDS = ("ancestor", "container")
#: A write whose new segments hold more documents than this (a merge of Whoosh's small
#: segments grown large) computes the derived file again instead of carrying it over.
CARRY_MAX_FRESH = 2_000


def _carry_derived(engine: Engine, before: Snapshot, snap: Snapshot) -> bool:
    """Write the derived file of ``snap`` from that of ``before`` (``index.core.carry``):
    kept segments' parts copied, the fresh segments' documents read from Whoosh. False
    (nothing written) when ``before`` has no complete derived file or the write merged
    or added too much."""
    from index.security.permissions import (
        GATES_FORMAT,
        carried_contributions,
        derived_arrays,
        pack_contributions,
    )

    old = before.derived
    plan = Plan(before.segments, snap.segments)
    order_names = [_ordering_name(keys) for keys in STORED_ORDERS]
    names = [*(f"ranks:{f}" for f in SORT_FIELDS),
             *(f"{n}:{part}" for n in order_names for part in ("order", "rank")),
             *(f"column:{f}" for f in ("num", "created", "lastmodified")),
             *(f"lengths:{f}" for f in TEXT_FIELDS), links.PARENT_ARRAY]
    if old is None or not plan.kept or len(plan.fresh_docs) > CARRY_MAX_FRESH:
        return False
    stored = {n: a for n in names if (a := old.array(n)) is not None and len(a) == before.size}
    if len(stored) < len(names) or not set(FEW_VALUED) <= old.complete:
        return False
    arrays: dict[str, Any] = {}
    for field in ("num", "created", "lastmodified"):
        arrays[f"column:{field}"] = plan.splice(
            stored[f"column:{field}"], snap.column_part(field, plan.fresh), "q")
    for field in TEXT_FIELDS:
        arrays[f"lengths:{field}"] = plan.splice(
            stored[f"lengths:{field}"], snap.field_lengths_part(field, plan.fresh), "i")
    arrays.update(relevance.derived_arrays(
        {field: arrays[f"lengths:{field}"] for field in TEXT_FIELDS}, snap.size))
    # Sets: each kept segment's members moved, the fresh segments' postings added, then
    # what the write deleted taken out.
    live, live_bytes = snap.live, snap.live_bytes
    died = set(docsets.members(plan.moved_set(before.live) & ~live))
    # Dense sets stay bitmaps; sparse ones stay member arrays (as stored: no conversion).
    terms: dict[tuple[str, str], Any] = {}
    for field, value in old.keys():
        if field in FEW_VALUED:
            found = old.stored(field, value)
            terms[(field, value)] = (plan.moved_ids(found) if isinstance(found, array)
                                     else plan.moved_set(found or docsets.EMPTY))
    # What hangs below each gated root (``permissions.derived_arrays``' maps, every root
    # with something below it) as that root id's postings, which the permission layer
    # then reads for this commit; roots with nothing below them get an empty array.
    for field, name, of in _GATE_MAPS:
        part = [old.array(f"{GATES_FORMAT}:{name}:{p}") for p in ("roots", "offsets", "members")]
        bits = [old.array(f"{GATES_FORMAT}:{s}") for s in of]
        roots, offsets, held = part
        if roots is None or offsets is None or held is None or None in bits:
            continue
        below = {r: held[offsets[i]:offsets[i + 1]] for i, r in enumerate(roots)}
        every = docsets.EMPTY
        for raw in bits:
            every |= int.from_bytes(raw, "little") if raw is not None else docsets.EMPTY
        for root in docsets.members(every):
            root_id = before.ids[root]
            if root_id is not None:
                terms[(field, root_id)] = plan.moved_ids(below.get(root, array("I")))
    for field in (*FEW_VALUED, *_GATE_FIELDS):
        for value, docs in snap.term_postings(field, plan.fresh):
            had = terms.get((field, value))
            if isinstance(had, array):
                terms[(field, value)] = sorted({*had, *docs})
            elif had is not None or field in FEW_VALUED:  # (gate sets: only those kept)
                terms[(field, value)] = (had or docsets.EMPTY) | docsets.from_ids(
                    docs, snap.size)
    for key, members in list(terms.items()):
        if isinstance(members, int):
            members &= live
        elif not isinstance(members, array) or not died.isdisjoint(members):
            members = array("I", [d for d in members if live_bytes[d >> 3] >> (d & 7) & 1])
        if members or key[0] in _GATE_FIELDS:
            terms[key] = members
        else:
            del terms[key]
    snap.adopt(derived.Carried(snap.size, arrays, terms, complete=FEW_VALUED))
    # Ranks: a fresh document that replaced one of the same value takes that one's rank.
    previous = {}
    for d in plan.fresh_docs:
        found = before.docnum_of(snap.ids[d] or "")
        if found is not None:
            previous[d] = found
    for field in SORT_FIELDS:
        read, read_old = _rank_value(snap, field), _rank_value(before, field)
        old_ranks = stored[f"ranks:{field}"]
        known = {d: old_ranks[p] for d, p in previous.items() if read(d) == read_old(p)}
        arrays[f"ranks:{field}"] = patch_ranks(old_ranks, plan, read, known)
    for keys, name in zip(STORED_ORDERS, order_names, strict=True):
        arrays[f"{name}:order"], arrays[f"{name}:rank"] = patch_ordering(
            stored[f"{name}:order"], stored[f"{name}:rank"], plan, _order_key(arrays, keys))
    arrays.update(links.Children(links.carry_parents(stored[links.PARENT_ARRAY], plan,
                                                     before, snap)).arrays())
    # Each account's drafts, carried (read from Whoosh's postings otherwise); then the
    # gates from the postings carried (and any the write made necessary), and the spaces
    # open to all: as a build stores them.
    carried = carried_contributions(old, plan, snap)
    if carried is not None:
        arrays.update(pack_contributions(carried))
    arrays.update(derived_arrays(snap, engine.permissions))
    derived.write(engine.index_dir / WHOOSH_DIR, snap.reader, arrays,
                  {key: docs for key, docs in terms.items() if key[0] in FEW_VALUED},
                  complete=FEW_VALUED)
    return True


def _order_key(arrays: Mapping[str, Any], keys: tuple[tuple[str, bool], ...]
               ) -> Callable[[int], tuple[int, ...]]:
    """A document's place in the ordering by ``keys`` then id, from the ranks in
    ``arrays`` (descending keys negated), for ``patch_ordering``."""
    signs = [(arrays[f"ranks:{field}"], -1 if descending else 1)
             for field, descending in keys]
    ids = arrays["ranks:id"]
    return lambda d: (*(sign * ranks[d] for ranks, sign in signs), ids[d])


def _rank_value(snap: Snapshot, field: str) -> Callable[[int], Any]:
    """The value ``_ranks`` ranks a live document of ``snap`` by, one document at a time,
    read alike for a deleted one (a space entity is one with number 0: content ids start
    at 1), so that carried ranks compare with it."""
    nums = snap.column("num")
    if field == "id":
        def key(d: int) -> Any:
            num = nums[d]
            return (0, num, "") if num else (1, 0, str(snap.stored(d).get("id")).lower())
        return key
    if field in ("created", "lastmodified"):
        col = snap.column(field)
        low = -(2**63)  # as in ``_ranks``: space entities have no dates
        return lambda d: col[d] if nums[d] else low
    column = {"title": "title_sort"}.get(field, field)
    return lambda d: snap.value(column, d)


def _store_derived(engine: Engine, snap: Snapshot) -> None:
    from index.security.permissions import derived_arrays

    arrays: dict[str, Any] = derived_arrays(snap, engine.permissions)
    for field in SORT_FIELDS:
        arrays[f"ranks:{field}"] = array("i", _ranks(snap, field))
    for keys in STORED_ORDERS:
        ordering = _ordering(snap, keys)
        arrays[f"{_ordering_name(keys)}:order"] = ordering.order
        arrays[f"{_ordering_name(keys)}:rank"] = ordering.rank
    for field in ("num", "created", "lastmodified"):
        arrays[f"column:{field}"] = array("q", snap.column(field))
    arrays.update(links.children(snap).arrays())
    for field in TEXT_FIELDS:  # relevance's field lengths (read per document from Whoosh)
        arrays[f"lengths:{field}"] = snap.field_lengths(field)
    arrays.update(relevance.derived_arrays(
        {field: arrays[f"lengths:{field}"] for field in TEXT_FIELDS}, snap.size))
    terms = {(f, v): snap.term(f, v) for f in FEW_VALUED for v in snap.lexicon(f)}
    derived.write(engine.index_dir / WHOOSH_DIR, snap.reader, arrays, terms,
                  complete=FEW_VALUED)


#: Below this size of content.jsonl (about 2,000 items of a typical export) one process
#: loads and indexes everything: forking costs more than it saves.
PARALLEL_BUILD_MIN_BYTES = 4 << 20
#: Environment variable overriding ``PARALLEL_BUILD_MIN_BYTES`` (a size in bytes): tests
#: send small sites down the split path, whose forked workers they kill.
SPLIT_BUILD_ENV = "CQL_SPLIT_BUILD_BYTES"


def _split_threshold() -> int:
    raw = os.environ.get(SPLIT_BUILD_ENV, "").strip()
    if not raw:
        return PARALLEL_BUILD_MIN_BYTES
    if not raw.isdigit():
        raise EngineError("usage", f"{SPLIT_BUILD_ENV} must be a size in bytes (digits), "
                                   f"not {raw!r}")
    return int(raw)


def _document_parts(site: Site) -> list[Callable[[], Iterable[dict[str, Any]]]]:
    """A small site's documents, in one part indexed in this process."""
    items = list(site.content.values())
    spaces = list(site.spaces.values())
    return [lambda: [*map(space_document, spaces), *map(content_document, items)]]


def _split_parts(split: SplitSite) -> list[Callable[[], Iterable[dict[str, Any]]]]:
    """One part per spill file, spaces first: each indexing worker makes the documents of
    the items its loading process parsed, read back from that process's spill file, so
    docnums follow the file order as in a small build."""
    spaces = list(split.site.spaces.values())

    def documents(n: int) -> Iterable[dict[str, Any]]:
        if n == 0:
            yield from map(space_document, spaces)
        yield from map(content_document, spilled_items(split.spills[n], split.ancestors))

    return [functools.partial(documents, n) for n in range(len(split.spills))]


def _counting(progress: Callable[[int, int], None] | None, total: int
              ) -> Callable[[int], None] | None:
    if progress is None:
        return None
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done = min(total, done + n)
        progress(done, total)

    return step


def _write_catalog(path: Path, spaces: Iterable[Space], users: Iterable[User],
                   groups: Iterable[Group], rejected_accounts: Iterable[str],
                   extras: Mapping[str, Any]) -> None:
    (path / CATALOG_FILE).write_bytes(
        catalogue.dumps(spaces, users, groups, rejected_accounts, extras))
