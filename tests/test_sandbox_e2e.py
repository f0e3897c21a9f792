"""The proxy emulator end to end, with real clients (psql, psycopg, pgbench, the AWS CLI)
against the session's sandbox (a real PostgreSQL with TLS behind it)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from rdsproxyctl.sandbox.emulator import protocol as pg

pytestmark = pytest.mark.slow

BIN = Path(os.sys.executable).parent
IAM_FAILED = "IAM authentication failed for user app. Check the IAM token for this user and try again."


def _psql(sandbox, host, password, *sql_args, port=5432, user="app"):
    env = {**os.environ, **sandbox.env, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    conninfo = (f"host={host} port={port} user={user} dbname={sandbox.app_database} "
                f"sslmode=verify-full sslrootcert={sandbox.ca_file}")
    return subprocess.run(["psql", conninfo, "-X", "-A", "-t", *sql_args], env=env,
                          capture_output=True, text=True, timeout=30)


def test_psql_with_a_token_from_the_aws_cli_connects_and_bad_tokens_are_refused(sandbox):
    host = sandbox.make_proxy("e2e-iam")["Endpoint"]
    env = {**os.environ, **sandbox.env}
    token = subprocess.run([str(BIN / "aws"), "rds", "generate-db-auth-token", "--hostname", host,
                            "--port", "5432", "--username", "app"], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    ok = _psql(sandbox, host, token, "-c", "SELECT current_user, inet_server_port(), "
               "(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"app|{sandbox.db_port}|t"  # and the proxy uses TLS too

    refused = {
        "wrong user": sandbox.token(host, "postgres"),
        "wrong port": sandbox.token(host, "app", port=5433),
        "wrong secret key": sandbox.token(host, "app", secret_access_key="x" * 40),
        "older than 15 minutes": sandbox.token(
            host, "app", at=_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=16)),
    }
    for why, bad in refused.items():
        out = _psql(sandbox, host, bad, "-c", "SELECT 1")
        assert out.returncode == 2, why
        assert IAM_FAILED in out.stderr, (why, out.stderr)
    lines = sandbox.log_lines("e2e-iam", contains='IAM authentication failed for user "app"',
                              count=4)
    reasons = " ".join(lines)
    assert len(lines) == 4
    for fragment in ("another user", "another host or port", "signature we calculated",
                     "has expired"):
        assert fragment in reasons, (fragment, lines)


def test_other_refusals_have_rds_proxy_messages(sandbox):
    host = sandbox.make_proxy("e2e-refusals", require_tls=False)["Endpoint"]
    token = sandbox.token(host, "app")
    cases = {
        # a token from a key the sandbox never issued, an unsigned one
        "unknown key": ({"password": _foreign_token(sandbox, host)}, IAM_FAILED),
        "unsigned": ({"password": token.split("&X-Amz-Signature")[0]}, IAM_FAILED),
        "no TLS": ({"password": token, "sslmode": "disable"},
                   "IAM authentication is allowed only with SSL connections."),
        "options": ({"password": token, "options": "-c work_mem=1MB"},
                    "Feature not supported: RDS Proxy currently doesn't support the option options."),
        "no secret": ({"password": sandbox.token(host, "nobody"), "user": "nobody"},
                      "This RDS proxy has no credentials for the role nobody. Check the "
                      "credentials for this role and try again."),
    }
    for why, (kwargs, message) in cases.items():
        with pytest.raises(psycopg.OperationalError) as err:
            sandbox.connect(host, **kwargs).close()
        assert message in str(err.value), (why, str(err.value))
    # GSSAPI encryption is declined; a startup packet without a user is refused
    with socket.create_connection((host, 5432), timeout=5) as s:
        s.sendall(struct.pack("!II", 8, pg.GSSENC_REQUEST))
        assert s.recv(1) == b"N"
        s.sendall(pg.startup_packet({"database": "app"}))
        assert b"A user name is missing from the connection startup packet" in _recv_all(s)


def _foreign_token(sandbox, host):
    import botocore.session

    session = botocore.session.Session()
    session.set_credentials("AKIAUNKNOWNKEY000000", "x" * 40)
    return session.create_client("rds", region_name=sandbox.region).generate_db_auth_token(
        host, 5432, "app")


def _recv_all(s: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return data
        if not chunk:
            return data
        data += chunk


def test_fifty_clients_are_served_by_at_most_the_pools_cap(sandbox):
    host = sandbox.make_proxy("e2e-pool", pool={"MaxConnectionsPercent": 5})["Endpoint"]
    cap = 5  # 5% of max_connections=100
    token = sandbox.token(host, "app")
    peak = [0]
    stop = threading.Event()

    def watch():
        with sandbox.superuser() as conn:
            while not stop.is_set():
                (n,) = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' "
                                    "AND application_name = 'e2e-pool'").fetchone()
                peak[0] = max(peak[0], n)
                time.sleep(0.01)

    errors: list[BaseException] = []

    def client():
        try:
            for _ in range(3):
                # connect_timeout covers the wait for a pooled connection: generous, for
                # a machine busy with other work
                with sandbox.connect(host, password=token, application_name="e2e-pool",
                                     connect_timeout=60) as conn:
                    conn.execute("SELECT 1").fetchone()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    clients = [threading.Thread(target=client) for _ in range(50)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(60)
    stop.set()
    watcher.join()
    assert not errors, errors[:3]
    assert 1 <= peak[0] <= cap, peak
    pool = sandbox.pool("e2e-pool")
    assert pool["cap"] == cap and pool["max_connections"] == 100 and pool["open"] <= cap
    # returned connections are clean: no transaction left open, settings reset
    with sandbox.superuser() as conn:
        states = {r[0] for r in conn.execute(
            "SELECT state FROM pg_stat_activity WHERE usename = 'app'")}
    assert "idle in transaction" not in states


def test_secret_permission_decides_target_health(sandbox):
    from rdsproxyctl.sandbox.seed import secret_policy

    sandbox.make_proxy("e2e-secret")
    try:
        sandbox.set_role_policy({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
        health = sandbox.wait_health("e2e-secret", "UNAVAILABLE", "AUTH_FAILURE")
        assert health["Description"] == "Proxy does not have any registered credentials"
        assert sandbox.log_lines("e2e-secret", contains="Credentials couldn't be retrieved. "
                                 'The IAM role "' + sandbox.seeded["role_arn"])
    finally:
        sandbox.set_role_policy(secret_policy(sandbox.seeded["secret_arn"], sandbox.region))
    assert "Reason" not in sandbox.wait_health("e2e-secret", "AVAILABLE")


def test_unauthorized_principals_and_unreadable_secrets(sandbox):
    iam = sandbox.client("iam")
    iam.create_user(UserName="e2e-no-policy")
    key = iam.create_access_key(UserName="e2e-no-policy")["AccessKey"]
    proxy = sandbox.make_proxy("e2e-authz")
    host = proxy["Endpoint"]
    token = sandbox.token(host, "app", access_key_id=key["AccessKeyId"],
                          secret_access_key=key["SecretAccessKey"])
    with pytest.raises(psycopg.OperationalError, match=IAM_FAILED):
        sandbox.connect(host, password=token)
    prx = proxy["DBProxyArn"].rsplit(":", 1)[1]
    assert sandbox.log_lines("e2e-authz", contains=(
        f"User: arn:aws:iam::{sandbox.seeded['account_id']}:user/e2e-no-policy is not authorized "
        f"to perform: rds-db:connect on resource: arn:aws:rds-db:{sandbox.region}:"
        f"{sandbox.seeded['account_id']}:dbuser:{prx}/app"))

    from rdsproxyctl.sandbox.seed import secret_policy

    sm = sandbox.client("secretsmanager")
    no_password = sm.create_secret(Name="e2e-no-password",
                                   SecretString=json.dumps({"username": "app"}))["ARN"]
    gone = no_password.replace("e2e-no-password", "e2e-gone")
    sandbox.set_role_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
    try:
        for name, arn, said in (("e2e-malformed", no_password, 'must be JSON with "username"'),
                                ("e2e-missing", gone, "doesn't exist")):
            sandbox.make_proxy(name, secret_arn=arn, wait=False)
            health = sandbox.wait_health(name, "UNAVAILABLE", "AUTH_FAILURE")
            assert health["Description"] == "Proxy does not have any registered credentials"
            assert sandbox.log_lines(name, contains=said), name
    finally:
        sandbox.set_role_policy(secret_policy(sandbox.seeded["secret_arn"], sandbox.region))


def test_password_auth_and_settings_apply_live(sandbox):
    rds = sandbox.client("rds")
    host = sandbox.make_proxy("e2e-live", iam="DISABLED", require_tls=False)["Endpoint"]
    password = sandbox.app_password
    with sandbox.connect(host, password=password) as conn:  # SCRAM-SHA-256 with the secret
        assert conn.execute("SELECT current_user").fetchone() == ("app",)
    with pytest.raises(psycopg.OperationalError,
                       match="The password that was provided for the role app is wrong."):
        sandbox.connect(host, password="not-it")
    with sandbox.connect(host, password=password, sslmode="disable") as conn:  # TLS optional
        assert conn.execute("SELECT 1").fetchone() == (1,)

    def modify(**kwargs):
        rds.modify_db_proxy(DBProxyName="e2e-live", **kwargs)

    auth = {"AuthScheme": "SECRETS", "SecretArn": sandbox.seeded["secret_arn"],
            "IAMAuth": "DISABLED", "ClientPasswordAuthType": "POSTGRES_MD5"}
    modify(Auth=[auth], RequireTLS=True)
    with sandbox.connect(host, password=password) as conn:  # MD5 now
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="This RDS Proxy requires TLS connections."):
        sandbox.connect(host, password=password, sslmode="disable")
    modify(Auth=[{**auth, "IAMAuth": "REQUIRED"}])
    with pytest.raises(psycopg.OperationalError, match=IAM_FAILED):
        sandbox.connect(host, password=password)
    with sandbox.connect(host, password=sandbox.token(host, "app")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # DebugLogging adds the SQL text to the log
    modify(DebugLogging=True)
    with sandbox.connect(host, password=sandbox.token(host, "app")) as conn:
        conn.execute("SELECT 42 AS debug_marker")
    assert sandbox.log_lines("e2e-live", contains="SELECT 42 AS debug_marker")
    # deleting the proxy closes its address
    rds.delete_db_proxy(DBProxyName="e2e-live")
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection((host, 5432), timeout=2).close()


def test_borrow_timeout_and_idle_client_timeout(sandbox):
    host = sandbox.make_proxy("e2e-borrow", IdleClientTimeout=2, pool={
        "MaxConnectionsPercent": 1, "ConnectionBorrowTimeout": 1})["Endpoint"]
    token = sandbox.token(host, "app")
    holder = sandbox.connect(host, password=token)
    holder.execute("SELECT 1")  # a transaction stays open: the only connection is borrowed
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError,
                       match="Timed-out waiting to acquire database connection."):
        sandbox.connect(host, password=token)
    assert 0.9 <= time.monotonic() - started < 5
    assert sandbox.log_lines("e2e-borrow", contains="Timed-out waiting to acquire")
    # the holder stays idle for longer than IdleClientTimeout (2 s): the proxy closes it
    time.sleep(2.5)
    with pytest.raises(psycopg.OperationalError):
        holder.execute("SELECT 1")
    holder.close()
    assert sandbox.log_lines("e2e-borrow", contains="IdleClientTimeout of 2 seconds")
    with sandbox.connect(host, password=token) as conn:  # its connection went back to the pool
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_cancel_request_is_not_supported_as_in_rds_proxy(sandbox):
    # RDS Proxy sends no BackendKeyData and ignores CancelRequest (its limitations):
    # libpq has no key to cancel with, and a raw CancelRequest changes nothing.
    host = sandbox.make_proxy("e2e-cancel")["Endpoint"]
    with sandbox.connect(host, password=sandbox.token(host, "app")) as conn:
        assert conn.info.backend_pid == 0
        with pytest.raises(psycopg.OperationalError, match="no cancellation key"):
            conn.cancel_safe()
        with socket.create_connection((host, 5432), timeout=5) as s:
            s.sendall(pg.cancel_request(12345, b"\x00\x00\x00\x01"))
            assert _recv_all(s) == b""
        started = time.monotonic()
        assert conn.execute("SELECT pg_sleep(0.3), 1").fetchone()[1] == 1
        assert time.monotonic() - started >= 0.3


def test_bad_input_neither_takes_the_proxy_down_nor_leaks_backends(sandbox):
    host = sandbox.make_proxy("e2e-bad", require_tls=False)["Endpoint"]
    token = sandbox.token(host, "app")
    garbage = [
        b"\x00\x00",  # truncated length
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not PostgreSQL at all
        struct.pack("!I", 0x7FFFFFFF) + b"\x00\x03\x00\x00",  # absurd length
        struct.pack("!II", 9, pg.PROTOCOL_3_0) + b"u",  # truncated body
        struct.pack("!II", 8, pg.SSL_REQUEST) + b"\x16\x03\x01garbage-not-tls",
    ]
    for data in garbage:
        with socket.create_connection((host, 5432), timeout=5) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            _recv_all(s)
    # an oversized password message is refused
    with _raw_tls(sandbox, host) as s:
        s.sendall(pg.startup_packet({"user": "app", "database": "app"}))
        assert s.recv(9)[:1] == b"R"
        s.sendall(b"p" + struct.pack("!I", 1 << 30) + b"x" * 100)
        assert b"protocol violation: invalid length" in _recv_all(s)
    # after login: an absurd message length, then the client vanishes
    with _raw_login(sandbox, host, token) as s:
        s.sendall(b"Q" + struct.pack("!I", 0x7FFFFFF0) + b"SELECT")
    # a client dropping mid-transaction and one dropping mid-query
    conn = sandbox.connect(host, password=token, application_name="e2e-bad-tx")
    conn.execute("CREATE TEMP TABLE t (x int)")
    conn.execute("INSERT INTO t VALUES (1)")  # transaction open, not committed
    _drop(conn)
    conn = sandbox.connect(host, password=token, application_name="e2e-bad-query")
    conn.pgconn.send_query(b"SELECT pg_sleep(30)")
    time.sleep(0.3)
    _drop(conn)
    deadline = time.monotonic() + 8
    while True:
        with sandbox.superuser() as su:
            rows = su.execute("SELECT state, query FROM pg_stat_activity WHERE usename = 'app' "
                              "AND (state <> 'idle' OR query LIKE '%pg_sleep(30)%')").fetchall()
        if not rows or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rows == []  # no backend left in a transaction or running the abandoned query
    with sandbox.connect(host, password=token) as conn:  # and the proxy still serves
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 't'").fetchone() \
            == (0,)


def _drop(conn):
    """Vanish without a Terminate message, like a killed client."""
    fd = conn.pgconn.socket
    socket.socket(fileno=os.dup(fd)).shutdown(socket.SHUT_RDWR)
    conn.close()


def _raw_tls(sandbox, host) -> ssl.SSLSocket:
    raw = socket.create_connection((host, 5432), timeout=5)
    raw.sendall(pg.ssl_request())
    assert raw.recv(1) == b"S"
    ctx = ssl.create_default_context(cafile=str(sandbox.ca_file))
    return ctx.wrap_socket(raw, server_hostname=host)


def _raw_login(sandbox, host, token) -> socket.socket:
    s = _raw_tls(sandbox, host)
    s.sendall(pg.startup_packet({"user": "app", "database": "app"}))
    assert s.recv(9)[:1] == b"R"  # AuthenticationCleartextPassword
    s.sendall(pg.message(b"p", pg.cstr(token)))
    data = b""
    while not data.endswith(pg.ready_for_query()):
        data += s.recv(65536)
    return s


def test_pgbench_through_the_proxy(sandbox, tmp_path):
    if not shutil.which("pgbench"):
        pytest.skip("pgbench is not installed (Debian: postgresql-contrib)")
    host = sandbox.make_proxy("e2e-pgbench", pool={"MaxConnectionsPercent": 4})["Endpoint"]
    script = tmp_path / "select1.sql"
    script.write_text("SELECT 1;\n")
    env = {**os.environ, **sandbox.env, "PGPASSWORD": sandbox.token(host, "app")}
    out = subprocess.run(["pgbench", "-n", "-c", "4", "-j", "2", "-T", "1", "-f", str(script),
                          "-h", host, "-p", "5432", "-U", "app", "app"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "number of failed transactions: 0" in out.stdout
    assert sandbox.pool("e2e-pgbench")["open"] <= 4


def test_extra_endpoint_and_end_to_end_iam(sandbox):
    rds = sandbox.client("rds")
    sandbox.make_proxy("e2e-endpoints")
    extra = rds.create_db_proxy_endpoint(
        DBProxyName="e2e-endpoints", DBProxyEndpointName="e2e-extra",
        VpcSubnetIds=sandbox.seeded["subnet_ids"])["DBProxyEndpoint"]["Endpoint"]
    with sandbox.connect(extra, password=sandbox.token(extra, "app")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("app",)
    assert sandbox.log_lines("e2e-endpoints", contains="[proxyEndpoint=e2e-extra]")
    # DefaultAuthScheme IAM_AUTH: no secret; the database trusts the proxy's IAM check
    with sandbox.superuser() as su:
        su.execute("DROP ROLE IF EXISTS iam_user")
        su.execute("CREATE ROLE iam_user LOGIN IN ROLE rds_iam")
        su.execute("GRANT CONNECT ON DATABASE app TO iam_user")
    rds.create_db_proxy(DBProxyName="e2e-e2e-iam", EngineFamily="POSTGRESQL",
                        DefaultAuthScheme="IAM_AUTH", RoleArn=sandbox.seeded["role_arn"],
                        VpcSubnetIds=sandbox.seeded["subnet_ids"], RequireTLS=True)
    rds.register_db_proxy_targets(DBProxyName="e2e-e2e-iam",
                                  DBInstanceIdentifiers=[sandbox.seeded["db_instance"]])
    sandbox.wait_health("e2e-e2e-iam", "AVAILABLE")
    host = rds.describe_db_proxies(DBProxyName="e2e-e2e-iam")["DBProxies"][0]["Endpoint"]
    with sandbox.connect(host, user="iam_user", password=sandbox.token(host, "iam_user")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("iam_user",)


def test_demo_command_on_the_running_sandbox(sandbox, cli):
    from .test_json_docs import assert_documented

    out = cli("sandbox", "demo", "--dir", str(sandbox.directory), "-o", "json")
    data = json.loads(out.stdout)
    assert data["connect"]["ok"] is True and data["connect"]["current_user"] == "app"
    assert data["connect"]["auth"] == "iam"
    assert data["proxy"]["proxy"]["require_tls"] is True
    assert data["proxy"]["proxy"]["iam_auth"] == "REQUIRED"
    assert data["proxy"]["target_group"]["pool"]["max_connections_percent"] == 75
    assert data["diagnose"]["counts"]["FAIL"] == 0
    assert any("IAM authentication succeeded" in line for line in data["log_lines"])
    assert "waiting for the target to be AVAILABLE" in out.stderr
    assert_documented("sandbox demo", data, free_form=("proxy", "connect", "diagnose"))

def test_database_down_makes_the_target_unreachable_until_it_is_back(sandbox):
    from rdsproxyctl.sandbox import manager, postgres

    host = sandbox.make_proxy("e2e-dbdown", pool={"ConnectionBorrowTimeout": 1})["Endpoint"]
    token = sandbox.token(host, "app")
    with sandbox.connect(host, password=token) as conn:  # the pool now holds a connection
        conn.execute("SELECT 1")
    state, _ = manager.load(sandbox.directory)
    postgres.stop(manager._cluster(state))
    try:
        sandbox.wait_health("e2e-dbdown", "UNAVAILABLE", "UNREACHABLE")
        with pytest.raises(psycopg.OperationalError,
                           match="Timed-out waiting to acquire database connection."):
            sandbox.connect(host, password=token)
    finally:
        manager.up(sandbox.directory)  # PostgreSQL again, on the same port
    sandbox.wait_health("e2e-dbdown", "AVAILABLE")
    with sandbox.connect(host, password=token) as conn:  # the dead pooled connection is gone
        assert conn.execute("SELECT 1").fetchone() == (1,)
