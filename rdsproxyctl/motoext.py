"""rdsproxyctl's extension of moto: the RDS Proxy API as AWS documents it.

moto 5.x lacks ModifyDBProxy and the four DBProxyEndpoint calls, reports target
health only as REGISTERING/AVAILABLE, and has a few gaps in the calls it has
(missing-proxy look-ups crash, instance targets have no endpoint, no InitQuery, no
DefaultAuthScheme, no pagination).  :func:`install` patches moto's RDS backend and
response classes in place, so both ``mock_aws`` (tests) and a moto server (the
sandbox, ``python -m rdsproxyctl.motoext``) behave as AWS documents, with the same
fields and fault codes.  It also gives the sandbox hooks a real proxy would change
on its own: :func:`set_target_health`, :func:`set_proxy_status`.

This module is test and sandbox infrastructure: the CLI never imports it.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from typing import Any

from moto.core.responses import ActionResult, PaginatedResult
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random as random
from moto.rds import exceptions as rds_exceptions
from moto.rds.exceptions import RDSClientError
from moto.rds.models import (
    DBInstance,
    DBProxy,
    DBProxyTarget,
    DBProxyTargetGroup,
    RDSBackend,
    RDSBaseModel,
    rds_backends,
)
from moto.rds.responses import RDSResponse

#: The health a newly registered target reports until someone sets it (the sandbox
#: sets "REGISTERING" and its health checker takes over); None: moto's own
#: REGISTERING-then-AVAILABLE.
REGISTERED_TARGET_HEALTH: str | None = None

#: How many reads (the create/modify response included) a proxy reports a transitional
#: status (creating, modifying) before it becomes available.  0 (the default) makes every change instant; tests
#: of ``--wait`` and the sandbox raise it.
TRANSITION_READS = 0

PROXY_ENDPOINT_QUOTA = 20
_NAME_RE = re.compile(r"^[A-Za-z](?:-?[A-Za-z0-9]+)*$")
_HEALTH_STATES = {"REGISTERING", "AVAILABLE", "UNAVAILABLE", "UNUSED"}
_HEALTH_REASONS = {
    None, "UNREACHABLE", "CONNECTION_FAILED", "AUTH_FAILURE", "PENDING_PROXY_CAPACITY",
    "INVALID_REPLICATION_STATE", "PROMOTED",
}
_lock = threading.RLock()
_installed = False


# -- faults, with the codes of botocore's RDS model ------------------------------------
def _fault(code: str, message: str) -> RDSClientError:
    """A fault; moto takes the HTTP status from the shape of that code in the RDS model."""
    return RDSClientError(code, message)


def proxy_not_found(name: str) -> RDSClientError:
    return rds_exceptions.DBProxyNotFoundFault(name)


def invalid_parameter(message: str) -> RDSClientError:
    return _fault("InvalidParameterValue", message)


def _validate_name(name: str, what: str) -> None:
    if not (1 <= len(name) <= 63 and _NAME_RE.match(name)):
        raise invalid_parameter(
            f"{what} {name!r} is not valid: 1 to 63 ASCII letters, digits and hyphens; it must "
            "start with a letter and can't end with a hyphen or contain two consecutive hyphens."
        )


def _validate_range(value: Any, lo: int, hi: int, field: str) -> None:
    if value is not None and not lo <= int(value) <= hi:
        raise invalid_parameter(f"{field} must be between {lo} and {hi}; got {value}.")


# -- transitional status and extra fields on DBProxy ------------------------------------
def _get_status(self: DBProxy) -> str:
    pending = getattr(self, "_rpc_transition", None)
    if pending:
        status, reads = pending
        if reads > 0:
            self._rpc_transition = (status, reads - 1)
            return status
        self._rpc_transition = None
    return getattr(self, "_rpc_status", "available")


def _set_status(self: DBProxy, value: str) -> None:
    self._rpc_status = value


def _begin_transition(proxy: DBProxy, status: str) -> None:
    if TRANSITION_READS > 0:
        proxy._rpc_transition = (status, TRANSITION_READS)


def _proxy_hostname(name: str, proxy: DBProxy) -> str:
    return f"{name}.proxy-{proxy.url_identifier}.{proxy.region}.rds.amazonaws.com"


def _endpoint_hostname(name: str, proxy: DBProxy) -> str:
    return f"{name}.endpoint.proxy-{proxy.url_identifier}.{proxy.region}.rds.amazonaws.com"


# -- extra endpoints ------------------------------------------------------------------------
class DBProxyEndpoint(RDSBaseModel):
    # moto files every model under the service named by its module's second part;
    # this one belongs to RDS (and `python -m` would otherwise name it __main__).
    __module__ = "moto.rds.rdsproxyctl"
    resource_type = "db-proxy-endpoint"

    def __init__(self, backend: RDSBackend, proxy: DBProxy, name: str, subnet_ids: list[str],
                 security_group_ids: list[str], target_role: str,
                 tags: list[dict[str, str]] | None, network_type: str | None) -> None:
        super().__init__(backend)
        self.db_proxy_endpoint_name = name
        self.db_proxy_name = proxy.db_proxy_name
        self.unique_id = f"prx-endpoint-{random.get_random_string(17, lower_case=True)}"
        self.vpc_id = proxy.vpc_id
        self.vpc_subnet_ids = list(subnet_ids)
        self.vpc_security_group_ids = list(security_group_ids)
        self.target_role = target_role
        self.endpoint = _endpoint_hostname(name, proxy)
        self.created_date = utcnow()
        self.is_default = False
        self.status = "available"
        self.endpoint_network_type = network_type or "IPV4"
        self.tags = tags or []

    @property
    def resource_id(self) -> str:
        return self.unique_id

    @property
    def db_proxy_endpoint_arn(self) -> str:
        return self.arn


class DefaultEndpointView:
    """The default endpoint, as DescribeDBProxyEndpoints lists it."""

    def __init__(self, proxy: DBProxy) -> None:
        self.db_proxy_endpoint_name = "default"
        self.db_proxy_name = proxy.db_proxy_name
        self.db_proxy_endpoint_arn = proxy.arn.replace(":db-proxy:", ":db-proxy-endpoint:")
        self.status = proxy.status
        self.vpc_id = proxy.vpc_id
        self.vpc_security_group_ids = proxy.vpc_security_group_ids
        self.vpc_subnet_ids = proxy.vpc_subnet_ids
        self.endpoint = proxy.endpoint
        self.created_date = proxy.created_date
        self.target_role = "READ_WRITE"
        self.is_default = True
        self.endpoint_network_type = getattr(proxy, "endpoint_network_type", "IPV4")


def _endpoints(backend: RDSBackend) -> dict[str, DBProxyEndpoint]:
    store = getattr(backend, "_rpc_endpoints", None)
    if store is None:
        store = backend._rpc_endpoints = {}
    return store


def _proxy(backend: RDSBackend, name: str | None) -> DBProxy:
    proxy = backend.db_proxies.get(name or "")
    if proxy is None:
        raise proxy_not_found(name or "")
    return proxy


def _target_group(proxy: DBProxy, name: str | None) -> DBProxyTargetGroup:
    group = proxy.proxy_target_groups.get(name or "default")
    if group is None:
        raise _fault("DBProxyTargetGroupNotFoundFault",
                     f"The target group {name} doesn't exist for proxy {proxy.db_proxy_name}.")
    return group


# -- backend methods ----------------------------------------------------------------------
_orig_create_db_proxy = RDSBackend.create_db_proxy
_orig_register = RDSBackend.register_db_proxy_targets


def create_db_proxy(self: RDSBackend, db_proxy_name: str, engine_family: str,
                    auth: list[dict[str, str]] | None, role_arn: str, vpc_subnet_ids: list[str],
                    vpc_security_group_ids: list[str] | None, require_tls: bool | None,
                    idle_client_timeout: int | None, debug_logging: bool | None,
                    tags: list[dict[str, str]] | None, default_auth_scheme: str | None = None,
                    endpoint_network_type: str | None = None,
                    target_connection_network_type: str | None = None) -> DBProxy:
    _validate_name(db_proxy_name, "DBProxyName")
    _validate_range(idle_client_timeout, 1, 28800, "IdleClientTimeout")
    if default_auth_scheme not in (None, "IAM_AUTH", "NONE"):
        raise invalid_parameter(f"DefaultAuthScheme {default_auth_scheme} is not valid.")
    if not auth and default_auth_scheme != "IAM_AUTH":
        raise invalid_parameter("Auth is required unless DefaultAuthScheme is IAM_AUTH.")
    _validate_auth(auth or [], engine_family)
    host = _allocate_address(db_proxy_name, "default")
    try:
        proxy = _orig_create_db_proxy(
            self, db_proxy_name, engine_family, list(auth or []), role_arn, vpc_subnet_ids,
            vpc_security_group_ids, require_tls, idle_client_timeout, debug_logging, tags)
    except BaseException:
        _release_address(host)
        raise
    proxy.default_auth_scheme = default_auth_scheme or "NONE"
    proxy.endpoint_network_type = endpoint_network_type or "IPV4"
    proxy.target_connection_network_type = target_connection_network_type or "IPV4"
    proxy.endpoint = host or _proxy_hostname(db_proxy_name, proxy)
    proxy._rpc_address = host
    proxy.require_tls = bool(require_tls)
    if engine_family == "SQLSERVER":
        proxy.proxy_target_groups["default"].max_connections = 10
        proxy.proxy_target_groups["default"].max_idle_connections = 5
    _begin_transition(proxy, "creating")
    return proxy


_PASSWORD_TYPES = {
    "MYSQL": {"MYSQL_NATIVE_PASSWORD", "MYSQL_CACHING_SHA2_PASSWORD"},
    "POSTGRESQL": {"POSTGRES_SCRAM_SHA_256", "POSTGRES_MD5"},
    "SQLSERVER": {"SQL_SERVER_AUTHENTICATION"},
}


def _validate_auth(auth: list[dict[str, Any]], engine_family: str) -> None:
    for entry in auth:
        iam = entry.get("IAMAuth")
        if iam not in (None, "DISABLED", "REQUIRED", "ENABLED"):
            raise invalid_parameter(f"IAMAuth {iam} is not valid.")
        if iam == "ENABLED" and engine_family != "SQLSERVER":
            raise invalid_parameter("IAMAuth ENABLED is supported only for SQL Server proxies.")
        kind = entry.get("ClientPasswordAuthType")
        if kind and kind not in _PASSWORD_TYPES.get(engine_family, set()):
            raise invalid_parameter(
                f"ClientPasswordAuthType {kind} is not valid for engine family {engine_family}.")


def modify_db_proxy(self: RDSBackend, db_proxy_name: str, new_db_proxy_name: str | None = None,
                    default_auth_scheme: str | None = None, auth: list[dict[str, Any]] | None = None,
                    require_tls: bool | None = None, idle_client_timeout: int | None = None,
                    debug_logging: bool | None = None, role_arn: str | None = None,
                    security_groups: list[str] | None = None) -> DBProxy:
    with _lock:
        proxy = _proxy(self, db_proxy_name)
        if proxy.status not in ("available",):
            raise _fault("InvalidDBProxyStateFault",
                         f"The DB proxy {db_proxy_name} isn't in the available state.")
        _validate_range(idle_client_timeout, 1, 28800, "IdleClientTimeout")
        if default_auth_scheme not in (None, "IAM_AUTH", "NONE"):
            raise invalid_parameter(f"DefaultAuthScheme {default_auth_scheme} is not valid.")
        if auth is not None:
            _validate_auth(auth, proxy.engine_family)
        if new_db_proxy_name and new_db_proxy_name != db_proxy_name:
            _validate_name(new_db_proxy_name, "NewDBProxyName")
            if new_db_proxy_name in self.db_proxies:
                raise rds_exceptions.DBProxyAlreadyExistsFault(new_db_proxy_name)
            del self.db_proxies[db_proxy_name]
            proxy.db_proxy_name = new_db_proxy_name
            if not getattr(proxy, "_rpc_address", None):
                proxy.endpoint = _proxy_hostname(new_db_proxy_name, proxy)
            for group in proxy.proxy_target_groups.values():
                group.db_proxy_name = new_db_proxy_name
            for ep in _endpoints(self).values():
                if ep.db_proxy_name == db_proxy_name:
                    ep.db_proxy_name = new_db_proxy_name
            self.db_proxies[new_db_proxy_name] = proxy
        if default_auth_scheme is not None:
            proxy.default_auth_scheme = default_auth_scheme
        if auth is not None:
            # as CreateDBProxy stores them: the API's own (CamelCase) keys
            proxy.auth = [a.original_dict() if hasattr(a, "original_dict") else dict(a)
                          for a in auth]
        if require_tls is not None:
            proxy.require_tls = bool(require_tls)
        if idle_client_timeout is not None:
            proxy.idle_client_timeout = int(idle_client_timeout)
        if debug_logging is not None:
            proxy.debug_logging = bool(debug_logging)
        if role_arn:
            proxy.role_arn = role_arn
        if security_groups is not None:
            proxy.vpc_security_group_ids = list(security_groups)
        proxy.updated_date = utcnow()
        _begin_transition(proxy, "modifying")
        return proxy


def delete_db_proxy(self: RDSBackend, proxy_name: str) -> DBProxy:
    with _lock:
        proxy = _proxy(self, proxy_name)
        for name in [n for n, ep in _endpoints(self).items() if ep.db_proxy_name == proxy_name]:
            _release_address(getattr(_endpoints(self)[name], "_rpc_address", None))
            del _endpoints(self)[name]
        del self.db_proxies[proxy_name]
        _release_address(getattr(proxy, "_rpc_address", None))
        proxy._rpc_transition = None
        proxy.status = "deleting"
        return proxy


def describe_db_proxies(self: RDSBackend, db_proxy_name: str | None,
                        filters: list[dict[str, Any]] | None = None) -> list[DBProxy]:
    if db_proxy_name:
        return [_proxy(self, db_proxy_name)]
    return list(self.db_proxies.values())


def register_db_proxy_targets(self: RDSBackend, db_proxy_name: str, target_group_name: str,
                              db_cluster_identifiers: list[str],
                              db_instance_identifiers: list[str]) -> list[DBProxyTarget]:
    with _lock:
        proxy = _proxy(self, db_proxy_name)
        group = _target_group(proxy, target_group_name)
        registered = {t.rds_resource_id for t in group.targets}
        for ident in [*db_instance_identifiers, *db_cluster_identifiers]:
            if ident in registered:
                raise _fault("DBProxyTargetAlreadyRegisteredFault",
                             f"The target {ident} is already registered with proxy {db_proxy_name}.")
        for ident in db_instance_identifiers:
            if ident not in self.databases:
                raise rds_exceptions.DBInstanceNotFoundError(ident)
        for ident in db_cluster_identifiers:
            if ident not in self.clusters:
                raise rds_exceptions.DBClusterNotFoundError(ident)
        targets = _orig_register(self, db_proxy_name, target_group_name or "default",
                                 db_cluster_identifiers, db_instance_identifiers)
        for target in targets:
            if target.type == "RDS_INSTANCE":
                db = self.databases[target.rds_resource_id]
                target.endpoint = db.address
                target.port = int(db.port)
                target.role = "READ_WRITE"
            else:
                cluster = self.clusters[target.rds_resource_id]
                target.port = int(cluster.port)
                target.tracked_cluster_id = target.rds_resource_id
            target.target_arn = (f"arn:{proxy.partition}:rds:{proxy.region}:{proxy.account_id}:"
                                 f"target:prx-tgt-{random.get_random_string(17, lower_case=True)}")
            if REGISTERED_TARGET_HEALTH:
                target._rpc_health = {"State": REGISTERED_TARGET_HEALTH, "Reason": None,
                                      "Description": None}
        return targets


def deregister_db_proxy_targets(self: RDSBackend, db_proxy_name: str, target_group_name: str,
                                db_cluster_identifiers: list[str],
                                db_instance_identifiers: list[str]) -> None:
    with _lock:
        proxy = _proxy(self, db_proxy_name)
        group = _target_group(proxy, target_group_name)
        registered = {t.rds_resource_id for t in group.targets}
        for ident in [*db_instance_identifiers, *db_cluster_identifiers]:
            if ident not in registered:
                raise _fault("DBProxyTargetNotFoundFault",
                             f"The target {ident} isn't registered with proxy {db_proxy_name}.")
        drop = set(db_instance_identifiers) | set(db_cluster_identifiers)
        group.targets = [t for t in group.targets if t.rds_resource_id not in drop]


def describe_db_proxy_targets(self: RDSBackend, proxy_name: str,
                              target_group_name: str | None = None) -> list[DBProxyTarget]:
    return list(_target_group(_proxy(self, proxy_name), target_group_name).targets)


def describe_db_proxy_target_groups(self: RDSBackend, proxy_name: str,
                                    target_group_name: str | None = None) -> list[Any]:
    proxy = _proxy(self, proxy_name)
    if target_group_name:
        return [_target_group(proxy, target_group_name)]
    return list(proxy.proxy_target_groups.values())


def modify_db_proxy_target_group(self: RDSBackend, proxy_name: str, config: dict[str, Any],
                                 target_group_name: str | None = None) -> DBProxyTargetGroup:
    with _lock:
        proxy = _proxy(self, proxy_name)
        group = _target_group(proxy, target_group_name)
        max_conn = config.get("MaxConnectionsPercent")
        max_idle = config.get("MaxIdleConnectionsPercent")
        borrow = config.get("ConnectionBorrowTimeout")
        _validate_range(max_conn, 1, 100, "MaxConnectionsPercent")
        _validate_range(borrow, 0, 300, "ConnectionBorrowTimeout")
        new_max = int(max_conn) if max_conn is not None else int(group.max_connections)
        if max_idle is not None:
            _validate_range(max_idle, 0, new_max, "MaxIdleConnectionsPercent")
        filters = config.get("SessionPinningFilters")
        if filters:
            if proxy.engine_family != "MYSQL":
                raise invalid_parameter("SessionPinningFilters are supported only for MySQL proxies.")
            bad = [f for f in filters if f != "EXCLUDE_VARIABLE_SETS"]
            if bad:
                raise invalid_parameter(f"SessionPinningFilters value {bad[0]} is not valid.")
        group.max_connections = new_max
        if max_idle is not None:
            group.max_idle_connections = int(max_idle)
        elif int(group.max_idle_connections) > new_max:
            group.max_idle_connections = new_max
        if borrow is not None:
            group.borrow_timeout = int(borrow)
        if filters is not None:
            group.session_pinning_filters = list(filters)
        if "InitQuery" in config:
            group.init_query = config["InitQuery"] or None
        group.updated_date = utcnow()
        return group


def create_db_proxy_endpoint(self: RDSBackend, db_proxy_name: str, db_proxy_endpoint_name: str,
                             vpc_subnet_ids: list[str],
                             vpc_security_group_ids: list[str] | None = None,
                             target_role: str | None = None,
                             tags: list[dict[str, str]] | None = None,
                             endpoint_network_type: str | None = None) -> DBProxyEndpoint:
    with _lock:
        proxy = _proxy(self, db_proxy_name)
        _validate_name(db_proxy_endpoint_name, "DBProxyEndpointName")
        if db_proxy_endpoint_name == "default" or db_proxy_endpoint_name in _endpoints(self):
            raise _fault("DBProxyEndpointAlreadyExistsFault",
                         f"A DB proxy endpoint named {db_proxy_endpoint_name} already exists.")
        if target_role not in (None, "READ_WRITE", "READ_ONLY"):
            raise invalid_parameter(f"TargetRole {target_role} is not valid.")
        mine = [e for e in _endpoints(self).values() if e.db_proxy_name == db_proxy_name]
        if len(mine) >= PROXY_ENDPOINT_QUOTA:
            raise _fault("DBProxyEndpointQuotaExceededFault",
                         f"The proxy {db_proxy_name} already has {PROXY_ENDPOINT_QUOTA} endpoints.")
        from moto.ec2.models import ec2_backends

        ec2 = ec2_backends[self.account_id][self.region_name]
        subnets = ec2.describe_subnets(subnet_ids=vpc_subnet_ids)
        if len({s.vpc_id for s in subnets}) > 1:
            raise _fault("InvalidSubnet", "The subnets must all be in one VPC.")
        groups = list(vpc_security_group_ids or [])
        if not groups:
            groups = [ec2.get_default_security_group(subnets[0].vpc_id).id]
        ep = DBProxyEndpoint(self, proxy, db_proxy_endpoint_name, vpc_subnet_ids, groups,
                             target_role or "READ_WRITE", tags, endpoint_network_type)
        ep.vpc_id = subnets[0].vpc_id
        ep._rpc_address = _allocate_address(db_proxy_name, db_proxy_endpoint_name)
        if ep._rpc_address:
            ep.endpoint = ep._rpc_address
        _endpoints(self)[db_proxy_endpoint_name] = ep
        return ep


def _endpoint(backend: RDSBackend, name: str) -> DBProxyEndpoint:
    ep = _endpoints(backend).get(name)
    if ep is None:
        raise _fault("DBProxyEndpointNotFoundFault",
                     f"The DB proxy endpoint {name} doesn't exist.")
    return ep


def describe_db_proxy_endpoints(self: RDSBackend, db_proxy_name: str | None = None,
                                db_proxy_endpoint_name: str | None = None) -> list[Any]:
    if db_proxy_name:
        proxies = [_proxy(self, db_proxy_name)]
    else:
        proxies = list(self.db_proxies.values())
    names = {p.db_proxy_name for p in proxies}
    rows: list[Any] = []
    for proxy in proxies:
        if db_proxy_endpoint_name in (None, "default"):
            rows.append(DefaultEndpointView(proxy))
    rows.extend(ep for ep in _endpoints(self).values()
                if ep.db_proxy_name in names
                and db_proxy_endpoint_name in (None, ep.db_proxy_endpoint_name))
    if db_proxy_endpoint_name and not rows:
        _endpoint(self, db_proxy_endpoint_name)  # raises DBProxyEndpointNotFoundFault
    return rows


def modify_db_proxy_endpoint(self: RDSBackend, db_proxy_endpoint_name: str,
                             new_db_proxy_endpoint_name: str | None = None,
                             vpc_security_group_ids: list[str] | None = None) -> DBProxyEndpoint:
    with _lock:
        ep = _endpoint(self, db_proxy_endpoint_name)
        if new_db_proxy_endpoint_name and new_db_proxy_endpoint_name != db_proxy_endpoint_name:
            _validate_name(new_db_proxy_endpoint_name, "NewDBProxyEndpointName")
            if new_db_proxy_endpoint_name in _endpoints(self):
                raise _fault("DBProxyEndpointAlreadyExistsFault",
                             f"A DB proxy endpoint named {new_db_proxy_endpoint_name} already exists.")
            del _endpoints(self)[db_proxy_endpoint_name]
            ep.db_proxy_endpoint_name = new_db_proxy_endpoint_name
            proxy = self.db_proxies.get(ep.db_proxy_name)
            if proxy is not None and not getattr(ep, "_rpc_address", None):
                ep.endpoint = _endpoint_hostname(new_db_proxy_endpoint_name, proxy)
            _endpoints(self)[new_db_proxy_endpoint_name] = ep
        if vpc_security_group_ids is not None:
            ep.vpc_security_group_ids = list(vpc_security_group_ids)
        return ep


def delete_db_proxy_endpoint(self: RDSBackend, db_proxy_endpoint_name: str) -> DBProxyEndpoint:
    with _lock:
        ep = _endpoint(self, db_proxy_endpoint_name)
        del _endpoints(self)[db_proxy_endpoint_name]
        _release_address(getattr(ep, "_rpc_address", None))
        ep.status = "deleting"
        return ep


# -- target health -----------------------------------------------------------------------
_orig_target_health = DBProxyTarget.target_health


def _target_health(self: DBProxyTarget) -> dict[str, str]:
    override = getattr(self, "_rpc_health", None)
    if override is None:
        return _orig_target_health.fget(self)  # type: ignore[attr-defined]
    return {k: v for k, v in override.items() if v is not None}


def _connection_pool_config(self: DBProxyTargetGroup) -> dict[str, Any]:
    config = {
        "MaxConnectionsPercent": self.max_connections,
        "MaxIdleConnectionsPercent": self.max_idle_connections,
        "ConnectionBorrowTimeout": self.borrow_timeout,
        "SessionPinningFilters": list(self.session_pinning_filters),
    }
    if getattr(self, "init_query", None):
        config["InitQuery"] = self.init_query
    return config


# -- responses -------------------------------------------------------------------------------
def _r_create_db_proxy(self: RDSResponse) -> ActionResult:
    p = self.params
    proxy = self.backend.create_db_proxy(
        db_proxy_name=p["DBProxyName"], engine_family=p["EngineFamily"], auth=p.get("Auth"),
        role_arn=p["RoleArn"], vpc_subnet_ids=p["VpcSubnetIds"],
        vpc_security_group_ids=p.get("VpcSecurityGroupIds"), require_tls=p.get("RequireTLS"),
        idle_client_timeout=p.get("IdleClientTimeout"), debug_logging=p.get("DebugLogging"),
        tags=p.get("Tags", []), default_auth_scheme=p.get("DefaultAuthScheme"),
        endpoint_network_type=p.get("EndpointNetworkType"),
        target_connection_network_type=p.get("TargetConnectionNetworkType"))
    return ActionResult({"DBProxy": proxy})


def _r_modify_db_proxy(self: RDSResponse) -> ActionResult:
    p = self.params
    proxy = self.backend.modify_db_proxy(
        db_proxy_name=p["DBProxyName"], new_db_proxy_name=p.get("NewDBProxyName"),
        default_auth_scheme=p.get("DefaultAuthScheme"), auth=p.get("Auth"),
        require_tls=p.get("RequireTLS"), idle_client_timeout=p.get("IdleClientTimeout"),
        debug_logging=p.get("DebugLogging"), role_arn=p.get("RoleArn"),
        security_groups=p.get("SecurityGroups"))
    return ActionResult({"DBProxy": proxy})


def _r_describe_db_proxies(self: RDSResponse) -> ActionResult:
    proxies = self.backend.describe_db_proxies(db_proxy_name=self.params.get("DBProxyName"))
    return PaginatedResult({"DBProxies": proxies})


def _r_describe_db_proxy_targets(self: RDSResponse) -> ActionResult:
    targets = self.backend.describe_db_proxy_targets(
        proxy_name=self.params.get("DBProxyName"),
        target_group_name=self.params.get("TargetGroupName"))
    return PaginatedResult({"Targets": targets})


def _r_describe_db_proxy_target_groups(self: RDSResponse) -> ActionResult:
    groups = self.backend.describe_db_proxy_target_groups(
        proxy_name=self.params.get("DBProxyName"),
        target_group_name=self.params.get("TargetGroupName"))
    return PaginatedResult({"TargetGroups": groups})


def _r_modify_db_proxy_target_group(self: RDSResponse) -> ActionResult:
    group = self.backend.modify_db_proxy_target_group(
        proxy_name=self.params.get("DBProxyName"),
        config=self.params.get("ConnectionPoolConfig", {}),
        target_group_name=self.params.get("TargetGroupName"))
    return ActionResult({"DBProxyTargetGroup": group})


def _r_create_db_proxy_endpoint(self: RDSResponse) -> ActionResult:
    p = self.params
    ep = self.backend.create_db_proxy_endpoint(
        db_proxy_name=p["DBProxyName"], db_proxy_endpoint_name=p["DBProxyEndpointName"],
        vpc_subnet_ids=p["VpcSubnetIds"], vpc_security_group_ids=p.get("VpcSecurityGroupIds"),
        target_role=p.get("TargetRole"), tags=p.get("Tags"),
        endpoint_network_type=p.get("EndpointNetworkType"))
    return ActionResult({"DBProxyEndpoint": ep})


def _r_describe_db_proxy_endpoints(self: RDSResponse) -> ActionResult:
    rows = self.backend.describe_db_proxy_endpoints(
        db_proxy_name=self.params.get("DBProxyName"),
        db_proxy_endpoint_name=self.params.get("DBProxyEndpointName"))
    return PaginatedResult({"DBProxyEndpoints": rows})


def _r_modify_db_proxy_endpoint(self: RDSResponse) -> ActionResult:
    p = self.params
    ep = self.backend.modify_db_proxy_endpoint(
        db_proxy_endpoint_name=p["DBProxyEndpointName"],
        new_db_proxy_endpoint_name=p.get("NewDBProxyEndpointName"),
        vpc_security_group_ids=p.get("VpcSecurityGroupIds"))
    return ActionResult({"DBProxyEndpoint": ep})


def _r_delete_db_proxy_endpoint(self: RDSResponse) -> ActionResult:
    ep = self.backend.delete_db_proxy_endpoint(
        db_proxy_endpoint_name=self.params["DBProxyEndpointName"])
    return ActionResult({"DBProxyEndpoint": ep})


# -- hooks for the sandbox and tests ---------------------------------------------------------
def backend(account_id: str, region: str) -> RDSBackend:
    return rds_backends[account_id][region]


def set_target_health(account_id: str, region: str, proxy_name: str, rds_resource_id: str,
                      state: str, reason: str | None = None,
                      description: str | None = None) -> None:
    """Make DescribeDBProxyTargets report this health for one target.

    ``state=None`` is not allowed; to go back to moto's own REGISTERING/AVAILABLE
    behaviour, call :func:`clear_target_health`.
    """
    if state not in _HEALTH_STATES:
        raise ValueError(f"state must be one of {sorted(_HEALTH_STATES)}")
    if reason not in _HEALTH_REASONS:
        raise ValueError(f"reason must be one of {sorted(r for r in _HEALTH_REASONS if r)}")
    if state == "AVAILABLE":
        reason = description = None  # AWS omits both when AVAILABLE
    with _lock:
        for target in _proxy(backend(account_id, region), proxy_name) \
                .proxy_target_groups["default"].targets:
            if target.rds_resource_id == rds_resource_id:
                target._rpc_health = {"State": state, "Reason": reason,
                                      "Description": description}
                return
    raise KeyError(f"{rds_resource_id} is not a target of {proxy_name}")


def clear_target_health(account_id: str, region: str, proxy_name: str,
                        rds_resource_id: str) -> None:
    with _lock:
        for target in _proxy(backend(account_id, region), proxy_name) \
                .proxy_target_groups["default"].targets:
            if target.rds_resource_id == rds_resource_id:
                target._rpc_health = None


def set_proxy_status(account_id: str, region: str, proxy_name: str, status: str,
                     reads: int | None = None) -> None:
    """Set a proxy's status: for good, or (``reads=N``) for the next N describes."""
    with _lock:
        proxy = _proxy(backend(account_id, region), proxy_name)
        if reads is None:
            proxy._rpc_transition = None
            proxy.status = status
        else:
            proxy._rpc_transition = (status, reads)


