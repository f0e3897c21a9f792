"""``top``: one snapshot of the pool, for a live view.

Each snapshot is one GetMetricData call (the pool's metrics over the last minutes, at
1-minute resolution) and one read of the proxy's newest warning and error log lines.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

#: The metrics a snapshot reads (its JSON key -> metric name).
FIELDS = {
    "client_connections": "ClientConnections",
    "database_connections": "DatabaseConnections",
    "ceiling": "MaxDatabaseConnectionsAllowed",
    "pinned": "DatabaseConnectionsCurrentlySessionPinned",
    "borrowed": "DatabaseConnectionsCurrentlyBorrowed",
    "in_transaction": "DatabaseConnectionsCurrentlyInTransaction",
    "borrow_latency_ms": "DatabaseConnectionsBorrowLatency",
    "query_latency_ms": "QueryDatabaseResponseLatency",
    "setup_failed_auth": "ClientConnectionsSetupFailedAuth",
    "database_setup_failed": "DatabaseConnectionsSetupFailed",
}
LATENCIES = frozenset({"borrow_latency_ms", "query_latency_ms"})


@dataclass(frozen=True)
class LogLine:
    timestamp: str | None
    severity: str
    signature: str
    message: str


@dataclass(frozen=True)
class Snapshot:
    proxy: str
    time: str  # when the snapshot was taken
    metrics_time: str | None  # the newest datapoint's time
    client_connections: float | None
    database_connections: float | None
    ceiling: float | None
    pinned: float | None
    borrowed: float | None
    in_transaction: float | None
    borrow_latency_ms: float | None
    query_latency_ms: float | None
    setup_failed_auth: float | None
    database_setup_failed: float | None
    history: dict[str, list[float]] = field(default_factory=dict)  # key -> oldest first
    log_lines: list[LogLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def snapshot(aws: Any, name: str, *, endpoint: str | None = None, window: str = "15m",
             logs_window: str = "5m", log_lines: int = 5) -> Snapshot:
    from rdsproxyctl.core import metrics as core
    from rdsproxyctl.errors import NotFound

    request = core.Request.build(name, since=window, period="1m", endpoint=endpoint,
                                 metrics=FIELDS.values())
    report = core.fetch(aws, request)
    values: dict[str, float | None] = {}
    history: dict[str, list[float]] = {}
    newest = None
    for key, metric in FIELDS.items():
        s = report.get(metric)
        scale = 1000.0 if key in LATENCIES else 1.0
        points = [round(v / scale, 3) for v in s.values] if s else []
        values[key] = points[-1] if points else None
        history[key] = points
        if s and s.last_timestamp and (newest is None or s.last_timestamp > newest):
            newest = s.last_timestamp
    notes = [] if report.has_data else ["no datapoints yet (a new or idle proxy)"]
    lines: list[LogLine] = []
    try:
        lines = _newest_log_lines(aws, name, logs_window, log_lines)
    except NotFound:
        notes.append("no log group yet")
    return Snapshot(proxy=name, time=dt.datetime.now(dt.timezone.utc).replace(
        microsecond=0).isoformat(), metrics_time=newest, history=history, log_lines=lines,
        notes=notes, **values)


def _newest_log_lines(aws: Any, name: str, since: str, count: int) -> list[LogLine]:
    from collections import deque

    from rdsproxyctl.core.logs import fetch
    from rdsproxyctl.core.logs.query import Selection, Window

    selection = Selection.build(errors=True)
    newest: deque[LogLine] = deque(maxlen=count)
    for page in fetch.pages(aws, name, Window.parse(since), selection,
                            filter_pattern=selection.filter_pattern(), known_proxy=True):
        for e in page:
            newest.append(LogLine(e.timestamp, e.severity, e.signature, e.message))
    return list(newest)
