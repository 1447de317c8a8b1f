"""The field registry: every field CQL knows, what it is, and what it allows.

This table is the only place field names are spelled out. The parser, validator,
normalizer, printer, REPL completion and the engine all read it. Source: the master table
of sources.md, CQL 5.1 plus the extra fields of docs/semantics.md.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cql.ast import Op


class Kind(enum.Enum):
    CONTENT = "content"  # content ids
    USER = "user"  # account ids
    DATE = "date"
    STRING = "string"  # exact, case-insensitive words (labels, macros)
    SPACE = "space"  # space keys
    SPACE_TYPE = "space_type"
    TYPE = "type"  # content types
    TEXT = "text"  # full text only
    TITLE = "title"  # whole-title equality and full text
    PROPERTY = "property"  # app-defined content property


EQUALITY = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN})
RANGE = frozenset({Op.EQ, Op.NE, Op.GT, Op.GE, Op.LT, Op.LE})
FULLTEXT = frozenset({Op.CONTAINS, Op.NOT_CONTAINS})
DATE_FUNCTIONS = frozenset(
    {"now", "startOfDay", "endOfDay", "startOfWeek", "endOfWeek", "startOfMonth",
     "endOfMonth", "startOfYear", "endOfYear"}
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: Kind
    ops: frozenset[Op]
    functions: frozenset[str] = frozenset()
    sortable: bool = False
    alias_of: str | None = None
    user_search_only: bool = False
    doc: str = ""


def _f(name: str, kind: Kind, ops: frozenset[Op], *functions: str, **kw: object) -> FieldSpec:
    return FieldSpec(name, kind, ops, frozenset(functions), **kw)  # type: ignore[arg-type]


FIELDS: tuple[FieldSpec, ...] = (
    _f("ancestor", Kind.CONTENT, EQUALITY, "recentlyViewedContent",
       doc="content anywhere below the given content in the tree"),
    _f("container", Kind.CONTENT, EQUALITY,
       doc="comments and attachments of the given content"),
    _f("content", Kind.CONTENT, EQUALITY, "recentlyViewedContent", alias_of="id"),
    _f("created", Kind.DATE, RANGE, *DATE_FUNCTIONS, sortable=True, doc="creation date"),
    _f("creator", Kind.USER, EQUALITY, "currentUser", doc="account id of the creator"),
    _f("creator.fullname", Kind.TEXT, FULLTEXT, doc="the creator's display name"),
    _f("contributor", Kind.USER, EQUALITY, "currentUser", doc="created or edited by"),
    _f("favourite", Kind.USER, EQUALITY, "currentUser", doc="the caller's favourites"),
    _f("favorite", Kind.USER, EQUALITY, "currentUser", alias_of="favourite"),
    _f("id", Kind.CONTENT, EQUALITY, "recentlyViewedContent", sortable=True),
    _f("label", Kind.STRING, EQUALITY),
    _f("lastmodified", Kind.DATE, RANGE, *DATE_FUNCTIONS, sortable=True),
    _f("macro", Kind.STRING, EQUALITY, doc="a macro used in the body"),
    _f("mention", Kind.USER, EQUALITY, "currentUser"),
    _f("pageStatus", Kind.STRING, EQUALITY, doc="the page status lozenge"),
    _f("parent", Kind.CONTENT, EQUALITY, "recentlyViewedContent", doc="direct tree parent"),
    _f("parent.title", Kind.TITLE, EQUALITY | FULLTEXT, doc="the parent's title"),
    _f("space", Kind.SPACE, EQUALITY, "currentSpace", "favouriteSpaces",
       "recentlyViewedSpaces", sortable=True),
    _f("space.category", Kind.STRING, EQUALITY),
    _f("space.key", Kind.SPACE, EQUALITY, "currentSpace", "favouriteSpaces",
       "recentlyViewedSpaces", alias_of="space"),
    _f("space.title", Kind.TEXT, FULLTEXT, doc="the space's name"),
    _f("space.type", Kind.SPACE_TYPE, EQUALITY),
    _f("text", Kind.TEXT, FULLTEXT, doc="title, body, labels and file name"),
    _f("siteSearch", Kind.TEXT, FULLTEXT, alias_of="text"),
    _f("title", Kind.TITLE, EQUALITY | FULLTEXT, sortable=True),
    _f("type", Kind.TYPE, EQUALITY, sortable=True),
    _f("watcher", Kind.USER, EQUALITY, "currentUser"),
    _f("user", Kind.USER, frozenset({Op.EQ, Op.IN}), "currentUser", user_search_only=True),
    _f("user.fullname", Kind.TEXT, frozenset({Op.CONTAINS}), user_search_only=True),
    _f("user.accountid", Kind.USER, frozenset({Op.EQ, Op.IN}), user_search_only=True),
    _f("user.userkey", Kind.USER, frozenset({Op.EQ, Op.IN}), user_search_only=True),
)

BY_LOWER_NAME: dict[str, FieldSpec] = {f.name.lower(): f for f in FIELDS}

#: ``content.property[key].path``: any operator; the value decides number, date or string.
PROPERTY_PREFIX = "content.property["
PROPERTY = FieldSpec(
    "content.property", Kind.PROPERTY, RANGE | EQUALITY | FULLTEXT,
    doc="an app-defined content property value",
)

CONTENT_TYPES = (
    "page", "blogpost", "comment", "attachment", "whiteboard", "database", "embed", "folder",
)
#: Values ``type`` accepts; ``smartlink`` is the normalizer's alias of ``embed``.
TYPE_VALUES = frozenset({*CONTENT_TYPES, "space", "smartlink"})
SPACE_TYPES = frozenset({"global", "personal", "collaboration", "knowledge_base",
                         "favourite", "favorite"})


def lookup(name: str) -> FieldSpec | None:
    """The spec of ``name`` (any case), the property spec, or None when unknown."""
    spec = BY_LOWER_NAME.get(name.lower())
    if spec is not None:
        return spec
    if name.lower().startswith(PROPERTY_PREFIX):
        return PROPERTY
    return None


def canonical_name(name: str) -> str:
    """``name`` spelled as registered; property fields keep their key and path as written."""
    spec = BY_LOWER_NAME.get(name.lower())
    if spec is not None:
        return spec.name
    if name.lower().startswith(PROPERTY_PREFIX):
        return PROPERTY_PREFIX + name[len(PROPERTY_PREFIX):]
    return name


def property_parts(name: str) -> tuple[str, tuple[str, ...]]:
    """``content.property[key].a.b`` -> ``("key", ("a", "b"))``."""
    key, _, path = name[len(PROPERTY_PREFIX):].partition("]")
    return key, tuple(p for p in path.split(".") if p)


def target(spec: FieldSpec) -> FieldSpec:
    """The field an alias stands for (the spec itself when it is no alias)."""
    return BY_LOWER_NAME[spec.alias_of.lower()] if spec.alias_of else spec
