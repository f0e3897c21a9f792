"""Aurora PostgreSQL clusters in the sandbox: a real writer and streaming reader, a proxy
on the cluster, READ_ONLY endpoints routed to the reader, health per member."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(sandbox_cluster):
    return sandbox_cluster


def _in_recovery(sandbox, host: str) -> tuple[bool, str]:
    with sandbox.connect(host, password=sandbox.token(host, "app")) as conn:
        row = conn.execute("SELECT pg_is_in_recovery(), host(inet_server_addr())").fetchone()
    return bool(row[0]), str(row[1])


def test_cluster_is_a_writer_and_a_streaming_reader(sandbox, cluster):
    members = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster["DBClusterMembers"]}
    assert set(members) == {"e2e-aurora-instance-1", "e2e-aurora-instance-2"}
    assert sorted(members.values()) == [False, True]  # one writer (a failover test may swap them)
    assert ".cluster-" in cluster["Endpoint"] and ".cluster-ro-" in cluster["ReaderEndpoint"]
    proxy = sandbox.make_cluster_proxy("cl-proxy", "e2e-aurora", reader="cl-proxy-ro")
    rows = sandbox.members("cl-proxy")
    assert rows["e2e-aurora"]["Type"] == "TRACKED_CLUSTER"
    assert rows["e2e-aurora"]["TargetHealth"]["State"] == "AVAILABLE"
    assert sorted((rows["e2e-aurora-instance-1"]["Role"], rows["e2e-aurora-instance-2"]["Role"])) \
        == ["READ_ONLY", "READ_WRITE"]
    writer = _in_recovery(sandbox, proxy["Endpoint"])
    reader = _in_recovery(sandbox, proxy["ReaderEndpoint"])
    assert writer[0] is False and reader[0] is True and writer[1] != reader[1]
    # a write on the writer shows up on the reader (it streams)
    with sandbox.connect(proxy["Endpoint"], password=sandbox.token(proxy["Endpoint"], "app")) as c:
        c.execute("CREATE TABLE IF NOT EXISTS e2e_stream (n int)")
        c.execute("INSERT INTO e2e_stream VALUES (42)")
        c.commit()
    deadline = time.monotonic() + 5
    host = proxy["ReaderEndpoint"]
    while True:
        with sandbox.connect(host, password=sandbox.token(host, "app")) as c:
            if c.execute("SELECT to_regclass('e2e_stream') IS NOT NULL").fetchone()[0] and \
                    c.execute("SELECT count(*) FROM e2e_stream").fetchone()[0]:
                break
        assert time.monotonic() < deadline, "the reader never saw the write"
        time.sleep(0.2)
    # a write through the reader endpoint is refused by PostgreSQL itself
    import psycopg

    with sandbox.connect(host, password=sandbox.token(host, "app")) as c:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("INSERT INTO e2e_stream VALUES (1)")


def test_targets_command_shows_members_with_roles(sandbox, sandbox_cli, cluster):
    sandbox.make_cluster_proxy("cl-targets", "e2e-aurora")
    rows = {t["rds_resource_id"]: t for t in sandbox_cli("targets", "cl-targets", "-o",
                                                          "json").json()}
    assert rows["e2e-aurora"]["type"] == "TRACKED_CLUSTER"
    members = {k: (v["role"], v["health"]["state"]) for k, v in rows.items() if k != "e2e-aurora"}
    assert set(members) == {"e2e-aurora-instance-1", "e2e-aurora-instance-2"}
    assert sorted(members.values()) == [("READ_ONLY", "AVAILABLE"), ("READ_WRITE", "AVAILABLE")]


def test_read_only_endpoint_refused_on_an_instance_target(sandbox):
    from botocore.exceptions import ClientError

    sandbox.make_proxy("ro-on-instance")
    with pytest.raises(ClientError) as exc:
        sandbox.client("rds").create_db_proxy_endpoint(
            DBProxyName="ro-on-instance", DBProxyEndpointName="ro-on-instance-ro",
            VpcSubnetIds=sandbox.seeded["subnet_ids"], TargetRole="READ_ONLY")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterCombination"


def test_reader_that_does_not_replicate_is_invalid_replication_state(sandbox, sandbox_cli,
                                                                    cluster):
    sandbox.make_cluster_proxy("cl-repl", "e2e-aurora", reader="cl-repl-ro")
    try:
        sandbox_cli("sandbox", "fault", "replica-broken", "--proxy", "cl-repl")
        deadline = time.monotonic() + 10
        while True:
            reader = next(t for t in sandbox.members("cl-repl").values()
                          if t.get("Role") == "READ_ONLY")
            health = reader["TargetHealth"]
            if health.get("Reason") == "INVALID_REPLICATION_STATE":
                break
            assert time.monotonic() < deadline, health
            time.sleep(0.2)
        assert health["State"] == "UNAVAILABLE" and "replicating" in health["Description"]
        assert sandbox.log_lines("cl-repl", contains="INVALID_REPLICATION_STATE")
    finally:
        sandbox_cli("sandbox", "fault", "clear")
    sandbox.wait_members("cl-repl", "AVAILABLE", timeout=20)


def test_demo_cluster(sandbox, sandbox_cli):
    from .test_json_docs import assert_documented

    out = sandbox_cli("sandbox", "demo", "--cluster", "--dir", str(sandbox.directory), "-o",
                      "json")
    data = out.json()
    assert_documented("sandbox demo --cluster", data, free_form=("targets",))
    assert_documented("targets", data["targets"])
    checks = {c["target_role"]: c["in_recovery"] for c in data["checks"]}
    assert checks == {"READ_WRITE": False, "READ_ONLY": True}
    roles = {t["rds_resource_id"]: t["role"] for t in data["targets"] if t["type"] == "RDS_INSTANCE"}
    assert sorted(roles.values()) == ["READ_ONLY", "READ_WRITE"]
    assert "pg_is_in_recovery() is false through default and true through" in out.stderr
