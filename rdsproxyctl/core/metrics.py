"""A proxy's CloudWatch metrics: the catalog, CloudWatch's period rules, one fetch.

The catalog is the table of the RDS Proxy monitoring page (metric, most useful statistic,
unit, the dimension sets it is published with):
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html

Every metric of a window comes from **one GetMetricData call per page** (up to 500
queries and 100,800 datapoints a page; NextToken for the rest).  Periods follow
CloudWatch's rules for standard-resolution metrics (MetricStat, GetMetricData API
reference: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html):
a multiple of 60 s; for a start more than 15 days back a multiple of 300 s, more than 63
days back a multiple of 3600 s; nothing is kept beyond 455 days.  A window without
datapoints is a result (a new or idle proxy), not an error.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rdsproxyctl.errors import UsageError

NAMESPACE = "AWS/RDS"
MONITORING_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html"
PERIOD_DOC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html"

# Dimension sets of the monitoring page.
PROXY, ENDPOINT, TARGET, ROLE = 1, 2, 3, 4
SCOPES = {"proxy": PROXY, "endpoint": ENDPOINT, "target": TARGET}


@dataclass(frozen=True)
class MetricDef:
    name: str
    stat: str  # the page's "most useful statistic"
    unit: str  # the CloudWatch unit the proxy publishes it in
    label: str  # plain words
    sets: frozenset[int]


def _m(name: str, stat: str, unit: str, label: str, *sets: int) -> MetricDef:
    return MetricDef(name, stat, unit, label, frozenset(sets))


#: Every RDS Proxy metric, in the page's order.
METRICS: tuple[MetricDef, ...] = (
    _m("AvailabilityPercentage", "Average", "Percent",
       "time the target group was available in its role", ROLE),
    _m("ClientConnections", "Sum", "Count", "client connections", PROXY, ENDPOINT),
    _m("ClientConnectionsClosed", "Sum", "Count", "client connections closed", PROXY, ENDPOINT),
    _m("ClientConnectionsNoTLS", "Sum", "Count", "client connections without TLS",
       PROXY, ENDPOINT),
    _m("ClientConnectionsReceived", "Sum", "Count", "client connection requests received",
       PROXY, ENDPOINT),
    _m("ClientConnectionsSetupFailedAuth", "Sum", "Count",
       "client connections that failed authentication or TLS", PROXY, ENDPOINT),
    _m("ClientConnectionsSetupSucceeded", "Sum", "Count", "client connections established",
       PROXY, ENDPOINT),
    _m("ClientConnectionsTLS", "Sum", "Count", "client connections with TLS", PROXY, ENDPOINT),
    _m("DatabaseConnectionRequests", "Sum", "Count", "requests to open a database connection",
       PROXY, TARGET, ROLE),
    _m("DatabaseConnectionRequestsWithTLS", "Sum", "Count",
       "requests to open a database connection with TLS", PROXY, TARGET, ROLE),
    _m("DatabaseConnections", "Sum", "Count", "database connections", PROXY, TARGET, ROLE),
    _m("DatabaseConnectionsBorrowLatency", "Average", "Microseconds",
       "time to borrow a database connection", PROXY, ENDPOINT),
    _m("DatabaseConnectionsCurrentlyBorrowed", "Sum", "Count", "database connections borrowed",
       PROXY, TARGET, ROLE),
    _m("DatabaseConnectionsCurrentlyInTransaction", "Sum", "Count",
       "database connections in a transaction", PROXY, TARGET, ROLE),
    _m("DatabaseConnectionsCurrentlySessionPinned", "Sum", "Count",
       "database connections pinned to a session", PROXY, TARGET, ROLE),
    _m("DatabaseConnectionsSetupFailed", "Sum", "Count", "database connections that failed",
       PROXY, TARGET, ROLE),
    _m("DatabaseConnectionsSetupSucceeded", "Sum", "Count", "database connections opened",
       PROXY, TARGET, ROLE),
    _m("DatabaseConnectionsWithTLS", "Sum", "Count", "database connections with TLS",
       PROXY, TARGET, ROLE),
    _m("MaxDatabaseConnectionsAllowed", "Sum", "Count",
       "most database connections allowed (the pool's ceiling)", PROXY, TARGET, ROLE),
    _m("QueryDatabaseResponseLatency", "Average", "Microseconds",
       "time the database took to answer a query", PROXY, ENDPOINT, TARGET, ROLE),
    _m("QueryRequests", "Sum", "Count", "queries received", PROXY, ENDPOINT),
    _m("QueryRequestsNoTLS", "Sum", "Count", "queries received without TLS", PROXY, ENDPOINT),
    _m("QueryRequestsTLS", "Sum", "Count", "queries received with TLS", PROXY, ENDPOINT),
    _m("QueryResponseLatency", "Average", "Microseconds",
       "time from a query to the proxy's answer", PROXY, ENDPOINT),
)
BY_NAME = {m.name: m for m in METRICS}

MINUTE, DAY = 60, 86400
#: Start of the window older than this many days -> period a multiple of this many seconds.
AGE_RULES = ((63, 3600), (15, 300))
RETENTION_DAYS = 455
#: GetMetricData's limits per call.
MAX_QUERIES = 500
#: An automatic period keeps a metric to at most this many points.
AUTO_POINTS = 1440


def allowed_periods(multiple: int) -> str:
    examples = [p for p in (60, 120, 300, 600, 900, 1800, 3600, 21600, 86400) if p % multiple == 0]
    return ", ".join(human_seconds(p) for p in examples[:6]) + ", ... (any multiple of " \
        + human_seconds(multiple) + ")"


def human_seconds(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_period(value: str | None, start: dt.datetime, now: dt.datetime,
                 end: dt.datetime) -> int:
    """``--period`` in seconds, checked against CloudWatch's rules for the window's start.

    ``None`` (or ``auto``) picks the smallest valid period that keeps a metric to
    :data:`AUTO_POINTS` points."""
    from rdsproxyctl.core.duration import parse_seconds

    age_days = (now - start).total_seconds() / DAY
    if age_days > RETENTION_DAYS:
        raise UsageError(f"--since is {age_days:.0f} days back: CloudWatch keeps metrics for "
                         f"{RETENTION_DAYS} days", hint="choose a later --since")
    multiple = next((m for days, m in AGE_RULES if age_days > days), MINUTE)
    if value is None or value.strip().lower() == "auto":
        span = max((end - start).total_seconds(), 1)
        return max(multiple, math.ceil(span / AUTO_POINTS / multiple) * multiple)
    text = value.strip()
    seconds = parse_seconds(text)
    if seconds is None or seconds != int(seconds) or seconds <= 0:
        raise UsageError(f"--period {value!r} is not a duration (60, 60s, 1m, 5m, 1h)",
                         hint=f"allowed: {allowed_periods(multiple)}")
    period = int(seconds)
    if period % MINUTE:
        raise UsageError(
            f"--period {value!r} is not allowed: RDS Proxy publishes standard-resolution "
            "metrics, whose period is a multiple of 60 seconds (1, 5, 10, 20 and 30 s are for "
            "high-resolution custom metrics only)",
            hint=f"allowed: {allowed_periods(multiple)}; see {PERIOD_DOC}")
    if period % multiple:
        raise UsageError(
            f"--period {value!r} is not allowed for a window starting {age_days:.0f} days ago: "
            f"CloudWatch keeps data that old at {human_seconds(multiple)} resolution",
            hint=f"allowed: {allowed_periods(multiple)}")
    return period


@dataclass(frozen=True)
class Dimension:
    name: str
    value: str


@dataclass(frozen=True)
class Series:
    """One metric over the window: its datapoints, oldest first, and their summary."""

    name: str
    label: str
    stat: str
    unit: str
    dimensions: list[Dimension]
    timestamps: list[str]
    values: list[float]
    status: str | None = None  # CloudWatch's StatusCode: Complete, PartialData ...

    json_properties: ClassVar[tuple[str, ...]] = ("count", "min", "max", "avg", "last",
                                                  "last_timestamp", "peak_timestamp")

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def min(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def max(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def avg(self) -> float | None:
        return round(sum(self.values) / len(self.values), 3) if self.values else None

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    @property
    def last_timestamp(self) -> str | None:
        return self.timestamps[-1] if self.timestamps else None

    @property
    def peak_timestamp(self) -> str | None:
        if not self.values:
            return None
        return self.timestamps[max(range(len(self.values)), key=self.values.__getitem__)]


@dataclass(frozen=True)
class MetricsReport:
    """What ``metrics NAME`` prints."""

    proxy: str
    namespace: str
    since: str
    until: str
    period: int
    scope: str  # proxy, endpoint, target
    endpoint: str | None
    target: str | None
    metrics: list[Series]
    skipped: list[str] = field(default_factory=list)  # not published for this scope
    api_calls: int = 0
    messages: list[str] = field(default_factory=list)

    json_properties: ClassVar[tuple[str, ...]] = ("has_data",)

    @property
    def has_data(self) -> bool:
        return any(s.values for s in self.metrics)

    def get(self, name: str) -> Series | None:
        return next((s for s in self.metrics if s.name == name), None)


def select(names: Iterable[str] | None) -> list[MetricDef]:
    """Metric names or globs (``Query*``) -> catalog rows, in catalog order."""
    from fnmatch import fnmatchcase

    wanted = [n.strip() for n in names or () if n.strip()]
    if not wanted:
        return list(METRICS)
    unknown = [w for w in wanted if not any(fnmatchcase(m.name, w) for m in METRICS)]
    if unknown:
        raise UsageError(f"unknown metric(s): {', '.join(unknown)}",
                         hint="known: " + ", ".join(m.name for m in METRICS))
    return [m for m in METRICS if any(fnmatchcase(m.name, w) for w in wanted)]


def dimensions(proxy: str, metric: MetricDef, scope: str, endpoint: str | None,
               target: str | None, target_group: str = "default") -> dict[str, str] | None:
    """The dimensions to read ``metric`` with, or ``None`` when it is not published so."""
    wanted = SCOPES[scope]
    if wanted in metric.sets:
        if scope == "endpoint":
            return {"ProxyName": proxy, "EndpointName": endpoint or "default"}
        if scope == "target":
            return {"ProxyName": proxy, "TargetGroup": target_group, "Target": target or ""}
        return {"ProxyName": proxy}
    if scope == "proxy" and metric.sets == {ROLE}:
        # AvailabilityPercentage is published per target role only: the proxy's writer
        return {"ProxyName": proxy, "TargetGroup": target_group, "TargetRole": "READ_WRITE"}
    return None


@dataclass(frozen=True)
class Request:
    """A checked request: the window, the period and the queries (no AWS call yet)."""

    proxy: str
    start: dt.datetime
    end: dt.datetime
    period: int
    scope: str
    endpoint: str | None
    target: str | None
    queries: list[tuple[MetricDef, dict[str, str]]]
    skipped: list[str]

    @classmethod
    def build(cls, proxy: str, *, since: str = "1h", until: str | None = None,
              period: str | None = None, endpoint: str | None = None,
              target: str | None = None, metrics: Iterable[str] | None = None,
              now: dt.datetime | None = None) -> Request:
        from rdsproxyctl.core.logs.query import Window
        from rdsproxyctl.core.validate import check_name

        check_name(proxy)
        if endpoint and target:
            raise UsageError("--endpoint and --target do not go together",
                             hint="CloudWatch publishes RDS Proxy metrics per endpoint or per "
                                  "target, not both (" + MONITORING_DOC + ")")
        if endpoint:
            check_name(endpoint, "endpoint name")
        if target is not None and not target.strip():
            raise UsageError("--target needs a value")
        now = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
        window = Window.parse(since, until, now=now)
        start = dt.datetime.fromtimestamp(window.start // 1000, dt.timezone.utc)
        end = (dt.datetime.fromtimestamp(window.end // 1000, dt.timezone.utc)
               if window.end is not None else now)
        if end <= start:
            raise UsageError(f"the window {since!r} .. {until or 'now'} is empty")
        seconds = parse_period(period, start, now, end)
        # Aligned to the period (GetMetricData's advice, and the current, partial period is
        # included: a datapoint stamped a moment ago is not cut by an end of "now").
        start = _align(start, seconds, up=False)
        end = _align(end, seconds, up=True)
        scope = "endpoint" if endpoint else "target" if target else "proxy"
        queries, skipped = [], []
        for m in select(metrics):
            dims = dimensions(proxy, m, scope, endpoint, target)
            if dims is None:
                skipped.append(m.name)
            else:
                queries.append((m, dims))
        return cls(proxy, start, end, seconds, scope, endpoint, target, queries, skipped)

    def metric_queries(self) -> list[dict[str, Any]]:
        return [{"Id": f"m{i}", "Label": m.name, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": m.name,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]},
            "Period": self.period, "Stat": m.stat}}
            for i, (m, dims) in enumerate(self.queries)]


def _align(when: dt.datetime, period: int, *, up: bool) -> dt.datetime:
    epoch = int(when.timestamp())
    aligned = (-(-epoch // period) if up else epoch // period) * period
    return dt.datetime.fromtimestamp(aligned, dt.timezone.utc)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat()


def fetch(aws: Any, request: Request) -> MetricsReport:
    """Every query of ``request``: one GetMetricData call per page (NextToken)."""
    from rdsproxyctl.core.aws import aws_errors

    points: dict[str, dict[dt.datetime, float]] = {f"m{i}": {} for i in range(len(request.queries))}
    statuses: dict[str, str] = {}
    messages: list[str] = []
    calls = 0
    queries = request.metric_queries()
    client = aws.client("cloudwatch")
    for first in range(0, len(queries), MAX_QUERIES):
        params: dict[str, Any] = {"MetricDataQueries": queries[first:first + MAX_QUERIES],
                                  "StartTime": request.start, "EndTime": request.end,
                                  "ScanBy": "TimestampAscending"}
        while True:
            with aws_errors(aws, proxy=request.proxy):
                page = client.get_metric_data(**params)
            calls += 1
            for result in page.get("MetricDataResults", []):
                series = points.setdefault(result["Id"], {})
                series.update(zip(result.get("Timestamps", []), result.get("Values", [])))
                code = result.get("StatusCode")
                if code and statuses.get(result["Id"]) in (None, "Complete"):
                    statuses[result["Id"]] = code
            messages.extend(f"{m.get('Code')}: {m.get('Value')}" for m in page.get("Messages", []))
            token = page.get("NextToken")
            if not token:
                break
            params["NextToken"] = token
    out = []
    for i, (m, dims) in enumerate(request.queries):
        ordered = sorted(points.get(f"m{i}", {}).items())
        out.append(Series(m.name, m.label, m.stat, m.unit,
                          [Dimension(k, v) for k, v in dims.items()],
                          [iso(t) for t, _ in ordered], [float(v) for _, v in ordered],
                          statuses.get(f"m{i}")))
    return MetricsReport(proxy=request.proxy, namespace=NAMESPACE, since=iso(request.start),
                         until=iso(request.end), period=request.period, scope=request.scope,
                         endpoint=request.endpoint, target=request.target, metrics=out,
                         skipped=request.skipped, api_calls=calls, messages=messages)


def get_metrics(aws: Any, proxy: str, **options: Any) -> MetricsReport:
    """:meth:`Request.build` then :func:`fetch` (the library entry point)."""
    return fetch(aws, Request.build(proxy, **options))


def no_data_reason(aws: Any, proxy: str) -> str:
    """Why a window has no datapoints: NotFound (exit 3) for an unknown proxy, else a
    sentence for a new or idle one."""
    from rdsproxyctl.core.proxies import get_proxy

    p = get_proxy(aws, proxy)  # raises NotFound
    return (f"no datapoints for proxy {p.name} in this window: RDS Proxy publishes metrics "
            "once clients connect (a new or idle proxy has none yet)")
