"""The one exception the engine raises for problems that are not about query text.

Query problems (syntax, fields, operators) are ``cql.errors.CqlError`` and carry a span into
the query. Everything else the engine refuses (a caller without the right scope, an app
acting for a user who never granted it access, a malformed policy, an unknown policy id, a
tampered cursor) has no span to point at, so it gets this smaller error instead.

The ``code`` is the API: front ends and callers branch on it, and it never changes once
published. The message is for people and may be reworded. Codes in use:

- ``permission``: the caller may not do this (for example read someone else's favourites).
- ``scope``: an app's token lacks the OAuth scope the operation needs.
- ``no_grant``: an app acting for a user holds no grant from that user covering this site.
- ``invalid_policy``: a policy (file item or store call) breaks a rule or a limit.
- ``invalid_site``: ``apps.json``, ``grants.json`` or ``site.json`` is malformed.
- ``invalid_store``: the persisted policy store file is unreadable or of an unknown format.
- ``not_found``: a named object (policy id, ...) does not exist.
- ``bad_cursor``: a paging cursor was tampered with or belongs to another query or caller.
- ``bad_event_log``: a line of the policy event log is corrupt.
"""

from __future__ import annotations


class EngineError(Exception):
    """An engine operation that cannot proceed, with a stable ``code`` and a readable message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"EngineError({self.code!r}, {self.message!r})"

    def to_dict(self) -> dict[str, str]:
        """The JSON shape front ends print (``{"code": ..., "message": ...}``)."""
        return {"code": self.code, "message": self.message}
