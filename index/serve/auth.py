"""Who a request is: basic auth -> a user, a bearer token -> an app, nothing -> anonymous.

- **Basic** (email + API token): accounts come from ``credentials.json`` in the index
  directory (copied from the site at build, or written by ``cql credentials add``). Tokens
  are kept as SHA-256 digests; a site file may hold them in clear (``api_token``) and they
  are hashed on load. The file is never served.
- **Bearer**: an HS256 JWT minted by ``cql token issue`` with the key in ``serve.key``. It
  names the app (``app_id``), the user it acts for (``sub``, absent when the app acts as
  itself) and its scopes (``scope``, space-separated as in OAuth). Both issuers Atlassian
  has used are accepted. Expired, badly signed, wrongly issued and unknown-app tokens are
  401. The app's kind (Forge, Connect, 3LO) comes from the app registry, not the token.

PyJWT does the signature and claim checks (``algorithms=["HS256"]`` pinned, so a token
cannot choose ``none`` or another algorithm); hand-rolled JWT parsing is a classic source
of bypasses and the dependency is small.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import jwt

from index.security.callers import AnonymousCaller, AppCaller, UserCaller, parse_scopes
from index.serve.errors import ApiError

CREDENTIALS_FILE = "credentials.json"
KEY_FILE = "serve.key"
NATIVE_ISSUER = "https://auth.atlassian.com"
AUTH0_ISSUER = "https://atlassian-account-prod.pus2.auth0.com/"
#: Both issuers, with and without the trailing slash (sources.md, policies 6: which era carried
#: the slash is not known), and the bare host the issue text names.
ISSUERS = frozenset({NATIVE_ISSUER, NATIVE_ISSUER + "/", "auth.atlassian.com",
                     AUTH0_ISSUER, AUTH0_ISSUER.rstrip("/")})

Caller = UserCaller | AppCaller | AnonymousCaller
#: Verified bearer tokens remembered (forgotten all at once when full).
VERIFIED_TOKENS = 4096


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- credentials ---------------------------------------------------------------------------


def read_credentials(index_dir: Path) -> list[dict[str, str]]:
    """The accounts of ``credentials.json`` with hashed tokens (empty when there is none)."""
    path = Path(index_dir) / CREDENTIALS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a list of accounts")
    out = []
    for n, entry in enumerate(raw, 1):
        if not isinstance(entry, dict) or not {"email", "account_id"} <= entry.keys():
            raise ValueError(f"{path}: entry {n} needs email, account_id and api_token")
        digest = entry.get("api_token_sha256") or (
            _digest(entry["api_token"]) if isinstance(entry.get("api_token"), str) else None)
        if not digest:
            raise ValueError(f"{path}: entry {n} needs email, account_id and api_token")
        out.append({"email": str(entry["email"]), "account_id": str(entry["account_id"]),
                    "api_token_sha256": digest})
    return out


def add_credential(index_dir: Path, email: str, account_id: str) -> str:
    """Add (or replace) ``email``'s API token; returns the new token (shown once)."""
    token = "CQL" + secrets.token_urlsafe(24)
    accounts = [a for a in read_credentials(index_dir) if a["email"].lower() != email.lower()]
    accounts.append({"email": email, "account_id": account_id,
                     "api_token_sha256": _digest(token)})
    _write_private(Path(index_dir) / CREDENTIALS_FILE,
                   json.dumps(accounts, indent=2).encode("utf-8"))
    return token


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# --- tokens --------------------------------------------------------------------------------


def signing_key(index_dir: Path) -> bytes:
    """The index's token key, created on first use (readable by its owner only)."""
    path = Path(index_dir) / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes()
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
        return path.read_bytes()


def issue_token(index_dir: Path, app_id: str, scopes: frozenset[str], user: str | None,
                ttl: int = 3600, issuer: str = NATIVE_ISSUER, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"iss": issuer, "app_id": app_id, "scope": " ".join(sorted(scopes)),
                              "iat": issued, "exp": issued + ttl, "jti": secrets.token_hex(8)}
    if user:
        claims["sub"] = user
    return jwt.encode(claims, signing_key(index_dir), algorithm="HS256")


