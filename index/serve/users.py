"""``GET /wiki/rest/api/search/user``: CQL over the site's users.

Content search rejects the user fields (``user``, ``user.fullname``, ``user.accountid``,
``user.userkey``); this endpoint accepts only them and ``type = user``
(sources.md, CQL 10.3). The query is parsed by ``cql``'s syntax parser and evaluated here
over the index's user list: users are not content, and the app access rule does not apply
(the operation is exempt).

``user.fullname ~ "ali ngu"`` matches a user when every word of the value starts a word of
the display name (case-insensitive), as Confluence's people search does.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse

from cql import ast
from cql.errors import CqlError, ErrorCode
from cql.parser import parse_syntax
from index.security.callers import AppCaller, UserCaller
from index.serve import params as P
from index.serve.access import cql_error
from index.serve.context import Call
from index.serve.errors import bad_request
from index.serve.render import user_ref

ID_FIELDS = ("user", "user.accountid", "user.userkey")
FIELDS = ("type", "user.fullname", *ID_FIELDS)


def _fail(code: ErrorCode, message: str, node: Any, text: str) -> CqlError:
    span = getattr(node, "span", ast.NO_SPAN)
    return CqlError(code, message, text, span.start, span.end)


def _values(value: ast.Value, me: str | None, text: str) -> list[str]:
    items = value.items if isinstance(value, ast.List) else (value,)
    out = []
    for item in items:
        if isinstance(item, ast.FunctionCall):
            if item.name != "currentUser":
                raise _fail(ErrorCode.UNKNOWN_FUNCTION, f"{item.name}() is not allowed in a "
                            "user search; use an account id or currentUser()", item, text)
            if me is None:
                raise _fail(ErrorCode.NEEDS_CONTEXT, "currentUser() needs a signed-in user",
                            item, text)
            out.append(me)
        elif isinstance(item, ast.String):
            out.append(item.value)
        elif isinstance(item, ast.Number | ast.Date):
            out.append(item.text)
    return out


def _words(text: str) -> list[str]:
    return [w for w in "".join(c if c.isalnum() else " " for c in text.casefold()).split()]


def compile_user_query(text: str, me: str | None) -> Any:
    """A predicate ``(account_id, display_name) -> bool`` for ``text``, or a CqlError."""
    query = parse_syntax(text)
    if query.order_by:
        raise _fail(ErrorCode.NOT_SORTABLE, "a user search cannot be ordered",
                    query.order_by[0], text)
    if query.where is None:
        raise CqlError(ErrorCode.EMPTY_QUERY, "the query is empty", text, 0, len(text))

    def build(node: ast.Expr) -> Any:
        if isinstance(node, ast.And):
            parts = [build(o) for o in node.operands]
            return lambda u: all(p(u) for p in parts)
        if isinstance(node, ast.Or):
            parts = [build(o) for o in node.operands]
            return lambda u: any(p(u) for p in parts)
        if isinstance(node, ast.Not):
            inner = build(node.operand)
            return lambda u: not inner(u)
        field = node.field.lower()
        if field not in FIELDS:
            raise _fail(ErrorCode.UNKNOWN_FIELD, f"'{node.field}' cannot be used in a user "
                        f"search; use {', '.join(FIELDS)}", node, text)
        values = _values(node.value, me, text)
        negative = node.op.is_negative
        if field == "type":
            if node.op not in (ast.Op.EQ, ast.Op.NE, ast.Op.IN, ast.Op.NOT_IN):
                raise _fail(ErrorCode.OPERATOR_NOT_ALLOWED, "type takes =, !=, IN, NOT IN",
                            node, text)
            hit = "user" in [v.lower() for v in values]
            return lambda u: hit != negative
        if field == "user.fullname":
            if node.op not in (ast.Op.CONTAINS, ast.Op.NOT_CONTAINS):
                raise _fail(ErrorCode.OPERATOR_NOT_ALLOWED, "user.fullname takes ~ or !~",
                            node, text)
            wanted = _words(" ".join(values))

            def named(u: tuple[str, str]) -> bool:
                have = _words(u[1])
                return all(any(h.startswith(w) for h in have) for w in wanted)

            return lambda u: named(u) != negative
        if node.op not in (ast.Op.EQ, ast.Op.NE, ast.Op.IN, ast.Op.NOT_IN):
            raise _fail(ErrorCode.OPERATOR_NOT_ALLOWED, f"{node.field} takes =, !=, IN, NOT IN",
                        node, text)
        ids = set(values)
        return lambda u: (u[0] in ids) != negative

    return build(query.where)


async def search_users(call: Call) -> JSONResponse:
    began = time.perf_counter()
    text = P.required(call.params, "cql")
    start = P.integer(call.params, "start", 0)
    limit = P.integer(call.params, "limit", 25, P.MAX_LIMIT) or 1
    caller = call.caller
    me = caller.account_id if isinstance(caller, UserCaller) else (
        caller.acting_for if isinstance(caller, AppCaller) else None)
    try:
        matches = compile_user_query(text, me)
    except CqlError as err:
        raise cql_error(err.with_query(text) if not err.query else err) from None
    users = sorted(call.engine.users.values(),
                   key=lambda u: (u.display_name.casefold(), u.account_id))
    hits = [u for u in users if matches((u.account_id, u.display_name))]
    shown = hits[start:start + limit]
    results = [{"user": user_ref(u.account_id, call.engine.users), "title": u.display_name,
                "excerpt": "", "url": f"/people/{u.account_id}", "breadcrumbs": [],
                "entityType": "user", "iconCssClass": "aui-icon content-type-profile",
                "lastModified": "", "score": 0.0} for u in shown]
    links = {"base": call.base, "context": "/wiki",
             "self": f"{call.base}/rest/api/search/user?{call.request.url.query}"}
    if start + len(shown) < len(hits):
        links["next"] = "/rest/api/search/user?" + urlencode(
            {"cql": text, "start": start + len(shown), "limit": limit})
    return JSONResponse({
        "results": results, "start": start, "limit": limit, "size": len(results),
        "totalSize": len(hits), "cqlQuery": text,
        "searchDuration": round((time.perf_counter() - began) * 1000), "_links": links})


async def bulk(call: Call) -> JSONResponse:
    """``GET /wiki/rest/api/user/bulk?accountId=A&accountId=B``: the users named, in the
    order asked; account ids the site does not know are left out (users are not
    content: the app access rule does not apply)."""
    wanted = [a for v in call.params.getlist("accountId") for a in v.split(",") if a]
    if not wanted:
        raise bad_request("accountId query parameter is required but was empty")
    start = P.integer(call.params, "start", 0)
    limit = P.integer(call.params, "limit", 200, 200) or 1
    known = [a for a in dict.fromkeys(wanted) if a in call.engine.users]
    shown = known[start:start + limit]
    results = [{**user_ref(a, call.engine.users), "email": "",
                "isExternalCollaborator": call.engine.users[a].kind == "guest",
                "_links": {"self": f"{call.base}/rest/api/user?accountId={a}"}}
               for a in shown]
    return JSONResponse({"results": results, "start": start, "limit": limit,
                         "size": len(results),
                         "_links": {"base": call.base, "context": "/wiki"}})
