"""`rdsproxyctl sandbox fault ...` end to end: each fault shows where AWS shows it (target
health, the client's error, the proxy's log lines, `diagnose`), `fault clear` restores."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

pytestmark = pytest.mark.slow

POOL = {"MaxConnectionsPercent": 75, "MaxIdleConnectionsPercent": 50}


def fault(sandbox_cli, *args, code=0):
    return sandbox_cli("sandbox", "fault", *args, "-o", "json", code=code)


RANK = {"FAIL": 0, "WARN": 1, "SKIP": 2, "PASS": 3}


def diagnose(sandbox_cli, proxy, *args, code=None):
    """Findings by check id (the worst, when a check reports one finding per target)."""
    out = sandbox_cli("diagnose", proxy, *args, "-o", "json", code=code)
    data = out.json()
    report = data[0] if isinstance(data, list) else data  # a list of one report per proxy
    worst: dict = {}
    for f in report["findings"]:
        if f["id"] not in worst or RANK.get(f["status"], 9) < RANK.get(worst[f["id"]]["status"], 9):
            worst[f["id"]] = f
    return worst


def connect(sandbox, host, **kwargs):
    return sandbox.connect(host, password=sandbox.token(host, "app"), autocommit=True, **kwargs)


def client_error(sandbox, host) -> str:
    with pytest.raises(psycopg.OperationalError) as exc:
        with connect(sandbox, host) as conn:
            conn.execute("SELECT 1")
    return str(exc.value)


def active(sandbox_cli) -> list[tuple[str, str]]:
    faults = sandbox_cli("sandbox", "status", "-o", "json").json()["faults"]
    return [(f["kind"], f["proxy"]) for f in faults]


@pytest.fixture
def cleared(sandbox_cli):
    yield
    sandbox_cli("sandbox", "fault", "clear")


def test_failover_idle_clients_survive_in_flight_fails(sandbox, sandbox_cli, sandbox_cluster,
                                                       cleared):
    proxy = sandbox.make_cluster_proxy("f-failover", "e2e-aurora",
                                       pool={**POOL, "ConnectionBorrowTimeout": 30})
    host = proxy["Endpoint"]
    writer = next(t["RdsResourceId"] for t in sandbox.members("f-failover").values()
                  if t.get("Role") == "READ_WRITE")
    idle = [connect(sandbox, host) for _ in range(20)]
    for conn in idle:
        conn.execute("SELECT 1")
    busy = connect(sandbox, host)
    failed: list[BaseException] = []

    def in_flight() -> None:
        try:
            busy.execute("SELECT pg_sleep(20)")
        except BaseException as exc:  # noqa: BLE001 - what the client saw
            failed.append(exc)

    worker = threading.Thread(target=in_flight)
    worker.start()
    time.sleep(0.5)
    out = fault(sandbox_cli, "failover", "--proxy", "f-failover").json()
    assert out["faults"][0]["kind"] == "failover"
    from .test_json_docs import assert_documented

    assert_documented("sandbox fault", out)
    assert_documented("sandbox status", sandbox_cli("sandbox", "status", "-o", "json").json())
    worker.join(10)
    assert failed and isinstance(failed[0], psycopg.OperationalError)  # in flight: cut
    for n, conn in enumerate(idle):  # idle: a write on the new writer, no reconnect
        conn.execute("CREATE TABLE IF NOT EXISTS failover_writes (n int)")
        conn.execute("INSERT INTO failover_writes VALUES (%s)", (n,))
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        conn.close()
    busy.close()
    rows = sandbox.members("f-failover")
    assert rows[writer]["Role"] == "READ_ONLY"
    assert rows[writer]["TargetHealth"]["State"] == "UNAVAILABLE"
    assert sandbox.log_lines("f-failover", contains="is failing over")
    assert sandbox.log_lines("f-failover", contains="failed over")
    assert ("failover", "f-failover") in active(sandbox_cli)
    report = diagnose(sandbox_cli, "f-failover", code=1)
    assert report["targets.health"]["status"] == "FAIL"
    fault(sandbox_cli, "clear")
    rows = sandbox.wait_members("f-failover", "AVAILABLE", timeout=30)
    assert rows[writer]["Role"] == "READ_ONLY"  # the old writer came back as the reader
    assert active(sandbox_cli) == []


def test_db_down_and_clear(sandbox, sandbox_cli, sandbox_cluster, cleared):
    proxy = sandbox.make_cluster_proxy("f-down", "e2e-aurora",
                                       pool={**POOL, "ConnectionBorrowTimeout": 1})
    fault(sandbox_cli, "db-down", "--proxy", "f-down")
    deadline = time.monotonic() + 10
    while True:
        writer = next(t for t in sandbox.members("f-down").values() if t.get("Role") == "READ_WRITE")
        if writer["TargetHealth"].get("Reason") == "UNREACHABLE":
            break
        assert time.monotonic() < deadline, writer
        time.sleep(0.1)
    assert "Timed-out waiting to acquire database connection." in client_error(
        sandbox, proxy["Endpoint"])
    assert sandbox.log_lines("f-down", contains="Timed-out waiting to acquire")
    assert sandbox.log_lines("f-down", contains="Reason: UNREACHABLE")
    assert diagnose(sandbox_cli, "f-down", code=1)["targets.health"]["status"] == "FAIL"
    fault(sandbox_cli, "clear", "--proxy", "f-down")
    sandbox.wait_members("f-down", "AVAILABLE", timeout=20)
    with connect(sandbox, proxy["Endpoint"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_db_restart_comes_back_by_itself(sandbox, sandbox_cli, sandbox_cluster, cleared):
    proxy = sandbox.make_cluster_proxy("f-restart", "e2e-aurora",
                                       pool={**POOL, "ConnectionBorrowTimeout": 1})
    fault(sandbox_cli, "db-restart", "6", "--proxy", "f-restart")
    assert ("db-restart", "f-restart") in active(sandbox_cli)
    assert "Timed-out waiting" in client_error(sandbox, proxy["Endpoint"])
    assert diagnose(sandbox_cli, "f-restart", code=1)["targets.health"]["status"] == "FAIL"
    sandbox.wait_members("f-restart", "AVAILABLE", timeout=30)  # no `clear` needed
    assert ("db-restart", "f-restart") not in active(sandbox_cli)
    with connect(sandbox, proxy["Endpoint"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_db_slow_adds_latency_per_statement(sandbox, sandbox_cli, cleared):
    host = sandbox.make_proxy("f-slow", pool=POOL)["Endpoint"]
    with connect(sandbox, host) as conn:
        fault(sandbox_cli, "db-slow", "0.4", "--proxy", "f-slow")
        started = time.monotonic()
        for _ in range(3):
            conn.execute("SELECT 1")
        slow = time.monotonic() - started
        assert slow >= 1.2
        assert sandbox.log_lines("f-slow", contains="each statement is delayed by 0.4 seconds")
        fault(sandbox_cli, "clear", "--proxy", "f-slow")
        started = time.monotonic()
        conn.execute("SELECT 1")
        assert time.monotonic() - started < 0.4
    # the health of the target is not affected: a slow database is still available
    assert sandbox.target_health("f-slow")["State"] == "AVAILABLE"


def test_secret_denied(sandbox, sandbox_cli, cleared):
    host = sandbox.make_proxy("f-denied", pool=POOL)["Endpoint"]
    try:
        fault(sandbox_cli, "secret-denied", "--proxy", "f-denied")
        health = sandbox.wait_health("f-denied", "UNAVAILABLE", "AUTH_FAILURE")
        assert health["Description"] == "Proxy does not have any registered credentials"
        assert "This RDS proxy has no credentials for the role app." in client_error(sandbox, host)
        assert sandbox.log_lines("f-denied", contains="is not authorized to read the AWS Secrets")
        report = diagnose(sandbox_cli, "f-denied", code=1)
        assert report["role.secret_access"]["status"] == "FAIL"
    finally:
        fault(sandbox_cli, "clear")
    sandbox.wait_health("f-denied", "AVAILABLE", timeout=40)
    assert diagnose(sandbox_cli, "f-denied")["role.secret_access"]["status"] == "PASS"


def test_secret_broken(sandbox, sandbox_cli, cleared):
    host = sandbox.make_proxy("f-broken", pool=POOL)["Endpoint"]
    try:
        fault(sandbox_cli, "secret-broken", "--proxy", "f-broken")
        sandbox.wait_health("f-broken", "UNAVAILABLE", "AUTH_FAILURE")
        assert "This RDS proxy has no credentials for the role app." in client_error(sandbox, host)
        assert sandbox.log_lines("f-broken", contains='must be JSON with "username" and "password"')
        report = diagnose(sandbox_cli, "f-broken", code=1)
        assert report["auth.secrets"]["status"] == "FAIL"
        assert "password" in report["auth.secrets"]["title"]
    finally:
        fault(sandbox_cli, "clear")
    sandbox.wait_health("f-broken", "AVAILABLE", timeout=40)
    with connect(sandbox, host) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_pool_exhausted(sandbox, sandbox_cli, cleared):
    host = sandbox.make_proxy("f-pool", pool={"MaxConnectionsPercent": 3,
                                              "MaxIdleConnectionsPercent": 3,
                                              "ConnectionBorrowTimeout": 1})["Endpoint"]
    with connect(sandbox, host) as conn:  # the pool learns max_connections
        conn.execute("SELECT 1")
    out = fault(sandbox_cli, "pool-exhausted", "--proxy", "f-pool").json()
    assert "3 backend connection(s)" in out["faults"][0]["detail"]
    assert sandbox.pool("f-pool")["busy"] == 3
    assert "Timed-out waiting to acquire database connection." in client_error(sandbox, host)
    assert sandbox.log_lines("f-pool", contains="Timed-out waiting to acquire")
    report = diagnose(sandbox_cli, "f-pool", code=1)
    assert report["logs.borrow_timeouts"]["status"] == "FAIL"
    fault(sandbox_cli, "clear", "--proxy", "f-pool")
    with connect(sandbox, host) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_client_connection_limit(sandbox, sandbox_cli, cleared):
    host = sandbox.make_proxy("f-limit", pool=POOL)["Endpoint"]
    fault(sandbox_cli, "client-limit", "2", "--proxy", "f-limit")
    first, second = connect(sandbox, host), connect(sandbox, host)
    try:
        assert "The maximum number of client connections to the proxy exceeded 2." in \
            client_error(sandbox, host)
        assert sandbox.log_lines("f-limit", contains="reached its limit of 2 client connections")
    finally:
        first.close()
        second.close()
    time.sleep(0.3)
    with connect(sandbox, host) as conn:  # under the limit again
        conn.execute("SELECT 1")
    fault(sandbox_cli, "clear", "--proxy", "f-limit")
    conns = [connect(sandbox, host) for _ in range(3)]
    for conn in conns:
        conn.close()


def test_connection_rate_limit(sandbox, sandbox_cli, cleared):
    host = sandbox.make_proxy("f-rate", pool=POOL)["Endpoint"]
    fault(sandbox_cli, "connection-rate", "2", "--proxy", "f-rate")
    token = sandbox.token(host, "app")
    errors = []
    for _ in range(4):
        try:
            sandbox.connect(host, password=token).close()
        except psycopg.OperationalError as exc:
            errors.append(str(exc))
    assert any("Rate of connection to proxy exceeded 2." in e for e in errors)
    assert sandbox.log_lines("f-rate", contains="more than 2 client connections")
    fault(sandbox_cli, "clear")
    for _ in range(4):
        sandbox.connect(host, password=token).close()


def test_bad_fault_requests(sandbox, sandbox_cli):
    out = sandbox_cli("sandbox", "fault", "meltdown", code=2)
    assert "unknown fault 'meltdown'" in out.stderr
    assert "db-slow needs a value" in sandbox_cli("sandbox", "fault", "db-slow", code=2).stderr
    out = sandbox_cli("sandbox", "fault", "db-down", "--proxy", "no-such-proxy", code=3)
    assert "no proxy no-such-proxy" in out.stderr
    sandbox.make_proxy("f-instance", pool=POOL)
    out = sandbox_cli("sandbox", "fault", "failover", "--proxy", "f-instance", code=2)
    assert "failover needs a proxy whose target is an Aurora DB cluster" in out.stderr
    assert active(sandbox_cli) == []  # nothing changed
