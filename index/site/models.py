"""Pydantic models for the site input format (see docs/site-format.md).

There are two layers for content. ``ContentLine`` is exactly what a line of ``content.jsonl``
may say: unknown keys are rejected and enumerations are ``Literal`` types, so a typo fails
validation instead of silently becoming a value the index never matches. ``ContentItem``
extends it with what is derived at load time (plain text, macros, the mention union,
ancestors), so the rest of the code reads one object per item, while input can never smuggle
in a derived value (``ancestors`` in a line is an unknown key).

Models are frozen: the index engine and the reference evaluator share the same objects, and
an item that changed after derivation would silently disagree with its ancestors. Use
``model_copy(update=...)`` and ``index.site.loader.derive`` to change them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)

SpaceType = Literal["global", "personal", "collaboration", "knowledge_base"]
SpaceStatus = Literal["current", "archived"]
ContentType = Literal[
    "page", "blogpost", "comment", "attachment", "whiteboard", "database", "embed", "folder"
]
ContentStatus = Literal["current", "draft", "archived", "trashed"]
#: Account kinds (docs/permissions.md): people, single-space guests and apps' own accounts.
UserKind = Literal["user", "guest", "app"]

#: Types that live in the content tree and may be (or have) a ``parent_id``
#: (sources.md, policies 4.1: the v2 ``ParentContentType`` values).
TREE_TYPES: frozenset[str] = frozenset({"page", "whiteboard", "database", "embed", "folder"})
#: Types that hang off another item through ``container_id`` instead of the tree.
CONTAINED_TYPES: frozenset[str] = frozenset({"comment", "attachment"})

# Content ids are positive decimal integers without leading zeros, so that "0123" cannot be
# a different item from the "123" a CQL query names.
# (pydantic checks ``pattern`` with Rust's regex, where ``$`` is the end of the text; Python
# code uses ``_ID_RE.fullmatch``: Python's ``$`` also matches before a trailing newline.)
_ID_PATTERN = r"^[1-9][0-9]*$"
_ID_RE = re.compile(r"[1-9][0-9]*")
# Space keys: alphanumeric; personal space keys are "~" followed by a user name or account
# id (which may contain ":" and "-", e.g. "~712020:4a5b...").
# Keys must match exactly: ``$`` would let a trailing newline through, hence ``fullmatch``.
_SPACE_KEY_RE = re.compile(r"[A-Za-z0-9]+|~[A-Za-z0-9][A-Za-z0-9_.:-]*")
_WS_RE = re.compile(r"\s")


def a_or_an(kind: str) -> str:
    """A content type with its article, for messages: "a page", "an embed"."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _dedupe(values: list[str]) -> list[str]:
    """Drop repeated values, keeping the first: these lists are sets whose order matters
    only for display (and for "most recent first" activity lists, the first is the one to keep).
    """
    return list(dict.fromkeys(values))


def _check_words(values: list[str], what: str) -> list[str]:
    """Reject blank values and values with whitespace (labels and categories are single
    words in Confluence; "release notes" is two labels, or a typo of "release-notes")."""
    for value in values:
        if not value or _WS_RE.search(value):
            raise ValueError(f"{what} must be non-empty and contain no whitespace: {value!r}")
    return _dedupe(values)


def _check_nonblank(values: list[str], what: str) -> list[str]:
    for value in values:
        if not value.strip():
            raise ValueError(f"{what} must not contain blank values")
    return _dedupe(values)


