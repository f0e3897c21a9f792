"""diagnose: each check in both states against moto (+ the project's extension)."""

from __future__ import annotations

import json

import pytest
from moto.core import set_initial_no_auth_action_count

from rdsproxyctl import motoext
from rdsproxyctl.core import aws as awsmod

from .conftest import ACCOUNT, REGION


def findings(cli, *args, code=None):
    out = cli("diagnose", "demo", "-o", "json", *args, code=code)
    return {f["id"]: f for f in out.json()[0]["findings"]}, out


def by_check(cli, check_id, *args):
    found, out = findings(cli, "--check", check_id, *args)
    return found[check_id], out


def allow_ingress(world):
    """Let the proxy's group reach db1's (default) group on 5432."""
    ec2 = world.aws.client("ec2")
    db = world.rds().describe_db_instances(DBInstanceIdentifier="db1")["DBInstances"][0]
    db_sg = db["VpcSecurityGroups"][0]["VpcSecurityGroupId"]
    ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": world.security_group}]}])
    return db_sg


def test_list_checks_and_unknown_ids(moto, cli):
    ids = [r["id"] for r in cli("diagnose", "--list-checks", "-o", "json").json()]
    assert "proxy.tls" in ids and "role.secret_access" in ids
    out = cli("diagnose", "demo", "--check", "no.such", code=2)
    assert "unknown check id(s): no.such" in out.stderr
    cli("diagnose", code=2)
    cli("diagnose", "demo", "--all", code=2)


def test_unknown_proxy_exits_3(moto, cli):
    cli("diagnose", "nope", code=3)


def test_json_report_shape(world, cli):
    world.make_proxy("demo")
    [data] = cli("diagnose", "demo", "-o", "json", code=None).json()  # one shape: a list
    assert data["proxy"] == "demo" and data["region"] == REGION
    assert set(data["counts"]) == {"PASS", "WARN", "FAIL", "SKIP"}
    f = data["findings"][0]
    assert set(f) == {"id", "area", "status", "title", "evidence", "remedy", "link"}
    areas = [f["area"] for f in data["findings"]]
    assert areas == sorted(areas, key=["proxy", "auth", "role", "client", "network",
                                       "targets", "pool", "logs", "connect"].index)


def test_proxy_status(world, cli):
    world.make_proxy("demo")
    assert by_check(cli, "proxy.status")[0]["status"] == "PASS"
    motoext.set_proxy_status(ACCOUNT, REGION, "demo", "incompatible-network")
    f, out = by_check(cli, "proxy.status")
    assert f["status"] == "FAIL" and "subnet" in f["evidence"]["meaning"]
    assert out.exit_code == 1 and "aws ec2 describe-subnets" in f["remedy"]


@pytest.mark.parametrize("iam, status", [("REQUIRED", "FAIL"), ("DISABLED", "WARN")])
def test_tls_off(world, cli, iam, status):
    world.make_proxy("demo", iam=iam, require_tls=False)
    f, _ = by_check(cli, "proxy.tls")
    assert f["status"] == status
    assert f["remedy"] == "rdsproxyctl modify demo --require-tls"


def test_tls_on_passes(world, cli):
    world.make_proxy("demo")
    f, out = by_check(cli, "proxy.tls")
    assert f["status"] == "PASS" and out.exit_code == 0


def test_debug_logging_and_idle_timeout(world, cli):
    world.make_proxy("demo", DebugLogging=True, IdleClientTimeout=30)
    assert by_check(cli, "proxy.debug_logging")[0]["status"] == "WARN"
    f, out = by_check(cli, "proxy.idle_client_timeout")
    assert f["status"] == "WARN" and out.exit_code == 0  # WARN does not fail by default
    _, out = findings(cli, "--check", "proxy.idle_client_timeout", "--fail-on", "warn")
    assert out.exit_code == 1


def pool(world, **config):
    world.rds().modify_db_proxy_target_group(DBProxyName="demo", TargetGroupName="default",
                                             ConnectionPoolConfig=config)


