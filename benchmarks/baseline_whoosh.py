"""Baseline (a): naive Whoosh. Each CQL clause becomes ``whoosh.query`` objects (Term, Or,
And, Not, NumericRange, Phrase, Wildcard...), run by ``Searcher.search``; no caches.

This is what "just use Whoosh" costs, measured against the same corpus with a plain schema
of its own (default writer settings, one process). Deliberate choices, all documented in
the report's settings:

- One searcher is opened once and reused (opening one per query would only add noise).
- The timed operation is ``searcher.search(q, limit=N[, sortedby=...])`` plus
  ``len(results)``: the first page and an exact total, as the engine returns them.
- Hits for the agreement check are collected with ``searcher.docs_for_query(q)`` (or
  ``limit=None`` when ORDER BY decides the order), because Whoosh's block-quality
  optimisation can drop the negated side of ``And(X, Not(Y))`` during a scored search with
  a limit (docs/whoosh.md). The timed call keeps the naive shape on purpose: the
  comparison of results is about semantics, the timing about the naive cost.
- Fuzzy terms are expanded here with plain Levenshtein over the field's lexicon, since
  Whoosh's ``FuzzyTerm`` uses Damerau-Levenshtein (a transposition costs 1), which is not
  the distance docs/semantics.md specifies.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh import sorting
from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter
from whoosh.fields import ID, KEYWORD, NUMERIC, TEXT, Schema

import cql
from benchmarks.baseline_common import (
    KEYWORD_FIELDS,
    TEXT_COLUMNS,
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
from index.core.analysis import analyze, stem
from index.core.context import SearchContext

NAME = "whoosh-naive"
CATALOG = "catalog.json"
#: Sort value of space entities for ``ORDER BY id``: after every content id.
_SPACE_NUM = 2**62
#: Sort value of a missing date (space entities): before every real date.
_NO_DATE = 0  # the epoch: before every item date (all are after 2000)
_SORT_FIELDS = {
    "created": "created_sort",
    "lastmodified": "lastmodified_sort",
    "title": "title_sort",
    "type": "type",
    "space": "space",
}


def _analyzer() -> Any:
    """Lower-case ``\\w+`` tokens, Porter2-stemmed, no stop words (docs/semantics.md)."""
    return RegexTokenizer(r"\w+") | LowercaseFilter() | StemFilter(stemfn=stem)


def schema() -> Schema:
    analyzer = _analyzer()
    date = {"numtype": int, "bits": 64, "signed": True}
    return Schema(
        id=ID(stored=True, unique=True),
        entity=ID,
        num=NUMERIC(int, bits=64, signed=True, sortable=True),
        type=ID(sortable=True),
        space=ID(sortable=True),
        status=ID,
        creator=ID,
        title=TEXT(analyzer=analyzer),
        title_key=ID,
        title_sort=ID(sortable=True),
        body=TEXT(analyzer=analyzer),
        labels=TEXT(analyzer=analyzer),
        file_name=TEXT(analyzer=analyzer),
        parent_title=TEXT(analyzer=analyzer),
        parent_title_key=ID,
        label=KEYWORD(commas=True),
        macro=KEYWORD(commas=True),
        contributor=KEYWORD(commas=True),
        mention=KEYWORD(commas=True),
        watcher=KEYWORD(commas=True),
        ancestor=KEYWORD(commas=True),
        page_status=ID,
        parent=ID,
        container=ID,
        created=NUMERIC(**date),
        lastmodified=NUMERIC(**date),
        created_sort=NUMERIC(**date, sortable=True, default=_NO_DATE),
        lastmodified_sort=NUMERIC(**date, sortable=True, default=_NO_DATE),
    )


def _keywords(values: list[str]) -> str:
    return ",".join(v.replace(",", " ") for v in values)


def build(site: Any, index_dir: Path, progress: Callable[[int], None] | None = None) -> None:
    """Index a loaded site (``index.site.loader.Site``) with default writer settings."""
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)
    ix = whoosh_index.create_in(str(index_dir), schema())
    writer = ix.writer()
    for space in site.spaces.values():
        writer.add_document(
            id=f"space:{space.key}", entity="space", num=_SPACE_NUM, type="space",
            space=space.key.lower(), status="current", title=space.name,
            title_key=title_key(space.name), title_sort=space.name.lower(),
            body=space.description)  # fmt: skip
    items = site.content
    for n, item in enumerate(items.values(), 1):
        doc: dict[str, Any] = {
            "id": item.id, "entity": "content", "num": int(item.id), "type": item.type,
            "space": item.space.lower(), "status": item.status, "creator": item.creator,
            "title": item.title, "title_key": title_key(item.title),
            "title_sort": item.title.lower(), "body": item.text,
            "labels": " ".join(item.labels),
            "label": _keywords([v.lower() for v in item.labels]),
            "macro": _keywords([v.lower() for v in item.macros]),
            "contributor": _keywords(item.contributors),
            "mention": _keywords(item.mentions), "watcher": _keywords(item.watchers),
            "ancestor": _keywords(item.ancestors),
            "created": epoch(item.created), "lastmodified": epoch(item.lastmodified),
            "created_sort": epoch(item.created),
            "lastmodified_sort": epoch(item.lastmodified),
        }  # fmt: skip
        if item.file_name:
            doc["file_name"] = item.file_name
        if item.page_status:
            doc["page_status"] = item.page_status.lower()
        if item.parent_id:
            doc["parent"] = item.parent_id
            parent = items.get(item.parent_id)
            if parent is not None:
                doc["parent_title"] = parent.title
                doc["parent_title_key"] = title_key(parent.title)
        if item.container_id:
            doc["container"] = item.container_id
        writer.add_document(**doc)
        if progress is not None and n % 1000 == 0:
            progress(1000)
    if progress is not None:
        progress(len(items) % 1000)
    writer.commit()
    catalog = {
        "spaces": [s.model_dump(mode="json") for s in site.spaces.values()],
        "users": [u.model_dump(mode="json") for u in site.users.values()],
    }
    (index_dir / CATALOG).write_text(json.dumps(catalog), encoding="utf-8")


class NaiveWhoosh:
    """Searches one naive index; see the module docstring for what is timed."""

    name = NAME

    def __init__(self, index_dir: Path) -> None:
        catalog = json.loads((index_dir / CATALOG).read_text(encoding="utf-8"))
        self.spaces = space_facts(catalog["spaces"])
        self.users = user_facts(catalog["users"])
        self.ix = whoosh_index.open_dir(str(index_dir))
        self.searcher = self.ix.searcher()
        self._ids: list[str] | None = None

    def close(self) -> None:
        self.searcher.close()

    # --- public API used by the harness --------------------------------------------------

    def timed(self, text: str, account_id: str | None, context: SearchContext,
              hidden: frozenset[str], limit: int) -> tuple[int, list[str]]:
        """One search as a user runs it: the first ``limit`` hits and the exact total."""
        query = cql.normalize(cql.parse(text))
        q = self.compile(query, account_id, context, hidden)
        sortedby = self._sortedby(query)
        if sortedby is None:
            results = self.searcher.search(q, limit=limit)
        else:
            results = self.searcher.search(q, limit=limit, sortedby=sortedby)
        total = len(results)
        return total, [hit["id"] for hit in results]

    def hits(self, text: str, account_id: str | None, context: SearchContext,
             hidden: frozenset[str]) -> list[str]:
        """Every hit: in ORDER BY order when there is one, else in docnum order (a set)."""
        query = cql.normalize(cql.parse(text))
        q = self.compile(query, account_id, context, hidden)
        sortedby = self._sortedby(query)
        if sortedby is not None:
            return [hit["id"] for hit in self.searcher.search(q, limit=None, sortedby=sortedby)]
        ids = self._all_ids()
        return [ids[d] for d in sorted(self.searcher.docs_for_query(q))]

    # --- compiling ---------------------------------------------------------------------

    def _all_ids(self) -> list[str]:
        if self._ids is None:
            reader = self.searcher.reader()
            ids = [""] * reader.doc_count_all()
            for docnum, stored in reader.iter_docs():
                ids[docnum] = stored["id"]
            self._ids = ids
        return self._ids

    def _sortedby(self, query: Query) -> Any:
        if not query.order_by:
            return None
        facets: list[Any] = []
        for key in query.order_by:
            if key.field == "id":
                facets.append(sorting.FieldFacet("num", reverse=key.descending))
                facets.append(sorting.FieldFacet("space", reverse=key.descending))
            elif key.field in _SORT_FIELDS:
                facets.append(sorting.FieldFacet(_SORT_FIELDS[key.field], reverse=key.descending))
            else:
                raise Unsupported(f"ORDER BY {key.field}")
        facets += [sorting.FieldFacet("num"), sorting.FieldFacet("space")]
        return sorting.MultiFacet(facets)

    def compile(self, query: Query, account_id: str | None, context: SearchContext,
                hidden: frozenset[str]) -> wq.Query:
        resolver = Resolver(self.spaces, self.users, account_id, context)
        universe = self._universe(names_space_type(query.where), context, hidden)
        if query.where is None:
            return universe
        return wq.And([universe, self._expr(query.where, resolver)])

    def _universe(self, with_spaces: bool, context: SearchContext,
                  hidden: frozenset[str]) -> wq.Query:
        content: wq.Query = wq.And([
            wq.Term("entity", "content"),
            wq.Or([wq.Term("status", s) for s in context.content_statuses]),
        ])
        if hidden:
            content = wq.And([content, wq.Not(_any("space", [k.lower() for k in hidden]))])
        out: wq.Query = content
        if with_spaces:
            out = wq.Or([content, wq.Term("entity", "space")])
        if not context.include_archived_spaces:
            archived = [k.lower() for k, s in self.spaces.items() if s.archived]
            if archived:
                out = wq.And([out, wq.Not(_any("space", archived))])
        return out

    def _expr(self, node: Expr, resolver: Resolver) -> wq.Query:
        if isinstance(node, Clause):
            op, negated = base_op(node.op)
            q = self._clause(node, op, resolver)
            return wq.Not(q) if negated else q
        if isinstance(node, Not):
            return wq.Not(self._expr(node.operand, resolver))
        parts = [self._expr(child, resolver) for child in node.operands]
        return wq.And(parts) if isinstance(node, And) else wq.Or(parts)

    def _clause(self, clause: Clause, op: Op, resolver: Resolver) -> wq.Query:
        name = clause.field
        if name.startswith(PROPERTY_PREFIX):
            raise Unsupported("content properties")
        if op is Op.CONTAINS:
            raw = resolver.values(clause)[0]
            tree = textsearch.parse_text(raw)
            if name == "text":
                return self._text(tree, TEXT_COLUMNS)
            if name == "title":
                return self._text(tree, ("title",))
            if name == "parent.title":
                return self._text(tree, ("parent_title",))
            if name == "space.title":
                return _any("space", resolver.space_title_keys(tree))
            if name == "creator.fullname":
                return _any("creator", resolver.people_named(tree))
            raise Unsupported(f"{name} ~")
        if name in ("created", "lastmodified"):
            lo, hi = resolver.bounds(clause.value)  # type: ignore[arg-type]
            if op is Op.EQ:
                return wq.NumericRange(name, lo, hi - 1)
            if op is Op.GT:
                return wq.NumericRange(name, hi, None)
            if op is Op.GE:
                return wq.NumericRange(name, lo, None)
            if op is Op.LT:
                return wq.NumericRange(name, None, lo - 1)
            return wq.NumericRange(name, None, hi - 1)
        if name in KEYWORD_FIELDS:
            field, fix = KEYWORD_FIELDS[name]
            return _any(field, [fix(v) for v in resolver.values(clause)])
        if name == "title":
            return _any("title_key", [title_key(v) for v in resolver.values(clause)])
        if name == "parent.title":
            return _any("parent_title_key", [title_key(v) for v in resolver.values(clause)])
        if name == "favourite":
            return _any("id", resolver.favourite_ids(clause))
        if name == "space.type":
            return _any("space", resolver.space_type_keys(clause))
        if name == "space.category":
            return _any("space", resolver.space_category_keys(clause))
        raise Unsupported(f"field {name}")

    def _lexicon(self, field: str) -> list[str]:
        reader = self.searcher.reader()
        return [w.decode("utf-8") if isinstance(w, bytes) else w for w in reader.lexicon(field)]

    def _text(self, tree: textsearch.TextQuery, fields: tuple[str, ...]) -> wq.Query:
        if isinstance(tree, textsearch.Term | textsearch.Phrase):
            tokens = analyze(tree.text)
            if not tokens:
                return wq.NullQuery
            if len(tokens) == 1:
                return wq.Or([wq.Term(f, tokens[0]) for f in fields])
            return wq.Or([wq.Phrase(f, tokens) for f in fields])
        if isinstance(tree, textsearch.Wildcard):
            if "[" not in tree.pattern:
                return wq.Or([wq.Wildcard(f, tree.pattern) for f in fields])
            # Whoosh's Wildcard reads "[...]" as a character class; ours is a literal "[".
            pattern = tree.pattern.replace("[", "[[]")
            return wq.Or([
                wq.Or([wq.Term(f, w) for w in self._lexicon(f) if fnmatch.fnmatchcase(w, pattern)])
                for f in fields
            ])  # fmt: skip
        if isinstance(tree, textsearch.Fuzzy):
            word = tree.text.lower()
            return wq.Or([
                wq.Or([wq.Term(f, w) for w in self._lexicon(f) if levenshtein_within(word, w)])
                for f in fields
            ])  # fmt: skip
        if isinstance(tree, textsearch.Any):
            return wq.Or([self._text(p, fields) for p in tree.parts])
        if not tree.must:
            return wq.NullQuery
        must = wq.And([self._text(p, fields) for p in tree.must])
        if not tree.must_not:
            return must
        return wq.And([must, wq.Not(wq.Or([self._text(p, fields) for p in tree.must_not]))])


def _any(field: str, values: list[str]) -> wq.Query:
    if not values:
        return wq.NullQuery
    if len(values) == 1:
        return wq.Term(field, values[0])
    return wq.Or([wq.Term(field, v) for v in dict.fromkeys(values)])


__all__ = ["NAME", "NaiveWhoosh", "build", "schema"]
