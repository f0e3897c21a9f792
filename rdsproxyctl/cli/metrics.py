"""``metrics``: a proxy's CloudWatch metrics, summarised, with a sparkline per metric."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.output import Column, Fields, OutputFormat, Table, View
from rdsproxyctl.cli.runtime import Runtime, command

if TYPE_CHECKING:  # pragma: no cover
    from rdsproxyctl.core.metrics import MetricsReport

Endpoint = Annotated[Optional[str], o.option(
    "--endpoint", "Its metrics only (CloudWatch's EndpointName dimension; `default` is the "
    "proxy's own).")]

BLOCKS = "▁▂▃▄▅▆▇█"


def register(app: typer.Typer) -> None:
    command(app, "metrics")(metrics_cmd)


def sparkline(values: list[float], width: int = 24) -> str:
    """``values`` as block characters, ``width`` at most (each the max of its bucket)."""
    if not values:
        return ""
    if len(values) > width:
        size = len(values) / width
        values = [max(values[int(i * size):max(int((i + 1) * size), int(i * size) + 1)])
                  for i in range(width)]
    low, high = min(values), max(values)
    if high == low:
        return BLOCKS[0 if high == 0 else 3] * len(values)
    scale = (len(BLOCKS) - 1) / (high - low)
    return "".join(BLOCKS[round((v - low) * scale)] for v in values)


def number(value: float | None, unit: str) -> str:
    """A value as a person reads it: latencies in ms, percentages with %, counts whole."""
    if value is None:
        return "-"
    if unit == "Microseconds":
        ms = value / 1000.0
        return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"
    if unit == "Percent":
        return f"{value:.1f}%"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def metrics_view(report: MetricsReport, data: dict[str, Any], terminal: bool,
                 fmt: OutputFormat) -> View:
    if fmt is OutputFormat.tsv:  # long form for scripts: one row per datapoint
        rows = [{"metric": s["name"], "stat": s["stat"], "unit": s["unit"], "timestamp": t,
                 "value": v}
                for s in data["metrics"] for t, v in zip(s["timestamps"], s["values"])]
        return View(data, [Table([Column(k, k.upper()) for k in
                                  ("metric", "stat", "unit", "timestamp", "value")], rows)])
    rows = []
    for s in report.metrics:
        rows.append({"metric": s.name, "stat": s.stat, "min": number(s.min, s.unit),
                     "avg": number(s.avg, s.unit), "max": number(s.max, s.unit),
                     "last": number(s.last, s.unit), "points": s.count,
                     "trend": sparkline(s.values)})
    columns = [Column("metric", "METRIC"), Column("stat", "STAT"), Column("min", "MIN"),
               Column("avg", "AVG"), Column("max", "MAX"), Column("last", "LAST"),
               Column("points", "POINTS")]
    if terminal:
        columns.append(Column("trend", "TREND"))
    scope = {"proxy": "the whole proxy", "endpoint": f"endpoint {report.endpoint}",
             "target": f"target {report.target}"}[report.scope]
    about = [("proxy", report.proxy), ("window", f"{report.since} .. {report.until}"),
             ("period", f"{report.period} s"), ("of", scope),
             ("api calls", report.api_calls)]
    if report.skipped:
        about.append(("not published for this scope", ", ".join(report.skipped)))
    return View(data, [Fields(about, title="Metrics"),
                       Table(columns, rows, title="CloudWatch (AWS/RDS)",
                             empty="no metrics")])


def metrics_cmd(
    name: o.ProxyName,
    rt: Runtime,
    since: o.Since = "1h",
    until: o.Until = None,
    period: Annotated[Optional[str], o.option("--period")] = None,
    endpoint: Endpoint = None,
    target: Annotated[Optional[str], o.option(
        "--target", "As `aws cloudwatch list-metrics --namespace AWS/RDS` shows it.")] = None,
    metric: Annotated[Optional[list[str]], o.option("--metric")] = None,
) -> None:
    """The proxy's CloudWatch metrics: min/avg/max/last and a sparkline per metric.

    Every RDS Proxy metric of the monitoring page (connections, borrowed, pinned, in transaction, borrow and query latency, requests, setup failures, MaxDatabaseConnectionsAllowed, availability) in one GetMetricData call per page. `-o json` gives each metric's timestamps and values (keys in docs/json.md), `-o tsv` one row per datapoint. A window without datapoints (a new or idle proxy) is not an error.

    Examples:

      rdsproxyctl metrics my-proxy --since 3h

      rdsproxyctl metrics my-proxy --since 1d --period 5m --metric 'DatabaseConnections*'

      rdsproxyctl metrics my-proxy -o json | jq '.metrics[] | {name, max}'
    """
    from rdsproxyctl.core import metrics as core
    from rdsproxyctl.core.models import to_jsonable

    request = core.Request.build(name, since=since, until=until, period=period,
                                 endpoint=endpoint, target=target, metrics=metric)
    with rt.renderer.status(f"reading CloudWatch metrics of {name}"):
        report = core.fetch(rt.aws, request)
    if not report.has_data:
        rt.renderer.info(core.no_data_reason(rt.aws, name))  # NotFound: exit 3
    data = to_jsonable(report)
    rt.renderer.emit(metrics_view(report, data, rt.renderer.is_terminal(), rt.output))
