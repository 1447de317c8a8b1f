"""Policy events reach the apps' webhooks: in order, at least once, across a restart.

A site whose apps name a ``webhook_url`` is indexed; a real server runs over it; ``cql
policy activate`` (another process) changes a policy. A local receiver refuses the first
attempts, then takes five events and goes down; the server is stopped while retrying; a new
server must deliver the rest. Every logged event of an app with a URL must arrive, the
first arrivals in log order.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from serve_helpers import Server, token

from index import Engine
from index.security.events import EventLog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "site"


class Receiver:
    """Answers 500 to the first ``fail_first`` POSTs, then 200 until it holds ``capacity``
    events, then 500 again (it went down)."""

    def __init__(self, fail_first: int, capacity: int) -> None:
        self.fail_first = fail_first
        self.capacity = capacity
        self.attempts = 0
        self.received: list[dict] = []
        self.content_types: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                ok = (receiver.attempts > receiver.fail_first
                      and len(receiver.received) < receiver.capacity)
                if ok:
                    receiver.received.append(json.loads(body))
                    receiver.content_types.add(self.headers["Content-Type"])
                self.send_response(200 if ok else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/events"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def site_index(tmp_path: Path) -> tuple[Path, Receiver]:
    receiver = Receiver(fail_first=3, capacity=5)
    site = tmp_path / "site"
    shutil.copytree(FIXTURES, site)
    apps = json.loads((site / "apps.json").read_text())
    for app in apps:
        if app["app_id"] in ("app-syncbot", "app-wordcount"):
            app["webhook_url"] = receiver.url
    (site / "apps.json").write_text(json.dumps(apps))
    Engine.build(site, tmp_path / "index")
    yield tmp_path / "index", receiver
    receiver.httpd.shutdown()


def _dedupe(events: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for event in events:
        seen.setdefault(event["id"], None)
    return list(seen)


def test_events_delivered_in_order_across_a_restart(site_index) -> None:
    index_dir, receiver = site_index
    server = Server(index_dir)
    try:
        wordcount = token(index_dir, "app-wordcount", "search:confluence")
        with server.client(token=wordcount) as http:
            def pages() -> int:
                r = http.get("/wiki/rest/api/search", params={"cql": "type = page"})
                return int(r.json()["totalSize"])

            assert pages() > 0
            # p2: the inactive WORKSPACE policy that blocks every eligible app.
            subprocess.run([sys.executable, "-m", "index.cli", "policy", "activate", "p2",
                            "--index", str(index_dir)], check=True, capture_output=True)
            assert pages() == 0  # the running server enforces a change made beside it
        logged = [e for e in EventLog(index_dir / "events.jsonl").since(0)
                  if e.app_id in ("app-syncbot", "app-wordcount")]
        assert len(logged) > 10
        receiver.wait_for(5)  # then the receiver is down: the server keeps retrying
        time.sleep(0.5)
    finally:
        server.stop()
    assert len(receiver.received) == 5 < len(logged)
    receiver.capacity, receiver.attempts, receiver.fail_first = len(logged) * 2, 0, 2
    server = Server(index_dir)
    try:
        receiver.wait_for(len(logged))
        time.sleep(0.3)  # nothing more than the log may arrive
    finally:
        server.stop()
    assert _dedupe(receiver.received) == [e.event.id for e in logged]
    assert receiver.received[-1] == logged[-1].event.to_wire()
    assert receiver.content_types == {"application/cloudevents+json"}
