"""Policy event delivery: the event log is the outbox, ``webhooks.json`` the read position.

An app in ``apps.json`` may name a ``webhook_url``. A background thread of the server reads
the index's event log (``events.jsonl``, written by every policy change, also by ``cql
policy`` in another process) from the last delivered ``seq`` and POSTs each event of an app
with a URL as a structured CloudEvent (``application/cloudevents+json``), in log order. A
failed POST is retried with exponential backoff until it succeeds; only then does the
position advance (written atomically), so delivery is at least once and in order, and a
restart resumes where the last run stopped. When several worker processes run, a file lock
lets exactly one of them deliver.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from index.security.enforcement import POLICY_FILE
from index.security.events import EventLog
from index.security.policy import PolicyStore

log = logging.getLogger("cql.serve.webhooks")
POSITION_FILE = "webhooks.json"
LOCK_FILE = "webhooks.lock"
CONTENT_TYPE = "application/cloudevents+json"


def webhook_urls(index_dir: Path) -> Callable[[str], str | None]:
    """``app_id -> webhook_url`` from the index's policy store, re-read when the file
    changes. The delivery thread keeps its own store: the request handlers' one is not
    shared across threads."""
    path = Path(index_dir) / POLICY_FILE
    state: dict[str, Any] = {"mtime": None, "store": None}

    def lookup(app_id: str) -> str | None:
        mtime = path.stat().st_mtime_ns
        if mtime != state["mtime"]:
            state["store"], state["mtime"] = PolicyStore(path), mtime
        app = state["store"].app(app_id)
        return app.webhook_url if app is not None else None

    return lookup


class Outbox:
    def __init__(self, index_dir: Path, webhook_of: Callable[[str], str | None], *,
                 poll: float = 0.2, first_backoff: float = 0.1, max_backoff: float = 5.0,
                 timeout: float = 5.0) -> None:
        self.index_dir = Path(index_dir)
        self.log = EventLog(self.index_dir / "events.jsonl")
        self.webhook_of = webhook_of
        self.poll, self.first_backoff, self.max_backoff = poll, first_backoff, max_backoff
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_handle: Any = None

    # --- position ------------------------------------------------------------------------------

    @property
    def position(self) -> int:
        try:
            return int(json.loads((self.index_dir / POSITION_FILE).read_text())["seq"])
        except FileNotFoundError:
            return 0

    def _advance(self, seq: int) -> None:
        path = self.index_dir / POSITION_FILE
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        with tmp.open("w") as handle:
            json.dump({"seq": seq}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    # --- running -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cql-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._lock_handle is not None:
            self._lock_handle.close()

    def _acquire(self) -> bool:
        if self._lock_handle is None:
            self._lock_handle = open(self.index_dir / LOCK_FILE, "a+b")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _run(self) -> None:
        while not self._stop.is_set() and not self._acquire():
            self._stop.wait(1.0)  # another worker delivers
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                try:
                    self.deliver_pending(client)
                except Exception:  # never let a bad line or URL kill delivery for good
                    log.exception("webhook delivery failed; retrying")
                self._stop.wait(self.poll)

    def deliver_pending(self, client: httpx.Client) -> int:
        """Deliver every logged event after the saved position; returns how many were sent."""
        sent = 0
        for entry in self.log.since(self.position):
            url = self.webhook_of(entry.app_id)
            if url is not None:
                if not self._post(client, url, entry.event.to_wire()):
                    return sent  # stopping
                sent += 1
            self._advance(entry.seq)
        return sent

    def _post(self, client: httpx.Client, url: str, event: dict[str, Any]) -> bool:
        delay = self.first_backoff
        body = json.dumps(event).encode("utf-8")
        while not self._stop.is_set():
            try:
                response = client.post(url, content=body,
                                       headers={"Content-Type": CONTENT_TYPE})
                if 200 <= response.status_code < 300:
                    return True
                log.warning("webhook %s answered %s; retrying in %.1fs", url,
                            response.status_code, delay)
            except httpx.HTTPError as err:
                log.warning("webhook %s failed (%s); retrying in %.1fs", url, err, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, self.max_backoff)
        return False
