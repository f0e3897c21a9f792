"""rdsproxyctl's extension of moto: the RDS Proxy API as AWS documents it.

moto 5.x lacks ModifyDBProxy and the four DBProxyEndpoint calls, reports target
health only as REGISTERING/AVAILABLE, and has a few gaps in the calls it has
(missing-proxy look-ups crash, instance targets have no endpoint, no InitQuery, no
DefaultAuthScheme, no pagination).  :func:`install` patches moto's RDS backend and
response classes in place, so both ``mock_aws`` (tests) and a moto server (the
sandbox, ``python -m rdsproxyctl.motoext``) behave as AWS documents, with the same
fields and fault codes.  It also gives the sandbox hooks a real proxy would change
on its own: :func:`set_target_health`, :func:`set_proxy_status`.

The package, by concern:

* ``settings``: the knobs tests and the sandbox set (``TRANSITION_READS``,
  ``REGISTERED_TARGET_HEALTH``, ``PROXY_ENDPOINT_QUOTA``) and the one lock;
* ``common``: faults with botocore's codes, validation, look-ups;
* ``proxies``: DBProxy, targets and target groups, target health, status hooks;
* ``endpoints``: DBProxyEndpoint and tags on endpoint ARNs;
* ``addresses``: the sandbox's address allocator and DB instance endpoints;
* ``clusters``: Aurora cluster targets (TRACKED_CLUSTER + a row per member with its
  role), READ_ONLY endpoint checks, and the sandbox's hooks for real clusters;
* ``iamsim``: IAM SimulatePrincipalPolicy on moto's own policy evaluation.

This package is test and sandbox infrastructure: the CLI never imports it.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.rds import exceptions as rds_exceptions
from moto.rds.exceptions import RDSClientError
from moto.rds.models import (
    DBInstance,
    DBProxy,
    DBProxyTarget,
    DBProxyTargetGroup,
    RDSBackend,
)
from moto.rds.responses import RDSResponse

from rdsproxyctl.motoext import addresses, clusters, endpoints, iamsim, proxies, settings
from rdsproxyctl.motoext.addresses import (
    EndpointAllocator,
    set_endpoint_allocator,
    set_instance_endpoint,
)
from rdsproxyctl.motoext.clusters import (
    ClusterProvisioner,
    set_cluster_members,
    set_cluster_provisioner,
)
from rdsproxyctl.motoext.common import backend
from rdsproxyctl.motoext.iamsim import simulate_principal_policy
from rdsproxyctl.motoext.proxies import (
    clear_target_health,
    set_proxy_status,
    set_target_health,
)

__all__ = [
    "ClusterProvisioner", "set_cluster_members", "set_cluster_provisioner",
    "EndpointAllocator", "backend", "clear_target_health", "install", "main", "set_endpoint_allocator",
    "set_instance_endpoint", "set_proxy_status", "set_target_health", "settings",
    "simulate_principal_policy",
]

_installed = False

# The attribute moto's paginator uses to find where a Marker resumes, per operation.
_PAGE_KEYS = {
    "DescribeDBProxies": "db_proxy_name",
    "DescribeDBProxyTargets": "rds_resource_id",
    "DescribeDBProxyTargetGroups": "target_group_name",
    "DescribeDBProxyEndpoints": "db_proxy_endpoint_name",
}

_BACKEND_METHODS = {
    "create_db_proxy": proxies.create_db_proxy,
    "modify_db_proxy": proxies.modify_db_proxy,
    "delete_db_proxy": proxies.delete_db_proxy,
    "describe_db_proxies": proxies.describe_db_proxies,
    "register_db_proxy_targets": proxies.register_db_proxy_targets,
    "deregister_db_proxy_targets": proxies.deregister_db_proxy_targets,
    "describe_db_proxy_targets": proxies.describe_db_proxy_targets,
    "describe_db_proxy_target_groups": proxies.describe_db_proxy_target_groups,
    "modify_db_proxy_target_group": proxies.modify_db_proxy_target_group,
    "create_db_proxy_endpoint": endpoints.create_db_proxy_endpoint,
    "describe_db_proxy_endpoints": endpoints.describe_db_proxy_endpoints,
    "modify_db_proxy_endpoint": endpoints.modify_db_proxy_endpoint,
    "delete_db_proxy_endpoint": endpoints.delete_db_proxy_endpoint,
}

_RESPONSES = {
    "create_db_proxy": proxies._r_create_db_proxy,
    "modify_db_proxy": proxies._r_modify_db_proxy,
    "describe_db_proxies": proxies._r_describe_db_proxies,
    "describe_db_proxy_targets": proxies._r_describe_db_proxy_targets,
    "describe_db_proxy_target_groups": proxies._r_describe_db_proxy_target_groups,
    "modify_db_proxy_target_group": proxies._r_modify_db_proxy_target_group,
    "create_db_proxy_endpoint": endpoints._r_create_db_proxy_endpoint,
    "describe_db_proxy_endpoints": endpoints._r_describe_db_proxy_endpoints,
    "modify_db_proxy_endpoint": endpoints._r_modify_db_proxy_endpoint,
    "delete_db_proxy_endpoint": endpoints._r_delete_db_proxy_endpoint,
}


def install() -> None:
    """Patch moto's RDS classes (idempotent).  Call before making clients or servers."""
    global _installed
    with settings.lock:
        if _installed:
            return
        DBProxy.status = property(proxies._get_status, proxies._set_status)  # type: ignore[assignment]
        DBProxyTarget.target_health = property(proxies._target_health)  # type: ignore[assignment]
        DBProxyTarget.role = None  # class defaults: instances set their own
        DBProxyTarget.tracked_cluster_id = None
        DBProxyTargetGroup.init_query = None
        DBProxyTargetGroup.connection_pool_config = property(  # type: ignore[assignment]
            proxies._connection_pool_config)
        DBInstance.address = property(addresses._instance_address)  # type: ignore[assignment]
        from moto.iam.responses import IamResponse

        IamResponse.simulate_principal_policy = iamsim._r_simulate_principal_policy  # type: ignore[attr-defined]
        rds_exceptions.DBProxyQuotaExceededFault.__init__ = _quota_init  # type: ignore[method-assign]
        RDSBackend._get_resource_for_tagging = endpoints._get_resource_for_tagging  # type: ignore[method-assign]
        from moto.core.utils import get_pagination_model

        pagination = get_pagination_model("rds")  # cached: moto pages with this very dict
        for operation, attribute in _PAGE_KEYS.items():
            pagination[operation]["unique_attribute"] = attribute
        clusters.install()
        for name, func in _BACKEND_METHODS.items():
            setattr(RDSBackend, name, func)
        for name, func in _RESPONSES.items():
            setattr(RDSResponse, name, func)
        _installed = True


def _quota_init(self: Any) -> None:
    RDSClientError.__init__(self, "DBProxyQuotaExceededFault",
                            "The request would cause you to exceed the allowed number of DB proxies.")


def main(argv: list[str] | None = None) -> None:
    """``python -m rdsproxyctl.motoext [-p PORT]``: a moto server with this extension."""
    install()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])
