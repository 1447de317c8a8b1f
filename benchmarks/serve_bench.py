"""``python -m benchmarks serve``: the REST server against the engine it wraps.

For a synthetic corpus of ``--items`` items (written and indexed on first use in ``--out``)
it starts a real ``cql serve`` on loopback and measures, for a structured and a text query,
with the same caller, page size and excerpts:

- ``Engine.search`` in-process: p50/p99 latency;
- HTTP ``GET /wiki/rest/api/search`` from one keep-alive client: p50/p99 latency, and the
  overhead at p50 (HTTP minus engine);
- throughput: requests/s from ``--concurrency`` clients for ``--seconds``.

Not a test: the figures go to the README's "Serve" section.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

EMAIL = "bench@example.com"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _prepare(out: Path, items: int, seed: int) -> tuple[Path, dict[str, str]]:
    from benchmarks.corpus import write_corpus
    from index.engine import Engine

    site, index = out / f"site-{items}", out / f"index-{items}"
    if not (site / "corpus.json").is_file():
        write_corpus(site, items, seed=seed)
    if not (index / "catalog.json").is_file():
        print(f"indexing {items:,} items ...", file=sys.stderr)
        Engine.build(site, index)
    manifest = json.loads((site / "corpus.json").read_text())
    return index, manifest["params"]


def _add_credential(index: Path, account: str) -> str:
    """A basic-auth token for ``account``, through ``cql credentials add``."""
    done = subprocess.run([sys.executable, "-m", "index.cli", "credentials", "add", EMAIL,
                           "--account", account, "--index", str(index)],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(index: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    import httpx  # here, not at import: ``cql --help`` mounts this module

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "index.cli", "serve", "--index", str(index), "--port",
         str(port), "--workers", str(workers), "--no-webhooks", "--log-level", "warning"])
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{origin}/openapi.json", timeout=1).status_code == 200:
                return proc, origin
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("cql serve did not start")


def _time(call: Any, reps: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(reps):
        began = time.perf_counter()
        call()
        out.append((time.perf_counter() - began) * 1000)
    return out


def _throughput(origin: str, auth: tuple[str, str], query: str, clients: int,
                seconds: float) -> float:
    import httpx  # here, not at import: ``cql --help`` mounts this module

    counts = [0] * clients
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        with httpx.Client(base_url=origin, auth=auth, timeout=30) as http:
            while time.monotonic() < stop:
                r = http.get("/wiki/rest/api/search", params={"cql": query})
                r.raise_for_status()
                counts[n] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def serve_command(args: argparse.Namespace) -> int:
    import httpx  # here, not at import: ``cql --help`` mounts this module

    from index.engine import Engine
    from index.security.callers import UserCaller

    args.out.mkdir(parents=True, exist_ok=True)
    index, params = _prepare(args.out, args.items, args.seed)
    account = params["user_top"]
    auth = (EMAIL, _add_credential(index, account))
    queries = {"structured": f"space = {params['space_big']} AND type = page",
               "text": f'text ~ "{params["word_mid"]}"'}
    engine = Engine.open(index)
    caller = UserCaller(account_id=account)
    proc, origin = _start(index, args.workers)
    report: dict[str, Any] = {"items": args.items, "workers": args.workers,
                              "concurrency": args.concurrency, "queries": {},
                              "load_average_before": round(os.getloadavg()[0], 1)}
    try:
        with httpx.Client(base_url=origin, auth=auth, timeout=30) as http:
            for name, query in queries.items():
                def direct(q: str = query) -> None:
                    engine.search(q, caller=caller)

                def over_http(q: str = query) -> None:
                    http.get("/wiki/rest/api/search", params={"cql": q}).raise_for_status()

                eng = _time(direct, args.reps)
                web = _time(over_http, args.reps)
                rps = _throughput(origin, auth, query, args.concurrency, args.seconds)
                report["queries"][name] = {
                    "cql": query,
                    "engine_p50_ms": round(statistics.median(eng), 2),
                    "engine_p99_ms": round(_percentile(eng, 0.99), 2),
                    "http_p50_ms": round(statistics.median(web), 2),
                    "http_p99_ms": round(_percentile(web, 0.99), 2),
                    "overhead_p50_ms": round(statistics.median(web) - statistics.median(eng), 2),
                    "requests_per_s": round(rps, 1),
                    "engine_searches_per_s": round(1000 / statistics.median(eng), 1),
                }
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    report["load_average_after"] = round(os.getloadavg()[0], 1)
    (args.out / f"serve-{args.items}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.items:,} items, {args.workers} worker(s), {args.concurrency} clients; "
          f"load average {report['load_average_before']} -> {report['load_average_after']}")
    print(f"{'query':11} {'engine p50/p99 ms':>18} {'http p50/p99 ms':>16} "
          f"{'overhead p50':>12} {'req/s':>7}")
    for name, q in report["queries"].items():
        print(f"{name:11} {q['engine_p50_ms']:>8.2f} / {q['engine_p99_ms']:<7.2f} "
              f"{q['http_p50_ms']:>7.2f} / {q['http_p99_ms']:<7.2f} "
              f"{q['overhead_p50_ms']:>10.2f}   {q['requests_per_s']:>7.1f}")
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="cql serve: HTTP latency and throughput vs the engine")
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, required=True,
                   help="work directory (corpus and index are kept there and reused)")
    p.add_argument("--reps", type=int, default=200, help="timed requests per query")
    p.add_argument("--concurrency", type=int, default=4, help="clients for the req/s figure")
    p.add_argument("--seconds", type=float, default=5.0, help="duration of the req/s run")
    p.add_argument("--workers", type=int, default=1, help="server worker processes")
    p.set_defaults(run=serve_command)
