"""Start-up time of the ``cql`` command, as a user feels it: a fresh process each run.

Targets (issue 11): ``cql --help`` and ``cql parse 'type = page'`` under 0.25 s, a one-shot
``cql search`` on the bundled sample site under 0.5 s (its index already built: the first
use builds it once). Each command runs ``--runs`` times in a new interpreter; the median and
the best wall-clock times are reported, with the median CPU time (user + system, which a busy
machine inflates far less), the target and whether it is met. Measured here, by hand or in
the benchmark run, never in a timed unit test (a loaded CI machine would make it flaky).

The commands run as an installed ``cql`` runs: with Python's bytecode cache. ``pip install``
compiles every module, and a source checkout writes ``__pycache__`` on first use; a
``PYTHONDONTWRITEBYTECODE`` left in the measuring shell would instead have every run compile
the project's ~60 modules from source (about 0.1 s), a cost no user pays, so it is removed
from the children's environment and each command runs once, untimed, before its timed runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

#: (name, arguments after ``cql``, target in seconds)
COMMANDS: list[tuple[str, list[str], float]] = [
    ("cql --help", ["--help"], 0.25),
    ("cql --version", ["--version"], 0.25),
    ("cql parse 'type = page'", ["parse", "type = page"], 0.25),
    ("cql search 'type = page'", ["search", "type = page", "--limit", "10"], 0.5),
]


def _command() -> list[str]:
    """The installed ``cql`` script when there is one next to this interpreter (what users
    run), else ``python -m index.cli``."""
    import shutil

    script = shutil.which("cql", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "index.cli"]


def child_environment() -> dict[str, str]:
    """The measured commands' environment: this one, without colour and with Python's
    bytecode cache in use (see the module's docstring)."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure(runs: int) -> list[dict[str, Any]]:
    import statistics
    import subprocess
    import time

    base = _command()
    env = child_environment()
    subprocess.run([*base, "search", "type = page", "--limit", "1"], env=env,
                   capture_output=True, check=True, timeout=600)  # build the index once
    out = []
    for name, args, target in COMMANDS:
        subprocess.run([*base, *args], env=env, capture_output=True, check=True,
                       timeout=120)  # warm: bytecode written, files in the page cache
        times, cpu = [], []
        for _ in range(runs):
            began, used = time.perf_counter(), _children_cpu()
            subprocess.run([*base, *args], env=env, capture_output=True, check=True,
                           timeout=120)
            times.append(time.perf_counter() - began)
            cpu.append(_children_cpu() - used)
        median = statistics.median(times)
        out.append({"command": name, "median_s": round(median, 3),
                    "best_s": round(min(times), 3), "cpu_s": round(statistics.median(cpu), 3),
                    "target_s": target, "met": median < target})
    prompt = _repl_prompt(base, env, runs)
    if prompt is not None:
        out.append(prompt)
    return out


def _children_cpu() -> float:
    """User + system seconds of the finished child processes: a figure the machine's other
    work inflates far less than wall time, quoted beside it when the machine is busy."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _repl_prompt(base: list[str], env: dict[str, str], runs: int) -> dict[str, Any] | None:
    """Seconds from starting ``cql repl`` in a pseudo-terminal to its first prompt (needs
    pexpect, part of the test extra; skipped without it)."""
    try:
        import pexpect
    except ImportError:
        return None
    import statistics
    import time

    times, cpu = [], []
    for run in range(runs + 1):  # the first run warms, untimed
        began, used = time.perf_counter(), _children_cpu()
        child = pexpect.spawn(base[0], [*base[1:], "repl"], env=env, encoding="utf-8",
                              dimensions=(40, 120), timeout=30)
        child.expect(r"cql>")
        if run:
            times.append(time.perf_counter() - began)
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
        child.close()
        if run:  # CPU to the prompt and out again (Ctrl-D): an upper bound
            cpu.append(_children_cpu() - used)
    median = statistics.median(times)
    return {"command": "cql repl (to the prompt)", "median_s": round(median, 3),
            "best_s": round(min(times), 3), "cpu_s": round(statistics.median(cpu), 3),
            "target_s": 0.5, "met": median < 0.5}


def run(args: argparse.Namespace) -> int:
    import json

    figures = measure(args.runs)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        from benchmarks.report import print_table

        print_table(("command", "median s", "best s", "CPU s", "target s", "verdict"),
                    [(f["command"], f"{f['median_s']:.3f}", f"{f['best_s']:.3f}",
                      f"{f['cpu_s']:.3f}", f"< {f['target_s']}",
                      "ok" if f["met"] else "OVER TARGET") for f in figures])
        print(f"load average {os.getloadavg()[0]:.2f} (1 min) after the runs; CPU s is the "
              "median user + system time of one run")
    return 0 if all(f["met"] for f in figures) else 1


def add_command(sub: Any) -> None:
    p = sub.add_parser("startup", help="start-up time of cql commands (fresh process each run)",
                       description=__doc__)
    p.add_argument("--runs", type=int, default=10, help="runs per command (default 10)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(run=run)
