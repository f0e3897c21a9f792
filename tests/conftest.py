"""Shared fixtures: moto in-process with the project's extension, fake credentials.

moto facts that keep the suite fast: MOTO_EC2_LOAD_DEFAULT_AMIS=false before moto
is imported; one botocore session and one client per service for the whole test
session (rdsproxyctl.core.aws caches them); no AWS_SESSION_TOKEN; fake credentials.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Before moto (or botocore) is imported: a clean, fake, fast AWS environment.
for _var in list(os.environ):
    if _var.startswith(("AWS_", "RDSPROXYCTL_")) or _var == "NO_COLOR":
        del os.environ[_var]
os.environ.update(
    MOTO_EC2_LOAD_DEFAULT_AMIS="false",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE="/nonexistent/aws-config",
    AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
    AWS_EC2_METADATA_DISABLED="true",
    RDSPROXYCTL_MAX_ATTEMPTS="1",
)

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from rdsproxyctl import motoext  # noqa: E402
from rdsproxyctl.cli.app import app  # noqa: E402
from rdsproxyctl.core.aws import Aws, AwsSettings  # noqa: E402

motoext.install()

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture
def moto() -> Iterator[None]:
    """A fresh moto world for one test."""
    with mock_aws():
        yield


@pytest.fixture
def aws(moto: None) -> Aws:
    return Aws(AwsSettings(region=REGION, max_attempts=1))


@dataclass
class World:
    """A VPC with subnets in two AZs, a secret, a proxy role and a PostgreSQL instance."""

    aws: Aws
    subnets: list[str]
    security_group: str
    secret_arn: str
    role_arn: str
    db_instance: str = "db1"
    proxies: list[str] = field(default_factory=list)

    def rds(self) -> Any:
        return self.aws.client("rds")

    def make_proxy(self, name: str = "demo", *, engine: str = "POSTGRESQL", iam: str = "REQUIRED",
                   require_tls: bool = True, targets: bool = True, **extra: Any) -> dict[str, Any]:
        auth = [{"AuthScheme": "SECRETS", "SecretArn": self.secret_arn, "IAMAuth": iam}]
        proxy = self.rds().create_db_proxy(
            DBProxyName=name, EngineFamily=engine, Auth=auth, RoleArn=self.role_arn,
            VpcSubnetIds=self.subnets, VpcSecurityGroupIds=[self.security_group],
            RequireTLS=require_tls, **extra)["DBProxy"]
        if targets:
            self.rds().register_db_proxy_targets(DBProxyName=name,
                                                 DBInstanceIdentifiers=[self.db_instance])
        self.proxies.append(name)
        return proxy


def build_world(aws: Aws) -> World:
    ec2 = aws.client("ec2")
    subnets = ec2.describe_subnets()["Subnets"]
    by_az: dict[str, str] = {}
    for s in subnets:
        by_az.setdefault(s["AvailabilityZone"], s["SubnetId"])
    vpc = subnets[0]["VpcId"]
    sg = ec2.create_security_group(GroupName="proxy-sg", Description="proxy", VpcId=vpc)["GroupId"]
    secret = aws.client("secretsmanager").create_secret(
        Name="app-db", SecretString=json.dumps({"username": "app", "password": "s3cr3t-pw"}))["ARN"]
    role = aws.client("iam").create_role(
        RoleName="rds-proxy-role",
        AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier="db1", Engine="postgres", DBInstanceClass="db.t3.micro",
        MasterUsername="postgres", MasterUserPassword="password123", AllocatedStorage=20)
    return World(aws=aws, subnets=list(by_az.values())[:2], security_group=sg,
                 secret_arn=secret, role_arn=role)


@pytest.fixture
def world(aws: Aws) -> World:
    return build_world(aws)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Cli:
    """Runs rdsproxyctl in-process through typer's runner."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = 0, env: dict[str, str] | None = None,
                 input: str | None = None) -> CliResult:
        result = self.runner.invoke(app, list(args), env=env, input=input)
        out = CliResult(result.exit_code, result.stdout, result.stderr)
        assert "Traceback (most recent call last)" not in out.stderr or "--debug" in args, out.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if code is not None:
            assert out.exit_code == code, (out.exit_code, out.stdout, out.stderr)
        return out


@pytest.fixture
def cli() -> Cli:
    return Cli()


# -- issue 4 (lifecycle): counting API calls, instant waits -------------------------------------
@dataclass
class ApiCalls:
    """Every AWS API call made through the factory's clients while the fixture is active."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    READ_PREFIXES = ("Describe", "List", "Get")

    @property
    def mutating(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if not c[1].startswith(self.READ_PREFIXES)]

    def operations(self, service: str | None = None) -> list[str]:
        return [op for svc, op in self.calls if service in (None, svc)]

    def clear(self) -> None:
        self.calls.clear()


API_SERVICES = ("rds", "ec2", "iam", "secretsmanager", "sts", "kms", "logs")


@pytest.fixture
def api_calls(aws: Aws) -> Iterator[ApiCalls]:
    """Records (service, operation) of each call, via botocore's before-call event."""
    record = ApiCalls()
    handlers = []
    for service in API_SERVICES:
        client = aws.client(service)
        name = client.meta.service_model.service_name

        def handler(model: Any, _svc: str = name, **_: Any) -> None:
            record.calls.append((_svc, model.name))

        client.meta.events.register("before-call", handler)
        handlers.append((client, handler))
    try:
        yield record
    finally:
        for client, handler in handlers:
            client.meta.events.unregister("before-call", handler)


@pytest.fixture
def instant_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waits poll without sleeping (RDSPROXYCTL_POLL_INTERVAL=0)."""
    monkeypatch.setenv("RDSPROXYCTL_POLL_INTERVAL", "0")


# The session-wide offline sandbox (`sandbox` fixture) for end-to-end tests.
from .sandboxing import SandboxFixture, sandbox  # noqa: E402,F401


@pytest.fixture
def sandbox_cli(sandbox: SandboxFixture, cli: Cli) -> Iterator[Any]:
    """``cli`` pointed at the session's sandbox, as after ``eval "$(rdsproxyctl sandbox env)"``.

    The factory's cached sessions hold the fake test credentials, so they are dropped
    before and after: commands here sign with the sandbox's own access key."""
    from rdsproxyctl.core import aws as awsmod

    def run(*args: str, code: int | None = 0, env: dict[str, str] | None = None) -> CliResult:
        return cli(*args, code=code, env={**sandbox.env, **(env or {})})

    awsmod.reset_cache()
    yield run
    awsmod.reset_cache()


@pytest.fixture(scope="session")
def sandbox_cluster(sandbox: SandboxFixture) -> dict[str, Any]:
    """An Aurora PostgreSQL cluster in the session's sandbox (``e2e-aurora``: a real writer
    and streaming reader).  Tests that fail it over or break it put it back (`fault clear`)."""
    return sandbox.make_cluster("e2e-aurora")
