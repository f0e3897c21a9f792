"""DBProxyEndpoint: the four endpoint calls moto lacks, their responses, and tags on
endpoint ARNs."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, PaginatedResult
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random as random
from moto.rds.models import DBProxy, RDSBackend, RDSBaseModel
from moto.rds.responses import RDSResponse

from rdsproxyctl.motoext import clusters, settings
from rdsproxyctl.motoext.addresses import allocate_address, release_address
from rdsproxyctl.motoext.common import (
    endpoint_hostname,
    fault,
    find_proxy,
    invalid_parameter,
    validate_name,
)


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
        self.endpoint = endpoint_hostname(name, proxy)
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


def endpoints_of(backend: RDSBackend) -> dict[str, DBProxyEndpoint]:
    store = getattr(backend, "_rpc_endpoints", None)
    if store is None:
        store = backend._rpc_endpoints = {}
    return store


def create_db_proxy_endpoint(self: RDSBackend, db_proxy_name: str, db_proxy_endpoint_name: str,
                             vpc_subnet_ids: list[str],
                             vpc_security_group_ids: list[str] | None = None,
                             target_role: str | None = None,
                             tags: list[dict[str, str]] | None = None,
                             endpoint_network_type: str | None = None) -> DBProxyEndpoint:
    with settings.lock:
        proxy = find_proxy(self, db_proxy_name)
        validate_name(db_proxy_endpoint_name, "DBProxyEndpointName")
        if db_proxy_endpoint_name == "default" or db_proxy_endpoint_name in endpoints_of(self):
            raise fault("DBProxyEndpointAlreadyExistsFault",
                         f"A DB proxy endpoint named {db_proxy_endpoint_name} already exists.")
        if target_role not in (None, "READ_WRITE", "READ_ONLY"):
            raise invalid_parameter(f"TargetRole {target_role} is not valid.")
        clusters.check_target_role(proxy, target_role)
        mine = [e for e in endpoints_of(self).values() if e.db_proxy_name == db_proxy_name]
        if len(mine) >= settings.PROXY_ENDPOINT_QUOTA:
            raise fault("DBProxyEndpointQuotaExceededFault",
                         f"The proxy {db_proxy_name} already has {settings.PROXY_ENDPOINT_QUOTA} endpoints.")
        from moto.ec2.models import ec2_backends

        ec2 = ec2_backends[self.account_id][self.region_name]
        subnets = ec2.describe_subnets(subnet_ids=vpc_subnet_ids)
        if len({s.vpc_id for s in subnets}) > 1:
            raise fault("InvalidSubnet", "The subnets must all be in one VPC.")
        groups = list(vpc_security_group_ids or [])
        if not groups:
            groups = [ec2.get_default_security_group(subnets[0].vpc_id).id]
        ep = DBProxyEndpoint(self, proxy, db_proxy_endpoint_name, vpc_subnet_ids, groups,
                             target_role or "READ_WRITE", tags, endpoint_network_type)
        ep.vpc_id = subnets[0].vpc_id
        ep._rpc_address = allocate_address(db_proxy_name, db_proxy_endpoint_name)
        if ep._rpc_address:
            ep.endpoint = ep._rpc_address
        endpoints_of(self)[db_proxy_endpoint_name] = ep
        return ep


def find_endpoint(backend: RDSBackend, name: str) -> DBProxyEndpoint:
    ep = endpoints_of(backend).get(name)
    if ep is None:
        raise fault("DBProxyEndpointNotFoundFault",
                     f"The DB proxy endpoint {name} doesn't exist.")
    return ep


def describe_db_proxy_endpoints(self: RDSBackend, db_proxy_name: str | None = None,
                                db_proxy_endpoint_name: str | None = None) -> list[Any]:
    if db_proxy_name:
        proxies = [find_proxy(self, db_proxy_name)]
    else:
        proxies = list(self.db_proxies.values())
    names = {p.db_proxy_name for p in proxies}
    rows: list[Any] = []
    for proxy in proxies:
        if db_proxy_endpoint_name in (None, "default"):
            rows.append(DefaultEndpointView(proxy))
    rows.extend(ep for ep in endpoints_of(self).values()
                if ep.db_proxy_name in names
                and db_proxy_endpoint_name in (None, ep.db_proxy_endpoint_name))
    if db_proxy_endpoint_name and not rows:
        find_endpoint(self, db_proxy_endpoint_name)  # raises DBProxyEndpointNotFoundFault
    return rows


def modify_db_proxy_endpoint(self: RDSBackend, db_proxy_endpoint_name: str,
                             new_db_proxy_endpoint_name: str | None = None,
                             vpc_security_group_ids: list[str] | None = None) -> DBProxyEndpoint:
    with settings.lock:
        ep = find_endpoint(self, db_proxy_endpoint_name)
        if new_db_proxy_endpoint_name and new_db_proxy_endpoint_name != db_proxy_endpoint_name:
            validate_name(new_db_proxy_endpoint_name, "NewDBProxyEndpointName")
            if new_db_proxy_endpoint_name in endpoints_of(self):
                raise fault("DBProxyEndpointAlreadyExistsFault",
                             f"A DB proxy endpoint named {new_db_proxy_endpoint_name} already exists.")
            del endpoints_of(self)[db_proxy_endpoint_name]
            ep.db_proxy_endpoint_name = new_db_proxy_endpoint_name
            proxy = self.db_proxies.get(ep.db_proxy_name)
            if proxy is not None and not getattr(ep, "_rpc_address", None):
                ep.endpoint = endpoint_hostname(new_db_proxy_endpoint_name, proxy)
            endpoints_of(self)[new_db_proxy_endpoint_name] = ep
        if vpc_security_group_ids is not None:
            ep.vpc_security_group_ids = list(vpc_security_group_ids)
        return ep


def delete_db_proxy_endpoint(self: RDSBackend, db_proxy_endpoint_name: str) -> DBProxyEndpoint:
    with settings.lock:
        ep = find_endpoint(self, db_proxy_endpoint_name)
        del endpoints_of(self)[db_proxy_endpoint_name]
        release_address(getattr(ep, "_rpc_address", None))
        ep.status = "deleting"
        return ep



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


# -- tags on proxy endpoints (issue 4) --------------------------------------------------------
_orig_get_resource_for_tagging = RDSBackend._get_resource_for_tagging


def _get_resource_for_tagging(self: RDSBackend, arn: str) -> Any:
    """Add/List/RemoveTags also take proxy endpoint ARNs, as AWS's do."""
    if ":db-proxy-endpoint:" in arn:
        for ep in endpoints_of(self).values():
            if ep.arn == arn:
                return ep
        raise fault("DBProxyEndpointNotFoundFault",
                     f"The DB proxy endpoint with ARN {arn} doesn't exist.")
    return _orig_get_resource_for_tagging(self, arn)
