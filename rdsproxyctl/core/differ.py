"""The differ: the current state of a proxy against a :class:`~rdsproxyctl.core.spec.ProxySpec`.

Reading the current state and comparing it with a spec is one function, :func:`diff`,
shared by ``create``, ``apply``, ``modify`` and ``pool`` (core/lifecycle.py), so they
agree on what "no changes" means; :func:`preflight` does the read-only look-ups
``create`` and ``apply`` share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.core import validate as v
from rdsproxyctl.core.models import (
    AuthEntry,
    Proxy,
    ProxyDetails,
    ProxyEndpoint,
    Target,
)
from rdsproxyctl.core.plan import Change, Plan, PlannedCall
from rdsproxyctl.core.spec import (
    AuthSpec,
    EndpointSpec,
    PoolSpec,
    ProxySpec,
)
from rdsproxyctl.errors import NotFound, UsageError

DEFAULT_POOL = {
    "POSTGRESQL": {"max_connections_percent": 100, "max_idle_connections_percent": 50},
    "MYSQL": {"max_connections_percent": 100, "max_idle_connections_percent": 50},
    "SQLSERVER": {"max_connections_percent": 10, "max_idle_connections_percent": 5},
}
DEFAULT_BORROW_TIMEOUT = 120


# -- reading the current state ----------------------------------------------------------------
def read_state(aws: Any, name: str) -> ProxyDetails | None:
    """Everything about proxy ``name``, or ``None`` when there is no such proxy."""
    from rdsproxyctl.core.proxies import describe

    try:
        return describe(aws, name)
    except NotFound:
        return None


def require_state(aws: Any, name: str) -> ProxyDetails:
    """Like :func:`read_state`, but a missing proxy is :class:`NotFound` (exit 3)."""
    from rdsproxyctl.core.proxies import describe

    return describe(aws, name)


def _auth_api(entry: AuthEntry) -> dict[str, Any]:
    out = {
        "AuthScheme": entry.auth_scheme or "SECRETS",
        "SecretArn": entry.secret_arn,
        "IAMAuth": entry.iam_auth or "DISABLED",
        "ClientPasswordAuthType": entry.client_password_auth_type,
        "Description": entry.description,
        "UserName": entry.user_name,
    }
    return {k: val for k, val in out.items() if val is not None}


def auth_specs(proxy: Proxy) -> list[AuthSpec]:
    """The proxy's auth entries as specs (to edit and plan back)."""
    return [AuthSpec(secret_arn=a.secret_arn or "", iam_auth=a.iam_auth or "DISABLED",
                     client_password_auth_type=a.client_password_auth_type,
                     description=a.description, auth_scheme=a.auth_scheme or "SECRETS",
                     username=a.user_name)
            for a in proxy.auth]


def secret_label(arn: str) -> str:
    """The secret's name from its ARN (``...:secret:app-db-AbCdEf`` -> ``app-db-AbCdEf``)."""
    return arn.split(":secret:", 1)[-1] if ":secret:" in arn else arn


_AUTH_FIELDS = (("IAMAuth", "iam_auth"), ("ClientPasswordAuthType", "client_password_auth_type"),
                ("Description", "description"), ("UserName", "username"),
                ("AuthScheme", "auth_scheme"))


def _target_key(t: Target) -> tuple[str, str] | None:
    if t.type == "TRACKED_CLUSTER":
        return ("cluster", t.tracked_cluster_id or t.rds_resource_id or "")
    if t.type == "RDS_INSTANCE" and not t.tracked_cluster_id:
        return ("instance", t.rds_resource_id or "")
    return None  # a cluster member or a serverless endpoint: part of its cluster


def target_keys(targets: list[Target]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(k for k in map(_target_key, targets) if k))


