"""Dataclasses the core returns, built from RDS API responses.

Field names are the stable snake_case keys of ``-o json`` (docs/json.md is generated
from these classes).  Nothing here talks to AWS; ``from_api`` only reshapes the dicts
botocore returns.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

#: The CloudWatch Logs group RDS Proxy writes to.
LOG_GROUP_PREFIX = "/aws/rds/proxy/"

#: The port a proxy listens on for each engine family, whatever the database's port.
ENGINE_PORTS = {"POSTGRESQL": 5432, "MYSQL": 3306, "SQLSERVER": 1433}


def arn_parts(arn: str) -> dict[str, str]:
    """Split ``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`` into named parts."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return {"partition": "", "service": "", "region": "", "account": "", "resource": arn}
    _, partition, service, region, account, resource = parts
    return {
        "partition": partition,
        "service": service,
        "region": region,
        "account": account,
        "resource": resource,
    }


@dataclass(frozen=True)
class AuthEntry:
    """One element of the proxy's ``Auth`` list (a UserAuthConfigInfo)."""

    auth_scheme: str | None
    secret_arn: str | None
    iam_auth: str | None
    client_password_auth_type: str | None = None
    description: str | None = None
    user_name: str | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> AuthEntry:
        return cls(
            auth_scheme=d.get("AuthScheme"),
            secret_arn=d.get("SecretArn"),
            iam_auth=d.get("IAMAuth"),
            client_password_auth_type=d.get("ClientPasswordAuthType"),
            description=d.get("Description"),
            user_name=d.get("UserName"),
        )


@dataclass(frozen=True)
class PoolConfig:
    """The target group's ConnectionPoolConfigurationInfo."""

    max_connections_percent: int | None
    max_idle_connections_percent: int | None
    connection_borrow_timeout: int | None
    session_pinning_filters: list[str] = field(default_factory=list)
    init_query: str | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any] | None) -> PoolConfig:
        d = d or {}
        return cls(
            max_connections_percent=d.get("MaxConnectionsPercent"),
            max_idle_connections_percent=d.get("MaxIdleConnectionsPercent"),
            connection_borrow_timeout=d.get("ConnectionBorrowTimeout"),
            session_pinning_filters=list(d.get("SessionPinningFilters") or []),
            init_query=d.get("InitQuery") or None,
        )


@dataclass(frozen=True)
class TargetGroup:
    name: str
    arn: str | None
    status: str | None
    is_default: bool
    pool: PoolConfig
    created_date: _dt.datetime | None = None
    updated_date: _dt.datetime | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> TargetGroup:
        return cls(
            name=d.get("TargetGroupName", "default"),
            arn=d.get("TargetGroupArn"),
            status=d.get("Status"),
            is_default=bool(d.get("IsDefault", True)),
            pool=PoolConfig.from_api(d.get("ConnectionPoolConfig")),
            created_date=d.get("CreatedDate"),
            updated_date=d.get("UpdatedDate"),
        )


@dataclass(frozen=True)
class TargetHealth:
    state: str | None
    reason: str | None = None
    description: str | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any] | None) -> TargetHealth:
        d = d or {}
        return cls(state=d.get("State"), reason=d.get("Reason"), description=d.get("Description"))


@dataclass(frozen=True)
class Target:
    """One row of DescribeDBProxyTargets."""

    type: str | None
    role: str | None
    endpoint: str | None
    port: int | None
    rds_resource_id: str | None
    target_arn: str | None
    tracked_cluster_id: str | None
    health: TargetHealth

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Target:
        return cls(
            type=d.get("Type"),
            role=d.get("Role"),
            endpoint=d.get("Endpoint"),
            port=d.get("Port"),
            rds_resource_id=d.get("RdsResourceId"),
            target_arn=d.get("TargetArn"),
            tracked_cluster_id=d.get("TrackedClusterId"),
            health=TargetHealth.from_api(d.get("TargetHealth")),
        )


@dataclass(frozen=True)
class ProxyEndpoint:
    """A DBProxyEndpoint: the default one or one of up to 20 extra endpoints."""

    name: str
    proxy_name: str | None
    arn: str | None
    status: str | None
    endpoint: str | None
    target_role: str | None
    vpc_id: str | None
    subnet_ids: list[str]
    security_group_ids: list[str]
    is_default: bool
    created_date: _dt.datetime | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ProxyEndpoint:
        return cls(
            name=d.get("DBProxyEndpointName", ""),
            proxy_name=d.get("DBProxyName"),
            arn=d.get("DBProxyEndpointArn"),
            status=d.get("Status"),
            endpoint=d.get("Endpoint"),
            target_role=d.get("TargetRole"),
            vpc_id=d.get("VpcId"),
            subnet_ids=list(d.get("VpcSubnetIds") or []),
            security_group_ids=list(d.get("VpcSecurityGroupIds") or []),
            is_default=bool(d.get("IsDefault", False)),
            created_date=d.get("CreatedDate"),
        )


def summarize_iam(default_auth_scheme: str | None, auth: list[AuthEntry]) -> str:
    """One word for a proxy's client IAM authentication.

    ``END_TO_END`` when DefaultAuthScheme is IAM_AUTH, the shared IAMAuth value when
    every auth entry agrees, ``MIXED`` when they differ, ``NONE`` with no entries.
    """
    if default_auth_scheme == "IAM_AUTH":
        return "END_TO_END"
    values = {a.iam_auth or "DISABLED" for a in auth}
    if not values:
        return "NONE"
    if len(values) == 1:
        return values.pop()
    return "MIXED"


