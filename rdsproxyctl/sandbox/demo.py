"""``rdsproxyctl sandbox demo``: the main job end to end, on the sandbox.

Start the sandbox if needed; create a proxy as RDS Proxy's usual set-up does it
(engine POSTGRESQL, RequireTLS, IAM authentication REQUIRED, idle timeout 1800 s,
MaxConnectionsPercent 75); register the database; wait until the target is
AVAILABLE; mint an IAM token; connect with psycopg over verify-full TLS and run a
query; describe the proxy; read its recent log lines.

The create, token and connect commands are other issues' work: until they land, the
demo calls the AWS factory and psycopg directly (and the core library for
``describe``).  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-setup.html
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdsproxyctl.errors import CheckFailed, ConnectionFailure

PROXY_NAME = "sandbox-demo"
PROXY_PORT = 5432
IDLE_CLIENT_TIMEOUT = 1800
MAX_CONNECTIONS_PERCENT = 75
TARGET_TIMEOUT = 60.0
LOG_TIMEOUT = 10.0

Step = Callable[[str], None]


@dataclass(frozen=True)
class QueryResult:
    current_user: str
    database: str
    server_version: str
    backend_tls: bool | None


@dataclass(frozen=True)
class DemoResult:
    proxy_name: str
    endpoint: str
    port: int
    user: str
    database: str
    created: bool
    query: QueryResult
    log_group: str
    log_lines: list[str] = field(default_factory=list)
    details: Any = None  # core.models.ProxyDetails (rendered, not in the JSON)


def run(directory: Path, step: Step, *, debug: bool = False) -> DemoResult:
    from rdsproxyctl.core.awserrors import aws_errors
    from rdsproxyctl.core.models import LOG_GROUP_PREFIX
    from rdsproxyctl.sandbox import manager
    from rdsproxyctl.sandbox import state as st

    try:
        running = manager.status(directory).running
    except Exception:  # noqa: BLE001 - no sandbox yet
        running = False
    if not running:
        step("starting the sandbox (AWS API, PostgreSQL with TLS, proxy emulator)")
        manager.up(directory, progress=step)
    state, info = manager.load(directory)
    seeded = info["seeded"]
    user, database = state["app"]["user"], state["app"]["database"]
    with manager.sandbox_aws(directory, debug=debug) as aws:
        rds = aws.client("rds")
        with aws_errors(aws, proxy=PROXY_NAME):
            existing = rds.describe_db_proxies()["DBProxies"]
            created = not any(p["DBProxyName"] == PROXY_NAME for p in existing)
            if created:
                step(f"creating proxy {PROXY_NAME}: POSTGRESQL, RequireTLS, IAM auth REQUIRED, "
                     f"idle client timeout {IDLE_CLIENT_TIMEOUT} s")
                rds.create_db_proxy(
                    DBProxyName=PROXY_NAME, EngineFamily="POSTGRESQL",
                    Auth=[{"AuthScheme": "SECRETS", "SecretArn": seeded["secret_arn"],
                           "IAMAuth": "REQUIRED",
                           "ClientPasswordAuthType": "POSTGRES_SCRAM_SHA_256",
                           "Description": "the application's login"}],
                    RoleArn=seeded["role_arn"], VpcSubnetIds=seeded["subnet_ids"],
                    VpcSecurityGroupIds=[seeded["proxy_security_group"]], RequireTLS=True,
                    IdleClientTimeout=IDLE_CLIENT_TIMEOUT, DebugLogging=False,
                    Tags=[{"Key": "created-by", "Value": "rdsproxyctl sandbox demo"}])
            else:
                step(f"proxy {PROXY_NAME} exists: using it")
            step(f"pool: MaxConnectionsPercent {MAX_CONNECTIONS_PERCENT}, "
                 "MaxIdleConnectionsPercent 50, ConnectionBorrowTimeout 120 s")
            rds.modify_db_proxy_target_group(
                DBProxyName=PROXY_NAME, TargetGroupName="default",
                ConnectionPoolConfig={"MaxConnectionsPercent": MAX_CONNECTIONS_PERCENT,
                                      "MaxIdleConnectionsPercent": 50,
                                      "ConnectionBorrowTimeout": 120})
            targets = rds.describe_db_proxy_targets(DBProxyName=PROXY_NAME)["Targets"]
            if not any(t.get("RdsResourceId") == seeded["db_instance"] for t in targets):
                step(f"registering DB instance {seeded['db_instance']} as the proxy's target")
                rds.register_db_proxy_targets(DBProxyName=PROXY_NAME, TargetGroupName="default",
                                              DBInstanceIdentifiers=[seeded["db_instance"]])
            step("waiting for the target to be AVAILABLE")
            _wait_available(rds, seeded["db_instance"])
            endpoint = rds.describe_db_proxies(DBProxyName=PROXY_NAME)["DBProxies"][0]["Endpoint"]
        step(f"minting an IAM auth token for {user}@{endpoint}:{PROXY_PORT}")
        token = rds.generate_db_auth_token(DBHostname=endpoint, Port=PROXY_PORT,
                                           DBUsername=user, Region=aws.region)
        step(f"connecting with psycopg: host={endpoint} port={PROXY_PORT} user={user} "
             f"dbname={database} sslmode=verify-full")
        started_ms = int(time.time() * 1000) - 1000
        query = _connect_and_query(endpoint, user, database, token, directory / st.CA_FILE)
        step("describing the proxy")
        from rdsproxyctl.core import proxies

        details = proxies.describe(aws, PROXY_NAME)
        step("reading the proxy's recent log lines")
        group = LOG_GROUP_PREFIX + PROXY_NAME
        lines = _recent_logs(aws, group, started_ms)
    return DemoResult(proxy_name=PROXY_NAME, endpoint=endpoint, port=PROXY_PORT, user=user,
                      database=database, created=created, query=query, log_group=group,
                      log_lines=lines, details=details)


def _wait_available(rds: Any, instance: str) -> None:
    deadline = time.monotonic() + TARGET_TIMEOUT
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for target in rds.describe_db_proxy_targets(DBProxyName=PROXY_NAME)["Targets"]:
            if target.get("RdsResourceId") == instance:
                health = target.get("TargetHealth") or {}
        if health.get("State") == "AVAILABLE":
            return
        time.sleep(0.2)
    raise CheckFailed(
        f"the target {instance} is not AVAILABLE after {TARGET_TIMEOUT:.0f} s: "
        f"{health.get('State')} {health.get('Reason') or ''} {health.get('Description') or ''}"
        .strip(), hint="`rdsproxyctl sandbox status` and the sandbox's daemon.log tell why")


def _connect_and_query(host: str, user: str, database: str, token: str, ca: Path) -> QueryResult:
    import psycopg

    try:
        with psycopg.connect(host=host, port=PROXY_PORT, user=user, dbname=database,
                             password=token, sslmode="verify-full", sslrootcert=str(ca),
                             connect_timeout=10, prepare_threshold=None) as conn:
            row = conn.execute(
                "SELECT current_user, current_database(), current_setting('server_version'), "
                "(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())").fetchone()
    except psycopg.Error as exc:
        raise ConnectionFailure(f"connecting through the proxy failed: {exc}".strip(),
                                hint="the proxy's log group says why") from None
    assert row is not None
    return QueryResult(current_user=row[0], database=row[1], server_version=row[2],
                       backend_tls=row[3])


def _recent_logs(aws: Any, group: str, since_ms: int, limit: int = 20) -> list[str]:
    """The proxy's lines since ``since_ms``, once our session's end has been shipped."""
    logs = aws.client("logs")
    deadline = time.monotonic() + LOG_TIMEOUT
    lines: list[str] = []
    while True:
        try:
            events = logs.filter_log_events(logGroupName=group, startTime=since_ms)["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        lines = [e["message"] for e in sorted(events, key=lambda e: e["timestamp"])]
        if any("session ended" in line or "released to the pool" in line for line in lines) \
                or time.monotonic() > deadline:
            return lines[-limit:]
        time.sleep(0.2)
