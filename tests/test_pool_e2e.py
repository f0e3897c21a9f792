"""The pool commands and checks on the sandbox: capacity against the real database, the
verdict for a client with a wrong token (and, with the emulator's pooling and metrics,
pinning, metrics and the proxy verdict)."""

from __future__ import annotations

import contextlib

import pytest

pytestmark = pytest.mark.slow


def finding(sandbox_cli, name, check_id, *args, code=None):
    out = sandbox_cli("diagnose", name, "--check", check_id, *args, "-o", "json", code=code)
    return out.json()["findings"][0], out


def test_capacity_fails_when_other_clients_would_be_left_no_headroom(sandbox, sandbox_cli):
    sandbox.make_proxy("p-capacity", pool={"MaxConnectionsPercent": 70,
                                           "MaxIdleConnectionsPercent": 50})
    args = ("--user", sandbox.app_user, "--connect")
    f, _ = finding(sandbox_cli, "p-capacity", "pool.capacity", *args, code=0)
    ev = f["evidence"]
    assert f["status"] == "PASS", f
    assert ev["max_connections"] == 100 and ev["ceiling"] == 70
    assert ev["max_connections_source"].startswith("the database")
    assert ev["reserved_connections"] == 3
    # 95% of 100, 3 reserved for superusers, and three clients straight to the database
    sandbox.client("rds").modify_db_proxy_target_group(
        DBProxyName="p-capacity", TargetGroupName="default",
        ConnectionPoolConfig={"MaxConnectionsPercent": 95, "MaxIdleConnectionsPercent": 50})
    with contextlib.ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(sandbox.superuser())
        f, out = finding(sandbox_cli, "p-capacity", "pool.capacity", *args, code=None)
    ev = f["evidence"]
    assert f["status"] == "FAIL" and out.exit_code == 1, f
    assert ev["ceiling"] == 95 and ev["other_clients"] >= 3
    assert ev["headroom_for_others"] < 0 and "No headroom" in f["title"]
    assert f["remedy"].startswith("rdsproxyctl pool p-capacity --max-connections-percent ")


def test_wrong_token_is_the_application(sandbox, sandbox_cli):
    import psycopg

    host = sandbox.make_proxy("p-token")["Endpoint"]
    wrong = sandbox.token(host, sandbox.app_user, secret_access_key="not-the-key")
    with pytest.raises(psycopg.OperationalError):
        sandbox.connect(host, password=wrong).close()
    sandbox.log_lines("p-token", contains="IAM authentication failed")
    f, out = finding(sandbox_cli, "p-token", "pool.verdict", code=1)
    assert f["evidence"]["verdict"] == "application", f
    assert f["title"].startswith("application: ") and f["evidence"]["log_auth_failures"] >= 1
    assert "rdsproxyctl logs p-token" in f["remedy"]
