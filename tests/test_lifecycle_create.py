"""`create`: the plan (--dry-run, exact, as JSON), the run, waiting, the role it makes."""

from __future__ import annotations

import json

import pytest

from rdsproxyctl import motoext

from .conftest import ACCOUNT, REGION

pytestmark = pytest.mark.usefixtures("instant_waits")


def create_args(world, *extra: str) -> list[str]:
    return ["create", "demo", "--engine", "postgresql", "--secret", world.secret_arn,
            "--create-role", "--subnets", ",".join(world.subnets), "--db-instance", "db1",
            "--max-connections-percent", "75", *extra]


def proxies(world) -> list[str]:
    return [p["DBProxyName"] for p in world.rds().describe_db_proxies()["DBProxies"]]


def roles(world) -> list[str]:
    return [r["RoleName"] for r in world.aws.client("iam").list_roles()["Roles"]]


def test_create_dry_run_prints_the_exact_plan_and_changes_nothing(world, cli, api_calls):
    out = cli(*create_args(world), "--dry-run", "-o", "json").json()
    assert api_calls.mutating == []
    assert proxies(world) == [] and "rds-proxy-demo" not in roles(world)
    assert out["dry_run"] is True and out["applied"] is False and out["no_changes"] is False
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/rds-proxy-demo"
    calls = out["calls"]
    assert [(c["service"], c["operation"]) for c in calls] == [
        ("iam", "CreateRole"), ("iam", "PutRolePolicy"), ("rds", "CreateDBProxy"),
        ("rds", "ModifyDBProxyTargetGroup"), ("rds", "RegisterDBProxyTargets")]
    assert calls[2]["params"] == {
        "DBProxyName": "demo", "EngineFamily": "POSTGRESQL", "RoleArn": role_arn,
        "VpcSubnetIds": world.subnets,
        "Auth": [{"AuthScheme": "SECRETS", "SecretArn": world.secret_arn,
                  "IAMAuth": "DISABLED"}],
        "RequireTLS": True}
    assert calls[2]["wait_after"] is True
    assert calls[3]["params"] == {"DBProxyName": "demo", "TargetGroupName": "default",
                                  "ConnectionPoolConfig": {"MaxConnectionsPercent": 75}}
    assert calls[4]["params"] == {"DBProxyName": "demo", "TargetGroupName": "default",
                                  "DBInstanceIdentifiers": ["db1"]}
    assert calls[0]["params"]["RoleName"] == "rds-proxy-demo"
    assert json.loads(calls[0]["params"]["AssumeRolePolicyDocument"]) == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"},
                       "Action": "sts:AssumeRole"}]}
    assert calls[1]["params"]["PolicyName"] == "rds-proxy-secrets"
    assert "s3cr3t-pw" not in json.dumps(out)
    changes = {(c["resource"], c["field"]): c["new"] for c in out["changes"]}
    assert changes[("target_group default", "max_connections_percent")] == 75
    assert changes[("target db1", "type")] == "instance"


def test_create_dry_run_table_lists_each_call(world, cli):
    out = cli(*create_args(world), "--dry-run")
    for op in ("iam:CreateRole", "iam:PutRolePolicy", "rds:CreateDBProxy",
               "rds:ModifyDBProxyTargetGroup", "rds:RegisterDBProxyTargets"):
        assert op in out.stdout
    assert "dry run" in out.stdout
    assert proxies(world) == []