# -- tags on proxy endpoints (issue 4) --------------------------------------------------------
_orig_get_resource_for_tagging = RDSBackend._get_resource_for_tagging


def _get_resource_for_tagging(self: RDSBackend, arn: str) -> Any:
    """Add/List/RemoveTags also take proxy endpoint ARNs, as AWS's do."""
    if ":db-proxy-endpoint:" in arn:
        for ep in _endpoints(self).values():
            if ep.arn == arn:
                return ep
        raise _fault("DBProxyEndpointNotFoundFault",
                     f"The DB proxy endpoint with ARN {arn} doesn't exist.")
    return _orig_get_resource_for_tagging(self, arn)


# -- sandbox hooks: proxy addresses, DB instance endpoints ---------------------------------
class EndpointAllocator:
    """What the sandbox plugs into :func:`set_endpoint_allocator`.

    ``allocate(proxy_name, endpoint_name)`` returns the address a new proxy endpoint
    reports and listens on (the sandbox binds ``127.0.0.N:5432`` there and then), or
    ``None`` when no address is free; ``release(address)`` frees it when the proxy or
    endpoint is deleted.  Without an allocator, endpoints get AWS-like DNS names.
    """

    def allocate(self, proxy_name: str, endpoint_name: str) -> str | None:  # pragma: no cover
        raise NotImplementedError

    def release(self, address: str) -> None:  # pragma: no cover
        raise NotImplementedError


