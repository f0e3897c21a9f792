"""motoext.endpoints: the DBProxyEndpoint calls and tags on endpoint ARNs.  In-process moto."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from rdsproxyctl import motoext

from .motoext_faults import code_of, fault


def test_proxy_endpoints_lifecycle_and_faults(world):
    world.make_proxy("demo", targets=False)
    rds = world.rds()
    ep = rds.create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="ro",
                                      VpcSubnetIds=world.subnets, TargetRole="READ_ONLY",
                                      VpcSecurityGroupIds=[world.security_group])["DBProxyEndpoint"]
    assert ep["Endpoint"].startswith("ro.endpoint.proxy-") and ep["IsDefault"] is False
    assert ep["VpcSecurityGroupIds"] == [world.security_group]
    names = [e["DBProxyEndpointName"]
             for e in rds.describe_db_proxy_endpoints(DBProxyName="demo")["DBProxyEndpoints"]]
    assert names == ["default", "ro"]
    for kwargs, code in (
        ({"DBProxyName": "demo", "DBProxyEndpointName": "ro"}, "DBProxyEndpointAlreadyExistsFault"),
        ({"DBProxyName": "nope", "DBProxyEndpointName": "x"}, "DBProxyNotFoundFault"),
        ({"DBProxyName": "demo", "DBProxyEndpointName": "x", "TargetRole": "WRONG"},
         "InvalidParameterValue"),
    ):
        with pytest.raises(ClientError) as exc:
            rds.create_db_proxy_endpoint(VpcSubnetIds=world.subnets, **kwargs)
        assert code_of(exc) == code
    renamed = rds.modify_db_proxy_endpoint(DBProxyEndpointName="ro",
                                           NewDBProxyEndpointName="reader")["DBProxyEndpoint"]
    assert renamed["Endpoint"].startswith("reader.endpoint.")
    assert rds.describe_db_proxy_endpoints(DBProxyEndpointName="reader")["DBProxyEndpoints"]
    with pytest.raises(ClientError) as exc:
        rds.describe_db_proxy_endpoints(DBProxyEndpointName="ro")
    assert code_of(exc) == "DBProxyEndpointNotFoundFault"
    rds.delete_db_proxy_endpoint(DBProxyEndpointName="reader")
    with pytest.raises(ClientError) as exc:
        rds.delete_db_proxy_endpoint(DBProxyEndpointName="reader")
    assert code_of(exc) == "DBProxyEndpointNotFoundFault"


def test_endpoint_quota(world, monkeypatch):
    world.make_proxy("demo", targets=False)
    monkeypatch.setattr(motoext.settings, "PROXY_ENDPOINT_QUOTA", 1)
    rds = world.rds()
    rds.create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="a",
                                 VpcSubnetIds=world.subnets)
    with pytest.raises(ClientError) as exc:
        rds.create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="b",
                                     VpcSubnetIds=world.subnets)
    assert code_of(exc) == "DBProxyEndpointQuotaExceededFault"


def test_deleting_a_proxy_deletes_its_endpoints(world):
    world.make_proxy("demo", targets=False)
    rds = world.rds()
    rds.create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="a",
                                 VpcSubnetIds=world.subnets)
    assert rds.delete_db_proxy(DBProxyName="demo")["DBProxy"]["Status"] == "deleting"
    assert rds.describe_db_proxy_endpoints()["DBProxyEndpoints"] == []


def test_proxy_endpoints_take_tags_like_other_rds_resources(world):
    rds = world.rds()
    world.make_proxy("demo", targets=False)
    arn = rds.create_db_proxy_endpoint(
        DBProxyName="demo", DBProxyEndpointName="ep", VpcSubnetIds=world.subnets,
        Tags=[{"Key": "team", "Value": "db"}])["DBProxyEndpoint"]["DBProxyEndpointArn"]
    assert rds.list_tags_for_resource(ResourceName=arn)["TagList"] == [
        {"Key": "team", "Value": "db"}]
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "env", "Value": "prod"}])
    rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["team"])
    assert rds.list_tags_for_resource(ResourceName=arn)["TagList"] == [
        {"Key": "env", "Value": "prod"}]
    gone = arn.rsplit(":", 1)[0] + ":prx-endpoint-00000000000000000"
    assert fault(lambda: rds.list_tags_for_resource(ResourceName=gone))[0] == \
        "DBProxyEndpointNotFoundFault"