#: How deeply a line's JSON may nest (objects and arrays, the line itself is level 1).
#: Deeper values cannot be stored (the index serialises content properties, and Python's
#: serialisers stop far below the thousands of levels JSON allows); no real export nests
#: anywhere near this.
MAX_NESTING = 100
#: Content ids are 64-bit integers in the index (Confluence's ids are Java longs).
MAX_CONTENT_ID = 2**63 - 1


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def storable_problem(data: Any) -> str | None:
    """Why a line's raw JSON cannot be indexed whatever its fields say, or None.

    Two things no field check catches: a lone surrogate (JSON's ``"\\ud800"`` escape
    decodes to a string that has no UTF-8 form, so writing it to the index fails) in any
    key or value, and nesting deeper than ``MAX_NESTING``. The walk is iterative, so a
    line nested thousands deep is reported, not a ``RecursionError``.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, where, depth = stack.pop()
        if len(where) > 60:
            where = where[:57] + "..."
        if isinstance(value, str):
            if _has_lone_surrogate(value):
                return f"{where or 'the line'}: a string holds a lone surrogate (an unpaired " \
                       "\\uD800-\\uDFFF escape), which is not valid Unicode"
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_NESTING:
            return f"{where or 'the line'}: nested deeper than {MAX_NESTING} levels"
        if isinstance(value, dict):
            for key, item in value.items():
                step = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and _has_lone_surrogate(key):
                    return f"{where or 'the line'}: a key holds a lone surrogate (an " \
                           "unpaired \\uD800-\\uDFFF escape), which is not valid Unicode"
                stack.append((item, step, depth + 1))
        else:
            stack.extend((item, f"{where}[{n}]", depth + 1) for n, item in enumerate(value))
    return None


def _id_fits(value: str | None) -> str | None:
    """Ids already match ``_ID_PATTERN``; refuse those the index cannot hold."""
    if value is not None and (len(value) > 19 or int(value) > MAX_CONTENT_ID):
        raise ValueError(f"content ids are at most {MAX_CONTENT_ID} (a 64-bit integer)")
    return value


def _in_calendar(value: datetime | None) -> datetime | None:
    """Refuse a date whose offset moves it outside the years 1 to 9999 in UTC: Python
    cannot convert it, so every search showing the item would fail."""
    if value is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the date is outside the years 1 to 9999 once its UTC offset is "
                             "applied") from None
    return value


class _Strict(BaseModel):
    """Shared configuration: unknown keys are errors and validated objects are immutable.

    Every line is first checked for what cannot be stored at all (``storable_problem``).
    """

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        problem = storable_problem(data)
        if problem is not None:
            raise ValueError(problem)
        return data


def _principal_name(value: str) -> str:
    """Account ids and group names named by permissions are indexed as comma-separated
    keywords, so a comma (or a blank) would make one name match another."""
    if not value.strip() or value != value.strip() or "," in value:
        raise ValueError(f"names must be non-blank, without surrounding spaces or commas: "
                         f"{value!r}")
    return value


Principal = Annotated[StrictStr, AfterValidator(_principal_name)]


def _principals(values: list[str]) -> list[str]:
    return _dedupe(values)


class Grantees(_Strict):
    """Accounts and groups named by a permission or a restriction."""

    users: list[Principal] = Field(default_factory=list)
    groups: list[Principal] = Field(default_factory=list)

    @field_validator("users", "groups")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return _principals(values)

    @property
    def empty(self) -> bool:
        return not self.users and not self.groups


class ViewGrant(Grantees):
    """Who may view a space: named accounts and groups, every licensed user, anonymous."""

    anonymous: StrictBool = False
    all_licensed_users: StrictBool = False


class SpacePermissions(_Strict):
    """A space's ``permissions``. A missing ``view`` grants nobody (fail closed)."""

    view: ViewGrant = Field(default_factory=ViewGrant)
    administer: Grantees = Field(default_factory=Grantees)


class Group(_Strict):
    """A line of ``groups.jsonl``."""

    name: Principal
    members: list[Principal] = Field(default_factory=list)

    @field_validator("members")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return _principals(values)


class Space(_Strict):
    """A line of ``spaces.jsonl``. Without ``permissions`` every licensed user may view it
    (what sites without permission data always meant)."""

    key: str
    name: str = Field(min_length=1)
    type: SpaceType
    status: SpaceStatus = "current"
    categories: list[str] = Field(default_factory=list)
    description: str = ""
    permissions: SpacePermissions | None = None

    @field_validator("key")
    @classmethod
    def _key_shape(cls, key: str) -> str:
        if not _SPACE_KEY_RE.fullmatch(key):
            raise ValueError(
                "space key must be alphanumeric, or '~' followed by a user name for a "
                f"personal space: {key!r}"
            )
        return key

    @field_validator("categories")
    @classmethod
    def _categories(cls, categories: list[str]) -> list[str]:
        return _check_words(categories, "categories")

    @model_validator(mode="after")
    def _personal_iff_tilde(self) -> Space:
        # CQL relies on the "~" prefix to tell personal spaces apart (they must be quoted),
        # so the key and the type must agree.
        if (self.type == "personal") != self.key.startswith("~"):
            raise ValueError("personal space keys start with '~', and only personal spaces do")
        return self


class User(_Strict):
    """A line of ``users.jsonl``. Activity lists are most recent first."""

    account_id: str = Field(min_length=1)
    display_name: str = Field(min_length=1)
    kind: UserKind = "user"
    active: StrictBool = True
    guest_space: str | None = None
    favourite_spaces: list[str] = Field(default_factory=list)
    favourite_content: list[str] = Field(default_factory=list)
    recently_viewed_content: list[str] = Field(default_factory=list)
    recently_viewed_spaces: list[str] = Field(default_factory=list)

    @field_validator("favourite_content", "recently_viewed_content")
    @classmethod
    def _content_ids(cls, ids: list[str]) -> list[str]:
        for value in ids:
            if not _ID_RE.fullmatch(value):
                raise ValueError(f"content ids are numeric strings: {value!r}")
            _id_fits(value)
        return _dedupe(ids)

    @field_validator("favourite_spaces", "recently_viewed_spaces")
    @classmethod
    def _space_keys(cls, keys: list[str]) -> list[str]:
        return _check_nonblank(keys, "space keys")

    @model_validator(mode="after")
    def _guest_has_one_space(self) -> User:
        # A single-space guest belongs to exactly one space; anyone else to none.
        if (self.kind == "guest") != (self.guest_space is not None):
            raise ValueError("guest_space is required for a guest and only for a guest")
        return self


