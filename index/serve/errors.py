"""Errors in Confluence's two shapes.

v1 (``/wiki/rest/api``): ``{"statusCode", "message", "data": {...}, "reason"}``, the generic
Confluence REST error; for CQL errors ``data`` also carries our error (code, line, column,
offset) so a client can point at the problem. v2 (``/wiki/api/v2``): ``{"errors": [{"status",
"code", "title", "detail"}]}``.

A missing item and an item the caller may not see raise the same :class:`ApiError` with the
same message: nothing in the response tells them apart.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

SCOPE_MESSAGE = "Unauthorized; scope does not match"
NOT_FOUND_MESSAGE = ("No content found with id: {id}, or the calling user does not have "
                     "permission to view it")


class ApiError(Exception):
    """A request the server refuses, with its HTTP status and a one-line message."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or HTTPStatus(status).name
        self.data = data or {}


def not_found(item_id: str) -> ApiError:
    """The one answer for missing, blocked and hidden items alike."""
    return ApiError(404, NOT_FOUND_MESSAGE.format(id=item_id), "NOT_FOUND")


def bad_request(message: str, **data: Any) -> ApiError:
    return ApiError(400, message, "INVALID_REQUEST_PARAMETER", data)


def is_v2(path: str) -> bool:
    return path.startswith("/wiki/api/v2")


def render(error: ApiError, path: str) -> JSONResponse:
    status = HTTPStatus(error.status)
    headers = {"WWW-Authenticate": 'Basic realm="cql-search"'} if error.status == 401 else None
    if is_v2(path):
        body: dict[str, Any] = {"errors": [{
            "status": error.status, "code": error.code, "title": status.phrase,
            "detail": error.message}]}
    else:
        data = {"authorized": error.status not in (401, 403), "valid": error.status != 400,
                "allowedInReadOnlyMode": True, "errors": [], "successful": False}
        data.update(error.data)
        body = {"statusCode": error.status, "data": data, "message": error.message,
                "reason": status.phrase}
    return JSONResponse(body, status_code=error.status, headers=headers)
