"""`iam enable|disable|status|policy` and `modify` of auth entries."""

from __future__ import annotations

import json

import pytest

from .conftest import ACCOUNT, REGION

pytestmark = pytest.mark.usefixtures("instant_waits")


@pytest.fixture
def two_users(world):
    """Proxy demo with two auth entries, IAM off, TLS on."""
    other = world.aws.client("secretsmanager").create_secret(
        Name="reporting", SecretString=json.dumps({"username": "r", "password": "p"}))["ARN"]
    world.make_proxy("demo", iam="DISABLED")
    world.rds().modify_db_proxy(DBProxyName="demo", Auth=[
        {"AuthScheme": "SECRETS", "SecretArn": world.secret_arn, "IAMAuth": "DISABLED",
         "ClientPasswordAuthType": "POSTGRES_SCRAM_SHA_256"},
        {"AuthScheme": "SECRETS", "SecretArn": other, "IAMAuth": "DISABLED"}])
    world.other_secret = other
    return world


def test_iam_enable_then_status_shows_required_on_every_entry(two_users, cli, api_calls):
    out = cli("iam", "enable", "demo", "--yes", "-o", "json").json()
    assert [c["operation"] for c in out["calls"]] == ["ModifyDBProxy"]
    # before and after, per entry
    assert sorted((c["field"], c["old"], c["new"]) for c in out["changes"]) == [
        ("iam_auth", "DISABLED", "REQUIRED"), ("iam_auth", "DISABLED", "REQUIRED")]
    # the other fields of each entry were kept
    auth = out["calls"][0]["params"]["Auth"]
    assert auth[0]["ClientPasswordAuthType"] == "POSTGRES_SCRAM_SHA_256"
    status = cli("iam", "status", "demo", "-o", "json").json()
    assert [a["iam_auth"] for a in status["auth"]] == ["REQUIRED", "REQUIRED"]
    assert status["iam_auth"] == "REQUIRED" and status["require_tls"] is True
    table = cli("iam", "status", "demo").stdout
    assert table.count("REQUIRED") >= 3  # the summary and both entries
    api_calls.clear()
    again = cli("iam", "enable", "demo", "--yes")
    assert "no changes" in again.stderr and api_calls.mutating == []


def test_iam_enable_without_tls_warns_that_iam_needs_tls(world, cli):
    world.make_proxy("demo", iam="DISABLED", require_tls=False)
    out = cli("iam", "enable", "demo", "--yes")
    assert "warning: IAM authentication needs TLS but demo does not require it" in out.stderr
    assert "rdsproxyctl modify demo --require-tls" in out.stderr


def test_iam_disable_sets_disabled_and_shows_before_after(two_users, cli):
    cli("iam", "enable", "demo", "--yes")
    out = cli("iam", "disable", "demo", "--yes")
    assert out.stdout.count("REQUIRED") == 2 and out.stdout.count("DISABLED") == 2
    status = cli("iam", "status", "demo", "-o", "json").json()
    assert {a["iam_auth"] for a in status["auth"]} == {"DISABLED"}


def test_iam_enable_enabled_on_sql_server(world, cli):
    world.make_proxy("mssql", engine="SQLSERVER", iam="DISABLED", targets=False)
    cli("iam", "enable", "mssql", "--mode", "enabled", "--yes")
    status = cli("iam", "status", "mssql", "-o", "json").json()
    assert [a["iam_auth"] for a in status["auth"]] == ["ENABLED"]


