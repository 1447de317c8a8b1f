"""The function registry: every CQL function, its arguments and what it returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cql.ast import Op
from cql.fields import RANGE


class Returns(enum.Enum):
    USER = "user"
    DATE = "date"
    SPACE = "space"
    SPACE_LIST = "space list"
    CONTENT_LIST = "content list"


class Arg(enum.Enum):
    INCREMENT = "increment"  # a date increment such as "-4w"
    INT = "int"  # a non-negative whole number


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    returns: Returns
    ops: frozenset[Op]
    args: tuple[Arg, ...] = ()
    required: int = 0
    context: str = ""  # what the caller must supply: "user" or "space"
    doc: str = ""

    @property
    def signature(self) -> str:
        names = [a.value for a in self.args]
        shown = [n if i < self.required else f"[{n}]" for i, n in enumerate(names)]
        return f"{self.name}({', '.join(shown)})"


LIST_OPS = frozenset({Op.IN, Op.NOT_IN})


def _date(name: str, doc: str) -> FunctionSpec:
    return FunctionSpec(name, Returns.DATE, RANGE, (Arg.INCREMENT,), 0, doc=doc)


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("currentUser", Returns.USER, frozenset({Op.EQ, Op.NE}), context="user",
                 doc="the calling user"),
    _date("now", "the current instant, optionally moved by an increment"),
    _date("startOfDay", "the start of today"),
    _date("endOfDay", "the end of today"),
    _date("startOfWeek", "the start of this week (Monday)"),
    _date("endOfWeek", "the end of this week"),
    _date("startOfMonth", "the start of this month"),
    _date("endOfMonth", "the end of this month"),
    _date("startOfYear", "the start of this year"),
    _date("endOfYear", "the end of this year"),
    FunctionSpec("favouriteSpaces", Returns.SPACE_LIST, LIST_OPS, context="user",
                 doc="the caller's favourite spaces"),
    FunctionSpec("recentlyViewedContent", Returns.CONTENT_LIST, LIST_OPS,
                 (Arg.INT, Arg.INT), 1, context="user",
                 doc="content the caller viewed recently: limit, then items to skip"),
    FunctionSpec("recentlyViewedSpaces", Returns.SPACE_LIST, LIST_OPS, (Arg.INT,), 1,
                 context="user", doc="spaces the caller viewed recently"),
    FunctionSpec("currentSpace", Returns.SPACE, frozenset({Op.EQ, Op.NE}), context="space",
                 doc="the space of the search context"),
)

BY_LOWER_NAME: dict[str, FunctionSpec] = {f.name.lower(): f for f in FUNCTIONS}


def lookup(name: str) -> FunctionSpec | None:
    return BY_LOWER_NAME.get(name.lower())


def canonical_name(name: str) -> str:
    spec = lookup(name)
    return spec.name if spec else name
