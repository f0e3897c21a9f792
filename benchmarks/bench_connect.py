"""`rdsproxyctl connect --count 500 --concurrency 50` against `pgbench -C -S -c 50 -t 10`.

Both open 500 new connections (TLS verify-full, IAM token) through the same sandbox proxy,
50 at a time, each running one read-only query; compared by connects per second (pgbench's
``tps ... including reconnection times`` with -C is exactly that).  Goal: load mode at least
half of pgbench's rate.

    python benchmarks/run.py connect --repeat 3
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

from bench_sandbox import _proxy, init_pgbench, pgbench_env, running_sandbox
from runner import Bench, Comparison, Timing, benchmark, print_comparison, tool

PGBENCH = ["-C", "-S", "-c", "50", "-j", "2", "-t", "10", "-n"]


@benchmark("connect")
def connect(bench: Bench) -> None:
    """Load mode's connects per second against pgbench -C, through the same sandbox proxy."""
    from rdsproxyctl.sandbox import manager

    if not shutil.which("pgbench"):
        print("\n(pgbench not installed: skipping)")
        return
    with running_sandbox() as (directory, state):
        pg, app = state["postgres"], state["app"]
        ca = str(directory / "ca.pem")
        address, _token = _proxy(directory)
        env = {**os.environ, **manager.env(directory).variables}
        pg_env = pgbench_env(ca)
        init_pgbench(pg, app, pg_env)
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(bench.repeat):
            out = subprocess.run(
                [tool("rdsproxyctl"), "connect", "bench", "--iam", "--user", "app",
                 "--database", "app", "--count", "500", "--concurrency", "50", "-o", "json"],
                env=env, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout)
            assert result["failed"] == 0, result["errors"]
            ours.append(result["connects_per_second"])
            token = subprocess.run([tool("rdsproxyctl"), "token", "bench", "--user", "app"],
                                   env=env, capture_output=True, text=True,
                                   check=True).stdout.strip()
            run = subprocess.run(["pgbench", *PGBENCH, "-h", address, "-p", "5432", "-U", "app",
                                  "app"], env={**pg_env, "PGPASSWORD": token},
                                 capture_output=True, text=True, check=True)
            found = re.search(r"tps = ([0-9.]+)", run.stdout)
            assert found, run.stdout[-500:]
            theirs.append(float(found.group(1)))
        timings = [Timing("pgbench -C -S -c 50 -t 10", [], [1.0 / r for r in theirs]),
                   Timing("rdsproxyctl connect --count 500 --concurrency 50", [],
                          [1.0 / r for r in ours])]
        best_ours, best_theirs = max(ours), max(theirs)
        comparison = Comparison(
            "connects per second through the sandbox proxy (time per connection; lower is "
            "better)", "pgbench -C -S -c 50 -t 10", timings,
            {"pgbench connects/s": [round(r) for r in theirs],
             "rdsproxyctl connects/s": [round(r) for r in ours],
             "rate ratio (ours / pgbench, medians)":
                 round(sorted(ours)[len(ours) // 2] / sorted(theirs)[len(theirs) // 2], 2),
             "goal (>= 0.5)": "met" if sorted(ours)[len(ours) // 2]
             >= 0.5 * sorted(theirs)[len(theirs) // 2] else "MISSED",
             "best": f"{best_ours:.0f} vs {best_theirs:.0f}"})
        bench.results.append(comparison)
        print_comparison(comparison)
