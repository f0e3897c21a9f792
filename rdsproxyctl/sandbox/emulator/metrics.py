"""RDS Proxy's CloudWatch metrics, published into the sandbox's CloudWatch (moto).

Names, units, the statistic AWS calls most useful, and the dimension sets are those of
"Monitoring RDS Proxy metrics with Amazon CloudWatch"
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html):
namespace ``AWS/RDS``; dimension set 1 ``ProxyName``, 2 ``ProxyName, EndpointName``, 3
``ProxyName, TargetGroup, Target``, 4 ``ProxyName, TargetGroup, TargetRole``.  The
emulator publishes sets 1 and 3 (and 4 for AvailabilityPercentage, which AWS reports only
per target role), once a minute (``PUBLISH_INTERVAL``) and on demand (``rdsproxyctl
sandbox flush``: SIGUSR1 to the daemon).

Gauges (current numbers) are sampled when publishing; counters are what happened since
the last publication; latencies are the average of the period, in microseconds.
Protocol-agnostic: the session core and the pool count, the emulator samples.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "AWS/RDS"
PUBLISH_INTERVAL = 60.0


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    statistic: str  # the one the monitoring page calls most useful
    sets: tuple[int, ...]  # dimension sets the page lists, that the emulator publishes


#: The metrics the emulator publishes (a subset of the page's list, with its units).
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("AvailabilityPercentage", "Percent", "Average", (4,)),
    Metric("ClientConnections", "Count", "Sum", (1,)),
    Metric("ClientConnectionsReceived", "Count", "Sum", (1,)),
    Metric("ClientConnectionsSetupFailedAuth", "Count", "Sum", (1,)),
    Metric("ClientConnectionsSetupSucceeded", "Count", "Sum", (1,)),
    Metric("DatabaseConnectionRequests", "Count", "Sum", (1, 3)),
    Metric("DatabaseConnections", "Count", "Sum", (1, 3)),
    Metric("DatabaseConnectionsBorrowLatency", "Microseconds", "Average", (1,)),
    Metric("DatabaseConnectionsCurrentlyBorrowed", "Count", "Sum", (1, 3)),
    Metric("DatabaseConnectionsCurrentlyInTransaction", "Count", "Sum", (1, 3)),
    Metric("DatabaseConnectionsCurrentlySessionPinned", "Count", "Sum", (1, 3)),
    Metric("MaxDatabaseConnectionsAllowed", "Count", "Sum", (1, 3)),
    Metric("QueryDatabaseResponseLatency", "Microseconds", "Average", (1, 3)),
    Metric("QueryRequests", "Count", "Sum", (1,)),
)}


@dataclass
class Average:
    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    def take(self) -> float | None:
        value = self.total / self.count if self.count else None
        self.total, self.count = 0.0, 0
        return value


@dataclass
class ProxyCounters:
    """What happened on one proxy since the last publication."""

    client_received: int = 0
    setup_succeeded: int = 0
    setup_failed_auth: int = 0
    query_requests: int = 0
    borrow_latency: Average = field(default_factory=Average)
    query_latency: Average = field(default_factory=Average)


@dataclass
class TargetSample:
    """One target's pool as sampled at publication time."""

    target: str  # the Target dimension: "db:INSTANCE"
    role: str  # READ_WRITE ...
    available: bool
    connections: int
    borrowed: int
    in_transaction: int
    pinned: int
    cap: int
    requests: int  # connection requests since the last publication


class Metrics:
    """The counters of every proxy (by resource id)."""

    def __init__(self) -> None:
        self._proxies: dict[str, ProxyCounters] = {}
        self._requests: dict[Any, int] = {}  # pool -> its request count when last published
        self.published = 0  # how many publications so far

    def proxy(self, proxy_id: str) -> ProxyCounters:
        counters = self._proxies.get(proxy_id)
        if counters is None:
            counters = self._proxies[proxy_id] = ProxyCounters()
        return counters

    def requests_since(self, pool: Any) -> int:
        before = self._requests.get(pool, 0)
        self._requests[pool] = pool.requests
        return pool.requests - before

    def datapoints(self, proxy_name: str, proxy_id: str, clients: int,
                   targets: list[TargetSample], when: _dt.datetime) -> list[dict[str, Any]]:
        """The data points of one proxy for one publication (resets its counters)."""
        c = self.proxy(proxy_id)
        out: list[dict[str, Any]] = []

        def put(name: str, value: float | None, target: TargetSample | None = None) -> None:
            if value is None:
                return
            metric = METRICS[name]
            dims = [{"Name": "ProxyName", "Value": proxy_name}]
            if target is not None:
                dims.append({"Name": "TargetGroup", "Value": "default"})
                if 4 in metric.sets:
                    dims.append({"Name": "TargetRole", "Value": target.role})
                else:
                    dims.append({"Name": "Target", "Value": target.target})
            out.append({"MetricName": name, "Dimensions": dims, "Timestamp": when,
                        "Value": float(value), "Unit": metric.unit})

        put("ClientConnections", clients)
        put("ClientConnectionsReceived", c.client_received)
        put("ClientConnectionsSetupSucceeded", c.setup_succeeded)
        put("ClientConnectionsSetupFailedAuth", c.setup_failed_auth)
        put("QueryRequests", c.query_requests)
        put("DatabaseConnectionsBorrowLatency", c.borrow_latency.take())
        query_latency = c.query_latency.take()
        put("QueryDatabaseResponseLatency", query_latency)
        c.client_received = c.setup_succeeded = c.setup_failed_auth = c.query_requests = 0
        totals = {"DatabaseConnections": 0, "DatabaseConnectionsCurrentlyBorrowed": 0,
                  "DatabaseConnectionsCurrentlyInTransaction": 0,
                  "DatabaseConnectionsCurrentlySessionPinned": 0,
                  "MaxDatabaseConnectionsAllowed": 0, "DatabaseConnectionRequests": 0}
        for t in targets:
            values = {"DatabaseConnections": t.connections,
                      "DatabaseConnectionsCurrentlyBorrowed": t.borrowed,
                      "DatabaseConnectionsCurrentlyInTransaction": t.in_transaction,
                      "DatabaseConnectionsCurrentlySessionPinned": t.pinned,
                      "MaxDatabaseConnectionsAllowed": t.cap,
                      "DatabaseConnectionRequests": t.requests}
            for name, value in values.items():
                totals[name] += value
                put(name, value, t)
            put("AvailabilityPercentage", 100.0 if t.available else 0.0, t)
            put("QueryDatabaseResponseLatency", query_latency, t)
        for name, value in totals.items():
            put(name, value)
        return out