class Authenticator:
    """Turns an ``Authorization`` header into a caller, or refuses it with a 401."""

    def __init__(self, index_dir: Path, apps: Any, allow_anonymous: bool = False) -> None:
        self.index_dir = Path(index_dir)
        self.apps = apps  # callable app_id -> App | None (the live policy store)
        self.allow_anonymous = allow_anonymous
        self._key = signing_key(self.index_dir)
        #: token -> (its exp, its claims), for tokens that passed every check of ``_claims``
        self._verified: dict[str, tuple[int, dict[str, Any]]] = {}
        self._accounts_mtime = -1
        self._accounts: dict[str, dict[str, str]] = {}

    def _accounts_by_email(self) -> dict[str, dict[str, str]]:
        path = self.index_dir / CREDENTIALS_FILE
        mtime = path.stat().st_mtime_ns if path.exists() else 0
        if mtime != self._accounts_mtime:  # `cql credentials add` while the server runs
            self._accounts = {a["email"].lower(): a for a in read_credentials(self.index_dir)}
            self._accounts_mtime = mtime
        return self._accounts

    def caller(self, header: str | None) -> Caller:
        if not header:
            if self.allow_anonymous:
                return AnonymousCaller()
            raise ApiError(401, "Authentication required: send basic auth (email and API "
                           "token) or a bearer token", "UNAUTHORIZED")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            return self._basic(value.strip())
        if scheme.lower() == "bearer":
            return self._bearer(value.strip())
        raise ApiError(401, f"Unsupported authorization scheme {scheme!r}", "UNAUTHORIZED")

    def _basic(self, value: str) -> UserCaller:
        try:
            email, sep, token = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            email, sep, token = "", "", ""
        account = self._accounts_by_email().get(email.lower()) if sep else None
        if account is None or not hmac.compare_digest(account["api_token_sha256"],
                                                      _digest(token)):
            raise ApiError(401, "Basic authentication failed: unknown email or wrong API "
                           "token", "UNAUTHORIZED")
        return UserCaller(account_id=account["account_id"])

    def _claims(self, token: str) -> dict[str, Any]:
        """The claims of a valid token, else a 401.

        A client sends the same token with every request, and checking it (PyJWT: base64,
        JSON, HMAC, claims) cost a tenth of a search; so a token that passed is
        remembered with its claims. Of its checks only expiry can change with time (a
        token past ``nbf`` and ``iat`` stays past them, the key is read once), so a
        remembered token is used only before its ``exp``, which PyJWT compares the same
        way; after that it is checked again, and refused."""
        known = self._verified.get(token)
        if known is not None and time.time() < known[0]:
            return known[1]
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"],
                                options={"require": ["exp", "iss", "app_id"],
                                         "verify_iss": False})
        except jwt.ExpiredSignatureError:
            self._verified.pop(token, None)
            raise ApiError(401, "The bearer token has expired", "UNAUTHORIZED") from None
        except jwt.InvalidTokenError as err:
            raise ApiError(401, f"Invalid bearer token: {err}", "UNAUTHORIZED") from None
        if claims["iss"] not in ISSUERS:
            raise ApiError(401, f"Invalid bearer token: unknown issuer {claims['iss']!r}",
                           "UNAUTHORIZED")
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = (int(claims["exp"]), claims)
        return claims

    def _bearer(self, token: str) -> AppCaller:
        claims = self._claims(token)
        app = self.apps(str(claims["app_id"]))
        if app is None:
            raise ApiError(401, f"Invalid bearer token: app {claims['app_id']!r} is not "
                           "installed on this site", "UNAUTHORIZED")
        user = claims.get("sub") or None
        try:
            return AppCaller(app_id=app.app_id, kind=app.kind, acting_for=user,
                             scopes=parse_scopes(str(claims.get("scope", ""))))
        except ValueError:
            raise ApiError(401, "Invalid bearer token: an OAuth 2.0 (3LO) token must name "
                           "the user it acts for", "UNAUTHORIZED") from None