def _target_params(keys: list[tuple[str, str]]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    instances = [i for kind, i in keys if kind == "instance"]
    clusters = [c for kind, c in keys if kind == "cluster"]
    if instances:
        params["DBInstanceIdentifiers"] = instances
    if clusters:
        params["DBClusterIdentifiers"] = clusters
    return params


def _api_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": val} for k, val in sorted(tags.items())]


# -- the differ ----------------------------------------------------------------------------------
@dataclass
class Builder:
    plan: Plan
    name: str  # the proxy's name for calls (after a rename)

    def call(self, service: str, operation: str, params: dict[str, Any], description: str,
             **kw: Any) -> None:
        self.plan.calls.append(PlannedCall(service, operation, params, description, **kw))

    def change(self, action: str, resource: str, field_: str | None = None, old: Any = None,
               new: Any = None) -> None:
        self.plan.changes.append(Change(action, resource, field_, old, new))  # type: ignore[arg-type]


def _pool_defaults(engine_family: str) -> dict[str, Any]:
    base = DEFAULT_POOL.get(engine_family, DEFAULT_POOL["POSTGRESQL"])
    return {**base, "connection_borrow_timeout": DEFAULT_BORROW_TIMEOUT, "init_query": None,
            "session_pinning_filters": []}


def _plan_pool(b: Builder, spec: ProxySpec, current: dict[str, Any], creating: bool) -> None:
    pool = spec.pool
    if pool is None or pool.is_empty():
        return
    config: dict[str, Any] = {}
    for attr, api in PoolSpec.API_NAMES.items():
        new = getattr(pool, attr)
        if new is None:
            continue
        old = current.get(attr)
        if attr == "session_pinning_filters":
            same = sorted(new) == sorted(old or [])
        elif attr == "init_query":
            same = (new or None) == (old or None)
        else:
            same = new == old
        if same and not creating:
            continue
        config[api] = new
        b.change("create" if creating else "update", "target_group default", attr,
                 None if creating else old, new)
    eff_max = pool.max_connections_percent or current.get("max_connections_percent")
    if pool.max_idle_connections_percent is not None and eff_max is not None and \
            pool.max_idle_connections_percent > eff_max:
        raise UsageError(f"max idle connections percent ({pool.max_idle_connections_percent}) "
                         f"cannot exceed max connections percent ({eff_max}) of {b.name}")
    idle = current.get("max_idle_connections_percent")
    if pool.max_idle_connections_percent is None and eff_max is not None and idle is not None \
            and idle > eff_max:
        config["MaxIdleConnectionsPercent"] = eff_max
        b.change("update", "target_group default", "max_idle_connections_percent", idle, eff_max)
        b.plan.warnings.append(f"max idle connections percent goes from {idle} to {eff_max} "
                               "to stay within max connections percent")
    if config:
        b.call("rds", "ModifyDBProxyTargetGroup",
               {"DBProxyName": b.name, "TargetGroupName": "default",
                "ConnectionPoolConfig": config},
               f"set the connection pool of {b.name}: "
               + ", ".join(f"{k}={val}" for k, val in config.items()))


def _plan_targets(b: Builder, spec: ProxySpec, current: list[tuple[str, str]],
                  prune: bool = True, details: list[Target] | None = None) -> None:
    if spec.targets is None:
        return
    wanted = [t.key for t in spec.targets]
    remove = [k for k in current if k not in wanted]
    if remove and not prune:
        for kind, ident in remove:
            b.plan.warnings.append(f"{kind} {ident} is a target of {b.name} but not in the spec: "
                                   "kept (--prune deregisters it)")
        remove = []
    add = [k for k in wanted if k not in current]
    if remove:
        by_key = {_target_key(t): t for t in details or []}
        for kind, ident in remove:
            b.change("delete", f"target {ident}", "type", kind, None)
            target = by_key.get((kind, ident))
            if target is not None and target.endpoint:
                b.change("delete", f"target {ident}", "endpoint",
                         f"{target.endpoint}:{target.port}" if target.port else target.endpoint,
                         None)
        b.call("rds", "DeregisterDBProxyTargets",
               {"DBProxyName": b.name, "TargetGroupName": "default", **_target_params(remove)},
               f"deregister {', '.join(f'{k} {i}' for k, i in remove)} from {b.name}")
    if add:
        for kind, ident in add:
            b.change("create", f"target {ident}", "type", None, kind)
        b.call("rds", "RegisterDBProxyTargets",
               {"DBProxyName": b.name, "TargetGroupName": "default", **_target_params(add)},
               f"register {', '.join(f'{k} {i}' for k, i in add)} as target of {b.name}")
        b.plan.wait_targets = True


def _tag_calls(b: Builder, arn: str, label: str, wanted: dict[str, str],
               current: dict[str, str]) -> None:
    add = {k: val for k, val in wanted.items() if current.get(k) != val}
    remove = sorted(k for k in current if k not in wanted)
    for k in sorted(add):
        b.change("update" if k in current else "create", f"tags of {label}", k, current.get(k),
                 add[k])
    for k in remove:
        b.change("delete", f"tags of {label}", k, current[k], None)
    if add:
        b.call("rds", "AddTagsToResource", {"ResourceName": arn, "Tags": _api_tags(add)},
               f"tag {label}: " + ", ".join(f"{k}={add[k]}" for k in sorted(add)))
    if remove:
        b.call("rds", "RemoveTagsFromResource", {"ResourceName": arn, "TagKeys": remove},
               f"untag {label}: " + ", ".join(remove))


def _plan_endpoints(aws: Any, b: Builder, spec: ProxySpec, current: list[ProxyEndpoint],
                    proxy_subnets: list[str], prune: bool = True) -> None:
    if spec.endpoints is None:
        return
    have = {e.name: e for e in current if not e.is_default}
    wanted = {e.name: e for e in spec.endpoints}
    for name in sorted(set(have) - set(wanted)):
        if not prune:
            b.plan.warnings.append(f"endpoint {name} of {b.name} is not in the spec: kept "
                                   "(--prune deletes it)")
            continue
        gone = have[name]
        for field_, old in (("endpoint", gone.endpoint), ("target_role", gone.target_role),
                            ("vpc_subnet_ids", gone.subnet_ids),
                            ("vpc_security_group_ids", gone.security_group_ids)):
            b.change("delete", f"endpoint {name}", field_, old, None)
        b.call("rds", "DeleteDBProxyEndpoint", {"DBProxyEndpointName": name},
               f"delete endpoint {name} of {b.name}")
    for ep in spec.endpoints:
        cur = have.get(ep.name)
        if cur is None:
            create_endpoint_call(b, ep, ep.vpc_subnet_ids or proxy_subnets)
            continue
        if ep.target_role != cur.target_role:
            raise UsageError(f"endpoint {ep.name} is {cur.target_role}; its role cannot change "
                             f"in place: delete it (`rdsproxyctl endpoints delete {b.name} "
                             f"{ep.name}`) and apply again")
        if ep.vpc_subnet_ids is not None and set(ep.vpc_subnet_ids) != set(cur.subnet_ids):
            raise UsageError(f"the subnets of endpoint {ep.name} cannot change in place: delete "
                             f"it (`rdsproxyctl endpoints delete {b.name} {ep.name}`) and apply "
                             "again")
        if ep.vpc_security_group_ids is not None and \
                set(ep.vpc_security_group_ids) != set(cur.security_group_ids):
            b.change("update", f"endpoint {ep.name}", "vpc_security_group_ids",
                     cur.security_group_ids, ep.vpc_security_group_ids)
            b.call("rds", "ModifyDBProxyEndpoint",
                   {"DBProxyEndpointName": ep.name,
                    "VpcSecurityGroupIds": ep.vpc_security_group_ids},
                   f"set the security groups of endpoint {ep.name}")
        if ep.tags is not None and cur.arn:
            from rdsproxyctl.core.proxies import get_tags

            _tag_calls(b, cur.arn, f"endpoint {ep.name}", ep.tags, get_tags(aws, cur.arn))


def create_endpoint_call(b: Builder, ep: EndpointSpec, subnets: list[str]) -> None:
    params: dict[str, Any] = {"DBProxyName": b.name, "DBProxyEndpointName": ep.name,
                              "VpcSubnetIds": list(subnets), "TargetRole": ep.target_role}
    if ep.vpc_security_group_ids:
        params["VpcSecurityGroupIds"] = list(ep.vpc_security_group_ids)
    if ep.tags:
        params["Tags"] = _api_tags(ep.tags)
    res = f"endpoint {ep.name}"
    b.change("create", res, "target_role", None, ep.target_role)
    b.change("create", res, "vpc_subnet_ids", None, list(subnets))
    if ep.vpc_security_group_ids:
        b.change("create", res, "vpc_security_group_ids", None, ep.vpc_security_group_ids)
    for k, val in sorted((ep.tags or {}).items()):
        b.change("create", f"tags of {res}", k, None, val)
    b.call("rds", "CreateDBProxyEndpoint", params,
           f"create {ep.target_role} endpoint {ep.name} of {b.name}")


def _plan_new_proxy(b: Builder, spec: ProxySpec) -> None:
    params: dict[str, Any] = {
        "DBProxyName": spec.name,
        "EngineFamily": spec.engine_family,
        "RoleArn": spec.role_arn,
        "VpcSubnetIds": list(spec.vpc_subnet_ids),
    }
    if spec.vpc_security_group_ids:
        params["VpcSecurityGroupIds"] = list(spec.vpc_security_group_ids)
    if spec.default_auth_scheme:
        params["DefaultAuthScheme"] = spec.default_auth_scheme
    if spec.auth:
        params["Auth"] = [a.to_api() for a in spec.auth]
    params["RequireTLS"] = True if spec.require_tls is None else spec.require_tls
    if spec.idle_client_timeout is not None:
        params["IdleClientTimeout"] = spec.idle_client_timeout
    if spec.debug_logging is not None:
        params["DebugLogging"] = spec.debug_logging
    if spec.tags:
        params["Tags"] = _api_tags(spec.tags)
    res = f"proxy {spec.name}"
    for attr, key in (("engine_family", "EngineFamily"), ("role_arn", "RoleArn"),
                      ("vpc_subnet_ids", "VpcSubnetIds"),
                      ("vpc_security_group_ids", "VpcSecurityGroupIds"),
                      ("default_auth_scheme", "DefaultAuthScheme"), ("require_tls", "RequireTLS"),
                      ("idle_client_timeout", "IdleClientTimeout"),
                      ("debug_logging", "DebugLogging")):
        if key in params:
            b.change("create", res, attr, None, params[key])
    for entry in params.get("Auth", []):
        b.change("create", f"auth {secret_label(entry['SecretArn'])}", "iam_auth", None,
                 entry["IAMAuth"])
    for k, val in sorted((spec.tags or {}).items()):
        b.change("create", f"tags of {res}", k, None, val)
    b.call("rds", "CreateDBProxy", params,
           f"create {spec.engine_family} proxy {spec.name}")


def _plan_proxy_changes(b: Builder, spec: ProxySpec, proxy: Proxy, new_name: str | None,
                        prune: bool = True) -> None:
    res = f"proxy {proxy.name}"
    if spec.engine_family != proxy.engine_family:
        raise UsageError(f"proxy {proxy.name} is {proxy.engine_family}; the engine family cannot "
                         "change: create a new proxy")
    if spec.vpc_subnet_ids and set(spec.vpc_subnet_ids) != set(proxy.subnet_ids):
        raise UsageError(f"the subnets of proxy {proxy.name} cannot change in place (now "
                         f"{', '.join(proxy.subnet_ids)}): create a new proxy, or keep them")
    params: dict[str, Any] = {}

    def scalar(attr: str, key: str, new: Any, old: Any) -> None:
        if new is not None and new != old:
            params[key] = new
            b.change("update", res, attr, old, new)

    if new_name and new_name != proxy.name:
        params["NewDBProxyName"] = new_name
        b.change("update", res, "name", proxy.name, new_name)
    scalar("role_arn", "RoleArn", spec.role_arn, proxy.role_arn)
    scalar("require_tls", "RequireTLS", spec.require_tls, proxy.require_tls)
    scalar("idle_client_timeout", "IdleClientTimeout", spec.idle_client_timeout,
           proxy.idle_client_timeout)
    scalar("debug_logging", "DebugLogging", spec.debug_logging, proxy.debug_logging)
    scalar("default_auth_scheme", "DefaultAuthScheme", spec.default_auth_scheme,
           proxy.default_auth_scheme or "NONE")
    if spec.vpc_security_group_ids is not None and \
            set(spec.vpc_security_group_ids) != set(proxy.security_group_ids):
        params["SecurityGroups"] = list(spec.vpc_security_group_ids)
        b.change("update", res, "vpc_security_group_ids", proxy.security_group_ids,
                 spec.vpc_security_group_ids)
    if spec.auth is not None:
        current = {a.secret_arn: _auth_api(a) for a in proxy.auth if a.secret_arn}
        desired = [a.to_api(base=current.get(a.secret_arn)) for a in spec.auth]
        if not prune:
            named = {d["SecretArn"] for d in desired}
            for arn, entry in current.items():
                if arn not in named:
                    desired.append(entry)
                    b.plan.warnings.append(f"auth entry {secret_label(arn)} of {proxy.name} is "
                                           "not in the spec: kept (--prune removes it)")
        wanted = {d["SecretArn"]: d for d in desired}
        if wanted != current:
            params["Auth"] = desired
            for arn in sorted(current.keys() - wanted.keys()):
                for key, attr in (("IAMAuth", "iam_auth"),
                                  ("ClientPasswordAuthType", "client_password_auth_type")):
                    if current[arn].get(key) is not None:
                        b.change("delete", f"auth {secret_label(arn)}", attr,
                                 current[arn].get(key), None)
            for arn, entry in wanted.items():
                old = current.get(arn)
                if old is None:
                    b.change("create", f"auth {secret_label(arn)}", "iam_auth", None,
                             entry.get("IAMAuth"))
                    continue
                for key, attr in _AUTH_FIELDS:
                    if old.get(key) != entry.get(key):
                        b.change("update", f"auth {secret_label(arn)}", attr, old.get(key),
                                 entry.get(key))
    if params:
        params = {"DBProxyName": proxy.name, **params}
        b.call("rds", "ModifyDBProxy", params,
               f"modify proxy {proxy.name}: " + ", ".join(
                   k for k in params if k != "DBProxyName"))


def diff(aws: Any, spec: ProxySpec, current: ProxyDetails | None, *, action: str,
         new_name: str | None = None, prune: bool = True) -> Plan:
    """The plan that takes ``current`` (``None``: no proxy yet) to ``spec``.

    Parts of ``spec`` that are ``None`` are left as they are.  Without ``prune``,
    endpoints, targets and auth entries that ``spec`` does not name are kept (with a
    warning) rather than removed.  Calls that need the
    proxy available (anything after CreateDBProxy or ModifyDBProxy) come after a wait.
    """
    plan = Plan(action=action, proxy=spec.name if current is None else current.proxy.name)
    b = Builder(plan, new_name or plan.proxy)
    if current is None:
        _plan_new_proxy(b, spec)
        pool_now = _pool_defaults(spec.engine_family)
        _plan_pool(b, spec, pool_now, creating=True)
        _plan_targets(b, spec, [])
        _plan_endpoints(aws, b, spec, [], spec.vpc_subnet_ids)
    else:
        proxy = current.proxy
        _plan_proxy_changes(b, spec, proxy, new_name, prune)
        if spec.tags is not None:
            _tag_calls(b, proxy.arn, f"proxy {proxy.name}", spec.tags, current.tags)
        pool_now = {
            attr: getattr(current.target_group.pool, attr) if current.target_group else None
            for attr in PoolSpec.API_NAMES
        }
        _plan_pool(b, spec, pool_now, creating=False)
        _plan_targets(b, spec, target_keys(current.targets), prune, current.targets)
        _plan_endpoints(aws, b, spec, current.endpoints, proxy.subnet_ids, prune)
    # AWS refuses most changes while the proxy is creating or modifying: wait in between.
    calls = plan.calls
    for i, call in enumerate(calls[:-1]):
        if call.operation in ("CreateDBProxy", "ModifyDBProxy"):
            calls[i] = PlannedCall(call.service, call.operation, call.params, call.description,
                                   wait_after=True)
    return plan


# -- look-ups shared by create and apply -----------------------------------------------------
@dataclass
class Lookups:
    warnings: list[str] = field(default_factory=list)
    secret_keys: dict[str, str | None] = field(default_factory=dict)


def preflight(aws: Any, spec: ProxySpec, current: ProxyDetails | None) -> Lookups:
    """Read-only checks of what ``spec`` points to; raises UsageError on a bad value."""
    found = Lookups()
    if current is None:
        v.lookup_subnets(aws, spec.vpc_subnet_ids)
        new_secrets = [a.secret_arn for a in spec.auth or []]
        have_targets: list[tuple[str, str]] = []
        have_endpoints: set[str] = set()
    else:
        have = {a.secret_arn for a in current.proxy.auth}
        new_secrets = [a.secret_arn for a in spec.auth or [] if a.secret_arn not in have]
        have_targets = target_keys(current.targets)
        have_endpoints = {e.name for e in current.endpoints}
    if new_secrets:
        found.secret_keys, found.warnings = v.lookup_secrets(aws, new_secrets)
    for t in spec.targets or []:
        if t.key not in have_targets:
            v.lookup_target(aws, instance=t.db_instance_identifier,
                            cluster=t.db_cluster_identifier, engine_family=spec.engine_family)
    for ep in spec.endpoints or []:
        if ep.name not in have_endpoints:
            if ep.vpc_subnet_ids:
                v.lookup_subnets(aws, ep.vpc_subnet_ids, f"endpoint {ep.name}")
            _endpoint_name_free(aws, ep.name, spec.name)
    return found


def _endpoint_name_free(aws: Any, endpoint: str, proxy: str) -> None:
    """Endpoint names are unique per account and Region, across proxies."""
    row = find_endpoint(aws, endpoint)
    if row is not None and row.proxy_name != proxy:
        raise UsageError(f"endpoint name {endpoint} is taken by proxy {row.proxy_name}: "
                         "endpoint names are unique per account and Region")


def find_endpoint(aws: Any, endpoint: str) -> ProxyEndpoint | None:
    from rdsproxyctl.core.awserrors import aws_errors

    try:
        with aws_errors(aws, endpoint=endpoint):
            rows = aws.client("rds").describe_db_proxy_endpoints(
                DBProxyEndpointName=endpoint)["DBProxyEndpoints"]
    except NotFound:
        return None
    eps = [ProxyEndpoint.from_api(r) for r in rows if not r.get("IsDefault")]
    return eps[0] if eps else None
