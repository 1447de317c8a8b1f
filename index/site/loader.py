"""Load a site directory (docs/site-format.md) into validated, derived objects.

A site is a directory of JSON Lines files. Loading never stops at the first problem: every
line that cannot be used becomes a ``Reject`` (file, 1-based line, message) and every other
line still loads, so one typo in a 100,000-line export costs one item, not the whole index.
Items that depend on a rejected item (children of a rejected page, comments on a rejected
blog post) are rejected too, each naming what it depends on, because indexing them would
give them wrong ancestors or a wrong space (and a wrong space can defeat a data security
policy, which is applied per space).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from index.site.models import (
    CONTAINED_TYPES,
    MAX_NESTING,
    TREE_TYPES,
    ContentItem,
    ContentLine,
    Group,
    Space,
    User,
    a_or_an,
)
from index.site.storage_format import StorageFormatError, extract

__all__ = [
    "CONTENT_FILE",
    "EXTRA_FILES",
    "GROUPS_FILE",
    "SPACES_FILE",
    "USERS_FILE",
    "Reject",
    "Site",
    "derive",
    "load_site",
    "parse_content_line",
    "summarise_validation_error",
]

SPACES_FILE = "spaces.jsonl"
USERS_FILE = "users.jsonl"
CONTENT_FILE = "content.jsonl"
GROUPS_FILE = "groups.jsonl"
#: Files read only as JSON and handed on raw (policies, apps and grants belong to the
#: policy module; site.json describes the site itself).
EXTRA_FILES = ("policies.json", "apps.json", "grants.json", "site.json")
_Record = TypeVar("_Record", Space, User, Group)
#: How deep the content tree may go: an item with more ancestors than this is rejected.
#: Each item stores its ancestors (``ancestor =`` is one term lookup), so an uncapped chain
#: costs time and space quadratic in its depth (10,000 levels: 50 million entries).
MAX_TREE_DEPTH = 1000
_FILE_ORDER = {name: rank for rank, name in
               enumerate((SPACES_FILE, USERS_FILE, GROUPS_FILE, CONTENT_FILE))}


@dataclass(frozen=True, slots=True)
class Reject:
    """One unusable line. ``line`` is 1-based; 0 means "not from a file line" (for example
    an item handed to ``derive`` by an upsert)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line == 0:  # about the whole file (or an item not from a file)
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Site:
    """A loaded site: only accepted objects, with derived fields filled."""

    spaces: dict[str, Space] = field(default_factory=dict)  # by key, as given
    users: dict[str, User] = field(default_factory=dict)  # by account_id
    groups: dict[str, Group] = field(default_factory=dict)  # by name
    #: Account ids whose users.jsonl line was rejected: they see nothing (a broken line must
    #: not turn a guest or a deactivated account into an ordinary licensed user).
    rejected_accounts: set[str] = field(default_factory=set)
    content: dict[str, ContentItem] = field(default_factory=dict)  # by id, in file order
    extras: dict[str, Any] = field(default_factory=dict)  # raw JSON by file name
    rejects: list[Reject] = field(default_factory=list)


class Linked(Protocol):
    """What the tree walk reads of an item: a ``ContentItem`` or a compact ``Link``."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def space(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def container_id(self) -> str | None: ...


class Link(NamedTuple):
    """The fields of a content item that decisions about other items read: its place in
    the tree and its space. A parallel build keeps only these in its parent process."""

    id: str
    type: str
    space: str
    parent_id: str | None
    container_id: str | None

    @classmethod
    def of(cls, item: ContentItem) -> Link:
        return cls(item.id, item.type, item.space, item.parent_id, item.container_id)


@dataclass(frozen=True, slots=True)
class Invalid:
    """A content line that failed validation: its reject message and its id, if a string
    (items below it are rejected naming this line)."""

    id: str | None
    message: str


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json`` keeps the last of repeated keys silently; a repeated key in a line is almost
    always an editing mistake, so it is a reject instead."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else repr(value[:60])
    return text if len(text) <= 40 else text[:37] + "..."


def summarise_validation_error(error: ValidationError) -> str:
    """One readable line naming each failing field (pydantic's own text spans many lines)."""
    parts: list[str] = []
    for detail in error.errors(include_url=False):
        loc = ".".join(str(part) for part in detail["loc"])
        kind = detail["type"]
        message = detail["msg"].removeprefix("Value error, ")
        if kind == "extra_forbidden":
            parts.append(f"unknown field {loc!r}")
            continue
        if kind == "missing":
            parts.append(f"missing field {loc!r}")
            continue
        if kind == "string_pattern_mismatch":
            message = "expected a numeric id (digits, no leading zero)"
        if kind != "storage_format" and not isinstance(detail["input"], dict | list):
            message += f" (got {_short(detail['input'])})"
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts)


