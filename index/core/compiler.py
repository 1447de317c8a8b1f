"""Compiles a normalized CQL tree into document sets over one index snapshot.

Every clause becomes a set of document numbers (cached per snapshot by the backend) and
AND / OR / NOT become integer bit operations, so a 10-clause query costs about as much
as its most expensive clause. ``NOT`` is a difference from the search's universe, which
already excludes everything the caller may not see: no query shape can reach past it.
Semantics: docs/semantics.md.

A clause with few documents (a rare label, an id, a small space, a day) is kept as
sorted ids (``docsets.Ids``) rather than an integer as wide as the index, and an AND
with it tests its few ids against the other operands' byte flags (kept per snapshot for
the sets that live as long as it: terms, unions of terms, the caller's universe). So a
selective query's set work follows its hits, not the index's size.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from itertools import chain
from typing import Any

from cql import dates, textsearch
from cql.ast import (
    And,
    Clause,
    Date,
    Expr,
    FunctionCall,
    List,
    Not,
    Number,
    Op,
    Or,
    Query,
    Scalar,
    String,
)
from cql.errors import CqlError, ErrorCode
from cql.fields import PROPERTY_PREFIX, property_parts
from index.core import docsets, links, lru, patterns
from index.core.analysis import analyze, stem, words
from index.core.backend import TEXT_FIELDS, Snapshot
from index.core.columns import SortedColumn
from index.core.context import SearchContext
from index.core.docsets import DocSet, Hits, Ids


def content_id(value: str) -> str:
    """Content ids compare as numbers: ``003`` is content 3."""
    return str(int(value)) if value.isdigit() else value


#: CQL field -> (index field, value transform) for exact-match fields.
EXACT_FIELDS: dict[str, tuple[str, Callable[[str], str]]] = {
    "id": ("id", content_id),
    "type": ("type", str.lower),
    "space": ("space", str.lower),
    "label": ("label", str.lower),
    "macro": ("macro", str.lower),
    "pageStatus": ("page_status", lambda v: title_key(v)),
    "creator": ("creator", str),
    "contributor": ("contributor", str),
    "mention": ("mention", str),
    "watcher": ("watcher", str),
    "parent": ("parent", content_id),
    "container": ("container", content_id),
    "ancestor": ("ancestor", content_id),
}
#: Exact fields whose values name *other* documents: a value counts only when the caller
#: may read the document it names (``Compiler.readable``).
LINK_FIELDS = frozenset({"parent", "container", "ancestor"})
#: Visible and readable sets one snapshot keeps, for every caller together (each is one bit
#: per document: about 12 KB at 100,000 documents, so 12 MB when full).
VISIBLE_CACHE = 1024
#: Terms whose sparse form (or the fact that they have none) one snapshot keeps: each at
#: most ``docsets.sparse_limit`` ids, 4 bytes each (at worst 64 MB at a million documents).
SPARSE_TERMS = 2048
#: Unions of several terms of one field one snapshot keeps (``space.type = global`` is
#: the union of a hundred spaces' sets: made once, not per search).
TERM_UNIONS = 256
#: Children of long-lived parent sets (a title's term) one snapshot keeps: a bit per
#: document each (125 KB at a million documents).
CHILDREN_CACHE = 64
#: Byte flags of long-lived sets one snapshot keeps: one byte per document each (1 MB at
#: a million documents).
FLAGS_CACHE = 32
#: Phrases of several words kept as ``Ids`` per snapshot (``phrase_hits``).
PHRASE_IDS = 256
FUZZY_DISTANCE = 2


def title_key(value: str) -> str:
    """How ``title =`` compares: case-insensitive, one layer of quotes stripped."""
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    return value.lower()


def epoch(moment: datetime) -> int:
    """Whole seconds since the epoch (item dates and function instants are truncated)."""
    return int(moment.timestamp() // 1)


#: True when the Levenshtein distance of two words is at most a limit (linear time).
levenshtein_within = patterns.within_distance


def _bounded(found: set[str], term: str) -> set[str]:
    """An expansion, or ``ExpansionTooLarge`` when it stands for too many words."""
    if len(found) > patterns.MAX_EXPANSION:
        raise patterns.ExpansionTooLarge(term, patterns.MAX_EXPANSION)
    return found


@dataclass
class Catalog:
    """The site facts that are not per document: spaces and users."""

    spaces: Mapping[str, Any]  # key -> Space
    users: Mapping[str, Any]  # account id -> User
    #: Answers computed from the catalogue alone (users whose names match a text), kept
    #: as long as the catalogue is.
    memo: dict[Any, Any] = field(default_factory=dict)

    @cached_property
    def archived(self) -> frozenset[str]:
        """Keys of the archived spaces (computed once per catalogue, not per search)."""
        return frozenset(k for k, s in self.spaces.items() if s.status == "archived")


@dataclass
class SearchScope:
    """Who is searching and what they may see; built by the engine from the caller."""

    account_id: str | None = None
    hidden_spaces: frozenset[str] = frozenset()  # policy mask (space keys)
    hidden_types: frozenset[str] = frozenset()  # strict scopes
    #: View permissions (``index.security.permissions.PermissionMask``); None: everything.
    permissions: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class Compiler:
    def __init__(self, snap: Snapshot, catalog: Catalog, scope: SearchScope,
                 context: SearchContext) -> None:
        self.snap = snap
        self.catalog = catalog
        self.scope = scope
        self.context = context
        #: Stems to highlight, and the (field, stem) pairs that relevance is scored on.
        self.score_tokens: list[str] = []
        self.score_terms: list[tuple[str, str]] = []
        #: While ``describe`` runs: how each clause was evaluated, in words, by clause id.
        self.notes: dict[int, str] | None = None
        #: Identities of the sets this search holds that outlive it (``lasting``).
        self._lasting: set[int] = set()
        #: The lasting sets of the top-level AND that ``select`` last cut its hits from.
        self.cut_from: list[DocSet] = []

    # --- describing the plan ----------------------------------------------------------

    def describe(self, clause: Clause) -> str:
        """How this compiler evaluates ``clause``, in words (the REPL's ``:explain``).

        The words are recorded by the very branch that evaluates the clause (``note``), so
        the description cannot drift from the evaluation. Needs ``run`` to have set the
        universe; relevance terms are left as they were."""
        saved = self.notes, list(self.score_tokens), list(self.score_terms)
        self.notes = {}
        try:
            self.clause(clause, positive=False)
            text = self.notes.get(id(clause), "(evaluated by the compiler)")
        finally:
            self.notes, self.score_tokens, self.score_terms = saved
        return f"visible documents minus: {text}" if clause.op.is_negative else text

    def note(self, clause: Clause, text: Callable[[], str]) -> None:
        """Record how ``clause`` is evaluated, only while ``describe`` asks for it."""
        if self.notes is not None:
            self.notes[id(clause)] = text()

    # --- the universe -----------------------------------------------------------------

    def visible(self, with_spaces: bool) -> DocSet:
        """What this search may return before the query: statuses, archive, policy.

        Cached on the snapshot per combination (the most recently used ``VISIBLE_CACHE``),
        so a caller's mask costs one set operation per search after its first."""
        key = ("visible", with_spaces, self.context.content_statuses,
               self.context.include_archived_spaces, self.context.exclude_current_spaces,
               self.scope.hidden_spaces,
               self.scope.hidden_types, self.permitted_key(),
               self.catalog.archived)
        cache = lru.on(self.snap, "visible", VISIBLE_CACHE)
        found = cache.get(key)
        if found is None:
            found = cache.put(key, self._visible(with_spaces))
        return found  # type: ignore[no-any-return]

    def _visible(self, with_spaces: bool) -> DocSet:
        snap = self.snap
        content = snap.term("entity", "content")
        out = content & snap.terms("status", self.context.content_statuses)
        if with_spaces:
            out |= snap.term("entity", "space")
        archived = [k.lower() for k, s in self.catalog.spaces.items()
                    if s.status == "archived"]
        if self.context.exclude_current_spaces:
            out &= snap.terms("space", archived)
        elif not self.context.include_archived_spaces:
            out &= ~snap.terms("space", archived)
        if self.scope.hidden_spaces:
            out &= ~(snap.terms("space", (k.lower() for k in self.scope.hidden_spaces))
                     & content)
        if self.scope.hidden_types:
            out &= ~snap.terms("type", self.scope.hidden_types)
        return out & self.permitted()

    def permitted(self) -> DocSet:
        """What the caller's view permissions allow, any status (the live set when none)."""
        mask = self.scope.permissions
        return self.snap.live if mask is None else mask.permitted(self.snap)  # type: ignore

    def permitted_key(self) -> Any:
        mask = self.scope.permissions
        return None if mask is None else mask.key

    def run(self, query: Query) -> DocSet:
        """The hits of ``query`` as an integer set (``select`` may give ``Ids``)."""
        return docsets.dense(self.select(query), self.snap.size)

    def select(self, query: Query) -> Hits:
        """The hits of ``query``: everything it matches that the caller may see."""
        self.universe = self.visible(_names_space_type(query.where))
        self._lasting = {id(self.universe)}
        where = query.where
        if where is None:
            return self.universe
        # A top-level AND and the universe are one intersection: one pass over the ids.
        parts = ([self.evaluate(child, True) for child in where.operands]
                 if isinstance(where, And) else [self.evaluate(where, True)])
        parts.append(self.universe)
        self.cut_from = [p for p in parts if not isinstance(p, array) and id(p) in self._lasting]
        return self.intersect(parts)

    def hit_flags(self, hits: Hits, within: DocSet) -> bytearray | None:
        """Byte flags marking exactly the ``hits`` among the documents of ``within``
        (relevance's holders of a term), when the hits are ``within`` cut by the lasting
        sets of the top-level AND (``cut_from``: the universe, a space's term...) and the
        snapshot keeps those sets' flags (``kept_flags``: made for this, they would cost
        more than they save on a search of a new shape); else None. That the hits are
        exactly that cut is checked, with an AND per set and a comparison."""
        if isinstance(hits, array) or not self.cut_from:
            return None
        kept = self.kept_flags(*self.cut_from)
        if kept is None:
            return None
        cut = within
        for part in self.cut_from:
            cut &= part
        return kept[0] if cut == hits else None

    # --- boolean structure -------------------------------------------------------------

    def expr(self, node: Expr, positive: bool) -> DocSet:
        """``node``'s documents as an integer set (what front ends read: the REPL's
        plan); the compiler itself keeps the sparse form (``evaluate``)."""
        return self.dense(self.evaluate(node, positive))

    def evaluate(self, node: Expr, positive: bool) -> Hits:
        if isinstance(node, Clause):
            return self.clause(node, positive)
        if isinstance(node, Not):
            return self.universe & ~self.dense(self.evaluate(node.operand, not positive))
        parts = [self.evaluate(child, positive) for child in node.operands]
        return self.intersect(parts) if isinstance(node, And) else self.union(parts)

    def clause(self, clause: Clause, positive: bool) -> Hits:
        op = clause.op
        negated = op in (Op.NE, Op.NOT_IN, Op.NOT_CONTAINS)
        base = {Op.NE: Op.EQ, Op.NOT_IN: Op.IN, Op.NOT_CONTAINS: Op.CONTAINS}.get(op, op)
        docs = self.positive_clause(clause, base, positive and not negated)
        return self.universe & ~self.dense(docs) if negated else docs

    # --- sparse and dense sets -----------------------------------------------------------

    def dense(self, docs: Hits) -> DocSet:
        return docsets.dense(docs, self.snap.size)

    def lasting(self, docs: DocSet) -> DocSet:
        """Mark ``docs`` as a set that outlives this search (a snapshot's term, a cached
        union): worth its byte flags (``flags_of``), which later searches reuse."""
        self._lasting.add(id(docs))
        return docs

    def flags_of(self, *lasting: DocSet) -> tuple[bytearray, int]:
        """``docsets.flags`` of the AND of lasting sets, and its size, kept per snapshot by
        the sets' identities (the cache holds the sets, so their ids cannot be other
        objects' meanwhile): a repeated query shape (the caller's universe and
        ``type = page``) tests its ids against one array."""
        found = self.kept_flags(*lasting)
        if found is None:
            lasting = tuple(sorted(lasting, key=id))
            both = _and_all(list(lasting))
            made = (lasting, docsets.flags(both, self.snap.size), both.bit_count())
            lru.on(self.snap, "flags", FLAGS_CACHE).put(tuple(map(id, lasting)), made)
            found = made[1], made[2]
        return found

    def kept_flags(self, *lasting: DocSet) -> tuple[bytearray, int] | None:
        """``flags_of`` when the snapshot keeps them already, else None (not made)."""
        lasting = tuple(sorted(lasting, key=id))
        found = lru.on(self.snap, "flags", FLAGS_CACHE).get(tuple(map(id, lasting)))
        if found is None or any(a is not b for a, b in zip(found[0], lasting, strict=True)):
            return None
        return found[1], found[2]  # type: ignore[no-any-return]

    def intersect(self, parts: list[Hits]) -> Hits:
        """AND of ``parts``. With a sparse part, its ids are filtered by the others: by
        the flags of lasting sets (a step in C per id); a set made by this search alone
        (a date range, a NOT) would cost more to flag than to AND, so the ids then
        become an integer and the rest is integer algebra."""
        sparse = [p for p in parts if isinstance(p, array)]
        if not sparse:
            return _and_all(parts)  # type: ignore[arg-type]
        out = docsets.intersect_ids(sparse)
        dense = [p for p in parts if not isinstance(p, array)]
        lasting = [p for p in dense if id(p) in self._lasting]
        if out and lasting:
            within, size = self.flags_of(*lasting)
            if len(out) * 2 > docsets.sparse_limit(self.snap.size) and size * 8 < self.snap.size:
                # Many ids, and the rest would keep few of them: integers cost less.
                return _and_all([self.dense(out), *dense])
            out = docsets.select(out, within)
        rest = [p for p in dense if id(p) not in self._lasting]
        if out and rest:
            return _and_all([self.dense(out), *rest])
        return out

    def union(self, parts: list[Hits]) -> Hits:
        """OR of ``parts``: ``Ids`` while the sparse parts together stay few."""
        if all(isinstance(p, array) for p in parts) and \
                sum(map(len, parts)) <= docsets.sparse_limit(self.snap.size):  # type: ignore
            return docsets.union_ids(parts)  # type: ignore[arg-type]
        out = docsets.EMPTY
        for part in parts:
            out |= self.dense(part)
        return out

    def sparse_term(self, field_name: str, value: str) -> Ids | None:
        """The snapshot's set of (field, value) as ``Ids`` when ``docsets.sparse_enough``,
        else None; decided and made once per snapshot."""
        cache = lru.on(self.snap, "sparse_terms", SPARSE_TERMS)
        found = cache.get((field_name, value))
        if found is None:
            found = cache.put((field_name, value),
                              (docsets.sparse_form(self.snap.term(field_name, value)),))
        return found[0]  # type: ignore[no-any-return]

    def term_set(self, field_name: str, values: Iterable[str]) -> Hits:
        """Documents whose ``field_name`` holds any of ``values``: ``Ids`` when few, else a
        lasting integer (a snapshot's term, or a union of terms kept per snapshot, by
        field and the sorted distinct values: strings sort faster than pairs, which
        mattered for a hundred spaces of a type)."""
        values = values if isinstance(values, list) else list(values)
        if len(values) == 1:
            sparse = self.sparse_term(field_name, values[0])
            return self.lasting(self.snap.term(field_name, values[0])) if sparse is None \
                else sparse
        key = (field_name, tuple(sorted(set(values))))
        cache = lru.on(self.snap, "term_unions", TERM_UNIONS)
        found = cache.get(key)
        if found is None:
            parts: list[Hits] = []
            for v in key[1]:
                sparse = self.sparse_term(field_name, v)
                parts.append(self.snap.term(field_name, v) if sparse is None else sparse)
            found = cache.put(key, self.union(parts))
        return found if isinstance(found, array) else self.lasting(found)

    def positive_clause(self, clause: Clause, op: Op, scoring: bool) -> Hits:
        name = clause.field
        if op is Op.CONTAINS:
            return self.contains(clause, name, scoring)
        if name in ("created", "lastmodified"):
            return self.date_clause(clause, op)
        if name.startswith(PROPERTY_PREFIX):
            return self.property_clause(clause, op)
        values = self.values(clause)
        if name in EXACT_FIELDS:
            index_field, fix = EXACT_FIELDS[name]
            keys = [fix(v) for v in values]
            if index_field in LINK_FIELDS:
                keys = self.readable_ids(keys)
            self.note(clause, lambda: f"term lookup: {index_field} in {shown_set(keys)}")
            return self.term_set(index_field, keys)
        if name == "title":
            keys = [title_key(v) for v in values]
            self.note(clause, lambda: f"term lookup: title_key in {shown_set(keys)}")
            return self.term_set("title_key", keys)
        if name == "parent.title":
            keys = [title_key(v) for v in values]
            self.note(clause, lambda: "parent in ids of readable documents with title_key "
                      f"in {shown_set(keys)}")
            return self.children_of_readable(self.term_set("title_key", keys))
        if name == "favourite":
            return self.favourites(clause)
        if name == "space.type":
            keys = self.space_types(clause)
            self.note(clause, lambda: f"space in {shown_set(keys)} (spaces of that type)")
            return self.term_set("space", keys)
        if name == "space.category":
            wanted = {v.lower() for v in values}
            keys = self.spaces_where(lambda s: any(c.lower() in wanted for c in s.categories))
            self.note(clause, lambda: f"space in {shown_set(keys)} (spaces in that category)")
            return self.term_set("space", keys)
        raise CqlError(ErrorCode.UNKNOWN_FIELD, f"No field exists with the name: '{name}'",
                       "", clause.span.start, clause.span.end)

    # --- values and functions ----------------------------------------------------------

    def values(self, clause: Clause) -> list[str]:
        out: list[str] = []
        for item in _items(clause):
            if isinstance(item, FunctionCall):
                out.extend(self.function_values(item))
            elif isinstance(item, String):
                out.append(item.value)
            else:
                out.append(item.text)  # type: ignore[union-attr]
        return out

    def account(self, call: FunctionCall | Clause | Scalar) -> str:
        if self.scope.account_id is None:
            raise CqlError(ErrorCode.NEEDS_CONTEXT,
                           f"{_name(call)} needs a signed-in user; this search has none",
                           "", call.span.start, call.span.end)
        return self.scope.account_id

    def user_list(self, attr: str, call: FunctionCall | Clause | Scalar) -> list[str]:
        user = self.catalog.users.get(self.account(call))
        return list(getattr(user, attr, []) or []) if user is not None else []

    def function_values(self, call: FunctionCall) -> list[str]:
        name = call.name
        args = [a.value if isinstance(a, String) else a.text for a in call.args]
        if name == "currentUser":
            return [self.account(call)]
        if name == "currentSpace":
            if not self.context.space_key:
                raise CqlError(ErrorCode.NEEDS_CONTEXT,
                               "currentSpace() needs a space in the search context",
                               "", call.span.start, call.span.end)
            return [self.context.space_key]
        if name == "favouriteSpaces":
            return self.user_list("favourite_spaces", call)
        if name == "recentlyViewedSpaces":
            return self.user_list("recently_viewed_spaces", call)[: int(args[0])]
        if name == "recentlyViewedContent":
            skip = int(args[1]) if len(args) > 1 else 0
            return self.user_list("recently_viewed_content", call)[skip: skip + int(args[0])]
        raise CqlError(ErrorCode.FUNCTION_NOT_ALLOWED, f"{name}() cannot be used here", "",
                       call.span.start, call.span.end)

    def favourites(self, clause: Clause) -> Hits:
        """Only the caller's own favourites may be searched (Confluence's security rule)."""
        for item in _items(clause):
            if isinstance(item, FunctionCall):
                self.function_values(item)  # currentUser() without a user: needs_context
                continue
            text = item.value if isinstance(item, String) else item.text  # type: ignore
            if text != self.scope.account_id:
                raise CqlError(ErrorCode.PERMISSION,
                               "favourite can only name the searching user; use "
                               "currentUser()", "", item.span.start, item.span.end)
        favs = self.user_list("favourite_content", clause)
        self.note(clause, lambda: f"id in the caller's favourite content {shown_set(favs)}")
        return self.term_set("id", favs)

    def space_types(self, clause: Clause) -> list[str]:
        """Keys of the spaces of the named types; ``favourite``: the caller's favourites."""
        keys: list[str] = []
        for item in _items(clause):
            text = (item.value if isinstance(item, String) else item.text).lower()  # type: ignore
            if text in ("favourite", "favorite"):
                keys.extend(k.lower() for k in self.user_list("favourite_spaces", item))
            else:
                keys.extend(self.spaces_of_type(text))
        return keys

    def spaces_of_type(self, kind: str) -> list[str]:
        """Keys of the spaces of type ``kind``, found once per catalogue (a Python step
        per space, a fifth of ``space.type = global`` at 200 spaces). Only types some
        space has are kept, so arbitrary query texts cannot grow the memo."""
        found = self.catalog.memo.get(("space_type", kind))
        if found is None:
            found = self.spaces_where(lambda s: s.type == kind)
            if found:
                self.catalog.memo[("space_type", kind)] = found
        return found  # type: ignore[no-any-return]

    def spaces_where(self, test: Callable[[Any], bool]) -> list[str]:
        return [k.lower() for k, s in self.catalog.spaces.items() if test(s)]

    def readable(self, by_permission: bool = True) -> DocSet:
        """Content that clauses comparing against *other* documents may read: any status
        (a draft parent still names its children) and archived spaces too, but never a
        document in a space the caller's mask hides or of a type its token may not read
        (strict scopes). In a consistent index a hidden item's children are hidden with it;
        this holds even if they were not, so the clauses cannot probe hidden titles or ids.

        ``parent.title`` also needs ``by_permission``: a parent the caller may not view
        (someone else's draft, a restricted page) must not lend its title to a probe. The
        id clauses (``parent``, ``ancestor``, ``container``) do not: an item the view
        permissions close closes its subtree with it, except a draft or trashed item,
        whose visible children keep naming it (docs/permissions.md)."""
        key = ("readable", self.scope.hidden_spaces, self.scope.hidden_types,
               self.permitted_key() if by_permission else None)
        cache = lru.on(self.snap, "visible", VISIBLE_CACHE)
        found = cache.get(key)
        if found is None:
            snap = self.snap
            found = snap.term("entity", "content")
            if by_permission:
                found &= self.permitted()
            if self.scope.hidden_spaces:
                found &= ~snap.terms("space", (k.lower() for k in self.scope.hidden_spaces))
            if self.scope.hidden_types:
                found &= ~snap.terms("type", self.scope.hidden_types)
            cache.put(key, found)
        return found  # type: ignore[no-any-return]

    def readable_ids(self, ids: list[str]) -> list[str]:
        """The ``ids`` that name a document the id clauses may read (``readable``)."""
        if not self.scope.hidden_spaces and not self.scope.hidden_types:
            return ids
        # Each id's set, as the id clauses read it (kept per snapshot), tested against
        # the flags of what may be read (kept per snapshot and scope): a Whoosh lookup of
        # the id (``docnum_of``) on every search was most of an app's ``ancestor = N``.
        within = self.flags_of(self.lasting(self.readable(by_permission=False)))[0]
        return [i for i in ids if any(map(within.__getitem__, self.id_docs(i)))]

    def id_docs(self, doc_id: str) -> Ids:
        """The live documents (one, or none) of an entity id, as ``Ids``."""
        found = self.sparse_term("id", doc_id)
        return docsets.ids(self.snap.term("id", doc_id)) if found is None else found

    def children_of_readable(self, parents: Hits) -> Hits:
        """The children of the ``parents`` the caller may read (``readable``): what
        ``parent.title`` matches.

        A document has one parent, so the children of ``P`` and ``R`` are the children of
        ``P`` less those of ``P`` outside ``R``. When ``parents`` is a set that outlives
        the search (a title's term), its children are kept per snapshot, and what is left
        per search is the children of the few parents the caller may not read (drafts,
        restricted pages, hidden spaces), made once per caller's readable set: a join
        through 3,000 parents at 100,000 items (30,000 at a million: 25 ms) was listing
        every one of them on every search."""
        readable = self.lasting(self.readable())
        if isinstance(parents, array) or id(parents) not in self._lasting:
            return self.children_of(self.intersect([parents, readable]))
        cache = lru.on(self.snap, "children", CHILDREN_CACHE)
        key = (id(parents), id(readable))  # (each entry holds both: ids stay theirs)
        found = cache.get(key)
        if found is None or found[0] is not parents or found[1] is not readable:
            mine = every = self.kept_children(parents)
            unread = parents & ~readable
            if unread:
                mine = every & ~self.dense(self.children_of(unread))
            found = cache.put(key, (parents, readable, mine))
        return self.lasting(found[2])  # type: ignore[no-any-return]

    def kept_children(self, parents: DocSet) -> DocSet:
        """``children_of`` a set that outlives the search, kept per snapshot."""
        cache = lru.on(self.snap, "children", CHILDREN_CACHE)
        found = cache.get(id(parents))
        if found is None or found[0] is not parents:
            found = cache.put(id(parents), (parents, self.dense(self.children_of(parents))))
        return found[1]  # type: ignore[no-any-return]

    def children_of(self, parents: Hits) -> Hits:
        """The live documents whose parent is in ``parents`` (``index.core.links``: from
        the snapshot's parent column, not a term lookup per parent). Sparse parents give
        sparse children, read from the column's groups, once the snapshot has them or
        when there are too many parents to look up one by one."""
        snap = self.snap
        if not isinstance(parents, array) or (
                not links.grouped(snap) and len(parents) <= links.FEW_PARENTS):
            return links.children_of(snap, self.dense(parents))
        found = array("i", sorted(chain.from_iterable(links.children(snap).groups(parents))))
        if snap.has_deletions:
            found = docsets.select(found, self.flags_of(self.lasting(snap.live))[0])
        if len(found) > docsets.sparse_limit(snap.size):
            return docsets.from_ids(found, snap.size)
        return found

    # --- dates -------------------------------------------------------------------------

    def instant_bounds(self, value: Scalar) -> tuple[int, int]:
        """``[start, end)`` in epoch seconds for a literal or a function instant."""
        if isinstance(value, FunctionCall):
            inc = None
            if value.args:
                arg = value.args[0]
                raw = arg.value if isinstance(arg, String) else arg.text
                inc = dates.parse_increment(raw, lenient=True)
            moment = dates.evaluate_function(value.name, inc, self.context.now,
                                             self.context.zone, self.context.week_start)
            # A saturated instant lies before (after) every item's date, not on its edge.
            t = (epoch(moment) - 1 if moment == dates.START_OF_TIME else
                 epoch(moment) + 1 if moment == dates.END_OF_TIME else epoch(moment))
            return t, t + 1
        raw = value.value if isinstance(value, String) else value.text  # type: ignore
        return _literal_bounds(raw, self.context.zone)

    def date_clause(self, clause: Clause, op: Op) -> Hits:
        lo, hi = self.instant_bounds(clause.value)  # type: ignore[arg-type]
        self.note(clause, lambda: self._date_words(clause.field, op, lo, hi))
        col = self.sorted_dates(clause.field)
        if op is Op.EQ:
            return self.date_range(col, lo, hi)
        if op is Op.GT:
            return self.date_range(col, hi, None)
        if op is Op.GE:
            return self.date_range(col, lo, None)
        if op is Op.LT:
            return self.date_range(col, None, lo)
        return self.date_range(col, None, hi)  # LE

    def _date_words(self, name: str, op: Op, lo: int, hi: int) -> str:
        zone = self.context.zone

        def at(t: int) -> str:
            try:
                return datetime.fromtimestamp(t, UTC).astimezone(zone).isoformat()
            except (OverflowError, ValueError, OSError):  # a bound saturated past the calendar
                return "(after 9999-12-31)" if t > 0 else "(before 0001-01-01)"

        bounds = {Op.EQ: f"{at(lo)} <= {name} < {at(hi)}", Op.GT: f"{name} >= {at(hi)}",
                  Op.GE: f"{name} >= {at(lo)}", Op.LT: f"{name} < {at(lo)}",
                  Op.LE: f"{name} < {at(hi)}"}[op]
        return f"date column range: {bounds} ({self.context.tz})"

    def sorted_dates(self, field_name: str) -> SortedColumn:
        key = ("dates", field_name)
        col = self.snap.cache.get(key)
        if col is None:
            content = docsets.members(self.snap.term("entity", "content"))
            values = self.snap.column(field_name)
            col = self.snap.cache[key] = SortedColumn([(values[d], d) for d in content],
                                                      self.snap.size)
        return col  # type: ignore[no-any-return]

    def date_range(self, col: SortedColumn, lo: int | None, hi: int | None) -> Hits:
        """The live documents dated in ``[lo, hi)``: ``Ids`` when few (a day)."""
        snap = self.snap
        few = col.range_ids(lo, hi, docsets.sparse_limit(snap.size))
        if few is None:
            return col.range(lo, hi) & snap.live
        if snap.has_deletions:
            return docsets.select(few, self.flags_of(self.lasting(snap.live))[0])
        return few

    # --- content properties ------------------------------------------------------------

    def property_values(self, name: str) -> dict[int, Any]:
        key, path = property_parts(name)
        cache = self.snap.__dict__.setdefault("_properties", {})
        if (key, path) not in cache:
            found: dict[int, Any] = {}
            for docnum, stored in self.snap.all_stored():
                props = json.loads(stored.get("doc", "{}")).get("properties") or {}
                value: Any = props.get(key)
                for part in path:
                    value = value.get(part) if isinstance(value, dict) else None
                if value is not None and not isinstance(value, dict | list):
                    found[docnum] = value
            cache[(key, path)] = found
        return cache[(key, path)]

    def property_clause(self, clause: Clause, op: Op) -> DocSet:
        """Numbers compare numerically with unquoted number literals; everything else
        compares its text form case-insensitively, and ranges need numbers on both sides."""
        self.note(clause, lambda: f"stored property values scanned, compared with {op.value}")
        found = self.property_values(clause.field)
        literals = [(item.text if isinstance(item, Number) else self.values_of(item),
                     _number(item.text) if isinstance(item, Number) else None)
                    for item in _items(clause)]

        def test(value: Any) -> bool:
            is_num = isinstance(value, int | float) and not isinstance(value, bool)
            if op in (Op.EQ, Op.IN):
                return any((is_num and n is not None and value == n) or _text(value) in texts
                           for texts, n in ((_lowered(t), n) for t, n in literals))
            n = literals[0][1]
            if not is_num or n is None:
                return False
            return {Op.GT: value > n, Op.GE: value >= n, Op.LT: value < n,
                    Op.LE: value <= n}[op]

        return docsets.from_ids((d for d, v in found.items() if test(v)), self.snap.size)

    def values_of(self, item: Scalar) -> list[str]:
        if isinstance(item, FunctionCall):
            return self.function_values(item)
        return [item.value if isinstance(item, String) else item.text]  # type: ignore

    # --- text ----------------------------------------------------------------------------

    def contains(self, clause: Clause, name: str, scoring: bool) -> Hits:
        try:
            return self._contains(clause, name, scoring)
        except patterns.ExpansionTooLarge as error:
            span = getattr(clause.value, "span", clause.span)
            raise CqlError(ErrorCode.TOO_LARGE, str(error), "", span.start, span.end
                           ) from None

    def _contains(self, clause: Clause, name: str, scoring: bool) -> Hits:
        raw = self.values(clause)[0]
        pruned = parsed_text(raw)
        if pruned is None:
            self.note(clause, lambda: "no searchable words: matches nothing")
            return docsets.EMPTY
        tree = pruned
        if name in ("text", "title"):
            fields = TEXT_FIELDS if name == "text" else ("title",)
            self.note(clause, lambda: f"whoosh: {whoosh_text(tree, fields)}")
            docs = self.text_docs(tree, fields)
            if scoring:
                stems = _positive_tokens(tree)
                self.score_tokens.extend(stems)
                self.score_terms.extend((f, t) for f in fields for t in stems)
            return docs
        if name == "space.title":
            keys = self.catalog.memo.get(("space_titles", raw))
            if keys is None:  # every space's name: once per catalogue and text
                keys = self.catalog.memo[("space_titles", raw)] = self.spaces_where(
                    lambda s: matches_tokens(tree, analyzed(s.name)))
            self.note(clause, lambda: f"space in {shown_set(keys)} (space names matching "
                      f"{raw!r})")
            return self.term_set("space", keys)
        if name == "creator.fullname":
            people = self.catalog.memo.get(("people", raw))
            if people is None:  # every user's name: once per catalogue and text
                people = self.catalog.memo[("people", raw)] = [
                    u.account_id for u in self.catalog.users.values()
                    if matches_tokens(tree, analyzed(u.display_name))]
            self.note(clause, lambda: f"creator in {shown_set(people)} (display names "
                      f"matching {raw!r})")
            return self.term_set("creator", people)
        if name == "parent.title":
            self.note(clause, lambda: "parent in ids of readable documents matching whoosh: "
                      f"{whoosh_text(tree, ('title',))}")
            return self.children_of_readable(self.unscored_docs(tree, ("title",)))
        if name.startswith(PROPERTY_PREFIX):
            self.note(clause, lambda: f"stored property values matching {raw!r}")
            found = self.property_values(name)
            return docsets.from_ids(
                (d for d, v in found.items() if matches_tokens(tree, analyze(_text(v)))),
                self.snap.size)
        raise CqlError(ErrorCode.OPERATOR_NOT_ALLOWED, f"'{name}' does not support '~'",
                       "", clause.span.start, clause.span.end)

    def phrase_hits(self, fields: tuple[str, ...], tokens: list[str]) -> Hits:
        """The documents of a phrase of several words, as ``Ids`` when few (kept per
        snapshot). A phrase is rarer than its words, and its few hits are scored outright
        (``relevance.top``), so ids spare every search of it the passes over the index's
        width that an integer costs: 0.25 ms of a 29-hit phrase at a million documents."""
        found = self.snap.phrase_docs(fields, tokens)
        cache = lru.on(self.snap, "phrase_ids", PHRASE_IDS)
        key = (fields, tuple(tokens))
        kept = cache.get(key)
        if kept is None or kept[0] is not found:
            kept = cache.put(key, (found, docsets.sparse_form(found)))
        return found if kept[1] is None else kept[1]  # type: ignore[no-any-return]

    def text_docs(self, tree: textsearch.TextQuery, fields: tuple[str, ...]) -> Hits:
        snap = self.snap
        if isinstance(tree, textsearch.Term | textsearch.Phrase):
            tokens = analyze(tree.text)
            if len(tokens) > 1:
                return self.phrase_hits(fields, tokens)
            # A word stays an integer even when rare: relevance walks its holders by
            # score over an integer set, and ids made it list them twice (measured: a
            # 541-hit word took 0.69 ms as ids, 0.43 ms as an integer, at 100,000 items).
            return snap.phrase_docs(fields, tokens)
        if isinstance(tree, textsearch.Wildcard):
            found = snap.expand(fields, patterns.wildcard_matcher(tree.pattern),
                                key=("wildcard", tree.pattern))
            return self.expansion_docs(fields, _bounded(found, tree.pattern),
                                       ("wildcard", tree.pattern))
        if isinstance(tree, textsearch.Fuzzy):
            word = tree.text.lower()
            found = snap.expand(fields, lambda w: levenshtein_within(word, w, FUZZY_DISTANCE),
                                key=("fuzzy", word))
            return self.expansion_docs(fields, _bounded(found, f"{tree.text}~"),
                                       ("fuzzy", word))
        if isinstance(tree, textsearch.Any):
            return self.union([self.text_docs(part, fields) for part in tree.parts])
        if not tree.must:
            return docsets.EMPTY
        out = self.dense(self.text_docs(tree.must[0], fields))
        for part in tree.must[1:]:
            out &= self.dense(self.text_docs(part, fields))
        for part in tree.must_not:
            out &= ~self.dense(self.text_docs(part, fields))
        return out & snap.live


    def expansion_docs(self, fields: tuple[str, ...], words: set[str], key: Any) -> Hits:
        """Documents holding any of the expanded ``words`` (``key`` names the expansion)
        in any of ``fields``: the union is kept per snapshot, where OR-ing every word's
        set in every field on every search cost a pass over the index per word and
        field. Over one field (``title ~``) it is ``Ids`` when few, as a term is (made
        from the union: the words' own sparse forms would cost a pass over the index per
        word on the first search); over several it stays an integer (the body's words
        are many: an ``Ids`` part would be made an integer again on every search), and
        is lasting: an AND with a sparse set reads its flags."""
        cache = lru.on(self.snap, "expansions", TERM_UNIONS)
        found = cache.get((fields, key))
        if found is None:
            found = self.snap.terms_in(fields, words)
            if len(fields) == 1:  # (title ~): sparse when few, as a term would be
                sparse = docsets.sparse_form(found)
                found = found if sparse is None else sparse
            found = cache.put((fields, key), found)
        return found if isinstance(found, array) else self.lasting(found)

    def unscored_docs(self, tree: textsearch.TextQuery, fields: tuple[str, ...]) -> Hits:
        """``text_docs`` for a clause that relevance does not read (``parent.title``): one
        word of one field is then that field's term as ``term_set`` gives it, sparse when
        rare, so that an AND with it costs what its members cost."""
        if len(fields) == 1 and isinstance(tree, textsearch.Term | textsearch.Phrase):
            tokens = analyze(tree.text)
            if len(tokens) == 1:
                return self.term_set(fields[0], tokens)
        return self.text_docs(tree, fields)


@lru_cache(maxsize=1024)
def _literal_bounds(raw: str, zone: Any) -> tuple[int, int]:
    """``[start, end)`` in epoch seconds of a date literal in ``zone``: the same text and
    zone give the same bounds, so a repeated date clause parses its literal once (a
    tenth of a selective date search). An invalid literal raises every time."""
    interval = dates.literal_interval(raw, zone)
    return epoch(interval.start), epoch(interval.end - timedelta(microseconds=1)) + 1


def shown_set(values: Any) -> str:
    """A set of keys for a plan description: distinct, in order, the first twelve."""
    items = list(dict.fromkeys(values))
    shown = ", ".join(items[:12]) + (f", ... ({len(items)} in all)" if len(items) > 12 else "")
    return "{" + shown + "}"


def whoosh_text(tree: textsearch.TextQuery, fields: tuple[str, ...]) -> str:
    """A text query in Whoosh's query syntax, over ``fields``, with analysed words."""
    if isinstance(tree, textsearch.Term | textsearch.Phrase):
        tokens = analyze(tree.text)
        word = tokens[0] if len(tokens) == 1 else '"' + " ".join(tokens) + '"'
        return _any_of(f"{f}:{word}" for f in fields)
    if isinstance(tree, textsearch.Wildcard):
        return _any_of(f"{f}:{tree.pattern}" for f in fields) + " (expanded from the lexicon)"
    if isinstance(tree, textsearch.Fuzzy):
        return _any_of(f"{f}:{tree.text.lower()}~{FUZZY_DISTANCE}" for f in fields)
    if isinstance(tree, textsearch.Any):
        return "(" + " OR ".join(whoosh_text(p, fields) for p in tree.parts) + ")"
    parts = [whoosh_text(p, fields) for p in tree.must]
    parts += [f"NOT {whoosh_text(p, fields)}" for p in tree.must_not]
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _any_of(parts: Iterable[str]) -> str:
    items = list(parts)
    return items[0] if len(items) == 1 else "(" + " OR ".join(items) + ")"


def parsed_text(raw: str) -> textsearch.TextQuery | None:
    """``raw`` parsed and pruned, kept when short: a search repeated (a page after the
    first, a refresh, the same saved search) parses its text once, not every time (about
    20 us a search, a twentieth of a selective text search). The trees are frozen, so
    sharing them is safe; a syntax error is not kept, and is raised again each time."""
    if len(raw) > PARSED_TEXT_LENGTH:  # a long text is rare: kept, it would hold memory
        return prune(textsearch.parse_text(raw))
    return _parsed_text(raw)


#: Texts up to this many characters are kept parsed (up to 4,096 of them: 4 MB at most).
PARSED_TEXT_LENGTH = 1000


@lru_cache(maxsize=4096)
def _parsed_text(raw: str) -> textsearch.TextQuery | None:
    return prune(textsearch.parse_text(raw))


def prune(tree: textsearch.TextQuery) -> textsearch.TextQuery | None:
    """Drop words that analyse to no tokens (``!!``), as Lucene does; None if none left."""
    if isinstance(tree, textsearch.Term | textsearch.Phrase):
        return tree if analyze(tree.text) else None
    if isinstance(tree, textsearch.Any):
        parts = tuple(p for p in map(prune, tree.parts) if p is not None)
        return None if not parts else parts[0] if len(parts) == 1 else textsearch.Any(parts)
    if isinstance(tree, textsearch.All):
        must = tuple(p for p in map(prune, tree.must) if p is not None)
        must_not = tuple(p for p in map(prune, tree.must_not) if p is not None)
        return None if not must and not must_not else textsearch.All(must, must_not)
    return tree


@lru_cache(maxsize=200_000)
def analyzed(text: str) -> list[str]:
    """``analyze`` memoised, for names matched again on every query (users, spaces)."""
    return analyze(text)


def matches_tokens(tree: textsearch.TextQuery, tokens: list[str]) -> bool:
    """The text query against one small field's stemmed tokens (names, titles)."""
    if isinstance(tree, textsearch.Term | textsearch.Phrase):
        want = analyze(tree.text)
        n = len(want)
        return n > 0 and any(tokens[i:i + n] == want for i in range(len(tokens) - n + 1))
    if isinstance(tree, textsearch.Wildcard):
        match = patterns.wildcard_matcher(tree.pattern)
        return any(match(t) for t in tokens)
    if isinstance(tree, textsearch.Fuzzy):
        word = tree.text.lower()
        return any(levenshtein_within(word, t, FUZZY_DISTANCE) for t in tokens)
    if isinstance(tree, textsearch.Any):
        return any(matches_tokens(p, tokens) for p in tree.parts)
    return bool(tree.must) and all(matches_tokens(p, tokens) for p in tree.must) and not any(
        matches_tokens(p, tokens) for p in tree.must_not)


def _positive_tokens(tree: textsearch.TextQuery) -> list[str]:
    if isinstance(tree, textsearch.Term | textsearch.Phrase):
        return analyze(tree.text)
    if isinstance(tree, textsearch.Fuzzy):
        return [stem(w) for w in words(tree.text)]
    if isinstance(tree, textsearch.Wildcard):
        return []
    if isinstance(tree, textsearch.Any):
        return [t for p in tree.parts for t in _positive_tokens(p)]
    return [t for p in tree.must for t in _positive_tokens(p)]


def _and_all(parts: list[DocSet]) -> DocSet:
    out = parts[0]
    for part in parts[1:]:
        out &= part
    return out


def _items(clause: Clause) -> tuple[Scalar, ...]:
    value = clause.value
    return value.items if isinstance(value, List) else (value,)  # type: ignore[return-value]


def _names_space_type(expr: Expr | None) -> bool:
    """Does a positive ``type`` clause (not under NOT) name ``space``?"""
    stack: list[tuple[Expr, bool]] = [(expr, True)] if expr is not None else []
    while stack:
        node, positive = stack.pop()
        if isinstance(node, Clause):
            if positive and node.field == "type" and node.op in (Op.EQ, Op.IN):
                items = node.value.items if isinstance(node.value, List) else (node.value,)
                if any(isinstance(v, String) and v.value.lower() == "space" for v in items):
                    return True
        elif isinstance(node, Not):
            stack.append((node.operand, False))
        else:
            stack.extend((child, positive) for child in node.operands)
    return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _text(value: Any) -> str:
    """A property value as text: strings as they are, anything else as JSON."""
    return (value if isinstance(value, str) else json.dumps(value)).lower()


def _lowered(texts: str | list[str]) -> set[str]:
    return {t.lower() for t in ([texts] if isinstance(texts, str) else texts)}


def _name(node: object) -> str:
    if isinstance(node, FunctionCall):
        return f"{node.name}()"
    return node.field if isinstance(node, Clause) else "this value"


__all__ = ["Catalog", "Compiler", "SearchScope", "Date", "Number", "Or"]
