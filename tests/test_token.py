"""rdsproxyctl token: byte-identical to the AWS CLI, pitfalls refused before minting."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import shlex

import pytest

from rdsproxyctl.core import aws as awsmod
from rdsproxyctl.core import tokens

HOST = "demo.proxy-abcdefghijkl.us-east-1.rds.amazonaws.com"
FIXED = dt.datetime(2026, 11, 28, 12, 0, 0)


@pytest.fixture
def fixed_clock(monkeypatch):
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: FIXED)
    return FIXED


def aws_cli_token(host: str, port: int, user: str, region: str) -> str:
    """What `aws rds generate-db-auth-token` prints, run in-process (same clock)."""
    from awscli.clidriver import create_clidriver

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = create_clidriver().main(["rds", "generate-db-auth-token", "--hostname", host,
                                      "--port", str(port), "--username", user,
                                      "--region", region])
    assert rc == 0
    return out.getvalue().strip()


@pytest.mark.parametrize("user", ["app", "user@example", "jöhn"])
def test_token_is_byte_identical_to_the_aws_cli(fixed_clock, cli, user):
    ours = cli("token", "--host", HOST, "--port", "5432", "--region", "us-east-1",
               "--user", user).stdout.strip()
    assert ours == aws_cli_token(HOST, 5432, user, "us-east-1")
    assert ours.startswith(f"{HOST}:5432/?Action=connect&DBUser=")
    assert "X-Amz-Expires=900" in ours and "X-Amz-Date=20261128T120000Z" in ours


def test_token_with_session_credentials_matches_the_aws_cli(fixed_clock, cli, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLESESSIONTOKEN" * 10)
    ours = cli("token", "--host", HOST, "--port", "5432", "--region", "us-east-1",
               "--user", "app").stdout.strip()
    assert ours == aws_cli_token(HOST, 5432, "app", "us-east-1")
    assert "X-Amz-Security-Token=" in ours


def test_explicit_host_makes_no_client_and_no_call(fixed_clock, cli, monkeypatch):
    def no_clients(self, service):
        raise AssertionError(f"created a {service} client")

    monkeypatch.setattr(awsmod.Aws, "client", no_clients)
    out = cli("token", "--host", "127.0.0.2", "--port", "6432", "--region", "eu-west-1",
              "--user", "app", "--format", "json").json()
    assert out["host"] == "127.0.0.2" and out["port"] == 6432 and out["region"] == "eu-west-1"
    assert out["expires_at"] == "2026-11-28T12:15:00+00:00"
    assert out["token"].startswith("127.0.0.2:6432/?Action=connect&DBUser=app&")


def test_token_looks_the_proxy_up(world, cli):
    proxy = world.make_proxy("demo")
    world.rds().create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="reader",
                                         VpcSubnetIds=world.subnets)
    token = cli("token", "demo", "--user", "app").stdout.strip()
    assert token.startswith(f"{proxy['Endpoint']}:5432/?Action=connect&DBUser=app&")
    assert "%2Fus-east-1%2Frds-db%2Faws4_request" in token
    reader = cli("token", "demo", "--user", "app", "--endpoint", "reader").stdout
    assert reader.startswith("reader.endpoint.proxy-")
    cli("token", "demo", "--user", "app", "--endpoint", "nope", code=3)
    cli("token", "nope", "--user", "app", code=3)


def test_env_and_dsn_formats(world, cli, monkeypatch):
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)
    proxy = world.make_proxy("demo")
    env_lines = cli("token", "demo", "--user", "app", "-d", "appdb", "--format", "env").stdout
    exported = dict(shlex.split(line)[1].split("=", 1) for line in env_lines.splitlines())
    assert exported["PGHOST"] == proxy["Endpoint"] and exported["PGPORT"] == "5432"
    assert exported["PGUSER"] == "app" and exported["PGDATABASE"] == "appdb"
    assert exported["PGSSLMODE"] == "verify-full" and exported["PGSSLROOTCERT"] == "system"
    assert exported["PGPASSWORD"].startswith(proxy["Endpoint"] + ":5432/?Action=connect")
    dsn = cli("token", "demo", "--user", "app", "--format", "dsn").stdout.strip()
    assert dsn == (f"host={proxy['Endpoint']} port=5432 user=app sslmode=verify-full "
                   "sslrootcert=system")
    assert "password" not in dsn and "Signature" not in dsn
    monkeypatch.setenv("PGSSLROOTCERT", "/tmp/sandbox ca.pem")
    dsn = cli("token", "demo", "--user", "app", "--format", "dsn").stdout.strip()
    assert dsn.endswith("sslrootcert='/tmp/sandbox ca.pem'")


def test_output_json_selects_the_json_format(fixed_clock, cli):
    out = cli("token", "--host", HOST, "--region", "us-east-1", "--user", "app", "-o", "json")
    assert set(out.json()) == {"token", "host", "port", "user", "region", "expires_at"}


def test_empty_session_token_is_refused(cli, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "")
    out = cli("token", "--host", HOST, "--region", "us-east-1", "--user", "app", code=4)
    assert "AWS_SESSION_TOKEN is set but empty" in out.stderr and out.stdout == ""


def test_region_mismatch_is_refused(cli):
    out = cli("token", "--host", HOST, "--region", "eu-west-1", "--user", "app", code=2)
    assert "is in us-east-1 but the token would be signed for eu-west-1" in out.stderr
    assert out.stdout == ""


def test_database_endpoint_is_warned_about(fixed_clock, cli):
    out = cli("token", "--host", "db1.c9akciq32.us-east-1.rds.amazonaws.com",
              "--region", "us-east-1", "--user", "app")
    assert "looks like a database endpoint" in out.stderr
    assert out.stdout.startswith("db1.c9akciq32")


def test_no_credentials_exit_4(cli, monkeypatch):
    awsmod.reset_cache()
    out = cli("token", "--host", HOST, "--region", "us-east-1", "--user", "app",
              env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, code=4)
    awsmod.reset_cache()
    assert "no AWS credentials" in out.stderr and out.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["--host", HOST, "--region", "us-east-1"], "--user is required"),
    (["--user", "app"], "give a proxy NAME, or --host"),
    (["demo", "--host", HOST, "--user", "app"], "not both"),
    (["--host", HOST, "--port", "0", "--region", "us-east-1", "--user", "app"], "port must be"),
    (["--host", "bad host", "--region", "us-east-1", "--user", "app"], "not a host name"),
])
def test_bad_input_is_a_usage_error(cli, args, message):
    out = cli("token", *args, code=2)
    assert message in out.stderr and out.stdout == ""


def test_classify_host():
    assert tokens.classify_host(HOST) == tokens.HostInfo("proxy", "us-east-1")
    assert tokens.classify_host("ro.endpoint.proxy-abc.eu-west-2.rds.amazonaws.com").kind == "proxy"
    assert tokens.classify_host("db.cluster-abc.eu-west-2.rds.amazonaws.com") == \
        tokens.HostInfo("database", "eu-west-2")
    assert tokens.classify_host("127.0.0.2") == tokens.HostInfo("other", None)
    assert tokens.classify_host("db.example.com").kind == "other"


def test_token_json_keys_are_documented(fixed_clock, cli):
    from .test_json_docs import assert_documented

    out = cli("token", "--host", HOST, "--region", "us-east-1", "--user", "app", "-f", "json")
    assert_documented("token", out.json())
