"""Checks of the proxy's own settings, its pool and its targets."""

from __future__ import annotations

from rdsproxyctl.core.diagnose import data
from rdsproxyctl.core.diagnose.framework import FAIL, PASS, WARN, Context, Finding, check

DOCS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/"
TROUBLESHOOTING = DOCS + "rds-proxy.troubleshooting.html"

STATUS_MEANING = {
    "available": (PASS, "the proxy is ready"),
    "creating": (WARN, "the proxy is being created: wait for `available`"),
    "modifying": (WARN, "a change is being applied: wait for `available`"),
    "deleting": (WARN, "the proxy is being deleted"),
    "suspending": (WARN, "the proxy is being suspended"),
    "suspended": (FAIL, "the proxy is suspended and accepts no connections: RDS suspends a "
                        "proxy whose targets have been unavailable or unused for a long time"),
    "reactivating": (WARN, "the proxy is coming back from suspension: wait for `available`"),
    "incompatible-network": (FAIL, "RDS cannot reach the proxy's network: a subnet or security "
                                   "group was deleted or changed, or the subnets lack free IPs"),
    "insufficient-resource-limits": (FAIL, "an account quota prevents the proxy from running "
                                           "(e.g. network interfaces or IPs)"),
}


@check("proxy.status", "proxy", "Proxy status", link=TROUBLESHOOTING)
def proxy_status(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    status, meaning = STATUS_MEANING.get(p.status, (WARN, f"unexpected status {p.status!r}"))
    remedy = None
    if p.status == "incompatible-network":
        remedy = ("check the proxy's subnets and security groups still exist and have free IPs "
                  f"(aws ec2 describe-subnets --subnet-ids {' '.join(p.subnet_ids)}), then "
                  f"`rdsproxyctl modify {p.name} ...` or recreate the proxy")
    elif p.status == "insufficient-resource-limits":
        remedy = "raise the account's ENI/IP quotas (Service Quotas), then modify the proxy"
    elif status != PASS:
        remedy = f"wait: rdsproxyctl show {p.name} until status is available"
    return ctx.finding("proxy.status", status, f"Proxy status is {p.status}",
                       evidence={"status": p.status, "meaning": meaning}, remedy=remedy)


def _iam_on(p: object) -> bool:
    return p.default_auth_scheme == "IAM_AUTH" or any(  # type: ignore[attr-defined]
        a.iam_auth in ("REQUIRED", "ENABLED") for a in p.auth)  # type: ignore[attr-defined]


@check("proxy.tls", "proxy", "TLS required", link=DOCS + "rds-proxy.howitworks.html")
def proxy_tls(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    evidence = {"require_tls": p.require_tls, "iam_auth": p.iam_auth}
    if p.require_tls:
        return ctx.finding("proxy.tls", PASS, "RequireTLS is on", evidence=evidence)
    remedy = f"rdsproxyctl modify {p.name} --require-tls"
    if _iam_on(p):
        return ctx.finding("proxy.tls", FAIL, "RequireTLS is off while IAM authentication is on",
                           evidence={**evidence, "why": "IAM tokens are refused without TLS: "
                                     "IAM authentication is allowed only with SSL connections"},
                           remedy=remedy)
    return ctx.finding("proxy.tls", WARN, "RequireTLS is off: clients may connect in clear text",
                       evidence=evidence, remedy=remedy)


@check("proxy.debug_logging", "proxy", "Debug logging", link=DOCS + "rds-proxy.monitoring.html")
def proxy_debug_logging(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    if not p.debug_logging:
        return ctx.finding("proxy.debug_logging", PASS, "DebugLogging is off",
                           evidence={"debug_logging": False})
    return ctx.finding("proxy.debug_logging", WARN,
                       "DebugLogging is on: SQL text goes to CloudWatch Logs (privacy, cost)",
                       evidence={"debug_logging": True, "log_group": p.log_group},
                       remedy=f"rdsproxyctl modify {p.name} --no-debug-logging")


@check("proxy.idle_client_timeout", "proxy", "Idle client timeout",
       link=DOCS + "rds-proxy-connections.html")
def proxy_idle_timeout(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    seconds = p.idle_client_timeout or 1800
    evidence = {"idle_client_timeout": seconds}
    if seconds < 60:
        return ctx.finding(
            "proxy.idle_client_timeout", WARN,
            f"IdleClientTimeout is {seconds} s: pooled application connections will be dropped",
            evidence=evidence,
            remedy=f"rdsproxyctl modify {p.name} --idle-client-timeout 1800 (longer than the "
                   "application pool's idle lifetime)")
    if seconds > 7200:
        return ctx.finding(
            "proxy.idle_client_timeout", WARN,
            f"IdleClientTimeout is {seconds} s: idle clients (e.g. frozen Lambda execution "
            "environments) hold proxy connections for a long time",
            evidence=evidence,
            remedy=f"rdsproxyctl modify {p.name} --idle-client-timeout 1800 (for Lambda, "
                   "close the connection at the end of each invocation or use a short timeout)")
    return ctx.finding("proxy.idle_client_timeout", PASS, f"IdleClientTimeout is {seconds} s",
                       evidence=evidence)


POOL_DOCS = DOCS + "rds-proxy-connections.html"


@check("pool.max_connections", "pool", "Max connections headroom", link=POOL_DOCS)
def pool_max_connections(ctx: Context) -> Finding:
    group = data.target_group(ctx)
    value = group.pool.max_connections_percent if group else None
    evidence = {"max_connections_percent": value}
    if value is None or value < 100:
        return ctx.finding("pool.max_connections", PASS,
                           f"MaxConnectionsPercent is {value}: headroom left", evidence=evidence)
    return ctx.finding(
        "pool.max_connections", FAIL,
        "MaxConnectionsPercent is 100: the proxy may take every database connection, leaving "
        "none for other clients, a second proxy, failover or maintenance",
        evidence={**evidence, "advice": "AWS advises about 30% headroom unless this proxy is "
                  "the database's only client"},
        remedy=f"rdsproxyctl pool {ctx.proxy_name} --max-connections-percent 70 "
               "(skip this check with --skip pool.max_connections if the proxy is the only "
               "client)")


@check("pool.max_idle", "pool", "Max idle connections", link=POOL_DOCS)
def pool_max_idle(ctx: Context) -> Finding:
    group = data.target_group(ctx)
    if group is None:
        return ctx.finding("pool.max_idle", PASS, "no target group", evidence={})
    maximum, idle = group.pool.max_connections_percent, group.pool.max_idle_connections_percent
    evidence = {"max_connections_percent": maximum, "max_idle_connections_percent": idle}
    if maximum is not None and idle is not None and idle > maximum:
        return ctx.finding("pool.max_idle", FAIL,
                           "MaxIdleConnectionsPercent is above MaxConnectionsPercent",
                           evidence=evidence,
                           remedy=f"rdsproxyctl pool {ctx.proxy_name} "
                                  f"--max-idle-connections-percent {maximum // 2}")
    return ctx.finding("pool.max_idle", PASS, f"MaxIdleConnectionsPercent is {idle}",
                       evidence=evidence)


@check("pool.borrow_timeout", "pool", "Connection borrow timeout", link=POOL_DOCS)
def pool_borrow_timeout(ctx: Context) -> Finding:
    group = data.target_group(ctx)
    timeout = group.pool.connection_borrow_timeout if group else None
    evidence = {"connection_borrow_timeout": timeout}
    if timeout == 0:
        return ctx.finding("pool.borrow_timeout", WARN,
                           "ConnectionBorrowTimeout is 0: a client fails at once whenever every "
                           "pooled connection is busy", evidence=evidence,
                           remedy=f"rdsproxyctl pool {ctx.proxy_name} --borrow-timeout 120")
    return ctx.finding("pool.borrow_timeout", PASS, f"ConnectionBorrowTimeout is {timeout} s",
                       evidence=evidence)


HEALTH_REMEDIES = {
    "AUTH_FAILURE": "the proxy cannot log in to the database: check each auth entry's secret "
                    "(JSON with username and password matching a database user) and that the "
                    "proxy role may read it (rdsproxyctl diagnose {proxy} --check role.secret_access)",
    "UNREACHABLE": "the proxy cannot reach the database: check the database is running and that "
                   "security groups allow the proxy to its port (--check network.security_groups)",
    "CONNECTION_FAILED": "connections to the database fail: check the database is up, accepts "
                         "connections, and has connection slots (max_connections)",
    "PENDING_PROXY_CAPACITY": "the proxy is scaling: wait a few minutes and check again",
    "INVALID_REPLICATION_STATE": "the target is a replica in an invalid replication state: fix "
                                 "replication or register another target",
    "PROMOTED": "the target was promoted: re-register the right instance or cluster",
}


@check("targets.health", "targets", "Target health", link=TROUBLESHOOTING)
def targets_health(ctx: Context) -> list[Finding]:
    rows = data.targets(ctx)
    if not rows:
        return [ctx.finding("targets.health", FAIL, "No targets registered: the proxy has "
                            "nothing to connect to", evidence={"targets": 0},
                            remedy=f"rdsproxyctl targets add {ctx.proxy_name} --db-instance ID")]
    findings = []
    for t in rows:
        h = t.health
        evidence = {"target": t.rds_resource_id, "type": t.type, "endpoint": t.endpoint,
                    "port": t.port, "state": h.state, "reason": h.reason,
                    "description": h.description}
        if h.state == "AVAILABLE":
            findings.append(ctx.finding("targets.health", PASS, f"{t.rds_resource_id} is AVAILABLE",
                                        evidence=evidence))
        elif h.state in ("REGISTERING", "UNUSED"):
            findings.append(ctx.finding(
                "targets.health", WARN, f"{t.rds_resource_id} is {h.state}", evidence=evidence,
                remedy="wait for registration to finish" if h.state == "REGISTERING"
                else "the target is not used by any endpoint's role"))
        else:
            remedy = HEALTH_REMEDIES.get(h.reason or "", "see the description").format(
                proxy=ctx.proxy_name)
            findings.append(ctx.finding(
                "targets.health", FAIL,
                f"{t.rds_resource_id} is {h.state}"
                + (f" ({h.reason}: {h.description})" if h.reason else ""),
                evidence=evidence, remedy=remedy))
    return findings
