"""``rdsproxyctl sandbox demo``: the main job end to end, on the sandbox.

Start the sandbox if needed; create a proxy as RDS Proxy's usual set-up does it
(engine POSTGRESQL, or MYSQL with ``--engine mysql`` on the sandbox's MariaDB, RequireTLS, IAM authentication REQUIRED, idle timeout 1800 s,
MaxConnectionsPercent 75) with the database as its target, through the core of
``rdsproxyctl create`` (a plan, run and waited for); wait until the target is
AVAILABLE; ``rdsproxyctl connect``'s smoke test (mint an IAM token, connect with
psycopg over verify-full TLS, run a query); describe the proxy (``show``); read its recent log
lines, tagged with their signatures (``logs``); diagnose it (``diagnose``).
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-setup.html
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdsproxyctl.errors import CheckFailed, ConnectionFailure

PROXY_NAME = "sandbox-demo"
MYSQL_PROXY_NAME = "sandbox-demo-mysql"
PROXY_PORT = 5432
#: engine -> (EngineFamily, ClientPasswordAuthType, the seeded DB instance's key, driver)
ENGINES = {
    "postgresql": ("POSTGRESQL", "POSTGRES_SCRAM_SHA_256", "db_instance", "psycopg"),
    "mysql": ("MYSQL", "MYSQL_NATIVE_PASSWORD", "mysql_instance", "PyMySQL"),
}
IDLE_CLIENT_TIMEOUT = 1800
MAX_CONNECTIONS_PERCENT = 75
TARGET_TIMEOUT = 60.0
LOG_TIMEOUT = 10.0

Step = Callable[[str], None]


@dataclass(frozen=True)
class DemoResult:
    proxy_name: str
    endpoint: str
    port: int
    user: str
    database: str
    created: bool
    connect: Any  # core.connect.SmokeResult
    diagnose: Any  # core.diagnose.ProxyReport
    log_group: str
    log_lines: list[str] = field(default_factory=list)
    details: Any = None  # core.models.ProxyDetails (rendered by the CLI, `proxy` in JSON)


def run(directory: Path, step: Step, *, debug: bool = False,
        engine: str = "postgresql") -> DemoResult:
    from rdsproxyctl.core import connect as connect_core
    from rdsproxyctl.core import diagnose, lifecycle, proxies
    from rdsproxyctl.core import plan as plans
    from rdsproxyctl.core.awserrors import aws_errors
    from rdsproxyctl.core.models import LOG_GROUP_PREFIX
    from rdsproxyctl.core.spec import AuthSpec, PoolSpec, ProxySpec, TargetSpec
    from rdsproxyctl.sandbox import manager
    from rdsproxyctl.sandbox import state as st

    family, password_type, instance_key, driver = ENGINES[engine]
    mysql = engine == "mysql"
    name = MYSQL_PROXY_NAME if mysql else PROXY_NAME
    try:
        status = manager.status(directory)
        running = status.running and (not mysql or any(p.name == "mariadb" for p in status.parts))
    except Exception:  # noqa: BLE001 - no sandbox yet
        running = False
    if not running:
        step("starting the sandbox (AWS API, PostgreSQL" + (", MariaDB" if mysql else "")
             + " with TLS, proxy emulator)")
        manager.up(directory, mysql=mysql, progress=step)
    state, info = manager.load(directory)
    seeded = info["seeded"]
    deadline = time.monotonic() + TARGET_TIMEOUT
    while mysql and not seeded.get(instance_key) and time.monotonic() < deadline:
        time.sleep(0.2)  # a running daemon seeds the MariaDB instance when MariaDB is added
        state, info = manager.load(directory)
        seeded = info["seeded"]
    instance = seeded[instance_key]
    user, database = state["app"]["user"], state["app"]["database"]
    with manager.sandbox_aws(directory, debug=debug) as aws:
        spec = ProxySpec(
            name=name, engine_family=family, role_arn=seeded["role_arn"],
            vpc_subnet_ids=list(seeded["subnet_ids"]),
            vpc_security_group_ids=[seeded["proxy_security_group"]], require_tls=True,
            idle_client_timeout=IDLE_CLIENT_TIMEOUT, debug_logging=False,
            auth=[AuthSpec(secret_arn=seeded["secret_arn"], iam_auth="REQUIRED",
                           client_password_auth_type=password_type,
                           description="the application's login")],
            tags={"created-by": "rdsproxyctl sandbox demo"},
            pool=PoolSpec(max_connections_percent=MAX_CONNECTIONS_PERCENT,
                          max_idle_connections_percent=50, connection_borrow_timeout=120),
            targets=[TargetSpec(db_instance_identifier=instance)])
        plan = lifecycle.create_plan(aws, spec, if_not_exists=True)
        created = not plan.no_changes
        if created:
            step(f"rdsproxyctl create {name}: {family}, RequireTLS, IAM auth REQUIRED, "
                 f"idle client timeout {IDLE_CLIENT_TIMEOUT} s, MaxConnectionsPercent "
                 f"{MAX_CONNECTIONS_PERCENT}, target {instance}")
            from rdsproxyctl.core.waiter import WaitOptions

            plans.execute(aws, plan, wait=True, options=WaitOptions(interval=0.25),
                          progress=lambda m: step(f"    {m}"))
        else:
            step(f"proxy {name} exists: using it")
        step("waiting for the target to be AVAILABLE")
        with aws_errors(aws, proxy=name):
            _wait_available(aws.client("rds"), name, instance)
        step(f"rdsproxyctl connect {name} --iam --user {user}: mint an IAM token, connect "
             f"with {driver} over verify-full TLS (the sandbox CA), run a query")
        smoke = connect_core.smoke_test(aws, connect_core.ConnectSpec(
            proxy=name, user=user, database=database, iam=True,
            ca_bundle=str(directory / st.CA_FILE)))
        if not smoke.ok:
            failure = smoke.failure
            raise ConnectionFailure(f"connecting through the proxy failed: {failure.message}",
                                    hint=failure.remedy)
        step(f"rdsproxyctl show {name}")
        details = proxies.describe(aws, name)
        step(f"rdsproxyctl logs {name} --since 2m")
        group = LOG_GROUP_PREFIX + name
        lines = _recent_logs(aws, name)
        step(f"rdsproxyctl diagnose {name} --user {user}")
        (report,) = diagnose.run(aws, name, diagnose.Options(user=user))
    return DemoResult(proxy_name=name, endpoint=smoke.host, port=smoke.port, user=user,
                      database=database, created=created, connect=smoke, diagnose=report,
                      log_group=group, log_lines=lines, details=details)


def _wait_available(rds: Any, name: str, instance: str) -> None:
    deadline = time.monotonic() + TARGET_TIMEOUT
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for target in rds.describe_db_proxy_targets(DBProxyName=name)["Targets"]:
            if target.get("RdsResourceId") == instance:
                health = target.get("TargetHealth") or {}
        if health.get("State") == "AVAILABLE":
            return
        time.sleep(0.2)
    raise CheckFailed(
        f"the target {instance} is not AVAILABLE after {TARGET_TIMEOUT:.0f} s: "
        f"{health.get('State')} {health.get('Reason') or ''} {health.get('Description') or ''}"
        .strip(), hint="`rdsproxyctl sandbox status` and the sandbox's daemon.log tell why")


def _recent_logs(aws: Any, proxy: str, since: str = "2m", limit: int = 20) -> list[str]:
    """The proxy's lines, tagged ``[signature] line``, once our session's end was shipped."""
    from rdsproxyctl.core.logs.fetch import fetch_events
    from rdsproxyctl.errors import NotFound

    deadline = time.monotonic() + LOG_TIMEOUT
    while True:
        try:
            events = list(fetch_events(aws, proxy, since, known_proxy=True))
        except NotFound:  # no line shipped yet
            events = []
        lines = [f"[{e.signature}] {e.raw}" for e in events]
        if any(e.signature in ("client-closed", "db-connection-released") for e in events) \
                or time.monotonic() > deadline:
            return lines[-limit:]
        time.sleep(0.2)
