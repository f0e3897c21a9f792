#!/usr/bin/env python3
"""Connect, SELECT 1, close -- N times in a row (used by bench_sandbox.py).

    python benchmarks/sandbox_connect_loop.py N CONNINFO
"""

import sys

import psycopg


def main() -> int:
    count, conninfo = int(sys.argv[1]), sys.argv[2]
    for _ in range(count):
        with psycopg.connect(conninfo, prepare_threshold=None) as conn:
            conn.execute("SELECT 1").fetchone()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
