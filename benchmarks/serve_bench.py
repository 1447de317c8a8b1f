"""``python -m benchmarks serve``: the REST server against the engine it wraps.

For a synthetic corpus of ``--items`` items (written and indexed on first use in ``--out``)
it starts a real ``cql serve`` on loopback and measures, for a structured and a text query,
with the same caller, page size (25) and excerpts:

- ``Engine.search`` in-process, and ``GET /wiki/rest/api/search`` over one keep-alive
  connection, alternately (so a change in the machine's load hits both alike): p50/p99
  latency and the overhead at p50 (HTTP minus engine);
- throughput: requests/s from ``--concurrency`` keep-alive connections for ``--seconds``;
- what each side cost: the server's CPU time per request (all its processes, from /proc),
  the load generator's own, and the engine's CPU time per search in-process. On a shared
  machine the wall-clock figures include waiting for a core; the CPU figures do not, and
  server minus engine (``cpu_overhead_ms``) is what serving over HTTP costs.

The client is a few lines of raw HTTP/1.1 over sockets (a prepared request, responses
framed by ``Content-Length``), not a client library: on two cores the generator shares
the machine with the server, and a library that spends a millisecond of CPU per request
would both add that to every latency and take that from the server's throughput.
``http_p50_ms`` of ``httpx`` (what a Python client library adds on its own) is reported
beside it for reference.

Not a test: the figures go to the README's "Serve" section.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EMAIL = "bench@example.com"
PATH = "/wiki/rest/api/search"


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


def _start(index: Path, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "index.cli", "serve", "--index", str(index), "--port",
         str(port), "--workers", str(workers), "--no-webhooks", "--log-level", "warning"])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with Connection(port) as conn:
                if conn.get(b"GET /openapi.json HTTP/1.1\r\nHost: b\r\n\r\n")[0] == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("cql serve did not start")
    # One worker answering is not all of them ready: wait until the processes go idle.
    used = -1.0
    while time.monotonic() < deadline:
        now = sum(_cpu_seconds(_server_pids(proc.pid)).values())
        if now - used < 0.05:
            break
        used = now
        time.sleep(1)
    return proc, port


def request_bytes(port: int, query: str, authorization: str) -> bytes:
    """The bytes of one keep-alive ``GET /wiki/rest/api/search?cql=...``."""
    return (f"GET {PATH}?{urlencode({'cql': query})} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: {authorization}\r\n"
            "Accept: application/json\r\n\r\n").encode()


def _frame(buffer: bytes) -> tuple[int, int] | None:
    """(status, size of the whole response) once ``buffer`` holds the response's headers."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    for line in buffer[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(buffer[9:12]), end + 4 + int(value)
    raise RuntimeError("a response without Content-Length")


