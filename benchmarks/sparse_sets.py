"""Does a selective query's set work grow with the index? Synthetic sets, CPU time.

For each index size, a caller's universe (nine documents in ten) and a rare term (a few
dozen to a few hundred members spread over the index), the two ways a search narrows the
term to the universe, counts it and takes the first page in an ordering:

- integers: ``term & universe``, ``bit_count``, ``members``, then the first 25 by rank
  (what every search did before sparse sets);
- ids: the term's ``Ids`` filtered by the universe's byte flags (made once per snapshot
  and caller, not timed), ``len``, then the first 25 by rank.

    python -m benchmarks.sparse_sets [--sizes 100000,1000000] [--members 65,500]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from index.core import docsets
from index.core.columns import Ordering


def cpu_us(run: Callable[[], object], repeat: int) -> float:
    """Median CPU time of ``run`` in microseconds."""
    run()
    times = []
    for _ in range(repeat):
        start = time.thread_time_ns()
        run()
        times.append(time.thread_time_ns() - start)
    return statistics.median(times) / 1000


def measure(size: int, members: int, repeat: int, seed: int = 7) -> dict[str, float]:
    rnd = random.Random(seed)
    universe = docsets.from_ids([d for d in range(size) if rnd.random() < 0.9], size)
    term_ids = sorted(rnd.sample(range(size), members))
    term = docsets.from_ids(term_ids, size)
    sparse = docsets.ids(term)
    order = list(range(size))
    rnd.shuffle(order)
    ordering = Ordering(order, size)
    flags = docsets.flags(universe, size)

    def integers() -> list[int]:
        hits = term & universe
        count = hits.bit_count()
        return ordering.top(hits, count, 25)

    def ids() -> list[int]:
        hits = docsets.select(sparse, flags)
        return ordering.top(hits, len(hits), 25)

    assert integers() == ids()
    return {"integers": cpu_us(integers, repeat), "ids": cpu_us(ids, repeat)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sparse_sets",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--members", default="65,500")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"{'documents':>10} {'members':>8} {'integers us':>12} {'ids us':>8}")
    for members in map(int, args.members.split(",")):
        for size in map(int, args.sizes.split(",")):
            got = measure(size, members, args.repeat)
            print(f"{size:>10,} {members:>8} {got['integers']:>12.1f} {got['ids']:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
