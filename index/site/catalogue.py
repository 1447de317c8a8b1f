"""The catalogue an index keeps (``catalog.json``): spaces, users, groups and site files.

A build validates every line of ``spaces.jsonl``, ``users.jsonl`` and ``groups.jsonl``
before writing the catalogue, and the catalogue is one of the files the trust check
vouches for (``index.core.trust``: only its owner can write it), so opening an index
does not validate them again: validating the catalogue with pydantic and parsing its
2,000 users were most of an open at 100,000 items (about 40 ms of CPU).

The file stays one JSON object (any JSON reader sees the whole catalogue), laid out so
that opening can read it in parts: the first line holds everything but the users, with
the users' account ids in file order (``accounts``), and each following line holds one
user, so that a user's line is parsed only when a search asks for that user. A file
that is not laid out this way (an older build's, or one rewritten by hand) is read with
one ``json.loads``, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from index.errors import EngineError
from index.site.models import Grantees, Group, Space, SpacePermissions, User, ViewGrant

#: The first line of a catalogue laid out for opening in parts ends with this.
_USERS_OPEN = b', "users": ['
_USERS_CLOSE = b"\n]}"
LAYOUT = 2


def dumps(spaces: Iterable[Space], users: Iterable[User], groups: Iterable[Group],
          rejected_accounts: Iterable[str], extras: Mapping[str, Any]) -> bytes:
    """The bytes of a catalogue (see the module's docstring for its layout)."""
    dumped = [u.model_dump(mode="json") for u in users]
    lines = [json.dumps(u, ensure_ascii=False).encode() for u in dumped]
    head = {"layout": LAYOUT, "accounts": [u["account_id"] for u in dumped],
            "lengths": [len(line) for line in lines],
            "spaces": [s.model_dump(mode="json") for s in spaces],
            "groups": [g.model_dump(mode="json") for g in groups],
            "rejected_accounts": sorted(rejected_accounts), "extras": dict(extras)}
    first = json.dumps(head, ensure_ascii=False).encode()[:-1] + _USERS_OPEN
    return first + b",".join(b"\n" + line for line in lines) + _USERS_CLOSE


@dataclass
class Catalogue:
    """A catalogue as opened: spaces and groups made, users made when first read."""

    spaces: dict[str, Space]
    users: Mapping[str, User]
    groups: dict[str, Group]
    rejected_accounts: list[str]
    extras: dict[str, Any]


def load(path: Path) -> Catalogue:
    """Open the catalogue at ``path`` without validating it again (see above)."""
    raw = path.read_bytes()
    try:
        first = raw[:raw.find(b"\n")]
        if first.endswith(_USERS_OPEN) and raw.endswith(_USERS_CLOSE):
            head = json.loads(first[:-len(_USERS_OPEN)] + b"}")
            lengths = head.get("lengths")
            accounts = head.get("accounts")
            # each line: a newline, the user, a comma (but the last), then "\n]}"
            if (head.get("layout") == LAYOUT and isinstance(lengths, list)
                    and isinstance(accounts, list) and len(accounts) == len(lengths)
                    and len(first) + sum(lengths) + 2 * len(lengths)
                    - (1 if lengths else 0) + len(_USERS_CLOSE) == len(raw)):
                starts = list(accumulate((n + 2 for n in lengths), initial=len(first) + 1))
                spans: dict[str, tuple[int, int] | dict[str, Any]] = {
                    a: (start, n) for a, start, n in zip(accounts, starts[:-1], lengths,
                                                         strict=True)}
                return _made(head, _Users(spans, raw, path))
        data = json.loads(raw)
        return _made(data, _Users({u["account_id"]: u for u in data["users"]}, raw, path))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise EngineError("damaged", f"the index is damaged: {path} cannot be "
                          "read") from None


def _made(data: dict[str, Any], users: Mapping[str, User]) -> Catalogue:
    groups = [trusted_group(g) for g in data.get("groups", [])]
    return Catalogue(spaces={s["key"]: trusted_space(s) for s in data["spaces"]},
                     users=users, groups={g.name: g for g in groups},
                     rejected_accounts=list(data.get("rejected_accounts", [])),
                     extras=dict(data.get("extras", {})))


class _Users(Mapping[str, User]):
    """The catalogue's users by account id, each parsed and made a ``User`` when first
    read (a search reads a few of them): where its line is in ``raw``, or its fields."""

    def __init__(self, found: dict[str, tuple[int, int] | dict[str, Any]], raw: bytes,
                 path: Path) -> None:
        self._found = found
        self._raw = raw
        self._path = path
        self._made: dict[str, User] = {}

    def __getitem__(self, account_id: str) -> User:
        user = self._made.get(account_id)
        if user is None:
            where = self._found[account_id]
            try:
                if isinstance(where, tuple):
                    start, length = where
                    fields = json.loads(self._raw[start:start + length])
                else:
                    fields = where
                if fields["account_id"] != account_id:
                    raise ValueError(account_id)
            except (ValueError, KeyError, TypeError):
                raise EngineError("damaged", f"the index is damaged: {self._path}: the "
                                  f"line of account {account_id!r} cannot be read") from None
            user = self._made[account_id] = trusted_user(fields)
        return user

    def __iter__(self) -> Iterator[str]:
        return iter(self._found)

    def __len__(self) -> int:
        return len(self._found)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._found


# --- models from what a build validated -------------------------------------------------
# Made without validation, nested models included (``model_construct`` does not descend
# into them); the differential tests compare these with validated ones.

M = TypeVar("M", bound=BaseModel)


def _model(model: type[M], data: dict[str, Any]) -> M:
    """``model`` with the fields of ``data``, as ``model_construct`` makes it.

    A catalogue's records hold every field (a build wrote them with ``model_dump``);
    for those this sets the instance's state directly, as ``model_construct`` ends by
    doing, which costs a tenth of its walk over every field's aliases and defaults
    (about 20 microseconds a model, 460 models at 100,000 items). Any other record is
    made by ``model_construct``."""
    if data.keys() != model.__pydantic_fields__.keys():
        return model.model_construct(**data)
    made = model.__new__(model)
    _set = object.__setattr__
    _set(made, "__dict__", data)
    _set(made, "__pydantic_fields_set__", set(data))
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    return made


def trusted_user(data: Mapping[str, Any]) -> User:
    return _model(User, dict(data))


def trusted_group(data: Mapping[str, Any]) -> Group:
    return _model(Group, dict(data))


def trusted_space(data: Mapping[str, Any]) -> Space:
    perms = data.get("permissions")
    if perms is None:
        return _model(Space, dict(data))
    made = _model(SpacePermissions, {
        "view": _model(ViewGrant, dict(perms.get("view", {}))),
        "administer": _model(Grantees, dict(perms.get("administer", {})))})
    return _model(Space, {**data, "permissions": made})


__all__ = ["Catalogue", "dumps", "load", "trusted_group", "trusted_space", "trusted_user"]
