"""Query parameters as Confluence reads them, with one-line 400s for bad values."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import QueryParams

from index.core.context import SearchContext
from index.serve.errors import bad_request

MAX_LIMIT = 1000
MAX_INT = 2**31 - 1


def body_string(body: dict[str, Any], name: str, required: bool = False, *,
                numbers: bool = False) -> str | None:
    """A string field of a JSON request body, None when absent. ``required``: present and
    not blank. ``numbers``: integers are taken too, as strings (v2 bodies send ids such as
    ``spaceId`` either way); booleans never are."""
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required")
        return None
    kinds = (str, int) if numbers else (str,)
    if not isinstance(value, kinds) or isinstance(value, bool) or (
            required and not str(value).strip()):
        raise bad_request(f"{name} must be a non-empty string")
    return str(value)


def integer(params: QueryParams, name: str, default: int, maximum: int = MAX_INT) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise bad_request(f"{name} cannot be less than zero")
    if value > MAX_INT:
        raise bad_request(f"{name} is too large")
    return min(value, maximum)


def boolean(params: QueryParams, name: str, default: bool = False) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise bad_request(f"{name} must be true or false, got {raw!r}")


def expand(params: QueryParams) -> set[str]:
    return {part.strip() for value in params.getlist("expand") for part in value.split(",")
            if part.strip()}


def required(params: QueryParams, name: str) -> str:
    value = params.get(name)
    if not value or not value.strip():
        raise bad_request(f"{name.upper() if name == 'cql' else name} query parameter is "
                          "required but was empty")
    return value


def search_context(params: QueryParams, now: datetime) -> SearchContext:
    """``cqlcontext`` (JSON: spaceKey, contentId, contentStatuses) and the archive flags."""
    fields: dict[str, Any] = {"now": now}
    raw = params.get("cqlcontext")
    if raw:
        try:
            given = json.loads(raw)
        except ValueError:
            raise bad_request("cqlcontext must be a JSON object") from None
        if not isinstance(given, dict):
            raise bad_request("cqlcontext must be a JSON object")
        unknown = set(given) - {"spaceKey", "contentId", "contentStatuses"}
        if unknown:
            raise bad_request(f"cqlcontext: unknown key {sorted(unknown)[0]!r} (expected "
                              "spaceKey, contentId, contentStatuses)")
        fields.update(given)
    fields["includeArchivedSpaces"] = boolean(params, "includeArchivedSpaces")
    fields["excludeCurrentSpaces"] = boolean(params, "excludeCurrentSpaces")
    try:
        return SearchContext.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise bad_request(f"cqlcontext: {where}: {first['msg']}") from None


def statuses(params: QueryParams, default: tuple[str, ...] = ("current",)) -> tuple[str, ...]:
    raw = [s.strip() for v in params.getlist("status") for s in v.split(",") if s.strip()]
    if not raw:
        return default
    if "any" in raw:
        return ("current", "draft", "archived", "trashed")
    unknown = [s for s in raw if s not in ("current", "draft", "archived", "trashed")]
    if unknown:
        raise bad_request(f"status: unknown content status {unknown[0]!r}")
    return tuple(dict.fromkeys(raw))


def json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as err:
        raise bad_request(f"the request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body
