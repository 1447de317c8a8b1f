"""A stand-in Confluence Cloud on 127.0.0.1 that serves a site directory as REST JSON.

For the import benchmark and the importer's end-to-end tests: it answers the endpoints
``cql import`` reads, in the shapes Confluence Cloud documents (v2 records with cursor
paging through ``_links.next``; v1 ``content/search`` and ``user/bulk``), and it can be
told to fail (``429`` with ``Retry-After``, ``500``) and to change (create, edit, move,
delete) between runs. It is a test double, not a server for users: its v1 search answers
only the one CQL shape the importer sends (space and types), and anything else is a 400.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

CONTEXT = "/wiki"
V2 = CONTEXT + "/api/v2"
SEGMENTS = {"pages": "page", "blogposts": "blogpost", "whiteboards": "whiteboard",
            "databases": "database", "embeds": "embed", "folders": "folder"}
TREE = {"page", "whiteboard", "database", "embed", "folder"}
_CQL = re.compile(r'^space = "(?P<key>[^"]+)" and type in \((?P<types>[a-z, ]+)\)$')


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


class FakeSite:
    """The content the server answers from, as site-format lines plus REST bookkeeping."""

    def __init__(self, site_dir: Path) -> None:
        self.lock = threading.Lock()
        self.spaces = {s["key"]: s for s in _read_jsonl(Path(site_dir) / "spaces.jsonl")}
        self.space_ids = {key: str(1000 + n) for n, key in enumerate(sorted(self.spaces))}
        self.users = {u["account_id"]: u for u in _read_jsonl(Path(site_dir) / "users.jsonl")}
        self.items: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        for line in _read_jsonl(Path(site_dir) / "content.jsonl"):
            self.items[line["id"]] = line
            self.versions[line["id"]] = 1 if line.get("lastmodified", line["created"]) == \
                line["created"] else 2
        self._groups: dict[tuple[str, str], list[dict[str, Any]]] | None = None
        self.faults: list[tuple[str, int, dict[str, str]]] = []  # (path prefix, status, headers)
        self.delay = 0.0  # seconds added to every answer, to make a run slow enough to kill
        self.requests: list[str] = []

    # --- changes, as an editor would make them ----------------------------------------------

    def edit(self, item_id: str, **changes: Any) -> None:
        with self.lock:
            self._groups = None
            line = dict(self.items[item_id], **changes)
            line["lastmodified"] = datetime.now(UTC).isoformat()
            self.items[item_id] = line
            self.versions[item_id] += 1

    def move(self, item_id: str, parent_id: str | None) -> None:
        """A move changes the parent but makes no new version, as in Confluence."""
        with self.lock:
            self._groups = None
            line = dict(self.items[item_id])
            line.pop("parent_id", None)
            if parent_id:
                line["parent_id"] = parent_id
            self.items[item_id] = line

    def create_space(self, line: dict[str, Any]) -> None:
        with self.lock:
            self.spaces[line["key"]] = line
            self.space_ids[line["key"]] = str(1000 + len(self.space_ids))

    def create(self, line: dict[str, Any]) -> None:
        with self.lock:
            self._groups = None
            self.items[line["id"]] = line
            self.versions[line["id"]] = 1

    def delete(self, item_id: str) -> None:
        """Trash or purge: the item and what it contains leave every listing."""
        with self.lock:
            self._groups = None
            doomed = {item_id}
            while True:
                more = {i for i, it in self.items.items()
                        if it.get("container_id") in doomed} - doomed
                if not more:
                    break
                doomed |= more
            parents = {i: it.get("parent_id") for i, it in self.items.items()}
            for gone in doomed:
                self.items.pop(gone, None)
            for other, line in list(self.items.items()):
                parent = line.get("parent_id")
                if parent in doomed:  # children move up, as in Confluence
                    while parent in doomed:
                        parent = parents.get(parent)
                    moved = {k: v for k, v in line.items() if k != "parent_id"}
                    if parent:
                        moved["parent_id"] = parent
                    self.items[other] = moved

    def write_site(self, directory: Path) -> None:
        """The site as the server now holds it, in the site format (for differential tests)."""
        directory.mkdir(parents=True, exist_ok=True)
        with self.lock:
            files = {"spaces.jsonl": list(self.spaces.values()),
                     "users.jsonl": list(self.users.values()),
                     "content.jsonl": list(self.items.values())}
        for name, rows in files.items():
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            (directory / name).write_text(text, encoding="utf-8")

    # --- REST shapes ---------------------------------------------------------------------

    def _version(self, line: dict[str, Any], number: int | None = None) -> dict[str, Any]:
        current = self.versions[line["id"]]
        number = current if number is None else number
        latest = number == current and current > 1
        contributors = line.get("contributors") or []
        editor = contributors[-1] if latest and contributors else line["creator"]
        return {"number": number, "message": "", "minorEdit": False,
                "authorId": editor if latest else line["creator"],
                "createdAt": line.get("lastmodified", line["created"]) if latest
                else line["created"]}

    def record(self, line: dict[str, Any], *, body: bool) -> dict[str, Any]:
        kind = line["type"]
        out: dict[str, Any] = {"id": line["id"], "status": line.get("status", "current"),
                               "title": line["title"]}
        if kind in ("comment", "attachment"):
            holder = self.items[line["container_id"]]
            key = {"page": "pageId", "blogpost": "blogPostId",
                   "attachment": "attachmentId"}.get(holder["type"], "customContentId")
            out[key] = line["container_id"]
            out["version"] = self._version(line)
            if kind == "attachment":
                out.update({"createdAt": line["created"], "mediaType": "application/octet-stream",
                            "fileSize": 1024, "title": line["file_name"]})
            else:
                out["body"] = {"storage": {"representation": "storage",
                                           "value": line.get("body", "")}}
            return out
        out.update({"spaceId": self.space_ids[line["space"]], "authorId": line["creator"],
                    "ownerId": line["creator"], "createdAt": line["created"],
                    "version": self._version(line)})
        if kind in TREE:
            parent = line.get("parent_id")
            out["parentId"] = parent
            out["parentType"] = self.items[parent]["type"] if parent in self.items else None
        if kind == "embed" and line.get("url"):
            out["embedUrl"] = line["url"]
        if body:
            out["body"] = {"storage": {"representation": "storage",
                                       "value": line.get("body", "")}}
            out["labels"] = {**self.labels(line), "meta": {"hasMore": False}}
        props = line.get("properties") or {}
        out["properties"] = {"results": [{"id": str(n), "key": k, "value": v,
                                          "version": {"number": 1}}
                                         for n, (k, v) in enumerate(props.items())],
                             "meta": {"hasMore": False}}
        return out

    def labels(self, line: dict[str, Any]) -> dict[str, Any]:
        return {"results": [{"id": str(n), "name": name, "prefix": "global", "label": name}
                            for n, name in enumerate(line.get("labels", []))]}

    def ancestors(self, line: dict[str, Any]) -> list[dict[str, Any]]:
        """v1 ``expand=ancestors``: the tree path from the root, as short content objects."""
        chain: list[dict[str, Any]] = []
        parent = line.get("parent_id")
        while parent in self.items and len(chain) < 100:
            above = self.items[parent]
            chain.insert(0, {"id": parent, "type": above["type"], "status":
                             above.get("status", "current"), "title": above["title"]})
            parent = above.get("parent_id")
        return chain

    def space(self, key: str) -> dict[str, Any]:
        s = self.spaces[key]
        return {"id": self.space_ids[key], "key": key, "name": s["name"], "type": s["type"],
                "status": s.get("status", "current"), "authorId": None,
                "createdAt": "2020-01-01T00:00:00.000Z", "homepageId": None,
                "description": {"plain": {"value": s.get("description", ""),
                                          "representation": "plain"}},
                "labels": {"results": [{"id": str(n), "name": c, "prefix": "team"}
                                       for n, c in enumerate(s.get("categories", []))]}}

    def listed(self, line: dict[str, Any]) -> bool:
        return line.get("status", "current") in ("current", "archived")

    def group(self, space: str | None, kind: str) -> list[dict[str, Any]]:
        """Listed lines of one type (and space), in id order; rebuilt after a change."""
        if self._groups is None:
            groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for line in sorted(self.items.values(), key=lambda li: int(li["id"])):
                if self.listed(line):
                    groups.setdefault((line["space"], line["type"]), []).append(line)
                    groups.setdefault(("*", line["type"]), []).append(line)
            self._groups = groups
        return self._groups.get((space or "*", kind), [])


def _page(results: list[Any], path: str, query: dict[str, list[str]], *, v1: bool = False
          ) -> dict[str, Any]:
    limit = int(query.get("limit", ["25"])[0])
    offset = int(base64.urlsafe_b64decode(query["cursor"][0]).decode()) if "cursor" in query \
        else 0
    chunk = results[offset:offset + limit]
    body: dict[str, Any] = {"results": chunk, "_links": {"base": "http://host" + CONTEXT}}
    if v1:
        body.update({"start": offset, "limit": limit, "size": len(chunk)})
    if offset + limit < len(results):
        following = {k: v for k, v in query.items() if k not in ("cursor", "next")}
        following["cursor"] = [base64.urlsafe_b64encode(str(offset + limit).encode()).decode()]
        if v1:
            following["next"] = ["true"]
        link = path.removeprefix(CONTEXT) if v1 else path
        body["_links"]["next"] = f"{link}?{urlencode(following, doseq=True)}"
    return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: FakeSite
    auth: str | None

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        site = self.site
        with site.lock:
            site.requests.append(parts.path)
            for n, (prefix, status, headers) in enumerate(site.faults):
                if parts.path.startswith(prefix):
                    del site.faults[n]
                    return self._send(status, {"message": "injected"}, headers)
        if site.delay:
            time.sleep(site.delay)
        if self.auth is not None and self.headers.get("Authorization") != self.auth:
            return self._send(401, {"message": "Unauthorized"})
        try:
            with site.lock:
                status, body = self._route(parts.path, query)
        except (KeyError, ValueError) as err:
            status, body = 400, {"message": f"bad request: {err}"}
        self._send(status, body)

    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        site = self.site
        segs = path.removeprefix(V2 + "/").split("/") if path.startswith(V2) else []
        if path == V2 + "/spaces":
            keys = set(",".join(query.get("keys", [])).split(",")) - {""}
            spaces = [site.space(k) for k in sorted(site.spaces) if not keys or k in keys]
            return 200, _page(spaces, path, query)
        if len(segs) == 1 and segs[0] in ("pages", "blogposts"):
            space_id = query["space-id"][0]
            key = next(k for k, i in site.space_ids.items() if i == space_id)
            kind = SEGMENTS[segs[0]]
            rows = [site.record(line, body=False) for line in site.group(key, kind)]
            return 200, _page(rows, path, query)
        if len(segs) == 1 and segs[0] in ("attachments", "footer-comments", "inline-comments"):
            kind = "attachment" if segs[0] == "attachments" else "comment"
            inline = segs[0] == "inline-comments"
            rows = [site.record(line, body=True) for line in site.group(None, kind)
                    if kind == "attachment" or (int(line["id"]) % 2 == 0) == inline]
            return 200, _page(rows, path, query)
        if len(segs) == 2 and segs[0] in SEGMENTS:
            line = site.items.get(segs[1])
            if line is None or line["type"] != SEGMENTS[segs[0]] or not site.listed(line):
                return 404, {"message": "not found"}
            return 200, site.record(line, body=True)
        if len(segs) == 3 and segs[0] == "attachments" and segs[2] == "labels":
            line = site.items.get(segs[1])
            if line is None:
                return 404, {"message": "not found"}
            return 200, _page(site.labels(line)["results"], path, query)
        if len(segs) == 4 and segs[2] == "versions":
            line = site.items.get(segs[1])
            if line is None:
                return 404, {"message": "not found"}
            return 200, site._version(line, int(segs[3]))
        if path == CONTEXT + "/rest/api/content/search":
            match = _CQL.match(query["cql"][0])
            if not match:
                return 400, {"statusCode": 400, "message": "this test server answers only "
                             "'space = \"KEY\" and type in (...)'"}
            types = {t.strip() for t in match["types"].split(",")}
            rows = [{"id": line["id"], "type": line["type"], "status": line.get("status",
                     "current"), "title": line["title"],
                     "version": {"number": site.versions[line["id"]],
                                 "when": line.get("lastmodified", line["created"])},
                     "ancestors": site.ancestors(line),
                     "metadata": {"labels": site.labels(line)}}
                    for kind in sorted(types) for line in site.group(match["key"], kind)]
            return 200, _page(rows, path, query, v1=True)
        if path == CONTEXT + "/rest/api/user/bulk":
            users = [{"accountId": a, "accountType": "atlassian",
                      "displayName": site.users[a]["display_name"],
                      "publicName": site.users[a]["display_name"]}
                     for a in query.get("accountId", []) if a in site.users]
            return 200, {"results": users, "start": 0, "limit": len(users), "size": len(users)}
        return 404, {"message": f"no route for {path}"}

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a client opening many connections at once is not refused

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a killed import) is normal here, not worth a traceback."""


