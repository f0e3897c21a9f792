"""Plans that create and change proxies: create, apply, modify, pool, targets, endpoints, delete.

Each ``*_plan`` function checks every value first (no AWS call), then reads what it
needs (read-only calls: the proxy, subnets, secrets, the target database), then
returns a :class:`~rdsproxyctl.core.plan.Plan`; nothing is changed until
:func:`rdsproxyctl.core.plan.execute` runs it.  What a spec changes is computed by
:func:`rdsproxyctl.core.differ.diff`, shared by ``create``, ``apply``, ``modify`` and
``pool``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.core import iam as iamdocs
from rdsproxyctl.core import validate as v
from rdsproxyctl.core.differ import (
    Builder,
    auth_specs,
    create_endpoint_call,
    diff,
    find_endpoint,
    preflight,
    read_state,
    require_state,
    target_keys,
)
from rdsproxyctl.core.models import AuthEntry, ProxyEndpoint
from rdsproxyctl.core.plan import Change, Plan, PlannedCall
from rdsproxyctl.core.spec import (
    AuthSpec,
    EndpointSpec,
    PoolSpec,
    ProxySpec,
    TargetSpec,
    iam_tls_warning,
    max_connections_warning,
)
from rdsproxyctl.errors import NotFound, UsageError


# -- create ------------------------------------------------------------------------------------
@dataclass
class RoleRequest:
    """``--create-role``: make the proxy's IAM role as part of the plan."""

    name: str


def create_plan(aws: Any, spec: ProxySpec, *, create_role: RoleRequest | None = None,
                if_not_exists: bool = False) -> Plan:
    """Plan ``create``: optional role, the proxy, its pool, its target (and endpoints)."""
    if create_role is not None:
        if spec.role_arn:
            raise UsageError("pass either --role ARN or --create-role, not both")
        iamdocs.check_role_name(create_role.name)
        if not spec.auth:
            raise UsageError("--create-role writes a policy for the proxy's secrets: pass at "
                             "least one --secret (or --role ARN for an end-to-end IAM role)")
    spec.check(creating=True, role_planned=create_role is not None)
    warnings = spec.warnings()
    current = read_state(aws, spec.name)
    if current is not None:
        if if_not_exists:
            plan = Plan(action="create", proxy=spec.name)
            plan.warnings.append(f"proxy {spec.name} already exists: nothing to do "
                                 "(--if-not-exists)")
            return plan
        raise UsageError(f"a proxy named {spec.name} already exists in {aws.region}",
                         hint="add --if-not-exists to succeed when it does; `rdsproxyctl "
                         "modify` or `apply` change it")
    found = preflight(aws, spec, None)
    role_calls: list[PlannedCall] = []
    role_changes: list[Change] = []
    if create_role is not None:
        who = iamdocs.caller_identity(aws)
        if iamdocs.role_exists(aws, create_role.name):
            raise UsageError(f"IAM role {create_role.name} already exists",
                             hint="pass --role ARN to use it, or --role-name NAME for a new one")
        keys = iamdocs.customer_kms_keys(aws, found.secret_keys)
        secrets = [a.secret_arn for a in spec.auth or []]
        spec.role_arn = iamdocs.role_arn(who, create_role.name)
        trust = iamdocs.proxy_role_trust_policy()
        policy = iamdocs.proxy_role_policy(secrets, keys, aws.region)
        role_calls = [
            PlannedCall("iam", "CreateRole", {
                "RoleName": create_role.name,
                "AssumeRolePolicyDocument": iamdocs.policy_json(trust),
                "Description": f"RDS Proxy {spec.name} reads its secrets (rdsproxyctl)",
            }, f"create IAM role {create_role.name}, trusted by rds.amazonaws.com"),
            PlannedCall("iam", "PutRolePolicy", {
                "RoleName": create_role.name,
                "PolicyName": iamdocs.ROLE_POLICY_NAME,
                "PolicyDocument": iamdocs.policy_json(policy),
            }, f"let role {create_role.name} read {len(secrets)} secret(s)"
               + (f" and decrypt with {len(keys)} KMS key(s) via Secrets Manager" if keys else "")),
        ]
        res = f"role {create_role.name}"
        role_changes = [Change("create", res, "trusted_by", None, "rds.amazonaws.com"),
                        Change("create", res, "secretsmanager:GetSecretValue", None, secrets)]
        if keys:
            role_changes.append(Change("create", res, "kms:Decrypt", None, keys))
    plan = diff(aws, spec, None, action="create")
    plan.calls[:0] = role_calls
    plan.changes[:0] = role_changes
    plan.warnings[:0] = warnings + found.warnings + v.reachability_warnings(aws, spec)
    return plan


