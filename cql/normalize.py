"""Rewrites a valid query into its canonical meaning-preserving form.

Each pass is a small pure function ``Query -> Query`` that returns the very same object
when it has nothing to do, so "did it fire" is an identity check. ``normalize`` runs the
passes until none fires; every pass is idempotent and so is the whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cql import fields, functions
from cql.ast import Clause, Expr, FunctionCall, List, Not, Query, Scalar, String

Pass = Callable[[Query], Query]


def _map_clauses(query: Query, fn: Callable[[Clause], Clause]) -> Query:
    """Apply ``fn`` to every clause; keep unchanged subtrees (and the query) identical."""

    def walk(node: Expr) -> Expr:
        if isinstance(node, Clause):
            return fn(node)
        if isinstance(node, Not):
            inner = walk(node.operand)
            return node if inner is node.operand else replace(node, operand=inner)
        ops = tuple(walk(child) for child in node.operands)
        same = all(a is b for a, b in zip(ops, node.operands, strict=True))
        return node if same else replace(node, operands=ops)

    return _rebuild(query, walk)


def _map_values(clause: Clause, fn: Callable[[Scalar], Scalar]) -> Clause:
    """Apply ``fn`` to the clause's value, or to each item of its IN list."""
    value = clause.value
    if isinstance(value, List):
        items = tuple(fn(v) for v in value.items)
        if all(a is b for a, b in zip(items, value.items, strict=True)):
            return clause
        return replace(clause, value=replace(value, items=items))
    new = fn(value)
    return clause if new is value else replace(clause, value=new)


def _rename_fields(query: Query, rename: Callable[[str], str]) -> Query:
    """Rename the fields of every clause and sort key (unchanged nodes stay identical)."""

    def fix(clause: Clause) -> Clause:
        name = rename(clause.field)
        return clause if name == clause.field else replace(clause, field=name)

    out = _map_clauses(query, fix)
    keys = tuple(k if rename(k.field) == k.field else replace(k, field=rename(k.field))
                 for k in query.order_by)
    if any(a is not b for a, b in zip(keys, query.order_by, strict=True)):
        out = replace(out, order_by=keys)
    return out


def canonical_names(query: Query) -> Query:
    """Field and function names in their registered spelling (``LastModified`` etc.)."""

    def fix_value(value: Scalar) -> Scalar:
        if isinstance(value, FunctionCall):
            name = functions.canonical_name(value.name)
            return value if name == value.name else replace(value, name=name)
        return value

    functions_fixed = _map_clauses(query, lambda clause: _map_values(clause, fix_value))
    return _rename_fields(functions_fixed, fields.canonical_name)


def _alias_target(name: str) -> str:
    spec = fields.lookup(name)
    return spec.alias_of if spec is not None and spec.alias_of else name


def field_aliases(query: Query) -> Query:
    """``favorite`` -> ``favourite``, ``content`` -> ``id``, ``space.key`` -> ``space``,
    ``siteSearch`` -> ``text``."""
    return _rename_fields(query, _alias_target)


def smartlink_to_embed(query: Query) -> Query:
    """``type = smartlink`` (any case; ``=``, ``!=``, ``IN``, ``NOT IN``) -> ``embed``."""

    def fix_value(value: Scalar) -> Scalar:
        if isinstance(value, String) and value.value.lower() == "smartlink":
            return replace(value, value="embed")
        return value

    def fix(clause: Clause) -> Clause:
        if fields.canonical_name(clause.field) != "type":
            return clause
        return _map_values(clause, fix_value)

    return _map_clauses(query, fix)


def _rebuild(query: Query, fn: Callable[[Expr], Expr]) -> Query:
    if query.where is None:
        return query
    where = fn(query.where)
    return query if where is query.where else replace(query, where=where)


def flatten(query: Query) -> Query:
    """``a AND (b AND c)`` -> ``a AND b AND c``; likewise for OR."""

    def walk(node: Expr) -> Expr:
        if isinstance(node, Clause):
            return node
        if isinstance(node, Not):
            inner = walk(node.operand)
            return node if inner is node.operand else replace(node, operand=inner)
        changed = False
        ops: list[Expr] = []
        for child in node.operands:
            new = walk(child)
            changed |= new is not child
            if type(new) is type(node):
                ops.extend(new.operands)  # type: ignore[union-attr]
                changed = True
            else:
                ops.append(new)
        return replace(node, operands=tuple(ops)) if changed else node

    return _rebuild(query, walk)


