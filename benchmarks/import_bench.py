"""``python -m benchmarks import``: how fast ``cql import`` mirrors a site over HTTP.

A synthetic corpus (``benchmarks.corpus``) is served by the stand-in Confluence
(``benchmarks.fake_confluence``) on 127.0.0.1, and the real command imports it in a
subprocess, so the figure is end to end: process start, listing, detail requests, mapping,
validation, the checkpoint and the atomic site write. The server runs in this process, on
the same cores, so the figure is a floor for what a remote site with its own servers
allows (where the network, not the machine, is the limit). A second, incremental run with
nothing changed shows the cost of a sync that has nothing to do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_import_bench(out: Path, items: int, seed: int = 7, concurrency: int = 8,
                     keep: bool = False) -> dict[str, Any]:
    """Import a corpus of ``items`` items from a local server; the figures as a dict."""
    from benchmarks.corpus import write_corpus
    from benchmarks.fake_confluence import FakeConfluence

    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus"
    manifest_file = corpus / "corpus.json"
    reuse = keep and manifest_file.is_file() and \
        json.loads(manifest_file.read_text())["items"] == items
    if not reuse:
        shutil.rmtree(corpus, ignore_errors=True)
        write_corpus(corpus, items, seed=seed)
    site = out / "imported"
    shutil.rmtree(site, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CQL_BENCH_TOKEN": "bench"}
    figures: dict[str, Any] = {"items": items, "concurrency": concurrency}
    with FakeConfluence(corpus, user="bench@example.com", token="bench") as server:
        for run in ("first", "incremental"):
            command = [sys.executable, "-m", "index.cli.main", "import", "--url", server.url,
                       "--user", "bench@example.com", "--token-env", "CQL_BENCH_TOKEN",
                       "--out", str(site), "--concurrency", str(concurrency)]
            server.site.requests.clear()
            began = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            seconds = time.perf_counter() - began
            if done.returncode not in (0, 1):
                raise RuntimeError(f"cql import failed: {done.stderr.strip()[-500:]}")
            imported = sum(1 for _ in (site / "content.jsonl").open(encoding="utf-8"))
            figures[run] = {
                "seconds": round(seconds, 2),
                "requests": len(server.site.requests),
                "imported": imported,
                "reported": sum(1 for line in done.stderr.splitlines()
                                if line.startswith("skipped: ")),
                "items_per_s": round(imported / seconds, 1) if seconds else None,
                "summary": done.stdout.strip(),
            }
    (out / "import.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return figures
