"""The HTTP side of ``cql import``: one httpx client, retries, and cursor paging.

Confluence Cloud rate-limits with ``429`` and a ``Retry-After`` header, and its gateways
answer ``5xx`` or drop connections under load. A long import must ride through both, so
every GET goes through ``Client.get_json``: ``429`` waits what the server asked (seconds or
an HTTP date), ``5xx`` and network errors back off exponentially with full jitter, capped,
for a bounded number of attempts. Other ``4xx`` are answers, not accidents: ``404`` is
returned to the caller (content deleted between listing and fetching), ``401``/``403`` stop
the run with a message about the credentials.

The client is shared by a thread pool (httpx's client is thread-safe); its connection pool
is sized to the concurrency, so at most that many requests are in flight.
"""

from __future__ import annotations

import base64
import email.utils
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from index.errors import EngineError

Params = Mapping[str, str | int | list[str]] | None
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ImportFailure(EngineError):
    """A request that failed for good (after retries, or an authentication problem)."""

    def __init__(self, message: str) -> None:
        super().__init__("import", message)


@dataclass
class RetryPolicy:
    """How hard to try. ``sleep`` is injectable so tests can record the waits."""

    attempts: int = 8
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 600.0
    sleep: Callable[[float], None] | None = None  # None: ``_sleep``, looked up at call time
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (attempt from 0)."""
        return self.rng.uniform(0.0, min(self.cap, self.base * (2**attempt)))


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds, or an HTTP date (RFC 9110 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class Client:
    """GETs JSON from one Confluence site with basic auth, retries and a bounded pool."""

    def __init__(self, base_url: str, user: str | None, token: str | None, *,
                 concurrency: int = 8, retry: RetryPolicy | None = None,
                 timeout: float = 60.0, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        # The transport is used directly: httpx's Client adds cookie jars, redirect and
        # auth flows and URL merging to every request, which costs more CPU than the
        # request itself at a few hundred requests a second, and none of it is needed
        # for authenticated GETs of JSON.
        self.headers = {"Accept": "application/json"}
        if user and token is not None:
            self.headers["Authorization"] = _basic(user, token)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.transport = transport or httpx.HTTPTransport(limits=limits)
        self.timeout = httpx.Timeout(timeout).as_dict()
        self.requests = 0
        self.retries = 0

    def close(self) -> None:
        self.transport.close()

    def url(self, path: str) -> str:
        """An absolute URL for a path under the site (``/api/v2/...``) or a ``next`` link.

        v2 ``next`` links start with the context path (``/wiki/api/v2/...``), v1 links do
        not (``/rest/api/...``, relative to ``_links.base``); both resolve here.
        """
        if path.startswith(("http://", "https://")):
            return path
        base = urlsplit(self.base_url)
        context = base.path.rstrip("/")
        if context and (path == context or path.startswith(context + "/")):
            return urljoin(f"{base.scheme}://{base.netloc}", path)
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def get_json(self, path: str, params: Params = None, *,
                 allow_404: bool = False) -> dict[str, Any] | None:
        """The JSON object at ``path``; None for a 404 when ``allow_404``."""
        url = self.url(path)
        attempt = 0
        while True:
            self.requests += 1
            wait: float | None
            try:
                request = httpx.Request("GET", url, params=params, headers=self.headers,
                                        extensions={"timeout": self.timeout})
                response = self.transport.handle_request(request)
                try:
                    response.read()
                finally:
                    response.close()
            except httpx.TransportError as err:
                problem = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                wait = None
            else:
                status = response.status_code
                if status == 200:
                    return _json_object(response, url)
                if status == 404 and allow_404:
                    return None
                if status in (401, 403):
                    raise ImportFailure(
                        f"GET {_short(url)}: {status} {response.reason_phrase}: check --user, "
                        "the token, and that the account may read this site")
                if status not in RETRY_STATUSES:
                    raise ImportFailure(f"GET {_short(url)}: {status} {response.reason_phrase}"
                                       f"{_detail(response)}")
                problem = f"{status} {response.reason_phrase}"
                wait = (retry_after_seconds(response.headers.get("Retry-After"))
                        if status in (429, 503) else None)
            if attempt + 1 >= self.retry.attempts:
                raise ImportFailure(f"GET {_short(url)}: {problem} (gave up after "
                                   f"{self.retry.attempts} attempts)")
            if wait is None:
                wait = self.retry.backoff(attempt)
            self.retries += 1
            (self.retry.sleep or _sleep)(min(wait, self.retry.max_retry_after))
            attempt += 1

    def pages(self, path: str, params: Params = None) -> Iterator[list[dict[str, Any]]]:
        """The ``results`` of each page of a cursor-paged list, following ``_links.next``
        (v1 and v2 both put the next page's full path, cursor included, there)."""
        body = self.get_json(path, params)
        while body is not None:
            results = body.get("results")
            if not isinstance(results, list):
                raise ImportFailure(f"GET {_short(self.url(path))}: expected a 'results' list")
            yield [r for r in results if isinstance(r, dict)]
            following = (body.get("_links") or {}).get("next")
            if not following:
                return
            path, params = following, None
            body = self.get_json(path)


def _basic(user: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode("ascii")


def _json_object(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ImportFailure(f"GET {_short(url)}: the answer is not JSON "
                           f"({response.headers.get('content-type', 'no content type')})"
                           ) from None
    if not isinstance(body, dict):
        raise ImportFailure(f"GET {_short(url)}: expected a JSON object")
    return body


def _detail(response: httpx.Response) -> str:
    """The server's own message, if it sent a Confluence error body."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    if not message and isinstance(body, dict) and isinstance(body.get("errors"), list):
        message = "; ".join(str(e.get("title", e)) for e in body["errors"] if e)
    return f": {str(message)[:200]}" if message else ""


def _short(url: str) -> str:
    return url if len(url) <= 160 else url[:157] + "..."
