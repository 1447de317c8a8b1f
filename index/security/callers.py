"""Who is searching: a user, an app (acting for a user or as itself), or nobody.

The engine needs to know the caller for three separate reasons, and this module only
describes the caller; the decisions live elsewhere:

- whose view permissions apply (the user, or the app's own system user);
- whether the data security policies' app access rule applies (apps only,
  ``index.security.policy.blocked_spaces``) and which scopes the token holds
  (``index.security.policy``);
- which paging cursors the caller may use: a cursor is bound to ``fingerprint()`` so a
  cursor minted for one caller cannot page another caller's (differently filtered) results.

The models are frozen so a caller can be a cache key (masks are cached per caller).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    TypeAdapter,
    model_validator,
)

#: The kinds of third-party app Confluence knows (sources.md, policies 7.1).
AppKind = Literal["forge", "connect", "oauth2_3lo"]


def _non_blank(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise ValueError(f"must be non-empty without leading or trailing spaces, got {value!r}")
    return value


_NonBlank = Annotated[StrictStr, AfterValidator(_non_blank)]


class _CallerBase(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    def _identity(self) -> dict[str, Any]:
        """Everything that can change what this caller sees, in a canonical shape."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """A stable digest of the caller's identity (same caller, same string, any process).

        Scopes are part of it: under strict-scopes mode two tokens of one app with different
        scopes see different results, so their cursors must not be interchangeable.
        """
        return _fingerprint(self)


@lru_cache(maxsize=4096)
def _fingerprint(caller: _CallerBase) -> str:
    """``fingerprint``, kept for the callers last seen: every page of a search binds its
    cursor to it, and a front end makes an equal caller object for each request. Callers
    are frozen and compare by type and fields, so equal callers share the digest."""
    text = json.dumps(caller._identity(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class UserCaller(_CallerBase):
    """A person: UI session, API token or basic auth. Never filtered by the app access rule."""

    caller: Literal["user"] = "user"
    account_id: _NonBlank

    def _identity(self) -> dict[str, Any]:
        return {"caller": "user", "account_id": self.account_id}


class AppCaller(_CallerBase):
    """A third-party app calling with its token.

    ``acting_for`` is the account id of the user the app acts for (Forge ``asUser``, every
    3LO call); ``None`` means the app acts as itself through its system ("bot") user
    (Forge ``asApp``, Connect without user impersonation).
    """

    caller: Literal["app"] = "app"
    app_id: _NonBlank
    kind: AppKind
    scopes: frozenset[StrictStr] = frozenset()
    acting_for: _NonBlank | None = None

    @model_validator(mode="after")
    def _three_lo_acts_for_a_user(self) -> AppCaller:
        # An OAuth 2.0 (3LO) token is always issued to a user (sources.md, policies 7.1: "3LO is
        # always user"); a 3LO caller without one is a modelling mistake, not a system user.
        if self.kind == "oauth2_3lo" and self.acting_for is None:
            raise ValueError("an oauth2_3lo app always acts for a user: set acting_for")
        return self

    def _identity(self) -> dict[str, Any]:
        return {
            "caller": "app",
            "app_id": self.app_id,
            "kind": self.kind,
            "scopes": sorted(self.scopes),
            "acting_for": self.acting_for,
        }


class AnonymousCaller(_CallerBase):
    """Nobody logged in: sees only what anonymous access allows."""

    caller: Literal["anonymous"] = "anonymous"

    def _identity(self) -> dict[str, Any]:
        return {"caller": "anonymous"}


Caller = Annotated[UserCaller | AppCaller | AnonymousCaller, Field(discriminator="caller")]

_CALLER_ADAPTER: TypeAdapter[UserCaller | AppCaller | AnonymousCaller] = TypeAdapter(Caller)


def parse_caller(data: Any) -> UserCaller | AppCaller | AnonymousCaller:
    """A caller from its JSON shape, e.g. ``{"caller": "app", "app_id": ..., "kind": ...}``."""
    return _CALLER_ADAPTER.validate_python(data)


_SCOPE_SPLIT = re.compile(r"[\s,]+")


def parse_scopes(text: str) -> frozenset[str]:
    """Scopes from ``"a,b"`` (CLI style) or ``"a b"`` (OAuth ``scope`` parameter style)."""
    return frozenset(part for part in _SCOPE_SPLIT.split(text) if part)
