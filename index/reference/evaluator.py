"""The reference evaluator: CQL over an in-memory site in plain Python, as an oracle.

Why a second evaluator at all: the Whoosh engine (``index/engine.py``, ``index/core/compiler.py``)
is optimised (cached document sets, column sorts, a policy mask) and every optimisation is a
place to be subtly wrong. This module implements ``docs/semantics.md`` the obvious way,
clause by clause over Python sets, and shares no matching code with the engine; the
differential tests run both and compare. What it does share is *language* code (``cql``:
parsing, normalisation, date literals and functions, the text-search syntax) and the analyzer
(lower-case, ``\\w+``, Porter2 via ``index.core.analysis.stem``),
which semantics.md defines as part of
the meaning rather than of either engine.

Simplicity beats speed here, but not absurdly: each entity's fields are analysed once in
``__init__``, and a clause is one pass over the universe, so 10,000 items cost a few
milliseconds per clause.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import cql
from cql import dates, fields, textsearch
from cql.ast import (
    And,
    Clause,
    Expr,
    FunctionCall,
    List,
    Not,
    Number,
    Op,
    Or,
    Query,
    Span,
    String,
)
from cql.errors import CqlError, ErrorCode
from index.core.analysis import stem
from index.core.context import SearchContext
from index.errors import EngineError

__all__ = ["ReferenceAccess", "ReferenceEvaluator", "analyse"]

# --- analysis -----------------------------------------------------------------------

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=65536)
def _stem(token: str) -> str:
    return stem(token)


def analyse(text: str) -> tuple[str, ...]:
    """Lower-case, split into ``\\w+`` runs, Porter2-stem: the analyzer of semantics.md."""
    return tuple(_stem(token) for token in _WORD.findall(text.lower()))


@dataclass(frozen=True, slots=True)
class _Field:
    """One searchable field of an entity: its token sequence (for phrases) and set."""

    tokens: tuple[str, ...]
    terms: frozenset[str]

    @classmethod
    def of(cls, text: str | None) -> _Field | None:
        if text is None:
            return None
        tokens = analyse(text)
        return cls(tokens, frozenset(tokens))

    def has_sequence(self, seq: tuple[str, ...]) -> bool:
        if len(seq) == 1:
            return seq[0] in self.terms
        if not self.terms.issuperset(seq):
            return False
        n = len(seq)
        toks = self.tokens
        return any(toks[i : i + n] == seq for i in range(len(toks) - n + 1) if toks[i] == seq[0])


def _fields(*texts: str | None) -> tuple[_Field, ...]:
    return tuple(f for f in (_Field.of(t) for t in texts) if f is not None)


# --- entities -----------------------------------------------------------------------


@dataclass(slots=True)
class _Entity:
    """A content item or a space entity, flattened to what the clauses read.

    A field an entity does not have is None or empty, so that every positive clause on it
    is false and every negated one true (semantics.md: "An item without a value ...").
    """

    eid: str
    is_space: bool
    type: str
    status: str
    archived_space: bool
    space_key: str | None
    space_fold: str | None
    space_type: str | None
    categories: frozenset[str]
    num: int | None = None
    title: str | None = None
    title_fold: str | None = None
    title_field: tuple[_Field, ...] = ()
    text_fields: tuple[_Field, ...] = ()
    space_title_field: tuple[_Field, ...] = ()
    creator: str | None = None
    creator_name_field: tuple[_Field, ...] = ()
    contributors: frozenset[str] = frozenset()
    watchers: frozenset[str] = frozenset()
    mentions: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    macros: frozenset[str] = frozenset()
    page_status: str | None = None
    parent: int | None = None
    parent_title_fold: str | None = None
    parent_title_field: tuple[_Field, ...] = ()
    container: int | None = None
    ancestors: frozenset[int] = frozenset()
    created: datetime | None = None
    lastmodified: datetime | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


def _instant(moment: datetime) -> datetime:
    """An aware datetime as a UTC instant truncated to whole seconds.

    Always UTC: Python compares two datetimes that share a tzinfo object by wall clock,
    ignoring offsets, so mixing zones without converting would be silently wrong.
    """
    if moment == dates.END_OF_TIME:
        return dates.END_OF_TIME  # "after every item": kept past the last whole second
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:  # a bound past the calendar's edge, in a zone that pushes it out
        return dates.END_OF_TIME if moment.year > 5000 else dates.START_OF_TIME


def _fold(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.casefold() for v in values)


# --- resolved clause values -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    text: str
    number: bool  # written as an unquoted number


_Resolved = _Literal | int | str | datetime | dates.Interval


def _strip_quotes(value: str) -> str:
    """``title = "\\"A\\""`` means ``title = "A"``: strip one layer of inner quotes."""
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    return value


def _number(value: Any) -> Decimal | None:
    """A JSON value as an exact number, or None when it is not one (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return Decimal(repr(value))
    return Decimal(value)


def _string_form(value: Any) -> str:
    """How a property value reads as text: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


_MISSING = object()


def _property(properties: Mapping[str, Any], key: str, path: tuple[str, ...]) -> Any:
    """``properties[key][p0][p1]...``; ``_MISSING`` when absent or null."""
    if key not in properties:
        return _MISSING
    value = properties[key]
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return _MISSING if value is None else value


def _levenshtein_within(a: str, b: str, limit: int) -> bool:
    """Levenshtein distance (insert, delete, substitute) of a and b is at most ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    """``*`` any run, ``?`` one character, a backslash makes the next character literal."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.S)


_TextMatcher = Callable[[tuple[_Field, ...]], bool]


def _never(_fields: tuple[_Field, ...]) -> bool:
    return False


# --- the evaluator ------------------------------------------------------------------


class ReferenceEvaluator:
    """Evaluates normalised CQL over a loaded site (``index.site.loader.load_site``)."""

    def __init__(self, site: Any) -> None:
        self._site = site
        self._users: Mapping[str, Any] = site.users
        spaces: Mapping[str, Any] = site.spaces
        self._spaces_by_fold = {key.casefold(): space for key, space in spaces.items()}
        items: Mapping[str, Any] = site.content
        self._entities: dict[str, _Entity] = {}
        self._content_ids: list[str] = []
        self._space_ids: list[str] = []
        for item in items.values():
            entity = self._content_entity(item, items)
            self._entities[entity.eid] = entity
            self._content_ids.append(entity.eid)
        for space in spaces.values():
            entity = self._space_entity(space)
            self._entities[entity.eid] = entity
            self._space_ids.append(entity.eid)
        self._content_ids.sort(key=int)
        self._space_ids.sort(key=lambda eid: (eid.casefold(), eid))
        # The id order (content by number, then spaces by key) as one rank per entity:
        # the default order, the ``ORDER BY id`` key and the final tie-break.
        self._rank = {eid: n for n, eid in enumerate(self._content_ids + self._space_ids)}
        vocab: set[str] = set()
        for entity in self._entities.values():
            for group in (entity.text_fields, entity.space_title_field,
                          entity.creator_name_field):
                for f in group:
                    vocab.update(f.terms)
        self._vocab = frozenset(vocab)
        self._expansions: dict[tuple[str, str], frozenset[str]] = {}

    # -- building entities ----------------------------------------------------------

    def _ancestors(self, item: Any, items: Mapping[str, Any]) -> frozenset[int]:
        """Everything above ``item``: parents up the tree, or container then its parents.

        Computed here from ``parent_id``/``container_id`` rather than read from the
        loader's ``ancestors``, so a loader mistake shows up as a disagreement.
        """
        out: list[int] = []
        seen = {item.id}
        current = item
        while True:
            up = current.parent_id or current.container_id
            if up is None or up in seen or up not in items:
                return frozenset(out)
            out.append(int(up))
            seen.add(up)
            current = items[up]

    def _content_entity(self, item: Any, items: Mapping[str, Any]) -> _Entity:
        space = self._spaces_by_fold.get(item.space.casefold())
        creator = self._users.get(item.creator)
        parent = items.get(item.parent_id) if item.parent_id is not None else None
        labels = list(item.labels)
        text_sources = [item.title, item.text, " ".join(labels) if labels else None,
                        item.file_name]
        return _Entity(
            eid=item.id,
            is_space=False,
            type=item.type,
            status=item.status,
            archived_space=space is not None and space.status == "archived",
            space_key=item.space,
            space_fold=item.space.casefold(),
            space_type=space.type if space is not None else None,
            categories=_fold(space.categories) if space is not None else frozenset(),
            num=int(item.id),
            title=item.title,
            title_fold=item.title.casefold(),
            title_field=_fields(item.title),
            text_fields=_fields(*text_sources),
            space_title_field=_fields(space.name if space is not None else None),
            creator=item.creator,
            creator_name_field=_fields(creator.display_name if creator is not None else None),
            contributors=frozenset(item.contributors) | {item.creator},
            watchers=frozenset(item.watchers),
            mentions=frozenset(item.mentions),
            labels=_fold(labels),
            macros=_fold(item.macros),
            page_status=item.page_status.casefold() if item.page_status is not None else None,
            parent=int(item.parent_id) if item.parent_id is not None else None,
            parent_title_fold=parent.title.casefold() if parent is not None else None,
            parent_title_field=_fields(parent.title if parent is not None else None),
            container=int(item.container_id) if item.container_id is not None else None,
            ancestors=self._ancestors(item, items),
            created=_instant(item.created),
            lastmodified=_instant(item.lastmodified or item.created),
            properties=item.properties or {},
        )

    def _space_entity(self, space: Any) -> _Entity:
        name_field = _fields(space.name)
        return _Entity(
            eid=f"space:{space.key}",
            is_space=True,
            type="space",
            status="current",
            archived_space=space.status == "archived",
            space_key=space.key,
            space_fold=space.key.casefold(),
            space_type=space.type,
            categories=_fold(space.categories),
            title=space.name,
            title_fold=space.name.casefold(),
            title_field=name_field,
            text_fields=_fields(space.name, space.description or None),
            space_title_field=name_field,
        )

    # -- the public entry point -----------------------------------------------------

    def search(
        self,
        query: Query,
        *,
        account_id: str | None = None,
        context: SearchContext | None = None,
        hidden_spaces: frozenset[str] = frozenset(),
        hidden_types: frozenset[str] = frozenset(),
        caller: Any = None,
    ) -> list[str]:
        """Ids of the matching entities, in ORDER BY order (or id order without one).

        ``caller`` (a ``UserCaller``, ``AppCaller`` or ``AnonymousCaller``) applies view
        permissions (docs/permissions.md), decided item by item by ``ReferenceAccess``; None is
        the operator, who sees everything.

        ``hidden_spaces`` is the policy mask (content in those spaces does not exist for
        this search; space entities stay visible) and ``hidden_types`` the types strict
        scopes hide (``"space"`` there hides space entities too). Raises
        :class:`cql.CqlError` (``needs_context``, ``permission``) with an empty query text
        and the span of the offending value.
        """
        query = cql.normalize(query)
        ctx = context or SearchContext()
        access = ReferenceAccess(self._site, caller) if caller is not None else None
        run = _Run(self, account_id, ctx)
        run.access = access
        run.resolve(query.where)  # errors first, in source order, before any matching
        universe = self._universe(query.where, ctx, hidden_spaces, hidden_types)
        if access is not None:
            universe = {eid for eid in universe if access.may_view(eid)}
        matched = universe if query.where is None else run.evaluate(query.where, universe)
        return self._order(matched, query)

    # -- universe and order ---------------------------------------------------------

    def _universe(self, where: Expr | None, ctx: SearchContext,
                  hidden_spaces: frozenset[str], hidden_types: frozenset[str]) -> set[str]:
        statuses = set(ctx.content_statuses)
        hidden = {key.casefold() for key in hidden_spaces}
        out: set[str] = set()
        for eid in self._content_ids:
            e = self._entities[eid]
            if e.status not in statuses or e.type in hidden_types or e.space_fold in hidden:
                continue
            if not self._archive_allows(e.archived_space, ctx):
                continue
            out.add(eid)
        if _names_space(where, negated=False) and "space" not in hidden_types:
            for eid in self._space_ids:
                if not self._archive_allows(self._entities[eid].archived_space, ctx):
                    continue
                out.add(eid)
        return out

    @staticmethod
    def _archive_allows(archived_space: bool, ctx: SearchContext) -> bool:
        """``includeArchivedSpaces`` adds archived spaces; ``excludeCurrentSpaces`` keeps
        only them."""
        if ctx.exclude_current_spaces:
            return archived_space
        return ctx.include_archived_spaces or not archived_space

    def _order(self, matched: set[str], query: Query) -> list[str]:
        # Stable sorts from the last key to the first give a lexicographic multi-key order
        # in which each key keeps its own direction; the id sort first is the tie-break.
        ordered = sorted(matched, key=self._rank.__getitem__)
        for key in reversed(query.order_by):
            ordered.sort(key=self._sort_value(key.field), reverse=key.descending)
        return ordered

    def _sort_value(self, name: str) -> Callable[[str], Any]:
        entities = self._entities

        def dated(attr: str) -> Callable[[str], Any]:
            def value(eid: str) -> tuple[int, datetime | None]:
                moment = getattr(entities[eid], attr)
                return (0, None) if moment is None else (1, moment)

            return value

        if name in ("created", "lastmodified"):
            return dated(name)
        if name == "title":
            return lambda eid: entities[eid].title_fold or ""
        if name == "type":
            return lambda eid: entities[eid].type
        if name == "space":
            return lambda eid: entities[eid].space_fold or ""
        if name == "id":
            return self._rank.__getitem__
        raise ValueError(f"not a sortable field: {name}")  # the validator prevents this

    # -- text ----------------------------------------------------------------------

    def expand(self, kind: str, text: str, vocab: frozenset[str] | None = None) -> frozenset[str]:
        """The indexed terms a wildcard pattern or fuzzy word stands for."""
        if vocab is None:
            cache_key = (kind, text)
            hit = self._expansions.get(cache_key)
            if hit is not None:
                return hit
        terms = vocab if vocab is not None else self._vocab
        if kind == "wildcard":
            rx = _wildcard_regex(text)
            out = frozenset(t for t in terms if rx.fullmatch(t))
        else:
            word = text.lower()
            out = frozenset(t for t in terms if _levenshtein_within(word, t, 2))
        if vocab is None:
            self._expansions[(kind, text)] = out
        return out

    def compile_text(self, tree: textsearch.TextQuery,
                     vocab: frozenset[str] | None = None) -> _TextMatcher | None:
        """A predicate over an entity's fields, or None for a part with no terms at all.

        A word that analyses to nothing (``!!``) is dropped, as Lucene and Whoosh drop it;
        a group whose parts were all dropped is dropped too. A query left with nothing
        matches nothing.
        """
        if isinstance(tree, textsearch.Term | textsearch.Phrase):
            seq = analyse(tree.text)
            if not seq:
                return None
            return lambda fs: any(f.has_sequence(seq) for f in fs)
        if isinstance(tree, textsearch.Wildcard | textsearch.Fuzzy):
            if isinstance(tree, textsearch.Wildcard):
                terms = self.expand("wildcard", tree.pattern, vocab)
            else:
                terms = self.expand("fuzzy", tree.text, vocab)
            return lambda fs: any(not f.terms.isdisjoint(terms) for f in fs)
        if isinstance(tree, textsearch.Any):
            parts = [m for m in (self.compile_text(p, vocab) for p in tree.parts) if m]
            if not parts:
                return None
            return lambda fs: any(m(fs) for m in parts)
        must = [m for m in (self.compile_text(p, vocab) for p in tree.must) if m]
        must_not = [m for m in (self.compile_text(p, vocab) for p in tree.must_not) if m]
        if not tree.must:
            return _never  # "with no must part it matches nothing"
        if not must:
            return None
        return lambda fs: all(m(fs) for m in must) and not any(m(fs) for m in must_not)

    # -- caller data ---------------------------------------------------------------

    def user(self, account_id: str | None) -> Any:
        return self._users.get(account_id) if account_id is not None else None

    @property
    def entities(self) -> Mapping[str, _Entity]:
        return self._entities

    def entity(self, eid: str) -> _Entity:
        return self._entities[eid]


def _names_space(expr: Expr | None, *, negated: bool) -> bool:
    """Does a positive ``type`` clause (not under any NOT) name ``space``?"""
    if expr is None:
        return False
    if isinstance(expr, Clause):
        if negated or expr.field != "type" or expr.op not in (Op.EQ, Op.IN):
            return False
        values = expr.value.items if isinstance(expr.value, List) else (expr.value,)
        return any(isinstance(v, String) and v.value.lower() == "space" for v in values)
    if isinstance(expr, Not):
        return _names_space(expr.operand, negated=True)
    return any(_names_space(child, negated=negated) for child in expr.operands)


_POSITIVE = {Op.NE: Op.EQ, Op.NOT_IN: Op.IN, Op.NOT_CONTAINS: Op.CONTAINS}


class _Run:
    """One search: the caller, the context and the values each clause resolved to."""

    def __init__(self, evaluator: ReferenceEvaluator, account_id: str | None,
                 ctx: SearchContext) -> None:
        self.ev = evaluator
        self.account_id = account_id
        self.ctx = ctx
        self.values: dict[int, list[_Resolved]] = {}
        user = evaluator.user(account_id)
        self.fav_content: frozenset[int] = frozenset(
            int(i) for i in (user.favourite_content if user else ())
        )
        self.fav_spaces = _fold(user.favourite_spaces if user else ())
        self.access: ReferenceAccess | None = None

    def sees_parent(self, e: _Entity) -> bool:
        """``parent.title`` may only compare against a parent the caller may view."""
        return self.access is None or (e.parent is not None
                                       and self.access.may_view(str(e.parent)))

    # -- resolving values (and raising context errors) ------------------------------

    def resolve(self, where: Expr | None) -> None:
        for clause in cql.ast.clauses(where):
            items = clause.value.items if isinstance(clause.value, List) else (clause.value,)
            resolved: list[_Resolved] = []
            for value in items:
                resolved.extend(self._resolve(clause, value))
            self.values[id(clause)] = resolved

    def _need_user(self, call: FunctionCall) -> str:
        if self.account_id is None:
            raise _error(ErrorCode.NEEDS_CONTEXT,
                         f"{call.name}() needs a user: this search has no calling user",
                         call.span)
        return self.account_id

    def _resolve(self, clause: Clause, value: Any) -> list[_Resolved]:
        name = clause.field
        spec = fields.lookup(name)
        kind = spec.kind if spec is not None else None
        if isinstance(value, FunctionCall):
            return self._function(clause, value)
        text = value.value if isinstance(value, String) else value.text
        if name == "favourite" and text != self.account_id:
            raise _error(ErrorCode.PERMISSION,
                         f"favourite can only name the calling user; use currentUser() "
                         f"instead of {text!r}", value.span)
        if (name == "space.type" and text.lower() in ("favourite", "favorite")
                and self.account_id is None):
            # Reading the caller's favourite spaces, like favouriteSpaces(): needs a user.
            raise _error(ErrorCode.NEEDS_CONTEXT,
                         f"space.type = {text} needs a user: this search has no calling user",
                         value.span)
        if kind is fields.Kind.CONTENT:
            return [int(text)]
        if kind is fields.Kind.DATE:
            interval = dates.literal_interval(text, self.ctx.zone)
            return [dates.Interval(_instant(interval.start), _instant(interval.end))]
        return [_Literal(text, isinstance(value, Number))]

    def _function(self, clause: Clause, call: FunctionCall) -> list[_Resolved]:
        name = call.name
        if name == "currentUser":
            return [self._need_user(call)]
        if name == "currentSpace":
            if self.ctx.space_key is None:
                raise _error(ErrorCode.NEEDS_CONTEXT,
                             "currentSpace() needs a space in the search context", call.span)
            return [_Literal(self.ctx.space_key, False)]
        if name in fields.DATE_FUNCTIONS:
            increment = None
            if call.args:
                arg = call.args[0]
                raw = arg.text if isinstance(arg, Number) else arg.value
                increment = dates.parse_increment(raw, lenient=True)
            moment = dates.evaluate_function(name, increment, self.ctx.now, self.ctx.zone,
                                             self.ctx.week_start)
            return [_instant(moment)]
        account = self._need_user(call)
        user = self.ev.user(account)
        args = [int(a.text if isinstance(a, Number) else a.value) for a in call.args]
        if name == "favouriteSpaces":
            keys = list(user.favourite_spaces) if user else []
            return [_Literal(k, False) for k in keys]
        if name == "recentlyViewedSpaces":
            keys = list(user.recently_viewed_spaces) if user else []
            return [_Literal(k, False) for k in keys[: args[0]]]
        if name == "recentlyViewedContent":
            ids = list(user.recently_viewed_content) if user else []
            skip = args[1] if len(args) > 1 else 0
            return [int(i) for i in ids[skip : skip + args[0]]]
        raise ValueError(f"unknown function {name}")  # the validator prevents this

    # -- evaluation ---------------------------------------------------------------

    def evaluate(self, expr: Expr, universe: set[str]) -> set[str]:
        if isinstance(expr, Clause):
            if expr.op in _POSITIVE:
                return universe - self._clause(expr, _POSITIVE[expr.op], universe)
            return self._clause(expr, expr.op, universe)
        if isinstance(expr, Not):
            return universe - self.evaluate(expr.operand, universe)
        if isinstance(expr, And):
            out = self.evaluate(expr.operands[0], universe)
            for child in expr.operands[1:]:
                out &= self.evaluate(child, universe)
            return out
        assert isinstance(expr, Or)
        out = set()
        for child in expr.operands:
            out |= self.evaluate(child, universe)
        return out

    def _clause(self, clause: Clause, op: Op, universe: set[str]) -> set[str]:
        predicate = self._predicate(clause, op, self.values[id(clause)], universe)
        entities = self.ev.entities
        return {eid for eid in universe if predicate(entities[eid])}

    def _predicate(self, clause: Clause, op: Op, values: list[_Resolved],
                   universe: set[str]) -> Callable[[_Entity], bool]:
        name = clause.field
        if name.startswith(fields.PROPERTY_PREFIX):
            return self._property_predicate(clause, op, values, universe)
        if op is Op.CONTAINS:
            (value,) = values
            assert isinstance(value, _Literal)
            matcher = self.ev.compile_text(textsearch.parse_text(value.text)) or _never
            attr = {"text": "text_fields", "title": "title_field",
                    "space.title": "space_title_field",
                    "creator.fullname": "creator_name_field",
                    "parent.title": "parent_title_field"}[name]
            if name == "parent.title":
                return lambda e: matcher(e.parent_title_field) and self.sees_parent(e)
            return lambda e: matcher(getattr(e, attr))
        if name in ("created", "lastmodified"):
            (value,) = values
            return _date_predicate(name, op, value)
        texts = [v.text for v in values if isinstance(v, _Literal)]
        ints = frozenset(v for v in values if isinstance(v, int))
        strings = frozenset(v for v in values if isinstance(v, str))  # account ids
        folded = _fold(texts)
        if name == "id":
            return lambda e: e.num in ints
        if name == "parent":
            return lambda e: e.parent in ints
        if name == "container":
            return lambda e: e.container in ints
        if name == "ancestor":
            return lambda e: not e.ancestors.isdisjoint(ints)
        if name == "type":
            lowered = frozenset(t.lower() for t in texts)
            return lambda e: e.type in lowered
        if name == "space":
            return lambda e: e.space_fold in folded
        if name == "space.type":
            wants_favourite = bool(folded & {"favourite", "favorite"})
            plain = frozenset(t.lower() for t in texts)
            fav = self.fav_spaces
            return lambda e: e.space_type in plain or (
                wants_favourite and e.space_fold is not None and e.space_fold in fav)
        if name == "space.category":
            return lambda e: not e.categories.isdisjoint(folded)
        if name == "title":
            wanted = frozenset(_strip_quotes(t).casefold() for t in texts)
            return lambda e: e.title_fold in wanted
        if name == "parent.title":
            wanted = frozenset(_strip_quotes(t).casefold() for t in texts)
            return lambda e: e.parent_title_fold in wanted and self.sees_parent(e)
        if name == "label":
            return lambda e: not e.labels.isdisjoint(folded)
        if name == "macro":
            return lambda e: not e.macros.isdisjoint(folded)
        if name == "pageStatus":
            # Like title, one layer of quotes is stripped: Confluence's own example
            # writes pageStatus not in ("\"In progress\"", ...).
            statuses = frozenset(_strip_quotes(t).casefold() for t in texts)
            return lambda e: e.page_status in statuses
        accounts = strings | frozenset(texts)
        if name == "creator":
            return lambda e: e.creator in accounts
        if name == "contributor":
            return lambda e: not e.contributors.isdisjoint(accounts)
        if name == "mention":
            return lambda e: not e.mentions.isdisjoint(accounts)
        if name == "watcher":
            return lambda e: not e.watchers.isdisjoint(accounts)
        if name == "favourite":
            fav = self.fav_content
            return lambda e: e.num is not None and e.num in fav
        raise ValueError(f"the reference evaluator does not know the field {name!r}")

    def _property_predicate(self, clause: Clause, op: Op, values: list[_Resolved],
                            universe: set[str]) -> Callable[[_Entity], bool]:
        key, path = fields.property_parts(clause.field)
        literals = [v for v in values if isinstance(v, _Literal)]

        def get(e: _Entity) -> Any:
            return _property(e.properties, key, path)

        if op is Op.CONTAINS:
            forms: dict[str, tuple[_Field, ...]] = {}
            vocab: set[str] = set()
            for eid in universe:
                found = get(self.ev.entity(eid))
                if found is not _MISSING:
                    forms[eid] = _fields(_string_form(found))
                    for f in forms[eid]:
                        vocab.update(f.terms)
            tree = textsearch.parse_text(literals[0].text)
            matcher = self.ev.compile_text(tree, frozenset(vocab)) or _never
            return lambda e: e.eid in forms and matcher(forms[e.eid])

        def equal(found: Any, lit: _Literal) -> bool:
            number = _number(found)
            if lit.number and number is not None:
                return number == _decimal(lit.text)
            return _string_form(found).casefold() == lit.text.casefold()

        if op in (Op.EQ, Op.IN):
            def eq(e: _Entity) -> bool:
                found = get(e)
                return found is not _MISSING and any(equal(found, lit) for lit in literals)
            return eq

        (lit,) = literals
        bound = _decimal(lit.text) if lit.number else None
        compare = _COMPARE[op]

        def ranged(e: _Entity) -> bool:
            found = get(e)
            if found is _MISSING or bound is None:
                return False
            number = _number(found)
            return number is not None and compare(number, bound)

        return ranged


_COMPARE: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: lambda a, b: a == b,
    Op.GT: lambda a, b: a > b,
    Op.GE: lambda a, b: a >= b,
    Op.LT: lambda a, b: a < b,
    Op.LE: lambda a, b: a <= b,
}


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _date_predicate(name: str, op: Op, value: _Resolved) -> Callable[[_Entity], bool]:
    if isinstance(value, dates.Interval):
        start, end = value.start, value.end
        # A literal is the interval [start, end) of its day or minute (semantics.md).
        test: Callable[[datetime], bool] = {
            Op.EQ: lambda t: start <= t < end,
            Op.GT: lambda t: t >= end,
            Op.GE: lambda t: t >= start,
            Op.LT: lambda t: t < start,
            Op.LE: lambda t: t < end,
        }[op]
    else:
        assert isinstance(value, datetime)
        instant = value
        compare = _COMPARE[op]
        if instant in (dates.START_OF_TIME, dates.END_OF_TIME):
            # A saturated instant lies before (or after) every item's date.
            before_all = instant == dates.START_OF_TIME
            outcome = op in ((Op.GT, Op.GE, Op.NE) if before_all else (Op.LT, Op.LE, Op.NE))

            def test(t: datetime) -> bool:
                return outcome
        else:
            def test(t: datetime) -> bool:
                return compare(t, instant)

    def predicate(e: _Entity) -> bool:
        moment = getattr(e, name)
        return moment is not None and test(moment)

    return predicate


class ReferenceAccess:
    """View permissions for one caller, decided per entity the slow, obvious way: walk from
    the item up through its parents and containers and check every step (docs/permissions.md).
    Written without the engine's permission module so that the two can disagree."""

    def __init__(self, site: Any, caller: Any) -> None:
        self.site = site
        kind = getattr(caller, "caller", None)
        self.account: str | None = None
        self.kind = "anonymous"
        if kind == "user":
            self.account = caller.account_id
        elif kind == "app":
            self.account = caller.acting_for or caller.app_id
        if self.account is not None:
            if self.account in getattr(site, "rejected_accounts", ()):
                raise EngineError("permission", f"account {self.account!r} cannot search")
            user = site.users.get(self.account)
            if user is not None and not user.active:
                raise EngineError("permission", f"account {self.account!r} is deactivated")
            default = "app" if kind == "app" and caller.acting_for is None else "user"
            self.kind = user.kind if user is not None else default
            self.guest_space = user.guest_space if user is not None else None
        self.groups = {name for name, g in getattr(site, "groups", {}).items()
                       if self.account is not None and self.account in g.members}
        raw = site.extras.get("site.json")
        self.anonymous_site = isinstance(raw, dict) and raw.get("anonymous_access") is True
        self._memo: dict[str, bool] = {}

    def _named(self, grant: Any) -> bool:
        return self.account is not None and (
            self.account in grant.users or any(g in self.groups for g in grant.groups))

    def space(self, key: str) -> bool:
        space = self.site.spaces[key]
        if self.kind == "guest":
            return key == self.guest_space
        licensed = self.kind in ("user", "app")
        if space.permissions is None:
            return licensed
        view = space.permissions.view
        if view.anonymous and self.anonymous_site:
            return True
        if self.kind == "anonymous":
            return False
        return (view.all_licensed_users and licensed) or self._named(view)

    def admin(self, key: str) -> bool:
        space = self.site.spaces[key]
        return (self.kind in ("user", "app") and space.permissions is not None
                and self._named(space.permissions.administer))

    def may_view(self, eid: str) -> bool:
        if eid.startswith("space:"):
            return self.space(eid.removeprefix("space:"))
        if eid not in self._memo:
            self._memo[eid] = self._item(eid)
        return self._memo[eid]

    def _item(self, eid: str) -> bool:
        items = self.site.content
        item = items[eid]
        if not self.space(item.space):
            return False
        # Read restrictions: the item's and every ancestor's (tree parents, containers).
        seen: set[str] = set()
        current: Any = item
        while current is not None and current.id not in seen:
            seen.add(current.id)
            rr = current.read_restrictions
            if rr is not None and (rr.users or rr.groups) and not self._named(rr):
                return False
            up = current.parent_id or current.container_id
            current = items.get(up) if up is not None else None
        # Draft and trash: the item's own status and its container's (not tree parents').
        holder: Any = item
        while holder is not None:
            if holder.status == "draft" and self.account not in (
                    {holder.creator} | set(holder.contributors)):
                return False
            if holder.status == "trashed" and not self.admin(holder.space):
                return False
            holder = items.get(holder.container_id) if holder.container_id else None
        return True


def _error(code: ErrorCode, message: str, span: Span) -> CqlError:
    """An error positioned on ``span``; the caller re-attaches the query text."""
    return CqlError(code, message, "", span.start, span.end)

