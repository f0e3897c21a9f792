"""diagnose on the sandbox: a healthy proxy passes; each real fault FAILs on the right check."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

HEALTHY_POOL = {"MaxConnectionsPercent": 75, "MaxIdleConnectionsPercent": 50}


def diagnose(sandbox_cli, *args, code=None):
    out = sandbox_cli("diagnose", *args, "-o", "json", code=code)
    data = out.json()
    return (data[0] if len(data) == 1 else data), out  # one report (a list of one)


def statuses(report):
    return {f["id"]: f["status"] for f in report["findings"]}


def finding(report, check_id):
    return next(f for f in report["findings"] if f["id"] == check_id)


def test_healthy_proxy_all_pass_in_one_screen(sandbox, sandbox_cli):
    host = sandbox.make_proxy("d-healthy", pool=HEALTHY_POOL)["Endpoint"]
    with sandbox.connect(host, password=sandbox.token(host, sandbox.app_user)) as conn:
        conn.execute("SELECT 1")
    sandbox.log_lines("d-healthy", contains="A new client connected")
    sandbox_cli("sandbox", "flush", "--dir", str(sandbox.directory))  # metrics, for pool.*
    report, out = diagnose(sandbox_cli, "d-healthy", "--user", sandbox.app_user, "--connect",
                           code=0)
    assert set(statuses(report).values()) == {"PASS"}, [
        (f["id"], f["status"], f["title"]) for f in report["findings"] if f["status"] != "PASS"]
    table = sandbox_cli("diagnose", "d-healthy", "--user", sandbox.app_user).stdout
    assert len(table.splitlines()) <= 40  # one screen


def test_role_without_secret_permission(sandbox, sandbox_cli):
    sandbox.make_proxy("d-role", pool=HEALTHY_POOL)
    iam = sandbox.client("iam")
    role = sandbox.seeded["role_arn"].split("/")[-1]
    original = iam.get_role_policy(RoleName=role, PolicyName="read-app-secret")["PolicyDocument"]
    sandbox.set_role_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"}]})
    try:
        sandbox.wait_health("d-role", "UNAVAILABLE", "AUTH_FAILURE")
        report, out = diagnose(sandbox_cli, "d-role", code=1)
    finally:
        sandbox.set_role_policy(original)
    f = finding(report, "role.secret_access")
    assert f["status"] == "FAIL" and f["evidence"]["denied"] == [sandbox.seeded["secret_arn"]]
    assert f["remedy"].startswith(f"aws iam put-role-policy --role-name {role} ")
    assert json.loads(f["remedy"].split("--policy-document '")[1].rstrip("'"))[
        "Statement"][0]["Resource"] == [sandbox.seeded["secret_arn"]]
    health = finding(report, "targets.health")
    assert health["status"] == "FAIL" and "AUTH_FAILURE" in health["title"]
    sandbox.wait_health("d-role", "AVAILABLE")


def test_secret_without_password(sandbox, sandbox_cli):
    sm = sandbox.client("secretsmanager")
    arn = sm.create_secret(Name="d-nopassword",
                           SecretString=json.dumps({"username": "app"}))["ARN"]
    sandbox.make_proxy("d-secret", secret_arn=arn, targets=False, pool=HEALTHY_POOL)
    report, _ = diagnose(sandbox_cli, "d-secret", code=1)
    f = finding(report, "auth.secrets")
    assert f["status"] == "FAIL" and "lacks password" in f["title"]
    assert "put-secret-value" in f["remedy"] and arn in f["remedy"]


def test_database_stopped(sandbox, sandbox_cli):
    from rdsproxyctl.sandbox import manager, postgres

    sandbox.make_proxy("d-dbdown", pool={**HEALTHY_POOL, "ConnectionBorrowTimeout": 1})
    state, _ = manager.load(sandbox.directory)
    postgres.stop(manager._cluster(state))
    try:
        sandbox.wait_health("d-dbdown", "UNAVAILABLE", "UNREACHABLE")
        report, _ = diagnose(sandbox_cli, "d-dbdown", "--user", sandbox.app_user, "--connect",
                             code=1)
    finally:
        manager.up(sandbox.directory)
    f = finding(report, "targets.health")
    assert f["status"] == "FAIL" and "UNREACHABLE" in f["title"]
    assert "database is running" in f["remedy"]
    c = finding(report, "connect.smoke")
    assert c["status"] == "FAIL" and c["evidence"]["class"] == "pool-timeout"
    sandbox.wait_health("d-dbdown", "AVAILABLE")


def test_client_policy_on_the_database_resource_id(sandbox, sandbox_cli):
    sandbox.make_proxy("d-client", pool=HEALTHY_POOL)
    iam = sandbox.client("iam")
    db = sandbox.client("rds").describe_db_instances(
        DBInstanceIdentifier=sandbox.seeded["db_instance"])["DBInstances"][0]
    wrong = (f"arn:aws:rds-db:{sandbox.region}:{sandbox.seeded['account_id']}:dbuser:"
             f"{db['DbiResourceId']}/{sandbox.app_user}")
    user = iam.create_user(UserName="d-client-app")["User"]
    iam.put_user_policy(UserName="d-client-app", PolicyName="connect", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "rds-db:connect",
                                                 "Resource": wrong}]}))
    report, _ = diagnose(sandbox_cli, "d-client", "--user", sandbox.app_user, "--principal",
                         user["Arn"], code=1)
    f = finding(report, "client.connect_permission")
    assert f["status"] == "FAIL" and "database's resource id" in f["title"]
    assert f["evidence"]["granted_instead"] == [wrong]
    assert f["evidence"]["resource"].split(":dbuser:")[1].startswith("prx-")
    assert ":dbuser:prx-" in f["remedy"] and wrong in f["remedy"]


def test_require_tls_off_with_iam_on(sandbox, sandbox_cli):
    sandbox.make_proxy("d-tls", require_tls=False, pool=HEALTHY_POOL)
    report, _ = diagnose(sandbox_cli, "d-tls", "--check", "proxy.tls", code=1)
    f = finding(report, "proxy.tls")
    assert f["status"] == "FAIL" and f["remedy"] == "rdsproxyctl modify d-tls --require-tls"


def test_max_connections_percent_100(sandbox, sandbox_cli):
    sandbox.make_proxy("d-pool", pool={"MaxConnectionsPercent": 100})
    report, out = diagnose(sandbox_cli, "d-pool", code=1)
    f = finding(report, "pool.max_connections")
    assert f["status"] == "FAIL"
    assert "rdsproxyctl pool d-pool --max-connections-percent 70" in f["remedy"]
    assert "pool.max_connections" in out.stderr


def test_markdown_report_for_an_incident(sandbox, sandbox_cli):
    sandbox.make_proxy("d-md", pool=HEALTHY_POOL)
    md = sandbox_cli("diagnose", "d-md", "-o", "markdown", code=None).stdout
    assert md.startswith("### d-md (") and "| proxy.status" in md