class FakeConfluence:
    """``with FakeConfluence(site_dir) as server: server.url`` -> ``http://127.0.0.1:PORT/wiki``."""

    def __init__(self, site_dir: Path, *, user: str | None = None,
                 token: str | None = None) -> None:
        self.site = FakeSite(site_dir)
        auth = None
        if user is not None and token is not None:
            auth = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
        handler = type("Handler", (_Handler,), {"site": self.site, "auth": auth})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{CONTEXT}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeConfluence:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def editorial_changes(site: FakeSite) -> None:
    """Creates, edits, moves and deletes, as editors would make them on the server: a new
    page with a comment, a renamed page, a page moved to the top, a page deleted (its
    comments and attachments go, its children move up). Ids are picked from the site."""
    editable = sorted(i for i, line in site.items.items()
                      if line["type"] == "page" and line.get("status", "current") == "current")
    parent = next(i for i in editable if site.items[i]["space"] == "ENG")
    site.create({"id": "990001", "type": "page", "title": "Brand New Runbook", "space": "ENG",
                 "parent_id": parent, "creator": "5b6d7f20e6dba529eefdbad9",
                 "created": "2026-11-30T10:00:00+00:00", "labels": ["runbook"],
                 "body": "<p>Fresh <ac:structured-macro ac:name=\"toc\" /> words</p>"})
    site.create({"id": "990002", "type": "comment", "title": "Re: Brand New Runbook",
                 "space": "ENG", "container_id": "990001", "creator": "081a9155b3ef015294feec88",
                 "created": "2026-11-30T11:00:00+00:00", "body": "<p>Nice.</p>"})
    site.edit(editable[3], title="Renamed By The Server", body="<p>edited body</p>")
    movable = [i for i in editable if site.items[i].get("parent_id")]
    site.move(movable[5], None)
    doomed = next(i for i in movable[10:] if any(
        line.get("container_id") == i for line in site.items.values()) and any(
        line.get("parent_id") == i for line in site.items.values()))
    site.delete(doomed)  # its comments and attachments go; its children move up


def serve_forever(site_dir: Path) -> Iterator[str]:
    """For a subprocess: start, yield the URL, serve until killed."""
    with FakeConfluence(site_dir) as server:
        yield server.url
        server.thread.join()
