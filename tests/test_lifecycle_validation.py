"""Every bad value is refused before any change: exit 2, one clear line, nothing changed.

Values that need no look-up are refused before any API call at all (the api_calls
fixture counts every call the factory's clients make); values that need a look-up
(subnets' zones, secrets, the target, the proxy's engine or current pool) are refused
after read-only calls and before any mutating one.
"""

from __future__ import annotations

import pytest

from .conftest import REGION

pytestmark = pytest.mark.usefixtures("instant_waits")


def error_line(out) -> str:
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    # one clear line (and maybe its hint), no traceback, no usage box
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), out.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def base_args(world) -> list[str]:
    return ["--secret", world.secret_arn, "--role", world.role_arn,
            "--subnets", ",".join(world.subnets)]


CREATE_BAD_VALUES = [
    # (extra args, name, expected fragment of the one line)
    ([], "1demo", "proxy name '1demo' is not valid"),
    ([], "demo-", "proxy name 'demo-' is not valid"),
    ([], "de--mo", "proxy name 'de--mo' is not valid"),
    ([], "x" * 64, "is not valid: use 1-63 letters"),
    ([], "demo_1", "proxy name 'demo_1' is not valid"),
    (["--idle-client-timeout", "0"], "demo", "idle client timeout (seconds) must be an integer from 1 to 28800"),
    (["--idle-client-timeout", "28801"], "demo", "from 1 to 28800, got 28801"),
    (["--max-connections-percent", "0"], "demo", "max connections percent must be an integer from 1 to 100"),
    (["--max-connections-percent", "101"], "demo", "from 1 to 100, got 101"),
    (["--max-idle-connections-percent", "101"], "demo", "max idle connections percent"),
    (["--max-connections-percent", "50", "--max-idle-connections-percent", "60"], "demo",
     "max idle connections percent (at most max connections percent, 50) must be an integer "
     "from 0 to 50, got 60"),
    (["--max-idle-connections-percent", "-1"], "demo", "from 0 to 100, got -1"),
    (["--borrow-timeout", "301"], "demo", "connection borrow timeout (seconds) must be an integer from 0 to 300"),
    (["--borrow-timeout", "-1"], "demo", "'-1' is not a duration"),
    (["--client-password-auth-type", "MYSQL_NATIVE_PASSWORD"], "demo",
     "client password auth type 'MYSQL_NATIVE_PASSWORD' does not fit a POSTGRESQL proxy"),
    (["--engine", "mysql", "--client-password-auth-type", "POSTGRES_MD5"], "demo",
     "does not fit a MYSQL proxy: use MYSQL_CACHING_SHA2_PASSWORD or MYSQL_NATIVE_PASSWORD"),
    (["--client-password-auth-type", "PLAIN"], "demo", "'PLAIN' does not fit"),
    (["--iam-auth", "enabled"], "demo", "IAM auth ENABLED exists only for SQL Server proxies"),
    (["--iam-auth", "sometimes"], "demo", "IAM auth 'sometimes' is not one of required, disabled"),
    (["--session-pinning-filter", "EXCLUDE_VARIABLE_SETS"], "demo",
     "session pinning filters exist only for MySQL proxies, not POSTGRESQL"),
    (["--engine", "mysql", "--session-pinning-filter", "EVERYTHING"], "demo",
     "session pinning filter 'EVERYTHING' is not valid"),
    (["--engine", "oracle"], "demo", "engine 'oracle' is not one of postgresql, mysql, sqlserver"),
    (["--tag", "novalue"], "demo", "tag 'novalue' is not KEY=VALUE"),
    (["--tag", "aws:x=1"], "demo", "reserved by AWS"),
    (["--db-instance", "db1", "--db-cluster", "c1"], "demo", "pass one of --db-instance and --db-cluster"),
    (["--create-role"], "demo", "pass either --role ARN or --create-role, not both"),
    (["--role-name", "r"], "demo", "--role-name goes with --create-role"),
]


