"""IAM SimulatePrincipalPolicy, on moto's own policy evaluation."""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import ActionResult


def _iam(account_id: str, partition: str = "aws") -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id][partition]


def _principal_policies(iam: Any, arn: str) -> list[tuple[str, str, str]]:
    """``(policy id, policy type, document)`` of every identity policy of a principal.

    Users get their inline and attached policies plus those of their groups; roles
    (and sessions of a role, ``arn:...:sts::ACCOUNT:assumed-role/ROLE/SESSION``) and
    groups get their own.  Unknown principals raise NoSuchEntity, as IAM does.
    """
    from moto.iam.exceptions import InvalidInput, NotFoundException

    resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else ""
    kind, _, path = resource.partition("/")
    name = path.rsplit("/", 1)[-1]
    if kind == "assumed-role":
        kind, name = "role", path.split("/", 1)[0]
    if kind not in ("user", "role", "group") or not name:
        raise InvalidInput(f"Invalid ARN: {arn} is not a user, group or role ARN.")

    def managed(policies: Any) -> list[tuple[str, str, str]]:
        return [(p.name, "AWS Managed Policy" if p.arn.split(":")[4] == "aws" else "IAM Policy",
                 next(v.document for v in p.versions if v.is_default)) for p in policies]

    out: list[tuple[str, str, str]] = []
    try:
        if kind == "user":
            iam.get_user(name)
            for pname in iam.list_user_policies(name):
                out.append((pname, "user", iam.get_user_policy(name, pname)["policy_document"]))
            out += managed(iam.list_attached_user_policies(name)[0])
            for group in iam.get_groups_for_user(name):
                out += _principal_policies(iam, group.arn)
        elif kind == "role":
            iam.get_role(name)
            for pname in iam.list_role_policies(name):
                out.append((pname, "role", iam.get_role_policy(name, pname)[1]))
            out += managed(iam.list_attached_role_policies(name)[0])
        else:
            iam.get_group(name)
            for pname in iam.list_group_policies(name):
                out.append((pname, "group", iam.get_group_policy(name, pname)["policy_document"]))
            out += managed(iam.list_attached_group_policies(name)[0])
    except NotFoundException as exc:
        raise _iam_no_such_entity(str(exc.message if hasattr(exc, "message") else exc)) from None
    return out


def _iam_no_such_entity(message: str) -> Exception:
    from moto.iam.exceptions import NoSuchEntity

    return NoSuchEntity(message)


def _statement_result(statement: dict[str, Any], action: str, resource: str,
                      context: dict[str, str]) -> str:
    """One statement's say on (action, resource): "allow", "deny" or "" (not concerned).

    Evaluation is moto's (``IAMPolicyStatement``); two corrections make it answer as
    IAM does: actions match case-insensitively, and an Allow whose condition does not
    hold is "not concerned" (moto reports it as a deny).
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    stmt = dict(statement)
    for key in ("Action", "NotAction"):
        if key in stmt:
            value = stmt[key]
            stmt[key] = ([v.lower() for v in value] if isinstance(value, list)
                         else str(value).lower())
    try:
        result = IAMPolicyStatement(stmt).is_action_permitted(action.lower(), resource,
                                                              None, context or None)
    except Exception:  # noqa: BLE001 - a condition moto cannot evaluate: not concerned
        return ""
    allow = str(stmt.get("Effect", "")).lower() == "allow"
    if result == PermissionResult.PERMITTED:
        return "allow" if allow else "deny"
    if result == PermissionResult.DENIED:
        return "deny" if not allow else ""
    return ""


def simulate_principal_policy(account_id: str, policy_source_arn: str,
                              action_names: list[str], resource_arns: list[str] | None = None,
                              context_entries: list[dict[str, Any]] | None = None,
                              partition: str = "aws") -> list[dict[str, Any]]:
    """IAM SimulatePrincipalPolicy's EvaluationResults, evaluated by moto's policy engine.

    Each (action, resource) pair is ``explicitDeny`` when a statement denies it,
    ``allowed`` when one allows it and none denies it, ``implicitDeny`` otherwise
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
    Identity policies only: no permissions boundaries, SCPs or resource policies.
    """
    iam = _iam(account_id, partition)
    policies = _principal_policies(iam, policy_source_arn)
    context = {str(e.get("ContextKeyName")): str((e.get("ContextKeyValues") or [""])[0])
               for e in context_entries or []}
    results: list[dict[str, Any]] = []
    for action in action_names:
        for resource in resource_arns or ["*"]:
            matched: list[dict[str, Any]] = []
            decision = "implicitDeny"
            for policy_id, policy_type, document in policies:
                doc = json.loads(document) if isinstance(document, str) else document
                statements = doc.get("Statement", [])
                for stmt in statements if isinstance(statements, list) else [statements]:
                    say = _statement_result(stmt, action, resource, context)
                    if not say:
                        continue
                    matched.append({"SourcePolicyId": policy_id, "SourcePolicyType": policy_type})
                    if say == "deny":
                        decision = "explicitDeny"
                    elif decision != "explicitDeny":
                        decision = "allowed"
            results.append({
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": decision,
                "MatchedStatements": matched,
                "MissingContextValues": [],
            })
    return results


def _r_simulate_principal_policy(self: Any) -> ActionResult:
    results = simulate_principal_policy(
        self.current_account, self._get_param("PolicySourceArn"),
        list(self._get_param("ActionNames") or []), list(self._get_param("ResourceArns") or []),
        list(self._get_param("ContextEntries") or []), partition=self.partition)
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})
