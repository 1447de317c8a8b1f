"""Compiles a normalized CQL tree into document sets over one index snapshot.

Every clause becomes a set of document numbers (cached per snapshot by the backend) and
AND / OR / NOT become integer bit operations, so a 10-clause query costs about as much
as its most expensive clause. ``NOT`` is a difference from the search's universe, which
already excludes everything the caller may not see: no query shape can reach past it.
Semantics: docs/semantics.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
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
from index.core.docsets import DocSet


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
        self.universe = self.visible(_names_space_type(query.where))
        if query.where is None:
            return self.universe
        return self.expr(query.where, positive=True) & self.universe

    # --- boolean structure -------------------------------------------------------------

    def expr(self, node: Expr, positive: bool) -> DocSet:
        if isinstance(node, Clause):
            return self.clause(node, positive)
        if isinstance(node, Not):
            return self.universe & ~self.expr(node.operand, not positive)
        parts = [self.expr(child, positive) for child in node.operands]
        out = parts[0]
        for part in parts[1:]:
            out = out & part if isinstance(node, And) else out | part
        return out

    def clause(self, clause: Clause, positive: bool) -> DocSet:
        op = clause.op
        negated = op in (Op.NE, Op.NOT_IN, Op.NOT_CONTAINS)
        base = {Op.NE: Op.EQ, Op.NOT_IN: Op.IN, Op.NOT_CONTAINS: Op.CONTAINS}.get(op, op)
        docs = self.positive_clause(clause, base, positive and not negated)
        return self.universe & ~docs if negated else docs

    def positive_clause(self, clause: Clause, op: Op, scoring: bool) -> DocSet:
        name = clause.field
        if op is Op.CONTAINS:
            return self.contains(clause, name, scoring)
        if name in ("created", "lastmodified"):
            return self.date_clause(clause, op)
        if name.startswith(PROPERTY_PREFIX):
            return self.property_clause(clause, op)
        values = self.values(clause)
        snap = self.snap
        if name in EXACT_FIELDS:
            index_field, fix = EXACT_FIELDS[name]
            keys = [fix(v) for v in values]
            if index_field in LINK_FIELDS:
                keys = self.readable_ids(keys)
            self.note(clause, lambda: f"term lookup: {index_field} in {shown_set(keys)}")
            return snap.terms(index_field, keys)
        if name == "title":
            keys = [title_key(v) for v in values]
            self.note(clause, lambda: f"term lookup: title_key in {shown_set(keys)}")
            return snap.terms("title_key", keys)
        if name == "parent.title":
            keys = [title_key(v) for v in values]
            self.note(clause, lambda: "parent in ids of readable documents with title_key "
                      f"in {shown_set(keys)}")
            parents = snap.terms("title_key", keys)
            return self.children_of(parents & self.readable())
        if name == "favourite":
            return self.favourites(clause)
        if name == "space.type":
            keys = self.space_types(clause)
            self.note(clause, lambda: f"space in {shown_set(keys)} (spaces of that type)")
            return snap.terms("space", keys)
        if name == "space.category":
            wanted = {v.lower() for v in values}
            keys = self.spaces_where(lambda s: any(c.lower() in wanted for c in s.categories))
            self.note(clause, lambda: f"space in {shown_set(keys)} (spaces in that category)")
            return snap.terms("space", keys)
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

    def favourites(self, clause: Clause) -> DocSet:
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
        return self.snap.terms("id", favs)

    def space_types(self, clause: Clause) -> list[str]:
        """Keys of the spaces of the named types; ``favourite``: the caller's favourites."""
        keys: list[str] = []
        for item in _items(clause):
            text = (item.value if isinstance(item, String) else item.text).lower()  # type: ignore
            if text in ("favourite", "favorite"):
                keys.extend(k.lower() for k in self.user_list("favourite_spaces", item))
            else:
                keys.extend(self.spaces_where(lambda s, t=text: s.type == t))
        return keys

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
        where, readable = self.snap.docnum_by_id, self.readable(by_permission=False)
        return [i for i in ids if i in where and readable >> where[i] & 1]

    def children_of(self, parents: DocSet) -> DocSet:
        """The live documents whose parent is in ``parents`` (``index.core.links``: from
        the snapshot's parent column, not a term lookup per parent)."""
        return links.children_of(self.snap, parents)

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
        interval = dates.literal_interval(raw, self.context.zone)
        return epoch(interval.start), epoch(interval.end - timedelta(microseconds=1)) + 1

    def date_clause(self, clause: Clause, op: Op) -> DocSet:
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

    def date_range(self, col: SortedColumn, lo: int | None, hi: int | None) -> DocSet:
        return col.range(lo, hi) & self.snap.live

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

    def contains(self, clause: Clause, name: str, scoring: bool) -> DocSet:
        try:
            return self._contains(clause, name, scoring)
        except patterns.ExpansionTooLarge as error:
            span = getattr(clause.value, "span", clause.span)
            raise CqlError(ErrorCode.TOO_LARGE, str(error), "", span.start, span.end
                           ) from None

    def _contains(self, clause: Clause, name: str, scoring: bool) -> DocSet:
        raw = self.values(clause)[0]
        pruned = prune(textsearch.parse_text(raw))
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
            keys = self.spaces_where(lambda s: matches_tokens(tree, analyzed(s.name)))
            self.note(clause, lambda: f"space in {shown_set(keys)} (space names matching "
                      f"{raw!r})")
            return self.snap.terms("space", keys)
        if name == "creator.fullname":
            people = self.catalog.memo.get(("people", raw))
            if people is None:  # every user's name: once per catalogue and text
                people = self.catalog.memo[("people", raw)] = [
                    u.account_id for u in self.catalog.users.values()
                    if matches_tokens(tree, analyzed(u.display_name))]
            self.note(clause, lambda: f"creator in {shown_set(people)} (display names "
                      f"matching {raw!r})")
            return self.snap.terms("creator", people)
        if name == "parent.title":
            self.note(clause, lambda: "parent in ids of readable documents matching whoosh: "
                      f"{whoosh_text(tree, ('title',))}")
            return self.children_of(self.text_docs(tree, ("title",)) & self.readable())
        if name.startswith(PROPERTY_PREFIX):
            self.note(clause, lambda: f"stored property values matching {raw!r}")
            found = self.property_values(name)
            return docsets.from_ids(
                (d for d, v in found.items() if matches_tokens(tree, analyze(_text(v)))),
                self.snap.size)
        raise CqlError(ErrorCode.OPERATOR_NOT_ALLOWED, f"'{name}' does not support '~'",
                       "", clause.span.start, clause.span.end)

    def text_docs(self, tree: textsearch.TextQuery, fields: tuple[str, ...]) -> DocSet:
        snap = self.snap
        if isinstance(tree, textsearch.Term | textsearch.Phrase):
            return snap.phrase_docs(fields, analyze(tree.text))
        if isinstance(tree, textsearch.Wildcard):
            found = snap.expand(fields, patterns.wildcard_matcher(tree.pattern),
                                key=("wildcard", tree.pattern))
            return snap.terms_in(fields, _bounded(found, tree.pattern))
        if isinstance(tree, textsearch.Fuzzy):
            word = tree.text.lower()
            found = snap.expand(fields, lambda w: levenshtein_within(word, w, FUZZY_DISTANCE),
                                key=("fuzzy", word))
            return snap.terms_in(fields, _bounded(found, f"{tree.text}~"))
        if isinstance(tree, textsearch.Any):
            out = docsets.EMPTY
            for part in tree.parts:
                out |= self.text_docs(part, fields)
            return out
        if not tree.must:
            return docsets.EMPTY
        out = self.text_docs(tree.must[0], fields)
        for part in tree.must[1:]:
            out &= self.text_docs(part, fields)
        for part in tree.must_not:
            out &= ~self.text_docs(part, fields)
        return out & snap.live


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