@pytest.mark.parametrize("extra,name,expected", CREATE_BAD_VALUES,
                         ids=[f"{n}:{' '.join(e)}" for e, n, _ in CREATE_BAD_VALUES])
def test_create_bad_value_fails_before_any_api_call(world, cli, api_calls, extra, name,
                                                    expected):
    out = cli("create", name, *base_args(world), *extra, code=2)
    assert expected in error_line(out)
    assert api_calls.calls == []
    assert world.rds().describe_db_proxies()["DBProxies"] == []


STATIC_ONLY = [
    (["--subnets", "subnet-only-one"], "at least two subnets in different Availability Zones; got 1"),
    (["--secret", "not-an-arn"], "'not-an-arn' is not a Secrets Manager secret ARN"),
    (["--role", "arn:aws:iam::123:role/x"], "is not an IAM role ARN"),
]


@pytest.mark.parametrize("override,expected", STATIC_ONLY, ids=[o[0] for o, _ in STATIC_ONLY])
def test_create_bad_network_or_arn_fails_before_any_api_call(world, cli, api_calls, override,
                                                             expected):
    args = dict(zip(base_args(world)[::2], base_args(world)[1::2]))
    args[override[0]] = override[1]
    flat = [x for pair in args.items() for x in pair]
    out = cli("create", "demo", *flat, code=2)
    assert expected in error_line(out)
    assert api_calls.calls == []


def test_create_without_secret_or_role_fails_before_any_api_call(world, cli, api_calls):
    out = cli("create", "demo", "--role", world.role_arn, "--subnets", ",".join(world.subnets),
              code=2)
    assert "needs at least one secret" in error_line(out)
    out = cli("create", "demo", "--secret", world.secret_arn, "--subnets",
              ",".join(world.subnets), code=2)
    assert "a proxy needs an IAM role: pass --role ARN or --create-role" in error_line(out)
    assert api_calls.calls == []


def test_create_end_to_end_iam_needs_no_secret(world, cli):
    out = cli("create", "demo", "--end-to-end-iam", "--role", world.role_arn, "--subnets",
              ",".join(world.subnets), "--dry-run", "-o", "json").json()
    params = out["calls"][0]["params"]
    assert params["DefaultAuthScheme"] == "IAM_AUTH" and "Auth" not in params


# -- look-ups: read-only calls, then refused ---------------------------------------------------
def test_subnets_in_one_availability_zone_are_refused(world, cli, api_calls):
    ec2 = world.aws.client("ec2")
    first = ec2.describe_subnets(SubnetIds=[world.subnets[0]])["Subnets"][0]
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    same_az = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24",
                                 AvailabilityZone=first["AvailabilityZone"])["Subnet"]["SubnetId"]
               for i in (1, 2)]
    api_calls.clear()
    out = cli("create", "demo", "--secret", world.secret_arn, "--role", world.role_arn,
              "--subnets", ",".join(same_az), code=2)
    assert f"are all in {first['AvailabilityZone']}: RDS Proxy needs subnets in at least two " \
        "Availability Zones" in error_line(out)
    assert api_calls.mutating == []
    assert ("rds", "CreateDBProxy") not in api_calls.calls


def test_subnet_that_does_not_exist_is_refused(world, cli, api_calls):
    out = cli("create", "demo", "--secret", world.secret_arn, "--role", world.role_arn,
              "--subnets", f"{world.subnets[0]},subnet-0000000000000dead", code=2)
    assert "subnet subnet-0000000000000dead does not exist in us-east-1" in error_line(out)
    assert api_calls.mutating == []


def test_subnets_in_two_vpcs_are_refused(world, cli, api_calls):
    ec2 = world.aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24",
                              AvailabilityZone=f"{REGION}f")["Subnet"]["SubnetId"]
    api_calls.clear()
    out = cli("create", "demo", "--secret", world.secret_arn, "--role", world.role_arn,
              "--subnets", f"{world.subnets[0]},{other}", code=2)
    assert "must be in one VPC" in error_line(out)
    assert api_calls.mutating == []