# -- apply -------------------------------------------------------------------------------------
def apply_plan(aws: Any, spec: ProxySpec, *, prune: bool = False) -> Plan:
    """Plan ``apply``: create what is missing, change what differs, from a checked spec.

    What the spec does not name (endpoints, targets, auth entries) is removed only
    with ``prune``, as ``kubectl apply --prune``."""
    current = read_state(aws, spec.name)
    found = preflight(aws, spec, current)
    plan = diff(aws, spec, current, action="apply", prune=prune)
    plan.warnings[:0] = spec.warnings() + found.warnings
    return plan


# -- modify ------------------------------------------------------------------------------------
@dataclass
class ModifyRequest:
    require_tls: bool | None = None
    idle_client_timeout: int | None = None
    debug_logging: bool | None = None
    new_name: str | None = None
    role_arn: str | None = None
    security_groups: list[str] | None = None
    end_to_end_iam: bool | None = None
    add_secrets: list[str] = field(default_factory=list)
    remove_secrets: list[str] = field(default_factory=list)
    iam_auth: str | None = None
    client_password_auth_type: str | None = None

    def is_empty(self) -> bool:
        return (self.require_tls is None and self.idle_client_timeout is None
                and self.debug_logging is None and not self.new_name and not self.role_arn
                and self.security_groups is None and self.end_to_end_iam is None
                and not self.add_secrets and not self.remove_secrets and self.iam_auth is None
                and self.client_password_auth_type is None)

    def check(self, name: str) -> None:
        """Checks that need no AWS call (engine-specific ones follow the look-up)."""
        v.check_name(name)
        if self.is_empty():
            raise UsageError("nothing to change: pass at least one option (see "
                             "`rdsproxyctl modify --help`)")
        if self.new_name:
            v.check_name(self.new_name, "new proxy name")
        v.check_range(self.idle_client_timeout, v.IDLE_CLIENT_TIMEOUT,
                      "idle client timeout (seconds)")
        if self.role_arn:
            v.check_role_arn(self.role_arn)
        if self.security_groups is not None and not self.security_groups:
            raise UsageError("--security-groups needs at least one security group id")
        for arn in [*self.add_secrets, *self.remove_secrets]:
            v.check_secret_arn(arn)
        both = set(self.add_secrets) & set(self.remove_secrets)
        if both:
            raise UsageError(f"secret {sorted(both)[0]} is both added and removed")
        if self.iam_auth is not None and self.iam_auth.strip().upper() not in v.IAM_AUTH_VALUES:
            raise UsageError(f"IAM auth {self.iam_auth!r} is not one of required, disabled, "
                             "enabled (SQL Server only)")


