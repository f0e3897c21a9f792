"""`rdsproxyctl sandbox ...` without a running sandbox (fast), and one sandbox's whole life
(slow): up, up again, crashes reported and repaired, env, down leaving nothing behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rdsproxyctl.sandbox import mariadb
from rdsproxyctl.sandbox import state as st


def test_commands_without_a_sandbox(cli, tmp_path):
    missing = tmp_path / "nothing-here"
    for command in ("status", "env"):
        out = cli("sandbox", command, "--dir", str(missing), code=3)
        assert f"no sandbox in {missing}" in out.stderr and "sandbox up --dir" in out.stderr
    out = cli("sandbox", "down", "--dir", str(missing))
    assert "nothing stopped or deleted" in out.stderr
    assert not missing.exists()  # down did not create it


def test_dir_that_is_a_file_is_a_usage_error(cli, tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    for command in ("up", "down", "status", "env"):
        out = cli("sandbox", command, "--dir", str(path), code=2)
        assert "is not a directory" in out.stderr
    assert path.read_text() == "not a directory"  # nothing changed


def test_sandbox_help_does_not_import_heavy_modules():
    code = ("import sys; from rdsproxyctl.cli.app import app; sys.argv = "
            "['rdsproxyctl', 'sandbox', '{}', '--help']\ntry:\n    app(prog_name='rdsproxyctl')\nexcept SystemExit:\n"
            "    pass\nheavy = [m for m in ('boto3', 'botocore', 'psycopg', 'cryptography', 'moto')"
            " if m in sys.modules]\nprint(heavy)")
    for command in ("up", "down", "status", "env", "demo", "fault"):
        out = subprocess.run([sys.executable, "-c", code.format(command)], capture_output=True,
                             text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == "[]", (command, out.stdout)


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


@pytest.mark.slow
def test_sandbox_life_cycle(cli, tmp_path):
    directory = tmp_path / "sb"
    mysql = mariadb.available()
    try:
        from .test_json_docs import assert_documented

        up = cli("sandbox", "up", "--dir", str(directory), "-o", "json")
        assert "accepts any credentials" in up.stderr  # the API checks no signature
        for name in (st.DAEMON_LOG, st.EMULATOR_LOG, st.STATE_FILE):
            assert (directory / name).stat().st_mode & 0o077 == 0, name
        first = up.json()
        assert first["running"] is True and first["region"] == "eu-west-1"
        names = first["names"]
        assert names["kind"] in ("hostnames", "addresses") and names["reason"]
        assert_documented("sandbox status", first)
        assert_documented("sandbox env", cli("sandbox", "env", "--dir", str(directory), "-o",
                                             "json").json(), free_form=("variables",))
        parts = {p["name"]: p for p in first["parts"]}
        again = cli("sandbox", "up", "--dir", str(directory), "-o", "json").json()
        assert {p["name"]: p["pid"] for p in again["parts"]} == \
            {n: p["pid"] for n, p in parts.items()}  # harmless: same processes
        if mysql:  # MariaDB added to the running sandbox: the daemon seeds its DB instance
            added = {p["name"]: p for p in cli("sandbox", "up", "--mysql", "--dir",
                                               str(directory), "-o", "json").json()["parts"]}
            assert added["mariadb"]["state"] == "running"
            assert added["api"]["pid"] == parts["api"]["pid"]  # the API kept its state
            deadline = time.monotonic() + 10
            while not json.loads((directory / st.DAEMON_FILE).read_text())["seeded"].get(
                    "mysql_instance") and time.monotonic() < deadline:
                time.sleep(0.1)
            assert json.loads((directory / st.DAEMON_FILE).read_text())["seeded"][
                "mysql_instance"] == "sandbox-mysql"

        env = dict(line.removeprefix("export ").split("=", 1) for line in
                   cli("sandbox", "env", "--dir", str(directory)).stdout.splitlines()
                   if line.startswith("export "))
        assert env["AWS_ENDPOINT_URL"] == first["endpoint_url"]
        assert env["PGSSLMODE"] == "verify-full" and env["PGSSLROOTCERT"].endswith("ca.pem")
        import boto3

        rds = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            region_name=env["AWS_REGION"]).client(
            "rds", endpoint_url=env["AWS_ENDPOINT_URL"])
        db = rds.describe_db_instances(DBInstanceIdentifier="sandbox-db")["DBInstances"][0]
        pg_host, pg_port = parts["postgres"]["address"].split(":")
        assert db["Endpoint"] == {"Address": pg_host, "Port": int(pg_port)}

        # a crashed part is reported by status and restarted by up
        os.kill(parts["postgres"]["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while st.is_running(parts["postgres"]["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        crashed = cli("sandbox", "status", "--dir", str(directory), "-o", "json", code=1)
        assert {p["name"]: p["state"] for p in crashed.json()["parts"]}["postgres"] == "crashed"
        assert "sandbox up` restarts them" in crashed.stderr
        with socket.socket() as squatter:  # its port taken meanwhile: PostgreSQL moves
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((pg_host, int(pg_port)))
            squatter.listen()
            moved = {p["name"]: p for p in
                     cli("sandbox", "up", "--dir", str(directory), "-o", "json").json()["parts"]}
        assert moved["api"]["pid"] == parts["api"]["pid"]  # the API kept its state
        new_port = int(moved["postgres"]["address"].rsplit(":", 1)[1])
        assert new_port != int(pg_port)
        assert rds.describe_db_instances(DBInstanceIdentifier="sandbox-db")["DBInstances"][0][
            "Endpoint"]["Port"] == new_port
        os.kill(parts["api"]["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while st.is_running(parts["api"]["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        repaired = cli("sandbox", "up", "--dir", str(directory), "-o", "json").json()
        assert repaired["running"] is True
        assert repaired["parts"][0]["pid"] != parts["api"]["pid"]
        env2 = cli("sandbox", "env", "--dir", str(directory), "-o", "json").json()["variables"]
        assert env2["AWS_ACCESS_KEY_ID"] == env["AWS_ACCESS_KEY_ID"]  # same keys after restart

        # a proxy holds 127.0.0.N:5432 until down
        rds = boto3.Session(aws_access_key_id=env2["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env2["AWS_SECRET_ACCESS_KEY"],
                            region_name=env2["AWS_REGION"]).client(
            "rds", endpoint_url=env2["AWS_ENDPOINT_URL"])
        daemon = json.loads((directory / st.DAEMON_FILE).read_text())["seeded"]
        address = rds.create_db_proxy(
            DBProxyName="life", EngineFamily="POSTGRESQL", RoleArn=daemon["role_arn"],
            VpcSubnetIds=daemon["subnet_ids"],
            Auth=[{"AuthScheme": "SECRETS", "SecretArn": daemon["secret_arn"]}])["DBProxy"]["Endpoint"]
        assert _listening(address, 5432)
        listener = socket.gethostbyname(address)  # itself, or what its host name resolves to
        if names["kind"] == "hostnames":  # an RDS host name, resolving through our block
            assert address.startswith("life.proxy-") and address.endswith(
                ".eu-west-1.rds.amazonaws.com")
            assert address in Path(names["file"]).read_text()
        final = {p["name"]: p for p in cli("sandbox", "status", "--dir", str(directory), "-o",
                                           "json").json()["parts"]}
        assert final["emulator"]["address"] == f"{address}:5432"
    finally:
        down = cli("sandbox", "down", "--dir", str(directory), "-o", "json", code=None)
    assert down.exit_code == 0, down.stderr
    assert set(down.json()["stopped"]) == {"daemon", "postgres"} | ({"mariadb"} if mysql else set())
    assert_documented("sandbox down", down.json())
    for part in final.values():
        assert not st.is_running(part["pid"])
    api_port = int(final["api"]["address"].rsplit(":", 1)[1])
    pg_host, pg_port = final["postgres"]["address"].split(":")
    for host, port in (("127.0.0.1", api_port), (pg_host, int(pg_port)), (listener, 5432)):
        assert not _listening(host, port), (host, port)
    assert not directory.exists()
    if names["kind"] == "hostnames":  # down removed our block, and only ours
        assert str(directory) not in Path(names["file"]).read_text()


def test_up_without_postgresql_says_how_to_install_it(cli, tmp_path, monkeypatch):
    from rdsproxyctl.sandbox import postgres

    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    directory = tmp_path / "sb"
    out = cli("sandbox", "up", "--dir", str(directory), code=1)
    assert "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found" in out.stderr
    assert "sudo apt-get install -y postgresql postgresql-contrib" in out.stderr
    assert not directory.exists()  # nothing made


@pytest.mark.slow
def test_up_falls_back_to_addresses_and_says_so(cli, tmp_path, monkeypatch):
    from rdsproxyctl.sandbox import hostnames

    directory = tmp_path / "plain"
    monkeypatch.setenv(hostnames.ENV_SWITCH, "0")
    try:
        up = cli("sandbox", "up", "--dir", str(directory))
        assert "loopback addresses (no host names: RDSPROXYCTL_SANDBOX_HOSTNAMES=0)" in up.stdout
        env = cli("sandbox", "env", "--dir", str(directory), "-o", "json").json()["variables"]
        daemon = json.loads((directory / st.DAEMON_FILE).read_text())["seeded"]
        import boto3

        rds = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            region_name=env["AWS_REGION"]).client(
            "rds", endpoint_url=env["AWS_ENDPOINT_URL"])
        endpoint = rds.create_db_proxy(
            DBProxyName="plain", EngineFamily="POSTGRESQL", RoleArn=daemon["role_arn"],
            VpcSubnetIds=daemon["subnet_ids"],
            Auth=[{"AuthScheme": "SECRETS", "SecretArn": daemon["secret_arn"]}])["DBProxy"]["Endpoint"]
        assert endpoint.startswith("127.0.0.") and _listening(endpoint, 5432)
        assert str(directory) not in Path(hostnames.DEFAULT_HOSTS_FILE).read_text()
    finally:
        cli("sandbox", "down", "--dir", str(directory))
    assert str(directory) not in Path(hostnames.DEFAULT_HOSTS_FILE).read_text()


def test_up_without_the_sandbox_extra_starts_nothing(cli, tmp_path, monkeypatch):
    """`pip install .` alone: `sandbox up` refuses before starting PostgreSQL (exit 2)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "moto" else real(name, *a))
    directory = tmp_path / "sb"
    for command in ("up", "demo"):
        out = cli("sandbox", command, "--dir", str(directory), code=2)
        assert "the sandbox needs packages that are not installed: moto[server]" in out.stderr
        assert "hint: pip install 'rdsproxyctl[sandbox]'" in out.stderr
        assert "Traceback" not in out.stderr
    assert not directory.exists()  # nothing started, nothing made