def test_secret_that_does_not_exist_is_refused(world, cli, api_calls):
    missing = world.secret_arn.rsplit(":", 1)[0] + ":gone-AbCdEf"
    out = cli("create", "demo", "--secret", missing, "--role", world.role_arn,
              "--subnets", ",".join(world.subnets), code=2)
    assert f"secret {missing} does not exist in Secrets Manager" in error_line(out)
    assert api_calls.mutating == []


def test_target_that_does_not_exist_or_runs_another_engine_is_refused(world, cli, api_calls):
    out = cli("create", "demo", *base_args(world), "--db-instance", "nope", code=2)
    assert "DB instance nope does not exist in us-east-1" in error_line(out)
    world.rds().create_db_instance(DBInstanceIdentifier="my1", Engine="mysql",
                                   DBInstanceClass="db.t3.micro", MasterUsername="admin",
                                   MasterUserPassword="password123", AllocatedStorage=20)
    api_calls.clear()
    out = cli("create", "demo", *base_args(world), "--db-instance", "my1", code=2)
    assert "my1 runs mysql: a POSTGRESQL proxy cannot use it as a target" in error_line(out)
    assert api_calls.mutating == []
    assert world.rds().describe_db_proxies()["DBProxies"] == []


# -- modify, pool, iam, targets, endpoints: the same rules ------------------------------------------
@pytest.fixture
def demo(world):
    world.make_proxy("demo")
    return world


MODIFY_STATIC = [
    (["--idle-client-timeout", "0"], "idle client timeout (seconds) must be an integer from 1 to 28800"),
    (["--new-name", "-bad"], "new proxy name '-bad' is not valid"),
    (["--iam-auth", "maybe"], "IAM auth 'maybe' is not one of"),
    (["--add-secret", "nope"], "'nope' is not a Secrets Manager secret ARN"),
    (["--role", "role/x"], "is not an IAM role ARN"),
    (["--security-groups", ","], "--security-groups needs at least one security group id"),
    ([], "nothing to change"),
]


@pytest.mark.parametrize("extra,expected", MODIFY_STATIC, ids=[" ".join(e) for e, _ in MODIFY_STATIC])
def test_modify_bad_value_fails_before_any_api_call(demo, cli, api_calls, extra, expected):
    out = cli("modify", "demo", *extra, code=2)
    assert expected in error_line(out)
    assert api_calls.calls == []


MODIFY_AFTER_LOOKUP = [
    (["--iam-auth", "enabled"], "IAM auth ENABLED exists only for SQL Server proxies"),
    (["--client-password-auth-type", "SQL_SERVER_AUTHENTICATION"], "does not fit a POSTGRESQL proxy"),
]


@pytest.mark.parametrize("extra,expected", MODIFY_AFTER_LOOKUP,
                         ids=[" ".join(e) for e, _ in MODIFY_AFTER_LOOKUP])
def test_modify_engine_checks_fail_before_any_change(demo, cli, api_calls, extra, expected):
    out = cli("modify", "demo", *extra, code=2)
    assert expected in error_line(out)
    assert api_calls.mutating == []
    auth = demo.rds().describe_db_proxies(DBProxyName="demo")["DBProxies"][0]["Auth"]
    assert auth[0]["IAMAuth"] == "REQUIRED"


POOL_STATIC = [
    (["--max-connections-percent", "0"], "max connections percent must be an integer from 1 to 100"),
    (["--max-connections-percent", "40", "--max-idle-connections-percent", "41"],
     "at most max connections percent, 40"),
    (["--max-idle-connections-percent", "101"], "from 0 to 100, got 101"),
    (["--borrow-timeout", "301"], "from 0 to 300, got 301"),
    (["--session-pinning-filter", "NOPE"], "session pinning filter 'NOPE' is not valid"),
    ([], "nothing to change"),
]


@pytest.mark.parametrize("extra,expected", POOL_STATIC, ids=[" ".join(e) for e, _ in POOL_STATIC])
def test_pool_bad_value_fails_before_any_api_call(demo, cli, api_calls, extra, expected):
    out = cli("pool", "demo", *extra, code=2)
    assert expected in error_line(out)
    assert api_calls.calls == []


