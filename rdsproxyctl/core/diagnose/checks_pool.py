"""Checks of the pool from its CloudWatch metrics: capacity, pinning, borrow latency, and
the one-line verdict "app, proxy or database?".

Metrics are read once per proxy over ``--since`` (one GetMetricData call: every RDS Proxy
metric, https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html)
and shared by these checks.  A proxy without datapoints (new, idle) SKIPs saying so;
without ``cloudwatch:GetMetricData`` they SKIP naming it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from rdsproxyctl.core.diagnose import data
from rdsproxyctl.core.diagnose.framework import (
    FAIL,
    PASS,
    WARN,
    Context,
    Finding,
    SkipCheck,
    check,
)

DOCS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/"
POOL_DOCS = DOCS + "rds-proxy-connections.html"
MONITORING = DOCS + "rds-proxy.monitoring.html"
PINNING = DOCS + "rds-proxy-pinning.html"

#: Borrow latency (the average of a period, at its worst) worth a WARN / a FAIL, in ms.
BORROW_WARN_MS, BORROW_FAIL_MS = 50.0, 1000.0
#: The database's answer time (QueryDatabaseResponseLatency) that makes it "slow", in ms.
QUERY_SLOW_MS = 1000.0
#: Peak database connections at this share of the ceiling: the pool is (nearly) full.
FULL_SHARE = 0.9
PINNED_WARN_SHARE = 0.2


def metrics(ctx: Context) -> Any:
    """Every metric of the proxy over --since, once (SkipCheck when there is no datapoint)."""
    from rdsproxyctl.core import metrics as core

    def compute() -> Any:
        return core.get_metrics(ctx.aws, ctx.proxy_name, since=ctx.options.since)

    report = ctx.lookups.memo(("metrics", ctx.proxy_name, ctx.options.since), compute)
    if not report.has_data:
        raise SkipCheck(f"no CloudWatch datapoints for the proxy in the last "
                        f"{ctx.options.since}: new or idle (RDS Proxy publishes metrics once "
                        "clients connect)", since=ctx.options.since)
    return report


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value / 1000.0, 3)


def _peak(report: Any, name: str) -> tuple[float | None, str | None]:
    s = report.get(name)
    return (s.max, s.peak_timestamp) if s and s.values else (None, None)


def _total(report: Any, name: str) -> float:
    s = report.get(name)
    return sum(s.values) if s and s.values else 0.0


def _at(report: Any, name: str, timestamp: str | None) -> float | None:
    s = report.get(name)
    if not s or timestamp is None or timestamp not in s.timestamps:
        return None
    return s.values[s.timestamps.index(timestamp)]


# -- pool.capacity ------------------------------------------------------------------------------
_FORMULA_MEMORY = re.compile(r"\{DBInstanceClassMemory\s*/\s*(\d+)\}")
_LEAST = re.compile(r"LEAST\(\s*(.+?)\s*,\s*(\d+)\s*\)", re.I)


def _writer_instance(ctx: Context) -> str | None:
    rows = [t for t in data.targets(ctx) if t.type == "RDS_INSTANCE"]
    rows.sort(key=lambda t: t.role != "READ_WRITE")
    return rows[0].rds_resource_id if rows else None


def _class_memory(ctx: Context, instance_class: str) -> int | None:
    """Bytes of memory of a DB instance class, from EC2's instance type of the same name."""
    from rdsproxyctl.core.aws import aws_errors

    name = instance_class.removeprefix("db.")

    def fetch() -> int | None:
        with aws_errors(ctx.aws):
            rows = ctx.aws.client("ec2").describe_instance_types(InstanceTypes=[name])
        types = rows.get("InstanceTypes", [])
        return int(types[0]["MemoryInfo"]["SizeInMiB"]) * 1024 * 1024 if types else None

    try:
        return ctx.lookups.memo(("instance_memory", name), fetch)
    except Exception:  # noqa: BLE001 - an unknown class only loses the estimate
        return None


