"""IAM for RDS Proxy: the proxy's role, client ``rds-db:connect`` policies, IAMAuth.

Policy documents are built as dicts (JSON only at the API boundary) following the
RDS user guide:

* the proxy role (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-iam-setup.html):
  trusted by ``rds.amazonaws.com``; ``secretsmanager:GetSecretValue`` on exactly the
  proxy's secrets; ``kms:Decrypt`` on the customer-managed keys that encrypt them,
  only via Secrets Manager (``kms:ViaService``).  The AWS-managed key
  ``alias/aws/secretsmanager`` needs no statement.
* client access (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-connecting.html):
  ``rds-db:connect`` on ``arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-ID/DB_USER``, where
  ``prx-ID`` is the last part of the proxy's ARN (not the database's resource id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rdsproxyctl.core.models import Proxy, arn_parts
from rdsproxyctl.errors import UsageError

POLICY_VERSION = "2012-10-17"
AWS_MANAGED_SECRETS_KEY = "alias/aws/secretsmanager"
ROLE_POLICY_NAME = "rds-proxy-secrets"
#: IAM role names are at most 64 characters.
ROLE_NAME_MAX = 64


def proxy_role_trust_policy() -> dict[str, Any]:
    """Lets RDS Proxy assume the role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "rds.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }],
    }


def proxy_role_policy(secret_arns: list[str], kms_key_arns: list[str],
                      region: str) -> dict[str, Any]:
    """Read exactly these secrets; decrypt with these keys only through Secrets Manager."""
    statements: list[dict[str, Any]] = [{
        "Sid": "GetProxySecrets",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": sorted(set(secret_arns)),
    }]
    if kms_key_arns:
        statements.append({
            "Sid": "DecryptProxySecrets",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": sorted(set(kms_key_arns)),
            "Condition": {"StringEquals": {
                "kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        })
    return {"Version": POLICY_VERSION, "Statement": statements}


def default_role_name(proxy_name: str) -> str:
    return f"rds-proxy-{proxy_name}"[:ROLE_NAME_MAX]


def check_role_name(name: str) -> str:
    import re

    if not re.fullmatch(r"[\w+=,.@-]{1,64}", name or ""):
        raise UsageError(f"IAM role name {name!r} is not valid: 1-64 letters, digits and +=,.@_-")
    return name


def check_policy_name(name: str) -> str:
    import re

    if not re.fullmatch(r"[\w+=,.@-]{1,128}", name or ""):
        raise UsageError(f"IAM policy name {name!r} is not valid: 1-128 letters, digits and "
                         "+=,.@_-")
    return name


def customer_kms_keys(aws: Any, secret_keys: dict[str, str | None]) -> list[str]:
    """ARNs of the customer-managed KMS keys among the secrets' ``KmsKeyId`` values."""
    from rdsproxyctl.core.awserrors import aws_errors

    arns: list[str] = []
    for key_id in sorted({k for k in secret_keys.values() if k}):
        if key_id == AWS_MANAGED_SECRETS_KEY:
            continue
        with aws_errors(aws):
            meta = aws.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
        if meta.get("KeyManager") == "AWS":
            continue
        arns.append(meta["Arn"])
    return arns


@dataclass(frozen=True)
class Identity:
    account: str
    partition: str


def caller_identity(aws: Any) -> Identity:
    from rdsproxyctl.core.awserrors import aws_errors

    with aws_errors(aws):
        who = aws.client("sts").get_caller_identity()
    return Identity(account=str(who["Account"]),
                    partition=arn_parts(who.get("Arn", "")).get("partition") or "aws")


def role_arn(identity: Identity, role_name: str) -> str:
    return f"arn:{identity.partition}:iam::{identity.account}:role/{role_name}"


def role_exists(aws: Any, role_name: str) -> bool:
    from rdsproxyctl.core.awserrors import aws_errors
    from rdsproxyctl.errors import NotFound

    try:
        with aws_errors(aws):
            aws.client("iam").get_role(RoleName=role_name)
    except NotFound:
        return False
    return True


# -- client access: rds-db:connect --------------------------------------------------------------
def check_db_user(user: str) -> str:
    if not user or "/" in user or any(c.isspace() for c in user):
        raise UsageError(f"database user {user!r} is not valid: a user name, or * for any user")
    return user


def db_user_arn(proxy: Proxy, db_user: str, resource_id: str | None = None) -> str:
    """``arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-ID/USER`` for this proxy (or, with
    ``resource_id``, for another resource of its account and region, e.g. ``db-...``)."""
    parts = arn_parts(proxy.arn)
    return (f"arn:{parts['partition'] or 'aws'}:rds-db:{parts['region']}:{parts['account']}:"
            f"dbuser:{resource_id or proxy.resource_id}/{check_db_user(db_user)}")


def connect_policy(proxy: Proxy, db_users: list[str]) -> dict[str, Any]:
    """The identity policy that lets a principal connect to ``proxy`` as ``db_users``."""
    if not db_users:
        raise UsageError("pass --user USER (or --user '*' for any database user)")
    resources = [db_user_arn(proxy, u) for u in dict.fromkeys(db_users)]
    return {
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Action": "rds-db:connect",
            "Resource": resources[0] if len(resources) == 1 else resources,
        }],
    }


def policy_json(document: dict[str, Any]) -> str:
    """A policy document as IAM takes it (compact, stable key order)."""
    return json.dumps(document, separators=(",", ":"))


# -- inline policies: read, merge ----------------------------------------------------------------
def statements(document: dict[str, Any]) -> list[Any]:
    """A policy's statements as a list (IAM allows one statement object for a list)."""
    found = document.get("Statement") or []
    return list(found) if isinstance(found, list) else [found]


def merge_policy(old: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """``old`` with ``document``'s statements added (those already there are not repeated)."""
    merged = statements(old)
    merged += [st for st in statements(document) if st not in merged]
    return {**old, "Version": old.get("Version") or document.get("Version"),
            "Statement": merged}


def inline_policy(aws: Any, kind: str, principal: str, policy_name: str) -> dict[str, Any] | None:
    """The inline policy ``policy_name`` of an IAM role or user, or ``None``."""
    from urllib.parse import unquote

    from rdsproxyctl.core.awserrors import aws_errors
    from rdsproxyctl.errors import NotFound

    try:
        with aws_errors(aws):
            iam = aws.client("iam")
            if kind == "role":
                raw = iam.get_role_policy(RoleName=principal, PolicyName=policy_name)
            else:
                raw = iam.get_user_policy(UserName=principal, PolicyName=policy_name)
    except NotFound:
        return None
    doc = raw.get("PolicyDocument")
    if isinstance(doc, str):  # IAM returns it URL-encoded JSON
        try:
            doc = json.loads(doc)
        except ValueError:
            try:
                doc = json.loads(unquote(doc))
            except ValueError:
                raise UsageError(f"inline policy {policy_name} of {kind} {principal} is not "
                                 "JSON: refusing to change it") from None
    return doc if isinstance(doc, dict) else None