def test_pool_values_that_depend_on_the_proxy_fail_before_any_change(demo, cli, api_calls):
    out = cli("pool", "demo", "--session-pinning-filter", "EXCLUDE_VARIABLE_SETS", code=2)
    assert "session pinning filters exist only for MySQL proxies" in error_line(out)
    demo.rds().modify_db_proxy_target_group(
        DBProxyName="demo", TargetGroupName="default",
        ConnectionPoolConfig={"MaxConnectionsPercent": 40, "MaxIdleConnectionsPercent": 20})
    api_calls.clear()
    out = cli("pool", "demo", "--max-idle-connections-percent", "45", code=2)
    assert "max idle connections percent (at most max connections percent, 40)" in error_line(out)
    assert api_calls.mutating == []


def test_iam_enabled_outside_sql_server_is_refused(demo, cli, api_calls):
    out = cli("iam", "enable", "demo", "--mode", "enabled", code=2)
    assert "IAM auth ENABLED exists only for SQL Server proxies" in error_line(out)
    out = cli("iam", "enable", "demo", "--mode", "always", code=2)
    assert "IAM mode 'always' is not one of required, enabled" in error_line(out)
    assert api_calls.mutating == []


def test_iam_policy_bad_user_and_missing_user(demo, cli, api_calls):
    out = cli("iam", "policy", "demo", code=2)
    assert "pass --user USER" in error_line(out)
    out = cli("iam", "policy", "demo", "--user", "a/b", code=2)
    assert "database user 'a/b' is not valid" in error_line(out)
    assert api_calls.calls == []


def test_targets_need_exactly_one_database(demo, cli, api_calls):
    out = cli("targets", "add", "demo", code=2)
    assert "pass exactly one of --db-instance ID and --db-cluster ID" in error_line(out)
    out = cli("targets", "remove", "demo", "--db-instance", "a", "--db-cluster", "b", code=2)
    assert "pass exactly one of" in error_line(out)
    assert api_calls.calls == []


ENDPOINT_STATIC = [
    (["demo", "ro_1"], "endpoint name 'ro_1' is not valid"),
    (["demo", "default"], "`default` is the proxy's own endpoint"),
    (["demo", "ro", "--target-role", "reader"], "endpoint role 'reader' is not one of read-write, read-only"),
    (["demo", "ro", "--subnets", "subnet-1"], "endpoint ro needs at least two subnets"),
    (["bad-", "ro"], "proxy name 'bad-' is not valid"),
]


@pytest.mark.parametrize("args,expected", ENDPOINT_STATIC, ids=[" ".join(a) for a, _ in ENDPOINT_STATIC])
def test_endpoint_bad_value_fails_before_any_api_call(demo, cli, api_calls, args, expected):
    out = cli("endpoints", "create", *args, code=2)
    assert expected in error_line(out)
    assert api_calls.calls == []


def test_bad_timeout_and_poll_interval(demo, cli, api_calls, monkeypatch):
    out = cli("pool", "demo", "--borrow-timeout", "30", "--timeout", "0", code=2)
    assert "--timeout must be more than zero and at most a week" in error_line(out)
    monkeypatch.setenv("RDSPROXYCTL_POLL_INTERVAL", "soon")
    out = cli("pool", "demo", "--borrow-timeout", "30", code=2)
    assert "RDSPROXYCTL_POLL_INTERVAL='soon' is not a number of seconds" in error_line(out)
    for bad in ("inf", "nan", "-1"):
        monkeypatch.setenv("RDSPROXYCTL_POLL_INTERVAL", bad)
        out = cli("pool", "demo", "--borrow-timeout", "30", code=2)
        assert "is not a number of seconds" in error_line(out)
    monkeypatch.delenv("RDSPROXYCTL_POLL_INTERVAL")
    for bad in ("inf", "nan", "1e309", "1e9"):
        cli("pool", "demo", "--borrow-timeout", "30", "--timeout", bad, code=2)
    assert api_calls.mutating == []
