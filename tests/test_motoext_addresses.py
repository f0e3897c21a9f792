"""motoext.addresses: the sandbox's address allocator and DB instance endpoints.  In-process moto."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from rdsproxyctl import motoext

from .conftest import ACCOUNT, REGION


class _Allocator(motoext.EndpointAllocator):
    def __init__(self, free: list[str]) -> None:
        self.free = free
        self.released: list[str] = []

    def allocate(self, proxy_name: str, endpoint_name: str) -> str | None:
        return self.free.pop(0) if self.free else None

    def release(self, address: str) -> None:
        self.released.append(address)


@pytest.fixture
def allocator():
    alloc = _Allocator(["127.0.0.2", "127.0.0.3"])
    motoext.set_endpoint_allocator(alloc)
    yield alloc
    motoext.set_endpoint_allocator(None)


def test_allocated_addresses_for_proxies_and_endpoints(world, allocator):
    proxy = world.make_proxy("alpha", targets=False)
    assert proxy["Endpoint"] == "127.0.0.2"
    rds = world.rds()
    ep = rds.create_db_proxy_endpoint(DBProxyName="alpha", DBProxyEndpointName="extra",
                                      VpcSubnetIds=world.subnets)["DBProxyEndpoint"]
    assert ep["Endpoint"] == "127.0.0.3"
    # a rename keeps the address the proxy listens on
    rds.modify_db_proxy(DBProxyName="alpha", NewDBProxyName="beta")
    assert rds.describe_db_proxies(DBProxyName="beta")["DBProxies"][0]["Endpoint"] == "127.0.0.2"
    # no address left: AWS's fault, and nothing is created
    with pytest.raises(ClientError) as err:
        world.make_proxy("gamma", targets=False)
    assert err.value.response["Error"]["Code"] == "InsufficientAvailableIPsInSubnetFault"
    assert [p["DBProxyName"] for p in rds.describe_db_proxies()["DBProxies"]] == ["beta"]
    rds.delete_db_proxy(DBProxyName="beta")
    assert sorted(allocator.released) == ["127.0.0.2", "127.0.0.3"]


def test_instance_endpoint_override_reaches_targets(world):
    world.make_proxy("alpha")
    motoext.set_instance_endpoint(ACCOUNT, REGION, "db1", "127.0.0.1", 54321)
    db = world.rds().describe_db_instances(DBInstanceIdentifier="db1")["DBInstances"][0]
    assert db["Endpoint"]["Address"] == "127.0.0.1" and db["Endpoint"]["Port"] == 54321
    (target,) = world.rds().describe_db_proxy_targets(DBProxyName="alpha")["Targets"]
    assert (target["Endpoint"], target["Port"]) == ("127.0.0.1", 54321)
    with pytest.raises(KeyError):
        motoext.set_instance_endpoint(ACCOUNT, REGION, "nope", "127.0.0.1", 1)
