"""Load mode of ``connect``: many short connections through the proxy, concurrently.

Each operation connects (phases timed as in the smoke test), runs the first query,
optionally holds the connection, and closes.  With ``check_backends`` a monitor samples
``pg_stat_activity`` (MySQL: ``information_schema.processlist``) through the proxy and
reports the most backend connections the database held for this user and database: the
pooling effect, made visible.  MySQL connections (PyMySQL, blocking) run in worker threads.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.core.connect import Prepared, classify, exception_message
from rdsproxyctl.core.db import PHASES, PhaseTimer
from rdsproxyctl.errors import UsageError

BACKENDS_QUERY = (
    "SELECT count(*) FROM pg_stat_activity WHERE usename = current_user "
    "AND datname = current_database() AND backend_type = 'client backend'"
)


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True)
class LoadResult:
    count: int
    concurrency: int
    hold_seconds: float
    succeeded: int
    failed: int
    wall_seconds: float
    connects_per_second: float
    #: milliseconds per phase (dns, tcp_connect, tls_handshake, authentication,
    #: first_query, total)
    latency_ms: dict[str, Percentiles]
    errors: dict[str, int]
    error_examples: dict[str, str] = field(default_factory=dict)
    backends_max: int | None = None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(samples: dict[str, list[float]]) -> dict[str, Percentiles]:
    out = {}
    for phase, values in samples.items():
        ordered = sorted(v * 1000 for v in values)
        if ordered:
            out[phase] = Percentiles(*(round(percentile(ordered, q), 2) for q in (50, 95, 99)),
                                     max=round(ordered[-1], 2))
    return out


#: Bounds of load mode: connections in all, and seconds each one is held.
MAX_COUNT = 1_000_000
MAX_HOLD = 3600.0


def validate(count: int, concurrency: int, hold: float) -> None:
    if not 1 <= count <= MAX_COUNT:
        raise UsageError(f"--count must be 1-{MAX_COUNT}, got {count}")
    if not 1 <= concurrency <= 1000:
        raise UsageError(f"--concurrency must be 1-1000, got {concurrency}")
    if concurrency > count:
        raise UsageError(f"--concurrency {concurrency} is more than --count {count}")
    if not 0 <= hold <= MAX_HOLD:  # also refuses nan
        raise UsageError(f"--hold must be 0-{MAX_HOLD:g} seconds, got {hold:g}")


async def _select_one(conn: Any, mysql: bool, sql: str = "SELECT 1") -> Any:
    """Run ``sql`` (no parameters, nothing that pins) and return the first column."""
    if mysql:
        from rdsproxyctl.core import mysqldb

        return await asyncio.to_thread(mysqldb.scalar, conn, sql)
    import psycopg

    async with psycopg.AsyncClientCursor(conn) as cur:
        await cur.execute(sql)
        row = await cur.fetchone()
    return row[0] if row else None


async def _close(conn: Any, mysql: bool) -> None:
    if mysql:
        await asyncio.to_thread(conn.close)
    else:
        await conn.close()


async def _one(prepared: Prepared, hold: float, samples: dict[str, list[float]],
               errors: Counter[str], examples: dict[str, str]) -> bool:
    from rdsproxyctl.core import db

    mysql = prepared.params.engine == "mysql"
    timer = PhaseTimer()
    started = time.perf_counter()
    conn = None
    try:
        conn = await db.connect_async(prepared.params, timer)
        timer.start("first_query")
        await _select_one(conn, mysql)
        timer.stop()
        if hold:
            await asyncio.sleep(hold)
    except Exception as exc:  # noqa: BLE001 - every failure is counted by class
        timer.fail()
        failure = classify(timer.failed_phase or "tcp_connect", exception_message(exc),
                           prepared.context)
        errors[failure.klass] += 1
        examples.setdefault(failure.klass, failure.message)
        return False
    finally:
        if conn is not None:
            await _close(conn, mysql)
    for phase, seconds in timer.durations.items():
        samples[phase].append(seconds)
    samples["total"].append(time.perf_counter() - started)
    return True


async def _monitor(prepared: Prepared, stop: asyncio.Event, seen: list[int]) -> None:
    from rdsproxyctl.core import db

    mysql = prepared.params.engine == "mysql"
    if mysql:
        from rdsproxyctl.core.mysqldb import BACKENDS_QUERY as query
    else:
        query = BACKENDS_QUERY
    conn = await db.connect_async(prepared.params)
    try:
        while True:
            value = await _select_one(conn, mysql, query)
            seen.append(int(value or 0))
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
                break
            except TimeoutError:
                continue
    finally:
        await _close(conn, mysql)


async def run(prepared: Prepared, count: int, concurrency: int, hold: float = 0.0,
              check_backends: bool = False,
              progress: Callable[[int, int], None] | None = None) -> LoadResult:
    validate(count, concurrency, hold)
    samples: dict[str, list[float]] = {p: [] for p in (*PHASES, "first_query", "total")}
    errors: Counter[str] = Counter()
    examples: dict[str, str] = {}
    remaining = iter(range(count))
    done = 0
    ok = 0
    seen: list[int] = []
    stop = asyncio.Event()
    monitor = (asyncio.create_task(_monitor(prepared, stop, seen)) if check_backends else None)
    if monitor is not None:
        await asyncio.sleep(0.05)  # let it connect before the storm

    async def worker() -> None:
        nonlocal done, ok
        for _ in remaining:
            # not `ok += await ...`: that reads `ok` before the await and loses updates
            succeeded = await _one(prepared, hold, samples, errors, examples)
            ok += succeeded
            done += 1
            if progress is not None:
                progress(done, count)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    if monitor is not None:
        stop.set()
        try:
            await monitor
        except Exception as exc:  # noqa: BLE001 - report, don't lose the load results
            examples.setdefault("monitor", exception_message(exc))
    return LoadResult(
        count=count, concurrency=concurrency, hold_seconds=hold, succeeded=ok,
        failed=count - ok, wall_seconds=round(wall, 3),
        connects_per_second=round(ok / wall, 1) if wall > 0 else 0.0,
        latency_ms=summarize(samples), errors=dict(errors), error_examples=examples,
        backends_max=max(seen) if seen else None)


def run_sync(prepared: Prepared, count: int, concurrency: int, hold: float = 0.0,
             check_backends: bool = False,
             progress: Callable[[int, int], None] | None = None) -> LoadResult:
    return asyncio.run(run(prepared, count, concurrency, hold, check_backends, progress))
