"""What both baselines share: the meaning of values, functions, dates and the universe.

Why not reuse the engine's compiler for this: a baseline that calls into ``index.core.compiler``
would agree with the engine by construction, and the comparison would prove nothing. What
is shared is the *language* layer (``cql``: parsing, normalisation, date literals and
functions, the text-search syntax) and the analyzer (``index.core.analysis.analyze``), which
docs/semantics.md defines as part of the meaning rather than of any engine. Everything
else (which items a clause selects) each baseline implements on its own storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cql import dates, textsearch
from cql.ast import Clause, Date, Expr, FunctionCall, List, Not, Number, Op, Scalar, String
from cql.errors import CqlError, ErrorCode
from index.core.analysis import analyze
from index.core.context import SearchContext

#: Distance of ``word~`` (docs/semantics.md: "within Levenshtein distance 2").
FUZZY_DISTANCE = 2
#: The full-text fields ``text ~`` searches (title, body text, labels, file name).
TEXT_COLUMNS = ("title", "body", "labels", "file_name")

#: CQL field -> (keyword field of a baseline's index, value normaliser): the exact-match
#: fields the Whoosh and tantivy baselines both index as untokenised keywords.
KEYWORD_FIELDS: dict[str, tuple[str, Callable[[str], str]]] = {
    "id": ("id", str),
    "type": ("type", str.lower),
    "space": ("space", str.lower),
    "label": ("label", str.lower),
    "macro": ("macro", str.lower),
    "pageStatus": ("page_status", str.lower),
    "creator": ("creator", str),
    "contributor": ("contributor", str),
    "mention": ("mention", str),
    "watcher": ("watcher", str),
    "parent": ("parent", str),
    "container": ("container", str),
    "ancestor": ("ancestor", str),
}

_NEGATED = {Op.NE: Op.EQ, Op.NOT_IN: Op.IN, Op.NOT_CONTAINS: Op.CONTAINS}


class Unsupported(Exception):
    """A query this baseline cannot express; the harness reports it instead of timing it."""


def epoch(moment: datetime) -> int:
    """Whole seconds since the epoch; item dates and function instants are truncated."""
    return int(moment.timestamp() // 1)


def title_key(value: str) -> str:
    """``title =`` compares case-insensitively after stripping one layer of quotes."""
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    return value.lower()


def base_op(op: Op) -> tuple[Op, bool]:
    """``!=`` -> (``=``, negated) and so on: every negative form is NOT of the positive."""
    return (_NEGATED[op], True) if op in _NEGATED else (op, False)


def levenshtein_within(a: str, b: str, limit: int = FUZZY_DISTANCE) -> bool:
    """Plain dynamic-programming Levenshtein (insert, delete, substitute) with a cut-off."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        best = i
        for j, cb in enumerate(b, 1):
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            cur.append(value)
            best = min(best, value)
        if best > limit:
            return False
        prev = cur
    return prev[-1] <= limit


def names_space_type(expr: Expr | None) -> bool:
    """True when a positive ``type = space`` / ``type IN (.., space, ..)`` clause, not under
    any NOT, is in the query: only then do space entities join the universe."""

    def walk(node: Expr, positive: bool) -> bool:
        if isinstance(node, Clause):
            if not positive or node.field != "type" or node.op not in (Op.EQ, Op.IN):
                return False
            items = node.value.items if isinstance(node.value, List) else (node.value,)
            return any(isinstance(v, String) and v.value.lower() == "space" for v in items)
        if isinstance(node, Not):
            return walk(node.operand, not positive)
        return any(walk(child, positive) for child in node.operands)

    return expr is not None and walk(expr, True)


def matches_tokens(tree: textsearch.TextQuery, tokens: list[str]) -> bool:
    """A text query against one short field's stemmed tokens (space names, user names)."""
    if isinstance(tree, textsearch.Term | textsearch.Phrase):
        want = analyze(tree.text)
        n = len(want)
        return n > 0 and any(tokens[i : i + n] == want for i in range(len(tokens) - n + 1))
    if isinstance(tree, textsearch.Wildcard):
        import fnmatch

        return any(fnmatch.fnmatchcase(t, tree.pattern.replace("[", "[[]")) for t in tokens)
    if isinstance(tree, textsearch.Fuzzy):
        word = tree.text.lower()
        return any(levenshtein_within(word, t) for t in tokens)
    if isinstance(tree, textsearch.Any):
        return any(matches_tokens(p, tokens) for p in tree.parts)
    return (
        bool(tree.must)
        and all(matches_tokens(p, tokens) for p in tree.must)
        and not any(matches_tokens(p, tokens) for p in tree.must_not)
    )


@dataclass(frozen=True)
class SpaceFacts:
    key: str
    name: str
    type: str
    archived: bool
    categories: tuple[str, ...]
    description: str


