"""Checks of who may do what: auth entries and secrets, the proxy's role, the client."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import unquote

from rdsproxyctl.core import iam
from rdsproxyctl.core.diagnose import data
from rdsproxyctl.core.diagnose.framework import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    Context,
    Finding,
    SkipCheck,
    check,
)
from rdsproxyctl.errors import NotFound

DOCS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/"
SECRETS_DOCS = DOCS + "rds-proxy-secrets-arns.html"
ROLE_DOCS = DOCS + "rds-proxy-iam-setup.html"
CONNECT_DOCS = DOCS + "rds-proxy-connecting.html"

PASSWORD_TYPES = {
    "POSTGRESQL": ("POSTGRES_SCRAM_SHA_256", "POSTGRES_MD5"),
    "MYSQL": ("MYSQL_NATIVE_PASSWORD", "MYSQL_CACHING_SHA2_PASSWORD"),
    "SQLSERVER": ("SQL_SERVER_AUTHENTICATION",),
}


@check("auth.entries", "auth", "Auth entries", link=SECRETS_DOCS)
def auth_entries(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    evidence = {"entries": len(p.auth), "default_auth_scheme": p.default_auth_scheme}
    if p.auth or p.default_auth_scheme == "IAM_AUTH":
        return ctx.finding("auth.entries", PASS, f"{len(p.auth)} auth entr"
                           f"{'y' if len(p.auth) == 1 else 'ies'}", evidence=evidence)
    return ctx.finding("auth.entries", FAIL, "No auth entries and no end-to-end IAM: no client "
                       "can log in", evidence=evidence,
                       remedy=f"rdsproxyctl modify {p.name} --secret SECRET_ARN")


@check("auth.secrets", "auth", "Secrets exist and hold username and password",
       link=SECRETS_DOCS)
def auth_secrets(ctx: Context) -> list[Finding]:
    p = data.proxy(ctx)
    findings: list[Finding] = []
    for entry in p.auth:
        arn = entry.secret_arn
        if not arn:
            continue
        evidence: dict[str, Any] = {"secret_arn": arn}
        try:
            meta = data.secret_meta(ctx, arn)
        except NotFound:
            findings.append(ctx.finding(
                "auth.secrets", FAIL, f"Secret {arn} does not exist", evidence=evidence,
                remedy=f"create it, or point the auth entry at an existing secret "
                       f"(rdsproxyctl modify {p.name} ...)"))
            continue
        evidence["kms_key_id"] = meta.get("kms_key_id")
        try:
            shape = data.secret_shape(ctx, arn)
        except Exception as exc:  # noqa: BLE001 - cannot read it: say so, never guess
            action = getattr(exc, "action", None) or "secretsmanager:GetSecretValue"
            findings.append(ctx.finding(
                "auth.secrets", SKIP, f"Secret {meta.get('name')} exists; its value was not read",
                evidence={**evidence, "missing_action": action},
                remedy=f"grant {action} on the secret to the caller to check its JSON"))
            continue
        evidence.update(is_json=shape.is_json, has_username=shape.has_username,
                        has_password=shape.has_password, username=shape.username)
        missing = [k for k, ok in (("username", shape.has_username),
                                   ("password", shape.has_password)) if not ok]
        if not shape.is_json or missing:
            what = "is not JSON" if not shape.is_json else f"lacks {' and '.join(missing)}"
            findings.append(ctx.finding(
                "auth.secrets", FAIL, f"Secret {meta.get('name')} {what}", evidence=evidence,
                remedy="aws secretsmanager put-secret-value --secret-id "
                       f"{arn} --secret-string '{{\"username\":\"USER\",\"password\":\"PASSWORD\"}}'"))
        else:
            findings.append(ctx.finding("auth.secrets", PASS,
                                        f"Secret {meta.get('name')} holds username and password",
                                        evidence=evidence))
    if not findings:
        raise SkipCheck("the proxy has no secrets in its auth entries")
    return findings


@check("auth.client_password_auth_type", "auth", "Client password auth type fits the engine",
       link=SECRETS_DOCS)
def auth_password_type(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    allowed = PASSWORD_TYPES.get(p.engine_family, ())
    wrong = [a.client_password_auth_type for a in p.auth
             if a.client_password_auth_type and a.client_password_auth_type not in allowed]
    evidence = {"engine_family": p.engine_family,
                "types": [a.client_password_auth_type for a in p.auth], "allowed": list(allowed)}
    if wrong:
        return ctx.finding("auth.client_password_auth_type", FAIL,
                           f"ClientPasswordAuthType {wrong[0]} does not fit {p.engine_family}",
                           evidence=evidence,
                           remedy=f"use one of {', '.join(allowed)} for each auth entry")
    return ctx.finding("auth.client_password_auth_type", PASS, "Password auth types fit the "
                       "engine", evidence=evidence)


@check("auth.duplicate_users", "auth", "One secret per database user", link=SECRETS_DOCS)
def auth_duplicates(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    users: list[str] = []
    unread = 0
    for entry in p.auth:
        name = entry.user_name
        if not name and entry.secret_arn:
            try:
                name = data.secret_shape(ctx, entry.secret_arn).username
            except Exception:  # noqa: BLE001 - unreadable secrets are reported by auth.secrets
                unread += 1
        if name:
            users.append(name)
    dupes = sorted(u for u, n in Counter(users).items() if n > 1)
    evidence = {"users": users, "unread_secrets": unread}
    if dupes:
        return ctx.finding("auth.duplicate_users", FAIL,
                           f"User {dupes[0]} appears in more than one auth entry: the proxy "
                           "cannot tell which secret to use", evidence=evidence,
                           remedy="keep one secret per database user in the proxy's auth")
    if unread and len(p.auth) > 1:
        raise SkipCheck("some secrets could not be read", **evidence)
    return ctx.finding("auth.duplicate_users", PASS, "No user has two secrets", evidence=evidence)


@check("auth.end_to_end_iam", "auth", "End-to-end IAM authentication",
       link=DOCS + "rds-proxy-connecting.html")
def auth_end_to_end(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    if p.default_auth_scheme != "IAM_AUTH":
        return ctx.finding("auth.end_to_end_iam", PASS, "Not used: the proxy logs in to the "
                           "database with secrets", evidence={"default_auth_scheme":
                                                              p.default_auth_scheme})
    return ctx.finding(
        "auth.end_to_end_iam", WARN,
        "End-to-end IAM is on: the proxy logs in to the database with IAM, not secrets",
        evidence={"default_auth_scheme": "IAM_AUTH", "needs": [
            "IAM database authentication enabled on the database",
            "each database user granted rds_iam (PostgreSQL) or created with the AWS "
            "authentication plugin (MySQL)",
            "the proxy's role allowed rds-db:connect on the database's db-/cluster- resource "
            "id for those users"]},
        remedy="verify the three requirements above; until then clients get authentication "
               "failures")


def _secret_arns(ctx: Context) -> list[str]:
    return [a.secret_arn for a in data.proxy(ctx).auth if a.secret_arn]


def _role_name(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


@check("role.exists", "role", "Proxy role exists", link=ROLE_DOCS)
def role_exists(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    if not p.role_arn:
        raise SkipCheck("the proxy reports no role")
    try:
        data.role(ctx, _role_name(p.role_arn))
    except NotFound:
        return ctx.finding("role.exists", FAIL, f"The proxy's role {p.role_arn} does not exist",
                           evidence={"role_arn": p.role_arn},
                           remedy=f"rdsproxyctl modify {p.name} --role ARN (or recreate the "
                                  "role: trust rds.amazonaws.com, secretsmanager:GetSecretValue)")
    return ctx.finding("role.exists", PASS, "The proxy's role exists",
                       evidence={"role_arn": p.role_arn})


def _trust_allows_rds(document: Any) -> bool:
    if isinstance(document, str):
        document = json.loads(unquote(document))
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        services = (st.get("Principal") or {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if "rds.amazonaws.com" in services and any(a in ("sts:AssumeRole", "sts:*", "*")
                                                   for a in actions):
            return True
    return False


@check("role.trust", "role", "Proxy role trusts rds.amazonaws.com", link=ROLE_DOCS)
def role_trust(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    if not p.role_arn:
        raise SkipCheck("the proxy reports no role")
    try:
        role = data.role(ctx, _role_name(p.role_arn))
    except NotFound:
        raise SkipCheck("the role does not exist (see role.exists)") from None
    if _trust_allows_rds(role.get("AssumeRolePolicyDocument") or {}):
        return ctx.finding("role.trust", PASS, "The role trusts rds.amazonaws.com",
                           evidence={"role_arn": p.role_arn})
    return ctx.finding(
        "role.trust", FAIL, "The role's trust policy does not let RDS assume it",
        evidence={"role_arn": p.role_arn},
        remedy="aws iam update-assume-role-policy --role-name "
               f"{_role_name(p.role_arn)} --policy-document "
               f"'{iam.policy_json(iam.proxy_role_trust_policy())}'")


@check("role.secret_access", "role", "Proxy role may read every secret", link=ROLE_DOCS)
def role_secret_access(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    arns = tuple(_secret_arns(ctx))
    if not p.role_arn or not arns:
        raise SkipCheck("no role or no secrets to check")
    decisions = data.simulate(ctx, p.role_arn, "secretsmanager:GetSecretValue", arns)
    denied = [arn for arn in arns if decisions.get(arn) != "allowed"]
    evidence = {"role_arn": p.role_arn, "decisions": decisions}
    if not denied:
        return ctx.finding("role.secret_access", PASS, "The role may read every secret",
                           evidence=evidence)
    return ctx.finding(
        "role.secret_access", FAIL,
        f"The role may not read {len(denied)} secret(s): the target reports AUTH_FAILURE",
        evidence={**evidence, "denied": denied},
        remedy=_put_role_policy(p.role_arn, iam.proxy_role_policy(list(arns), [], p.region)))


@check("role.kms", "role", "Proxy role may decrypt customer-managed keys", link=ROLE_DOCS)
def role_kms(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    keys = {}
    for arn in _secret_arns(ctx):
        try:
            key = data.secret_meta(ctx, arn).get("kms_key_id")
        except NotFound:
            continue
        if key and iam.AWS_MANAGED_SECRETS_KEY not in key:
            keys[arn] = key
    if not keys:
        return ctx.finding("role.kms", PASS, "No secret uses a customer-managed KMS key",
                           evidence={"customer_managed_keys": []})
    if not p.role_arn:
        raise SkipCheck("the proxy reports no role")
    context = (("kms:ViaService", f"secretsmanager.{p.region}.amazonaws.com"),)
    decisions = data.simulate(ctx, p.role_arn, "kms:Decrypt", tuple(sorted(set(keys.values()))),
                              context)
    denied = sorted(k for k, d in decisions.items() if d != "allowed")
    evidence = {"keys": keys, "decisions": decisions}
    if not denied:
        return ctx.finding("role.kms", PASS, "The role may decrypt the secrets' keys",
                           evidence=evidence)
    policy = iam.proxy_role_policy(_secret_arns(ctx), sorted(set(keys.values())), p.region)
    return ctx.finding(
        "role.kms", FAIL, "The role may not decrypt a secret's KMS key",
        evidence={**evidence, "denied": denied},
        remedy=_put_role_policy(p.role_arn, policy) + " (and allow the role in the key policy)")


def _put_role_policy(role_arn: str, policy: dict[str, Any]) -> str:
    """The command that gives the proxy role the policy it needs, ready to paste."""
    return (f"aws iam put-role-policy --role-name {_role_name(role_arn)} --policy-name "
            f"{iam.ROLE_POLICY_NAME} --policy-document '{iam.policy_json(policy)}'")


def _db_resource_arns(ctx: Context, user: str) -> list[str]:
    """rds-db:connect ARNs built on the targets' db-/cluster- resource ids (the mistake)."""
    p = data.proxy(ctx)
    arns = []
    instances = data.db_instances(ctx)
    clusters = None
    for t in data.targets(ctx):
        rid = None
        if t.type == "RDS_INSTANCE" and t.rds_resource_id in instances:
            rid = instances[t.rds_resource_id].get("DbiResourceId")
        elif t.type == "TRACKED_CLUSTER":
            clusters = clusters if clusters is not None else data.db_clusters(ctx)
            rid = (clusters.get(t.rds_resource_id) or {}).get("DbClusterResourceId")
        if rid:
            arns.append(iam.db_user_arn(p, user, resource_id=rid))
    return arns


