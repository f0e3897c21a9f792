"""Sandbox hooks: the addresses new proxies and proxy endpoints get, and the endpoint a
DB instance reports."""

from __future__ import annotations

from moto.rds.models import DBInstance

from rdsproxyctl.motoext import settings
from rdsproxyctl.motoext.common import backend, fault


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


def allocate_address(proxy_name: str, endpoint_name: str) -> str | None:
    if _allocator is None:
        return None
    address = _allocator.allocate(proxy_name, endpoint_name)
    if not address:
        raise fault("InsufficientAvailableIPsInSubnetFault",
                     f"No free address for endpoint {endpoint_name} of proxy {proxy_name}.")
    return address


def release_address(address: str | None) -> None:
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
    with settings.lock:
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