class ContentLine(_Strict):
    """A line of ``content.jsonl``, as given (nothing derived yet)."""

    id: str = Field(pattern=_ID_PATTERN)
    type: ContentType
    status: ContentStatus = "current"
    title: str
    space: str = Field(min_length=1)
    parent_id: str | None = Field(default=None, pattern=_ID_PATTERN)
    container_id: str | None = Field(default=None, pattern=_ID_PATTERN)
    creator: str = Field(min_length=1)
    created: AwareDatetime
    lastmodified: AwareDatetime | None = None
    contributors: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    watchers: list[str] = Field(default_factory=list)
    mentions: list[str] = Field(default_factory=list)
    body: str = ""
    page_status: str | None = None
    file_name: str | None = None
    url: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    read_restrictions: Grantees | None = None

    @field_validator("created", "lastmodified", mode="before")
    @classmethod
    def _iso_string(cls, value: Any) -> Any:
        # Pydantic would also take a number as a Unix timestamp; the format says ISO-8601
        # text, and a bare number is far more likely a mistake than an intent.
        if value is not None and not isinstance(value, str):
            raise ValueError("expected an ISO-8601 date-time string with a UTC offset")
        return value

    @field_validator("id", "parent_id", "container_id")
    @classmethod
    def _ids_fit(cls, value: str | None) -> str | None:
        return _id_fits(value)

    @field_validator("created", "lastmodified")
    @classmethod
    def _dates_in_calendar(cls, value: datetime | None) -> datetime | None:
        return _in_calendar(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: list[str]) -> list[str]:
        return _check_words(labels, "labels")

    @field_validator("contributors", "watchers", "mentions")
    @classmethod
    def _accounts(cls, ids: list[str]) -> list[str]:
        return _check_nonblank(ids, "account ids")

    @field_validator("page_status", "file_name", "url")
    @classmethod
    def _nonblank_optional(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank (leave the key out instead)")
        return value

    @field_validator("properties")
    @classmethod
    def _property_keys(cls, properties: dict[str, Any]) -> dict[str, Any]:
        for key in properties:
            if not key.strip():
                raise ValueError("content property keys must not be blank")
        return properties

    @model_validator(mode="after")
    def _shape_by_type(self) -> ContentLine:
        """Check the fields whose presence depends on the type, so that a tree field on a
        non-tree item (or the reverse) fails here with a message that says why."""
        kind = self.type
        if kind in CONTAINED_TYPES:
            if self.container_id is None:
                raise ValueError(f"container_id is required for {a_or_an(kind)}")
        elif self.container_id is not None:
            raise ValueError(
                f"container_id is only for comments and attachments, not {a_or_an(kind)}"
            )
        if self.parent_id is not None and kind not in TREE_TYPES:
            hint = " (use container_id)" if kind in CONTAINED_TYPES else ""
            raise ValueError(
                f"parent_id is not allowed on {a_or_an(kind)}: it is not in the tree{hint}"
            )
        if self.parent_id == self.id or self.container_id == self.id:
            raise ValueError(f"item {self.id} cannot be its own parent or container")
        if kind == "attachment" and self.file_name is None:
            raise ValueError("file_name is required for an attachment")
        if kind != "attachment" and self.file_name is not None:
            raise ValueError(f"file_name is only for attachments, not {a_or_an(kind)}")
        if kind != "embed" and self.url is not None:
            raise ValueError(f"url is only for embeds, not {a_or_an(kind)}")
        if kind in CONTAINED_TYPES and self.read_restrictions is not None:
            raise ValueError(f"read_restrictions are not allowed on {a_or_an(kind)}: it "
                             "follows its container's restrictions")
        if kind != "comment" and not self.title.strip():
            raise ValueError(f"title must not be blank for {a_or_an(kind)}")
        if self.lastmodified is not None and self.lastmodified < self.created:
            raise ValueError("lastmodified is before created")
        return self


class ContentItem(ContentLine):
    """A content item with its derived fields filled (``index.site.loader`` builds these).

    - ``lastmodified``: never None (defaults to ``created``).
    - ``contributors``: always includes the creator (first, if the line left it out).
    - ``mentions``: the line's explicit mentions, then users mentioned in the body.
    - ``text``: the searchable plain text of the body (``index.site.storage_format.extract``).
    - ``macros``: sorted unique macro names used in the body.
    - ``ancestors``: ids from the root of the tree down to the direct parent; for comments
      and attachments, the container's ancestors followed by the container.
    """

    lastmodified: AwareDatetime
    text: str = ""
    macros: list[str] = Field(default_factory=list)
    ancestors: list[str] = Field(default_factory=list)

    @property
    def restricted(self) -> bool:
        """True when a read restriction names anyone (absent or empty: unrestricted)."""
        return self.read_restrictions is not None and not self.read_restrictions.empty

    @property
    def is_tree_item(self) -> bool:
        """True for the types that can be (or have) a tree parent."""
        return self.type in TREE_TYPES
