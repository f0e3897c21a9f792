"""The pool commands and checks on the sandbox (the emulator multiplexes, pins and publishes
metrics): capacity against the real database, a workload where some clients pin (pinning,
metrics, top), more pinned clients than the cap (the proxy), a wrong token (the
application)."""

from __future__ import annotations

import contextlib

import pytest

pytestmark = pytest.mark.slow


def finding(sandbox_cli, name, check_id, *args, code=None):
    out = sandbox_cli("diagnose", name, "--check", check_id, *args, "-o", "json", code=code)
    return out.json()[0]["findings"][0], out


def test_capacity_fails_when_other_clients_would_be_left_no_headroom(sandbox, sandbox_cli):
    sandbox.make_proxy("p-capacity", pool={"MaxConnectionsPercent": 70,
                                           "MaxIdleConnectionsPercent": 50})
    args = ("--user", sandbox.app_user, "--connect")
    f, _ = finding(sandbox_cli, "p-capacity", "pool.capacity", *args, code=0)
    ev = f["evidence"]
    assert f["status"] == "PASS", f
    assert ev["max_connections"] == 100 and ev["ceiling"] == 70
    assert ev["max_connections_source"].startswith("the database")
    assert ev["reserved_connections"] == 3
    # 95% of 100, 3 reserved for superusers, and three clients straight to the database
    sandbox.client("rds").modify_db_proxy_target_group(
        DBProxyName="p-capacity", TargetGroupName="default",
        ConnectionPoolConfig={"MaxConnectionsPercent": 95, "MaxIdleConnectionsPercent": 50})
    with contextlib.ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(sandbox.superuser())
        f, out = finding(sandbox_cli, "p-capacity", "pool.capacity", *args, code=None)
    ev = f["evidence"]
    assert f["status"] == "FAIL" and out.exit_code == 1, f
    assert ev["ceiling"] == 95 and ev["other_clients"] >= 3
    assert ev["headroom_for_others"] < 0 and "No headroom" in f["title"]
    assert f["remedy"].startswith("rdsproxyctl pool p-capacity --max-connections-percent ")


def test_wrong_token_is_the_application(sandbox, sandbox_cli):
    import psycopg

    host = sandbox.make_proxy("p-token")["Endpoint"]
    wrong = sandbox.token(host, sandbox.app_user, secret_access_key="not-the-key")
    with pytest.raises(psycopg.OperationalError):
        sandbox.connect(host, password=wrong).close()
    sandbox.log_lines("p-token", contains="IAM authentication failed")
    f, out = finding(sandbox_cli, "p-token", "pool.verdict", code=1)
    assert f["evidence"]["verdict"] == "application", f
    assert f["title"].startswith("application: ") and f["evidence"]["log_auth_failures"] >= 1
    assert "rdsproxyctl logs p-token" in f["remedy"]


def flush(sandbox, cli):
    """Publish the emulator's metrics now (it does once a minute)."""
    cli("sandbox", "flush", "--dir", str(sandbox.directory))


def test_pinning_workload_pinning_metrics_and_top(sandbox, sandbox_cli, cli):
    """Some clients pin (SET, SQL PREPARE, a temporary table), others do not."""
    name = "p-pinning"
    host = sandbox.make_proxy(name, DebugLogging=True, pool={
        "MaxConnectionsPercent": 10, "MaxIdleConnectionsPercent": 10})["Endpoint"]
    token = sandbox.token(host, sandbox.app_user)
    conns = [sandbox.connect(host, password=token, autocommit=True) for _ in range(7)]
    try:
        conns[0].execute("SET search_path TO public")
        conns[1].execute("SET search_path TO public")
        conns[2].execute("PREPARE q AS SELECT 1")
        conns[3].execute("CREATE TEMP TABLE scratch (a int)")
        for conn in conns[4:]:
            conn.execute("SELECT 1")
        sandbox.log_lines(name, contains="was pinned", count=4)
        flush(sandbox, cli)

        out = sandbox_cli("pinning", name, "--since", "10m", "-o", "json", code=1)
        report = out.json()
        groups = {g["cause"]: g for g in report["groups"]}
        assert set(groups) == {"session-settings", "sql-prepare", "temporary-table"}, groups
        settings = groups["session-settings"]
        assert (settings["count"], settings["sessions"]) == (2, 2)
        assert settings["command"] == (f"rdsproxyctl pool {name} --init-query "
                                       "'SET search_path TO public'")
        assert groups["sql-prepare"]["sessions"] == 1 and not groups["sql-prepare"]["inherent"]
        assert groups["temporary-table"]["inherent"]
        assert groups["temporary-table"]["fix"].startswith("this is inherent")
        assert (report["pinned_sessions"], report["client_sessions"]) == (4, 7)
        assert report["status"] == "FAIL" and report["debug_logging"] is True
        assert report["pinned_connections_peak"] == 4

        data = sandbox_cli("metrics", name, "--since", "10m", "-o", "json").json()
        series = {m["name"]: m for m in data["metrics"]}
        assert series["DatabaseConnectionsCurrentlySessionPinned"]["max"] == 4
        assert series["ClientConnections"]["max"] == 7
        assert series["DatabaseConnections"]["max"] < series["ClientConnections"]["max"]
        assert series["MaxDatabaseConnectionsAllowed"]["last"] == 10
        assert data["api_calls"] == 1

        line = sandbox_cli("top", name, "--iterations", "1").stdout
        assert "clients=7" in line and "pinned=4" in line and "/10" in line
    finally:
        for conn in conns:
            conn.close()


