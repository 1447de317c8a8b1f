"""Concurrency stress: searches in threads and processes while a thread upserts.

``python -m benchmarks.stress --seconds 60`` (the by-hand run of the README's
"Concurrency" section): builds a small site in a temporary directory, starts 4 threads
searching the writer's own ``Engine`` and 2 processes searching the same directory, and moves
a five-item subtree between spaces ``A`` and ``B`` from one more thread, one commit per
move, for ``--seconds``. Every search checks that it saw the subtree wholly in one space
(the state before a commit or after it, never a mix) with every total right, as the
operator and as an app blocked from ``B``. Prints the counts and exits 1 on any error.
``tests/test_concurrency.py`` runs it for a few seconds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPACES = [{"key": k, "name": f"Space {k}", "type": "global"} for k in ("A", "B", "C")]
APPS = [{"app_id": "app-x", "kind": "forge", "name": "App X"}]
POLICIES = [{"id": "p-b", "name": "Block app-x from B", "active": True,
             "coverage": {"level": "CONTAINER", "spaces": ["B"]},
             "rules": {"app_access": {"mode": "blocklist", "apps": ["app-x"]}}}]
FILLER = 200


def _item(item_id: str, kind: str = "page", **extra: Any) -> dict[str, Any]:
    line = {"id": item_id, "type": kind, "title": f"{kind} {item_id}", "space": "A",
            "creator": "u1", "created": "2024-01-01T10:00:00Z",
            "lastmodified": f"2024-02-{int(item_id) % 28 + 1:02d}T10:00:00Z",
            "body": f"words of {item_id}"}
    line.update(extra)
    if kind == "attachment":
        line["file_name"] = line["title"]
    return line


SUBTREE = [
    _item("100", title="Wanderer"),
    _item("101", parent_id="100"),
    _item("102", parent_id="101"),
    _item("103", "comment", container_id="100"),
    _item("104", "attachment", container_id="102"),
]


def write_site(path: Path) -> Path:
    path.mkdir(parents=True)
    content = [_item(str(n)) for n in range(1000, 1000 + FILLER)] + SUBTREE
    (path / "spaces.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SPACES))
    (path / "users.jsonl").write_text('{"account_id": "u1", "display_name": "U"}\n')
    (path / "content.jsonl").write_text("".join(json.dumps(c) + "\n" for c in content))
    (path / "apps.json").write_text(json.dumps(APPS))
    (path / "policies.json").write_text(json.dumps(POLICIES))
    return path


def check(engine: Any) -> None:
    """One round of searches, each of which must see one whole commit."""
    from index.security.callers import AppCaller

    in_a = engine.search("space = A", limit=1, excerpt="none").totalSize
    assert in_a in (FILLER, FILLER + len(SUBTREE)), f"space = A: {in_a}"
    page = engine.search("ancestor = 100 OR id = 100", limit=10, excerpt="none")
    spaces = {r.space for r in page.results}
    assert page.totalSize == page.size == len(SUBTREE) and len(spaces) == 1, (
        f"subtree: {page.totalSize} in {spaces}")
    app = AppCaller(app_id="app-x", kind="forge", scopes=frozenset({"search:confluence"}))
    hidden = engine.search("ancestor = 100", caller=app, limit=10, excerpt="none")
    assert hidden.totalSize in (0, len(SUBTREE) - 1), f"app: {hidden.totalSize}"
    if hidden.totalSize:
        assert {r.space for r in hidden.results} == {"A"}


@dataclass
class Tally:
    searches: int = 0
    writes: int = 0
    errors: list[str] = field(default_factory=list)


def _search_loop(engine: Any, stop: float, tally: Tally) -> None:
    while time.monotonic() < stop:
        try:
            check(engine)
            tally.searches += 1
        except Exception:  # noqa: BLE001 - every failure is counted and reported
            tally.errors.append(traceback.format_exc(limit=3))


def _search_process(index: str, seconds: float, out: Any) -> None:
    from index.engine import Engine

    tally = Tally()
    _search_loop(Engine.open(index), time.monotonic() + seconds, tally)
    out.send((tally.searches, tally.errors[:20], len(tally.errors)))
    out.close()


def run(seconds: float, threads: int = 4, processes: int = 2,
        workdir: Path | None = None) -> Tally:
    """Build the site, run the searchers and the writer for ``seconds``; the tally."""
    from index.engine import Engine

    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="cql-stress-")) if own else Path(workdir)
    try:
        engine = Engine.build(write_site(root / "site"), root / "index")
        assert engine.last_build is not None and not engine.last_build.rejects
        tally = Tally()
        stop = time.monotonic() + seconds
        ctx = multiprocessing.get_context("spawn")
        pipes = []
        for _ in range(processes):
            mine, theirs = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_search_process, args=(str(root / "index"), seconds,
                                                             theirs))
            proc.start()
            pipes.append((proc, mine))
        # The threads share the writer's Engine (and so its snapshots).
        workers = [threading.Thread(target=_search_loop, args=(engine, stop, tally))
                   for _ in range(threads)]

        def write() -> None:
            n = 0
            while time.monotonic() < stop:
                n += 1
                moved = {**SUBTREE[0], "space": "B" if n % 2 else "A"}
                try:
                    rejects = engine.upsert([moved])
                    assert rejects == [], rejects
                    tally.writes += 1
                except Exception:  # noqa: BLE001
                    tally.errors.append(traceback.format_exc(limit=3))

        writer = threading.Thread(target=write)
        for t in [*workers, writer]:
            t.start()
        for t in [*workers, writer]:
            t.join()
        for proc, conn in pipes:
            try:
                searches, errors, count = conn.recv()
                tally.searches += searches
                tally.errors.extend(errors)
                if count > len(errors):
                    tally.errors.append(f"... and {count - len(errors)} more in a process")
            except EOFError:
                tally.errors.append("a searching process died")
            proc.join()
        return tally
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stress", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    tally = run(args.seconds, args.threads, args.processes)
    print(f"{tally.searches} search rounds ({args.threads} threads, {args.processes} "
          f"processes), {tally.writes} commits, {len(tally.errors)} errors in "
          f"{args.seconds:g} s")
    for error in tally.errors[:10]:
        print(error, file=sys.stderr)
    return 1 if tally.errors or not tally.searches or not tally.writes else 0


if __name__ == "__main__":
    raise SystemExit(main())