def modify_plan(aws: Any, name: str, req: ModifyRequest) -> Plan:
    req.check(name)
    current = require_state(aws, name)
    proxy = current.proxy
    family = proxy.engine_family
    iam_mode = v.check_iam_auth(req.iam_auth, family) if req.iam_auth is not None else None
    pw_type = v.check_password_auth_type(req.client_password_auth_type, family)
    spec = ProxySpec(name=proxy.name, engine_family=family, role_arn=req.role_arn,
                     vpc_subnet_ids=[], vpc_security_group_ids=req.security_groups,
                     require_tls=req.require_tls, idle_client_timeout=req.idle_client_timeout,
                     debug_logging=req.debug_logging)
    if req.end_to_end_iam is not None:
        spec.default_auth_scheme = "IAM_AUTH" if req.end_to_end_iam else "NONE"
    warnings: list[str] = []
    if req.add_secrets or req.remove_secrets or iam_mode or pw_type:
        entries = auth_specs(proxy)
        have = {a.secret_arn for a in entries}
        missing = [arn for arn in req.remove_secrets if arn not in have]
        if missing:
            raise UsageError(f"secret {missing[0]} is not an auth entry of {name}")
        entries = [a for a in entries if a.secret_arn not in req.remove_secrets]
        template = entries[0] if entries else None
        for arn in req.add_secrets:
            if arn in have:
                continue
            entries.append(AuthSpec(
                secret_arn=arn,
                iam_auth=template.iam_auth if template else "DISABLED",
                client_password_auth_type=template.client_password_auth_type if template
                else None))
        for entry in entries:
            if iam_mode:
                entry.iam_auth = iam_mode
            if pw_type:
                entry.client_password_auth_type = pw_type
        scheme = spec.default_auth_scheme or proxy.default_auth_scheme or "NONE"
        if not entries and scheme != "IAM_AUTH":
            raise UsageError(f"proxy {name} would have no auth entry left: keep a secret, or "
                             "turn on --end-to-end-iam")
        spec.auth = entries
        added = [arn for arn in req.add_secrets if arn not in have]
        if added:
            _, found = v.lookup_secrets(aws, added)
            warnings += found
    if req.debug_logging:
        warnings.append(spec_debug_warning(name))
    iam_on = any((a.iam_auth or "DISABLED") != "DISABLED" for a in (spec.auth or [])) or \
        (spec.default_auth_scheme or proxy.default_auth_scheme) == "IAM_AUTH" or \
        (spec.auth is None and proxy.iam_auth not in ("DISABLED", "NONE"))
    tls = proxy.require_tls if req.require_tls is None else req.require_tls
    if iam_on and not tls:
        warnings.append(iam_tls_warning(req.new_name or name))
    plan = diff(aws, spec, current, action="modify", new_name=req.new_name)
    plan.warnings[:0] = warnings
    return plan


def spec_debug_warning(name: str) -> str:
    from rdsproxyctl.core.spec import debug_logging_warning

    return debug_logging_warning(name)


# -- pool --------------------------------------------------------------------------------------
def pool_plan(aws: Any, name: str, pool: PoolSpec) -> Plan:
    """Plan ``pool``: change the default target group's connection pool settings."""
    v.check_name(name)
    if pool.is_empty():
        raise UsageError("nothing to change: pass at least one pool option (see "
                         "`rdsproxyctl pool --help`)")
    v.check_range(pool.max_connections_percent, v.MAX_CONNECTIONS_PERCENT,
                  "max connections percent")
    v.check_range(pool.max_idle_connections_percent,
                  (0, pool.max_connections_percent or 100),
                  "max idle connections percent" + (
                      f" (at most max connections percent, {pool.max_connections_percent})"
                      if pool.max_connections_percent else ""))
    v.check_range(pool.connection_borrow_timeout, v.BORROW_TIMEOUT,
                  "connection borrow timeout (seconds)")
    if pool.session_pinning_filters is not None:
        pool.session_pinning_filters = v.check_pinning_filters(
            pool.session_pinning_filters, "MYSQL")
    current = require_state(aws, name)
    family = current.proxy.engine_family
    current_max = current.target_group.pool.max_connections_percent \
        if current.target_group else None
    pool.session_pinning_filters = v.check_pool(
        family, max_connections=pool.max_connections_percent,
        max_idle=pool.max_idle_connections_percent,
        borrow_timeout=pool.connection_borrow_timeout,
        pinning_filters=pool.session_pinning_filters, current_max=current_max)
    spec = ProxySpec(name=name, engine_family=family, pool=pool)
    plan = diff(aws, spec, current, action="pool")
    if pool.max_connections_percent == 100:
        plan.warnings.insert(0, max_connections_warning(name))
    return plan


