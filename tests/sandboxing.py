"""The ``sandbox`` fixture: one offline sandbox for the whole test session.

Brought up once (in a temporary directory) by the first test that asks for it and
taken down at the end of the session, even when tests fail.  Every end-to-end test
of the proxy (connect, logs, diagnose ...) uses it::

    @pytest.mark.slow
    def test_something(sandbox):
        proxy = sandbox.make_proxy("my-test-proxy")          # created, target AVAILABLE
        token = sandbox.token(proxy["Endpoint"], "app")
        with sandbox.connect(proxy["Endpoint"], password=token) as conn:
            conn.execute("SELECT 1")
        assert sandbox.log_lines("my-test-proxy", contains="A new client connected")

Tests share one sandbox: give proxies unique names, and put back what you change in
the seeded resources (the role's policy, the secret) in a ``finally``.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rdsproxyctl.sandbox import manager
from rdsproxyctl.sandbox import state as st

PROXY_PORT = 5432
MYSQL_PORT = 3306


@dataclass
class SandboxFixture:
    """A running sandbox and helpers to use it from tests."""

    directory: Path
    region: str
    endpoint_url: str
    ca_file: Path
    access_key_id: str
    secret_access_key: str
    env: dict[str, str]  # what `rdsproxyctl sandbox env` exports
    superuser_dsn: str  # PostgreSQL itself, as its superuser (not through a proxy)
    db_host: str
    db_port: int
    app_user: str
    app_password: str
    app_database: str
    seeded: dict[str, Any]  # secret_arn, role_arn, subnet_ids, proxy_security_group, ...
    mariadb: dict[str, Any] = field(default_factory=dict)  # host, port, superuser ... (if any)
    _clients: dict[str, Any] = field(default_factory=dict)

    # -- AWS ---------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client signed with the sandbox's admin key."""
        client = self._clients.get(service)
        if client is None:
            import boto3

            session = boto3.Session(aws_access_key_id=self.access_key_id,
                                    aws_secret_access_key=self.secret_access_key,
                                    region_name=self.region)
            client = self._clients[service] = session.client(service,
                                                             endpoint_url=self.endpoint_url)
        return client

    def aws(self) -> Any:
        """A context manager giving rdsproxyctl's factory (``Aws``) pointed at the sandbox."""
        return manager.sandbox_aws(self.directory)

    def make_proxy(self, name: str, *, iam: str = "REQUIRED", require_tls: bool = True,
                   auth_type: str | None = None, targets: bool = True, wait: bool = True,
                   pool: dict[str, Any] | None = None, secret_arn: str | None = None,
                   engine: str = "POSTGRESQL", **extra: Any) -> dict[str, Any]:
        """Create a proxy on the seeded secret, role and database (``engine="MYSQL"``: the
        MariaDB instance); by default wait until its target is AVAILABLE.  Returns the
        DBProxy (``Endpoint`` is its address)."""
        if engine == "MYSQL":
            self.require_mysql()
        rds = self.client("rds")
        auth: dict[str, Any] = {"AuthScheme": "SECRETS",
                                "SecretArn": secret_arn or self.seeded["secret_arn"],
                                "IAMAuth": iam}
        if auth_type:
            auth["ClientPasswordAuthType"] = auth_type
        proxy = rds.create_db_proxy(
            DBProxyName=name, EngineFamily=engine, Auth=[auth],
            RoleArn=self.seeded["role_arn"], VpcSubnetIds=self.seeded["subnet_ids"],
            VpcSecurityGroupIds=[self.seeded["proxy_security_group"]], RequireTLS=require_tls,
            **extra)["DBProxy"]
        if pool:
            rds.modify_db_proxy_target_group(DBProxyName=name, TargetGroupName="default",
                                             ConnectionPoolConfig=pool)
        if targets:
            instance = self.seeded["mysql_instance" if engine == "MYSQL" else "db_instance"]
            rds.register_db_proxy_targets(DBProxyName=name, DBInstanceIdentifiers=[instance])
            if wait:
                self.wait_health(name, "AVAILABLE")
        return proxy

    def make_cluster(self, identifier: str, timeout: float = 90) -> dict[str, Any]:
        """An Aurora PostgreSQL DB cluster (a real writer and streaming reader), available."""
        rds = self.client("rds")
        rds.create_db_cluster(DBClusterIdentifier=identifier, Engine="aurora-postgresql",
                              MasterUsername="postgres", MasterUserPassword="pw-123456789")
        deadline = time.monotonic() + timeout
        while True:
            cluster = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
            if cluster["Status"] == "available":
                return dict(cluster)
            if cluster["Status"] == "failed" or time.monotonic() > deadline:
                raise AssertionError(f"DB cluster {identifier}: {cluster['Status']}")
            time.sleep(0.2)

    def make_cluster_proxy(self, name: str, cluster: str, *, reader: str | None = None,
                           **kwargs: Any) -> dict[str, Any]:
        """A proxy on ``cluster`` (and a READ_ONLY endpoint named ``reader``), its members
        AVAILABLE.  Returns the DBProxy, with ``ReaderEndpoint`` when ``reader`` is given."""
        proxy = self.make_proxy(name, targets=False, **kwargs)
        rds = self.client("rds")
        rds.register_db_proxy_targets(DBProxyName=name, DBClusterIdentifiers=[cluster])
        if reader:
            proxy["ReaderEndpoint"] = rds.create_db_proxy_endpoint(
                DBProxyName=name, DBProxyEndpointName=reader,
                VpcSubnetIds=self.seeded["subnet_ids"], TargetRole="READ_ONLY")[
                "DBProxyEndpoint"]["Endpoint"]
        self.wait_members(name, "AVAILABLE")
        return proxy

    def members(self, name: str) -> dict[str, dict[str, Any]]:
        """DescribeDBProxyTargets' rows by RdsResourceId."""
        rows = self.client("rds").describe_db_proxy_targets(DBProxyName=name)["Targets"]
        return {t["RdsResourceId"]: t for t in rows}

    def wait_members(self, name: str, state: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.members(name)
            members = [t for t in rows.values() if t["Type"] == "RDS_INSTANCE"]
            if members and all(t["TargetHealth"].get("State") == state for t in members):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: members {rows}, expected all {state}")
            time.sleep(0.1)

    def target_health(self, name: str) -> dict[str, Any]:
        targets = self.client("rds").describe_db_proxy_targets(DBProxyName=name)["Targets"]
        return targets[0]["TargetHealth"] if targets else {}

    def wait_health(self, name: str, state: str, reason: str | None = None,
                    timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            health = self.target_health(name)
            if health.get("State") == state and (reason is None or health.get("Reason") == reason):
                return health
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: target health {health}, expected {state} {reason}")
            time.sleep(0.1)

    def token(self, host: str, user: str, port: int = PROXY_PORT, *,
              at: _dt.datetime | None = None, access_key_id: str | None = None,
              secret_access_key: str | None = None, region: str | None = None) -> str:
        """An IAM auth token minted by botocore (``at``: as if minted at that time;
        by default signed with the sandbox's admin key)."""
        from unittest import mock

        import botocore.session

        session = botocore.session.Session()
        session.set_credentials(access_key_id or self.access_key_id,
                                secret_access_key or self.secret_access_key)
        rds = session.create_client("rds", region_name=region or self.region,
                                    endpoint_url=self.endpoint_url)
        if at is None:
            return str(rds.generate_db_auth_token(host, port, user))
        with mock.patch("botocore.auth.get_current_datetime",
                        return_value=at.astimezone(_dt.timezone.utc).replace(tzinfo=None)):
            return str(rds.generate_db_auth_token(host, port, user))

    # -- MySQL (MariaDB) -----------------------------------------------------------------
    def require_mysql(self) -> None:
        if not self.seeded.get("mysql_instance"):
            pytest.skip("MariaDB is not installed (bash .ci/bootstrap installs mariadb-server)")

    def mysql(self, host: str, *, user: str | None = None, password: str | None = None,
              database: str | None = None, **kwargs: Any) -> Any:
        """A PyMySQL connection through a MySQL proxy (port 3306, verify-full TLS with the
        sandbox CA, autocommit)."""
        import pymysql

        return pymysql.connect(host=host, port=MYSQL_PORT, user=user or self.app_user,
                               password=password or "", database=database or self.app_database,
                               ssl_ca=str(self.ca_file), ssl_verify_identity=True,
                               connect_timeout=10, autocommit=True, **kwargs)

    def mysql_superuser(self) -> Any:
        """A PyMySQL connection to MariaDB itself, as its superuser."""
        import pymysql

        my = self.mariadb
        return pymysql.connect(host=my["host"], port=my["port"], user=my["superuser"],
                               password=my["superuser_password"], ssl_ca=str(self.ca_file),
                               ssl_verify_identity=True, autocommit=True)

    def mysql_backends(self, user: str | None = None) -> int:
        """How many MariaDB connections serve ``user`` (default: the app user) right now."""
        with self.mysql_superuser() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE user = %s",
                        (user or self.app_user,))
            return int(cur.fetchone()[0])

    # -- PostgreSQL ---------------------------------------------------------------------
    def connect(self, host: str, *, user: str | None = None, password: str | None = None,
                dbname: str | None = None, port: int = PROXY_PORT, **kwargs: Any) -> Any:
        """A psycopg connection through a proxy (verify-full TLS with the sandbox CA)."""
        import psycopg

        params: dict[str, Any] = {"sslmode": "verify-full", "sslrootcert": str(self.ca_file),
                                  "connect_timeout": 10, "prepare_threshold": None}
        params.update(kwargs)
        return psycopg.connect(host=host, port=port, user=user or self.app_user,
                               password=password, dbname=dbname or self.app_database, **params)

    def superuser(self) -> Any:
        """A psycopg connection to PostgreSQL itself, as its superuser."""
        import psycopg

        return psycopg.connect(self.superuser_dsn, autocommit=True)

    def backends(self, user: str | None = None) -> int:
        """How many server processes serve ``user`` (default: the app user) right now."""
        with self.superuser() as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                               (user or self.app_user,)).fetchone()
        return int(row[0]) if row else 0

    # -- the emulator ---------------------------------------------------------------------
    def emulator_state(self, timeout: float = 3.0) -> dict[str, Any]:
        """``emulator.json``: listeners, sessions and pools (open/idle/busy/cap), as written
        after this call (the daemon rewrites it four times a second)."""
        asked = time.time()
        deadline = time.monotonic() + timeout
        while True:
            state = st.read_json(self.directory / st.EMULATOR_STATE) or {}
            if state.get("at", 0) > asked or time.monotonic() > deadline:
                return state
            time.sleep(0.05)

    def pool(self, proxy_name: str) -> dict[str, Any]:
        for pool in self.emulator_state().get("pools", []):
            if pool.get("proxy") == proxy_name:
                return dict(pool)
        return {}

    def log_lines(self, proxy_name: str, *, contains: str | None = None, count: int = 1,
                  timeout: float = 5.0) -> list[str]:
        """The proxy's CloudWatch log lines; waits until ``count`` contain ``contains``."""
        logs = self.client("logs")
        deadline = time.monotonic() + timeout
        while True:
            try:
                events = logs.filter_log_events(logGroupName=f"/aws/rds/proxy/{proxy_name}")
                lines = [e["message"] for e in sorted(events["events"],
                                                       key=lambda e: e["timestamp"])]
            except logs.exceptions.ResourceNotFoundException:
                lines = []
            matching = [line for line in lines if contains is None or contains in line]
            if len(matching) >= count or time.monotonic() > deadline:
                return matching

    def set_role_policy(self, document: dict[str, Any]) -> None:
        self.client("iam").put_role_policy(RoleName=self.seeded["role_arn"].split("/")[-1],
                                           PolicyName="read-app-secret",
                                           PolicyDocument=json.dumps(document))


def start_sandbox(directory: Path) -> SandboxFixture:
    from rdsproxyctl.sandbox import mariadb

    manager.up(directory, mysql=mariadb.available())
    state, info = manager.load(directory)
    variables = manager.env(directory).variables
    pg = state["postgres"]
    from rdsproxyctl.sandbox.postgres import dsn

    return SandboxFixture(
        directory=directory, region=state["region"], endpoint_url=info["api"]["url"],
        ca_file=directory / st.CA_FILE, access_key_id=variables["AWS_ACCESS_KEY_ID"],
        secret_access_key=variables["AWS_SECRET_ACCESS_KEY"], env=variables,
        superuser_dsn=dsn(pg["host"], pg["port"], pg["superuser"], pg["superuser_password"],
                          "postgres", directory / st.CA_FILE),
        db_host=pg["host"], db_port=pg["port"], app_user=state["app"]["user"],
        app_password=state["app"]["password"], app_database=state["app"]["database"],
        seeded=info["seeded"], mariadb=state.get("mariadb") or {})


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxFixture]:
    """A running sandbox shared by the session's end-to-end tests; down at the end."""
    directory = tmp_path_factory.mktemp("sandbox")
    try:
        yield start_sandbox(directory)
    finally:
        manager.down(directory)
