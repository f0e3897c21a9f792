"""`metrics NAME -o json` against `aws cloudwatch get-metric-data`, on one moto server.

Three hours of 1-minute datapoints of every RDS Proxy metric (24 metrics x 180 points, as
tests/metrics_data.py publishes them) in moto's CloudWatch; both tools ask for the same
window, the same 24 queries (metric, dimensions, statistic, 60 s period) in one call.
Goal (issue 12): rdsproxyctl at most 1.0x the AWS CLI's wall time.

    python benchmarks/run.py metrics --repeat 3
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from runner import ROOT, Bench, benchmark, fake_aws_env, moto_server, tool

sys.path.insert(0, str(ROOT))

MINUTES = 180
MAX_REPEAT = 3

SEED = """
import sys, datetime as dt
import botocore.session
from tests.metrics_data import publish, steady
url, end = sys.argv[1], dt.datetime.fromisoformat(sys.argv[2])
cw = botocore.session.get_session().create_client("cloudwatch", endpoint_url=url,
                                                  region_name="us-east-1")
publish(cw, "demo", steady(%d, DatabaseConnectionsCurrentlySessionPinned=[i %% 5 for i in
        range(%d)]), end=end)
""" % (MINUTES, MINUTES)


def queries() -> list[dict[str, object]]:
    """The AWS CLI's side: the same queries rdsproxyctl sends (built independently here)."""
    from tests.metrics_data import ALL, proxy_dimensions

    latency = {"DatabaseConnectionsBorrowLatency", "QueryDatabaseResponseLatency",
               "QueryResponseLatency", "AvailabilityPercentage"}
    return [{"Id": f"q{i}", "MetricStat": {
        "Metric": {"Namespace": "AWS/RDS", "MetricName": name,
                   "Dimensions": proxy_dimensions("demo", name)},
        "Period": 60, "Stat": "Average" if name in latency else "Sum"}}
        for i, name in enumerate(ALL)]


@benchmark("metrics")
def metrics(bench: Bench) -> None:
    """`metrics NAME -o json` (3 h, 1-minute data, every metric) against the AWS CLI."""
    env = {**fake_aws_env(), "PYTHONPATH": str(ROOT)}
    end = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    start = end - dt.timedelta(minutes=MINUTES)
    with tempfile.TemporaryDirectory() as tmp, moto_server(env) as url:
        subprocess.run([sys.executable, "-c", SEED, url, end.isoformat()], env=env, check=True,
                       cwd=ROOT)
        query_file = Path(tmp) / "queries.json"
        query_file.write_text(json.dumps(queries()))
        ours = [tool("rdsproxyctl"), "--endpoint-url", url, "metrics", "demo",
                "--since", start.isoformat(), "--until", end.isoformat(), "--period", "1m",
                "-o", "json"]
        got = json.loads(subprocess.run(ours, env=env, capture_output=True, text=True,
                                        check=True).stdout)
        theirs = [tool("aws"), "--endpoint-url", url, "cloudwatch", "get-metric-data",
                  "--metric-data-queries", f"file://{query_file}",
                  "--start-time", start.isoformat(), "--end-time", end.isoformat(),
                  "--scan-by", "TimestampAscending"]
        aws_out = json.loads(subprocess.run(theirs, env=env, capture_output=True, text=True,
                                            check=True).stdout)
        repeat, bench.repeat = bench.repeat, min(bench.repeat, MAX_REPEAT)
        bench.env = env
        try:
            bench.compare(
                f"metrics NAME -o json vs aws cloudwatch get-metric-data, {len(got['metrics'])} "
                f"metrics x {MINUTES} 1-minute points (moto server)",
                {"aws cloudwatch get-metric-data": theirs, "rdsproxyctl metrics -o json": ours},
                baseline="aws cloudwatch get-metric-data",
                notes={"datapoints rdsproxyctl printed":
                       sum(m["count"] for m in got["metrics"]),
                       "datapoints the AWS CLI printed":
                       sum(len(r["Values"]) for r in aws_out["MetricDataResults"]),
                       "GetMetricData calls (rdsproxyctl)": got["api_calls"]},
            )
        finally:
            bench.repeat = repeat