def parse_content_line(obj: Mapping[str, Any]) -> ContentItem:
    """Validate one content item and fill the fields that depend on the item alone (text,
    macros, mentions, contributors, lastmodified). ``ancestors`` stays empty: it depends on
    other items, see ``derive``. Raises ``pydantic.ValidationError``, also for a body that
    cannot be parsed (error type ``storage_format`` at ``body``)."""
    line = ContentLine.model_validate(obj)
    try:
        info = extract(line.body)
    except StorageFormatError as exc:
        raise ValidationError.from_exception_data(
            "ContentLine",
            [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "storage_format",
                        "cannot be parsed as storage format: {reason}",
                        {"reason": exc.message},
                    ),
                    loc=("body",),
                    input=line.body,
                )
            ],
        ) from exc
    values = dict(line.__dict__)
    if line.creator not in line.contributors:
        values["contributors"] = [line.creator, *line.contributors]
    values["mentions"] = list(dict.fromkeys([*line.mentions, *info.mentions]))
    if line.lastmodified is None:
        values["lastmodified"] = line.created
    values["text"] = info.text
    values["macros"] = list(info.macros)
    values["ancestors"] = []
    # Everything was validated above; constructing skips a second validation pass.
    return ContentItem.model_construct(_fields_set=line.model_fields_set, **values)


def _link(item: Linked) -> tuple[str, str] | None:
    """The item this one hangs below: ("parent_id", id), ("container_id", id) or None."""
    if item.parent_id is not None:
        return "parent_id", item.parent_id
    if item.container_id is not None:
        return "container_id", item.container_id
    return None


def _link_problem(item: Linked, field_name: str, target: Linked) -> str | None:
    """Why ``target`` cannot be the parent/container of ``item`` (None if it can)."""
    if field_name == "parent_id":
        if target.type not in TREE_TYPES:
            return (
                f"parent_id {target.id} is {a_or_an(target.type)}; tree parents are pages, "
                "whiteboards, databases, embeds and folders"
            )
        if target.space != item.space:
            return (
                f"space {item.space!r} differs from its parent {target.id}'s space "
                f"{target.space!r} (the content tree does not cross spaces)"
            )
        return None
    if target.type == "comment" or (item.type == "attachment" and target.type in CONTAINED_TYPES):
        holder, held = a_or_an(target.type), a_or_an(item.type)
        return f"container_id {target.id} is {holder}, which cannot hold {held}"
    if target.space != item.space:
        return (
            f"space {item.space!r} differs from its container {target.id}'s space "
            f"{target.space!r} (comments and attachments belong to their container's space)"
        )
    return None


def derive(
    items: Mapping[str, ContentItem],
    *,
    lines: Mapping[str, int] | None = None,
    rejected: Mapping[str, int] | None = None,
    file: str = CONTENT_FILE,
    unchanged: Collection[str] = (),
) -> tuple[dict[str, ContentItem], list[Reject]]:
    """Recompute ``ancestors`` for a whole id -> item mapping.

    Returns the accepted items (in the mapping's order, with ``ancestors`` filled) and a
    reject for every item whose parent or container is missing, rejected, of the wrong type
    or in another space, that is part of a parent cycle, or that sits below such an item.
    ``lines`` maps ids to their line numbers for the rejects (0 when unknown); ``rejected``
    maps ids already rejected elsewhere to their lines, so that messages about their
    dependents can say where the parent went. Incremental upserts call this with the
    updated mapping when a page moves, since every descendant's ancestors change; they
    name the items read back from the index in ``unchanged``: one of those that fails only
    because an item above it was rejected stays as it is stored, so it is no reject.
    """
    ancestors, rejects = settle(items, lines=lines, rejected=rejected, file=file,
                                unchanged=unchanged)
    accepted: dict[str, ContentItem] = {}
    for item_id, item in items.items():
        derived = ancestors.get(item_id)
        if derived is None:
            continue
        accepted[item_id] = with_ancestors(item, derived)
    return accepted, rejects


def with_ancestors(item: ContentItem, ancestors: list[str]) -> ContentItem:
    """``item`` with ``ancestors`` (itself when they are already its own)."""
    if item.ancestors == ancestors:
        return item
    return item.model_copy(update={"ancestors": ancestors})