def test_pool_checks(world, cli):
    world.make_proxy("demo")
    f, _ = by_check(cli, "pool.max_connections")
    assert f["status"] == "FAIL" and "--max-connections-percent 70" in f["remedy"]
    pool(world, MaxConnectionsPercent=75, MaxIdleConnectionsPercent=40, ConnectionBorrowTimeout=0)
    assert by_check(cli, "pool.max_connections")[0]["status"] == "PASS"
    assert by_check(cli, "pool.max_idle")[0]["status"] == "PASS"
    assert by_check(cli, "pool.borrow_timeout")[0]["status"] == "WARN"


def test_targets(world, cli):
    world.make_proxy("demo", targets=False)
    f, _ = by_check(cli, "targets.health")
    assert f["status"] == "FAIL" and "targets add demo" in f["remedy"]
    world.rds().register_db_proxy_targets(DBProxyName="demo", DBInstanceIdentifiers=["db1"])
    motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "UNAVAILABLE", "AUTH_FAILURE",
                              "Proxy does not have any registered credentials")
    f, _ = by_check(cli, "targets.health")
    assert f["status"] == "FAIL" and "AUTH_FAILURE" in f["title"]
    assert "secret" in f["remedy"] and f["evidence"]["target"] == "db1"
    motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "AVAILABLE")
    assert by_check(cli, "targets.health")[0]["status"] == "PASS"


def test_secret_without_password_fails_without_printing_values(world, cli):
    sm = world.aws.client("secretsmanager")
    sm.put_secret_value(SecretId=world.secret_arn,
                        SecretString=json.dumps({"username": "app", "pwd": "hunter2"}))
    world.make_proxy("demo")
    f, out = by_check(cli, "auth.secrets")
    assert f["status"] == "FAIL" and "lacks password" in f["title"]
    assert "hunter2" not in out.stdout + out.stderr
    sm.put_secret_value(SecretId=world.secret_arn, SecretString="not json")
    assert "is not JSON" in by_check(cli, "auth.secrets")[0]["title"]


def test_deleted_secret_fails(world, cli):
    world.make_proxy("demo")
    world.aws.client("secretsmanager").delete_secret(SecretId=world.secret_arn,
                                                     ForceDeleteWithoutRecovery=True)
    f, _ = by_check(cli, "auth.secrets")
    assert f["status"] == "FAIL" and "does not exist" in f["title"]


def test_duplicate_users(world, cli):
    sm = world.aws.client("secretsmanager")
    second = sm.create_secret(Name="app-db-2", SecretString=json.dumps(
        {"username": "app", "password": "other"}))["ARN"]
    world.make_proxy("demo")
    auth = [{"AuthScheme": "SECRETS", "SecretArn": arn, "IAMAuth": "REQUIRED"}
            for arn in (world.secret_arn, second)]
    world.rds().modify_db_proxy(DBProxyName="demo", Auth=auth)
    f, _ = by_check(cli, "auth.duplicate_users")
    assert f["status"] == "FAIL" and "app" in f["title"]
    assert by_check(cli, "auth.entries")[0]["status"] == "PASS"


def test_end_to_end_iam_and_no_auth(world, cli):
    world.rds().create_db_proxy(DBProxyName="demo", EngineFamily="POSTGRESQL",
                                RoleArn=world.role_arn, VpcSubnetIds=world.subnets,
                                DefaultAuthScheme="IAM_AUTH", RequireTLS=True)
    assert by_check(cli, "auth.end_to_end_iam")[0]["status"] == "WARN"
    assert by_check(cli, "auth.entries")[0]["status"] == "PASS"
    assert by_check(cli, "auth.secrets")[0]["status"] == "SKIP"


