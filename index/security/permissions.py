"""Who may see what: Confluence's view permissions (docs/permissions.md).

Two layers, like the policy module:

- **Decisions** (pure, per fact): which account a caller's permissions come from
  (``SitePermissions.viewer_for``), whether that viewer may view or administer a space, and
  whether it satisfies an item's read restriction. The reference evaluator implements the
  same model separately, item by item, and the differential tests compare the two.
- **The mask** (``PermissionMask``): those decisions turned into one document set over an
  index snapshot, the content the caller may view. The compiler intersects it with the
  search's universe *before* the query runs, like the policy mask, so no query shape, count,
  cursor, excerpt or relevance statistic can reach past it.

The mask is set algebra, not a walk over items: a viewer's set is (documents of the spaces it
may view) minus what every *gate* it fails closes. A gate is an item that closes itself and
what hangs below it to some callers: a read restriction (its users and groups) closes its
whole subtree; a draft (its contributors) or a trashed item (the space's administrators)
closes itself and its comments and attachments. Per snapshot the gated roots are three index
terms, and what hangs below a root is one ``ancestor`` or ``container`` term; per viewer the
failed roots are a few term lookups, so a new viewer costs a handful of big-integer
operations. Masks are cached per viewer on the snapshot, so a content change (an
upsert that adds a restriction) is seen by the next search, which gets a new snapshot.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any, Literal

from pydantic import BaseModel

from index.core import docsets, lru
from index.core.carry import Plan
from index.core.docsets import DocSet
from index.errors import EngineError
from index.security.callers import AnonymousCaller, AppCaller, UserCaller
from index.site.catalogue import Catalogue
from index.site.models import Grantees, Group, Space, User

ViewerKind = Literal["user", "guest", "app", "anonymous"]
#: How many viewers' masks one snapshot keeps, the most recently used (one bit per
#: document each: about 12 KB at 100,000 documents, so 25 MB when full).
MASK_CACHE = 2048


@dataclass(frozen=True, slots=True)
class Viewer:
    """The principal whose permissions apply to a search (never the operator).

    ``account_id`` is None only for anonymous callers. ``licensed`` accounts (people and
    apps' own accounts) count for ``all_licensed_users``; guests and anonymous do not.
    """

    kind: ViewerKind
    account_id: str | None
    groups: frozenset[str] = frozenset()
    guest_space: str | None = None

    @property
    def licensed(self) -> bool:
        return self.kind in ("user", "app")


ANONYMOUS = Viewer("anonymous", None)


class SitePermissions:
    """The permission facts of one site: spaces' grants, accounts and groups."""

    def __init__(self, spaces: Mapping[str, Space], users: Mapping[str, User],
                 groups: Mapping[str, Group], *, anonymous_access: bool = False,
                 rejected_accounts: Iterable[str] = ()) -> None:
        self.spaces = spaces
        self.users = users
        self.anonymous_access = anonymous_access
        self.rejected_accounts = frozenset(rejected_accounts)
        self._all_groups = groups
        #: Each account's groups, found when it is first asked for: inverting every
        #: group's members at once cost more than the rest of opening a site's permissions.
        self._groups: dict[str, frozenset[str]] = {}
        #: Names these facts in cache keys: masks computed for other facts never apply.
        self.token = _token(spaces, groups, anonymous_access)

    # --- who is looking ----------------------------------------------------------------

    def viewer_for(self, caller: UserCaller | AppCaller | AnonymousCaller) -> Viewer:
        """The principal of ``caller``: the user; the user an app acts for; an app's own
        account when it acts as itself; or anonymous. Raises for an account that may not
        sign in (deactivated, or its users.jsonl line was rejected)."""
        if isinstance(caller, AnonymousCaller):
            return ANONYMOUS
        if isinstance(caller, UserCaller):
            return self.account(caller.account_id)
        if caller.acting_for is not None:
            return self.account(caller.acting_for)
        return self.account(caller.app_id, default_kind="app")

    def account(self, account_id: str, default_kind: ViewerKind = "user") -> Viewer:
        """An account's principal. Accounts missing from users.jsonl are licensed accounts
        without groups (``default_kind``), so sites without user data keep working."""
        if account_id in self.rejected_accounts:
            raise EngineError("permission", f"account {account_id!r} cannot search: its "
                              "users.jsonl line was rejected")
        user = self.users.get(account_id)
        if user is not None and not user.active:
            raise EngineError("permission", f"account {account_id!r} is deactivated")
        kind: ViewerKind = user.kind if user is not None else default_kind
        return Viewer(kind, account_id, self.groups_of(account_id),
                      user.guest_space if user is not None else None)

    def groups_of(self, account_id: str) -> frozenset[str]:
        found = self._groups.get(account_id)
        if found is None:
            found = self._groups[account_id] = frozenset(
                group.name for group in self._all_groups.values()
                if account_id in group.members)
        return found

    # --- decisions -----------------------------------------------------------------------

    def can_view_space(self, viewer: Viewer, space: Space) -> bool:
        """Space view permission. A guest sees its one space and nothing else, whatever other
        grants say; anonymous needs the site switch and the space's anonymous grant; a
        signed-in account sees what anonymous may, plus its own grants."""
        if viewer.kind == "guest":
            return space.key == viewer.guest_space
        perms = space.permissions
        if perms is None:
            return viewer.licensed
        grant = perms.view
        if grant.anonymous and self.anonymous_access:
            return True
        if viewer.kind == "anonymous":
            return False
        return (grant.all_licensed_users and viewer.licensed) or _names(grant, viewer)

    def can_administer_space(self, viewer: Viewer, space: Space) -> bool:
        """Space administrators (they alone see the space's trash). Guests and anonymous
        never administer; a space without ``permissions`` names no administrator."""
        if not viewer.licensed or space.permissions is None:
            return False
        return _names(space.permissions.administer, viewer)

    @staticmethod
    def satisfies(viewer: Viewer, restriction: Grantees | None) -> bool:
        """A read restriction lets through the accounts and group members it names;
        absent or empty means unrestricted. Site admins get no exception."""
        if restriction is None or restriction.empty:
            return True
        return _names(restriction, viewer)

    @staticmethod
    def may_search_users(viewer: Viewer | None) -> bool:
        """User search (``/search/user``) is closed to guests and anonymous callers."""
        return viewer is None or viewer.licensed

    # --- the mask ------------------------------------------------------------------------

    def mask(self, caller: UserCaller | AppCaller | AnonymousCaller) -> PermissionMask:
        return PermissionMask(self, self.viewer_for(caller))


def _token(spaces: Mapping[str, Space], groups: Mapping[str, Group], anonymous: bool) -> str:
    """A digest of every fact a mask depends on beyond the viewer: each space's
    permissions, each group, the anonymous-access switch. The models are read field by
    field from their classes' lists of fields, so a field added to a permission model
    later changes the token with it (a token blind to it would keep a stale mask after
    that field changed). Not pydantic's ``model_dump``: it builds the models' serialisers
    first, which cost more than the rest of opening an index. The same facts in another
    order may give another token, which costs a cache miss, never a wrong mask."""
    facts = [anonymous,
             [[key, _plain(space.permissions)] for key, space in spaces.items()],
             [_plain(group) for group in groups.values()]]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready lists: a model as its fields' values in the class's order."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list or kind is tuple:
        if _SCALARS.issuperset(map(type, value)):  # names: as they are, read in C
            return value
        values = value
    elif kind is set or kind is frozenset:  # in an order that does not vary by process
        return sorted(map(_plain, value), key=repr)
    else:
        fields = _FIELDS.get(kind)
        if fields is None:
            fields = _FIELDS[kind] = _fields_of(kind)
        values = fields(value)
    scalars = _SCALARS
    return [v if type(v) in scalars else _plain(v) for v in values]


def _fields_of(kind: type) -> Callable[[Any], tuple[Any, ...]]:
    """What reads a model's fields, in the class's order, as one tuple (C, not a loop)."""
    if not issubclass(kind, BaseModel):
        raise TypeError(f"no plain form for a {kind.__name__}")
    names = tuple(kind.model_fields)
    if len(names) == 1:
        return lambda model: (getattr(model, names[0]),)
    return attrgetter(*names)


_SCALARS = frozenset({str, bool, int, float, type(None)})
#: What reads each model class's fields, by class: asking pydantic for them on every model
#: cost more than the rest of the token.
_FIELDS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _names(grant: Grantees, viewer: Viewer) -> bool:
    if viewer.account_id is None:
        return False
    return viewer.account_id in grant.users or not viewer.groups.isdisjoint(grant.groups)


@dataclass(frozen=True)
class PermissionMask:
    """A viewer's permission mask over a snapshot; ``key`` names it in compiler caches."""

    rules: SitePermissions
    viewer: Viewer

    @property
    def key(self) -> tuple[str, str, Viewer]:
        return ("permissions", self.rules.token, self.viewer)

    def may_view_space(self, space: Space) -> bool:
        return self.rules.can_view_space(self.viewer, space)

    def may_search_users(self) -> bool:
        return self.rules.may_search_users(self.viewer)

    def permitted(self, snap: Any) -> DocSet:
        """Every document (content and space entities, any status) this viewer may view."""
        cache = lru.on(snap, "permission_masks", MASK_CACHE)
        found: DocSet | None = cache.get(self.key)
        if found is None:
            found = cache.put(self.key, _permitted(snap, self.rules, self.viewer))
        return found


@dataclass(frozen=True)
class _Gates:
    """Per snapshot: the gated roots, and what hangs below them.

    A read restriction closes the item's whole subtree (tree children, comments and
    attachments, at any depth); a draft or a trashed item closes itself and the comments
    and attachments it holds (``held``), not its tree children.

    A viewer typically fails most gates and passes a few, so the sets are laid out for
    subtracting what it passes from what all gates close together, not for adding up what
    it fails: a document below exactly one restricted root (``single``) is hidden unless
    that root lets the viewer through; one below several (``nested``, rare) unless all do,
    found by adding up the failed roots that have such documents below them (``touching``).
    A held document has exactly one container, so what the drafts a viewer did not
    contribute to hold is what all drafts hold minus what its own drafts hold (trash alike).
    """

    restricted: DocSet
    drafts: DocSet
    trashed: DocSet
    subtrees: dict[int, array[int]]
    with_subtree: DocSet
    single: DocSet
    nested: DocSet
    touching: DocSet
    held: dict[int, array[int]]
    with_held: DocSet
    held_by_drafts: DocSet
    held_by_trash: DocSet


def _below(snap: Any, roots: DocSet, field: str) -> dict[int, array[int]]:
    """For each root that has anything below it in ``field`` (``ancestor``/``container``),
    those documents, ascending: one term lookup per root (gated roots are a few percent of
    the site; reading the field's whole lexicon instead costs more than the lookups at
    every size measured). Arrays, not ``DocSet`` integers: memory follows the members,
    where an integer per root would grow with roots times the index's size."""
    ids = snap.ids
    found = {d: snap.term_ids(field, ids[d]) for d in docsets.members(roots)}
    return {d: s for d, s in found.items() if s}


def _union(size: int, sets: Iterable[array[int]]) -> DocSet:
    """The union of member arrays as one ``DocSet``, made once."""
    return docsets.from_ids(list(chain.from_iterable(sets)), size)


#: Names the stored form of the gates and space sets (``derived_arrays``): a derived file
#: written by a program for which they meant something else has other names, and is not
#: read for them.
GATES_FORMAT = "gates.v1"
SPACES_FORMAT = "spaces.v1"
#: ``_Gates``' document sets and maps (``_Gates(**...)`` fails if one is left out).
_GATE_SETS = ("restricted", "drafts", "trashed", "with_subtree", "single", "nested",
              "touching", "with_held", "held_by_drafts", "held_by_trash")
_GATE_MAPS = ("subtrees", "held")
_MAP_PARTS = ("roots", "offsets", "members")
_SPACE_KINDS = ("licensed", "anonymous")


def derived_arrays(snap: Any, rules: SitePermissions) -> dict[str, array[int]]:
    """What a process's first search would otherwise compute for the masks of ``snap``,
    as arrays for its derived file (``index.core.derived``, which names the commit they
    hold for). Looking up thousands of ``ancestor`` and ``container`` sets one by one,
    the unions of what they hold, and the union of every space open to all licensed
    users were most of a first search.

    - The gates (``_Gates``): each document set as a bitmap; for each map, the roots
      ascending, and the members below ``roots[i]`` at
      ``members[offsets[i]:offsets[i + 1]]``.
    - Each account's drafts (``contributions``): the accounts as a JSON list, ascending,
      and their drafts as a map's offsets and members.
    - The documents of the spaces open to every licensed user and to anonymous, as
      bitmaps, named with the permission facts' token: a catalogue change that leaves
      the commit as it was (a catalogue written by another program) changes the token,
      and they are not read.
    """
    gates = _gates(snap)
    out: dict[str, array[int]] = {}
    for name in _GATE_SETS:
        out[f"{GATES_FORMAT}:{name}"] = _bitmap(getattr(gates, name), snap.size)
    for name in _GATE_MAPS:
        below = getattr(gates, name)
        roots = array("I", sorted(below))
        offsets = array("I", [0])
        members = array("I")
        for root in roots:
            members.extend(below[root])
            offsets.append(len(members))
        for part, values in zip(_MAP_PARTS, (roots, offsets, members), strict=True):
            out[f"{GATES_FORMAT}:{name}:{part}"] = values
    out.update(pack_contributions(contributions(snap)))
    sets = _space_sets(snap, rules)
    for kind in _SPACE_KINDS:
        out[f"{SPACES_FORMAT}:{rules.token}:{kind}"] = _bitmap(getattr(sets, kind), snap.size)
    return out


def _bitmap(docs: DocSet, size: int) -> array[int]:
    return array("B", docsets.as_bytes(docs, size))


def _stored_gates(snap: Any) -> _Gates | None:
    """``derived_arrays``' gates, as the derived file of this commit stores them, or
    None."""
    found = snap.derived
    if found is None:
        return None
    made: dict[str, Any] = {}
    for name in _GATE_SETS:
        bits = found.array(f"{GATES_FORMAT}:{name}")
        if bits is None:
            return None
        made[name] = int.from_bytes(bits, "little")
    for name in _GATE_MAPS:
        roots, offsets, members = (found.array(f"{GATES_FORMAT}:{name}:{part}")
                                   for part in _MAP_PARTS)
        if roots is None or offsets is None or members is None:
            return None
        made[name] = {root: members[offsets[n]:offsets[n + 1]] for n, root in enumerate(roots)}
    return _Gates(**made)


def _computed_gates(snap: Any) -> _Gates:
    """The gates of ``snap``, from its index terms."""
    size = snap.size
    content = snap.term("entity", "content")
    restricted = snap.term("restricted", "1") & content
    drafts = snap.term("status", "draft") & content
    trashed = snap.term("status", "trashed") & content
    subtrees = _below(snap, restricted, "ancestor")
    below = _union(size, subtrees.values())
    nested = _union(size, (subtrees.get(r, array("I"))
                           for r in docsets.members(restricted & below)))
    raw = docsets.as_bytes(nested, size)
    touching = docsets.from_ids([r for r, s in subtrees.items()
                                 if any(raw[d >> 3] >> (d & 7) & 1 for d in s)], size)
    held = _below(snap, drafts | trashed, "container")
    return _Gates(
        restricted, drafts, trashed, subtrees, docsets.from_ids(subtrees, size),
        below & ~nested, nested, touching, held, docsets.from_ids(held, size),
        _union(size, (s for d, s in held.items() if drafts >> d & 1)),
        _union(size, (s for d, s in held.items() if trashed >> d & 1)))


def _gates(snap: Any) -> _Gates:
    found = snap.cache.get("permission_gates")
    if found is None:
        found = snap.cache["permission_gates"] = _stored_gates(snap) or _computed_gates(snap)
    return found  # type: ignore[no-any-return]


#: Names the stored form of ``contributions`` (``derived_arrays``).
CONTRIBUTED = f"{GATES_FORMAT}:contributed"


def contributions(snap: Any) -> dict[str, array[int]]:
    """Each account that contributed to a draft, with those drafts (live, ascending): the
    drafts a viewer sees as its own (``own_drafts``)."""
    found = snap.cache.get(CONTRIBUTED)
    if found is None:
        found = snap.cache[CONTRIBUTED] = (_stored_contributions(snap.derived)
                                           or computed_contributions(snap))
    return found  # type: ignore[no-any-return]


def own_drafts(snap: Any, drafts: DocSet, account: str) -> DocSet:
    """The ``drafts`` ``account`` contributed to: from the derived file's ``contributions``
    when it holds them. Looking up the account's whole ``contributor`` term instead cost
    5.5 ms of a first search at 100,000 items for a user who contributed to 13,000
    documents (ten times as many at a million), for the few drafts among them; it is
    still what a snapshot without them does (computing every account's drafts would
    read every ``contributor`` posting: seconds at a million items)."""
    found = snap.cache.get(CONTRIBUTED)
    if found is None:
        found = _stored_contributions(snap.derived)
        if found is None:
            return drafts & snap.term("contributor", account)  # type: ignore[no-any-return]
        snap.cache[CONTRIBUTED] = found
    return docsets.from_ids(found.get(account, ()), snap.size)


def computed_contributions(snap: Any, only: Collection[int] | None = None
                           ) -> dict[str, array[int]]:
    """``contributions`` from the ``contributor`` postings (of the segments at positions
    ``only``, when given: what a write added)."""
    drafts = docsets.as_bytes(_gates(snap).drafts, snap.size)
    found: dict[str, list[int]] = {}
    for account, docs in snap.term_postings("contributor", only):
        mine = [d for d in docs if drafts[d >> 3] >> (d & 7) & 1]
        if mine:  # (an account comes once per segment that has it)
            found.setdefault(account, []).extend(mine)
    return {account: array("I", sorted(docs)) for account, docs in found.items()}


def carried_contributions(old: Any, plan: Plan, snap: Any) -> dict[str, array[int]] | None:
    """``contributions`` of ``snap`` from the derived file ``old`` of the commit a small
    write started from (``index.core.carry``): each account's drafts moved to their new
    numbers, the new segments' added, and what is no longer a live draft taken out. None
    when ``old`` does not hold them."""
    stored = _stored_contributions(old)
    if stored is None:
        return None
    drafts = docsets.as_bytes(_gates(snap).drafts, snap.size)
    found = {account: [d for d in plan.moved_ids(docs) if drafts[d >> 3] >> (d & 7) & 1]
             for account, docs in stored.items()}
    for account, docs in computed_contributions(snap, plan.fresh).items():
        found[account] = sorted({*found.get(account, ()), *docs})
    return {account: array("I", docs) for account, docs in found.items() if docs}


def pack_contributions(found: Mapping[str, array[int]]) -> dict[str, array[int]]:
    """``contributions`` as the derived file stores them."""
    accounts = sorted(found)
    offsets, members = array("I", [0]), array("I")
    for account in accounts:
        members.extend(found[account])
        offsets.append(len(members))
    return {f"{CONTRIBUTED}:accounts": array("B", json.dumps(accounts).encode()),
            f"{CONTRIBUTED}:offsets": offsets, f"{CONTRIBUTED}:members": members}


def _stored_contributions(known: Any) -> dict[str, array[int]] | None:
    """``pack_contributions``' map read back from a derived file, or None."""
    if known is None:
        return None
    accounts, offsets, members = (known.array(f"{CONTRIBUTED}:{part}")
                                  for part in ("accounts", "offsets", "members"))
    if accounts is None or offsets is None or members is None:
        return None
    return {account: members[offsets[n]:offsets[n + 1]]
            for n, account in enumerate(json.loads(accounts.tobytes()))}


@dataclass(frozen=True)
class _SpaceSets:
    """Per snapshot and permission facts: the documents of the spaces each kind of grant
    opens, so that a viewer's spaces are a handful of unions (``SitePermissions.
    can_view_space`` in set form; the differential tests hold the two together). The
    sets of a group's or an account's grants are made when a viewer first needs them: a
    search needs its viewer's few, where making all of them was a third of a process's
    first search."""

    licensed: DocSet  # no ``permissions``, or ``all_licensed_users``
    anonymous: DocSet  # ``anonymous``, when the site allows anonymous access
    groups: dict[str, list[str]]  # the (lowercase) keys of the spaces each grant names
    users: dict[str, list[str]]
    made: dict[tuple[str, str], DocSet]

    def granted(self, snap: Any, kind: Literal["groups", "users"], name: str) -> DocSet:
        found = self.made.get((kind, name))
        if found is None:
            keys = getattr(self, kind).get(name)
            found = self.made[kind, name] = snap.terms("space", keys) if keys else 0
        return found


def _space_sets(snap: Any, rules: SitePermissions) -> _SpaceSets:
    key = ("permission_spaces", rules.token)
    found = snap.cache.get(key)
    if found is None:
        licensed: list[str] = []
        anonymous: list[str] = []
        groups: dict[str, list[str]] = {}
        users: dict[str, list[str]] = {}
        for space in rules.spaces.values():
            name = space.key.lower()
            perms = space.permissions
            if perms is None or perms.view.all_licensed_users:
                licensed.append(name)
            if perms is None:
                continue
            if perms.view.anonymous and rules.anonymous_access:
                anonymous.append(name)
            for group in perms.view.groups:
                groups.setdefault(group, []).append(name)
            for account in perms.view.users:
                users.setdefault(account, []).append(name)
        stored = _stored_space_sets(snap, rules.token)
        if stored is None:
            stored = snap.terms("space", licensed), snap.terms("space", anonymous)
        found = snap.cache[key] = _SpaceSets(stored[0], stored[1], groups, users, {})
    return found  # type: ignore[no-any-return]


def _stored_space_sets(snap: Any, token: str) -> tuple[DocSet, DocSet] | None:
    """``derived_arrays``' space sets (licensed, anonymous) for the facts of ``token``, or
    None."""
    found = snap.derived
    if found is None:
        return None
    licensed, anonymous = (found.array(f"{SPACES_FORMAT}:{token}:{kind}")
                           for kind in _SPACE_KINDS)
    if licensed is None or anonymous is None:
        return None
    return int.from_bytes(licensed, "little"), int.from_bytes(anonymous, "little")


def _viewable(snap: Any, rules: SitePermissions, viewer: Viewer) -> DocSet:
    """Documents of the spaces ``viewer`` may view (``can_view_space``)."""
    if viewer.kind == "guest":
        space = rules.spaces.get(viewer.guest_space or "")
        return snap.term("space", space.key.lower()) if space is not None else docsets.EMPTY
    sets = _space_sets(snap, rules)
    if viewer.kind == "anonymous":
        return sets.anonymous
    out = sets.licensed | sets.anonymous
    if viewer.account_id is not None:
        out |= sets.granted(snap, "users", viewer.account_id)
    for group in viewer.groups:
        out |= sets.granted(snap, "groups", group)
    return out


def _permitted(snap: Any, rules: SitePermissions, viewer: Viewer) -> DocSet:
    viewable = _viewable(snap, rules, viewer)
    if not viewable:
        return docsets.EMPTY
    gates = _gates(snap)
    account = viewer.account_id
    mine = passing = docsets.EMPTY
    if account is not None:
        mine = own_drafts(snap, gates.drafts, account)
        passing = snap.term("read_user", account) | snap.terms("read_group", viewer.groups)
    administered = [s.key.lower() for s in rules.spaces.values()
                    if rules.can_administer_space(viewer, s)]
    own_trash = gates.trashed & snap.terms("space", administered)
    refused = gates.restricted & ~passing
    hidden = (gates.drafts & ~mine) | (gates.trashed & ~own_trash) | refused
    # below restricted roots: one root, hidden unless it passes; several, unless all do
    size = snap.size
    hidden |= gates.single & ~_union(size, (gates.subtrees[d] for d in
                                            docsets.members(passing & gates.with_subtree)))
    hidden |= gates.nested & _union(size, (gates.subtrees[d] for d in
                                           docsets.members(refused & gates.touching)))
    # held by drafts and trash: all of it, minus what the viewer's own ones hold
    hidden |= gates.held_by_drafts & ~_union(size, (gates.held[d] for d in docsets.members(
        mine & gates.with_held)))
    hidden |= gates.held_by_trash & ~_union(size, (gates.held[d] for d in docsets.members(
        own_trash & gates.with_held)))
    return viewable & ~hidden


def site_permissions(catalog: Catalogue) -> SitePermissions:
    """The permissions of an index from its catalogue (spaces, users, groups, rejected
    accounts, the site's anonymous-access switch)."""
    site = catalog.extras.get("site.json") or {}
    return SitePermissions(catalog.spaces, catalog.users, catalog.groups,
                           anonymous_access=site.get("anonymous_access") is True,
                           rejected_accounts=catalog.rejected_accounts)


__all__ = ["ANONYMOUS", "PermissionMask", "SitePermissions", "Viewer", "carried_contributions",
           "computed_contributions", "contributions", "derived_arrays", "own_drafts",
           "pack_contributions",
           "site_permissions"]