def evaluate_max_connections(value: str, memory: int | None) -> int | None:
    """A parameter group's max_connections: a number, or RDS's formula
    ``LEAST({DBInstanceClassMemory/N},M)`` evaluated with the class's memory."""
    text = value.strip()
    if text.isdigit():
        return int(text)
    formula = _FORMULA_MEMORY.search(text)
    if formula is None or memory is None:
        return None
    estimate = memory // int(formula.group(1))
    least = _LEAST.search(text)
    return min(estimate, int(least.group(2))) if least else estimate


def _from_parameter_group(ctx: Context) -> tuple[int | None, dict[str, Any]]:
    from rdsproxyctl.core.aws import aws_errors

    instance_id = _writer_instance(ctx)
    if instance_id is None:
        return None, {"max_connections_source": "no RDS instance target"}
    instance = data.db_instances(ctx).get(instance_id)
    if not instance:
        return None, {"max_connections_source": f"instance {instance_id} not found"}
    groups = instance.get("DBParameterGroups") or []
    if not groups:
        return None, {"max_connections_source": f"{instance_id} has no parameter group"}
    group = groups[0]["DBParameterGroupName"]

    def fetch() -> str | None:
        with aws_errors(ctx.aws):
            pages = ctx.aws.client("rds").get_paginator("describe_db_parameters").paginate(
                DBParameterGroupName=group)
            for page in pages:
                for p in page.get("Parameters", []):
                    if p.get("ParameterName") == "max_connections":
                        return p.get("ParameterValue")
        return None

    raw = ctx.lookups.memo(("max_connections", group), fetch)
    evidence: dict[str, Any] = {"instance": instance_id, "parameter_group": group,
                                "max_connections_setting": raw}
    if raw is None:
        return None, {**evidence, "max_connections_source": "not set in the parameter group"}
    memory = None if raw.strip().isdigit() else _class_memory(ctx, instance.get("DBInstanceClass", ""))
    value = evaluate_max_connections(raw, memory)
    source = "parameter group" if raw.strip().isdigit() else \
        "parameter group formula with the instance class's memory (an estimate)"
    return value, {**evidence, "max_connections_source": source}


def _from_database(ctx: Context) -> tuple[int | None, dict[str, Any]]:
    """``--connect``: ask the database through the proxy (no statement that pins)."""
    from rdsproxyctl.core import db
    from rdsproxyctl.core.connect import prepare
    from rdsproxyctl.core.diagnose.checks_connect import connect_spec

    def fetch() -> dict[str, Any]:
        prepared = prepare(ctx.aws, connect_spec(ctx))
        conn = db.connect(prepared.params)
        try:
            if prepared.params.engine == "mysql":
                return _mysql_capacity(conn)
            return _postgres_capacity(conn)
        finally:
            conn.close()

    try:
        found = ctx.lookups.memo(("db_capacity", ctx.proxy_name), fetch)
    except SkipCheck:
        raise
    except Exception as exc:  # noqa: BLE001 - fall back to the parameter group
        from rdsproxyctl.core.redact import redact_text

        return None, {"database_error": redact_text(str(exc))[:300]}
    return found["max_connections"], {
        "max_connections_source": "the database (through the proxy, --connect)",
        "reserved_connections": found["reserved"], "client_backends": found["client_backends"]}


def _postgres_capacity(conn: Any) -> dict[str, Any]:
    import psycopg

    with psycopg.ClientCursor(conn) as cur:  # the simple protocol: nothing that pins
        cur.execute("SELECT current_setting('max_connections')::int, "
                    "current_setting('superuser_reserved_connections')::int, "
                    # every user's sessions (pg_stat_activity hides other users'
                    # backend_type from a non-superuser; numbackends does not)
                    "(SELECT sum(numbackends) FROM pg_stat_database)")
        row = cur.fetchone()
    assert row is not None
    return {"max_connections": int(row[0]), "reserved": int(row[1]),
            "client_backends": int(row[2])}


