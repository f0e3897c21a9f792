"""motoext.proxies: DBProxy, targets, target groups, target health and status, as AWS
documents them.  In-process moto."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from rdsproxyctl import motoext

from .conftest import ACCOUNT, REGION
from .motoext_faults import code_of, fault


def test_modify_db_proxy_changes_settings_and_renames(world):
    world.make_proxy("demo")
    rds = world.rds()
    out = rds.modify_db_proxy(DBProxyName="demo", RequireTLS=False, IdleClientTimeout=600,
                              DebugLogging=True, DefaultAuthScheme="IAM_AUTH",
                              NewDBProxyName="renamed")["DBProxy"]
    assert (out["DBProxyName"], out["RequireTLS"], out["IdleClientTimeout"], out["DebugLogging"],
            out["DefaultAuthScheme"]) == ("renamed", False, 600, True, "IAM_AUTH")
    assert out["Endpoint"].startswith("renamed.proxy-")
    assert [p["DBProxyName"] for p in rds.describe_db_proxies()["DBProxies"]] == ["renamed"]
    assert rds.describe_db_proxy_targets(DBProxyName="renamed")["Targets"]


def test_modify_db_proxy_replaces_auth(world):
    world.make_proxy("demo", iam="DISABLED")
    auth = [{"AuthScheme": "SECRETS", "SecretArn": world.secret_arn, "IAMAuth": "REQUIRED",
             "ClientPasswordAuthType": "POSTGRES_SCRAM_SHA_256"}]
    out = world.rds().modify_db_proxy(DBProxyName="demo", Auth=auth)["DBProxy"]
    assert out["Auth"][0]["IAMAuth"] == "REQUIRED"
    assert out["Auth"][0]["ClientPasswordAuthType"] == "POSTGRES_SCRAM_SHA_256"


@pytest.mark.parametrize("kwargs, code", [
    ({"DBProxyName": "missing"}, "DBProxyNotFoundFault"),
    ({"DBProxyName": "demo", "IdleClientTimeout": 0}, "InvalidParameterValue"),
    ({"DBProxyName": "demo", "IdleClientTimeout": 28801}, "InvalidParameterValue"),
    ({"DBProxyName": "demo", "NewDBProxyName": "other"}, "DBProxyAlreadyExistsFault"),
    ({"DBProxyName": "demo", "NewDBProxyName": "bad--name"}, "InvalidParameterValue"),
    ({"DBProxyName": "demo", "Auth": [{"AuthScheme": "SECRETS", "IAMAuth": "ENABLED"}]},
     "InvalidParameterValue"),
])
def test_modify_db_proxy_faults(world, kwargs, code):
    world.make_proxy("demo", targets=False)
    world.make_proxy("other", targets=False)
    with pytest.raises(ClientError) as exc:
        world.rds().modify_db_proxy(**kwargs)
    assert code_of(exc) == code


def test_missing_proxy_is_db_proxy_not_found_on_every_call(moto, aws):
    rds = aws.client("rds")
    for call in (lambda: rds.describe_db_proxies(DBProxyName="x"),
                 lambda: rds.describe_db_proxy_targets(DBProxyName="x"),
                 lambda: rds.describe_db_proxy_target_groups(DBProxyName="x"),
                 lambda: rds.describe_db_proxy_endpoints(DBProxyName="x"),
                 lambda: rds.delete_db_proxy(DBProxyName="x"),
                 lambda: rds.register_db_proxy_targets(DBProxyName="x", DBInstanceIdentifiers=["a"]),
                 lambda: rds.modify_db_proxy_target_group(DBProxyName="x", TargetGroupName="default",
                                                          ConnectionPoolConfig={})):
        with pytest.raises(ClientError) as exc:
            call()
        assert code_of(exc) == "DBProxyNotFoundFault"


def test_create_requires_auth_unless_end_to_end_iam(world):
    rds = world.rds()
    with pytest.raises(ClientError) as exc:
        rds.create_db_proxy(DBProxyName="x", EngineFamily="POSTGRESQL", RoleArn=world.role_arn,
                            VpcSubnetIds=world.subnets)
    assert code_of(exc) == "InvalidParameterValue"
    out = rds.create_db_proxy(DBProxyName="x", EngineFamily="POSTGRESQL", RoleArn=world.role_arn,
                              VpcSubnetIds=world.subnets, DefaultAuthScheme="IAM_AUTH")["DBProxy"]
    assert out["DefaultAuthScheme"] == "IAM_AUTH" and out["Auth"] == []


def test_create_validates_client_password_auth_type_against_engine(world):
    with pytest.raises(ClientError) as exc:
        world.rds().create_db_proxy(
            DBProxyName="x", EngineFamily="POSTGRESQL", RoleArn=world.role_arn,
            VpcSubnetIds=world.subnets,
            Auth=[{"AuthScheme": "SECRETS", "SecretArn": world.secret_arn,
                   "ClientPasswordAuthType": "MYSQL_NATIVE_PASSWORD"}])
    assert code_of(exc) == "InvalidParameterValue"


def test_quota_fault_has_the_documented_code(world, monkeypatch):
    monkeypatch.setenv("MOTO_RDS_PROXY_LIMIT", "1")
    world.make_proxy("one", targets=False)
    with pytest.raises(ClientError) as exc:
        world.make_proxy("two", targets=False)
    assert code_of(exc) == "DBProxyQuotaExceededFault"


def test_targets_register_and_deregister_faults(world):
    world.make_proxy("demo")
    rds = world.rds()
    with pytest.raises(ClientError) as exc:
        rds.register_db_proxy_targets(DBProxyName="demo", DBInstanceIdentifiers=["db1"])
    assert code_of(exc) == "DBProxyTargetAlreadyRegisteredFault"
    with pytest.raises(ClientError) as exc:
        rds.register_db_proxy_targets(DBProxyName="demo", DBInstanceIdentifiers=["nope"])
    assert code_of(exc) == "DBInstanceNotFound"
    with pytest.raises(ClientError) as exc:
        rds.deregister_db_proxy_targets(DBProxyName="demo", DBInstanceIdentifiers=["nope"])
    assert code_of(exc) == "DBProxyTargetNotFoundFault"
    rds.deregister_db_proxy_targets(DBProxyName="demo", DBInstanceIdentifiers=["db1"])
    assert rds.describe_db_proxy_targets(DBProxyName="demo")["Targets"] == []


def test_instance_targets_carry_endpoint_port_role_and_arn(world):
    world.make_proxy("demo")
    [t] = world.rds().describe_db_proxy_targets(DBProxyName="demo")["Targets"]
    db = world.rds().describe_db_instances(DBInstanceIdentifier="db1")["DBInstances"][0]
    assert t["Endpoint"] == db["Endpoint"]["Address"] and t["Port"] == db["Endpoint"]["Port"]
    assert t["Role"] == "READ_WRITE" and t["Type"] == "RDS_INSTANCE"
    assert t["TargetArn"].startswith(f"arn:aws:rds:{REGION}:{ACCOUNT}:target:prx-tgt-")


def test_target_health_can_be_set_and_cleared(world):
    world.make_proxy("demo")
    rds = world.rds()
    motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "UNAVAILABLE", "AUTH_FAILURE",
                              "Proxy does not have any registered credentials")
    assert rds.describe_db_proxy_targets(DBProxyName="demo")["Targets"][0]["TargetHealth"] == {
        "State": "UNAVAILABLE", "Reason": "AUTH_FAILURE",
        "Description": "Proxy does not have any registered credentials"}
    motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "AVAILABLE", "UNREACHABLE", "x")
    assert rds.describe_db_proxy_targets(DBProxyName="demo")["Targets"][0]["TargetHealth"] == {
        "State": "AVAILABLE"}
    motoext.clear_target_health(ACCOUNT, REGION, "demo", "db1")
    assert rds.describe_db_proxy_targets(DBProxyName="demo")["Targets"][0]["TargetHealth"][
        "State"] in ("REGISTERING", "AVAILABLE")
    with pytest.raises(ValueError):
        motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "BROKEN")
    with pytest.raises(KeyError):
        motoext.set_target_health(ACCOUNT, REGION, "demo", "nope", "AVAILABLE")


def test_target_group_pool_config_init_query_and_ranges(world):
    world.make_proxy("demo", targets=False)
    rds = world.rds()

    def modify(**config):
        return rds.modify_db_proxy_target_group(DBProxyName="demo", TargetGroupName="default",
                                                ConnectionPoolConfig=config)
    out = modify(MaxConnectionsPercent=75, MaxIdleConnectionsPercent=0, ConnectionBorrowTimeout=0,
                 InitQuery="SET search_path TO app")["DBProxyTargetGroup"]["ConnectionPoolConfig"]
    assert out["MaxConnectionsPercent"] == 75 and out["MaxIdleConnectionsPercent"] == 0
    assert out["ConnectionBorrowTimeout"] == 0 and out["InitQuery"] == "SET search_path TO app"
    for bad in ({"MaxConnectionsPercent": 0}, {"MaxConnectionsPercent": 101},
                {"MaxIdleConnectionsPercent": 76}, {"ConnectionBorrowTimeout": 301},
                {"SessionPinningFilters": ["EXCLUDE_VARIABLE_SETS"]}):
        with pytest.raises(ClientError) as exc:
            modify(**bad)
        assert code_of(exc) == "InvalidParameterValue", bad


def test_transitional_status_for_wait_loops(world, monkeypatch):
    monkeypatch.setattr(motoext.settings, "TRANSITION_READS", 3)
    assert world.make_proxy("demo", targets=False)["Status"] == "creating"
    rds = world.rds()
    statuses = [rds.describe_db_proxies(DBProxyName="demo")["DBProxies"][0]["Status"]
                for _ in range(3)]
    assert statuses == ["creating", "creating", "available"]
    rds.modify_db_proxy(DBProxyName="demo", DebugLogging=True)
    assert rds.describe_db_proxies(DBProxyName="demo")["DBProxies"][0]["Status"] == "modifying"


def test_describe_db_proxies_paginates(world):
    for i in range(21):
        world.make_proxy(f"p{i}", targets=False)
    rds = world.rds()
    first = rds.describe_db_proxies(MaxRecords=20)
    assert len(first["DBProxies"]) == 20 and first["Marker"]
    second = rds.describe_db_proxies(MaxRecords=20, Marker=first["Marker"])
    assert [p["DBProxyName"] for p in second["DBProxies"]] == ["p20"]
    assert "Marker" not in second


def test_modify_stores_auth_like_create(world):
    """Both keep the API's own keys, so readers of the backend see one shape."""
    world.make_proxy("demo", iam="DISABLED")
    backend = motoext.backend(ACCOUNT, REGION)
    created = backend.db_proxies["demo"].auth[0]
    world.rds().modify_db_proxy(DBProxyName="demo", Auth=[
        {"AuthScheme": "SECRETS", "SecretArn": world.secret_arn, "IAMAuth": "REQUIRED"}])
    modified = backend.db_proxies["demo"].auth[0]
    assert "IAMAuth" in dict(modified) and "SecretArn" in dict(modified)
    assert set(dict(modified)) <= set(dict(created)) | {"IAMAuth", "SecretArn", "AuthScheme"}


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
    world.make_proxy("demo", targets=False)
    motoext.set_proxy_status(ACCOUNT, REGION, "demo", "modifying")
    assert fault(lambda: world.rds().modify_db_proxy(DBProxyName="demo", RequireTLS=False)) == (
        "InvalidDBProxyStateFault", 400)
