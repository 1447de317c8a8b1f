"""First-run latencies: each query of the mix run once in a fresh engine process.

The harness times queries after warm-up, which measures the engine with its per-snapshot
caches (term document sets, orderings, relevance orderings) filled. This measures the other
side: a new process opens the index and runs every query of the mix once, in mix order,
as the user caller (app variants are skipped), printing each first run and the median.

    python -m benchmarks.first_runs INDEX_DIR SITE_DIR
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.queries import load_mix


def first_runs(index_dir: Path, site_dir: Path) -> dict[str, float]:
    from index.engine import Engine
    from index.security.callers import UserCaller

    params = json.loads((site_dir / "corpus.json").read_text(encoding="utf-8"))["params"]
    began = time.perf_counter()
    engine = Engine.open(index_dir)
    out = {"(open)": (time.perf_counter() - began) * 1000}
    user = UserCaller(account_id=params["user_top"])
    for query in load_mix(None, params):
        if query.caller != "user":
            continue
        began = time.perf_counter()
        engine.search(query.cql, caller=user, limit=25)
        out[query.name] = (time.perf_counter() - began) * 1000
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    times = first_runs(Path(argv[0]), Path(argv[1]))
    for name, ms in sorted(times.items(), key=lambda kv: -kv[1]):
        print(f"{ms:10.1f} ms  {name}")
    queries = [ms for name, ms in times.items() if name != "(open)"]
    print(f"median first run: {statistics.median(queries):.1f} ms over {len(queries)} queries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
