"""Baseline (b): SQLite FTS5 from the standard library, with side tables and indexes.

One ``items`` row per content item and space entity (single-valued fields as indexed
columns), one side table per multi-valued field (labels, macros, contributors, mentions,
watchers, ancestors) with an index on ``(value, docid)``, and an FTS5 table for text.

Text: FTS5's ``porter`` tokenizer is Porter (1980), not the Porter2 (Snowball English)
analyzer docs/semantics.md specifies, and it would stem differently. So every text field is
analysed here with ``index.core.analysis.analyze`` and stored as its stems joined by spaces, in an
FTS5 table with the ``unicode61`` tokenizer (diacritics kept, ``_`` a token character, as in
``\\w``); query terms are analysed the same way. A phrase in FTS5 never spans columns,
which is exactly "consecutive tokens in one field". Wildcards become FTS5 prefix queries
when they are a plain ``abc*``, otherwise an ``OR`` of the indexed terms that match (found in
an ``fts5vocab`` table with ``GLOB``, whose ``*`` and ``?`` mean what ours do); fuzzy terms
are expanded from the same vocabulary with plain Levenshtein distance 2.

``NOT x`` is ``universe - x``: the WHERE clause is ``universe AND (query)``, and every NOT
is written ``NOT ifnull(x, 0)`` so a missing value (SQL NULL) counts as "does not match" and
so matches the negated form, as docs/semantics.md requires.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cql
from benchmarks.baseline_common import (
    Resolver,
    Unsupported,
    base_op,
    epoch,
    levenshtein_within,
    names_space_type,
    space_facts,
    title_key,
    user_facts,
)
from cql import textsearch
from cql.ast import And, Clause, Expr, Not, Op, Query
from cql.fields import PROPERTY_PREFIX
from index.core.analysis import analyze
from index.core.context import SearchContext

NAME = "sqlite-fts5"
DB_FILE = "bench.sqlite"
CATALOG = "catalog.json"
_SIDE = {
    "label": "labels",
    "macro": "macros",
    "contributor": "contributors",
    "mention": "mentions",
    "watcher": "watchers",
    "ancestor": "ancestors",
}
_COLUMNS: dict[str, tuple[str, Callable[[str], str]]] = {
    "id": ("id", str),
    "type": ("type", str.lower),
    "space": ("space", str.lower),
    "pageStatus": ("page_status", str.lower),
    "creator": ("creator", str),
    "parent": ("parent", str),
    "container": ("container", str),
}
_LOWER_SIDE = frozenset({"label", "macro"})
_TEXT_COLS = ("title", "body", "labels", "file_name")
_ORDER = {
    "created": ("created",),
    "lastmodified": ("lastmodified",),
    "title": ("title_sort",),
    "type": ("type",),
    "space": ("space",),
    "id": ("is_space", "num", "space"),
}
_TIEBREAK = ("is_space", "num", "space")

_SCHEMA = """
CREATE TABLE items(
    docid INTEGER PRIMARY KEY, id TEXT NOT NULL, is_space INTEGER NOT NULL, num INTEGER,
    type TEXT NOT NULL, space TEXT NOT NULL, status TEXT NOT NULL, creator TEXT,
    title_key TEXT, title_sort TEXT, parent TEXT, container TEXT, page_status TEXT,
    parent_title_key TEXT, created INTEGER, lastmodified INTEGER
);
CREATE VIRTUAL TABLE fts USING fts5(
    title, body, labels, file_name, parent_title,
    tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
CREATE VIRTUAL TABLE fts_vocab USING fts5vocab(fts, 'col');
"""
_INDEXES = [
    "CREATE UNIQUE INDEX items_id ON items(id)",
    "CREATE INDEX items_space ON items(space)",
    "CREATE INDEX items_type ON items(type)",
    "CREATE INDEX items_creator ON items(creator)",
    "CREATE INDEX items_parent ON items(parent)",
    "CREATE INDEX items_container ON items(container)",
    "CREATE INDEX items_created ON items(created)",
    "CREATE INDEX items_lastmodified ON items(lastmodified)",
    "CREATE INDEX items_title_key ON items(title_key)",
    "CREATE INDEX items_parent_title_key ON items(parent_title_key)",
    "CREATE INDEX items_page_status ON items(page_status)",
]


def _stems(text: str | None) -> str:
    return " ".join(analyze(text)) if text else ""


def build(site: Any, out_dir: Path, progress: Callable[[int], None] | None = None) -> None:
    """Load a site (``index.site.loader.Site``) into a new database under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DB_FILE
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.executescript(_SCHEMA)
    for table in _SIDE.values():
        conn.execute(f"CREATE TABLE {table}(docid INTEGER NOT NULL, value TEXT NOT NULL)")
    rows: list[tuple[Any, ...]] = []
    texts: list[tuple[Any, ...]] = []
    side: dict[str, list[tuple[int, str]]] = {t: [] for t in _SIDE.values()}

    def flush() -> None:
        conn.executemany(f"INSERT INTO items VALUES ({', '.join('?' * 16)})", rows)
        conn.executemany("INSERT INTO fts(rowid, title, body, labels, file_name, parent_title)"
                         " VALUES (?, ?, ?, ?, ?, ?)", texts)
        for table, values in side.items():
            conn.executemany(f"INSERT INTO {table} VALUES (?, ?)", values)
            values.clear()
        rows.clear()
        texts.clear()

    docid = 0
    for space in site.spaces.values():
        docid += 1
        rows.append((docid, f"space:{space.key}", 1, None, "space", space.key.lower(),
                     "current", None, title_key(space.name), space.name.lower(), None, None,
                     None, None, None, None))
        texts.append((docid, _stems(space.name), _stems(space.description), "", "", ""))
    items = site.content
    for n, item in enumerate(items.values(), 1):
        docid += 1
        parent = items.get(item.parent_id) if item.parent_id else None
        rows.append((
            docid, item.id, 0, int(item.id), item.type, item.space.lower(), item.status,
            item.creator, title_key(item.title), item.title.lower(), item.parent_id,
            item.container_id, item.page_status.lower() if item.page_status else None,
            title_key(parent.title) if parent is not None else None,
            epoch(item.created), epoch(item.lastmodified),
        ))  # fmt: skip
        texts.append((docid, _stems(item.title), _stems(item.text), _stems(" ".join(item.labels)),
                      _stems(item.file_name), _stems(parent.title) if parent else ""))
        for fieldname, table in _SIDE.items():
            values = {
                "label": item.labels, "macro": item.macros, "contributor": item.contributors,
                "mention": item.mentions, "watcher": item.watchers, "ancestor": item.ancestors,
            }[fieldname]  # fmt: skip
            lower = fieldname in _LOWER_SIDE
            side[table].extend((docid, v.lower() if lower else v) for v in dict.fromkeys(values))
        if n % 2000 == 0:
            flush()
            if progress is not None:
                progress(2000)
    flush()
    if progress is not None:
        progress(len(items) % 2000)
    for statement in _INDEXES:
        conn.execute(statement)
    for table in _SIDE.values():
        conn.execute(f"CREATE INDEX {table}_value ON {table}(value, docid)")
    conn.execute("INSERT INTO fts(fts) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    catalog = {
        "spaces": [s.model_dump(mode="json") for s in site.spaces.values()],
        "users": [u.model_dump(mode="json") for u in site.users.values()],
    }
    (out_dir / CATALOG).write_text(json.dumps(catalog), encoding="utf-8")


class _Sql:
    """A WHERE clause being written: text with ``?`` and its parameters."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def bind(self, values: Iterable[Any]) -> str:
        values = list(values)
        self.params.extend(values)
        return ", ".join("?" * len(values))


class SqliteFts:
    """Searches the database; the timed operation is a COUNT and the first page."""

    name = NAME

    def __init__(self, out_dir: Path) -> None:
        catalog = json.loads((out_dir / CATALOG).read_text(encoding="utf-8"))
        self.spaces = space_facts(catalog["spaces"])
        self.users = user_facts(catalog["users"])
        self.conn = sqlite3.connect(out_dir / DB_FILE, check_same_thread=False)
        self.conn.execute("PRAGMA query_only = ON")

    def close(self) -> None:
        self.conn.close()

    # --- public API used by the harness --------------------------------------------------

    def timed(self, text: str, account_id: str | None, context: SearchContext,
              hidden: frozenset[str], limit: int) -> tuple[int, list[str]]:
        query = cql.normalize(cql.parse(text))
        where, params = self.compile(query, account_id, context, hidden)
        total = self.conn.execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()[0]
        order = self._order_by(query) or "lastmodified DESC, " + ", ".join(_TIEBREAK)
        rows = self.conn.execute(
            f"SELECT id FROM items WHERE {where} ORDER BY {order} LIMIT ?", [*params, limit]
        ).fetchall()
        return int(total), [r[0] for r in rows]

    def hits(self, text: str, account_id: str | None, context: SearchContext,
             hidden: frozenset[str]) -> list[str]:
        query = cql.normalize(cql.parse(text))
        where, params = self.compile(query, account_id, context, hidden)
        order = self._order_by(query) or ", ".join(_TIEBREAK)
        rows = self.conn.execute(f"SELECT id FROM items WHERE {where} ORDER BY {order}", params)
        return [r[0] for r in rows]

    # --- compiling ---------------------------------------------------------------------

    def _order_by(self, query: Query) -> str:
        if not query.order_by:
            return ""
        parts: list[str] = []
        for key in query.order_by:
            if key.field not in _ORDER:
                raise Unsupported(f"ORDER BY {key.field}")
            parts += [f"{c} DESC" if key.descending else c for c in _ORDER[key.field]]
        return ", ".join(parts + list(_TIEBREAK))

    def compile(self, query: Query, account_id: str | None, context: SearchContext,
                hidden: frozenset[str]) -> tuple[str, list[Any]]:
        resolver = Resolver(self.spaces, self.users, account_id, context)
        sql = _Sql()
        content = f"is_space = 0 AND status IN ({sql.bind(context.content_statuses)})"
        if hidden:
            content += f" AND space NOT IN ({sql.bind(k.lower() for k in hidden)})"
        universe = f"({content})"
        if names_space_type(query.where):
            universe = f"({universe} OR is_space = 1)"
        if not context.include_archived_spaces:
            archived = [k.lower() for k, s in self.spaces.items() if s.archived]
            if archived:
                universe += f" AND space NOT IN ({sql.bind(archived)})"
        if query.where is None:
            return universe, sql.params
        body = self._expr(query.where, resolver, sql)
        return f"{universe} AND {body}", sql.params

    def _expr(self, node: Expr, resolver: Resolver, sql: _Sql) -> str:
        if isinstance(node, Clause):
            op, negated = base_op(node.op)
            leaf = self._clause(node, op, resolver, sql)
            return f"(NOT ifnull({leaf}, 0))" if negated else leaf
        if isinstance(node, Not):
            return f"(NOT ifnull({self._expr(node.operand, resolver, sql)}, 0))"
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(self._expr(c, resolver, sql) for c in node.operands) + ")"

    def _clause(self, clause: Clause, op: Op, resolver: Resolver, sql: _Sql) -> str:
        name = clause.field
        if name.startswith(PROPERTY_PREFIX):
            raise Unsupported("content properties")
        if op is Op.CONTAINS:
            tree = textsearch.parse_text(resolver.values(clause)[0])
            if name in ("text", "title", "parent.title"):
                cols = {"text": _TEXT_COLS, "title": ("title",),
                        "parent.title": ("parent_title",)}[name]
                match = self._match(tree, cols)
                if match is None:
                    return "0"
                return f"docid IN (SELECT rowid FROM fts WHERE fts MATCH {sql.bind([match])})"
            if name == "space.title":
                return _in("space", resolver.space_title_keys(tree), sql)
            if name == "creator.fullname":
                return _in("creator", resolver.people_named(tree), sql)
            raise Unsupported(f"{name} ~")
        if name in ("created", "lastmodified"):
            lo, hi = resolver.bounds(clause.value)  # type: ignore[arg-type]
            if op is Op.EQ:
                return f"({name} >= {sql.bind([lo])} AND {name} < {sql.bind([hi])})"
            bound, cmp = {Op.GT: (hi, ">="), Op.GE: (lo, ">="), Op.LT: (lo, "<"),
                          Op.LE: (hi, "<")}[op]  # fmt: skip
            return f"{name} {cmp} {sql.bind([bound])}"
        if name in _COLUMNS:
            column, fix = _COLUMNS[name]
            return _in(column, [fix(v) for v in resolver.values(clause)], sql)
        if name in _SIDE:
            fix = str.lower if name in _LOWER_SIDE else str
            values = list(dict.fromkeys(fix(v) for v in resolver.values(clause)))
            if not values:
                return "0"
            return (f"docid IN (SELECT docid FROM {_SIDE[name]} "
                    f"WHERE value IN ({sql.bind(values)}))")
        if name == "title":
            return _in("title_key", [title_key(v) for v in resolver.values(clause)], sql)
        if name == "parent.title":
            return _in("parent_title_key", [title_key(v) for v in resolver.values(clause)], sql)
        if name == "favourite":
            return _in("id", resolver.favourite_ids(clause), sql)
        if name == "space.type":
            return _in("space", resolver.space_type_keys(clause), sql)
        if name == "space.category":
            return _in("space", resolver.space_category_keys(clause), sql)
        raise Unsupported(f"field {name}")

    # --- FTS5 match expressions ----------------------------------------------------------

    def _vocab(self, cols: tuple[str, ...], where: str, params: list[Any]) -> list[str]:
        marks = ", ".join("?" * len(cols))
        rows = self.conn.execute(
            f"SELECT DISTINCT term FROM fts_vocab WHERE col IN ({marks}) AND {where}",
            [*cols, *params],
        )
        return [r[0] for r in rows]

    def _match(self, tree: textsearch.TextQuery, cols: tuple[str, ...]) -> str | None:
        """An FTS5 MATCH string for ``tree`` over ``cols``; None when nothing can match."""
        scope = "{" + " ".join(cols) + "}"
        if isinstance(tree, textsearch.Term | textsearch.Phrase):
            tokens = analyze(tree.text)
            if not tokens:
                return None
            return f'{scope} : "{" ".join(tokens)}"'
        if isinstance(tree, textsearch.Wildcard):
            pattern = tree.pattern
            head = pattern[:-1]
            if pattern.endswith("*") and not any(c in head for c in "*?") and head.isalnum():
                return f'{scope} : "{head}" *'
            terms = self._vocab(cols, "term GLOB ?", [pattern.replace("[", "[[]")])
            return _either(scope, terms)
        if isinstance(tree, textsearch.Fuzzy):
            word = tree.text.lower()
            near = self._vocab(cols, "length(term) BETWEEN ? AND ?", [len(word) - 2, len(word) + 2])
            return _either(scope, [t for t in near if levenshtein_within(word, t)])
        if isinstance(tree, textsearch.Any):
            parts = [m for p in tree.parts if (m := self._match(p, cols)) is not None]
            return " OR ".join(f"({m})" for m in parts) if parts else None
        musts = [self._match(p, cols) for p in tree.must]
        if not musts or any(m is None for m in musts):
            return None
        out = " AND ".join(f"({m})" for m in musts)
        nots = [m for p in tree.must_not if (m := self._match(p, cols)) is not None]
        if nots:
            out = f"({out}) NOT ({' OR '.join(f'({m})' for m in nots)})"
        return out


def _either(scope: str, terms: list[str]) -> str | None:
    if not terms:
        return None
    return f"{scope} : (" + " OR ".join(f'"{t}"' for t in terms) + ")"


def _in(column: str, values: list[str], sql: _Sql) -> str:
    values = list(dict.fromkeys(values))
    if not values:
        return "0"
    return f"{column} IN ({sql.bind(values)})"


__all__ = ["NAME", "SqliteFts", "build"]