def test_role_missing_and_untrusting(world, cli):
    iam = world.aws.client("iam")
    iam.create_role(RoleName="wrong-trust", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    world.make_proxy("demo")
    assert by_check(cli, "role.exists")[0]["status"] == "PASS"
    assert by_check(cli, "role.trust")[0]["status"] == "PASS"
    world.rds().modify_db_proxy(DBProxyName="demo",
                                RoleArn=f"arn:aws:iam::{ACCOUNT}:role/wrong-trust")
    f, _ = by_check(cli, "role.trust")
    assert f["status"] == "FAIL" and "rds.amazonaws.com" in f["remedy"]
    world.rds().modify_db_proxy(DBProxyName="demo", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/gone")
    assert by_check(cli, "role.exists")[0]["status"] == "FAIL"
    assert by_check(cli, "role.trust")[0]["status"] == "SKIP"


def test_subnets_in_one_az_fail(world, cli):
    ec2 = world.aws.client("ec2")
    vpc = ec2.describe_subnets(SubnetIds=world.subnets[:1])["Subnets"][0]
    extra = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="172.31.200.0/24",
                              AvailabilityZone=vpc["AvailabilityZone"])["Subnet"]["SubnetId"]
    world.rds().create_db_proxy(
        DBProxyName="demo", EngineFamily="POSTGRESQL", RoleArn=world.role_arn,
        VpcSubnetIds=[world.subnets[0], extra], RequireTLS=True,
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": world.secret_arn}])
    f, _ = by_check(cli, "network.subnets")
    assert f["status"] == "FAIL" and "one AZ" in f["title"]


def test_security_groups(world, cli):
    world.make_proxy("demo")
    f, _ = by_check(cli, "network.security_groups")
    assert f["status"] == "FAIL" and "no ingress" in f["title"]
    assert "authorize-security-group-ingress" in f["remedy"]
    allow_ingress(world)
    f, _ = by_check(cli, "network.security_groups")
    assert f["status"] == "PASS", f


def test_connect_check_skips_without_connect(world, cli):
    world.make_proxy("demo")
    f, _ = by_check(cli, "connect.smoke")
    assert f["status"] == "SKIP" and "--connect" in f["evidence"]["reason"]


def test_markdown_and_table_outputs(world, cli):
    world.make_proxy("demo")
    md = cli("diagnose", "demo", "-o", "markdown", code=None).stdout
    assert md.startswith("### demo (us-east-1)") and "| proxy.tls" in md
    table = cli("diagnose", "demo", code=None).stdout
    assert "proxy.status" in table and "PASS" in table


def test_all_proxies_share_lookups(world, cli):
    for name in ("a1", "a2", "a3"):
        world.make_proxy(name)
    calls: list[str] = []
    for service in ("ec2", "rds", "iam", "sts", "secretsmanager"):
        world.aws.client(service).meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(model.name))
    data = cli("diagnose", "--all", "-o", "json", code=None).json()
    assert [r["proxy"] for r in data] == ["a1", "a2", "a3"]
    for once in ("DescribeSubnets", "DescribeSecurityGroups", "DescribeDBInstances",
                 "DescribeDBProxies", "GetRole", "DescribeSecret", "GetSecretValue"):
        assert calls.count(once) == 1, (once, calls.count(once))


def test_all_proxies_tsv_is_one_row_per_finding_with_its_proxy(world, cli):
    for name in ("a1", "a2"):
        world.make_proxy(name)
    data = cli("diagnose", "--all", "-o", "json", code=None).json()
    out = cli("diagnose", "--all", "-o", "tsv", code=None)
    header, *rows = out.stdout.splitlines()
    assert header.split("\t") == ["proxy", "area", "status", "id", "title", "note", "remedy"]
    assert len(rows) == sum(len(r["findings"]) for r in data)  # not flattened key/value lines
    assert {row.split("\t")[0] for row in rows} == {"a1", "a2"}
    # a skipped check says why in the table too (not only in JSON)
    skipped = [row.split("\t") for row in rows if row.split("\t")[2] == "SKIP"]
    assert skipped and all(cells[5].startswith("skipped") for cells in skipped)
    # the failure line names the proxies
    failing = cli("diagnose", "--all", "--fail-on", "warn", "-o", "json", code=1)
    assert "a1: " in failing.stderr and "a2: " in failing.stderr
    assert cli("diagnose", "--all", "--fail-on", "none", "-o", "json", code=0)


@set_initial_no_auth_action_count(5)  # the set-up calls below run unauthenticated
def test_missing_permission_is_a_skip_naming_the_action(world, cli):
    world.make_proxy("demo")
    iam = world.aws.client("iam")
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="read-rds", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "rds:Describe*", "rds:ListTagsForResource", "ec2:Describe*", "iam:GetRole",
            "secretsmanager:DescribeSecret", "sts:GetCallerIdentity"]}]}))
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    awsmod.reset_cache()
    try:
        out = cli("diagnose", "demo", "--user", "app", "-o", "json", code=None,
                  env={"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                       "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
    finally:
        awsmod.reset_cache()
    found = {f["id"]: f for f in out.json()[0]["findings"]}
    secrets = found["auth.secrets"]
    assert secrets["status"] == "SKIP"
    assert secrets["evidence"]["missing_action"] == "secretsmanager:GetSecretValue"
    assert found["role.secret_access"]["status"] == "SKIP"
    assert "iam:SimulatePrincipalPolicy" in json.dumps(found["role.secret_access"])
    assert "Traceback" not in out.stderr


def put_log_lines(world, name, lines):
    logs = world.aws.client("logs")
    group = f"/aws/rds/proxy/{name}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    import time as _time

    now = int(_time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now - 1000 + i, "message": line} for i, line in enumerate(lines)])


