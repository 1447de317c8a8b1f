"""Baseline (c): tantivy (the Rust search library, through its Python binding ``tantivy``).

The fastest engine a user could pick instead of cql-search, so the comparison that matters
most. Like the other baselines it shares only the language layer (``cql``) and the analyzer
with the engine (``baseline_common``) and selects items on its own storage:

- Text: tantivy's ``en_stem`` stemmer is not the Porter2 (Snowball English) analyzer
  docs/semantics.md specifies, so every text field is analysed here with
  ``index.core.analysis.analyze`` and indexed as its stems joined by spaces with tantivy's
  ``whitespace`` tokenizer (positions kept, so phrases are tantivy phrase queries; a phrase
  never spans fields). Query terms are analysed the same way. Wildcards are tantivy regex
  queries over the term dictionary; fuzzy terms are ``FuzzyTermQuery`` with distance 2 and
  ``transposition_cost_one=False``: plain Levenshtein, as docs/semantics.md says.
- Structured fields are tantivy fields of their own: single- and multi-valued keyword
  fields (``raw`` tokenizer, doc ids only) queried with term and term-set queries, and the
  dates as i64 fast fields queried with range queries. ``NOT x`` is tantivy's ``MustNot``
  beside the other operands of its conjunction (the universe at the top), never a set
  difference computed here.
- Order: tantivy's Python binding orders hits by one fast field. Every sortable field gets
  two u64 fast fields holding each document's rank in ``(key, id)`` and ``(key DESC, id)``
  order, computed once at build time (the tie-break by id docs/semantics.md requires); an
  ORDER BY with one key is one fast-field sort. ORDER BY with several keys cannot be
  expressed and raises ``Unsupported``.
- Ids: a u64 fast field ``docno`` maps a hit to its id (``ids.json``), read with
  ``Searcher.fast_field_values`` (no stored documents).

The timed operation is ``searcher.search(q, limit, count=True[, order_by_field])``: the
first page and the exact count. Unordered queries are ranked by tantivy's BM25 score (what
a tantivy user gets by default); their order is not compared.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import cql
from benchmarks.baseline_common import (
    KEYWORD_FIELDS,
    TEXT_COLUMNS,
    Resolver,
    Unsupported,
    base_op,
    epoch,
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

NAME = "tantivy"
INDEX = "index"
CATALOG = "catalog.json"
IDS = "ids.json"
#: Writer heap: tantivy's default (128 MB) split between its threads.
HEAP_BYTES = 256_000_000
_KEYWORDS = (*dict.fromkeys(f for f, _ in KEYWORD_FIELDS.values()), "entity", "status", "title_key",
             "parent_title_key")
_SORTABLE = ("created", "lastmodified", "title", "type", "space", "id")
_DATES = ("created", "lastmodified")


def _import() -> Any:
    try:
        import tantivy
    except ImportError as exc:  # the harness reports this instead of a traceback
        raise ImportError(
            "the tantivy baseline needs the tantivy package: pip install tantivy "
            "(or the cql-search[bench] extra)") from exc
    return tantivy


def available() -> bool:
    try:
        _import()
    except ImportError:
        return False
    return True


def schema() -> Any:
    tantivy = _import()
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("docno", fast=True)
    for name in _KEYWORDS:
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    for name in (*TEXT_COLUMNS, "parent_title"):
        sb.add_text_field(name, tokenizer_name="whitespace", index_option="position")
    for name in _DATES:
        sb.add_integer_field(name, indexed=True, fast=True)
    for name in _SORTABLE:
        sb.add_unsigned_field(f"{name}_asc", fast=True)
        sb.add_unsigned_field(f"{name}_desc", fast=True)
    return sb.build()


# --- building ---------------------------------------------------------------------------


def _stems(text: str | None) -> str:
    return " ".join(analyze(text)) if text else ""


def _ranks(keys: list[tuple[Any, tuple[int, int, str]]]) -> tuple[list[int], list[int]]:
    """Each document's position in ``(key, id)`` and in ``(key DESC, id)`` order.

    ``keys[d] = (key, tie)``; a missing key (``None``: a space entity's dates) sorts first
    ascending and last descending, as SQL's NULL does; ``tie`` is (is_space, num, space)."""
    asc, desc = [0] * len(keys), [0] * len(keys)
    by_tie = sorted(range(len(keys)), key=lambda d: keys[d][1])

    def key(d: int) -> tuple[bool, Any]:
        value = keys[d][0]
        return (value is not None, value if value is not None else 0)

    for rank, d in enumerate(sorted(by_tie, key=key)):
        asc[d] = rank
    for rank, d in enumerate(sorted(by_tie, key=key, reverse=True)):  # stable: ties by id
        desc[d] = rank
    return asc, desc


def _sort_keys(site: Any) -> tuple[list[str], dict[str, list[Any]]]:
    """Ids and sort keys in docno order (spaces, then content): cheap, no analysis."""
    ids: list[str] = []
    keys: dict[str, list[Any]] = {f: [] for f in _SORTABLE}

    def add(doc_id: str, sort: dict[str, Any], tie: tuple[int, int, str]) -> None:
        ids.append(doc_id)
        for name in _SORTABLE:
            keys[name].append((sort.get(name, tie), tie))

    for space in site.spaces.values():
        key = space.key.lower()
        add(f"space:{space.key}", {"created": None, "lastmodified": None,
                                   "title": space.name.lower(), "type": "space", "space": key},
            (1, 0, key))
    for item in site.content.values():
        key = item.space.lower()
        add(item.id, {"created": epoch(item.created), "lastmodified": epoch(item.lastmodified),
                      "title": item.title.lower(), "type": item.type, "space": key},
            (0, int(item.id), key))
    return ids, keys


def _documents(site: Any) -> Iterator[dict[str, Any]]:
    """The documents in docno order, analysed one at a time (memory stays flat)."""
    for space in site.spaces.values():
        yield {"id": f"space:{space.key}", "entity": "space", "type": "space",
               "space": space.key.lower(), "status": "current", "title": _stems(space.name),
               "body": _stems(space.description), "title_key": title_key(space.name)}
    items = site.content
    for item in items.values():
        doc: dict[str, Any] = {
            "id": item.id, "entity": "content", "type": item.type, "space": item.space.lower(),
            "status": item.status, "creator": item.creator, "title": _stems(item.title),
            "title_key": title_key(item.title), "body": _stems(item.text),
            "labels": _stems(" ".join(item.labels)),
            "label": [v.lower() for v in item.labels], "macro": [v.lower() for v in item.macros],
            "contributor": list(item.contributors), "mention": list(item.mentions),
            "watcher": list(item.watchers), "ancestor": list(item.ancestors),
            "created": epoch(item.created), "lastmodified": epoch(item.lastmodified),
        }  # fmt: skip
        if item.file_name:
            doc["file_name"] = _stems(item.file_name)
        if item.page_status:
            doc["page_status"] = item.page_status.lower()
        if item.parent_id:
            doc["parent"] = item.parent_id
            parent = items.get(item.parent_id)
            if parent is not None:
                doc["parent_title"] = _stems(parent.title)
                doc["parent_title_key"] = title_key(parent.title)
        if item.container_id:
            doc["container"] = item.container_id
        yield doc


def build(site: Any, out_dir: Path, progress: Callable[[int], None] | None = None) -> None:
    """Index a loaded site (``index.site.loader.Site``) under ``out_dir``: ranks first (from
    the sort keys alone), then each document analysed and handed to tantivy's writer
    threads as it is made."""
    tantivy = _import()
    shutil.rmtree(out_dir, ignore_errors=True)
    (out_dir / INDEX).mkdir(parents=True)
    ids, keys = _sort_keys(site)
    ranks = {name: _ranks(values) for name, values in keys.items()}
    del keys
    index_schema = schema()
    index = tantivy.Index(index_schema, path=str(out_dir / INDEX), reuse=False)
    writer = index.writer(heap_size=HEAP_BYTES)
    spaces = len(site.spaces)
    for docno, doc in enumerate(_documents(site)):
        doc["docno"] = docno
        for name, (asc, desc) in ranks.items():
            doc[f"{name}_asc"] = asc[docno]
            doc[f"{name}_desc"] = desc[docno]
        fields = {k: v for k, v in doc.items() if v is not None and v != []}
        writer.add_document(tantivy.Document.from_dict(fields, index_schema))
        done = docno + 1 - spaces
        if progress is not None and done > 0 and done % 2000 == 0:
            progress(2000)
    writer.commit()
    writer.wait_merging_threads()
    if progress is not None:
        progress(len(site.content) % 2000)
    (out_dir / IDS).write_text(json.dumps(ids), encoding="utf-8")
    catalog = {
        "spaces": [s.model_dump(mode="json") for s in site.spaces.values()],
        "users": [u.model_dump(mode="json") for u in site.users.values()],
    }
    (out_dir / CATALOG).write_text(json.dumps(catalog), encoding="utf-8")


# --- searching --------------------------------------------------------------------------


class Tantivy:
    """Searches one tantivy index; see the module docstring for what is timed."""

    name = NAME

    def __init__(self, out_dir: Path) -> None:
        tantivy = _import()
        self.t = tantivy
        catalog = json.loads((out_dir / CATALOG).read_text(encoding="utf-8"))
        self.spaces = space_facts(catalog["spaces"])
        self.users = user_facts(catalog["users"])
        self.ids: list[str] = json.loads((out_dir / IDS).read_text(encoding="utf-8"))
        self.index = tantivy.Index.open(str(out_dir / INDEX))
        self.schema = self.index.schema
        self.searcher = self.index.searcher()
        self.must, self.should, self.must_not = (
            tantivy.Occur.Must, tantivy.Occur.Should, tantivy.Occur.MustNot)

    def close(self) -> None:
        pass

    # --- public API used by the harness --------------------------------------------------

    def timed(self, text: str, account_id: str | None, context: SearchContext,
              hidden: frozenset[str], limit: int) -> tuple[int, list[str]]:
        """One search as a user runs it: the first ``limit`` hits and the exact count."""
        query = cql.normalize(cql.parse(text))
        q = self.compile(query, account_id, context, hidden)
        result = self._search(q, query, limit)
        return int(result.count), self._ids_of(result)

    def hits(self, text: str, account_id: str | None, context: SearchContext,
             hidden: frozenset[str]) -> list[str]:
        """Every hit: in ORDER BY order when there is one, else in score order (a set)."""
        query = cql.normalize(cql.parse(text))
        q = self.compile(query, account_id, context, hidden)
        return self._ids_of(self._search(q, query, max(1, self.searcher.num_docs)))

    def _search(self, q: Any, query: Query, limit: int) -> Any:
        sort = self._sort_field(query)
        if sort is None:
            return self.searcher.search(q, limit=limit, count=True)
        return self.searcher.search(q, limit=limit, count=True, order_by_field=sort,
                                    order=self.t.Order.Asc)

    def _ids_of(self, result: Any) -> list[str]:
        addresses = [address for _, address in result.hits]
        if not addresses:
            return []
        ids = self.ids
        return [ids[n] for n in self.searcher.fast_field_values("docno", addresses)]

    def _sort_field(self, query: Query) -> str | None:
        if not query.order_by:
            return None
        if len(query.order_by) > 1:
            raise Unsupported("ORDER BY several keys (tantivy-py sorts by one fast field)")
        key = query.order_by[0]
        if key.field not in _SORTABLE:
            raise Unsupported(f"ORDER BY {key.field}")
        return f"{key.field}_{'desc' if key.descending else 'asc'}"

    # --- compiling ---------------------------------------------------------------------

    def compile(self, query: Query, account_id: str | None, context: SearchContext,
                hidden: frozenset[str]) -> Any:
        resolver = Resolver(self.spaces, self.users, account_id, context)
        universe = self._universe(names_space_type(query.where), context, hidden)
        if query.where is None:
            return universe
        return self._and([universe], [query.where], resolver)

    def _universe(self, with_spaces: bool, context: SearchContext,
                  hidden: frozenset[str]) -> Any:
        content: list[tuple[Any, Any]] = [
            (self.must, self._term("entity", "content")),
            (self.must, self._any("status", list(context.content_statuses))),
        ]
        if hidden:
            content.append((self.must_not, self._any("space", [k.lower() for k in hidden])))
        out = self.t.Query.boolean_query(content)
        if with_spaces:
            out = self.t.Query.boolean_query(
                [(self.should, out), (self.should, self._term("entity", "space"))])
        archived = [k.lower() for k, s in self.spaces.items() if s.archived]
        if not context.include_archived_spaces and archived:
            out = self.t.Query.boolean_query(
                [(self.must, out), (self.must_not, self._any("space", archived))])
        return out

    def _and(self, positive: list[Any], operands: Iterable[Expr], resolver: Resolver) -> Any:
        """A conjunction: negated operands become ``MustNot`` beside the positive ones."""
        clauses = [(self.must, q) for q in positive]
        for node in operands:
            negated, inner = self._split_not(node, resolver)
            clauses.append((self.must_not if negated else self.must, inner))
        if all(occur == self.must_not for occur, _ in clauses):
            clauses.insert(0, (self.must, self.t.Query.all_query()))
        return self.t.Query.boolean_query(clauses)

    def _split_not(self, node: Expr, resolver: Resolver) -> tuple[bool, Any]:
        """(negated, query): ``NOT x`` and ``f != v`` give (True, x)."""
        if isinstance(node, Not):
            return True, self._expr(node.operand, resolver)
        if isinstance(node, Clause):
            op, negated = base_op(node.op)
            return negated, self._clause(node, op, resolver)
        return False, self._expr(node, resolver)

    def _expr(self, node: Expr, resolver: Resolver) -> Any:
        if isinstance(node, And):
            return self._and([], node.operands, resolver)
        if isinstance(node, Clause | Not):
            negated, q = self._split_not(node, resolver)
            if not negated:
                return q
            return self.t.Query.boolean_query(
                [(self.must, self.t.Query.all_query()), (self.must_not, q)])
        return self.t.Query.boolean_query(
            [(self.should, self._expr(child, resolver)) for child in node.operands])

    def _clause(self, clause: Clause, op: Op, resolver: Resolver) -> Any:
        name = clause.field
        if name.startswith(PROPERTY_PREFIX):
            raise Unsupported("content properties")
        if op is Op.CONTAINS:
            tree = textsearch.parse_text(resolver.values(clause)[0])
            if name == "text":
                return self._text(tree, TEXT_COLUMNS)
            if name == "title":
                return self._text(tree, ("title",))
            if name == "parent.title":
                return self._text(tree, ("parent_title",))
            if name == "space.title":
                return self._any("space", resolver.space_title_keys(tree))
            if name == "creator.fullname":
                return self._any("creator", resolver.people_named(tree))
            raise Unsupported(f"{name} ~")
        if name in _DATES:
            lo, hi = resolver.bounds(clause.value)  # type: ignore[arg-type]
            lower, upper = {Op.EQ: (lo, hi - 1), Op.GT: (hi, None), Op.GE: (lo, None),
                            Op.LT: (None, lo - 1), Op.LE: (None, hi - 1)}[op]  # fmt: skip
            return self.t.Query.range_query(self.schema, name, self.t.FieldType.Integer,
                                            lower_bound=lower, upper_bound=upper)
        if name in KEYWORD_FIELDS:
            field, fix = KEYWORD_FIELDS[name]
            return self._any(field, [fix(v) for v in resolver.values(clause)])
        if name == "title":
            return self._any("title_key", [title_key(v) for v in resolver.values(clause)])
        if name == "parent.title":
            return self._any("parent_title_key",
                             [title_key(v) for v in resolver.values(clause)])
        if name == "favourite":
            return self._any("id", resolver.favourite_ids(clause))
        if name == "space.type":
            return self._any("space", resolver.space_type_keys(clause))
        if name == "space.category":
            return self._any("space", resolver.space_category_keys(clause))
        raise Unsupported(f"field {name}")

    def _term(self, field: str, value: str) -> Any:
        return self.t.Query.term_query(self.schema, field, value)

    def _any(self, field: str, values: list[str]) -> Any:
        values = list(dict.fromkeys(values))
        if not values:
            return self.t.Query.empty_query()
        if len(values) == 1:
            return self._term(field, values[0])
        return self.t.Query.term_set_query(self.schema, field, values)

    def _either(self, parts: list[Any]) -> Any:
        if not parts:
            return self.t.Query.empty_query()
        if len(parts) == 1:
            return parts[0]
        return self.t.Query.boolean_query([(self.should, p) for p in parts])

    def _text(self, tree: textsearch.TextQuery, fields: tuple[str, ...]) -> Any:
        Q = self.t.Query
        if isinstance(tree, textsearch.Term | textsearch.Phrase):
            tokens = analyze(tree.text)
            if not tokens:
                return Q.empty_query()
            if len(tokens) == 1:
                return self._either([self._term(f, tokens[0]) for f in fields])
            return self._either([Q.phrase_query(self.schema, f, tokens) for f in fields])
        if isinstance(tree, textsearch.Wildcard):
            regex = glob_to_regex(tree.pattern)
            return self._either([Q.regex_query(self.schema, f, regex) for f in fields])
        if isinstance(tree, textsearch.Fuzzy):
            word = tree.text.lower()
            return self._either([
                Q.fuzzy_term_query(self.schema, f, word, distance=2,
                                   transposition_cost_one=False, prefix=False)
                for f in fields
            ])  # fmt: skip
        if isinstance(tree, textsearch.Any):
            return self._either([self._text(p, fields) for p in tree.parts])
        if not tree.must:
            return Q.empty_query()
        clauses = [(self.must, self._text(p, fields)) for p in tree.must]
        clauses += [(self.must_not, self._text(p, fields)) for p in tree.must_not]
        return Q.boolean_query(clauses)


#: Characters regex-syntax treats as meta (``regex_syntax::is_meta_character``).
_META = frozenset("\\.+*?()|[]{}^$#&-~")


def glob_to_regex(pattern: str) -> str:
    """Our wildcard (``*`` any run, ``?`` one character, anything else literal) as the
    anchored regex tantivy's ``RegexQuery`` matches whole terms against."""
    out: list[str] = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append("\\" + ch if ch in _META else ch)
    return "".join(out)


__all__ = ["NAME", "Tantivy", "available", "build", "glob_to_regex", "schema"]
