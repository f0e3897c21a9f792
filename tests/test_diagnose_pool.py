"""diagnose's pool checks from metrics: capacity, pinning, borrow latency, the verdict."""

from __future__ import annotations

import json

import pytest
from moto.core import set_initial_no_auth_action_count

from rdsproxyctl import motoext
from rdsproxyctl.core import aws as awsmod
from rdsproxyctl.core.diagnose.checks_pool import evaluate_max_connections

from .conftest import ACCOUNT, REGION
from .metrics_data import publish, steady


def check(cli, check_id, *args, code=None):
    out = cli("diagnose", "demo", "-o", "json", "--check", check_id, *args, code=code)
    return out.json()[0]["findings"][0], out


def metrics(world, name="demo", minutes=30, **overrides):
    publish(world.aws.client("cloudwatch"), name, steady(minutes, **overrides))


def parameter_group(world, value):
    rds = world.rds()
    rds.create_db_parameter_group(DBParameterGroupName="pg", DBParameterGroupFamily="postgres16",
                                  Description="test")
    rds.modify_db_parameter_group(DBParameterGroupName="pg", Parameters=[{
        "ParameterName": "max_connections", "ParameterValue": value,
        "ApplyMethod": "pending-reboot"}])
    rds.modify_db_instance(DBInstanceIdentifier="db1", DBParameterGroupName="pg",
                           ApplyImmediately=True)


def pool_percent(world, percent):
    world.rds().modify_db_proxy_target_group(
        DBProxyName="demo", TargetGroupName="default",
        ConnectionPoolConfig={"MaxConnectionsPercent": percent,
                              "MaxIdleConnectionsPercent": min(percent, 50)})


def test_checks_are_listed_and_skip_without_datapoints(world, cli):
    ids = [r["id"] for r in cli("diagnose", "--list-checks", "-o", "json").json()]
    for check_id in ("pool.capacity", "pool.pinning", "pool.borrow_latency", "pool.verdict"):
        assert check_id in ids
    world.make_proxy("demo")
    for check_id in ("pool.pinning", "pool.borrow_latency", "pool.verdict"):
        f, _ = check(cli, check_id)
        assert f["status"] == "SKIP" and "no CloudWatch datapoints" in f["evidence"]["reason"]


def test_capacity_from_the_parameter_group(world, cli):
    world.make_proxy("demo")
    parameter_group(world, "100")
    pool_percent(world, 50)
    f, out = check(cli, "pool.capacity")
    assert f["status"] == "PASS" and out.exit_code == 0
    assert (f["evidence"]["max_connections"], f["evidence"]["ceiling"]) == (100, 50)
    assert f["evidence"]["headroom_for_others"] == 50
    assert f["evidence"]["max_connections_source"] == "parameter group"
    pool_percent(world, 100)
    f, out = check(cli, "pool.capacity")
    assert f["status"] == "FAIL" and out.exit_code == 1
    assert "No headroom" in f["title"] and f["evidence"]["headroom_for_others"] == 0
    assert f["remedy"].startswith("rdsproxyctl pool demo --max-connections-percent 70")


def test_capacity_formula_uses_the_instance_class_memory(world, cli):
    world.make_proxy("demo")
    parameter_group(world, "LEAST({DBInstanceClassMemory/9531392},5000)")
    pool_percent(world, 80)
    f, _ = check(cli, "pool.capacity")
    # db.t3.micro: 1 GiB -> 1073741824 / 9531392 = 112 connections, 80% of them
    assert (f["evidence"]["max_connections"], f["evidence"]["ceiling"]) == (112, 89)
    assert "estimate" in f["evidence"]["max_connections_source"]


@pytest.mark.parametrize("text, memory, expected", [
    ("500", None, 500), ("LEAST({DBInstanceClassMemory/9531392},5000)", 2**34, 1802),
    ("LEAST({DBInstanceClassMemory/9531392},5000)", 2**40, 5000),
    ("{DBInstanceClassMemory/12582880}", 2**30, 85),
    ("LEAST({DBInstanceClassMemory/9531392},5000)", None, None), ("GREATEST(x)", 2**30, None),
])
def test_max_connections_formulas(text, memory, expected):
    assert evaluate_max_connections(text, memory) == expected


def test_capacity_warns_when_the_pool_was_full_and_uses_the_metric(world, cli):
    world.make_proxy("demo")
    metrics(world, DatabaseConnections=[10] * 29 + [88], MaxDatabaseConnectionsAllowed=90)
    pool_percent(world, 50)  # the default group of moto has no max_connections: the metric
    f, _ = check(cli, "pool.capacity")
    assert f["status"] == "WARN" and "reached 88 of its 90" in f["title"]
    assert f["evidence"]["max_connections"] == 180
    assert "MaxDatabaseConnectionsAllowed" in f["evidence"]["max_connections_source"]
    assert "rdsproxyctl pinning demo" in f["remedy"]


def test_capacity_skips_when_max_connections_is_unknown(world, cli):
    world.make_proxy("demo")
    f, _ = check(cli, "pool.capacity")
    assert f["status"] == "SKIP" and "--connect" in f["evidence"]["reason"]


def test_pinning_from_metrics(world, cli):
    world.make_proxy("demo")
    metrics(world, DatabaseConnectionsCurrentlySessionPinned=[0] * 29 + [1],
            DatabaseConnections=10)
    f, _ = check(cli, "pool.pinning")
    assert f["status"] == "PASS" and f["evidence"]["share"] == 0.1
    assert f["evidence"]["pinned_peak"] == 1 and f["evidence"]["database_connections_then"] == 10