# -- targets -----------------------------------------------------------------------------------
def _one_target(instance: str | None, cluster: str | None) -> TargetSpec:
    if bool(instance) == bool(cluster):
        raise UsageError("pass exactly one of --db-instance ID and --db-cluster ID")
    return TargetSpec(instance or None, cluster or None)


def targets_plan(aws: Any, name: str, *, add: bool, instance: str | None = None,
                 cluster: str | None = None) -> Plan:
    """Plan ``targets add`` / ``targets remove``: idempotent (no change when already so)."""
    v.check_name(name)
    target = _one_target(instance, cluster)
    current = require_state(aws, name)
    have = target_keys(current.targets)
    plan = Plan(action="targets add" if add else "targets remove", proxy=name,
                wait_targets=add)
    if add:
        if target.key in have:
            plan.warnings.append(f"{target.label} is already a target of {name}: nothing to do")
            return plan
        v.lookup_target(aws, instance=target.db_instance_identifier,
                        cluster=target.db_cluster_identifier,
                        engine_family=current.proxy.engine_family)
        if have:
            plan.warnings.append(f"{name} already has target(s) "
                                 f"{', '.join(f'{k} {i}' for k, i in have)}; RDS Proxy routes "
                                 "to one DB instance or one cluster")
        wanted = [*have, target.key]
    else:
        if target.key not in have:
            plan.warnings.append(f"{target.label} is not a target of {name}: nothing to do")
            return plan
        wanted = [k for k in have if k != target.key]
    spec = ProxySpec(name=name, engine_family=current.proxy.engine_family,
                     targets=[TargetSpec(i if k == "instance" else None,
                                         i if k == "cluster" else None) for k, i in wanted])
    result = diff(aws, spec, current, action=plan.action)
    result.warnings[:0] = plan.warnings
    result.wait_targets = add
    return result


# -- endpoints ---------------------------------------------------------------------------------
def endpoint_create_plan(aws: Any, name: str, endpoint: str, *, role: str = "read-write",
                         subnets: list[str] | None = None,
                         security_groups: list[str] | None = None,
                         tags: dict[str, str] | None = None,
                         if_not_exists: bool = False) -> Plan:
    v.check_name(name)
    v.check_name(endpoint, "endpoint name")
    if endpoint == "default":
        raise UsageError("`default` is the proxy's own endpoint: choose another name")
    target_role = v.check_target_role(role)
    if subnets:
        subnets = v.check_subnet_count(subnets, f"endpoint {endpoint}")
    tags = v.check_tags(tags or {})
    current = require_state(aws, name)
    plan = Plan(action="endpoints create", proxy=name, wait_for="endpoint-available",
                endpoint=endpoint)
    existing = find_endpoint(aws, endpoint)
    if existing is not None:
        if if_not_exists and existing.proxy_name == name:
            plan.warnings.append(f"endpoint {endpoint} already exists: nothing to do "
                                 "(--if-not-exists)")
            return plan
        raise UsageError(f"a proxy endpoint named {endpoint} already exists (proxy "
                         f"{existing.proxy_name})",
                         hint="add --if-not-exists to succeed when it does, or choose "
                         "another name")
    if subnets:
        v.lookup_subnets(aws, subnets, f"endpoint {endpoint}")
    if target_role == "READ_ONLY" and not any(t.type == "TRACKED_CLUSTER"
                                              for t in current.targets):
        plan.warnings.append("READ_ONLY endpoints only work for Aurora clusters with reader "
                             f"instances; {name} has no cluster target")
    b = Builder(plan, name)
    create_endpoint_call(b, EndpointSpec(endpoint, subnets, security_groups, target_role,
                                          tags or None),
                          subnets or current.proxy.subnet_ids)
    return plan


