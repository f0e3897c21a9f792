"""The moto extension's faults reach botocore with the codes (and statuses) of its RDS model."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def fault(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    return (info.value.response["Error"]["Code"],
            info.value.response["ResponseMetadata"]["HTTPStatusCode"])


def test_extension_faults_keep_their_codes(world):
    rds = world.rds()
    world.make_proxy("demo")
    assert fault(lambda: rds.describe_db_proxy_endpoints(DBProxyEndpointName="nope")) == (
        "DBProxyEndpointNotFoundFault", 404)
    assert fault(lambda: rds.register_db_proxy_targets(
        DBProxyName="demo", DBInstanceIdentifiers=["db1"])) == (
        "DBProxyTargetAlreadyRegisteredFault", 400)
    assert fault(lambda: rds.deregister_db_proxy_targets(
        DBProxyName="demo", DBInstanceIdentifiers=["other"])) == (
        "DBProxyTargetNotFoundFault", 404)
    assert fault(lambda: rds.modify_db_proxy(DBProxyName="demo", IdleClientTimeout=0))[0] == \
        "InvalidParameterValue"
    rds.create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="ep",
                                 VpcSubnetIds=world.subnets)
    assert fault(lambda: rds.create_db_proxy_endpoint(
        DBProxyName="demo", DBProxyEndpointName="ep", VpcSubnetIds=world.subnets)) == (
        "DBProxyEndpointAlreadyExistsFault", 400)


def test_modify_refuses_a_proxy_that_is_not_available(world):
    from rdsproxyctl import motoext

    from .conftest import ACCOUNT, REGION

    world.make_proxy("demo", targets=False)
    motoext.set_proxy_status(ACCOUNT, REGION, "demo", "modifying")
    assert fault(lambda: world.rds().modify_db_proxy(DBProxyName="demo", RequireTLS=False)) == (
        "InvalidDBProxyStateFault", 400)


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