@dataclass(frozen=True)
class Proxy:
    """A DBProxy, as DescribeDBProxies returns it."""

    #: Computed properties added to the JSON form (see :func:`to_jsonable`).
    json_properties: ClassVar[tuple[str, ...]] = (
        "resource_id",
        "region",
        "account_id",
        "iam_auth",
        "port",
        "log_group",
    )

    name: str
    arn: str
    status: str
    engine_family: str
    endpoint: str | None
    vpc_id: str | None
    subnet_ids: list[str]
    security_group_ids: list[str]
    role_arn: str | None
    require_tls: bool
    idle_client_timeout: int | None
    debug_logging: bool
    default_auth_scheme: str | None
    auth: list[AuthEntry]
    created_date: _dt.datetime | None = None
    updated_date: _dt.datetime | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Proxy:
        return cls(
            name=d["DBProxyName"],
            arn=d.get("DBProxyArn", ""),
            status=d.get("Status", ""),
            engine_family=d.get("EngineFamily", ""),
            endpoint=d.get("Endpoint"),
            vpc_id=d.get("VpcId"),
            subnet_ids=list(d.get("VpcSubnetIds") or []),
            security_group_ids=list(d.get("VpcSecurityGroupIds") or []),
            role_arn=d.get("RoleArn"),
            require_tls=bool(d.get("RequireTLS", False)),
            idle_client_timeout=d.get("IdleClientTimeout"),
            debug_logging=bool(d.get("DebugLogging", False)),
            default_auth_scheme=d.get("DefaultAuthScheme"),
            auth=[AuthEntry.from_api(a) for a in d.get("Auth") or []],
            created_date=d.get("CreatedDate"),
            updated_date=d.get("UpdatedDate"),
        )

    @property
    def resource_id(self) -> str:
        """The ``prx-...`` id: the last segment of the ARN, used in rds-db:connect ARNs."""
        return arn_parts(self.arn)["resource"].rsplit(":", 1)[-1]

    @property
    def region(self) -> str:
        return arn_parts(self.arn)["region"]

    @property
    def account_id(self) -> str:
        return arn_parts(self.arn)["account"]

    @property
    def iam_auth(self) -> str:
        return summarize_iam(self.default_auth_scheme, self.auth)

    @property
    def port(self) -> int | None:
        return ENGINE_PORTS.get(self.engine_family)

    @property
    def log_group(self) -> str:
        return LOG_GROUP_PREFIX + self.name


def health_summary(targets: list[Target]) -> str:
    """``2/2 available``, ``1/2 available``, or ``no targets``."""
    if not targets:
        return "no targets"
    available = sum(1 for t in targets if t.health.state == "AVAILABLE")
    return f"{available}/{len(targets)} available"


@dataclass(frozen=True)
class ProxySummary:
    """One row of ``rdsproxyctl list``."""

    name: str
    engine_family: str
    status: str
    require_tls: bool
    iam_auth: str
    idle_client_timeout: int | None
    endpoint: str | None
    targets_total: int
    targets_available: int
    target_health: str

    @classmethod
    def build(cls, proxy: Proxy, targets: list[Target]) -> ProxySummary:
        return cls(
            name=proxy.name,
            engine_family=proxy.engine_family,
            status=proxy.status,
            require_tls=proxy.require_tls,
            iam_auth=proxy.iam_auth,
            idle_client_timeout=proxy.idle_client_timeout,
            endpoint=proxy.endpoint,
            targets_total=len(targets),
            targets_available=sum(1 for t in targets if t.health.state == "AVAILABLE"),
            target_health=health_summary(targets),
        )


@dataclass(frozen=True)
class ProxyDetails:
    """Everything ``rdsproxyctl show`` reports about one proxy."""

    proxy: Proxy
    target_group: TargetGroup | None
    targets: list[Target]
    endpoints: list[ProxyEndpoint]
    tags: dict[str, str]
    #: What could not be fetched and why (e.g. an API endpoint lacking a call).
    warnings: list[str] = field(default_factory=list)


def default_endpoint(proxy: Proxy) -> ProxyEndpoint:
    """The default endpoint, as DescribeDBProxyEndpoints would list it."""
    return ProxyEndpoint(
        name="default", proxy_name=proxy.name, arn=None, status=proxy.status,
        endpoint=proxy.endpoint, target_role="READ_WRITE", vpc_id=proxy.vpc_id,
        subnet_ids=list(proxy.subnet_ids), security_group_ids=list(proxy.security_group_ids),
        is_default=True, created_date=proxy.created_date)


def to_jsonable(obj: Any) -> Any:
    """Turn dataclasses (with their ``json_properties``), lists and datetimes into JSON data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        for name in getattr(obj, "json_properties", ()):
            out[name] = to_jsonable(getattr(obj, name))
        return out
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, _dt.datetime):
        if obj.tzinfo is None:
            obj = obj.replace(tzinfo=_dt.timezone.utc)
        return obj.isoformat()
    return obj
