"""Differential test: the Whoosh engine and the reference evaluator agree.

Hypothesis generates small sites and queries over the fields and values those sites
actually use; both evaluators must return the same ids (and the same order when the query
has an ORDER BY, which with the id tie-break fixes the order completely).
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cql
from index.core.context import SearchContext
from index.engine import Engine
from index.reference.evaluator import ReferenceEvaluator
from index.security.callers import UserCaller
from index.site.loader import load_site

WORDS = ["alpha", "beta", "gamma", "running", "runs", "release", "notes", "deploy",
         "deployment", "search", "searching", "plan", "roam", "foam"]
LABELS = ["ops", "Release-Notes", "draft", "q1", "TEAM"]
MACROS = ["jira", "toc", "code", "info"]
USERS = ["u1", "u2", "u3"]
SPACES = [("DEV", "global", "current", ["eng"]), ("HR", "global", "current", ["people"]),
          ("OLD", "global", "archived", []), ("~ann", "personal", "current", [])]
TYPES = ["page", "blogpost", "comment", "attachment", "whiteboard", "database", "embed",
         "folder"]
BASE = datetime(2025, 3, 1, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@st.composite
def sites(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(3, 18))
    items: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        kind = draw(st.sampled_from(TYPES))
        space = draw(st.sampled_from(SPACES))[0]
        same_space = [it for it in items if it["space"] == space]
        tree = [it for it in same_space if it["type"] not in ("comment", "attachment",
                                                                 "blogpost")]
        containers = [it for it in same_space if it["type"] in ("page", "blogpost")]
        if kind in ("comment", "attachment") and not containers:
            kind = "page"
        item: dict[str, Any] = {
            "id": str(i * 10), "type": kind, "space": space,
            "title": " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))),
            "creator": draw(st.sampled_from(USERS)),
            "created": (BASE + timedelta(days=draw(st.integers(0, 120)),
                                         hours=draw(st.integers(0, 23)))).isoformat(),
            "status": draw(st.sampled_from(["current"] * 4 + ["draft"])),
            "labels": draw(st.lists(st.sampled_from(LABELS), max_size=2, unique=True)),
            "watchers": draw(st.lists(st.sampled_from(USERS), max_size=2, unique=True)),
            "body": _body(draw),
        }
        if kind in ("comment", "attachment"):
            item["container_id"] = draw(st.sampled_from(containers))["id"]
            if kind == "attachment":
                item["file_name"] = f"file{i}.png"
        elif kind != "blogpost" and tree and draw(st.booleans()):
            item["parent_id"] = draw(st.sampled_from(tree))["id"]
        if draw(st.booleans()):
            item["properties"] = {"meta": {"version": draw(st.integers(0, 3))}}
        if kind == "page" and draw(st.booleans()):
            item["page_status"] = draw(st.sampled_from(["Rough draft", "In progress"]))
        items.append(item)
    return items


def _body(draw: st.DrawFn) -> str:
    words = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=8)))
    macro = draw(st.sampled_from(["", *MACROS]))
    mention = draw(st.sampled_from(["", *USERS]))
    out = f"<p>{words}</p>"
    if macro:
        out += f'<ac:structured-macro ac:name="{macro}" />'
    if mention:
        out += f'<p><ac:link><ri:user ri:account-id="{mention}" /></ac:link></p>'
    return out


def _value(draw: st.DrawFn, field: str, ids: list[str], listed: bool = False) -> str:
    if field in ("id", "parent", "ancestor", "container"):
        return draw(st.sampled_from([*ids, "999"]))
    if field == "type":
        return draw(st.sampled_from([*TYPES, "space"]))
    if field == "space":
        return cql.quote(draw(st.sampled_from([s[0] for s in SPACES])))
    if field == "label":
        return cql.quote(draw(st.sampled_from(LABELS)).lower())
    if field == "macro":
        return draw(st.sampled_from(MACROS))
    if field in ("creator", "watcher", "mention", "contributor"):
        return draw(st.sampled_from(USERS if listed else [*USERS, "currentUser()"]))
    if field == "pageStatus":
        return cql.quote(draw(st.sampled_from(["rough draft", "In progress"])))
    if field == "space.type":
        return draw(st.sampled_from(["global", "personal"]))
    if field == "space.category":
        return draw(st.sampled_from(["eng", "people"]))
    raise AssertionError(field)


EQ_FIELDS = ["id", "type", "space", "label", "macro", "creator", "watcher", "mention",
             "contributor", "parent", "ancestor", "container", "pageStatus", "space.type",
             "space.category"]


@st.composite
def clauses(draw: st.DrawFn, ids: list[str]) -> str:
    kind = draw(st.sampled_from(["eq", "eq", "in", "text", "title", "date", "prop"]))
    if kind in ("eq", "in"):
        field = draw(st.sampled_from(EQ_FIELDS))
        if kind == "in":
            values = draw(st.lists(st.builds(lambda: None), min_size=1, max_size=3))
            listed = ", ".join(_value(draw, field, ids, listed=True) for _ in values)
            op = draw(st.sampled_from(["IN", "NOT IN"]))
            return f"{field} {op} ({listed})"
        return f"{field} {draw(st.sampled_from(['=', '!=']))} {_value(draw, field, ids)}"
    if kind in ("text", "title"):
        term = draw(st.sampled_from([*WORDS, "run*", "de*", "roam~", '\\"release notes\\"',
                                     "alpha OR beta", "search -plan", "ops"]))
        field = draw(st.sampled_from(["text", "title"])) if kind == "text" else "title"
        return f'{field} {draw(st.sampled_from(["~", "!~"]))} "{term}"'
    if kind == "date":
        field = draw(st.sampled_from(["created", "lastmodified"]))
        op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<="]))
        value = draw(st.sampled_from(["2025-03-15", '"2025/04/01 10:00"', 'now("-8w")',
                                      "startOfMonth()", 'endOfWeek("-2w")', "2025-05-31"]))
        return f"{field} {op} {value}"
    op = draw(st.sampled_from(["=", "!=", ">", "<="]))
    return f"content.property[meta].version {op} {draw(st.integers(0, 3))}"


@st.composite
def queries(draw: st.DrawFn, ids: list[str]) -> str:
    def expr(depth: int) -> str:
        if depth == 0 or draw(st.booleans()):
            return draw(clauses(ids))
        joiner = draw(st.sampled_from([" AND ", " OR "]))
        parts = [expr(depth - 1) for _ in range(draw(st.integers(2, 3)))]
        text = joiner.join(parts)
        if draw(st.booleans()):
            text = f"({text})"
        return f"NOT {text}" if draw(st.integers(0, 4)) == 0 else text

    text = expr(2)
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(["created", "lastmodified", "title", "type",
                                              "space", "id"]), min_size=1, max_size=2,
                             unique=True))
        text += " ORDER BY " + ", ".join(
            f"{k} {draw(st.sampled_from(['ASC', 'DESC']))}" for k in keys)
    return text


def write_site(path: Path, items: list[dict[str, Any]]) -> None:
    path.mkdir(parents=True)
    (path / "spaces.jsonl").write_text("".join(
        json.dumps({"key": k, "name": f"{k} space", "type": t, "status": st_,
                    "categories": c}) + "\n" for k, t, st_, c in SPACES))
    (path / "users.jsonl").write_text("".join(
        json.dumps({"account_id": u, "display_name": f"User {u}",
                    "favourite_content": ["10", "20"]}) + "\n" for u in USERS))
    (path / "content.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
          deadline=None)
@given(data=st.data())
def test_engine_agrees_with_reference(data: st.DataObject) -> None:
    items = data.draw(sites(), label="site")
    with tempfile.TemporaryDirectory() as tmp:
        write_site(Path(tmp) / "site", items)
        site = load_site(Path(tmp) / "site")
        engine = Engine.build(Path(tmp) / "site", Path(tmp) / "index")
        reference = ReferenceEvaluator(site)
        ids = sorted(site.content)
        context = SearchContext(now=NOW, tz=data.draw(st.sampled_from(["UTC", "Asia/Tokyo"])),
                                content_statuses=data.draw(st.sampled_from(
                                    [("current",), ("current", "draft")])))
        for _ in range(4):
            text = data.draw(queries(ids), label="query")
            query = cql.parse(text, dialect="lenient")
            account = data.draw(st.sampled_from(USERS))
            expected = reference.search(query, account_id=account, context=context,
                                        caller=UserCaller(account_id=account))
            page = engine.search(text, caller=UserCaller(account_id=account),
                                 context=context, limit=1000, dialect="lenient")
            got = [r.id for r in page.results]
            assert page.totalSize == len(expected), text
            if query.order_by:
                assert got == expected, text
            else:
                assert sorted(got) == sorted(expected), text
