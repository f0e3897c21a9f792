"""RDS Proxy metrics for moto's CloudWatch, as RDS publishes them.

Names, statistics, units and dimension sets follow the RDS Proxy monitoring page
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html):
namespace AWS/RDS, dimension set 1 ``ProxyName``, set 2 ``ProxyName, EndpointName``,
set 3 ``ProxyName, TargetGroup, Target``, set 4 ``ProxyName, TargetGroup, TargetRole``;
latencies in microseconds, AvailabilityPercentage in percent, the rest counts.
Written independently of ``rdsproxyctl.core.metrics`` (two descriptions that agree).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

UNITS = {"DatabaseConnectionsBorrowLatency": "Microseconds",
         "QueryDatabaseResponseLatency": "Microseconds",
         "QueryResponseLatency": "Microseconds",
         "AvailabilityPercentage": "Percent"}
ALL = (
    "AvailabilityPercentage", "ClientConnections", "ClientConnectionsClosed",
    "ClientConnectionsNoTLS", "ClientConnectionsReceived", "ClientConnectionsSetupFailedAuth",
    "ClientConnectionsSetupSucceeded", "ClientConnectionsTLS", "DatabaseConnectionRequests",
    "DatabaseConnectionRequestsWithTLS", "DatabaseConnections",
    "DatabaseConnectionsBorrowLatency", "DatabaseConnectionsCurrentlyBorrowed",
    "DatabaseConnectionsCurrentlyInTransaction", "DatabaseConnectionsCurrentlySessionPinned",
    "DatabaseConnectionsSetupFailed", "DatabaseConnectionsSetupSucceeded",
    "DatabaseConnectionsWithTLS", "MaxDatabaseConnectionsAllowed",
    "QueryDatabaseResponseLatency", "QueryRequests", "QueryRequestsNoTLS", "QueryRequestsTLS",
    "QueryResponseLatency",
)


def proxy_dimensions(proxy: str, metric: str) -> list[dict[str, str]]:
    """Dimension set 1, except AvailabilityPercentage (set 4 only: the writer role)."""
    if metric == "AvailabilityPercentage":
        return [{"Name": "ProxyName", "Value": proxy}, {"Name": "TargetGroup", "Value": "default"},
                {"Name": "TargetRole", "Value": "READ_WRITE"}]
    return [{"Name": "ProxyName", "Value": proxy}]


def publish(cloudwatch: Any, proxy: str, series: Mapping[str, Sequence[float]], *,
            end: dt.datetime | None = None, step: int = 60,
            dimensions: Callable[[str, str], list[dict[str, str]]] = proxy_dimensions) -> None:
    """Put each metric's values, one per ``step`` seconds, the last one minute before ``end``."""
    end = (end or dt.datetime.now(dt.timezone.utc)).replace(second=0, microsecond=0)
    data = []
    for name, values in series.items():
        for i, value in enumerate(values):
            when = end - dt.timedelta(seconds=step * (len(values) - i))
            data.append({"MetricName": name, "Dimensions": dimensions(proxy, name),
                         "Timestamp": when, "Value": float(value),
                         "Unit": UNITS.get(name, "Count")})
    for first in range(0, len(data), 1000):  # PutMetricData takes up to 1000 values a call
        cloudwatch.put_metric_data(Namespace="AWS/RDS", MetricData=data[first:first + 1000])


def steady(minutes: int, **overrides: Sequence[float] | float) -> dict[str, list[float]]:
    """Every metric for ``minutes``: a quiet, healthy pool, with ``overrides``."""
    base: dict[str, float] = {name: 0.0 for name in ALL}
    base.update(AvailabilityPercentage=100.0, ClientConnections=12, ClientConnectionsTLS=12,
                DatabaseConnections=4, DatabaseConnectionsWithTLS=4,
                MaxDatabaseConnectionsAllowed=90, DatabaseConnectionsCurrentlyBorrowed=2,
                DatabaseConnectionsCurrentlyInTransaction=1,
                DatabaseConnectionsBorrowLatency=800.0, QueryDatabaseResponseLatency=2500.0,
                QueryResponseLatency=3100.0, QueryRequests=300, QueryRequestsTLS=300,
                ClientConnectionsReceived=5, ClientConnectionsSetupSucceeded=5,
                ClientConnectionsClosed=5, DatabaseConnectionRequests=1,
                DatabaseConnectionsSetupSucceeded=1, DatabaseConnectionRequestsWithTLS=1)
    out: dict[str, list[float]] = {}
    for name in ALL:
        value = overrides.get(name, base[name])
        out[name] = [float(v) for v in value] if isinstance(value, (list, tuple)) \
            else [float(value)] * minutes
    return out
