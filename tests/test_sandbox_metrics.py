"""RDS Proxy's CloudWatch metrics from the emulator, read back with the AWS CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess

import pytest

from rdsproxyctl.sandbox.emulator.metrics import METRICS

ISSUE_LIST = (
    "ClientConnections ClientConnectionsReceived ClientConnectionsSetupSucceeded "
    "ClientConnectionsSetupFailedAuth DatabaseConnections DatabaseConnectionsCurrentlyBorrowed "
    "DatabaseConnectionsCurrentlySessionPinned DatabaseConnectionsCurrentlyInTransaction "
    "DatabaseConnectionsBorrowLatency DatabaseConnectionRequests QueryDatabaseResponseLatency "
    "QueryRequests MaxDatabaseConnectionsAllowed AvailabilityPercentage").split()


def test_the_published_metrics_have_the_monitoring_pages_units():
    assert sorted(METRICS) == sorted(ISSUE_LIST)
    for name, metric in METRICS.items():
        expected = ("Microseconds" if name.endswith("Latency") else
                    "Percent" if name == "AvailabilityPercentage" else "Count")
        assert metric.unit == expected, name
        assert metric.statistic == ("Average" if expected != "Count" else "Sum"), name


def _statistics(sandbox, proxy, metric, statistic="Maximum", **dims):
    now = dt.datetime.now(dt.timezone.utc)
    dimensions = [f"Name=ProxyName,Value={proxy}"] + [f"Name={k},Value={v}"
                                                       for k, v in dims.items()]
    out = subprocess.run(
        ["aws", "cloudwatch", "get-metric-statistics", "--namespace", "AWS/RDS",
         "--metric-name", metric, "--dimensions", *dimensions, "--statistics", statistic,
         "--period", "60", "--start-time", (now - dt.timedelta(minutes=10)).isoformat(),
         "--end-time", (now + dt.timedelta(minutes=5)).isoformat(), "--output", "json"],
        env={**os.environ, **sandbox.env}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    points = json.loads(out.stdout)["Datapoints"]
    return points


@pytest.mark.slow
def test_aws_cli_reads_the_proxys_metrics_after_traffic(sandbox, cli):
    from .test_json_docs import assert_documented

    if not shutil.which("aws"):
        pytest.skip("the AWS CLI is not installed (pip install awscli)")
    name = "metrics-proxy"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 5})["Endpoint"]
    token = sandbox.token(host, "app")
    pinned = sandbox.connect(host, password=token, autocommit=True)
    others = [sandbox.connect(host, password=token, autocommit=True) for _ in range(2)]
    in_transaction = sandbox.connect(host, password=token)  # not autocommit
    try:
        pinned.execute("SET search_path TO x")
        for conn in others:
            conn.execute("SELECT 1")
        in_transaction.execute("SELECT 1")  # BEGIN; SELECT 1: the transaction stays open
        out = cli("sandbox", "flush", "--dir", str(sandbox.directory), "-o", "json")
        assert out.json()["metrics_published"] >= 1
        assert_documented("sandbox flush", out.json())
        pool = sandbox.pool(name)
        expect = {"ClientConnections": 4, "DatabaseConnectionsCurrentlySessionPinned": 1,
                  "DatabaseConnections": pool["open"], "MaxDatabaseConnectionsAllowed": 5,
                  "DatabaseConnectionsCurrentlyBorrowed": 2,
                  "DatabaseConnectionsCurrentlyInTransaction": 1}
        for metric, value in expect.items():
            points = _statistics(sandbox, name, metric)
            assert points, metric
            assert max(p["Maximum"] for p in points) == value, (metric, points)
            assert points[0]["Unit"] == "Count"
        assert pool["open"] >= 2
        # per target too (dimension set 3)
        target = _statistics(sandbox, name, "DatabaseConnectionsCurrentlySessionPinned",
                             TargetGroup="default", Target=f"db:{sandbox.seeded['db_instance']}")
        assert target and max(p["Maximum"] for p in target) == 1
        received = _statistics(sandbox, name, "ClientConnectionsReceived", statistic="Sum")
        assert sum(p["Sum"] for p in received) >= 4
        queries = _statistics(sandbox, name, "QueryRequests", statistic="Sum")
        assert sum(p["Sum"] for p in queries) >= 4
        latency = _statistics(sandbox, name, "DatabaseConnectionsBorrowLatency", "Average")
        assert latency and latency[0]["Unit"] == "Microseconds"
    finally:
        for conn in [pinned, *others, in_transaction]:
            conn.close()
    cli("sandbox", "flush", "--dir", str(sandbox.directory))
    points = _statistics(sandbox, name, "ClientConnections", statistic="Minimum")
    assert min(p["Minimum"] for p in points) == 0  # everyone left


def test_flush_without_a_sandbox_says_so(tmp_path, cli):
    out = cli("sandbox", "flush", "--dir", str(tmp_path), code=3)
    assert "no running sandbox" in out.stderr