def _mysql_capacity(conn: Any) -> dict[str, Any]:
    """MySQL/MariaDB: max_connections (one more is kept for SUPER/CONNECTION_ADMIN, beyond
    it: nothing to subtract) and every user's connections (Threads_connected)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@max_connections")
        (max_connections,) = cur.fetchone()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        row = cur.fetchone()
    return {"max_connections": int(max_connections), "reserved": 0,
            "client_backends": int(row[1]) if row else 0}


@check("pool.capacity", "pool", "Pool capacity and headroom", link=POOL_DOCS)
def pool_capacity(ctx: Context) -> Finding:
    group = data.target_group(ctx)
    percent = group.pool.max_connections_percent if group else None
    evidence: dict[str, Any] = {"max_connections_percent": percent}
    max_conn = None
    if ctx.options.connect:
        max_conn, more = _from_database(ctx)
        evidence.update(more)
    if max_conn is None:
        max_conn, more = _from_parameter_group(ctx)
        evidence.update(more)
    try:
        report = metrics(ctx)
    except SkipCheck:
        report = None
    allowed, _ = _peak(report, "MaxDatabaseConnectionsAllowed") if report else (None, None)
    peak, peak_at = _peak(report, "DatabaseConnections") if report else (None, None)
    evidence.update(max_database_connections_allowed=allowed, peak_database_connections=peak,
                    peak_at=peak_at)
    if max_conn is None and allowed and percent:
        max_conn = int(allowed * 100 // percent)
        evidence["max_connections_source"] = "MaxDatabaseConnectionsAllowed x 100 / " \
                                             "MaxConnectionsPercent (an estimate)"
    if max_conn is None or percent is None:
        raise SkipCheck("the database's max_connections is unknown: pass --connect to ask "
                        "the database", **evidence)
    ceiling = int(allowed) if allowed else math.floor(max_conn * percent / 100)
    reserved = int(evidence.get("reserved_connections") or 0)
    last_db = report.get("DatabaseConnections").last if report and report.get(
        "DatabaseConnections") else None
    others = None
    if "client_backends" in evidence:
        # every client backend that is not one of the proxy's (ours is the proxy's too)
        others = max(0, evidence["client_backends"] - int(last_db or 0) - 1)
    headroom = max_conn - reserved - ceiling - (others or 0)
    evidence.update(max_connections=max_conn, ceiling=ceiling, other_clients=others,
                    headroom_for_others=headroom)
    name = ctx.proxy_name
    what = f"ceiling {ceiling} = max_connections {max_conn} x MaxConnectionsPercent {percent}%"
    if headroom <= 0:
        usable = max_conn - reserved - (others or 0)
        suggest = max(1, min(70, math.floor(100 * usable / max_conn) - 10))
        who = f" ({others} connection(s) of other clients now)" if others else ""
        return ctx.finding(
            "pool.capacity", FAIL,
            f"No headroom: {what} leaves {max(headroom, 0)} connection(s) for other clients of "
            f"the database{who} once the pool is full", evidence=evidence,
            remedy=f"rdsproxyctl pool {name} --max-connections-percent {suggest} (or a larger "
                   "max_connections / instance class)")
    if peak is not None and ceiling and peak >= FULL_SHARE * ceiling:
        return ctx.finding(
            "pool.capacity", WARN,
            f"The pool reached {peak:g} of its {ceiling} connections at {peak_at} ({what})",
            evidence=evidence,
            remedy=f"find what holds connections: rdsproxyctl pinning {name} --since "
                   f"{ctx.options.since}; rdsproxyctl top {name}")
    return ctx.finding("pool.capacity", PASS,
                       f"{what}; {headroom} left for other clients"
                       + (f"; peak {peak:g}" if peak is not None else ""), evidence=evidence)


# -- pool.pinning --------------------------------------------------------------------------------
def _log_pinning(ctx: Context) -> dict[str, Any] | None:
    from rdsproxyctl.core.diagnose.checks_logs import _summary

    try:
        summary = _summary(ctx)
    except Exception:  # noqa: BLE001 - logs are extra evidence; the metrics decide
        return None
    counts = {r.signature: r.count for r in summary.signatures}
    pinned = sum(n for s, n in counts.items() if s == "pinned" or s.startswith("pinned-"))
    clients = counts.get("client-connected", 0)
    return {"log_pin_events": pinned, "log_client_connections": clients,
            "log_share": round(pinned / clients, 3) if clients else None}


@check("pool.pinning", "pool", "Pinned sessions", link=PINNING)
def pool_pinning(ctx: Context) -> Finding:
    report = metrics(ctx)
    pinned, at = _peak(report, "DatabaseConnectionsCurrentlySessionPinned")
    conns = _at(report, "DatabaseConnections", at)
    ceiling, _ = _peak(report, "MaxDatabaseConnectionsAllowed")
    share = round(pinned / conns, 3) if pinned is not None and conns else None
    evidence: dict[str, Any] = {"pinned_peak": pinned, "peak_at": at,
                                "database_connections_then": conns, "share": share,
                                "ceiling": ceiling, "since": ctx.options.since}
    logs = _log_pinning(ctx)
    if logs:
        evidence.update(logs)
    name = ctx.proxy_name
    remedy = f"rdsproxyctl pinning {name} --since {ctx.options.since}"
    if pinned and ceiling and pinned >= ceiling:
        return ctx.finding("pool.pinning", FAIL,
                           f"Every pooled connection was pinned at {at} ({pinned:g} of "
                           f"{ceiling:g}): other clients wait for a connection", evidence=evidence,
                           remedy=remedy)
    log_share = (logs or {}).get("log_share")
    if (share is not None and share > PINNED_WARN_SHARE) or (
            log_share is not None and log_share > PINNED_WARN_SHARE):
        worst = max(s for s in (share, log_share) if s is not None)
        return ctx.finding("pool.pinning", WARN,
                           f"{worst:.0%} of sessions pinned (peak {pinned or 0:g} pinned "
                           f"connection(s) at {at}): pooling is off for them", evidence=evidence,
                           remedy=remedy)
    return ctx.finding("pool.pinning", PASS,
                       f"Peak {pinned or 0:g} pinned connection(s)"
                       + (f" ({share:.0%})" if share is not None else ""), evidence=evidence)


# -- pool.borrow_latency ------------------------------------------------------------------------
def _latencies(report: Any) -> dict[str, Any]:
    borrow = report.get("DatabaseConnectionsBorrowLatency")
    query = report.get("QueryDatabaseResponseLatency")
    return {
        "borrow_ms_avg": _ms(borrow.avg) if borrow else None,
        "borrow_ms_peak": _ms(borrow.max) if borrow else None,
        "borrow_peak_at": borrow.peak_timestamp if borrow else None,
        "query_ms_avg": _ms(query.avg) if query else None,
        "query_ms_peak": _ms(query.max) if query else None,
        "query_peak_at": query.peak_timestamp if query else None,
    }


@check("pool.borrow_latency", "pool", "Connection borrow latency", link=MONITORING)
def pool_borrow_latency(ctx: Context) -> Finding:
    report = metrics(ctx)
    lat = _latencies(report)
    peak = lat["borrow_ms_peak"]
    if peak is None:
        raise SkipCheck("no DatabaseConnectionsBorrowLatency datapoints in the window", **lat)
    name = ctx.proxy_name
    words = (f"borrow latency peaked at {peak:g} ms at {lat['borrow_peak_at']} "
             f"(average {lat['borrow_ms_avg']:g} ms)")
    if lat["query_ms_peak"] is not None:
        words += f"; the database answered in {lat['query_ms_peak']:g} ms at worst"
    status = FAIL if peak >= BORROW_FAIL_MS else WARN if peak >= BORROW_WARN_MS else PASS
    remedy = None if status == PASS else (
        f"clients wait for a pooled connection: rdsproxyctl diagnose {name} --check "
        f"pool.verdict; rdsproxyctl top {name}")
    return ctx.finding("pool.borrow_latency", status, words[0].upper() + words[1:],
                       evidence=lat, remedy=remedy)


# -- pool.verdict ------------------------------------------------------------------------------
def _auth_failures(ctx: Context, report: Any) -> tuple[int, dict[str, Any]]:
    from rdsproxyctl.core.diagnose.checks_logs import AUTH_FAILURES, _matching, _summary

    metric = int(_total(report, "ClientConnectionsSetupFailedAuth")) if report else 0
    from_logs = 0
    try:
        rows = _matching(_summary(ctx), AUTH_FAILURES)
        from_logs = sum(r.count for r in rows)
    except Exception:  # noqa: BLE001 - logs are extra evidence
        rows = []
    return max(metric, from_logs), {"client_setup_failed_auth": metric,
                                    "log_auth_failures": from_logs,
                                    "log_signatures": {r.signature: r.count for r in rows}}


@check("pool.verdict", "pool", "App, proxy or database?", link=MONITORING)
def pool_verdict(ctx: Context) -> Finding:
    """Where the time goes: target health, database connection failures, the database's
    answer time, borrow latency, client authentication failures (in that order)."""
    name, since = ctx.proxy_name, ctx.options.since
    try:
        report = metrics(ctx)
    except SkipCheck:
        report = None
    unhealthy = [t for t in data.targets(ctx) if t.health.state == "UNAVAILABLE"]
    evidence: dict[str, Any] = {"since": since}
    if unhealthy:
        t = unhealthy[0]
        evidence.update(verdict="database", target=t.rds_resource_id, state=t.health.state,
                        reason=t.health.reason)
        return ctx.finding("pool.verdict", FAIL,
                           f"database: target {t.rds_resource_id} is UNAVAILABLE "
                           f"({t.health.reason or 'no reason given'})", evidence=evidence,
                           remedy=f"rdsproxyctl diagnose {name} --check targets.health")
    if report is not None:
        evidence.update(_latencies(report))
        failed = _total(report, "DatabaseConnectionsSetupFailed")
        evidence["database_setup_failed"] = failed
        _, failed_at = _peak(report, "DatabaseConnectionsSetupFailed")
        if failed:
            evidence["verdict"] = "database"
            return ctx.finding("pool.verdict", FAIL,
                               f"database: the proxy failed to open {failed:g} database "
                               f"connection(s) (last at {failed_at})", evidence=evidence,
                               remedy=f"rdsproxyctl logs {name} --since {since} --errors; "
                                      f"rdsproxyctl diagnose {name} --check targets.health")
        borrow, query = evidence["borrow_ms_peak"], evidence["query_ms_peak"]
        if query is not None and query >= QUERY_SLOW_MS and query >= (borrow or 0):
            evidence["verdict"] = "database"
            return ctx.finding("pool.verdict", FAIL,
                               f"database: queries took {query:g} ms at {evidence['query_peak_at']}"
                               f" (QueryDatabaseResponseLatency); borrowing took "
                               f"{borrow if borrow is not None else '?'} ms", evidence=evidence,
                               remedy=f"the database is slow: look at its load and slow queries "
                                      f"(Performance Insights, pg_stat_statements); rdsproxyctl "
                                      f"metrics {name} --since {since} --metric 'Query*Latency'")
        if borrow is not None and borrow >= BORROW_WARN_MS:
            pinned, _ = _peak(report, "DatabaseConnectionsCurrentlySessionPinned")
            evidence.update(verdict="proxy", pinned_peak=pinned)
            nxt = (f"rdsproxyctl pinning {name} --since {since}" if pinned
                   else f"rdsproxyctl metrics {name} --since {since} --metric 'DatabaseConnections*'")
            return ctx.finding(
                "pool.verdict", FAIL if borrow >= BORROW_FAIL_MS else WARN,
                f"proxy: clients waited {borrow:g} ms for a pooled connection at "
                f"{evidence['borrow_peak_at']} while the database answered in "
                f"{query if query is not None else '?'} ms: the pool is exhausted"
                + (f" ({pinned:g} connection(s) pinned)" if pinned else ""),
                evidence=evidence, remedy=nxt)
    failures, auth = _auth_failures(ctx, report)
    evidence.update(auth)
    if failures:
        evidence["verdict"] = "application"
        return ctx.finding("pool.verdict", FAIL,
                           f"application: {failures} client connection(s) failed "
                           "authentication or TLS (wrong token, password or user)",
                           evidence=evidence,
                           remedy=f"rdsproxyctl logs {name} --since {since} --errors; "
                                  f"rdsproxyctl diagnose {name} --check logs.auth_failures")
    if report is None:
        raise SkipCheck(f"no CloudWatch datapoints and no failures in the last {since}: "
                        "nothing to judge (new or idle proxy)", since=since)
    evidence["verdict"] = None
    return ctx.finding("pool.verdict", PASS,
                       f"no sign of trouble: borrow {evidence['borrow_ms_peak']} ms, database "
                       f"{evidence['query_ms_peak']} ms at worst, no failures", evidence=evidence)
