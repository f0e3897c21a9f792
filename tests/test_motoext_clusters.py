"""motoext.clusters: Aurora cluster targets, READ_ONLY endpoints, the sandbox's cluster hooks.
In-process moto."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from rdsproxyctl import motoext

from .conftest import ACCOUNT, REGION


def _cluster(world, name: str = "aur", members: int = 2) -> None:
    rds = world.rds()
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql",
                          MasterUsername="postgres", MasterUserPassword="pw-123456789")
    for n in range(1, members + 1):
        rds.create_db_instance(DBInstanceIdentifier=f"{name}-{n}", DBClusterIdentifier=name,
                               Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")


def _rows(world, proxy: str = "cp") -> dict[str, dict]:
    targets = world.rds().describe_db_proxy_targets(DBProxyName=proxy)["Targets"]
    return {t["RdsResourceId"]: t for t in targets}


def test_cluster_target_is_tracked_with_one_row_per_member(world):
    _cluster(world)
    world.make_proxy("cp", targets=False)
    world.rds().register_db_proxy_targets(DBProxyName="cp", DBClusterIdentifiers=["aur"])
    rows = _rows(world)
    assert set(rows) == {"aur", "aur-1", "aur-2"}
    assert rows["aur"]["Type"] == "TRACKED_CLUSTER" and rows["aur"]["TrackedClusterId"] == "aur"
    assert ".cluster-" in rows["aur"]["Endpoint"]
    assert {k: (r["Type"], r["Role"], r["TrackedClusterId"]) for k, r in rows.items() if k != "aur"} \
        == {"aur-1": ("RDS_INSTANCE", "READ_WRITE", "aur"),
            "aur-2": ("RDS_INSTANCE", "READ_ONLY", "aur")}
    assert rows["aur-1"]["TargetArn"] != rows["aur-2"]["TargetArn"]
    # health is per member
    motoext.set_target_health(ACCOUNT, REGION, "cp", "aur-2", "UNAVAILABLE",
                              "INVALID_REPLICATION_STATE", "not replicating")
    rows = _rows(world)
    assert rows["aur-2"]["TargetHealth"]["Reason"] == "INVALID_REPLICATION_STATE"
    assert rows["aur-1"]["TargetHealth"].get("Reason") is None
    # a failover swaps the roles; the member rows (and their health) stay
    world.rds().failover_db_cluster(DBClusterIdentifier="aur", TargetDBInstanceIdentifier="aur-2")
    rows = _rows(world)
    assert (rows["aur-1"]["Role"], rows["aur-2"]["Role"]) == ("READ_ONLY", "READ_WRITE")
    assert rows["aur-2"]["TargetHealth"]["Reason"] == "INVALID_REPLICATION_STATE"
    # deregistering the cluster takes its members along
    world.rds().deregister_db_proxy_targets(DBProxyName="cp", DBClusterIdentifiers=["aur"])
    assert _rows(world) == {}


def test_read_only_endpoint_refused_on_an_instance_target_allowed_on_a_cluster(world):
    world.make_proxy("ip")  # targets the DB instance db1
    with pytest.raises(ClientError) as exc:
        world.rds().create_db_proxy_endpoint(DBProxyName="ip", DBProxyEndpointName="ro",
                                             VpcSubnetIds=world.subnets, TargetRole="READ_ONLY")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert "READ_ONLY endpoints are supported only" in exc.value.response["Error"]["Message"]
    assert [e["DBProxyEndpointName"] for e in world.rds().describe_db_proxy_endpoints(
        DBProxyName="ip")["DBProxyEndpoints"]] == ["default"]  # nothing made
    world.rds().create_db_proxy_endpoint(DBProxyName="ip", DBProxyEndpointName="rw",
                                         VpcSubnetIds=world.subnets, TargetRole="READ_WRITE")
    _cluster(world)
    world.make_proxy("cp", targets=False)
    world.rds().register_db_proxy_targets(DBProxyName="cp", DBClusterIdentifiers=["aur"])
    ep = world.rds().create_db_proxy_endpoint(DBProxyName="cp", DBProxyEndpointName="cp-ro",
                                              VpcSubnetIds=world.subnets,
                                              TargetRole="READ_ONLY")["DBProxyEndpoint"]
    assert ep["TargetRole"] == "READ_ONLY"


class _Provisioner(motoext.ClusterProvisioner):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def create(self, account_id: str, region: str, identifier: str) -> None:
        self.calls.append(("create", identifier))

    def delete(self, account_id: str, region: str, identifier: str) -> None:
        self.calls.append(("delete", identifier))


@pytest.fixture
def provisioner():
    p = _Provisioner()
    motoext.set_cluster_provisioner(p)
    motoext.settings.URL_IDENTIFIER = "abcdefgh1234"
    yield p
    motoext.set_cluster_provisioner(None)
    motoext.settings.URL_IDENTIFIER = None


def test_provisioner_makes_members_and_the_cluster_becomes_available(world, provisioner):
    rds = world.rds()
    made = rds.create_db_cluster(DBClusterIdentifier="real", Engine="aurora-postgresql",
                                 MasterUsername="postgres",
                                 MasterUserPassword="pw-123456789")["DBCluster"]
    assert made["Status"] == "creating" and provisioner.calls == [("create", "real")]
    assert made["Endpoint"] == f"real.cluster-abcdefgh1234.{REGION}.rds.amazonaws.com"
    assert rds.describe_db_clusters(DBClusterIdentifier="real")["DBClusters"][0]["Status"] == \
        "creating"  # stays so until the sandbox says otherwise
    world.make_proxy("cp", targets=False)
    rds.register_db_proxy_targets(DBProxyName="cp", DBClusterIdentifiers=["real"])
    motoext.set_cluster_members(ACCOUNT, REGION, "real", [
        {"id": "real-instance-1", "address": "127.0.0.21", "port": 6000, "writer": True},
        {"id": "real-instance-2", "address": "127.0.0.22", "port": 6000, "writer": False}])
    cluster = rds.describe_db_clusters(DBClusterIdentifier="real")["DBClusters"][0]
    assert cluster["Status"] == "available" and cluster["Port"] == 6000
    assert {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster["DBClusterMembers"]} \
        == {"real-instance-1": True, "real-instance-2": False}
    rows = _rows(world)
    assert (rows["real-instance-1"]["Endpoint"], rows["real-instance-1"]["Port"],
            rows["real-instance-1"]["Role"]) == ("127.0.0.21", 6000, "READ_WRITE")
    assert rows["real-instance-2"]["Role"] == "READ_ONLY"
    # the sandbox promoted the reader
    motoext.set_cluster_members(ACCOUNT, REGION, "real", [
        {"id": "real-instance-1", "address": "127.0.0.21", "port": 6000, "writer": False},
        {"id": "real-instance-2", "address": "127.0.0.22", "port": 6000, "writer": True}])
    rows = _rows(world)
    assert (rows["real-instance-1"]["Role"], rows["real-instance-2"]["Role"]) == \
        ("READ_ONLY", "READ_WRITE")
    rds.deregister_db_proxy_targets(DBProxyName="cp", DBClusterIdentifiers=["real"])
    for n in (1, 2):
        rds.delete_db_instance(DBInstanceIdentifier=f"real-instance-{n}", SkipFinalSnapshot=True)
    rds.delete_db_cluster(DBClusterIdentifier="real", SkipFinalSnapshot=True)
    assert provisioner.calls[-1] == ("delete", "real")


def test_other_engines_are_not_provisioned(world, provisioner):
    world.rds().create_db_cluster(DBClusterIdentifier="my", Engine="aurora-mysql",
                                  MasterUsername="admin", MasterUserPassword="pw-123456789")
    assert provisioner.calls == []
