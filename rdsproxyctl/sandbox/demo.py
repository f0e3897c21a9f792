"""``rdsproxyctl sandbox demo``: the main job end to end, on the sandbox.

Start the sandbox if needed; create a proxy as RDS Proxy's usual set-up does it
(engine POSTGRESQL, RequireTLS, IAM authentication REQUIRED, idle timeout 1800 s,
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
PROXY_PORT = 5432
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


def run(directory: Path, step: Step, *, debug: bool = False) -> DemoResult:
    from rdsproxyctl.core import connect as connect_core
    from rdsproxyctl.core import diagnose, lifecycle, proxies
    from rdsproxyctl.core import plan as plans
    from rdsproxyctl.core.awserrors import aws_errors
    from rdsproxyctl.core.models import LOG_GROUP_PREFIX
    from rdsproxyctl.core.spec import AuthSpec, PoolSpec, ProxySpec, TargetSpec
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
        spec = ProxySpec(
            name=PROXY_NAME, engine_family="POSTGRESQL", role_arn=seeded["role_arn"],
            vpc_subnet_ids=list(seeded["subnet_ids"]),
            vpc_security_group_ids=[seeded["proxy_security_group"]], require_tls=True,
            idle_client_timeout=IDLE_CLIENT_TIMEOUT, debug_logging=False,
            auth=[AuthSpec(secret_arn=seeded["secret_arn"], iam_auth="REQUIRED",
                           client_password_auth_type="POSTGRES_SCRAM_SHA_256",
                           description="the application's login")],
            tags={"created-by": "rdsproxyctl sandbox demo"},
            pool=PoolSpec(max_connections_percent=MAX_CONNECTIONS_PERCENT,
                          max_idle_connections_percent=50, connection_borrow_timeout=120),
            targets=[TargetSpec(db_instance_identifier=seeded["db_instance"])])
        plan = lifecycle.create_plan(aws, spec, if_not_exists=True)
        created = not plan.no_changes
        if created:
            step(f"rdsproxyctl create {PROXY_NAME}: POSTGRESQL, RequireTLS, IAM auth REQUIRED, "
                 f"idle client timeout {IDLE_CLIENT_TIMEOUT} s, MaxConnectionsPercent "
                 f"{MAX_CONNECTIONS_PERCENT}, target {seeded['db_instance']}")
            from rdsproxyctl.core.waiter import WaitOptions

            plans.execute(aws, plan, wait=True, options=WaitOptions(interval=0.25),
                          progress=lambda m: step(f"    {m}"))
        else:
            step(f"proxy {PROXY_NAME} exists: using it")
        step("waiting for the target to be AVAILABLE")
        with aws_errors(aws, proxy=PROXY_NAME):
            _wait_available(aws.client("rds"), seeded["db_instance"])
        step(f"rdsproxyctl connect {PROXY_NAME} --iam --user {user}: mint an IAM token, connect "
             "with psycopg over verify-full TLS (the sandbox CA), run a query")
        smoke = connect_core.smoke_test(aws, connect_core.ConnectSpec(
            proxy=PROXY_NAME, user=user, database=database, iam=True,
            ca_bundle=str(directory / st.CA_FILE)))
        if not smoke.ok:
            failure = smoke.failure
            raise ConnectionFailure(f"connecting through the proxy failed: {failure.message}",
                                    hint=failure.remedy)
        step(f"rdsproxyctl show {PROXY_NAME}")
        details = proxies.describe(aws, PROXY_NAME)
        step(f"rdsproxyctl logs {PROXY_NAME} --since 2m")
        group = LOG_GROUP_PREFIX + PROXY_NAME
        lines = _recent_logs(aws, PROXY_NAME)
        step(f"rdsproxyctl diagnose {PROXY_NAME} --user {user}")
        (report,) = diagnose.run(aws, PROXY_NAME, diagnose.Options(user=user))
    return DemoResult(proxy_name=PROXY_NAME, endpoint=smoke.host, port=smoke.port, user=user,
                      database=database, created=created, connect=smoke, diagnose=report,
                      log_group=group, log_lines=lines, details=details)


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
