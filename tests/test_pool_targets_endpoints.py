"""`pool`, `targets add|remove`, `endpoints list|create|delete`, `delete`."""

from __future__ import annotations

import re

import pytest

from rdsproxyctl.cli import plans

pytestmark = pytest.mark.usefixtures("instant_waits")


@pytest.fixture
def demo(world):
    world.make_proxy("demo")
    return world


# -- pool ------------------------------------------------------------------------------------------
def test_pool_shows_old_and_new_values_and_changes_only_what_differs(demo, cli, api_calls):
    out = cli("pool", "demo", "--max-connections-percent", "60", "--borrow-timeout", "120",
              "--init-query", "SET application_name = 'app'")
    assert re.search(r"~\s+target_group default\s+max_connections_percent\s+100\s+60", out.stdout)
    assert re.search(r"~\s+target_group default\s+init_query\s+-\s+SET application_name", out.stdout)
    assert "connection_borrow_timeout" not in out.stdout  # 120 already
    pool = demo.rds().describe_db_proxy_target_groups(DBProxyName="demo")["TargetGroups"][0][
        "ConnectionPoolConfig"]
    assert pool["MaxConnectionsPercent"] == 60 and pool["InitQuery"] == \
        "SET application_name = 'app'"
    # idle percent (50) above the new max (40): lowered with it, visibly
    plan = cli("pool", "demo", "--max-connections-percent", "40", "--dry-run", "-o",
               "json").json()
    assert plan["calls"][0]["params"]["ConnectionPoolConfig"] == {
        "MaxConnectionsPercent": 40, "MaxIdleConnectionsPercent": 40}
    assert "max idle connections percent goes from 50 to 40" in plan["warnings"][0]
    api_calls.clear()
    out = cli("pool", "demo", "--max-connections-percent", "60", "--init-query",
              "SET application_name = 'app'")
    assert "no changes" in out.stderr and api_calls.mutating == []
    cli("pool", "demo", "--init-query", "")
    pool = demo.rds().describe_db_proxy_target_groups(DBProxyName="demo")["TargetGroups"][0][
        "ConnectionPoolConfig"]
    assert "InitQuery" not in pool


def test_pool_100_percent_warns_about_headroom(demo, cli):
    cli("pool", "demo", "--max-connections-percent", "50")
    out = cli("pool", "demo", "--max-connections-percent", "100")
    assert "warning: MaxConnectionsPercent 100 lets demo take every connection" in out.stderr


def test_pool_session_pinning_on_mysql(world, cli):
    world.rds().create_db_instance(DBInstanceIdentifier="my1", Engine="mysql",
                                   DBInstanceClass="db.t3.micro", MasterUsername="admin",
                                   MasterUserPassword="password123", AllocatedStorage=20)
    world.make_proxy("my", engine="MYSQL", targets=False)
    cli("pool", "my", "--session-pinning-filter", "exclude_variable_sets")
    pool = world.rds().describe_db_proxy_target_groups(DBProxyName="my")["TargetGroups"][0][
        "ConnectionPoolConfig"]
    assert pool["SessionPinningFilters"] == ["EXCLUDE_VARIABLE_SETS"]


def test_pool_of_a_missing_proxy_is_not_found(moto, cli):
    out = cli("pool", "ghost", "--borrow-timeout", "10", code=3)
    assert "error: proxy ghost not found in us-east-1" in out.stderr


# -- targets --------------------------------------------------------------------------------------
def test_targets_add_and_remove_are_idempotent(world, cli, api_calls):
    world.make_proxy("demo", targets=False)
    out = cli("targets", "add", "demo", "--db-instance", "db1", "--wait", "-o", "json").json()
    assert [(c["operation"], c["params"]) for c in out["calls"]] == [(
        "RegisterDBProxyTargets", {"DBProxyName": "demo", "TargetGroupName": "default",
                                   "DBInstanceIdentifiers": ["db1"]})]
    assert [t["health"]["state"] for t in out["targets"]] == ["AVAILABLE"]
    api_calls.clear()
    again = cli("targets", "add", "demo", "--db-instance", "db1")
    assert "instance db1 is already a target of demo: nothing to do" in again.stderr
    assert api_calls.mutating == []
    cli("targets", "remove", "demo", "--db-instance", "db1", "--yes")
    assert cli("targets", "demo", "-o", "json").json() == []
    api_calls.clear()
    gone = cli("targets", "remove", "demo", "--db-instance", "db1", "--yes")
    assert "is not a target of demo: nothing to do" in gone.stderr
    assert api_calls.mutating == []


def test_targets_add_a_cluster(world, cli):
    world.make_proxy("demo", targets=False)
    world.rds().create_db_cluster(DBClusterIdentifier="c1", Engine="aurora-postgresql",
                                  MasterUsername="postgres", MasterUserPassword="password123")
    cli("targets", "add", "demo", "--db-cluster", "c1")
    rows = cli("targets", "demo", "-o", "json").json()
    assert [(t["type"], t["tracked_cluster_id"]) for t in rows] == [("TRACKED_CLUSTER", "c1")]


def test_target_health_after_the_wait_is_reported(world, cli, monkeypatch):
    from moto.rds.models import RDSBackend

    from rdsproxyctl import motoext

    from .conftest import ACCOUNT, REGION

    world.make_proxy("demo", targets=False)
    real = motoext.proxies.register_db_proxy_targets

    def register_unhealthy(self, db_proxy_name, *args, **kwargs):
        targets = real(self, db_proxy_name, *args, **kwargs)
        for t in targets:
            motoext.set_target_health(ACCOUNT, REGION, db_proxy_name, t.rds_resource_id,
                                      "UNAVAILABLE", "AUTH_FAILURE",
                                      "Proxy does not have any registered credentials")
        return targets

    monkeypatch.setattr(RDSBackend, "register_db_proxy_targets", register_unhealthy)
    out = cli("targets", "add", "demo", "--db-instance", "db1", "--wait")
    assert ("warning: target db1 is UNAVAILABLE (AUTH_FAILURE: Proxy does not have any "
            "registered credentials)") in out.stderr