def test_log_checks(world, cli):
    world.make_proxy("demo")
    for check_id in ("logs.auth_failures", "logs.pinning"):
        f, _ = by_check(cli, check_id)
        assert f["status"] == "SKIP" and "no traffic" in f["evidence"]["reason"]
    put_log_lines(world, "demo", [
        "2026-11-28T10:00:00.000Z [INFO] [proxyEndpoint=default] [clientConnection=1] "
        "A new client connected from 10.0.0.5:40000.",
        "2026-11-28T10:00:01.000Z [WARN] [proxyEndpoint=default] [clientConnection=1] "
        "Proxy authentication with IAM authentication failed for user \"app\" with TLS on. "
        "Reason: The IAM authentication token has expired.",
        "2026-11-28T10:00:02.000Z [WARN] [proxyEndpoint=default] [clientConnection=2] "
        "The client session was pinned to the database connection [dbConnection=7] for the "
        "remainder of the session. The proxy can't reuse this connection until the session "
        "ends. Reason: A parse message was detected.",
    ])
    f, out = by_check(cli, "logs.auth_failures")
    assert f["status"] == "FAIL" and out.exit_code == 1
    assert f["evidence"]["signatures"] == {"iam-auth-expired-token": 1}
    assert f["evidence"]["top_users"] == {"app": 1}
    assert "--signature iam-auth-expired-token" in f["remedy"]
    assert by_check(cli, "logs.credential_failures")[0]["status"] == "PASS"
    assert by_check(cli, "logs.borrow_timeouts")[0]["status"] == "PASS"
    f, _ = by_check(cli, "logs.pinning")
    assert f["status"] == "WARN" and f["evidence"]["pinned_sessions"] == 1
    assert f["evidence"]["client_connections"] == 1


def test_bad_since_is_a_usage_error(world, cli):
    world.make_proxy("demo")
    out = cli("diagnose", "demo", "--since", "yesterday-ish", code=2)
    assert "--since" in out.stderr


def test_diagnose_json_keys_are_documented(world, cli):
    from .test_json_docs import assert_documented

    world.make_proxy("demo")
    [data] = cli("diagnose", "demo", "-o", "json", code=None).json()
    assert_documented("diagnose", {k: v for k, v in data.items() if k != "findings"},
                      free_form=("counts",))
    for f in data["findings"]:
        assert_documented("diagnose", {k: v for k, v in f.items() if k != "evidence"})
    checks = cli("diagnose", "--list-checks", "-o", "json").json()
    assert_documented("diagnose", checks)
