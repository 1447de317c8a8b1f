"""Build one engine's index in a process of its own: ``python -m benchmarks.build_child``.

Why a separate process: peak memory is only meaningful per build (``ru_maxrss`` never goes
down), and a fresh interpreter keeps one engine's caches from flattering the next. The
child times the build itself (excluding interpreter start-up) and writes its figures as
JSON to the path given; the parent adds the size on disk.

Peak RSS is this process's ``RUSAGE_SELF`` maximum plus ``RUSAGE_CHILDREN`` (the largest
worker, when a build uses ``procs=2``): exact for a single-process build, an upper bound
of the concurrent peak otherwise, since forked workers share pages with their parent and
RSS counts a shared page in every process. So the build also samples the proportional set
size (PSS: each shared page split among its sharers) of itself and all its descendants
every 0.2 s, and reports the largest sum: the memory the build really held.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


class PssSampler(threading.Thread):
    """Largest total PSS of this process tree, sampled in the background (Linux only)."""

    def __init__(self, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.peak_kib = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_event.is_set():
            total = sum(_pss_kib(p) for p in [me, *_descendants(me)])
            self.peak_kib = max(self.peak_kib, total)
            self._stop_event.wait(self.every)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak_kib


def _bar(total: int, name: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="item", desc=f"build {name}", leave=False,
                disable=not sys.stderr.isatty())


def build(name: str, site_dir: Path, out_dir: Path) -> dict[str, Any]:
    sampler = PssSampler()
    sampler.start()
    began = time.perf_counter()
    if name == "cql-search":
        from index.engine import Engine

        bar = None
        state = {"done": 0}

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = _bar(total, name)
            bar.update(done - state["done"])
            state["done"] = done

        engine = Engine.build(site_dir, out_dir, progress=progress)
        if bar is not None:
            bar.close()
        report = engine.last_build
        items = report.items if report is not None else 0
        rejected = report.rejected if report is not None else 0
    else:
        from index.site.loader import load_site

        site = load_site(site_dir)
        items, rejected = len(site.content), len(site.rejects)
        if name == "reference":
            from index.reference.evaluator import ReferenceEvaluator

            ReferenceEvaluator(site)
        else:
            with _bar(items, name) as bar:
                if name == "whoosh-naive":
                    from benchmarks import baseline_whoosh as naive_whoosh

                    naive_whoosh.build(site, out_dir, bar.update)
                elif name == "sqlite-fts5":
                    from benchmarks import baseline_sqlite as sqlite_fts

                    sqlite_fts.build(site, out_dir, bar.update)
                elif name == "tantivy":
                    from benchmarks import baseline_tantivy

                    baseline_tantivy.build(site, out_dir, bar.update)
                else:
                    raise SystemExit(f"unknown engine {name!r}")
    seconds = time.perf_counter() - began
    pss = sampler.stop()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "items": items,
        "rejected": rejected,
        "seconds": round(seconds, 3),
        "items_per_s": round(items / seconds, 1) if seconds > 0 else None,
        "peak_rss_mb": round((own + workers) / 1024, 1),  # ru_maxrss is in KiB on Linux
        "peak_rss_self_mb": round(own / 1024, 1),
        "peak_pss_mb": round(pss / 1024, 1) if pss else None,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m benchmarks.build_child ENGINE SITE_DIR OUT_DIR RESULT_JSON",
              file=sys.stderr)
        return 2
    name, site_dir, out_dir, result = argv
    figures = build(name, Path(site_dir), Path(out_dir))
    Path(result).write_text(json.dumps(figures), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