def test_create_makes_role_proxy_and_target_waits_and_show_reflects_it(
        world, cli, monkeypatch):
    monkeypatch.setattr(motoext.settings, "TRANSITION_READS", 2)
    out = cli(*create_args(world, "--idle-client-timeout", "900", "--iam-auth", "required",
                           "--client-password-auth-type", "POSTGRES_SCRAM_SHA_256",
                           "--tag", "team=db", "--security-groups", world.security_group,
                           "--max-idle-connections-percent", "30", "--borrow-timeout", "60",
                           "--init-query", "SET TIME ZONE 'UTC'"))
    # waited visibly: one line per state change on stderr (no terminal here)
    assert "demo: creating" in out.stderr
    assert "demo: available, targets registered" in out.stderr
    assert "demo is available at demo.proxy-" in out.stderr
    shown = cli("show", "demo", "-o", "json").json()
    p = shown["proxy"]
    assert p["engine_family"] == "POSTGRESQL"
    assert p["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/rds-proxy-demo"
    assert p["subnet_ids"] == world.subnets
    assert p["security_group_ids"] == [world.security_group]
    assert p["require_tls"] is True and p["debug_logging"] is False
    assert p["idle_client_timeout"] == 900
    assert p["auth"] == [{"auth_scheme": "SECRETS", "secret_arn": world.secret_arn,
                          "iam_auth": "REQUIRED",
                          "client_password_auth_type": "POSTGRES_SCRAM_SHA_256",
                          "description": None, "user_name": None}]
    assert shown["target_group"]["pool"] == {
        "max_connections_percent": 75, "max_idle_connections_percent": 30,
        "connection_borrow_timeout": 60, "session_pinning_filters": [],
        "init_query": "SET TIME ZONE 'UTC'"}
    assert [t["rds_resource_id"] for t in shown["targets"]] == ["db1"]
    assert shown["tags"] == {"team": "db"}
    # the role: trusted by RDS, reading exactly that secret, nothing else
    iam = world.aws.client("iam")
    role = iam.get_role(RoleName="rds-proxy-demo")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"] == [{"Effect": "Allow",
                                   "Principal": {"Service": "rds.amazonaws.com"},
                                   "Action": "sts:AssumeRole"}]
    assert iam.list_role_policies(RoleName="rds-proxy-demo")["PolicyNames"] == [
        "rds-proxy-secrets"]
    doc = iam.get_role_policy(RoleName="rds-proxy-demo",
                              PolicyName="rds-proxy-secrets")["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    assert doc["Version"] == "2012-10-17"
    assert len(doc["Statement"]) == 1  # the AWS-managed key needs no kms:Decrypt
    statement = doc["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Resource"] == [world.secret_arn]


def test_create_role_decrypts_customer_managed_keys_only_via_secrets_manager(world, cli):
    kms = world.aws.client("kms")
    key = kms.create_key(Description="proxy secrets")["KeyMetadata"]
    kms.create_alias(AliasName="alias/proxy-secrets", TargetKeyId=key["KeyId"])
    sm = world.aws.client("secretsmanager")
    cmk_secret = sm.create_secret(
        Name="cmk-db", KmsKeyId="alias/proxy-secrets",
        SecretString=json.dumps({"username": "u", "password": "p"}))["ARN"]
    out = cli("create", "demo", "--secret", world.secret_arn, "--secret", cmk_secret,
              "--create-role", "--subnets", ",".join(world.subnets), "--dry-run",
              "-o", "json").json()
    put = next(c for c in out["calls"] if c["operation"] == "PutRolePolicy")
    doc = json.loads(put["params"]["PolicyDocument"])
    secrets, decrypt = doc["Statement"]
    assert secrets["Action"] == "secretsmanager:GetSecretValue"
    assert secrets["Resource"] == sorted([world.secret_arn, cmk_secret])
    assert decrypt["Effect"] == "Allow"
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Resource"] == [key["Arn"]]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}


def test_create_existing_proxy_fails_clearly_or_succeeds_with_if_not_exists(
        world, cli, api_calls):
    world.make_proxy("demo")
    api_calls.clear()
    args = ["create", "demo", "--secret", world.secret_arn, "--role", world.role_arn,
            "--subnets", ",".join(world.subnets)]
    out = cli(*args, code=2)
    assert "error: a proxy named demo already exists in us-east-1" in out.stderr
    assert "--if-not-exists" in out.stderr
    assert api_calls.mutating == []
    out = cli(*args, "--if-not-exists")
    assert "already exists: nothing to do" in out.stderr
    assert "no changes" in out.stderr
    assert api_calls.mutating == []


def test_create_with_existing_role_uses_it(world, cli):
    cli("create", "demo", "--secret", world.secret_arn, "--role", world.role_arn,
        "--subnets", ",".join(world.subnets), "--no-wait")
    proxy = world.rds().describe_db_proxies(DBProxyName="demo")["DBProxies"][0]
    assert proxy["RoleArn"] == world.role_arn
    assert proxy["RequireTLS"] is True


def test_create_role_refuses_an_existing_role_name(world, cli, api_calls):
    out = cli("create", "demo", "--secret", world.secret_arn, "--create-role",
              "--role-name", "rds-proxy-role", "--subnets", ",".join(world.subnets), code=2)
    assert "IAM role rds-proxy-role already exists" in out.stderr
    assert api_calls.mutating == [] and proxies(world) == []


def test_create_warnings_go_to_stderr_without_secret_values(world, cli):
    sm = world.aws.client("secretsmanager")
    partial = sm.create_secret(Name="partial",
                               SecretString=json.dumps({"username": "app",
                                                        "pass": "hunter2-value"}))["ARN"]
    out = cli("create", "demo", "--secret", partial, "--role", world.role_arn,
              "--subnets", ",".join(world.subnets), "--max-connections-percent", "100",
              "--debug-logging", "--dry-run")
    err = out.stderr
    assert "warning: MaxConnectionsPercent 100" in err and "headroom" in err
    assert "warning: debug logging writes SQL statements" in err
    assert f"warning: secret {partial} lacks password" in err
    assert "hunter2-value" not in err + out.stdout


def test_create_without_wait_returns_at_once(world, cli, monkeypatch, api_calls):
    monkeypatch.setattr(motoext.settings, "TRANSITION_READS", 50)
    out = cli("create", "demo", "--secret", world.secret_arn, "--role", world.role_arn,
              "--subnets", ",".join(world.subnets), "--no-wait", "-o", "json")
    assert out.json()["applied"] is True and out.json()["after"] is None
    assert api_calls.operations("rds").count("DescribeDBProxies") == 1  # the exists check
    assert "not waited" in out.stderr


def test_wait_ending_in_incompatible_network_exits_1_with_meaning(world, cli, monkeypatch):
    monkeypatch.setattr(motoext.settings, "TRANSITION_READS", 0)
    world.make_proxy("demo", targets=False)
    motoext.set_proxy_status(ACCOUNT, REGION, "demo", "incompatible-network", reads=5)
    out = cli("targets", "add", "demo", "--db-instance", "db1", "--wait", code=1)
    assert "error: proxy demo is incompatible-network: RDS Proxy cannot work in the network" \
        in out.stderr
    assert "hint:" in out.stderr and "subnets" in out.stderr


def test_wait_timeout_exits_1_and_says_the_change_goes_on(world, cli, monkeypatch):
    monkeypatch.setattr(motoext.settings, "TRANSITION_READS", 10_000)
    out = cli("create", "demo", "--secret", world.secret_arn, "--role", world.role_arn,
              "--subnets", ",".join(world.subnets), "--timeout", "0.05", code=1)
    assert "timed out after 0s waiting for proxy demo to be available (still creating)" \
        in out.stderr
    assert "rdsproxyctl show demo" in out.stderr
    assert proxies(world) == ["demo"]  # created; only the wait gave up


def test_create_warns_before_any_change_about_what_diagnose_would_fail(world, cli, api_calls):
    """MaxConnectionsPercent 100, and a target whose security groups let the proxy in on no
    port: warned about (as diagnose's FAIL) in the plan, before any mutating call."""
    ec2, rds = world.aws.client("ec2"), world.rds()
    vpc = ec2.describe_security_groups(GroupIds=[world.security_group])["SecurityGroups"][0]["VpcId"]
    closed = ec2.create_security_group(GroupName="db-closed", Description="db",
                                       VpcId=vpc)["GroupId"]
    rds.create_db_instance(DBInstanceIdentifier="db2", Engine="postgres",
                           DBInstanceClass="db.t3.micro", MasterUsername="postgres",
                           MasterUserPassword="password123", AllocatedStorage=20,
                           VpcSecurityGroupIds=[closed])
    args = ["create", "demo", "--secret", world.secret_arn, "--role", world.role_arn,
            "--subnets", ",".join(world.subnets), "--security-groups", world.security_group,
            "--db-instance", "db2", "--dry-run"]
    api_calls.clear()
    out = cli(*args, "--max-connections-percent", "100")
    assert "FAILs pool.max_connections" in out.stderr
    assert ("db2's security groups (" + closed + ") allow no ingress on port 5432") in out.stderr
    assert "FAILs network.security_groups" in out.stderr
    assert api_calls.mutating == []
    # opened to the proxy's group: no network warning
    ec2.authorize_security_group_ingress(GroupId=closed, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": world.security_group}]}])
    assert "network.security_groups" not in cli(*args).stderr
