"""Cold latency: ``Engine.open`` plus the first query, each in a fresh process.

The harness times warm queries; ``first_runs`` runs the whole mix once in one process (so
only its first query pays for opening). This measures what a one-shot program pays: a new
process imports the engine, then opens the index and runs one query of the mix as the
user caller; the figure is open + first query, in wall and CPU time (CPU time is the
robust one on a shared machine), the median over ``--runs`` processes per query.

    python -m benchmarks.cold [--runs 5] [--no-verify | --full-verify] INDEX_DIR SITE_DIR
        [QUERY ...]

By default the index opens as ``Engine.open`` does (the checksums of the files whose stat
signature changed since their last check: none, for an index opened before);
``--no-verify`` opens with ``verify=False`` (sizes only) and ``--full-verify`` with
``verify="full"`` (every file's checksum).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: One selective structured query, one selective text query, one ordered query and the
#: first phrase over common words (issue 15's cold targets).
DEFAULT_QUERIES = ("exact.label_rare", "text.word_rare", "order.title", "text.phrase")


def one(index_dir: Path, site_dir: Path, name: str, verify: Any) -> dict[str, float]:
    """In this process: open the index and run query ``name`` once (milliseconds)."""
    from benchmarks.engines import load_callers
    from benchmarks.queries import load_mix
    from index.core.context import DEFAULT_NOW, SearchContext
    from index.engine import Engine

    manifest = json.loads((site_dir / "corpus.json").read_text(encoding="utf-8"))
    query = next(q for q in load_mix(None, manifest["params"]) if q.name == name)
    caller = load_callers(site_dir, manifest).caller(query)
    context = SearchContext(now=DEFAULT_NOW)
    import cql

    cql.normalize(cql.parse(query.cql))  # the grammar's tables: a start-up cost, not the index's
    wall, cpu = time.perf_counter(), time.process_time()
    engine = Engine.open(index_dir, verify=verify)
    opened_wall, opened_cpu = time.perf_counter(), time.process_time()
    engine.search(query.cql, caller=caller, context=context, limit=25, excerpt="none")
    done_wall, done_cpu = time.perf_counter(), time.process_time()
    return {"open_ms": (opened_wall - wall) * 1000, "open_cpu_ms": (opened_cpu - cpu) * 1000,
            "total_ms": (done_wall - wall) * 1000, "total_cpu_ms": (done_cpu - cpu) * 1000}


#: ``Engine.open``'s ``verify`` by command-line flag.
VERIFY = {"": True, "--no-verify": False, "--full-verify": "full"}


def measure(index_dir: Path, site_dir: Path, names: list[str], runs: int,
            flag: str = "") -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in names:
        samples = []
        for _ in range(runs):
            args = [sys.executable, "-m", "benchmarks.cold", "--child", str(index_dir),
                    str(site_dir), name] + ([flag] if flag else [])
            done = subprocess.run(args, capture_output=True, text=True, check=True)
            samples.append(json.loads(done.stdout))
        out[name] = {key: round(statistics.median(s[key] for s in samples), 1)
                     for key in samples[0]}
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold", description=__doc__)
    parser.add_argument("index_dir", type=Path)
    parser.add_argument("site_dir", type=Path)
    parser.add_argument("queries", nargs="*", default=list(DEFAULT_QUERIES))
    parser.add_argument("--runs", type=int, default=5)
    checks = parser.add_mutually_exclusive_group()
    checks.add_argument("--no-verify", dest="flag", action="store_const", const="--no-verify",
                        default="")
    checks.add_argument("--full-verify", dest="flag", action="store_const",
                        const="--full-verify")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one(args.index_dir, args.site_dir, args.queries[0],
                             VERIFY[args.flag])))
        return 0
    began = time.perf_counter()
    results = measure(args.index_dir, args.site_dir, args.queries, args.runs, args.flag)
    print(f"{'query':24} {'open ms':>9} {'open cpu':>9} {'open+first ms':>14} "
          f"{'open+first cpu':>15}")
    for name, r in results.items():
        print(f"{name:24} {r['open_ms']:9.1f} {r['open_cpu_ms']:9.1f} {r['total_ms']:14.1f} "
              f"{r['total_cpu_ms']:15.1f}")
    print(f"({args.runs} fresh processes per query, median; {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