def test_pinning_warn_and_fail(world, cli):
    world.make_proxy("demo")
    metrics(world, minutes=10, DatabaseConnectionsCurrentlySessionPinned=3)
    f, out = check(cli, "pool.pinning")
    assert f["status"] == "WARN" and f["evidence"]["share"] == 0.75
    assert f["remedy"] == "rdsproxyctl pinning demo --since 1h" and out.exit_code == 0
    world.make_proxy("full")
    publish(world.aws.client("cloudwatch"), "full", steady(
        10, DatabaseConnectionsCurrentlySessionPinned=9, DatabaseConnections=9,
        MaxDatabaseConnectionsAllowed=9))
    out = cli("diagnose", "full", "-o", "json", "--check", "pool.pinning", code=1)
    f = out.json()[0]["findings"][0]
    assert f["status"] == "FAIL" and "Every pooled connection was pinned" in f["title"]


@pytest.mark.parametrize("borrow_us, status", [(900, "PASS"), (120_000, "WARN"),
                                               (2_500_000, "FAIL")])
def test_borrow_latency(world, cli, borrow_us, status):
    world.make_proxy("demo")
    metrics(world, DatabaseConnectionsBorrowLatency=[800] * 29 + [borrow_us])
    f, out = check(cli, "pool.borrow_latency")
    assert f["status"] == status and out.exit_code == (1 if status == "FAIL" else 0)
    assert f["evidence"]["borrow_ms_peak"] == borrow_us / 1000
    assert f["evidence"]["borrow_peak_at"] is not None


def verdict(cli, code=None):
    f, out = check(cli, "pool.verdict", code=code)
    return f, f["evidence"].get("verdict")


def test_verdict_proxy_when_borrowing_is_slow(world, cli):
    world.make_proxy("demo")
    metrics(world, DatabaseConnectionsBorrowLatency=[800] * 25 + [3_000_000] * 5,
            DatabaseConnectionsCurrentlySessionPinned=[0] * 25 + [90] * 5)
    f, v = verdict(cli, code=1)
    assert v == "proxy" and f["status"] == "FAIL"
    assert f["title"].startswith("proxy: clients waited 3000 ms")
    assert "90 connection(s) pinned" in f["title"]
    assert f["remedy"] == "rdsproxyctl pinning demo --since 1h"


def test_verdict_database_when_queries_are_slow(world, cli):
    world.make_proxy("demo")
    metrics(world, DatabaseConnectionsBorrowLatency=[800] * 25 + [900_000] * 5,
            QueryDatabaseResponseLatency=[2500] * 25 + [4_000_000] * 5)
    f, v = verdict(cli, code=1)
    assert v == "database" and "queries took 4000 ms" in f["title"]
    assert "QueryDatabaseResponseLatency" in f["title"]


def test_verdict_database_when_connections_fail_or_target_is_down(world, cli):
    world.make_proxy("demo")
    metrics(world, DatabaseConnectionsSetupFailed=[0] * 28 + [3, 2])
    f, v = verdict(cli, code=1)
    assert v == "database" and "failed to open 5 database connection(s)" in f["title"]
    motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "UNAVAILABLE", "UNREACHABLE",
                              "no route")
    f, v = verdict(cli, code=1)
    assert v == "database" and "UNAVAILABLE" in f["title"]


def test_verdict_application_on_authentication_failures(world, cli):
    world.make_proxy("demo")
    metrics(world, ClientConnectionsSetupFailedAuth=[0] * 27 + [4, 0, 1])
    f, v = verdict(cli, code=1)
    assert v == "application" and "5 client connection(s) failed authentication" in f["title"]
    assert "logs.auth_failures" in f["remedy"]


def test_verdict_application_from_logs_alone(world, cli):
    from .test_pinning import put_lines

    world.make_proxy("demo")
    put_lines(world, "demo", ['[WARN] [proxyEndpoint=default] [clientConnection=3] Proxy '
                              'authentication with IAM authentication failed for user "app" '
                              'with TLS on. Reason: Invalid credentials.'])
    f, v = verdict(cli, code=1)
    assert v == "application" and f["evidence"]["log_auth_failures"] == 1


def test_verdict_pass_on_a_healthy_pool(world, cli):
    world.make_proxy("demo")
    metrics(world)
    f, v = verdict(cli)
    assert f["status"] == "PASS" and v is None and "no sign of trouble" in f["title"]


def test_pool_checks_run_with_all(world, cli):
    for name in ("a1", "a2"):
        world.make_proxy(name)
    publish(world.aws.client("cloudwatch"), "a2", steady(
        10, DatabaseConnectionsBorrowLatency=2_000_000))
    out = cli("diagnose", "--all", "-o", "json", "--check", "pool.borrow_latency",
              "--check", "pool.verdict", code=1)
    reports = {r["proxy"]: {f["id"]: f for f in r["findings"]} for r in out.json()}
    assert reports["a1"]["pool.borrow_latency"]["status"] == "SKIP"
    assert reports["a2"]["pool.borrow_latency"]["status"] == "FAIL"
    assert reports["a2"]["pool.verdict"]["evidence"]["verdict"] == "proxy"


@set_initial_no_auth_action_count(5)  # the set-up calls below run unauthenticated
def test_pool_checks_skip_naming_get_metric_data(world, cli):
    world.make_proxy("demo")
    iam = world.aws.client("iam")
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="rds", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "rds:Describe*", "logs:*"]}]}))
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    awsmod.reset_cache()
    try:
        out = cli("diagnose", "demo", "-o", "json", "--check", "pool.pinning",
                  "--check", "pool.borrow_latency", code=None,
                  env={"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                       "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
    finally:
        awsmod.reset_cache()
    for f in out.json()[0]["findings"]:
        assert f["status"] == "SKIP"
        assert f["evidence"]["missing_action"] == "cloudwatch:GetMetricData"
