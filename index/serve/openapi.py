"""The OpenAPI 3.0 document of what the server implements, built from the operations table.

Paths, methods, operation ids and scopes come from ``operations.tsv`` (only the rows the
app has handlers for); parameters and response schemas are declared here per operation.
``docs/openapi.json`` is this document, checked in; a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from index.serve.operations import operation

S = dict[str, Any]


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _str(**extra: Any) -> S:
    return {"type": "string", **extra}


def _int(**extra: Any) -> S:
    return {"type": "integer", **extra}


def _obj(required: list[str], props: S, **extra: Any) -> S:
    return {"type": "object", "required": required, "properties": props, **extra}


NULL_STR: S = {"type": "string", "nullable": True}
LINKS: S = {"type": "object", "additionalProperties": {"type": "string"}}

SCHEMAS: S = {
    "V1Error": _obj(["statusCode", "message"], {
        "statusCode": _int(), "message": _str(), "reason": _str(),
        "data": {"type": "object"}}),
    "V2Error": _obj(["errors"], {"errors": {"type": "array", "items": _obj(
        ["status", "code", "title"], {"status": _int(), "code": _str(), "title": _str(),
                                      "detail": NULL_STR})}}),
    "Space": _obj(["id", "key", "name", "type", "status", "_links"], {
        "id": _int(), "key": _str(), "name": _str(), "type": _str(), "status": _str(),
        "_links": LINKS, "_expandable": {"type": "object"}}),
    "Content": _obj(["id", "type", "status", "title", "_links"], {
        "id": _str(), "type": _str(), "status": _str(), "title": _str(),
        "space": _ref("Space"),
        "version": _obj(["number"], {"number": _int(), "when": _str(), "message": _str(),
                                     "minorEdit": {"type": "boolean"},
                                     "by": {"type": "object"}}),
        "history": {"type": "object"},
        "body": {"type": "object"},
        "ancestors": {"type": "array", "items": {"type": "object"}},
        "metadata": {"type": "object"}, "children": {"type": "object"},
        "container": {"type": "object"}, "extensions": {"type": "object"},
        "_expandable": {"type": "object"}, "_links": LINKS}),
    "History": _obj(["latest", "createdDate", "lastUpdated"], {
        "latest": {"type": "boolean"}, "createdBy": {"type": "object"},
        "createdDate": _str(),
        "lastUpdated": _obj(["number"], {"number": _int(), "when": _str(),
                                         "minorEdit": {"type": "boolean"},
                                         "message": _str(), "by": {"type": "object"}})}),
    "SearchResult": _obj(["title", "excerpt", "url", "breadcrumbs", "entityType",
                          "iconCssClass", "lastModified"], {
        "content": {"allOf": [_ref("Content")], "nullable": True}, "space": _ref("Space"),
        "user": _obj(["accountId", "displayName"], {
            "type": _str(), "accountId": _str(), "accountType": _str(),
            "displayName": _str(), "publicName": _str()}),
        "title": _str(), "excerpt": _str(), "url": _str(),
        "resultGlobalContainer": _obj(["title", "displayUrl"],
                                      {"title": _str(), "displayUrl": _str()}),
        "resultParentContainer": _obj(["title", "displayUrl"],
                                      {"title": _str(), "displayUrl": _str()}),
        "breadcrumbs": {"type": "array", "items": {"type": "object"}},
        "entityType": _str(enum=["content", "space", "user"]), "iconCssClass": _str(),
        "lastModified": _str(), "friendlyLastModified": _str(), "score": {"type": "number"}}),
    "SearchPage": _obj(["results", "start", "limit", "size", "totalSize", "cqlQuery",
                        "searchDuration", "_links"], {
        "results": {"type": "array", "items": _ref("SearchResult")},
        "start": _int(), "limit": _int(), "size": _int(), "totalSize": _int(),
        "cqlQuery": _str(), "searchDuration": _int(), "_links": LINKS}),
    "ContentSearchPage": _obj(["results", "start", "limit", "size", "_links"], {
        "results": {"type": "array", "items": _ref("Content")},
        "start": _int(), "limit": _int(), "size": _int(), "totalSize": _int(),
        "cqlQuery": _str(), "searchDuration": _int(), "_links": LINKS}),
    "ContentArray": _obj(["results", "start", "limit", "size", "_links"], {
        "results": {"type": "array", "items": _ref("Content")},
        "start": _int(), "limit": _int(), "size": _int(), "_links": LINKS}),
    "SpaceArray": _obj(["results", "start", "limit", "size", "_links"], {
        "results": {"type": "array", "items": _ref("Space")},
        "start": _int(), "limit": _int(), "size": _int(), "_links": LINKS}),
    "Version": _obj(["number", "createdAt"], {
        "number": _int(), "createdAt": _str(), "message": _str(),
        "minorEdit": {"type": "boolean"}, "authorId": _str()}),
    "Item": _obj(["id", "type", "status", "title", "spaceId", "authorId", "createdAt",
                  "version", "_links"], {
        "id": _str(), "type": _str(), "status": _str(), "title": _str(), "spaceId": _str(),
        "parentId": NULL_STR, "parentType": NULL_STR,
        "position": {"type": "integer", "nullable": True}, "authorId": _str(),
        "ownerId": NULL_STR, "createdAt": _str(), "embedUrl": _str(),
        "version": _ref("Version"), "body": {"type": "object"},
        "labels": _ref("InlineList"), "properties": _ref("InlineList"), "_links": LINKS}),
    "InlineList": _obj(["results", "meta"], {
        "results": {"type": "array", "items": {"type": "object"}},
        "meta": _obj(["hasMore"], {"hasMore": {"type": "boolean"}, "cursor": NULL_STR}),
        "_links": LINKS}),
    "Attachment": _obj(["id", "status", "title", "createdAt", "mediaType", "fileSize",
                        "version", "_links"], {
        "id": _str(), "status": _str(), "title": _str(), "createdAt": _str(),
        "pageId": _str(), "blogPostId": _str(), "customContentId": _str(),
        "mediaType": _str(), "mediaTypeDescription": _str(), "comment": _str(),
        "fileId": _str(), "fileSize": _int(), "webuiLink": _str(), "downloadLink": _str(),
        "version": _ref("Version"), "labels": _ref("InlineList"), "_links": LINKS}),
    "AttachmentArray": _obj(["results", "_links"], {
        "results": {"type": "array", "items": _ref("Attachment")}, "_links": LINKS}),
    "Comment": _obj(["id", "status", "title", "version", "body", "_links"], {
        "id": _str(), "status": _str(), "title": _str(), "pageId": _str(),
        "blogPostId": _str(), "attachmentId": _str(), "customContentId": _str(),
        "version": _ref("Version"), "body": {"type": "object"}, "_links": LINKS}),
    "CommentArray": _obj(["results", "_links"], {
        "results": {"type": "array", "items": _ref("Comment")}, "_links": LINKS}),
    "VersionDetails": _obj(["number", "createdAt", "authorId"], {
        "number": _int(), "createdAt": _str(), "authorId": _str(), "message": _str(),
        "minorEdit": {"type": "boolean"}, "contentTypeModified": {"type": "boolean"},
        "collaborators": {"type": "array", "items": _str()},
        "prevVersion": {"type": "integer", "nullable": True},
        "nextVersion": {"type": "integer", "nullable": True}}),
    "PropertyArray": _obj(["results", "_links"], {
        "results": {"type": "array", "items": _obj(["id", "key", "value", "version"], {
            "id": _str(), "key": _str(), "value": {},
            "version": _ref("Version")})}, "_links": LINKS}),
    "UserArray": _obj(["results", "start", "limit", "size", "_links"], {
        "results": {"type": "array", "items": _obj(["accountId", "displayName"], {
            "type": _str(), "accountId": _str(), "accountType": _str(),
            "displayName": _str(), "publicName": _str(), "email": _str(),
            "isExternalCollaborator": {"type": "boolean"}, "_links": LINKS})},
        "start": _int(), "limit": _int(), "size": _int(), "_links": LINKS}),
    "ItemArray": _obj(["results", "_links"], {
        "results": {"type": "array", "items": _ref("Item")}, "_links": LINKS}),
    "Child": _obj(["id", "status", "title", "spaceId"], {
        "id": _str(), "status": _str(), "title": _str(), "spaceId": _str(),
        "childPosition": {"type": "integer", "nullable": True}}),
    "ChildArray": _obj(["results", "_links"], {
        "results": {"type": "array", "items": _ref("Child")}, "_links": LINKS}),
    "AncestorArray": _obj(["results"], {
        "results": {"type": "array", "items": _obj(["id", "type"], {"id": _str(),
                                                                   "type": _str()})},
        "_links": LINKS}),
    "LabelArray": _obj(["results"], {
        "results": {"type": "array", "items": _obj(["id", "name", "prefix"], {
            "id": _str(), "name": _str(), "prefix": _str()})}, "_links": LINKS}),
    "SpaceV2": _obj(["id", "key", "name", "type", "status", "_links"], {
        "id": _str(), "key": _str(), "name": _str(), "type": _str(), "status": _str(),
        "homepageId": NULL_STR, "description": {"type": "object"},
        "labels": _ref("InlineList"), "_links": LINKS}),
    "SpaceV2Array": _obj(["results", "_links"], {
        "results": {"type": "array", "items": _ref("SpaceV2")}, "_links": LINKS}),
    "DataPolicyMetadata": _obj(["anyContentBlocked"], {"anyContentBlocked":
                                                       {"type": "boolean"}}),
    "DataPolicySpaceArray": _obj(["results", "_links"], {
        "results": {"type": "array", "items": _obj(["id", "key", "name", "dataPolicy"], {
            "id": _str(), "key": _str(), "name": _str(), "description": {"type": "object"},
            "dataPolicy": _obj(["anyContentBlocked"],
                               {"anyContentBlocked": {"type": "boolean"}}),
            "_links": LINKS})}, "_links": LINKS}),
    "V1ContentCreate": _obj(["type", "title", "space"], {
        "type": _str(enum=["page", "blogpost"]), "title": _str(minLength=1),
        "status": _str(enum=["current", "draft"]),
        "space": _obj(["key"], {"key": _str()}),
        "ancestors": {"type": "array", "items": _obj(["id"], {"id": _str()})},
        "body": _obj([], {"storage": _obj(["value"], {"value": _str(),
                                                      "representation": _str()})})}),
    "V1ContentUpdate": _obj(["version"], {
        "type": _str(enum=["page", "blogpost"]), "title": _str(minLength=1),
        "status": _str(enum=["current", "draft", "archived"]),
        "version": _obj(["number"], {"number": _int()}),
        "ancestors": {"type": "array", "items": _obj(["id"], {"id": _str()})},
        "body": _obj([], {"storage": _obj(["value"], {"value": _str(),
                                                      "representation": _str()})})}),
    "V2Create": _obj(["spaceId"], {
        "spaceId": _str(), "status": _str(enum=["current", "draft"]),
        "title": _str(minLength=1), "parentId": _str(), "embedUrl": _str(),
        "body": _obj([], {"representation": _str(enum=["storage"]), "value": _str()})}),
    "V2Update": _obj(["id", "status", "title", "version"], {
        "id": _str(), "status": _str(enum=["current", "draft", "archived"]),
        "title": _str(minLength=1), "parentId": _str(),
        "version": _obj(["number"], {"number": _int(), "message": _str()}),
        "body": _obj([], {"representation": _str(enum=["storage"]), "value": _str()})}),
}


def _q(name: str, schema: S, required: bool = False, description: str = "") -> S:
    out: S = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


def _path(name: str, numeric: bool = True) -> S:
    schema = _str(pattern="^[0-9]+$") if numeric else _str()
    return {"name": name, "in": "path", "required": True, "schema": schema}


LIMIT = _q("limit", _int(minimum=0, maximum=2**31 - 1))
START = _q("start", _int(minimum=0, maximum=2**31 - 1))
CURSOR = _q("cursor", _str())
EXPAND = _q("expand", _str(), description="comma-separated expansions")
SEARCH_PARAMS = [
    _q("cql", _str(minLength=1), True, "the CQL query"),
    _q("cqlcontext", _str(), description='JSON: {"spaceKey", "contentId", "contentStatuses"}'),
    CURSOR, _q("next", {"type": "boolean"}), LIMIT, START,
    _q("includeArchivedSpaces", {"type": "boolean"}),
    _q("excludeCurrentSpaces", {"type": "boolean"}),
    _q("excerpt", _str(enum=["highlight", "indexed", "none", "highlight_unescaped",
                             "indexed_unescaped"])),
    EXPAND,
]
STATUS = _q("status", _str(enum=["current", "draft", "archived", "trashed", "any"]))
V2_LIST = [_q("limit", _int(minimum=1, maximum=250)), CURSOR]
BODY_FORMAT = _q("body-format", _str(enum=["storage"]))
INCLUDES = [_q("include-labels", {"type": "boolean"}),
            _q("include-properties", {"type": "boolean"})]
V2_STATUS = _q("status", _str(enum=["current", "archived", "draft", "trashed"]))
CONTAINED = [V2_STATUS, BODY_FORMAT, *V2_LIST]
VERSION_PATH = [_path("id"), _path("number")]
PROPERTIES = ([_path("id"), _q("key", _str()), *V2_LIST], None, 200, "PropertyArray")

#: operationId -> (parameters, request body schema or None, success status, success schema).
OPERATIONS: dict[str, tuple[list[S], str | None, int, str | None]] = {
    "searchByCQL": (SEARCH_PARAMS, None, 200, "SearchPage"),
    "searchContentByCQL": (SEARCH_PARAMS, None, 200, "ContentSearchPage"),
    "searchUser": ([_q("cql", _str(minLength=1), True, "user fields only"), START, LIMIT],
                   None, 200, "SearchPage"),
    "getContent": ([_q("type", _str(enum=["page", "blogpost"])), _q("spaceKey", _str()),
                    _q("title", _str()), STATUS, START, LIMIT, EXPAND], None, 200,
                   "ContentArray"),
    "createContent": ([], "V1ContentCreate", 200, "Content"),
    "getContentById": ([_path("id"), STATUS, EXPAND], None, 200, "Content"),
    "updateContent": ([_path("id")], "V1ContentUpdate", 200, "Content"),
    "deleteContent": ([_path("id"), STATUS], None, 204, None),
    "getHistoryForContent": ([_path("id")], None, 200, "History"),
    "getContentChildPages": ([_path("id"), START, LIMIT, EXPAND], None, 200, "ContentArray"),
    "getSpacesV1": ([_q("spaceKey", _str()), START, LIMIT], None, 200, "SpaceArray"),
    "getSpace": ([_path("spaceKey", numeric=False)], None, 200, "Space"),
    "getPages": ([_q("space-id", _str()), _q("title", _str()), STATUS,
                  _q("body-format", _str(enum=["storage"])), *V2_LIST], None, 200,
                 "ItemArray"),
    "getBlogPosts": ([_q("space-id", _str()), _q("title", _str()), STATUS,
                      _q("body-format", _str(enum=["storage"])), *V2_LIST], None, 200,
                     "ItemArray"),
    "createPage": ([], "V2Create", 200, "Item"),
    "createBlogPost": ([], "V2Create", 200, "Item"),
    "createSmartLink": ([], "V2Create", 200, "Item"),
    "createDatabase": ([], "V2Create", 200, "Item"),
    "getPageById": ([_path("id"), BODY_FORMAT, *INCLUDES], None, 200, "Item"),
    "getBlogPostById": ([_path("id"), BODY_FORMAT, *INCLUDES], None, 200, "Item"),
    "getSmartLinkById": ([_path("id"), *INCLUDES], None, 200, "Item"),
    "getDatabaseById": ([_path("id"), *INCLUDES], None, 200, "Item"),
    "getFolderById": ([_path("id"), *INCLUDES], None, 200, "Item"),
    "getWhiteboardById": ([_path("id"), *INCLUDES], None, 200, "Item"),
    "getPageContentProperties": PROPERTIES,
    "getBlogpostContentProperties": PROPERTIES,
    "getWhiteboardContentProperties": PROPERTIES,
    "getDatabaseContentProperties": PROPERTIES,
    "getSmartLinkContentProperties": PROPERTIES,
    "getFolderContentProperties": PROPERTIES,
    "getAttachments": (CONTAINED, None, 200, "AttachmentArray"),
    "getFooterComments": (CONTAINED, None, 200, "CommentArray"),
    "getInlineComments": (CONTAINED, None, 200, "CommentArray"),
    "getPageAttachments": ([_path("id"), *CONTAINED], None, 200, "AttachmentArray"),
    "getBlogpostAttachments": ([_path("id"), *CONTAINED], None, 200,
                               "AttachmentArray"),
    "getPageFooterComments": ([_path("id"), *CONTAINED], None, 200, "CommentArray"),
    "getPageInlineComments": ([_path("id"), *CONTAINED], None, 200, "CommentArray"),
    "getBlogPostFooterComments": ([_path("id"), *CONTAINED], None, 200,
                                  "CommentArray"),
    "getBlogPostInlineComments": ([_path("id"), *CONTAINED], None, 200,
                                  "CommentArray"),
    "getAttachmentById": ([_path("id"), _q("include-labels", {"type": "boolean"})], None,
                          200, "Attachment"),
    "getFooterCommentById": ([_path("id"), BODY_FORMAT], None, 200, "Comment"),
    "getInlineCommentById": ([_path("id"), BODY_FORMAT], None, 200, "Comment"),
    "getAttachmentLabels": ([_path("id"), *V2_LIST], None, 200, "LabelArray"),
    "getAttachmentVersionDetails": (VERSION_PATH, None, 200, "VersionDetails"),
    "getFooterCommentVersionDetails": (VERSION_PATH, None, 200, "VersionDetails"),
    "getInlineCommentVersionDetails": (VERSION_PATH, None, 200, "VersionDetails"),
    "getBulkUserLookup": ([_q("accountId", _str(minLength=1), True), START,
                           _q("limit", _int(minimum=0, maximum=200))], None, 200,
                          "UserArray"),
    "updatePage": ([_path("id")], "V2Update", 200, "Item"),
    "updateBlogPost": ([_path("id")], "V2Update", 200, "Item"),
    "deletePage": ([_path("id"), _q("purge", {"type": "boolean"})], None, 204, None),
    "deleteBlogPost": ([_path("id"), _q("purge", {"type": "boolean"})], None, 204, None),
    "deleteSmartLink": ([_path("id"), _q("purge", {"type": "boolean"})], None, 204, None),
    "deleteDatabase": ([_path("id"), _q("purge", {"type": "boolean"})], None, 204, None),
    "getChildPages": ([_path("id"), *V2_LIST], None, 200, "ChildArray"),
    "getPageAncestors": ([_path("id")], None, 200, "AncestorArray"),
    "getPageLabels": ([_path("id")], None, 200, "LabelArray"),
    "getBlogPostLabels": ([_path("id")], None, 200, "LabelArray"),
    "getSpaces": ([_q("ids", _str()), _q("keys", _str()), _q("type", _str()),
                   _q("status", _str()), _q("description-format", _str(enum=["plain"])),
                   _q("include-labels", {"type": "boolean"}), *V2_LIST], None, 200,
                  "SpaceV2Array"),
    "getSpaceById": ([_path("id"), _q("include-labels", {"type": "boolean"})], None, 200,
                     "SpaceV2"),
    "getDataPolicyMetadata": ([], None, 200, "DataPolicyMetadata"),
    "getDataPolicySpaces": (V2_LIST, None, 200, "DataPolicySpaceArray"),
}

ERRORS = {400: "Bad request", 401: "Not authenticated, or the token lacks a scope",
          403: "Forbidden", 404: "Not found, or not visible to the caller",
          409: "Version conflict"}


def _operation(operation_id: str) -> S:
    params, body, status, schema = OPERATIONS[operation_id]
    op = operation(operation_id)
    error = "V2Error" if op.path.startswith("/wiki/api/v2") else "V1Error"
    responses: S = {str(status): {"description": "OK"}}
    if schema:
        responses[str(status)]["content"] = {"application/json": {"schema": _ref(schema)}}
    for code, text in ERRORS.items():
        if code == 409 and op.method != "PUT":
            continue
        responses[str(code)] = {"description": text,
                                "content": {"application/json": {"schema": _ref(error)}}}
    out: S = {
        "operationId": operation_id,
        "parameters": params,
        "responses": responses,
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
        "x-atlassian-oauth2-scopes": [{"scheme": "oAuthDefinitions", "state": "Current",
                                       "scopes": list(op.scopes)}],
        "x-connect-scope": op.connect_scope,
        "x-app-access-rule-exempt": op.exempt,
    }
    if body:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _ref(body)}}}
    return out


def spec(operation_ids: Iterable[str]) -> S:
    """The document of the operations ``operation_ids`` (the app's handlers); deterministic:
    same input, same JSON."""
    paths: S = {}
    for operation_id in operation_ids:
        op = operation(operation_id)
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(operation_id)
    return {
        "openapi": "3.0.3",
        "info": {"title": "cql-search serve", "version": "1",
                 "description": "The Confluence Cloud REST operations cql serve implements "
                                "(docs/serve.md). v1 routes are also served without the /wiki "
                                "prefix, as Confluence's relative paging links need."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"},
                                "bearerAuth": {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"}}},
    }
