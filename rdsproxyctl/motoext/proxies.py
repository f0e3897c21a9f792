"""DBProxy, its targets and target groups: the calls moto lacks or gets wrong, their
responses, target health, and the sandbox's hooks on proxy status and target health."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, PaginatedResult
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random as random
from moto.rds import exceptions as rds_exceptions
from moto.rds.models import DBProxy, DBProxyTarget, DBProxyTargetGroup, RDSBackend
from moto.rds.responses import RDSResponse

from rdsproxyctl.motoext import clusters, settings
from rdsproxyctl.motoext.addresses import allocate_address, release_address
from rdsproxyctl.motoext.common import (
    HEALTH_REASONS,
    HEALTH_STATES,
    backend,
    fault,
    find_proxy,
    find_target_group,
    invalid_parameter,
    proxy_hostname,
    validate_name,
    validate_range,
)
from rdsproxyctl.motoext.endpoints import endpoints_of


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
    if settings.TRANSITION_READS > 0:
        proxy._rpc_transition = (status, settings.TRANSITION_READS)


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
    validate_name(db_proxy_name, "DBProxyName")
    validate_range(idle_client_timeout, 1, 28800, "IdleClientTimeout")
    if default_auth_scheme not in (None, "IAM_AUTH", "NONE"):
        raise invalid_parameter(f"DefaultAuthScheme {default_auth_scheme} is not valid.")
    if not auth and default_auth_scheme != "IAM_AUTH":
        raise invalid_parameter("Auth is required unless DefaultAuthScheme is IAM_AUTH.")
    _validate_auth(auth or [], engine_family)
    host = allocate_address(db_proxy_name, "default")
    try:
        proxy = _orig_create_db_proxy(
            self, db_proxy_name, engine_family, list(auth or []), role_arn, vpc_subnet_ids,
            vpc_security_group_ids, require_tls, idle_client_timeout, debug_logging, tags)
    except BaseException:
        release_address(host)
        raise
    proxy.default_auth_scheme = default_auth_scheme or "NONE"
    proxy.endpoint_network_type = endpoint_network_type or "IPV4"
    proxy.target_connection_network_type = target_connection_network_type or "IPV4"
    proxy.endpoint = host or proxy_hostname(db_proxy_name, proxy)
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
    with settings.lock:
        proxy = find_proxy(self, db_proxy_name)
        if proxy.status not in ("available",):
            raise fault("InvalidDBProxyStateFault",
                         f"The DB proxy {db_proxy_name} isn't in the available state.")
        validate_range(idle_client_timeout, 1, 28800, "IdleClientTimeout")
        if default_auth_scheme not in (None, "IAM_AUTH", "NONE"):
            raise invalid_parameter(f"DefaultAuthScheme {default_auth_scheme} is not valid.")
        if auth is not None:
            _validate_auth(auth, proxy.engine_family)
        if new_db_proxy_name and new_db_proxy_name != db_proxy_name:
            validate_name(new_db_proxy_name, "NewDBProxyName")
            if new_db_proxy_name in self.db_proxies:
                raise rds_exceptions.DBProxyAlreadyExistsFault(new_db_proxy_name)
            del self.db_proxies[db_proxy_name]
            proxy.db_proxy_name = new_db_proxy_name
            if not getattr(proxy, "_rpc_address", None):
                proxy.endpoint = proxy_hostname(new_db_proxy_name, proxy)
            for group in proxy.proxy_target_groups.values():
                group.db_proxy_name = new_db_proxy_name
            for ep in endpoints_of(self).values():
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
    with settings.lock:
        proxy = find_proxy(self, proxy_name)
        for name in [n for n, ep in endpoints_of(self).items() if ep.db_proxy_name == proxy_name]:
            release_address(getattr(endpoints_of(self)[name], "_rpc_address", None))
            del endpoints_of(self)[name]
        del self.db_proxies[proxy_name]
        release_address(getattr(proxy, "_rpc_address", None))
        proxy._rpc_transition = None
        proxy.status = "deleting"
        return proxy


def describe_db_proxies(self: RDSBackend, db_proxy_name: str | None,
                        filters: list[dict[str, Any]] | None = None) -> list[DBProxy]:
    if db_proxy_name:
        return [find_proxy(self, db_proxy_name)]
    return list(self.db_proxies.values())


def register_db_proxy_targets(self: RDSBackend, db_proxy_name: str, target_group_name: str,
                              db_cluster_identifiers: list[str],
                              db_instance_identifiers: list[str]) -> list[DBProxyTarget]:
    with settings.lock:
        proxy = find_proxy(self, db_proxy_name)
        group = find_target_group(proxy, target_group_name)
        registered = {t.rds_resource_id for t in group.targets}
        for ident in [*db_instance_identifiers, *db_cluster_identifiers]:
            if ident in registered:
                raise fault("DBProxyTargetAlreadyRegisteredFault",
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
            if settings.REGISTERED_TARGET_HEALTH:
                target._rpc_health = {"State": settings.REGISTERED_TARGET_HEALTH, "Reason": None,
                                      "Description": None}
        clusters.sync_targets(self, proxy)
        return targets


def deregister_db_proxy_targets(self: RDSBackend, db_proxy_name: str, target_group_name: str,
                                db_cluster_identifiers: list[str],
                                db_instance_identifiers: list[str]) -> None:
    with settings.lock:
        proxy = find_proxy(self, db_proxy_name)
        group = find_target_group(proxy, target_group_name)
        registered = {t.rds_resource_id for t in group.targets}
        for ident in [*db_instance_identifiers, *db_cluster_identifiers]:
            if ident not in registered:
                raise fault("DBProxyTargetNotFoundFault",
                             f"The target {ident} isn't registered with proxy {db_proxy_name}.")
        drop = set(db_instance_identifiers) | set(db_cluster_identifiers)
        group.targets = [t for t in group.targets if t.rds_resource_id not in drop]
        clusters.sync_targets(self, proxy)


def describe_db_proxy_targets(self: RDSBackend, proxy_name: str,
                              target_group_name: str | None = None) -> list[DBProxyTarget]:
    proxy = find_proxy(self, proxy_name)
    clusters.sync_targets(self, proxy)
    return list(find_target_group(proxy, target_group_name).targets)


def describe_db_proxy_target_groups(self: RDSBackend, proxy_name: str,
                                    target_group_name: str | None = None) -> list[Any]:
    proxy = find_proxy(self, proxy_name)
    if target_group_name:
        return [find_target_group(proxy, target_group_name)]
    return list(proxy.proxy_target_groups.values())


def modify_db_proxy_target_group(self: RDSBackend, proxy_name: str, config: dict[str, Any],
                                 target_group_name: str | None = None) -> DBProxyTargetGroup:
    with settings.lock:
        proxy = find_proxy(self, proxy_name)
        group = find_target_group(proxy, target_group_name)
        max_conn = config.get("MaxConnectionsPercent")
        max_idle = config.get("MaxIdleConnectionsPercent")
        borrow = config.get("ConnectionBorrowTimeout")
        validate_range(max_conn, 1, 100, "MaxConnectionsPercent")
        validate_range(borrow, 0, 300, "ConnectionBorrowTimeout")
        new_max = int(max_conn) if max_conn is not None else int(group.max_connections)
        if max_idle is not None:
            validate_range(max_idle, 0, new_max, "MaxIdleConnectionsPercent")
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


# -- hooks for the sandbox and tests ---------------------------------------------------------
def set_target_health(account_id: str, region: str, proxy_name: str, rds_resource_id: str,
                      state: str, reason: str | None = None,
                      description: str | None = None) -> None:
    """Make DescribeDBProxyTargets report this health for one target.

    ``state=None`` is not allowed; to go back to moto's own REGISTERING/AVAILABLE
    behaviour, call :func:`clear_target_health`.
    """
    if state not in HEALTH_STATES:
        raise ValueError(f"state must be one of {sorted(HEALTH_STATES)}")
    if reason not in HEALTH_REASONS:
        raise ValueError(f"reason must be one of {sorted(r for r in HEALTH_REASONS if r)}")
    if state == "AVAILABLE":
        reason = description = None  # AWS omits both when AVAILABLE
    with settings.lock:
        for target in find_proxy(backend(account_id, region), proxy_name) \
                .proxy_target_groups["default"].targets:
            if target.rds_resource_id == rds_resource_id:
                target._rpc_health = {"State": state, "Reason": reason,
                                      "Description": description}
                return
    raise KeyError(f"{rds_resource_id} is not a target of {proxy_name}")


def clear_target_health(account_id: str, region: str, proxy_name: str,
                        rds_resource_id: str) -> None:
    with settings.lock:
        for target in find_proxy(backend(account_id, region), proxy_name) \
                .proxy_target_groups["default"].targets:
            if target.rds_resource_id == rds_resource_id:
                target._rpc_health = None


def set_proxy_status(account_id: str, region: str, proxy_name: str, status: str,
                     reads: int | None = None) -> None:
    """Set a proxy's status: for good, or (``reads=N``) for the next N describes."""
    with settings.lock:
        proxy = find_proxy(backend(account_id, region), proxy_name)
        if reads is None:
            proxy._rpc_transition = None
            proxy.status = status
        else:
            proxy._rpc_transition = (status, reads)