_allocator: EndpointAllocator | None = None


def set_endpoint_allocator(allocator: EndpointAllocator | None) -> None:
    """Give new proxies and proxy endpoints addresses from ``allocator`` (None: DNS names)."""
    global _allocator
    _allocator = allocator


def _allocate_address(proxy_name: str, endpoint_name: str) -> str | None:
    if _allocator is None:
        return None
    address = _allocator.allocate(proxy_name, endpoint_name)
    if not address:
        raise _fault("InsufficientAvailableIPsInSubnetFault",
                     f"No free address for endpoint {endpoint_name} of proxy {proxy_name}.")
    return address


def _release_address(address: str | None) -> None:
    if address and _allocator is not None:
        _allocator.release(address)


_orig_instance_address = DBInstance.address


def _instance_address(self: DBInstance) -> str:
    override = getattr(self, "_rpc_address", None)
    return override or _orig_instance_address.fget(self)  # type: ignore[attr-defined]


def set_instance_endpoint(account_id: str, region: str, identifier: str, address: str,
                          port: int) -> None:
    """Make a DB instance report ``address:port`` (DescribeDBInstances' Endpoint), and
    the proxy targets that point at it too (the sandbox's real PostgreSQL)."""
    with _lock:
        rds = backend(account_id, region)
        db = rds.databases.get(identifier)
        if db is None:
            raise KeyError(f"no DB instance {identifier} in {account_id}/{region}")
        db._rpc_address = address
        db.port = int(port)
        for proxy in rds.db_proxies.values():
            for group in proxy.proxy_target_groups.values():
                for target in group.targets:
                    if target.type == "RDS_INSTANCE" and target.rds_resource_id == identifier:
                        target.endpoint = address
                        target.port = int(port)