class Connection:
    """One keep-alive HTTP/1.1 connection: send prepared bytes, read one response."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def get(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        while (framed := _frame(self.buffer)) is None or len(self.buffer) < framed[1]:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        status, size = framed
        response, self.buffer = self.buffer[:size], self.buffer[size:]
        return status, response


async def _load(port: int, request: bytes, connections: int, seconds: float) -> tuple[int, int]:
    """(requests answered 200, others) from ``connections`` keep-alive connections."""
    ok, bad = 0, 0
    stop = time.monotonic() + seconds

    async def one(n: int) -> None:
        nonlocal ok, bad
        # Connections open 20 ms apart: with several workers sharing the listening socket,
        # one that is busy with a search cannot accept, so they spread over the workers
        # (opened at once, one worker tends to accept them all).
        await asyncio.sleep(n * 0.02)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        try:
            while time.monotonic() < stop:
                writer.write(request)
                while (framed := _frame(buffer)) is None or len(buffer) < framed[1]:
                    chunk = await reader.read(1 << 16)
                    if not chunk:
                        raise ConnectionError("the server closed the connection")
                    buffer += chunk
                if framed[0] == 200:
                    ok += 1
                else:
                    bad += 1
                buffer = buffer[framed[1]:]
        finally:
            writer.close()

    await asyncio.gather(*(one(n) for n in range(connections)))
    return ok, bad


def _server_pids(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn's worker processes), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        found.extend(frontier)
    return found


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each live process of ``pids``."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _throughput(port: int, request: bytes, connections: int, seconds: float,
                server: int) -> dict[str, Any]:
    pids = _server_pids(server)
    before, began_cpu, began = _cpu_seconds(pids), time.process_time(), time.perf_counter()
    try:
        import uvloop

        ok, bad = uvloop.run(_load(port, request, connections, seconds))
    except ImportError:
        ok, bad = asyncio.run(_load(port, request, connections, seconds))
    wall = time.perf_counter() - began
    client_cpu = time.process_time() - began_cpu
    after = _cpu_seconds(pids)
    per_process = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    busy = [round(s / wall, 2) for s in per_process.values() if s > 0]
    return {"requests_per_s": round(ok / wall, 1), "errors": bad,
            "server_cpu_ms_per_request": round(sum(per_process.values()) * 1000 / ok, 2),
            "server_cores_busy": busy,
            "client_cpu_ms_per_request": round(client_cpu * 1000 / ok, 3)}


def _latencies(engine_call: Callable[[], object], http_call: Callable[[], object], reps: int,
               warmup: int = 10) -> tuple[list[float], list[float], float]:
    """Milliseconds of each call, the two alternating, and the engine's mean CPU
    milliseconds per call."""
    for _ in range(warmup):
        engine_call()
        http_call()
    eng, web, cpu = [], [], 0.0
    for _ in range(reps):
        began, began_cpu = time.perf_counter(), time.process_time()
        engine_call()
        eng.append((time.perf_counter() - began) * 1000)
        cpu += time.process_time() - began_cpu
        began = time.perf_counter()
        http_call()
        web.append((time.perf_counter() - began) * 1000)
    return eng, web, cpu * 1000 / reps


def _httpx_p50(port: int, auth: tuple[str, str], query: str, reps: int) -> float:
    import httpx  # here, not at import: ``cql --help`` mounts this module

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=auth, timeout=30) as http:
        times = []
        for n in range(reps + 10):
            began = time.perf_counter()
            http.get(PATH, params={"cql": query}).raise_for_status()
            if n >= 10:
                times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 2)


def serve_command(args: argparse.Namespace) -> int:
    from index.engine import Engine
    from index.security.callers import UserCaller

    args.out.mkdir(parents=True, exist_ok=True)
    index, params = _prepare(args.out, args.items, args.seed)
    account = params["user_top"]
    auth = (EMAIL, _add_credential(index, account))
    authorization = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    queries = {"structured": f"space = {params['space_big']} AND type = page",
               "text": f'text ~ "{params["word_mid"]}"'}
    engine = Engine.open(index)
    caller = UserCaller(account_id=account)
    proc, port = _start(index, args.workers)
    report: dict[str, Any] = {"items": args.items, "workers": args.workers,
                              "concurrency": args.concurrency, "queries": {},
                              "load_average_before": round(os.getloadavg()[0], 1)}
    try:
        for name, query in queries.items():
            # A connection per query: uvicorn closes one left idle through the req/s run.
            with Connection(port) as conn:
                request = request_bytes(port, query, authorization)

                def direct(q: str = query) -> None:
                    engine.search(q, caller=caller)

                def over_http(r: bytes = request) -> None:
                    status, _ = conn.get(r)
                    if status != 200:
                        raise RuntimeError(f"HTTP {status}")

                # Warm every worker (the first searches of a process load columns and
                # orderings): untimed load over as many connections as the timed run.
                _throughput(port, request, args.concurrency, args.warmup, proc.pid)
                eng, web, engine_cpu = _latencies(direct, over_http, args.reps)
                load = _throughput(port, request, args.concurrency, args.seconds, proc.pid)
                report["queries"][name] = {
                    "cql": query,
                    "engine_p50_ms": round(statistics.median(eng), 2),
                    "engine_p99_ms": round(_percentile(eng, 0.99), 2),
                    "http_p50_ms": round(statistics.median(web), 2),
                    "http_p99_ms": round(_percentile(web, 0.99), 2),
                    "overhead_p50_ms": round(statistics.median(web) - statistics.median(eng), 2),
                    **load,
                    "engine_cpu_ms_per_search": round(engine_cpu, 2),
                    "cpu_overhead_ms": round(load["server_cpu_ms_per_request"] - engine_cpu, 2),
                    "engine_searches_per_s": round(1000 / statistics.median(eng), 1),
                    "httpx_p50_ms": _httpx_p50(port, auth, query, min(args.reps, 100)),
                }
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    report["load_average_after"] = round(os.getloadavg()[0], 1)
    name = f"serve-{args.items}" + (f"-w{args.workers}" if args.workers != 1 else "")
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.items:,} items, {args.workers} worker(s), {args.concurrency} connections; "
          f"load average {report['load_average_before']} -> {report['load_average_after']}")
    from benchmarks.report import print_table

    print_table(("query", "engine p50/p99 ms", "http p50/p99 ms", "overhead p50", "req/s",
                 "CPU ms engine", "server", "client"),
                [(name, f"{q['engine_p50_ms']:.2f} / {q['engine_p99_ms']:.2f}",
                  f"{q['http_p50_ms']:.2f} / {q['http_p99_ms']:.2f}",
                  f"{q['overhead_p50_ms']:.2f}", f"{q['requests_per_s']:.1f}",
                  f"{q['engine_cpu_ms_per_search']:.2f}",
                  f"{q['server_cpu_ms_per_request']:.2f}",
                  f"{q['client_cpu_ms_per_request']:.2f}")
                 for name, q in report["queries"].items()])
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="cql serve: HTTP latency and throughput vs the engine")
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, required=True,
                   help="work directory (corpus and index are kept there and reused)")
    p.add_argument("--reps", type=int, default=300, help="timed requests per query")
    p.add_argument("--concurrency", type=int, default=4,
                   help="keep-alive connections for the req/s figure")
    p.add_argument("--seconds", type=float, default=5.0, help="duration of the req/s run")
    p.add_argument("--workers", type=int, default=1, help="server worker processes")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of untimed load per query before measuring")
    p.set_defaults(run=serve_command)