def endpoint_delete_plan(aws: Any, name: str, endpoint: str, *, if_exists: bool = False) -> Plan:
    v.check_name(name)
    v.check_name(endpoint, "endpoint name")
    if endpoint == "default":
        raise UsageError("the default endpoint cannot be deleted: it goes with the proxy "
                         f"(`rdsproxyctl delete {name}`)")
    plan = Plan(action="endpoints delete", proxy=name, wait_for="endpoint-deleted",
                endpoint=endpoint)
    require_state(aws, name)
    existing = find_endpoint(aws, endpoint)
    if existing is None:
        if if_exists:
            plan.warnings.append(f"endpoint {endpoint} does not exist: nothing to do "
                                 "(--if-exists)")
            return plan
        raise NotFound(f"proxy endpoint {endpoint} not found in {aws.region}",
                       hint=f"`rdsproxyctl endpoints list {name}` shows the proxy's endpoints")
    if existing.proxy_name != name:
        raise UsageError(f"endpoint {endpoint} belongs to proxy {existing.proxy_name}, "
                         f"not {name}")
    plan.changes.append(Change("delete", f"endpoint {endpoint}", "endpoint", existing.endpoint,
                               None))
    plan.calls.append(PlannedCall("rds", "DeleteDBProxyEndpoint",
                                  {"DBProxyEndpointName": endpoint},
                                  f"delete endpoint {endpoint} of {name}"))
    return plan


def list_endpoints(aws: Any, name: str) -> list[ProxyEndpoint]:
    from rdsproxyctl.core.proxies import get_endpoints

    v.check_name(name)
    return get_endpoints(aws, name)


# -- delete ------------------------------------------------------------------------------------
def delete_plan(aws: Any, name: str, *, if_exists: bool = False) -> Plan:
    v.check_name(name)
    plan = Plan(action="delete", proxy=name, wait_for="deleted")
    current = read_state(aws, name)
    if current is None:
        if if_exists:
            plan.warnings.append(f"proxy {name} does not exist: nothing to do (--if-exists)")
            return plan
        require_state(aws, name)  # raises the NotFound of the one table
    assert current is not None
    plan.changes.append(Change("delete", f"proxy {name}", "endpoint", current.proxy.endpoint,
                               None))
    for ep in current.endpoints:
        if not ep.is_default:
            plan.changes.append(Change("delete", f"endpoint {ep.name}", "endpoint", ep.endpoint,
                                       None))
    for kind, ident in target_keys(current.targets):
        plan.changes.append(Change("delete", f"target {ident}", "type", kind, None))
    plan.calls.append(PlannedCall("rds", "DeleteDBProxy", {"DBProxyName": name},
                                  f"delete proxy {name}, its endpoints and target group"))
    return plan


# -- IAM auth on the auth entries ----------------------------------------------------------------
@dataclass
class IamStatus:
    """``iam status``: how clients authenticate to a proxy."""

    proxy: str
    engine_family: str
    require_tls: bool
    default_auth_scheme: str | None
    iam_auth: str  # the summary: REQUIRED, DISABLED, MIXED, END_TO_END, NONE
    auth: list[AuthEntry]


def iam_status(aws: Any, name: str) -> IamStatus:
    from rdsproxyctl.core.proxies import get_proxy

    v.check_name(name)
    p = get_proxy(aws, name)
    return IamStatus(proxy=p.name, engine_family=p.engine_family, require_tls=p.require_tls,
                     default_auth_scheme=p.default_auth_scheme, iam_auth=p.iam_auth,
                     auth=list(p.auth))


