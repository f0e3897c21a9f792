"""The look-ups checks share, memoised in :class:`~.framework.Lookups`.

Account-wide look-ups (subnets, security groups, instances, the caller) are keyed
without the proxy, so ``diagnose --all`` makes each of them once for every proxy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rdsproxyctl.core import proxies
from rdsproxyctl.core.aws import aws_errors
from rdsproxyctl.core.diagnose.framework import Context
from rdsproxyctl.core.models import Proxy, Target, TargetGroup


def proxy(ctx: Context) -> Proxy:
    return ctx.lookups.memo(("proxy", ctx.proxy_name),
                            lambda: proxies.get_proxy(ctx.aws, ctx.proxy_name))


def targets(ctx: Context) -> list[Target]:
    return ctx.lookups.memo(("targets", ctx.proxy_name),
                            lambda: proxies.get_targets(ctx.aws, ctx.proxy_name))


def target_group(ctx: Context) -> TargetGroup | None:
    return ctx.lookups.memo(("target_group", ctx.proxy_name),
                            lambda: proxies.get_target_group(ctx.aws, ctx.proxy_name))


def _all(ctx: Context, key: str, service: str, operation: str, result_key: str,
         id_key: str) -> dict[str, dict[str, Any]]:
    def fetch() -> dict[str, dict[str, Any]]:
        with aws_errors(ctx.aws):
            pages = ctx.aws.client(service).get_paginator(operation).paginate()
            return {row[id_key]: row for page in pages for row in page.get(result_key, [])}

    return ctx.lookups.memo((key,), fetch)


def subnets(ctx: Context) -> dict[str, dict[str, Any]]:
    return _all(ctx, "subnets", "ec2", "describe_subnets", "Subnets", "SubnetId")


def security_groups(ctx: Context) -> dict[str, dict[str, Any]]:
    return _all(ctx, "security_groups", "ec2", "describe_security_groups", "SecurityGroups",
                "GroupId")


def db_instances(ctx: Context) -> dict[str, dict[str, Any]]:
    return _all(ctx, "db_instances", "rds", "describe_db_instances", "DBInstances",
                "DBInstanceIdentifier")


def db_clusters(ctx: Context) -> dict[str, dict[str, Any]]:
    return _all(ctx, "db_clusters", "rds", "describe_db_clusters", "DBClusters",
                "DBClusterIdentifier")


def secret_meta(ctx: Context, arn: str) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        with aws_errors(ctx.aws, secret=arn):
            meta = ctx.aws.client("secretsmanager").describe_secret(SecretId=arn)
        return {"arn": meta.get("ARN", arn), "name": meta.get("Name"),
                "kms_key_id": meta.get("KmsKeyId")}

    return ctx.lookups.memo(("secret_meta", arn), fetch)


@dataclass(frozen=True)
class SecretShape:
    """What a secret's value looks like; the value itself is never kept."""

    is_json: bool
    has_username: bool
    has_password: bool
    username: str | None


def secret_shape(ctx: Context, arn: str) -> SecretShape:
    def fetch() -> SecretShape:
        with aws_errors(ctx.aws, secret=arn):
            value = ctx.aws.client("secretsmanager").get_secret_value(SecretId=arn)
        try:
            data = json.loads(value.get("SecretString") or "")
        except ValueError:
            return SecretShape(False, False, False, None)
        if not isinstance(data, dict):
            return SecretShape(False, False, False, None)
        username = data.get("username")
        return SecretShape(True, bool(username), bool(data.get("password")),
                           str(username) if username else None)

    return ctx.lookups.memo(("secret_shape", arn), fetch)


def role(ctx: Context, role_name: str) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        with aws_errors(ctx.aws):
            return dict(ctx.aws.client("iam").get_role(RoleName=role_name)["Role"])

    return ctx.lookups.memo(("role", role_name), fetch)


def caller(ctx: Context) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        with aws_errors(ctx.aws):
            return dict(ctx.aws.client("sts").get_caller_identity())

    return ctx.lookups.memo(("caller",), fetch)


def simulate(ctx: Context, principal: str, action: str, resources: tuple[str, ...],
             context: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """resource -> EvalDecision (allowed, explicitDeny, implicitDeny) via IAM's
    SimulatePrincipalPolicy."""

    def fetch() -> dict[str, str]:
        params: dict[str, Any] = {"PolicySourceArn": principal, "ActionNames": [action],
                                  "ResourceArns": list(resources)}
        if context:
            params["ContextEntries"] = [
                {"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"}
                for k, v in context]
        decisions: dict[str, str] = {}
        with aws_errors(ctx.aws):
            pages = ctx.aws.client("iam").get_paginator("simulate_principal_policy")
            for page in pages.paginate(**params):
                for result in page.get("EvaluationResults", []):
                    decisions[result.get("EvalResourceName", "*")] = result["EvalDecision"]
        return decisions

    return ctx.lookups.memo(("simulate", principal, action, resources, context), fetch)


def principal_arn(arn: str) -> str:
    """The IAM principal to simulate for a caller ARN: an assumed-role session becomes
    its role (``arn:aws:sts::A:assumed-role/R/s`` -> ``arn:aws:iam::A:role/R``)."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role_name = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role_name}"
    return arn
