"""What view permissions cost (issue 13): ``python -m benchmarks permissions``.

Two figures, on the synthetic corpus (2,000 users in 50 groups, team spaces, restricted
subtrees, guests, drafts) and the query mix ``queries/permissions.cql``:

- **user / operator**: each query as the corpus's top user (an established caller: its
  mask and relevance statistics already computed) and as the operator (no caller, no
  mask), interleaved round by round; the ratio of their p50s, and the geometric mean of
  those ratios over the mix.
- **first search of a new user**: accounts that have not searched yet each run one query
  of the mix (taking turns through it), and right after it the established user runs the
  same query; the figure is the paired difference (first search minus established), whose
  median and 90th percentile are reported, for the mix and for its text queries. The
  snapshot is warm (every query ran before), so the difference is what is new for the
  caller: its permission mask, its visible set and its relevance statistics.

Both wall-clock and process CPU time are recorded; CPU time is steadier on a loaded
machine. ``WORK/permissions-N.json`` holds everything; without an index in ``WORK`` the
corpus is written and indexed there first (``--items``, default 100,000).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.queries import QUERY_DIR, MixQuery, load_mix

MIX = QUERY_DIR / "permissions.cql"


def _prepare(work: Path, items: int, seed: int) -> tuple[Path, Path]:
    """The site and index under ``work``, written and built when missing."""
    from benchmarks.corpus import MANIFEST_FILE, write_corpus
    from benchmarks.harness import build_all

    site, index = work / "site", work / "indexes" / "cql-search"
    if not (site / MANIFEST_FILE).is_file():
        print(f"writing a {items:,}-item corpus to {site}", flush=True)
        write_corpus(site, items, seed=seed)
    if not index.is_dir():
        print(f"indexing it into {index}", flush=True)
        build_all(site, work / "indexes", ["cql-search"])
    return site, index


def _new_accounts(site: Path, skip: set[str], count: int) -> list[str]:
    """Active licensed accounts (no guests) other than ``skip``, in users.jsonl order."""
    out: list[str] = []
    for line in (site / "users.jsonl").read_text(encoding="utf-8").splitlines():
        user = json.loads(line)
        if user.get("kind", "user") == "user" and user.get("active", True) \
                and user["account_id"] not in skip:
            out.append(user["account_id"])
    if len(out) < count:
        raise SystemExit(f"the corpus has {len(out)} accounts that may search; "
                         f"--new-users {count} asks for more")
    step = len(out) // count  # spread over the file: activity and groups vary along it
    return out[::step][:count]


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one call."""
    c0, t0 = time.process_time_ns(), time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e6, (time.process_time_ns() - c0) / 1e6


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _gmean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def run(work: Path, items: int, seed: int, rounds: int, new_users: int) -> dict[str, Any]:
    from index.engine import Engine
    from index.security.callers import UserCaller

    site, index = _prepare(work, items, seed)
    manifest = json.loads((site / "corpus.json").read_text(encoding="utf-8"))
    params = manifest["params"]
    mix = load_mix([MIX], params)
    pairs = [(q, next(o for o in mix if o.name == f"{q.name}@operator"))
             for q in mix if q.caller == "user"]
    engine = Engine.open(index)
    established = UserCaller(account_id=params["user_top"])

    def search(query: MixQuery, caller: Any) -> Callable[[], Any]:
        return lambda: engine.search(query.cql, caller=caller, limit=25, excerpt="none")

    load_before = os.getloadavg()[0]
    for user_query, op_query in pairs:  # warm: every term set, ordering and mask
        for _ in range(3):
            search(op_query, None)()
            search(user_query, established)()

    per_query: dict[str, dict[str, Any]] = {}
    for user_query, op_query in pairs:
        samples: dict[str, list[tuple[float, float]]] = {"user": [], "operator": []}
        for r in range(rounds):
            order = (("user", user_query, established), ("operator", op_query, None))
            for who, query, caller in (order if r % 2 else order[::-1]):
                samples[who].append(_timed(search(query, caller)))
        row: dict[str, Any] = {"cql": user_query.cql}
        for who, got in samples.items():
            row[f"{who}_p50_ms"] = round(statistics.median(w for w, _ in got), 3)
            row[f"{who}_cpu_p50_ms"] = round(statistics.median(c for _, c in got), 3)
        row["ratio"] = round(row["user_p50_ms"] / row["operator_p50_ms"], 3)
        row["cpu_ratio"] = round(row["user_cpu_p50_ms"] / row["operator_cpu_p50_ms"], 3)
        per_query[user_query.name] = row

    accounts = _new_accounts(site, {params["user_top"], params.get("app_user", "")}, new_users)
    firsts: dict[str, list[tuple[float, float]]] = {q.name: [] for q, _ in pairs}
    for i, account in enumerate(accounts):
        query = pairs[i % len(pairs)][0]
        first = _timed(search(query, UserCaller(account_id=account)))
        again = _timed(search(query, established))
        firsts[query.name].append((first[0] - again[0], first[1] - again[1]))
    for name, deltas in firsts.items():
        if deltas:
            per_query[name]["first_extra_p50_ms"] = round(
                statistics.median(w for w, _ in deltas), 2)
            per_query[name]["first_extra_cpu_p50_ms"] = round(
                statistics.median(c for _, c in deltas), 2)

    def summary(names: list[str]) -> dict[str, Any]:
        deltas = [d for n in names for d in firsts[n]]
        return {
            "queries": len(names),
            "gmean_ratio": round(_gmean([per_query[n]["ratio"] for n in names]), 3),
            "gmean_cpu_ratio": round(_gmean([per_query[n]["cpu_ratio"] for n in names]), 3),
            "worst_ratio": max(per_query[n]["ratio"] for n in names),
            "worst_cpu_ratio": max(per_query[n]["cpu_ratio"] for n in names),
            "first_extra_p50_ms": round(statistics.median(w for w, _ in deltas), 2),
            "first_extra_p90_ms": round(_percentile([w for w, _ in deltas], 0.9), 2),
            "first_extra_cpu_p50_ms": round(statistics.median(c for _, c in deltas), 2),
            "first_extra_cpu_p90_ms": round(_percentile([c for _, c in deltas], 0.9), 2),
            "new_users": len(deltas),
        }

    names = list(per_query)
    text = [n for n in names if "~" in per_query[n]["cql"]]
    return {
        "items": manifest["items"], "users": manifest["users"], "groups": manifest["groups"],
        "restricted_items": manifest.get("restricted_items"), "rounds": rounds,
        "established_user": params["user_top"],
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "mix": summary(names), "text": summary(text), "queries": per_query,
    }