# -- endpoints ------------------------------------------------------------------------------------
def test_endpoints_create_list_delete(demo, cli, api_calls):
    # READ_ONLY on a DB instance target: refused by the API, nothing created
    out = cli("endpoints", "create", "demo", "demo-ro", "--target-role", "read-only", code=2)
    assert "READ_ONLY endpoints are supported only for proxies associated with Aurora" in out.stderr
    assert [e["name"] for e in cli("endpoints", "demo", "-o", "json").json()] == ["default"]
    demo.rds().deregister_db_proxy_targets(DBProxyName="demo",
                                           DBInstanceIdentifiers=[demo.db_instance])
    out = cli("endpoints", "create", "demo", "demo-ro", "--target-role", "read-only", "--tag", "a=b",
              "--wait", "-o", "json").json()
    params = out["calls"][0]["params"]
    assert params == {"DBProxyName": "demo", "DBProxyEndpointName": "demo-ro",
                      "VpcSubnetIds": demo.subnets, "TargetRole": "READ_ONLY",
                      "Tags": [{"Key": "a", "Value": "b"}]}
    assert any("READ_ONLY endpoints only work for Aurora clusters" in w for w in out["warnings"])
    rows = {e["name"]: e for e in cli("endpoints", "demo", "-o", "json").json()}
    assert set(rows) == {"default", "demo-ro"}
    assert rows["demo-ro"]["target_role"] == "READ_ONLY" and rows["default"]["is_default"]
    # exists: refused, or quiet with --if-not-exists
    out = cli("endpoints", "create", "demo", "demo-ro", code=2)
    assert "a proxy endpoint named demo-ro already exists (proxy demo)" in out.stderr
    api_calls.clear()
    cli("endpoints", "create", "demo", "demo-ro", "--if-not-exists")
    assert api_calls.mutating == []
    # delete: needs --yes without a terminal
    out = cli("endpoints", "delete", "demo", "demo-ro", code=2)
    assert "refusing without confirmation" in out.stderr and "--yes" in out.stderr
    assert api_calls.mutating == []
    cli("endpoints", "delete", "demo", "demo-ro", "--yes", "--wait")
    assert [e["name"] for e in cli("endpoints", "list", "demo", "-o", "json").json()] == [
        "default"]
    out = cli("endpoints", "delete", "demo", "demo-ro", "--yes", code=3)
    assert "proxy endpoint demo-ro not found" in out.stderr
    cli("endpoints", "delete", "demo", "demo-ro", "--yes", "--if-exists")


def test_endpoint_of_another_proxy_and_default_endpoint(demo, cli):
    demo.make_proxy("other", targets=False)
    cli("endpoints", "create", "other", "other-ep")
    out = cli("endpoints", "delete", "demo", "other-ep", "--yes", code=2)
    assert "endpoint other-ep belongs to proxy other, not demo" in out.stderr
    out = cli("endpoints", "delete", "demo", "default", "--yes", code=2)
    assert "the default endpoint cannot be deleted" in out.stderr
    out = cli("endpoints", "create", "demo", "other-ep", "--if-not-exists", code=2)
    assert "already exists (proxy other)" in out.stderr


# -- delete ---------------------------------------------------------------------------------------
def test_delete_without_a_terminal_needs_yes(demo, cli, api_calls):
    api_calls.clear()
    out = cli("delete", "demo", code=2)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[0] == ("error: Delete proxy demo in us-east-1: refusing without confirmation "
                        "(no terminal to ask on)")
    assert lines[1].startswith("hint: add --yes to confirm")
    assert api_calls.mutating == []
    assert demo.rds().describe_db_proxies(DBProxyName="demo")["DBProxies"]


def test_delete_dry_run_lists_what_goes(demo, cli, api_calls):
    cli("endpoints", "create", "demo", "demo-ep")
    api_calls.clear()
    plan = cli("delete", "demo", "--dry-run", "-o", "json").json()
    assert [(c["operation"], c["params"]) for c in plan["calls"]] == [
        ("DeleteDBProxy", {"DBProxyName": "demo"})]
    assert {c["resource"] for c in plan["changes"]} == {"proxy demo", "endpoint demo-ep",
                                                        "target db1"}
    assert api_calls.mutating == []


def test_delete_with_yes_deletes_and_waits(demo, cli):
    out = cli("delete", "demo", "--yes", "--wait")
    assert "demo: deleted" in out.stderr
    cli("show", "demo", code=3)
    out = cli("delete", "demo", "--yes", code=3)
    assert "proxy demo not found in us-east-1" in out.stderr
    out = cli("delete", "demo", "--yes", "--if-exists")
    assert "does not exist: nothing to do" in out.stderr


def test_delete_on_a_terminal_asks(demo, cli, monkeypatch):
    monkeypatch.setattr(plans, "stdin_is_terminal", lambda: True)
    out = cli("delete", "demo", input="n\n", code=1)
    assert "Delete proxy demo in us-east-1?" in out.stderr
    assert "not confirmed: nothing changed" in out.stderr
    assert demo.rds().describe_db_proxies(DBProxyName="demo")["DBProxies"]
    cli("delete", "demo", input="y\n")
    cli("show", "demo", code=3)