class Resolver:
    """Turns clause values into plain strings and date bounds for one search."""

    def __init__(
        self,
        spaces: Mapping[str, SpaceFacts],
        users: Mapping[str, Mapping[str, Any]],
        account_id: str | None,
        context: SearchContext,
    ) -> None:
        self.spaces = spaces
        self.users = users
        self.account_id = account_id
        self.context = context

    def _fail(self, code: ErrorCode, message: str, node: Any) -> CqlError:
        return CqlError(code, message, "", node.span.start, node.span.end)

    def account(self, node: Any) -> str:
        if self.account_id is None:
            raise self._fail(ErrorCode.NEEDS_CONTEXT, "needs a signed-in user", node)
        return self.account_id

    def user_list(self, attr: str, node: Any) -> list[str]:
        user = self.users.get(self.account(node))
        return list(user.get(attr, [])) if user is not None else []

    def values(self, clause: Clause) -> list[str]:
        """Every value of a clause as text, with list functions expanded."""
        items: Iterable[Scalar] = (
            clause.value.items if isinstance(clause.value, List) else (clause.value,)
        )
        out: list[str] = []
        for item in items:
            if isinstance(item, FunctionCall):
                out.extend(self.function_values(item))
            elif isinstance(item, String):
                out.append(item.value)
            elif isinstance(item, Number | Date):
                out.append(item.text)
        return out

    def function_values(self, call: FunctionCall) -> list[str]:
        args = [a.value if isinstance(a, String) else a.text for a in call.args]
        if call.name == "currentUser":
            return [self.account(call)]
        if call.name == "currentSpace":
            if not self.context.space_key:
                raise self._fail(ErrorCode.NEEDS_CONTEXT, "needs a space in the context", call)
            return [self.context.space_key]
        if call.name == "favouriteSpaces":
            return self.user_list("favourite_spaces", call)
        if call.name == "recentlyViewedSpaces":
            return self.user_list("recently_viewed_spaces", call)[: int(args[0])]
        if call.name == "recentlyViewedContent":
            skip = int(args[1]) if len(args) > 1 else 0
            return self.user_list("recently_viewed_content", call)[skip : skip + int(args[0])]
        raise Unsupported(f"function {call.name}() as a value")

    def favourite_ids(self, clause: Clause) -> list[str]:
        me = self.account(clause)
        for value in self.values(clause):
            if value != me:
                raise self._fail(ErrorCode.PERMISSION, "favourite names only the caller", clause)
        return self.user_list("favourite_content", clause)

    def bounds(self, value: Scalar) -> tuple[int, int]:
        """``[lo, hi)`` in epoch seconds: a literal's day or minute, or one function second.

        With these, every operator is one comparison: ``=`` lo <= t < hi, ``>`` t >= hi,
        ``>=`` t >= lo, ``<`` t < lo, ``<=`` t < hi.
        """
        ctx = self.context
        if isinstance(value, FunctionCall):
            inc = None
            if value.args:
                arg = value.args[0]
                inc = dates.parse_increment(
                    arg.value if isinstance(arg, String) else arg.text, lenient=True
                )
            moment = dates.evaluate_function(value.name, inc, ctx.now, ctx.zone, ctx.week_start)
            t = epoch(moment)
            return t, t + 1
        raw = value.value if isinstance(value, String) else value.text  # type: ignore[union-attr]
        interval = dates.literal_interval(raw, ctx.zone)
        return epoch(interval.start), epoch(interval.end - timedelta(microseconds=1)) + 1

    def spaces_where(self, test: Any) -> list[str]:
        """Lower-cased keys of the spaces passing ``test``."""
        return [key.lower() for key, space in self.spaces.items() if test(space)]

    def space_type_keys(self, clause: Clause) -> list[str]:
        wanted = {v.lower() for v in self.values(clause)}
        favourites: set[str] = set()
        if wanted & {"favourite", "favorite"}:
            favourites = set(self.user_list("favourite_spaces", clause))
        return self.spaces_where(lambda s: s.type in wanted or s.key in favourites)

    def space_category_keys(self, clause: Clause) -> list[str]:
        wanted = {v.lower() for v in self.values(clause)}
        return self.spaces_where(lambda s: any(c.lower() in wanted for c in s.categories))

    def space_title_keys(self, tree: textsearch.TextQuery) -> list[str]:
        return self.spaces_where(lambda s: matches_tokens(tree, analyze(s.name)))

    def people_named(self, tree: textsearch.TextQuery) -> list[str]:
        return [
            account
            for account, user in self.users.items()
            if matches_tokens(tree, analyze(str(user.get("display_name", ""))))
        ]


def space_facts(spaces: Iterable[Any]) -> dict[str, SpaceFacts]:
    """From ``index.site.models.Space`` objects (or their JSON shape)."""
    out: dict[str, SpaceFacts] = {}
    for space in spaces:
        data = space if isinstance(space, Mapping) else space.model_dump(mode="json")
        out[data["key"]] = SpaceFacts(
            key=data["key"],
            name=data["name"],
            type=data["type"],
            archived=data.get("status", "current") == "archived",
            categories=tuple(data.get("categories", [])),
            description=data.get("description", ""),
        )
    return out


def user_facts(users: Iterable[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for user in users:
        data = user if isinstance(user, Mapping) else user.model_dump(mode="json")
        out[data["account_id"]] = dict(data)
    return out