def iam_plan(aws: Any, name: str, *, enable: bool, mode: str = "required") -> Plan:
    """Plan ``iam enable`` (REQUIRED, or ENABLED on SQL Server) / ``iam disable``."""
    v.check_name(name)
    wanted = "DISABLED"
    if enable:
        wanted = (mode or "").strip().upper()
        if wanted not in ("REQUIRED", "ENABLED"):
            raise UsageError(f"IAM mode {mode!r} is not one of required, enabled (SQL Server "
                             "only)")
    current = require_state(aws, name)
    proxy = current.proxy
    wanted = v.check_iam_auth(wanted, proxy.engine_family)
    action = "iam enable" if enable else "iam disable"
    entries = auth_specs(proxy)
    for entry in entries:
        entry.iam_auth = wanted
    spec = ProxySpec(name=name, engine_family=proxy.engine_family, auth=entries)
    plan = diff(aws, spec, current, action=action)
    if not proxy.auth:
        plan.warnings.append(f"proxy {name} has no auth entries"
                             + (" (it uses end-to-end IAM authentication)"
                                if proxy.default_auth_scheme == "IAM_AUTH" else ""))
    if enable and not proxy.require_tls:
        plan.warnings.append(iam_tls_warning(name))
    if not enable and proxy.default_auth_scheme == "IAM_AUTH":
        plan.warnings.append(f"{name} uses end-to-end IAM authentication (DefaultAuthScheme "
                             f"IAM_AUTH); `rdsproxyctl modify {name} --no-end-to-end-iam` "
                             "turns it off")
    return plan


# -- IAM policy for clients ----------------------------------------------------------------------
def connect_policy(aws: Any, name: str, db_users: list[str]) -> dict[str, Any]:
    from rdsproxyctl.core.proxies import get_proxy

    v.check_name(name)
    for user in db_users:
        iamdocs.check_db_user(user)
    if not db_users:
        raise UsageError("pass --user USER (or --user '*' for any database user)")
    return iamdocs.connect_policy(get_proxy(aws, name), db_users)


def attach_policy_plan(aws: Any, name: str, document: dict[str, Any], *,
                       role: str | None = None, user: str | None = None,
                       policy_name: str | None = None,
                       replace: bool = False) -> tuple[Plan, dict[str, Any]]:
    """Plan attaching ``document`` as an inline policy of an IAM role or user.

    An inline policy of that name is read first: ``document``'s statements are added to
    it (the others stay; nothing to do when they are all there), or with ``replace`` it
    is replaced, a change that needs consent when statements go.  Returns the plan and
    the document the principal will have.
    """
    from rdsproxyctl.core.awserrors import aws_errors

    if bool(role) == bool(user):
        raise UsageError("pass one of --attach-to-role and --attach-to-user")
    principal = (role or user or "").rsplit("/", 1)[-1]
    policy_name = iamdocs.check_policy_name(policy_name or f"rds-proxy-connect-{name}")
    plan = Plan(action="iam policy", proxy=name, wait_for="none")
    kind = "role" if role else "user"
    try:
        with aws_errors(aws):
            if role:
                aws.client("iam").get_role(RoleName=principal)
            else:
                aws.client("iam").get_user(UserName=principal)
    except NotFound:
        raise UsageError(f"IAM {kind} {principal} does not exist") from None
    op, key = ("PutRolePolicy", "RoleName") if role else ("PutUserPolicy", "UserName")
    old = iamdocs.inline_policy(aws, kind, principal, policy_name)
    new = document if old is None or replace else iamdocs.merge_policy(old, document)
    res, field_ = f"{kind} {principal}", f"inline policy {policy_name}"
    if old == new:
        plan.warnings.append(f"{kind} {principal} already has this statement in inline policy "
                             f"{policy_name}: nothing to do")
        return plan, new
    if old is None:
        plan.changes.append(Change("create", res, field_, None, new))
    else:
        lost = [st for st in iamdocs.statements(old) if st not in iamdocs.statements(new)]
        plan.changes.append(Change(
            "update", res, field_, old, new,
            consent=f"replaces inline policy {policy_name} of {kind} {principal} "
                    f"({len(lost)} of its statement(s) removed)" if lost else None))
    plan.calls.append(PlannedCall("iam", op, {
        key: principal, "PolicyName": policy_name,
        "PolicyDocument": iamdocs.policy_json(new)},
        f"{'attach' if old is None else 'update'} inline policy {policy_name} "
        f"(rds-db:connect to {name}) {'to' if old is None else 'of'} {kind} {principal}"))
    return plan, new
