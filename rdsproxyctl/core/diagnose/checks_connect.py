"""``--connect``: the connect command's smoke test, as a finding."""

from __future__ import annotations

from typing import Any

from rdsproxyctl.core.diagnose import data
from rdsproxyctl.core.diagnose.framework import FAIL, PASS, Context, Finding, SkipCheck, check

TROUBLESHOOTING = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html"


def connect_spec(ctx: Context) -> Any:
    """How ``--connect`` logs in: IAM with --user when the proxy requires it, else the first
    auth entry's secret (SkipCheck when neither is possible)."""
    from rdsproxyctl.core.connect import ConnectSpec

    if not ctx.options.connect:
        raise SkipCheck("pass --connect to connect through the proxy")
    p = data.proxy(ctx)
    iam = any(a.iam_auth == "REQUIRED" for a in p.auth)
    if iam and not ctx.options.user:
        raise SkipCheck("the proxy requires IAM authentication: pass --user U with --connect")
    if iam:
        spec = ConnectSpec(proxy=p.name, user=ctx.options.user, iam=True)
    else:
        secret = next((a.secret_arn for a in p.auth if a.secret_arn), None)
        if secret is None:
            raise SkipCheck("no secret to log in with")
        spec = ConnectSpec(proxy=p.name, user=ctx.options.user, secret_arn=secret)
    return spec


@check("connect.smoke", "connect", "Connect through the proxy", link=TROUBLESHOOTING)
def connect_smoke(ctx: Context) -> Finding:
    from rdsproxyctl.core.connect import smoke_test

    spec = connect_spec(ctx)
    result = smoke_test(ctx.aws, spec)
    evidence = {"phases_ms": {ph.name: round((ph.seconds or 0) * 1000, 1) for ph in result.phases},
                "auth": result.auth, "user": result.user, "host": result.host}
    if result.failure is None:
        return ctx.finding("connect.smoke", PASS,
                           f"Connected as {result.current_user} in "
                           f"{result.total_seconds * 1000:.0f} ms", evidence=evidence)
    f = result.failure
    return ctx.finding("connect.smoke", FAIL, f"{f.klass} failure in {f.phase}: {f.message}",
                       evidence={**evidence, "class": f.klass, **f.details}, remedy=f.remedy)
