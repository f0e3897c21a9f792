"""The MYSQL engine family end to end: connect, token, logs and diagnose against the
sandbox's MySQL-speaking proxy with a real MariaDB behind it, with real clients (PyMySQL and
Debian's `mysql`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.slow

PHASES = ["proxy_lookup", "dns", "tcp_connect", "tls_handshake", "authentication", "first_query"]
HEALTHY_POOL = {"MaxConnectionsPercent": 75, "MaxIdleConnectionsPercent": 50}
PIN_LINE = "The client session was pinned to the database connection"


@pytest.fixture(scope="module")
def iam_proxy(sandbox):
    """A MYSQL proxy with IAM required, RequireTLS, a healthy pool; its endpoint."""
    return sandbox.make_proxy("m-iam", engine="MYSQL", pool=HEALTHY_POOL)["Endpoint"]


def smoke(sandbox_cli, *args, code=0, env=None):
    out = sandbox_cli("connect", *args, "-o", "json", code=code, env=env)
    return out.json(), out


def token(sandbox, host, user=None):
    return sandbox.token(host, user or sandbox.app_user, port=3306)


def test_connect_iam_over_verify_full_runs_a_query(sandbox, sandbox_cli, iam_proxy):
    data, _ = smoke(sandbox_cli, "m-iam", "--iam", "--user", sandbox.app_user)
    assert data["ok"] and data["failure"] is None and data["engine"] == "mysql"
    assert [p["name"] for p in data["phases"]] == PHASES
    assert data["port"] == 3306 and data["current_user"] == sandbox.app_user
    assert "MariaDB" in data["server_version"]
    table = sandbox_cli("connect", "m-iam", "--iam", "--user", sandbox.app_user).stdout
    assert f"connected as {sandbox.app_user}, MySQL" in table


def test_wrong_token_is_access_denied_class_iam_auth_exit_4(sandbox, sandbox_cli, iam_proxy):
    data, out = smoke(sandbox_cli, "m-iam", "--password-env", "BAD", "--user", sandbox.app_user,
                      code=4, env={"BAD": token(sandbox, iam_proxy, "someone-else")})
    failure = data["failure"]
    assert (failure["phase"], failure["klass"], failure["exit_code"]) == \
        ("authentication", "iam-auth", 4)
    assert failure["message"] == (f"ERROR 1045 (28000): Access denied for user "
                                  f"'{sandbox.app_user}'@'%' (using password: YES)")
    assert "port 3306" in failure["remedy"] and ":dbuser:prx-" in failure["remedy"]
    lines = sandbox.log_lines("m-iam", contains="IAM authentication failed")
    assert "another user" in lines[-1]


def test_iam_token_of_a_principal_without_rds_db_connect(sandbox, sandbox_cli, iam_proxy):
    iam = sandbox.client("iam")
    iam.create_user(UserName="m-nobody")
    key = iam.create_access_key(UserName="m-nobody")["AccessKey"]
    data, _ = smoke(sandbox_cli, "m-iam", "--iam", "--user", sandbox.app_user, code=4,
                    env={"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                         "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
    assert data["failure"]["klass"] == "iam-auth"
    assert data["failure"]["message"].startswith("ERROR 1045 (28000): Access denied")
    assert "m-nobody" in data["failure"]["details"]["caller"]


def test_pymysql_and_the_mysql_client_with_a_token(sandbox, iam_proxy):
    with sandbox.mysql(iam_proxy, password=token(sandbox, iam_proxy)) as conn, \
            conn.cursor() as cur:
        cur.execute("SELECT 1, CURRENT_USER(), @@ssl_cipher IS NOT NULL")
        assert cur.fetchone()[:2] == (1, f"{sandbox.app_user}@%")
    mysql = shutil.which("mysql")
    if mysql is None:
        pytest.skip("no mysql client (bash .ci/bootstrap installs default-mysql-client)")
    env = {**os.environ, **sandbox.env}
    env.pop("RDSPROXYCTL_MAX_ATTEMPTS", None)
    rdsproxyctl = [sys.executable, "-m", "rdsproxyctl"]
    options = subprocess.run([*rdsproxyctl, "token", "m-iam", "--user", sandbox.app_user,
                              "--database", sandbox.app_database, "--format", "dsn"],
                             env=env, capture_output=True, text=True, check=True).stdout.split()
    exports = subprocess.run([*rdsproxyctl, "token", "m-iam", "--user", sandbox.app_user,
                              "--format", "env"], env=env, capture_output=True, text=True,
                             check=True).stdout
    assert "--enable-cleartext-plugin" in options and "--port=3306" in options
    assert not any("Action=connect" in o for o in options)  # no token in the options
    password = exports.split("MYSQL_PWD=", 1)[1].strip().strip("'")
    out = subprocess.run([mysql, *options, "--batch", "--skip-column-names",
                          "-e", "SELECT CURRENT_USER()"],
                         env={**env, "MYSQL_PWD": password}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == f"{sandbox.app_user}@%"  # after a warning


def test_without_tls_the_proxy_says_3159(sandbox, sandbox_cli, iam_proxy):
    import pymysql

    with pytest.raises(pymysql.err.OperationalError) as info:
        pymysql.connect(host=iam_proxy, port=3306, user=sandbox.app_user, password="x",
                        ssl_disabled=True, connect_timeout=5)
    assert info.value.args == (3159, "This RDS Proxy requires TLS connections.")
    # a (bad) token, not a password: a password is refused before connecting to an IAM-only
    # proxy; this one reaches the proxy, which wants TLS first
    bad_token = f"{iam_proxy}:3306/?Action=connect&DBUser=app&X-Amz-Signature=00"
    data, _ = smoke(sandbox_cli, "m-iam", "--password-env", "BAD", "--user", sandbox.app_user,
                    "--sslmode", "disable", code=5, env={"BAD": bad_token})
    assert data["failure"]["klass"] == "tls"


def test_password_auth_native_and_caching_sha2(sandbox, sandbox_cli):
    import pymysql

    native = sandbox.make_proxy("m-native", engine="MYSQL", iam="DISABLED")["Endpoint"]
    sha2 = sandbox.make_proxy("m-sha2", engine="MYSQL", iam="DISABLED",
                              auth_type="MYSQL_CACHING_SHA2_PASSWORD")["Endpoint"]
    for host in (native, sha2):
        with sandbox.mysql(host, password=sandbox.app_password) as conn, conn.cursor() as cur:
            cur.execute("SELECT 2")
            assert cur.fetchone() == (2,)
        with pytest.raises(pymysql.err.OperationalError) as info:
            sandbox.mysql(host, password="wrong")
        assert info.value.args[0] == 1045
    data, _ = smoke(sandbox_cli, "m-native", "--secret", sandbox.seeded["secret_arn"])
    assert data["ok"] and data["auth"] == "secret"
    data, _ = smoke(sandbox_cli, "m-native", "--password-env", "PW", "--user",
                    sandbox.app_user, code=4, env={"PW": "wrong"})
    assert data["failure"]["klass"] == "password-auth"
    assert sandbox.log_lines("m-native", contains="MySQL native password authentication failed")


def test_transactions_multiplex_over_one_database_connection(sandbox):
    """Two clients, a pool capped at one connection: both run on it, one transaction at a
    time; the second client's query waits for the first's COMMIT."""
    host = sandbox.make_proxy("m-mux", engine="MYSQL",
                              pool={"MaxConnectionsPercent": 1, "MaxIdleConnectionsPercent": 1,
                                    "ConnectionBorrowTimeout": 10})["Endpoint"]
    a = sandbox.mysql(host, password=token(sandbox, host))
    b = sandbox.mysql(host, password=token(sandbox, host))
    try:
        ids = set()
        for conn in (a, b, a):
            with conn.cursor() as cur:
                cur.execute("SELECT CONNECTION_ID()")
                ids.add(cur.fetchone()[0])
        assert len(ids) == 1  # one database connection served both clients
        with a.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT 1")
        done = threading.Event()

        def second() -> None:
            with b.cursor() as cur:
                cur.execute("SELECT 3")
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(0.5)  # the connection is in a's transaction
        with a.cursor() as cur:
            cur.execute("COMMIT")
        assert done.wait(5)
        thread.join()
        assert sandbox.pool("m-mux")["open"] == 1
        assert not sandbox.log_lines("m-mux", contains=PIN_LINE, timeout=1)
    finally:
        a.close()
        b.close()


def pinned_lines(sandbox, name, expect):
    return sandbox.log_lines(name, contains=PIN_LINE, count=expect, timeout=3 if expect else 1.5)


def test_set_user_variable_pins_and_is_logged(sandbox, iam_proxy):
    with sandbox.mysql(iam_proxy, password=token(sandbox, iam_proxy)) as conn, \
            conn.cursor() as cur:
        cur.execute("SET @x := 1")
        cur.execute("SELECT @x")
        assert cur.fetchone() == (1,)  # the same connection: the session is pinned
    lines = pinned_lines(sandbox, "m-iam", 1)
    assert lines and 'Digest: "SET @x := ?"' in lines[-1]
    from rdsproxyctl.core.logs.classify import classify

    assert classify(lines[-1]).signature == "pinned-session-settings"


def test_exclude_variable_sets_lets_set_session_multiplex(sandbox):
    plain = sandbox.make_proxy("m-pin-default", engine="MYSQL")["Endpoint"]
    filtered = sandbox.make_proxy("m-pin-filter", engine="MYSQL", pool={
        "SessionPinningFilters": ["EXCLUDE_VARIABLE_SETS"]})["Endpoint"]
    for host in (plain, filtered):
        with sandbox.mysql(host, password=token(sandbox, host)) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION wait_timeout = 100")
            cur.execute("SELECT 1")
    assert len(pinned_lines(sandbox, "m-pin-default", 1)) == 1
    assert pinned_lines(sandbox, "m-pin-filter", 0) == []
    assert sandbox.log_lines("m-pin-filter", contains="The client session ended")


def test_tracked_settings_follow_the_session_across_connections(sandbox):
    host = sandbox.make_proxy("m-tracked", engine="MYSQL")["Endpoint"]
    with sandbox.mysql(host, password=token(sandbox, host)) as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+05:00'")
        busy = sandbox.mysql_superuser()  # take the idle connection's place: force a new one
        cur.execute("SELECT @@session.time_zone")
        assert cur.fetchone() == ("+05:00",)
        busy.close()
    assert pinned_lines(sandbox, "m-tracked", 0) == []


def test_logs_classify_tags_every_mysql_line(sandbox, sandbox_cli, iam_proxy):
    """Every line the MySQL proxies wrote (the emulator's wording, an independent
    description) gets a signature from the catalog."""
    import pymysql

    host = sandbox.make_proxy("m-classify", engine="MYSQL", iam="DISABLED")["Endpoint"]
    with sandbox.mysql(host, password=sandbox.app_password) as conn, conn.cursor() as cur:
        cur.execute("SELECT GET_LOCK('m-classify', 1)")  # pinned: a named lock
    for password in ("wrong", None):
        with pytest.raises(pymysql.err.OperationalError):
            if password is None:  # no TLS against RequireTLS
                pymysql.connect(host=host, port=3306, user="app", password="x",
                                ssl_disabled=True, connect_timeout=5)
            else:
                sandbox.mysql(host, password=password)
    with pytest.raises(pymysql.err.OperationalError):
        sandbox.mysql(iam_proxy, password=token(sandbox, iam_proxy, "nobody"))
    lines = sandbox.log_lines("m-classify", count=12, timeout=5)
    lines += sandbox.log_lines("m-iam", count=1, timeout=2)
    assert len(lines) > 12
    path = sandbox.directory / "mysql-lines.log"
    path.write_text("\n".join(lines) + "\n")
    out = sandbox_cli("logs", "classify", str(path), "--all", "-o", "json", code=None)
    events = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(events) == len(lines)
    unclassified = [e for e in events if e.get("signature") == "unclassified"]
    assert not unclassified, unclassified[:3]


def test_diagnose_on_a_healthy_mysql_proxy_is_all_pass(sandbox, sandbox_cli):
    host = sandbox.make_proxy("m-diag", engine="MYSQL", pool=HEALTHY_POOL)["Endpoint"]
    with sandbox.mysql(host, password=token(sandbox, host)) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    sandbox.log_lines("m-diag", contains="A new client connected")
    sandbox_cli("sandbox", "flush", "--dir", str(sandbox.directory))  # metrics, for pool.*
    out = sandbox_cli("diagnose", "m-diag", "--user", sandbox.app_user, "--connect", "-o",
                      "json", code=0)
    [report] = out.json()  # one report, in diagnose's one shape (a list)
    bad = [(f["id"], f["status"], f["title"]) for f in report["findings"]
           if f["status"] != "PASS"]
    assert not bad
    assert any(f["id"] == "connect.smoke" for f in report["findings"])


def test_load_mode_and_check_backends(sandbox, sandbox_cli):
    sandbox.make_proxy("m-load", engine="MYSQL", pool={"MaxConnectionsPercent": 5,
                                                       "MaxIdleConnectionsPercent": 5})
    others = sandbox.mysql_backends()  # other proxies' pooled connections for the same user
    out = sandbox_cli("connect", "m-load", "--iam", "--user", sandbox.app_user, "--count", "60",
                      "--concurrency", "12", "--check-backends", "-o", "json")
    data = out.json()
    assert (data["succeeded"], data["failed"]) == (60, 0)
    assert 1 <= data["backends_max"] - others <= 5  # 5% of max_connections=100
    assert data["connects_per_second"] > 0


def test_target_health_and_pool_snapshot(sandbox, iam_proxy):
    assert sandbox.target_health("m-iam")["State"] == "AVAILABLE"
    state = sandbox.emulator_state()
    assert iam_proxy in state["mysql_listeners"]
    deadline = time.monotonic() + 3
    while not sandbox.pool("m-iam") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox.pool("m-iam")["max_connections"] == 100


def test_demo_engine_mysql(sandbox, cli):
    sandbox.require_mysql()
    out = cli("sandbox", "demo", "--engine", "mysql", "--dir", str(sandbox.directory), "-o",
              "json")
    data = json.loads(out.stdout)
    assert data["proxy_name"] == "sandbox-demo-mysql" and data["port"] == 3306
    assert data["connect"]["ok"] is True and data["connect"]["engine"] == "mysql"
    assert data["proxy"]["proxy"]["engine_family"] == "MYSQL"
    assert data["diagnose"]["counts"]["FAIL"] == 0
    assert any("IAM authentication succeeded" in line for line in data["log_lines"])
    assert "PyMySQL over verify-full TLS" in out.stderr
    bad = cli("sandbox", "demo", "--engine", "sqlserver", "--dir", str(sandbox.directory),
              code=2)
    assert "postgresql or mysql" in bad.stderr


def test_mariadb_down_makes_the_target_unreachable_until_up_restarts_it(sandbox, sandbox_cli):
    from rdsproxyctl.sandbox import manager, mariadb

    sandbox.require_mysql()
    host = sandbox.make_proxy("m-dbdown", engine="MYSQL",
                              pool={"ConnectionBorrowTimeout": 1})["Endpoint"]
    state, _ = manager.load(sandbox.directory)
    server = manager._mariadb_server(state)
    mariadb.stop(server)
    try:
        sandbox.wait_health("m-dbdown", "UNAVAILABLE", reason="UNREACHABLE")
        data, _ = smoke(sandbox_cli, "m-dbdown", "--iam", "--user", sandbox.app_user, code=5)
        assert data["failure"]["klass"] == "pool-timeout"
        assert data["failure"]["message"] == ("ERROR 9501 (HY000): Timed-out waiting to "
                                              "acquire database connection")
        status = sandbox_cli("sandbox", "status", "--dir", str(sandbox.directory), "-o", "json",
                             code=1).json()
        assert {p["name"]: p["state"] for p in status["parts"]}["mariadb"] == "crashed"
    finally:
        manager.up(sandbox.directory)  # MariaDB again (kept in the state without --mysql)
    sandbox.wait_health("m-dbdown", "AVAILABLE", timeout=15)
    with sandbox.mysql(host, password=token(sandbox, host)) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")


def test_mysql_sessions_feed_the_proxys_metrics(sandbox, cli):
    from .test_sandbox_metrics import _statistics

    if not shutil.which("aws"):
        pytest.skip("the AWS CLI is not installed (pip install awscli)")
    name = "m-metrics"
    host = sandbox.make_proxy(name, engine="MYSQL", pool={"MaxConnectionsPercent": 5})["Endpoint"]
    pinned = sandbox.mysql(host, password=token(sandbox, host))
    in_transaction = sandbox.mysql(host, password=token(sandbox, host))
    try:
        with pinned.cursor() as cur:
            cur.execute("SET @x := 1")
        with in_transaction.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT 1")
        cli("sandbox", "flush", "--dir", str(sandbox.directory))
        expect = {"ClientConnections": 2, "DatabaseConnectionsCurrentlySessionPinned": 1,
                  "DatabaseConnectionsCurrentlyInTransaction": 1,
                  "DatabaseConnectionsCurrentlyBorrowed": 2, "MaxDatabaseConnectionsAllowed": 5}
        for metric, value in expect.items():
            points = _statistics(sandbox, name, metric)
            assert points and max(p["Maximum"] for p in points) == value, (metric, points)
        queries = _statistics(sandbox, name, "QueryRequests", statistic="Sum")
        assert sum(p["Sum"] for p in queries) >= 3
    finally:
        pinned.close()
        in_transaction.close()
