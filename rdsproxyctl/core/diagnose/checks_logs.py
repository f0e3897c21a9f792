"""Checks of the proxy's recent CloudWatch Logs (one fetch over --since, shared)."""

from __future__ import annotations

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
from rdsproxyctl.errors import NotFound

DOCS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/"
TROUBLESHOOTING = DOCS + "rds-proxy.troubleshooting.html"
PINNING = DOCS + "rds-proxy-pinning.html"

AUTH_FAILURES = ("iam-auth-*", "password-auth-failed", "auth-failed", "no-credentials-for-role",
                 "tls-required", "iam-requires-tls", "unsupported-auth-method")
#: Pinned sessions above this share of client connections are worth a look.
PINNING_WARN_RATIO = 0.2


def _summary(ctx: Context) -> Any:
    """The logs summary over --since: every event (pinning needs the connection count)."""
    from rdsproxyctl.core.logs import fetch
    from rdsproxyctl.core.logs.summary import Summarizer

    def compute() -> Any:
        summarizer = Summarizer(top=5)
        try:
            summarizer.add_all(fetch.fetch_events(ctx.aws, ctx.proxy_name, ctx.options.since,
                                                  known_proxy=True))
        except NotFound as exc:
            raise SkipCheck("no log group: the proxy has had no traffic yet (or logs are "
                            "elsewhere)", detail=exc.message) from None
        return summarizer.result("error", proxy=ctx.proxy_name)

    return ctx.lookups.memo(("logs_summary", ctx.proxy_name, ctx.options.since), compute)


def _matching(summary: Any, patterns: tuple[str, ...]) -> list[Any]:
    from fnmatch import fnmatchcase

    return [row for row in summary.signatures
            if any(fnmatchcase(row.signature, p) for p in patterns)]


def _rows_evidence(rows: list[Any]) -> dict[str, Any]:
    return {"signatures": {r.signature: r.count for r in rows},
            "last_seen": max((r.last_seen or "" for r in rows), default=None) or None}


def _fail_on(ctx: Context, check_id: str, patterns: tuple[str, ...], what: str) -> Finding:
    summary = _summary(ctx)
    rows = _matching(summary, patterns)
    since = ctx.options.since
    if not rows:
        return ctx.finding(check_id, PASS, f"No {what} in the last {since}",
                           evidence={"events": summary.events, "since": since})
    total = sum(r.count for r in rows)
    evidence = {**_rows_evidence(rows), "since": since,
                "top_users": {u.value: u.count for u in summary.top_users}}
    worst = rows[0]
    return ctx.finding(check_id, FAIL, f"{total} {what} in the last {since} "
                       f"(mostly {worst.signature})", evidence=evidence,
                       remedy=f"{worst.remedy} (rdsproxyctl logs {ctx.proxy_name} --since "
                              f"{since} --signature {worst.signature})")


@check("logs.auth_failures", "logs", "Recent authentication failures", link=TROUBLESHOOTING)
def logs_auth_failures(ctx: Context) -> Finding:
    return _fail_on(ctx, "logs.auth_failures", AUTH_FAILURES, "authentication failure(s)")


@check("logs.credential_failures", "logs", "Recent secret retrieval failures",
       link=DOCS + "rds-proxy-iam-setup.html")
def logs_credential_failures(ctx: Context) -> Finding:
    return _fail_on(ctx, "logs.credential_failures", ("secret-retrieval-failed",),
                    "secret retrieval failure(s)")


@check("logs.borrow_timeouts", "logs", "Recent borrow time-outs",
       link=DOCS + "rds-proxy-connections.html")
def logs_borrow_timeouts(ctx: Context) -> Finding:
    return _fail_on(ctx, "logs.borrow_timeouts", ("borrow-timeout",), "borrow time-out(s)")


@check("logs.pinning", "logs", "Session pinning rate", link=PINNING)
def logs_pinning(ctx: Context) -> Finding:
    summary = _summary(ctx)
    counts = {r.signature: r.count for r in summary.signatures}
    pinned = sum(n for sig, n in counts.items() if sig == "pinned" or sig.startswith("pinned-"))
    clients = counts.get("client-connected", 0)
    ratio = pinned / clients if clients else 0.0
    evidence: dict[str, Any] = {
        "pinned_sessions": pinned, "client_connections": clients, "ratio": round(ratio, 3),
        "top_reasons": {r.value: r.count for r in summary.top_pinning_reasons},
        "top_digests": {r.value: r.count for r in summary.top_digests},
        "since": ctx.options.since}
    if pinned == 0 or ratio <= PINNING_WARN_RATIO:
        return ctx.finding("logs.pinning", PASS,
                           f"{pinned} pinned of {clients} client connection(s)",
                           evidence=evidence)
    top = next(iter(evidence["top_reasons"]), "see the log lines")
    return ctx.finding(
        "logs.pinning", WARN,
        f"{ratio:.0%} of client connections were pinned (top reason: {top})",
        evidence=evidence,
        remedy=_pinning_remedy(ctx))


def _pinning_remedy(ctx: Context) -> str:
    """What avoids pinning, by engine family (rds-proxy-pinning.html)."""
    digests = f"(rdsproxyctl logs summary {ctx.proxy_name} shows the digests)"
    if data.proxy(ctx).engine_family == "MYSQL":
        return ("avoid what pins: server-side prepared statements (use client-side ones: "
                "JDBC useServerPrepStmts=false), SET of untracked or user variables, LOCK "
                "TABLES and GET_LOCK, temporary tables; move session settings into the proxy's "
                "InitQuery, or let SETs stop pinning with SessionPinningFilters "
                f"(rdsproxyctl pool {ctx.proxy_name} --session-pinning-filter "
                f"EXCLUDE_VARIABLE_SETS) {digests}")
    return ("avoid what pins: prepared statements (psycopg prepare_threshold=None, "
            "pgbouncer-style statement caches off), SET outside transactions, temporary "
            f"tables; move session settings into the proxy's InitQuery {digests}")