def test_iam_policy_prints_the_exact_connect_policy(world, cli):
    proxy = world.make_proxy("demo")
    prx = proxy["DBProxyArn"].rsplit(":", 1)[-1]
    assert prx.startswith("prx-")
    out = cli("iam", "policy", "demo", "--user", "app")
    doc = json.loads(out.stdout)
    assert doc["Version"] == "2012-10-17"
    assert len(doc["Statement"]) == 1
    statement = doc["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "rds-db:connect"
    assert statement["Resource"] == f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:{prx}/app"
    many = json.loads(cli("iam", "policy", "demo", "--user", "app", "--user", "*").stdout)
    assert many["Statement"][0]["Resource"] == [
        f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:{prx}/app",
        f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:{prx}/*"]
    assert out.stderr == ""


def test_iam_policy_attaches_inline_to_a_role_or_user(world, cli):
    world.make_proxy("demo")
    iam = world.aws.client("iam")
    iam.create_user(UserName="ci")
    printed = json.loads(cli("iam", "policy", "demo", "--user", "app",
                             "--attach-to-role", world.role_arn).stdout)
    stored = iam.get_role_policy(RoleName="rds-proxy-role",
                                 PolicyName="rds-proxy-connect-demo")["PolicyDocument"]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored == printed
    cli("iam", "policy", "demo", "--user", "*", "--attach-to-user", "ci",
        "--policy-name", "connect")
    stored = iam.get_user_policy(UserName="ci", PolicyName="connect")["PolicyDocument"]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored["Statement"][0]["Resource"].endswith("/*")


def test_iam_policy_attach_dry_run_and_missing_principal(world, cli, api_calls):
    world.make_proxy("demo")
    api_calls.clear()
    plan = cli("iam", "policy", "demo", "--user", "app", "--attach-to-role", "rds-proxy-role",
               "--dry-run", "-o", "json").json()
    assert [(c["operation"], c["params"]["RoleName"], c["params"]["PolicyName"])
            for c in plan["calls"]] == [("PutRolePolicy", "rds-proxy-role",
                                         "rds-proxy-connect-demo")]
    assert json.loads(plan["calls"][0]["params"]["PolicyDocument"])["Statement"][0]["Action"] \
        == "rds-db:connect"
    assert api_calls.mutating == []
    out = cli("iam", "policy", "demo", "--user", "app", "--attach-to-role", "nobody", code=2)
    assert "error: IAM role nobody does not exist" in out.stderr
    assert api_calls.mutating == []


def test_iam_policy_for_a_missing_proxy_is_not_found(moto, cli):
    out = cli("iam", "policy", "ghost", "--user", "app", code=3)
    assert "proxy ghost not found in us-east-1" in out.stderr


def test_modify_adds_and_removes_secrets_and_keeps_other_fields(two_users, cli):
    third = two_users.aws.client("secretsmanager").create_secret(
        Name="third", SecretString=json.dumps({"username": "t", "password": "p"}))["ARN"]
    out = cli("modify", "demo", "--yes", "--add-secret", third, "--remove-secret",
              two_users.other_secret, "--idle-client-timeout", "600", "-o", "json").json()
    params = out["calls"][0]["params"]
    assert [a["SecretArn"] for a in params["Auth"]] == [two_users.secret_arn, third]
    assert params["IdleClientTimeout"] == 600
    p = cli("show", "demo", "-o", "json").json()["proxy"]
    assert [a["secret_arn"] for a in p["auth"]] == [two_users.secret_arn, third]
    assert p["auth"][0]["client_password_auth_type"] == "POSTGRES_SCRAM_SHA_256"
    assert p["idle_client_timeout"] == 600


def test_modify_rename_tls_debug_logging_end_to_end(world, cli):
    world.make_proxy("demo", iam="REQUIRED")
    out = cli("modify", "demo", "--yes", "--new-name", "demo-blue", "--no-require-tls",
              "--debug-logging", "--end-to-end-iam")
    assert "warning: debug logging writes SQL statements" in out.stderr
    assert "warning: IAM authentication needs TLS but demo-blue does not require it" in out.stderr
    assert "demo-blue is available" in out.stderr
    p = cli("show", "demo-blue", "-o", "json").json()["proxy"]
    assert (p["require_tls"], p["debug_logging"], p["default_auth_scheme"]) == (
        False, True, "IAM_AUTH")
    cli("show", "demo", code=3)


def test_modify_cannot_remove_the_last_secret(world, cli, api_calls):
    world.make_proxy("demo")
    api_calls.clear()
    out = cli("modify", "demo", "--remove-secret", world.secret_arn, code=2)
    assert "would have no auth entry left" in out.stderr
    assert api_calls.mutating == []