def _dedupe(items: tuple) -> tuple:  # type: ignore[type-arg]
    seen: list[object] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return tuple(seen)


def drop_duplicates(query: Query) -> Query:
    """Exact duplicate operands of AND/OR, and duplicate values in IN lists, go."""

    def walk(node: Expr) -> Expr:
        if isinstance(node, Clause):
            if isinstance(node.value, List):
                items = _dedupe(node.value.items)
                if len(items) != len(node.value.items):
                    return replace(node, value=replace(node.value, items=items))
            return node
        if isinstance(node, Not):
            inner = walk(node.operand)
            return node if inner is node.operand else replace(node, operand=inner)
        ops = tuple(walk(child) for child in node.operands)
        unique = _dedupe(ops)
        if len(unique) == 1:
            return unique[0]
        if len(unique) == len(ops) and all(a is b for a, b in zip(ops, node.operands,
                                                                  strict=True)):
            return node
        return replace(node, operands=unique)

    out = _rebuild(query, walk)
    keys = _dedupe_sort_keys(out)
    return out if keys == out.order_by and len(keys) == len(out.order_by) else \
        replace(out, order_by=keys)


def _dedupe_sort_keys(query: Query) -> tuple:  # type: ignore[type-arg]
    """A later key on a field already sorted on can never change the order."""
    seen: set[str] = set()
    keys = []
    for key in query.order_by:
        if key.field not in seen:
            seen.add(key.field)
            keys.append(key)
    return tuple(keys)


PASSES: tuple[tuple[str, Pass], ...] = (
    ("canonical_names", canonical_names),
    ("field_aliases", field_aliases),
    ("smartlink_to_embed", smartlink_to_embed),
    ("flatten", flatten),
    ("drop_duplicates", drop_duplicates),
)


def is_normal(query: Query) -> bool:
    """True when no pass would change ``query``, decided in one walk.

    Most saved queries are already normal, and running five passes to learn that costs
    more than parsing them. Each test below is the exact firing condition of one pass;
    tests/test_cql_properties.py checks that this agrees with running the passes.
    """
    keys = query.order_by
    if keys:
        names = [k.field for k in keys]
        if len(set(names)) != len(names):  # drop_duplicates
            return False
        for name in names:
            if fields.canonical_name(name) != name or _alias_target(name) != name:
                return False
    stack: list[Expr] = [query.where] if query.where is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, Clause):
            name = node.field
            if fields.canonical_name(name) != name or _alias_target(name) != name:
                return False  # canonical_names, field_aliases
            value = node.value
            items = value.items if isinstance(value, List) else (value,)
            if isinstance(value, List) and _has_duplicates(items):
                return False  # drop_duplicates
            for item in items:
                if isinstance(item, FunctionCall):
                    if functions.canonical_name(item.name) != item.name:
                        return False  # canonical_names
                elif (name == "type" and isinstance(item, String)
                      and item.value.lower() == "smartlink"):
                    return False  # smartlink_to_embed
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            kind = type(node)
            for child in node.operands:
                if type(child) is kind:
                    return False  # flatten
            if _has_duplicates(node.operands):
                return False  # drop_duplicates
            stack.extend(node.operands)
    return True


def _has_duplicates(items: tuple) -> bool:  # type: ignore[type-arg]
    return any(items[j] == items[i] for i in range(len(items)) for j in range(i))


def normalize_report(query: Query) -> tuple[Query, list[str]]:
    """The normalized query and the names of the passes that changed it, in order."""
    if is_normal(query):
        return query, []
    return run_passes(query)


def run_passes(query: Query) -> tuple[Query, list[str]]:
    """Run every pass until none fires (``normalize_report`` without the shortcut)."""
    fired: list[str] = []
    for _ in range(10):  # each round only shrinks the tree; two rounds always suffice
        changed = False
        for name, fn in PASSES:
            new = fn(query)
            if new is not query:
                if name not in fired:
                    fired.append(name)
                query, changed = new, True
        if not changed:
            break
    return query, fired


def normalize(query: Query) -> Query:
    """Canonical form of ``query``: ``normalize(normalize(q)) == normalize(q)``."""
    return normalize_report(query)[0]