@check("client.connect_permission", "client", "Client may rds-db:connect to the proxy",
       link=CONNECT_DOCS)
def client_permission(ctx: Context) -> Finding:
    p = data.proxy(ctx)
    if not any(a.iam_auth in ("REQUIRED", "ENABLED") for a in p.auth):
        return ctx.finding("client.connect_permission", PASS, "IAM authentication is not "
                           "required: clients log in with passwords",
                           evidence={"iam_auth": p.iam_auth})
    user = ctx.options.user
    if not user:
        raise SkipCheck("pass --user U to check the client's rds-db:connect permission",
                        remedy=f"rdsproxyctl diagnose {p.name} --user DB_USER")
    principal = ctx.options.principal or data.principal_arn(str(data.caller(ctx)["Arn"]))
    resource = iam.db_user_arn(p, user)
    decisions = data.simulate(ctx, principal, "rds-db:connect", (resource,))
    evidence: dict[str, Any] = {"principal": principal, "resource": resource,
                                "decision": decisions.get(resource)}
    if decisions.get(resource) == "allowed":
        return ctx.finding("client.connect_permission", PASS,
                           f"{principal} may connect as {user}", evidence=evidence)
    remedy = (f"attach to {principal}: {iam.policy_json(iam.connect_policy(p, [user]))} "
              f"(rdsproxyctl iam policy {p.name} --user {user} prints it)")
    wrong = _db_resource_arns(ctx, user)
    if wrong:
        wrong_decisions = data.simulate(ctx, principal, "rds-db:connect", tuple(wrong))
        granted = [arn for arn in wrong if wrong_decisions.get(arn) == "allowed"]
        if granted:
            evidence["granted_instead"] = granted
            return ctx.finding(
                "client.connect_permission", FAIL,
                f"{principal} may rds-db:connect to the database's resource id, not to the "
                "proxy's: proxies need the prx- resource id",
                evidence=evidence,
                remedy=f"replace {granted[0]} with {resource} in the policy; " + remedy)
    return ctx.finding("client.connect_permission", FAIL,
                       f"{principal} may not rds-db:connect as {user} through this proxy",
                       evidence=evidence, remedy=remedy)
