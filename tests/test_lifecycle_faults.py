"""AWS faults of creating and changing proxies: clear messages and exit codes.

End to end through moto where moto (with the extension) raises the fault; through
the one table (``translate``) for faults only real AWS raises (insufficient IPs,
access denied), with errors shaped as botocore raises them.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from rdsproxyctl import motoext
from rdsproxyctl.core import lifecycle
from rdsproxyctl.core.awserrors import translate
from rdsproxyctl.core.plan import execute
from rdsproxyctl.errors import AccessDenied, ExitCode, UsageError

from .conftest import ACCOUNT, REGION

pytestmark = pytest.mark.usefixtures("instant_waits")


def test_quota_exceeded_exits_1_naming_the_quota(world, cli, monkeypatch):
    world.make_proxy("first", targets=False)
    monkeypatch.setenv("MOTO_RDS_PROXY_LIMIT", "1")
    out = cli("create", "second", "--secret", world.secret_arn, "--role", world.role_arn,
              "--subnets", ",".join(world.subnets), code=1)
    assert "error: the account already has the most proxies allowed in us-east-1" in out.stderr
    assert "Service Quotas" in out.stderr


def test_invalid_state_exits_1_and_says_to_wait(world, cli):
    world.make_proxy("demo", targets=False)
    motoext.set_proxy_status(ACCOUNT, REGION, "demo", "modifying")
    out = cli("modify", "demo", "--idle-client-timeout", "60", "--no-wait", code=1)
    assert "error: proxy demo cannot take ModifyDBProxy in its current state" in out.stderr
    assert "wait until `rdsproxyctl show demo` says available" in out.stderr


def test_rename_to_a_taken_name_exits_2(world, cli):
    world.make_proxy("demo", targets=False)
    world.make_proxy("other", targets=False)
    out = cli("modify", "demo", "--new-name", "other", code=2)
    assert "error: a proxy with that name already exists in us-east-1" in out.stderr


def test_target_registered_meanwhile_exits_2(world, cli, aws):
    world.make_proxy("demo", targets=False)
    plan = lifecycle.targets_plan(aws, "demo", add=True, instance="db1")
    world.rds().register_db_proxy_targets(DBProxyName="demo", DBInstanceIdentifiers=["db1"])
    with pytest.raises(UsageError) as info:
        execute(aws, plan, wait=False)
    assert info.value.message == "that database is already a target of proxy demo"
    assert info.value.exit_code == ExitCode.USAGE


def test_endpoint_quota_exceeded_exits_1(world, cli):
    world.make_proxy("demo", targets=False)
    for i in range(motoext.settings.PROXY_ENDPOINT_QUOTA):
        world.rds().create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName=f"ep{i}",
                                             VpcSubnetIds=world.subnets)
    out = cli("endpoints", "create", "demo", "one-more", code=1)
    assert "error: proxy demo already has the most endpoints allowed" in out.stderr


def test_a_failure_after_some_calls_names_what_ran(world, cli, monkeypatch):
    monkeypatch.setenv("MOTO_RDS_PROXY_LIMIT", "0")
    out = cli("create", "demo", "--secret", world.secret_arn, "--create-role",
              "--subnets", ",".join(world.subnets), code=1)
    assert "2 of 3 calls had run (CreateRole, PutRolePolicy); not run: CreateDBProxy" \
        in out.stderr
    # ...and a re-run says how to go on with the role it made
    monkeypatch.setenv("MOTO_RDS_PROXY_LIMIT", "10")
    out = cli("create", "demo", "--secret", world.secret_arn, "--create-role",
              "--subnets", ",".join(world.subnets), code=2)
    assert "IAM role rds-proxy-demo already exists" in out.stderr
    assert "pass --role ARN to use it" in out.stderr


def client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 0}},
                       operation)


@pytest.mark.parametrize("code,operation,subject,exit_code,message", [
    ("DBProxyAlreadyExistsFault", "CreateDBProxy", {"proxy": "demo"}, 2,
     "a proxy with that name already exists in us-east-1"),
    ("DBProxyQuotaExceededFault", "CreateDBProxy", {"proxy": "demo"}, 1,
     "the account already has the most proxies allowed in us-east-1"),
    ("InvalidDBProxyStateFault", "RegisterDBProxyTargets", {"proxy": "demo"}, 1,
     "proxy demo cannot take RegisterDBProxyTargets in its current state"),
    ("InsufficientAvailableIPsInSubnetFault", "RegisterDBProxyTargets", {"proxy": "demo"}, 1,
     "not enough free IP addresses in the proxy's subnets for RegisterDBProxyTargets"),
    ("DBProxyTargetAlreadyRegisteredFault", "RegisterDBProxyTargets", {"proxy": "demo"}, 2,
     "that database is already a target of proxy demo"),
    ("DBProxyEndpointAlreadyExistsFault", "CreateDBProxyEndpoint", {"endpoint": "ro"}, 2,
     "a proxy endpoint named ro already exists in us-east-1"),
    ("DBProxyEndpointQuotaExceededFault", "CreateDBProxyEndpoint", {"proxy": "demo"}, 1,
     "proxy demo already has the most endpoints allowed"),
    ("EntityAlreadyExists", "CreateRole", {}, 2, "IAM: Role with name x already exists."),
])
def test_fault_table(code, operation, subject, exit_code, message):
    err = translate(client_error(code, "Role with name x already exists." if code ==
                                 "EntityAlreadyExists" else "aws says no", operation),
                    region=REGION, **subject)
    assert err is not None
    assert err.exit_code == exit_code
    assert err.message.startswith(message), err.message
    assert err.hint


def test_access_denied_names_the_action():
    err = translate(client_error(
        "AccessDenied", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        "iam:PassRole on resource: arn:aws:iam::123456789012:role/rds-proxy-demo",
        "CreateDBProxy"), region=REGION, proxy="demo")
    assert isinstance(err, AccessDenied) and err.exit_code == ExitCode.AUTH
    assert err.message == "access denied: the caller may not perform iam:PassRole"
    assert err.action == "iam:PassRole"
    err = translate(client_error("AccessDeniedException", "no", "RegisterDBProxyTargets"),
                    region=REGION)
    assert err.message == "access denied: the caller may not perform rds:RegisterDBProxyTargets"
    err = translate(client_error("AccessDenied", "no", "PutRolePolicy"), region=REGION)
    assert err.message == "access denied: the caller may not perform iam:PutRolePolicy"
    err = translate(client_error("AccessDeniedException", "no", "DescribeKey"), region=REGION)
    assert err.message == "access denied: the caller may not perform kms:DescribeKey"
