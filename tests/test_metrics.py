"""metrics: the catalog, CloudWatch's period rules, one GetMetricData call, the views."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core import set_initial_no_auth_action_count

from rdsproxyctl.core import aws as awsmod
from rdsproxyctl.core import metrics as core
from rdsproxyctl.errors import UsageError

from .metrics_data import ALL, UNITS, publish, steady
from .test_json_docs import assert_documented

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


def calls_of(aws, operation):
    seen = []
    client = aws.client("cloudwatch")

    def handler(model, **_):
        seen.append(model.name)

    client.meta.events.register("before-call", handler)
    return seen, lambda: client.meta.events.unregister("before-call", handler)


def test_catalog_is_the_monitoring_pages_list():
    assert [m.name for m in core.METRICS] == list(ALL)
    for m in core.METRICS:
        assert m.unit == UNITS.get(m.name, "Count"), m.name
        assert m.stat == ("Average" if m.unit != "Count" else "Sum"), m.name
    assert core.BY_NAME["AvailabilityPercentage"].sets == {core.ROLE}
    assert core.BY_NAME["DatabaseConnectionsBorrowLatency"].sets == {core.PROXY, core.ENDPOINT}


@pytest.mark.parametrize("value, since, expected", [
    ("1m", "3h", 60), ("60", "3h", 60), ("60s", "3h", 60), ("5m", "3h", 300),
    ("1h", "3h", 3600), (None, "3h", 60), ("auto", "3h", 60), (None, "30d", 1800),
    ("5m", "20d", 300), ("1h", "70d", 3600), (None, "70d", 7200),
])
def test_valid_periods(value, since, expected):
    start = core.Request.build("demo", since=since, period=value, now=NOW)
    assert start.period == expected


@pytest.mark.parametrize("value, since, words", [
    ("30s", "3h", "multiple of 60 seconds"), ("90s", "3h", "multiple of 60 seconds"),
    ("1s", "1h", "high-resolution"), ("2m", "20d", "5m resolution"),
    ("10m", "70d", "1h resolution"), ("soon", "3h", "not a duration"), ("0", "3h", "not a"),
    ("1.5m", "3h", "multiple of 60 seconds"), ("2.5s", "3h", "not a duration"),
])
def test_invalid_periods_list_the_allowed_values(value, since, words):
    with pytest.raises(UsageError) as err:
        core.Request.build("demo", since=since, period=value, now=NOW)
    assert words in err.value.message
    assert "allowed:" in (err.value.hint or "")


def test_window_older_than_retention_is_refused():
    with pytest.raises(UsageError, match="455 days"):
        core.Request.build("demo", since="500d", now=NOW)


@settings(max_examples=200, deadline=None)
@given(seconds=st.integers(min_value=1, max_value=200_000),
       age_days=st.integers(min_value=1, max_value=450))
def test_period_rules_property(seconds, age_days):
    """Any period is either accepted and follows CloudWatch's rules, or refused with them."""
    start = NOW - dt.timedelta(days=age_days)
    try:
        period = core.parse_period(str(seconds), start, NOW, NOW)
    except UsageError as err:
        assert "allowed:" in (err.hint or "")
        multiple = 3600 if age_days > 63 else 300 if age_days > 15 else 60
        assert seconds % multiple
        return
    assert period == seconds and period % 60 == 0
    assert age_days <= 15 or period % 300 == 0
    assert age_days <= 63 or period % 3600 == 0


def test_endpoint_and_target_scopes():
    r = core.Request.build("demo", endpoint="reader", now=NOW)
    assert r.scope == "endpoint"
    dims = {m.name: d for m, d in r.queries}
    assert dims["ClientConnections"] == {"ProxyName": "demo", "EndpointName": "reader"}
    assert "DatabaseConnections" in r.skipped and "DatabaseConnections" not in dims
    r = core.Request.build("demo", target="db:db1", now=NOW)
    dims = {m.name: d for m, d in r.queries}
    assert dims["DatabaseConnections"] == {"ProxyName": "demo", "TargetGroup": "default",
                                           "Target": "db:db1"}
    assert "ClientConnections" in r.skipped
    with pytest.raises(UsageError, match="do not go together"):
        core.Request.build("demo", endpoint="reader", target="db:db1", now=NOW)


def test_metrics_json_is_one_call_with_every_series(world, cli):
    world.make_proxy("demo")
    values = steady(60, DatabaseConnectionsCurrentlySessionPinned=[i % 4 for i in range(60)])
    publish(world.aws.client("cloudwatch"), "demo", values)
    seen, stop = calls_of(world.aws, "GetMetricData")
    try:
        data = cli("metrics", "demo", "--since", "1h", "--period", "1m", "-o", "json").json()
    finally:
        stop()
    assert seen == ["GetMetricData"]
    assert data["api_calls"] == 1 and data["period"] == 60 and data["has_data"] is True
    by_name = {m["name"]: m for m in data["metrics"]}
    assert set(by_name) == set(ALL)
    for name, series in by_name.items():
        assert series["count"] >= 59, name  # the window's edges may cut one minute
        assert len(series["timestamps"]) == len(series["values"]) == series["count"]
    pinned = by_name["DatabaseConnectionsCurrentlySessionPinned"]
    assert (pinned["min"], pinned["max"], pinned["last"]) == (0, 3, 3)
    assert by_name["DatabaseConnectionsBorrowLatency"]["unit"] == "Microseconds"
    assert {"name": "TargetRole", "value": "READ_WRITE"} in \
        by_name["AvailabilityPercentage"]["dimensions"]
    assert_documented("metrics", data)