# -- IAM SimulatePrincipalPolicy, on moto's own policy evaluation ------------------------
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


# -- install -------------------------------------------------------------------------------
def install() -> None:
    """Patch moto's RDS classes (idempotent).  Call before making clients or servers."""
    global _installed
    with _lock:
        if _installed:
            return
        DBProxy.status = property(_get_status, _set_status)  # type: ignore[assignment]
        DBProxyTarget.target_health = property(_target_health)  # type: ignore[assignment]
        DBProxyTarget.role = None  # class defaults: instances set their own
        DBProxyTarget.tracked_cluster_id = None
        DBProxyTargetGroup.init_query = None
        DBProxyTargetGroup.connection_pool_config = property(  # type: ignore[assignment]
            _connection_pool_config)
        DBInstance.address = property(_instance_address)  # type: ignore[assignment]
        from moto.iam.responses import IamResponse

        IamResponse.simulate_principal_policy = _r_simulate_principal_policy  # type: ignore[attr-defined]
        rds_exceptions.DBProxyQuotaExceededFault.__init__ = _quota_init  # type: ignore[method-assign]
        RDSBackend._get_resource_for_tagging = _get_resource_for_tagging  # type: ignore[method-assign]
        from moto.core.utils import get_pagination_model

        pagination = get_pagination_model("rds")  # cached: moto pages with this very dict
        for operation, attribute in _PAGE_KEYS.items():
            pagination[operation]["unique_attribute"] = attribute
        for name, func in {
            "create_db_proxy": create_db_proxy,
            "modify_db_proxy": modify_db_proxy,
            "delete_db_proxy": delete_db_proxy,
            "describe_db_proxies": describe_db_proxies,
            "register_db_proxy_targets": register_db_proxy_targets,
            "deregister_db_proxy_targets": deregister_db_proxy_targets,
            "describe_db_proxy_targets": describe_db_proxy_targets,
            "describe_db_proxy_target_groups": describe_db_proxy_target_groups,
            "modify_db_proxy_target_group": modify_db_proxy_target_group,
            "create_db_proxy_endpoint": create_db_proxy_endpoint,
            "describe_db_proxy_endpoints": describe_db_proxy_endpoints,
            "modify_db_proxy_endpoint": modify_db_proxy_endpoint,
            "delete_db_proxy_endpoint": delete_db_proxy_endpoint,
        }.items():
            setattr(RDSBackend, name, func)
        for name, func in {
            "create_db_proxy": _r_create_db_proxy,
            "modify_db_proxy": _r_modify_db_proxy,
            "describe_db_proxies": _r_describe_db_proxies,
            "describe_db_proxy_targets": _r_describe_db_proxy_targets,
            "describe_db_proxy_target_groups": _r_describe_db_proxy_target_groups,
            "modify_db_proxy_target_group": _r_modify_db_proxy_target_group,
            "create_db_proxy_endpoint": _r_create_db_proxy_endpoint,
            "describe_db_proxy_endpoints": _r_describe_db_proxy_endpoints,
            "modify_db_proxy_endpoint": _r_modify_db_proxy_endpoint,
            "delete_db_proxy_endpoint": _r_delete_db_proxy_endpoint,
        }.items():
            setattr(RDSResponse, name, func)
        _installed = True


# The attribute moto's paginator uses to find where a Marker resumes, per operation.
_PAGE_KEYS = {
    "DescribeDBProxies": "db_proxy_name",
    "DescribeDBProxyTargets": "rds_resource_id",
    "DescribeDBProxyTargetGroups": "target_group_name",
    "DescribeDBProxyEndpoints": "db_proxy_endpoint_name",
}


def _quota_init(self: Any) -> None:
    RDSClientError.__init__(self, "DBProxyQuotaExceededFault",
                            "The request would cause you to exceed the allowed number of DB proxies.")


def main(argv: list[str] | None = None) -> None:
    """``python -m rdsproxyctl.motoext [-p PORT]``: a moto server with this extension."""
    install()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover - run as a server process
    main()
