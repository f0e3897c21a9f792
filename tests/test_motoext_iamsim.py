"""motoext.iamsim: IAM SimulatePrincipalPolicy on moto's own policy evaluation.  In-process moto."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from rdsproxyctl import motoext

from .conftest import ACCOUNT, REGION

ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                      "Resource": "*"}]}


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _simulate(aws, arn: str, action: str, resource: str | None = None) -> dict:
    kwargs = {"ResourceArns": [resource]} if resource else {}
    out = aws.client("iam").simulate_principal_policy(PolicySourceArn=arn, ActionNames=[action],
                                                      **kwargs)
    (result,) = out["EvaluationResults"]
    assert result["EvalActionName"] == action
    return result


DBUSER = f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:prx-0123456789abcdef0/app"


def test_simulate_allowed_implicit_and_explicit_deny(aws):
    iam = aws.client("iam")
    arn = iam.create_user(UserName="alice")["User"]["Arn"]
    iam.put_user_policy(UserName="alice", PolicyName="connect", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "rds-db:connect", "Resource": DBUSER}))
    allowed = _simulate(aws, arn, "rds-db:connect", DBUSER)
    assert allowed["EvalDecision"] == "allowed"
    assert allowed["MatchedStatements"][0]["SourcePolicyId"] == "connect"
    # another user on the same proxy: not covered, so implicitly denied
    other = DBUSER.replace("/app", "/admin")
    assert _simulate(aws, arn, "rds-db:connect", other)["EvalDecision"] == "implicitDeny"
    # action names are case-insensitive in IAM
    assert _simulate(aws, arn, "RDS-DB:Connect", DBUSER)["EvalDecision"] == "allowed"
    # an explicit deny wins over the allow
    iam.put_user_policy(UserName="alice", PolicyName="no-rds-db", PolicyDocument=_doc(
        {"Effect": "Deny", "Action": "rds-db:*", "Resource": "*"}))
    denied = _simulate(aws, arn, "rds-db:connect", DBUSER)
    assert denied["EvalDecision"] == "explicitDeny"
    assert {m["SourcePolicyId"] for m in denied["MatchedStatements"]} == {"connect", "no-rds-db"}


def test_simulate_wildcard_resource_and_group_and_managed_policies(aws):
    iam = aws.client("iam")
    arn = iam.create_user(UserName="bob")["User"]["Arn"]
    iam.create_group(GroupName="dbusers")
    iam.add_user_to_group(GroupName="dbusers", UserName="bob")
    iam.put_group_policy(GroupName="dbusers", PolicyName="any-user", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "rds-db:connect",
         "Resource": f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:prx-0123456789abcdef0/*"}))
    assert _simulate(aws, arn, "rds-db:connect", DBUSER)["EvalDecision"] == "allowed"
    # the `db-` resource id of the database is not the proxy's `prx-` id
    wrong = DBUSER.replace("prx-0123456789abcdef0", "db-ABCDEFGHIJKL")
    assert _simulate(aws, arn, "rds-db:connect", wrong)["EvalDecision"] == "implicitDeny"
    # a managed policy attached to a role
    policy = iam.create_policy(PolicyName="read-secret", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
    role = iam.create_role(RoleName="proxy-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.attach_role_policy(RoleName="proxy-role", PolicyArn=policy["Policy"]["Arn"])
    result = _simulate(aws, role, "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:x")
    assert result["EvalDecision"] == "allowed"
    assert result["MatchedStatements"] == [{"SourcePolicyId": "read-secret",
                                            "SourcePolicyType": "IAM Policy"}]
    # no resource given: "*"
    assert _simulate(aws, role, "s3:GetObject")["EvalDecision"] == "implicitDeny"


def test_simulate_allow_with_unmet_condition_is_not_a_deny(aws):
    iam = aws.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.put_role_policy(RoleName="r", PolicyName="kms", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}))
    assert _simulate(aws, role, "kms:Decrypt")["EvalDecision"] == "allowed"


def test_simulate_unknown_principal_and_bad_arn(aws):
    with pytest.raises(ClientError) as err:
        _simulate(aws, f"arn:aws:iam::{ACCOUNT}:user/nobody", "rds-db:connect")
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(ClientError) as err:
        _simulate(aws, f"arn:aws:iam::{ACCOUNT}:policy/not-a-principal", "rds-db:connect")
    assert err.value.response["Error"]["Code"] == "InvalidInput"


def test_in_process_simulation_accepts_a_role_session(aws):
    iam = aws.client("iam")
    iam.create_role(RoleName="app-role", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(RoleName="app-role", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/app-role/lambda-1"
    (result,) = motoext.simulate_principal_policy(ACCOUNT, session, ["rds-db:connect"], [DBUSER])
    assert result["EvalDecision"] == "allowed"