def test_metrics_table_tsv_and_selection(world, cli):
    world.make_proxy("demo")
    publish(world.aws.client("cloudwatch"), "demo", steady(30))
    out = cli("metrics", "demo", "--since", "1h", "--metric", "Query*Latency").stdout
    assert "QueryDatabaseResponseLatency" in out and "2.5 ms" in out
    assert "ClientConnections " not in out
    lines = cli("metrics", "demo", "--since", "1h", "--metric", "DatabaseConnections",
                "-o", "tsv").stdout.splitlines()
    assert lines[0] == "metric\tstat\tunit\ttimestamp\tvalue"
    assert len(lines) - 1 >= 29 and all(line.startswith("DatabaseConnections\tSum\t")
                                         for line in lines[1:])
    cli("metrics", "demo", "--metric", "NoSuchMetric", code=2)


def test_no_datapoints_is_not_an_error(world, cli):
    world.make_proxy("demo")
    out = cli("metrics", "demo", "-o", "json")
    data = out.json()
    assert data["has_data"] is False and all(m["values"] == [] for m in data["metrics"])
    assert "no datapoints" in out.stderr and "idle" in out.stderr
    assert "no metrics" not in cli("metrics", "demo").stdout


def test_unknown_proxy_and_bad_input(world, cli):
    assert "not found" in cli("metrics", "nope", code=3).stderr
    cli("metrics", "demo", "--since", "3 fortnights", code=2)
    cli("metrics", "demo", "--since", "1h", "--until", "2h", code=2)
    out = cli("metrics", "demo", "--period", "45s", code=2)
    assert "allowed: 1m, 2m, 5m" in out.stderr
    cli("metrics", "demo", "--endpoint", "reader", "--target", "db:db1", code=2)


def test_endpoint_metrics(world, cli):
    world.make_proxy("demo")

    def by_endpoint(proxy, metric):
        return [{"Name": "ProxyName", "Value": proxy}, {"Name": "EndpointName", "Value": "reader"}]

    publish(world.aws.client("cloudwatch"), "demo", {"ClientConnections": [7] * 10},
            dimensions=by_endpoint)
    data = cli("metrics", "demo", "--endpoint", "reader", "--since", "30m", "-o", "json").json()
    assert data["scope"] == "endpoint" and "DatabaseConnections" in data["skipped"]
    clients = next(m for m in data["metrics"] if m["name"] == "ClientConnections")
    assert clients["max"] == 7
    # the proxy-wide series does not include an endpoint's datapoints
    whole = cli("metrics", "demo", "--since", "30m", "--metric", "ClientConnections", "-o", "json")
    assert whole.json()["metrics"][0]["values"] == []


def test_sparkline():
    from rdsproxyctl.cli.metrics import sparkline

    assert sparkline([]) == ""
    assert sparkline([0, 0]) == "▁▁"
    line = sparkline(list(range(100)), width=10)
    assert len(line) == 10 and line[0] == "▁" and line[-1] == "█"


@set_initial_no_auth_action_count(3)  # the three IAM calls below run unauthenticated
def test_missing_get_metric_data_permission_exits_4(world, cli):
    iam = world.aws.client("iam")
    iam.create_user(UserName="viewer")
    iam.put_user_policy(UserName="viewer", PolicyName="rds", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "rds:Describe*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="viewer")["AccessKey"]
    awsmod.reset_cache()
    try:
        out = cli("metrics", "demo", code=4, env={
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
    finally:
        awsmod.reset_cache()
    assert "cloudwatch:GetMetricData" in out.stderr
    assert key["SecretAccessKey"] not in out.stderr


def test_denied_get_metric_data_is_named_without_the_action_in_the_message():
    from botocore.exceptions import ClientError

    from rdsproxyctl.core.awserrors import translate

    err = translate(ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}},
                                "GetMetricData"), region="us-east-1")
    assert err.exit_code == 4 and "cloudwatch:GetMetricData" in err.message
    err = translate(ClientError({"Error": {"Code": "InvalidNextToken", "Message": "bad"}},
                                "GetMetricData"), region="us-east-1")
    assert err.exit_code == 1 and "page token" in err.message


def test_window_is_aligned_to_the_period():
    now = dt.datetime(2026, 5, 1, 12, 0, 42, tzinfo=dt.timezone.utc)
    r = core.Request.build("demo", since="1h", period="5m", now=now)
    assert (r.start.isoformat(), r.end.isoformat()) == (
        "2026-05-01T11:00:00+00:00", "2026-05-01T12:05:00+00:00")


def test_a_datapoint_of_this_very_second_is_read(world, cli):
    world.make_proxy("demo")
    now = dt.datetime.now(dt.timezone.utc)
    world.aws.client("cloudwatch").put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ClientConnections", "Dimensions": [{"Name": "ProxyName", "Value": "demo"}],
        "Timestamp": now, "Value": 3.0, "Unit": "Count"}])
    data = cli("metrics", "demo", "--since", "5m", "--metric", "ClientConnections",
               "-o", "json").json()
    assert data["metrics"][0]["last"] == 3
