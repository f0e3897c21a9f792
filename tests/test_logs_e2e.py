"""logs on the sandbox: lines the emulator really wrote after real failed connections."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.slow


def test_refused_token_and_password_are_shown_tagged_and_fail_the_summary(sandbox, sandbox_cli):
    host = sandbox.make_proxy("l-refused")["Endpoint"]
    with pytest.raises(psycopg.OperationalError, match="IAM authentication failed"):
        sandbox.connect(host, password=sandbox.token(host, "someone-else"))
    # the same proxy, now with password authentication: a wrong password
    sandbox.client("rds").modify_db_proxy(DBProxyName="l-refused", Auth=[{
        "AuthScheme": "SECRETS", "SecretArn": sandbox.seeded["secret_arn"],
        "IAMAuth": "DISABLED"}])
    with pytest.raises(psycopg.OperationalError, match="is wrong"):
        sandbox.connect(host, password="not-the-password")
    sandbox.log_lines("l-refused", contains="password authentication failed")

    events = [line for line in sandbox_cli("logs", "l-refused", "--since", "5m",
                                           "-o", "json").stdout.splitlines()]
    import json

    by_signature = {}
    for line in events:
        event = json.loads(line)
        by_signature.setdefault(event["signature"], []).append(event)
    [iam] = [e for sig, es in by_signature.items() if sig.startswith("iam-auth") for e in es]
    assert iam["severity"] == "error" and iam["user"] == sandbox.app_user
    [password] = by_signature["password-auth-failed"]
    assert password["user"] == sandbox.app_user
    table = sandbox_cli("logs", "l-refused", "--since", "5m").stdout
    assert iam["signature"] in table and "password-auth-failed" in table

    out = sandbox_cli("logs", "summary", "l-refused", "--since", "5m", "--fail-on", "error",
                      code=1)
    assert iam["signature"] in out.stdout and "password-auth-failed" in out.stdout
    summary = sandbox_cli("logs", "summary", "l-refused", "--since", "5m", "-o", "json",
                          code=1).json()
    rows = {r["signature"]: r for r in summary["signatures"]}
    assert rows[iam["signature"]]["remedy"] and rows[iam["signature"]]["count"] == 1
    assert summary["failed"] is True