def settle(
    items: Mapping[str, Linked],
    *,
    lines: Mapping[str, int] | None = None,
    rejected: Mapping[str, int] | None = None,
    file: str = CONTENT_FILE,
    unchanged: Collection[str] = (),
) -> tuple[dict[str, list[str]], list[Reject]]:
    """The tree walk of ``derive`` on the link fields alone: the ancestors of every accepted
    id, and the rejects. A build of a large site calls it with ``Link`` records, so that
    the parent process never holds the items themselves."""
    lines = lines or {}
    rejected = rejected or {}
    ancestors: dict[str, list[str]] = {}
    failed: dict[str, str] = {}  # id -> reject message

    def where(item_id: str) -> str:
        number = lines.get(item_id, 0) or rejected.get(item_id, 0)
        return f" ({file}:{number})" if number else ""

    for start in items:
        if start in ancestors or start in failed:
            continue
        # Walk up until a resolved item, a root or a problem; then settle the path top-down.
        path = [start]
        on_path = {start: 0}
        outcome: str | None = None  # None: the top of the path is fine
        while True:
            item = items[path[-1]]
            link = _link(item)
            if link is None:  # a root
                ancestors[path.pop()] = []
                break
            field_name, target_id = link
            if target_id in ancestors or target_id in failed:
                break
            if target_id in on_path:
                cycle = path[on_path[target_id] :]
                chain = " -> ".join([*cycle, target_id])
                for member in cycle:
                    failed[member] = f"parent cycle: {chain}"
                del path[on_path[target_id] :]
                break
            target = items.get(target_id)
            if target is None:
                if target_id in rejected:
                    outcome = f"{field_name} {target_id} was rejected{where(target_id)}"
                else:
                    outcome = f"{field_name} {target_id} does not exist"
                break
            on_path[target_id] = len(path)
            path.append(target_id)

        if outcome is not None:
            failed[path.pop()] = outcome
        # Everything left on the path hangs below an item that is now settled.
        for item_id in reversed(path):
            item = items[item_id]
            link = _link(item)
            assert link is not None  # only linked items are left on the path
            field_name, target_id = link
            if target_id in failed:
                failed[item_id] = f"{field_name} {target_id} was rejected{where(target_id)}"
                continue
            problem = _link_problem(item, field_name, items[target_id])
            if problem is None and len(ancestors[target_id]) >= MAX_TREE_DEPTH:
                problem = (f"nested deeper than {MAX_TREE_DEPTH} levels below the root "
                           f"{ancestors[target_id][0]} (the content tree's depth limit)")
            if problem is not None:
                failed[item_id] = problem
            else:
                ancestors[item_id] = [*ancestors[target_id], target_id]

    cascades = {item_id for item_id, message in failed.items()
                if item_id in unchanged and " was rejected" in message}
    rejects = [
        Reject(file, lines.get(item_id, 0), f"id {item_id}: {message}")
        for item_id, message in failed.items() if item_id not in cascades
    ]
    rejects.sort(key=lambda reject: reject.line)
    return ancestors, rejects