def test_more_pinned_clients_than_the_cap_is_the_proxy(sandbox, sandbox_cli, cli):
    import threading
    import time

    name = "p-exhausted"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 3,
                                          "MaxIdleConnectionsPercent": 3,
                                          "ConnectionBorrowTimeout": 10})["Endpoint"]
    token = sandbox.token(host, sandbox.app_user)
    pinned = [sandbox.connect(host, password=token, autocommit=True) for _ in range(3)]
    waiter = sandbox.connect(host, password=token, autocommit=True)
    done: list[float] = []
    try:
        for conn in pinned:
            conn.execute("SET search_path TO public")  # three pinned: the whole pool (3)

        def borrow() -> None:
            started = time.monotonic()
            waiter.execute("SELECT 1")
            done.append(time.monotonic() - started)

        thread = threading.Thread(target=borrow)
        thread.start()
        time.sleep(2.0)  # the fourth client waits for a connection...
        pinned.pop().close()  # ...until a pinned session ends
        thread.join(15)
        assert done and done[0] >= 1.5, done
        flush(sandbox, cli)
        out = sandbox_cli("diagnose", name, "--check", "pool.verdict", "--check",
                          "pool.borrow_latency", "--check", "pool.pinning", "--fail-on", "warn",
                          "-o", "json", code=1)
        found = {f["id"]: f for f in out.json()[0]["findings"]}
        verdict = found["pool.verdict"]
        assert verdict["evidence"]["verdict"] == "proxy", verdict
        assert verdict["title"].startswith("proxy: clients waited ")
        # the average borrow of the minute, one of which waited two seconds
        assert verdict["evidence"]["borrow_ms_peak"] >= 50
        assert verdict["evidence"]["borrow_peak_at"] and verdict["evidence"]["pinned_peak"] >= 2
        assert verdict["remedy"] == f"rdsproxyctl pinning {name} --since 1h"
        assert found["pool.borrow_latency"]["status"] in ("WARN", "FAIL")
        assert found["pool.pinning"]["status"] in ("WARN", "FAIL")
    finally:
        for conn in [*pinned, waiter]:
            conn.close()



def test_slow_database_is_the_database(sandbox, sandbox_cli, cli):
    """The sandbox's db-slow fault delays every statement at the database: the verdict
    blames the database, with the query latency as evidence."""
    name = "p-slow"
    host = sandbox.make_proxy(name)["Endpoint"]
    token = sandbox.token(host, sandbox.app_user)
    sandbox_cli("sandbox", "fault", "db-slow", "1.2", "--proxy", name)
    try:
        with sandbox.connect(host, password=token, autocommit=True) as conn:
            for _ in range(2):
                conn.execute("SELECT 1")
    finally:
        sandbox_cli("sandbox", "fault", "clear", "--proxy", name)
    flush(sandbox, cli)
    f, out = finding(sandbox_cli, name, "pool.verdict", code=None)
    ev = f["evidence"]
    assert ev["verdict"] == "database", f
    assert out.exit_code == 1 and f["status"] == "FAIL"
    assert f["title"].startswith("database: queries took ")
    assert "QueryDatabaseResponseLatency" in f["title"] and "slow queries" in f["remedy"]
    assert ev["query_ms_peak"] >= 1000 and ev["query_peak_at"]
    assert (ev["borrow_ms_peak"] or 0) < ev["query_ms_peak"]


def test_capacity_of_a_mysql_proxy_asks_mariadb(sandbox, sandbox_cli):
    sandbox.make_proxy("m-capacity", engine="MYSQL", pool={"MaxConnectionsPercent": 60,
                                                           "MaxIdleConnectionsPercent": 30})
    f, _ = finding(sandbox_cli, "m-capacity", "pool.capacity", "--user", sandbox.app_user,
                   "--connect", code=0)
    ev = f["evidence"]
    assert f["status"] == "PASS", f
    assert (ev["max_connections"], ev["ceiling"], ev["reserved_connections"]) == (100, 60, 0)
    assert ev["max_connections_source"].startswith("the database")
    assert ev["client_backends"] >= 1
