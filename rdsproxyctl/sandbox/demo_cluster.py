"""``rdsproxyctl sandbox demo --cluster``: a proxy on an Aurora PostgreSQL cluster.

Start the sandbox if needed; create the DB cluster ``sandbox-aurora`` through the API
(the sandbox makes a real writer and a streaming reader) and wait until it is
available; create the proxy ``sandbox-demo-cluster`` with the cluster as its target
(the core of ``rdsproxyctl create``) and a READ_ONLY endpoint; wait until both members
are AVAILABLE; then, through each endpoint, with an IAM token over verify-full TLS,
ask ``SELECT pg_is_in_recovery()`` (false on the writer, true on the reader); list the
targets (``rdsproxyctl targets``: the tracked cluster and both members with their roles).
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy-endpoints.html
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdsproxyctl.errors import CheckFailed

CLUSTER = "sandbox-aurora"
PROXY_NAME = "sandbox-demo-cluster"
READER_ENDPOINT = "sandbox-demo-cluster-ro"
PROXY_PORT = 5432
TIMEOUT = 90.0


@dataclass(frozen=True)
class EndpointCheck:
    endpoint_name: str
    host: str
    target_role: str
    in_recovery: bool
    server_address: str


@dataclass(frozen=True)
class ClusterDemoResult:
    proxy_name: str
    cluster: str
    cluster_endpoint: str
    reader_endpoint: str
    checks: list[EndpointCheck] = field(default_factory=list)
    targets: list[Any] = field(default_factory=list)  # core.models.Target


def run(directory: Path, step: Any, *, debug: bool = False) -> ClusterDemoResult:
    from rdsproxyctl.core import lifecycle, proxies
    from rdsproxyctl.core import plan as plans
    from rdsproxyctl.core.awserrors import aws_errors
    from rdsproxyctl.core.spec import AuthSpec, PoolSpec, ProxySpec, TargetSpec
    from rdsproxyctl.core.waiter import WaitOptions
    from rdsproxyctl.sandbox import manager

    try:
        running = manager.status(directory).running
    except Exception:  # noqa: BLE001 - no sandbox yet
        running = False
    if not running:
        step("starting the sandbox (AWS API, PostgreSQL with TLS, proxy emulator)")
        manager.up(directory, progress=step)
    state, info = manager.load(directory)
    seeded = info["seeded"]
    user, database = state["app"]["user"], state["app"]["database"]
    with manager.sandbox_aws(directory, debug=debug) as aws:
        rds = aws.client("rds")
        with aws_errors(aws):
            if not _exists(rds, CLUSTER):
                step(f"aws rds create-db-cluster --db-cluster-identifier {CLUSTER} --engine "
                     "aurora-postgresql: the sandbox makes a writer and a streaming reader")
                rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql",
                                      MasterUsername="postgres",
                                      MasterUserPassword=state["postgres"]["superuser_password"],
                                      DBSubnetGroupName="sandbox",
                                      VpcSecurityGroupIds=[seeded["db_security_group"]])
            else:
                step(f"DB cluster {CLUSTER} exists: using it")
            cluster = _wait_cluster(rds, step)
        spec = ProxySpec(
            name=PROXY_NAME, engine_family="POSTGRESQL", role_arn=seeded["role_arn"],
            vpc_subnet_ids=list(seeded["subnet_ids"]),
            vpc_security_group_ids=[seeded["proxy_security_group"]], require_tls=True,
            idle_client_timeout=1800, debug_logging=False,
            auth=[AuthSpec(secret_arn=seeded["secret_arn"], iam_auth="REQUIRED",
                           client_password_auth_type="POSTGRES_SCRAM_SHA_256",
                           description="the application's login")],
            tags={"created-by": "rdsproxyctl sandbox demo --cluster"},
            pool=PoolSpec(max_connections_percent=75, max_idle_connections_percent=50,
                          connection_borrow_timeout=120),
            targets=[TargetSpec(db_cluster_identifier=CLUSTER)])
        plan = lifecycle.create_plan(aws, spec, if_not_exists=True)
        if not plan.no_changes:
            step(f"rdsproxyctl create {PROXY_NAME}: target the DB cluster {CLUSTER}")
            plans.execute(aws, plan, wait=True, options=WaitOptions(interval=0.25),
                          progress=lambda m: step(f"    {m}"))
        else:
            step(f"proxy {PROXY_NAME} exists: using it")
        with aws_errors(aws, proxy=PROXY_NAME):
            endpoints = {e["DBProxyEndpointName"]: e for e in rds.describe_db_proxy_endpoints(
                DBProxyName=PROXY_NAME)["DBProxyEndpoints"]}
            if READER_ENDPOINT not in endpoints:
                step(f"rdsproxyctl endpoints create {PROXY_NAME} {READER_ENDPOINT} "
                     "--role read-only")
                endpoints[READER_ENDPOINT] = rds.create_db_proxy_endpoint(
                    DBProxyName=PROXY_NAME, DBProxyEndpointName=READER_ENDPOINT,
                    VpcSubnetIds=list(seeded["subnet_ids"]),
                    TargetRole="READ_ONLY")["DBProxyEndpoint"]
            step("waiting for both members to be AVAILABLE")
            _wait_members(rds)
        checks = []
        for name in ("default", READER_ENDPOINT):
            ep = endpoints[name]
            step(f"through {name} ({ep['Endpoint']}): SELECT pg_is_in_recovery() with an IAM "
                 "token over verify-full TLS")
            checks.append(_check(aws, directory, name, ep["Endpoint"],
                                 ep.get("TargetRole") or "READ_WRITE", user, database))
        step(f"rdsproxyctl targets {PROXY_NAME}")
        targets = proxies.get_targets(aws, PROXY_NAME)
    return ClusterDemoResult(proxy_name=PROXY_NAME, cluster=CLUSTER,
                             cluster_endpoint=cluster["Endpoint"],
                             reader_endpoint=cluster["ReaderEndpoint"], checks=checks,
                             targets=targets)


def _exists(rds: Any, identifier: str) -> bool:
    return any(c["DBClusterIdentifier"] == identifier
               for c in rds.describe_db_clusters()["DBClusters"])


def _wait_cluster(rds: Any, step: Any) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        cluster = rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
        if cluster["Status"] == "available":
            return dict(cluster)
        if cluster["Status"] == "failed" or time.monotonic() > deadline:
            raise CheckFailed(f"DB cluster {CLUSTER} is {cluster['Status']}",
                              hint="the sandbox's daemon.log says why")
        time.sleep(0.25)


def _wait_members(rds: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        rows = rds.describe_db_proxy_targets(DBProxyName=PROXY_NAME)["Targets"]
        members = [t for t in rows if t["Type"] == "RDS_INSTANCE"]
        if len(members) >= 2 and all(t["TargetHealth"].get("State") == "AVAILABLE"
                                     for t in members):
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"the members of {CLUSTER} are not AVAILABLE: "
                              + ", ".join(f"{t['RdsResourceId']} {t['TargetHealth']}"
                                          for t in members))
        time.sleep(0.2)


def _check(aws: Any, directory: Path, name: str, host: str, role: str, user: str,
           database: str) -> EndpointCheck:
    from rdsproxyctl.core import db
    from rdsproxyctl.sandbox import state as st

    token = aws.client("rds").generate_db_auth_token(host, PROXY_PORT, user)
    conn = db.connect(db.ConnParams(host=host, port=PROXY_PORT, user=user, dbname=database,
                                    password=token, sslrootcert=str(directory / st.CA_FILE)))
    try:
        in_recovery, address = conn.execute(
            "SELECT pg_is_in_recovery(), host(inet_server_addr())").fetchone()
    finally:
        conn.close()
    return EndpointCheck(name, host, role, bool(in_recovery), str(address))
