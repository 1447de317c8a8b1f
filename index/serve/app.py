"""The ASGI application: routes from the operations table, authentication, scope checks.

Each route names an ``operationId`` of ``operations.tsv``. Before its handler runs, the
request is authenticated (``auth``) and, for an app, its token's scopes are checked against
the operation (a missing scope is the API gateway's ``401 Unauthorized; scope does not
match``). The app access rule is not a check here: handlers read through the engine, which
masks what the rule blocks, so a blocked item is a plain 404.

The v1 routes are also served without the ``/wiki`` prefix, because Confluence's paging
links (``/rest/api/search?next=true&cursor=...``) are relative to the site context and
some clients resolve them against the host.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from index.engine import Engine
from index.security.callers import AppCaller
from index.serve import contained, content_v1, content_v2, search_v1, users
from index.serve.access import Reader
from index.serve.auth import Authenticator
from index.serve.context import Call, Services
from index.serve.errors import SCOPE_MESSAGE, ApiError, render
from index.serve.openapi import spec
from index.serve.operations import operation
from index.serve.writes import Writer

log = logging.getLogger("cql.serve")
Handler = Callable[[Call], Awaitable[Response]]

#: operationId -> handler. The method and path come from the operations table.
HANDLERS: dict[str, Handler] = {
    "searchByCQL": search_v1.search,
    "searchContentByCQL": search_v1.content_search,
    "searchUser": users.search_users,
    "getContent": content_v1.list_content,
    "createContent": content_v1.create_content,
    "getContentById": content_v1.get_content,
    "updateContent": content_v1.update_content,
    "deleteContent": content_v1.delete_content,
    "getContentChildPages": content_v1.child_pages,
    "getHistoryForContent": content_v1.history,
    "getSpacesV1": content_v1.list_spaces,
    "getSpace": content_v1.get_space,
    "getPages": content_v2.list_items,
    "getBlogPosts": content_v2.list_items,
    "createPage": content_v2.create_item,
    "createBlogPost": content_v2.create_item,
    "createSmartLink": content_v2.create_item,
    "createDatabase": content_v2.create_item,
    "getPageById": content_v2.get_item,
    "getBlogPostById": content_v2.get_item,
    "getSmartLinkById": content_v2.get_item,
    "getDatabaseById": content_v2.get_item,
    "getFolderById": content_v2.get_item,
    "getWhiteboardById": content_v2.get_item,
    "updatePage": content_v2.update_item,
    "updateBlogPost": content_v2.update_item,
    "deletePage": content_v2.delete_item,
    "deleteBlogPost": content_v2.delete_item,
    "deleteSmartLink": content_v2.delete_item,
    "deleteDatabase": content_v2.delete_item,
    "getChildPages": content_v2.children,
    "getPageAncestors": content_v2.ancestors,
    "getPageLabels": content_v2.labels,
    "getBlogPostLabels": content_v2.labels,
    "getSpaces": content_v2.list_spaces,
    "getSpaceById": content_v2.get_space,
    "getPageContentProperties": content_v2.properties,
    "getBlogpostContentProperties": content_v2.properties,
    "getWhiteboardContentProperties": content_v2.properties,
    "getDatabaseContentProperties": content_v2.properties,
    "getSmartLinkContentProperties": content_v2.properties,
    "getFolderContentProperties": content_v2.properties,
    "getAttachments": contained.list_all,
    "getFooterComments": contained.list_all,
    "getInlineComments": contained.list_all,
    "getPageAttachments": contained.list_of,
    "getBlogpostAttachments": contained.list_of,
    "getPageFooterComments": contained.list_of,
    "getPageInlineComments": contained.list_of,
    "getBlogPostFooterComments": contained.list_of,
    "getBlogPostInlineComments": contained.list_of,
    "getAttachmentById": contained.get_one,
    "getFooterCommentById": contained.get_one,
    "getInlineCommentById": contained.get_one,
    "getAttachmentLabels": contained.attachment_labels,
    "getAttachmentVersionDetails": contained.version,
    "getFooterCommentVersionDetails": contained.version,
    "getInlineCommentVersionDetails": contained.version,
    "getBulkUserLookup": users.bulk,
    "getDataPolicyMetadata": content_v2.policy_metadata,
    "getDataPolicySpaces": content_v2.policy_spaces,
}


def check_scopes(caller: Any, operation_id: str) -> None:
    op = operation(operation_id)
    if isinstance(caller, AppCaller) and not op.allows(caller.kind, caller.scopes):
        raise ApiError(401, SCOPE_MESSAGE, "UNAUTHORIZED")


def _endpoint(operation_id: str, services: Services, auth: Authenticator
              ) -> Callable[[Request], Awaitable[Response]]:
    handler = HANDLERS[operation_id]

    async def endpoint(request: Request) -> Response:
        try:
            caller = auth.caller(request.headers.get("authorization"))
            check_scopes(caller, operation_id)
            return await handler(Call(request, caller, services))
        except ApiError as err:
            return render(err, request.url.path)
        except Exception:  # a bug: log it, answer in the API's shape without internals
            log.exception("internal error in %s", operation_id)
            return render(ApiError(500, "Internal server error"), request.url.path)

    endpoint.__name__ = operation_id
    return endpoint


def _starlette_path(path: str) -> str:
    return path  # the table's {id} / {spaceKey} templates are Starlette's syntax too


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of this app (``docs/openapi.json``)."""
    return spec(HANDLERS)


def create_app(engine: Engine, *, allow_anonymous: bool = False, strict_scopes: bool = False,
               webhooks: bool = True, now: datetime | None = None) -> Starlette:
    reader = Reader(engine, strict_scopes=strict_scopes, now=now)
    services = Services(engine, reader, Writer(engine, reader))
    auth = Authenticator(engine.index_dir, lambda app_id: engine.policy_layer().store.app(app_id),
                         allow_anonymous=allow_anonymous)
    routes: list[Route] = []
    for operation_id in HANDLERS:
        op = operation(operation_id)
        endpoint = _endpoint(operation_id, services, auth)
        routes.append(Route(_starlette_path(op.path), endpoint, methods=[op.method]))
        if op.path.startswith("/wiki/rest/api/"):
            routes.append(Route(op.path.removeprefix("/wiki"), endpoint, methods=[op.method],
                                include_in_schema=False))
    document = JSONResponse(spec(HANDLERS)).body  # serialised once

    async def openapi(_: Request) -> Response:
        return Response(document, media_type="application/json")

    routes.append(Route("/openapi.json", openapi, methods=["GET"]))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        message = "Not found" if status == 404 else "Method not allowed"
        return render(ApiError(status, f"{message}: {request.method} {request.url.path}"),
                      request.url.path)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        outbox = None
        if webhooks:
            from index.serve.webhooks import Outbox, webhook_urls

            outbox = Outbox(engine.index_dir, webhook_urls(engine.index_dir))
            outbox.start()
        try:
            yield
        finally:
            if outbox is not None:
                outbox.stop()

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found},
                     lifespan=lifespan)