def permissions_command(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    report = run(args.out, args.items, args.seed, args.rounds, args.new_users)
    path = args.out / f"permissions-{report['items']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{report['items']:,} items, {report['users']:,} users, {report['groups']} groups; "
          f"load average {report['load_average'][0]} -> {report['load_average'][1]}")
    from benchmarks.report import print_table

    print_table(("query", "user p50", "operator", "ratio", "cpu ratio", "first +ms"),
                [(name, f"{row['user_p50_ms']:.2f}", f"{row['operator_p50_ms']:.2f}",
                  f"{row['ratio']:.2f}", f"{row['cpu_ratio']:.2f}",
                  f"{row.get('first_extra_p50_ms', float('nan')):.2f}")
                 for name, row in report["queries"].items()])
    for part in ("mix", "text"):
        s = report[part]
        print(f"{part}: user/operator p50 geometric mean {s['gmean_ratio']:.2f}x "
              f"(CPU {s['gmean_cpu_ratio']:.2f}x; worst {s['worst_ratio']:.2f}x, CPU "
              f"{s['worst_cpu_ratio']:.2f}x); first search "
              f"of a new user +{s['first_extra_p50_ms']:.1f} ms p50, "
              f"+{s['first_extra_p90_ms']:.1f} ms p90 (CPU +{s['first_extra_cpu_p50_ms']:.1f} / "
              f"+{s['first_extra_cpu_p90_ms']:.1f}) over {s['new_users']} new users")
    print(f"wrote {path}")
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("permissions",
                       help="view permissions: user vs operator, first search of a new user")
    p.add_argument("--out", type=Path, required=True,
                   help="work directory (site in OUT/site, index in OUT/indexes/cql-search; "
                   "written and built when missing)")
    p.add_argument("--items", type=int, default=100_000,
                   help="corpus size when OUT has none (default 100,000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rounds", type=int, default=41,
                   help="timed rounds per query and caller (default 41)")
    p.add_argument("--new-users", type=int, default=240,
                   help="accounts that make their first search (default 240)")
    p.set_defaults(run=permissions_command)