def _read_jsonl(path: Path, rejects: list[Reject]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each usable line; blank lines are skipped.

    Lines are read one at a time (a 100,000-item export is over 100 MB) and as bytes, so
    that one line of bad UTF-8 is one reject rather than an unreadable file.
    """
    problem = _not_a_file(path)
    if problem is not None:
        if problem:
            rejects.append(Reject(path.name, 0, problem))
        return
    name = path.name
    try:
        stream = path.open("rb")
    except OSError as exc:
        rejects.append(Reject(name, 0, f"cannot be read ({exc.strerror or exc})"))
        return
    with stream:
        yield from _parse_lines(name, stream, rejects, 1)


def read_range(path: Path, start: int, end: int, first_line: int, rejects: list[Reject]
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    """``_read_jsonl`` for the lines in bytes ``[start, end)`` of a regular file, where
    ``start`` begins line ``first_line``: one process's share of a large file."""
    with path.open("rb") as stream:
        stream.seek(start)
        yield from _parse_lines(path.name, _until(stream, end - start), rejects, first_line)


def _until(stream: Any, size: int) -> Iterator[bytes]:
    for raw in stream:
        if size <= 0:
            return
        size -= len(raw)
        yield raw


def _parse_lines(name: str, lines: Iterable[bytes], rejects: list[Reject], first_line: int
                 ) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(lines, start=first_line):
        obj = _parse_line(name, number, raw, rejects)
        if obj is not None:
            yield number, obj


def _not_a_file(path: Path) -> str | None:
    """``None`` for a regular file, ``""`` for a missing one (a site may leave a file out),
    else why the path cannot be read as a file. A directory or a dangling symlink named
    ``policies.json`` is not "no policies": it is an error, like a malformed file."""
    if path.is_file():
        return None
    if path.is_symlink() and not path.exists():
        return f"is a dangling symbolic link (to {str(path.readlink())!r}), not a file"
    if not path.exists():
        return ""
    if path.is_dir():
        return "is a directory, not a file"
    return "is not a regular file"


def _not_utf8(line: bytes, at: int) -> str:
    """Where a line stops being UTF-8: the column (in characters, 1-based) and the byte."""
    column = len(line[:at].decode("utf-8", errors="replace")) + 1
    return f"not valid UTF-8 at column {column} (byte 0x{line[at]:02x})"


def _parse_line(name: str, number: int, raw: bytes, rejects: list[Reject]) -> dict[str, Any] | None:
    """The JSON object of one line, or None (after recording a reject unless it is blank)."""
    if number == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        rejects.append(Reject(name, number, _not_utf8(raw, exc.start)))
        return None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        rejects.append(Reject(name, number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
        return None
    except _DuplicateKey as exc:
        rejects.append(Reject(name, number, f"duplicate key {exc.args[0]!r} in the line"))
        return None
    except RecursionError:
        rejects.append(Reject(name, number, f"JSON nested too deeply (at most {MAX_NESTING} "
                              "levels)"))
        return None
    if not isinstance(obj, dict):
        kind = type(obj).__name__.replace("dict", "object").replace("list", "array")
        rejects.append(Reject(name, number, f"expected a JSON object, got {kind}"))
        return None
    return obj


def _id_prefix(obj: Mapping[str, Any], key: str) -> str:
    """``id 12: `` to start a reject; an id that is long or not printable is quoted and
    shortened so the reject stays one readable line."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        return ""
    if value.isprintable() and len(value) <= 40:
        return f"{key} {value}: "
    return f"{key} {_short(value)}: "


def _load_records(
    path: Path, model: type[_Record], key: str, what: str, rejects: list[Reject]
) -> tuple[dict[str, _Record], dict[str, int]]:
    """Load spaces or users, keyed by ``key``; later duplicates are rejects. Returns the
    records and the line of each rejected key (so dependents can say where it went)."""
    # Space keys match case-insensitively in CQL, so "dev" and "DEV" would be one space.
    fold = str.casefold if model is Space else str
    records: dict[str, _Record] = {}
    first: dict[str, tuple[str, int]] = {}  # folded key -> (key as given, line)
    rejected: dict[str, int] = {}
    for number, obj in _read_jsonl(path, rejects):
        try:
            record = model.model_validate(obj)
        except ValidationError as exc:
            message = summarise_validation_error(exc)
            rejects.append(Reject(path.name, number, _id_prefix(obj, key) + message))
            if isinstance(obj.get(key), str):
                rejected.setdefault(obj[key], number)
            continue
        value: str = getattr(record, key)
        if fold(value) in first:
            same, line = first[fold(value)]
            also = "" if same == value else f" (same as {same!r}: keys compare case-insensitively)"
            message = f"duplicate {what} {value!r}{also}; first on line {line}"
            rejects.append(Reject(path.name, number, message))
            continue
        records[value] = record
        first[fold(value)] = (value, number)
    return records, rejected


def _line_of(path: Path, account_id: str) -> int:
    """The line of ``account_id`` in users.jsonl (for a reject found after loading)."""
    for number, obj in _read_jsonl(path, []):
        if obj.get("account_id") == account_id:
            return number
    return 0


def _load_extra(path: Path, rejects: list[Reject]) -> tuple[bool, Any]:
    problem = _not_a_file(path)
    if problem is not None:
        if problem:
            rejects.append(Reject(path.name, 0, problem))
        return False, None
    try:
        data = path.read_bytes()
    except OSError as exc:
        rejects.append(Reject(path.name, 0, f"cannot be read ({exc.strerror or exc})"))
        return False, None
    try:
        return True, json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        rejects.append(Reject(path.name, line, _not_utf8(data[start:], exc.start - start)))
    except json.JSONDecodeError as exc:
        rejects.append(
            Reject(path.name, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})")
        )
    except RecursionError:
        rejects.append(Reject(path.name, 1, "JSON nested too deeply"))
    return False, None


def load_site(site_dir: str | Path) -> Site:
    """Load every file of a site directory. Missing files count as empty; unusable lines
    become ``Site.rejects``, sorted by file and line. Raises ``FileNotFoundError`` only
    when the directory itself does not exist."""
    root = Path(site_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"site directory not found: {root}")
    rejects: list[Reject] = []
    site, rejected_spaces = load_catalog(root, rejects)
    admission: Admission[ContentItem] = Admission(site.spaces, rejected_spaces, rejects)
    for number, obj in _read_jsonl(root / CONTENT_FILE, rejects):
        admission.take(number, parse_content(obj))
    site.content, tree_rejects = derive(admission.items, lines=admission.lines,
                                        rejected=admission.rejected_ids)
    rejects.extend(tree_rejects)
    load_extras(root, site, rejects)
    sort_rejects(rejects)
    site.rejects = rejects
    return site


def load_catalog(root: Path, rejects: list[Reject]) -> tuple[Site, dict[str, int]]:
    """A site with its spaces, users and groups (no content yet), and the line of each
    rejected space key (content in such a space names it)."""
    site = Site()
    site.spaces, rejected_spaces = _load_records(
        root / SPACES_FILE, Space, "key", "space key", rejects
    )
    site.users, rejected_users = _load_records(
        root / USERS_FILE, User, "account_id", "account id", rejects)
    for account_id, user in list(site.users.items()):
        if user.guest_space is not None and user.guest_space not in site.spaces:
            line = _line_of(root / USERS_FILE, account_id)
            rejects.append(Reject(USERS_FILE, line, f"account_id {account_id}: guest_space "
                                  f"{user.guest_space!r} is not a space of spaces.jsonl"))
            del site.users[account_id]
            rejected_users.setdefault(account_id, line)
    site.rejected_accounts = set(rejected_users)
    site.groups, _ = _load_records(root / GROUPS_FILE, Group, "name", "group name", rejects)
    return site, rejected_spaces


def load_extras(root: Path, site: Site, rejects: list[Reject]) -> None:
    """Read the raw JSON files (policies, apps, grants, site.json) into ``site.extras``."""
    for name in EXTRA_FILES:
        ok, value = _load_extra(root / name, rejects)
        if ok:
            site.extras[name] = value


def sort_rejects(rejects: list[Reject]) -> None:
    """Rejects in file order (spaces, users, groups, content, the rest), then by line."""
    rejects.sort(key=lambda r: (_FILE_ORDER.get(r.file, len(_FILE_ORDER)), r.file, r.line))


def parse_content(obj: Mapping[str, Any]) -> ContentItem | Invalid:
    """One content line parsed, or why it is invalid (the reject's message)."""
    try:
        return parse_content_line(obj)
    except ValidationError as exc:
        item_id = obj.get("id")
        return Invalid(item_id if isinstance(item_id, str) else None,
                       _id_prefix(obj, "id") + summarise_validation_error(exc))


_Item = TypeVar("_Item", ContentItem, Link)


class Admission(Generic[_Item]):
    """The decisions on content lines that depend on earlier lines and on the spaces:
    duplicate ids (the first wins), unknown spaces, and which rejected ids items below
    them will name. Lines are taken in file order, parsed in this process or elsewhere.
    """

    def __init__(self, spaces: Mapping[str, Space], rejected_spaces: Mapping[str, int],
                 rejects: list[Reject]) -> None:
        self.spaces = spaces
        self.rejected_spaces = rejected_spaces
        self.folded_spaces = {key.casefold(): key for key in spaces}
        self.rejects = rejects
        self.items: dict[str, _Item] = {}
        self.lines: dict[str, int] = {}
        self.rejected_ids: dict[str, int] = {}

    def take(self, number: int, parsed: _Item | Invalid) -> None:
        items, lines, rejects = self.items, self.lines, self.rejects
        if isinstance(parsed, Invalid):
            rejects.append(Reject(CONTENT_FILE, number, parsed.message))
            if parsed.id is not None and parsed.id not in items:
                self.rejected_ids.setdefault(parsed.id, number)
            return
        item = parsed
        if item.id in items:
            message = f"id {item.id}: duplicate id; first on line {lines[item.id]}"
            rejects.append(Reject(CONTENT_FILE, number, message))
            return
        if item.space not in self.spaces:
            if item.space in self.rejected_spaces:
                hint = f" (it was rejected: {SPACES_FILE}:{self.rejected_spaces[item.space]})"
            elif item.space.casefold() in self.folded_spaces:
                hint = f" (did you mean {self.folded_spaces[item.space.casefold()]!r}?)"
            else:
                hint = ""
            message = f"id {item.id}: unknown space key {item.space!r}{hint}"
            rejects.append(Reject(CONTENT_FILE, number, message))
            self.rejected_ids.setdefault(item.id, number)
            return
        items[item.id] = item
        lines[item.id] = number
