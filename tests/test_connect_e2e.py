"""connect and token end to end: real PostgreSQL behind the sandbox's TLS, IAM-checking proxy."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

PHASES = ["proxy_lookup", "dns", "tcp_connect", "tls_handshake", "authentication", "first_query"]


def smoke(sandbox_cli, *args, code=0, env=None):
    out = sandbox_cli("connect", *args, "-o", "json", code=code, env=env)
    return out.json(), out


def test_iam_smoke_test_times_every_phase(sandbox, sandbox_cli):
    proxy = sandbox.make_proxy("c-iam")
    data, out = smoke(sandbox_cli, "c-iam", "--iam", "--user", sandbox.app_user,
                      "--database", sandbox.app_database)
    assert data["ok"] and data["failure"] is None and data["auth"] == "iam"
    assert [p["name"] for p in data["phases"]] == PHASES
    assert all(p["ok"] and p["seconds"] >= 0 for p in data["phases"])
    assert data["current_user"] == sandbox.app_user
    assert data["server_version"].startswith("15")
    assert data["host"] == proxy["Endpoint"] and data["port"] == 5432
    table = sandbox_cli("connect", "c-iam", "--iam", "--user", sandbox.app_user,
                        "--database", sandbox.app_database).stdout
    for phase in PHASES:
        assert phase in table
    assert f"connected as {sandbox.app_user}" in table


def test_secret_smoke_test(sandbox, sandbox_cli):
    sandbox.make_proxy("c-secret", iam="DISABLED")
    data, _ = smoke(sandbox_cli, "c-secret", "--secret", sandbox.seeded["secret_arn"],
                    "--database", sandbox.app_database)
    assert data["ok"] and data["auth"] == "secret" and data["user"] == sandbox.app_user


def refused_token(sandbox, sandbox_cli, proxy, token, code=4):
    data, out = smoke(sandbox_cli, proxy, "--password-env", "BAD_TOKEN", "--user",
                      sandbox.app_user, "--database", sandbox.app_database, code=code,
                      env={"BAD_TOKEN": token})
    assert not data["ok"]
    return data["failure"], out


def test_token_for_another_user_is_an_iam_failure(sandbox, sandbox_cli):
    host = sandbox.make_proxy("c-user")["Endpoint"]
    failure, out = refused_token(sandbox, sandbox_cli, "c-user", sandbox.token(host, "someone"))
    assert (failure["phase"], failure["klass"], failure["exit_code"]) == \
        ("authentication", "iam-auth", 4)
    assert failure["message"].startswith("IAM authentication failed for user")
    assert ":dbuser:prx-" in failure["remedy"] and f"/{sandbox.app_user}" in failure["remedy"]
    assert "hint: the token was refused" in out.stderr


def test_expired_token_is_an_iam_failure(sandbox, sandbox_cli):
    host = sandbox.make_proxy("c-expired")["Endpoint"]
    old = sandbox.token(host, sandbox.app_user,
                        at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16))
    failure, _ = refused_token(sandbox, sandbox_cli, "c-expired", old)
    assert failure["klass"] == "iam-auth" and "15 minutes" in failure["remedy"]
    assert failure["details"]["token_host"] == host


def test_token_for_the_wrong_port_is_an_iam_failure(sandbox, sandbox_cli):
    host = sandbox.make_proxy("c-port")["Endpoint"]
    failure, _ = refused_token(sandbox, sandbox_cli, "c-port",
                               sandbox.token(host, sandbox.app_user, port=5433))
    assert failure["klass"] == "iam-auth" and "port 5432" in failure["remedy"]


def test_no_tls_against_require_tls(sandbox, sandbox_cli):
    sandbox.make_proxy("c-notls", iam="DISABLED")
    data, out = smoke(sandbox_cli, "c-notls", "--secret", sandbox.seeded["secret_arn"],
                      "--database", sandbox.app_database, "--sslmode", "disable", code=5)
    f = data["failure"]
    assert f["klass"] == "tls" and f["message"] == "This RDS Proxy requires TLS connections."
    assert "sslmode=verify-full" in f["remedy"]


def test_wrong_ca_with_verify_full(sandbox, sandbox_cli, tmp_path):
    sandbox.make_proxy("c-ca")
    other_ca = "/etc/ssl/certs/ca-certificates.crt"  # the OS roots: not the sandbox's CA
    data, _ = smoke(sandbox_cli, "c-ca", "--iam", "--user", sandbox.app_user, "--database",
                    sandbox.app_database, "--ca-bundle", other_ca, code=5)
    f = data["failure"]
    assert (f["phase"], f["klass"]) == ("tls_handshake", "tls")
    assert "certificate verify failed" in f["message"] and "--ca-bundle" in f["remedy"]


def test_pool_exhausted_is_a_borrow_timeout(sandbox, sandbox_cli):
    # cap = floor(1% of max_connections 100) = 1 backend connection; borrow timeout 1 s
    host = sandbox.make_proxy("c-pool", iam="DISABLED", pool={
        "MaxConnectionsPercent": 1, "MaxIdleConnectionsPercent": 1,
        "ConnectionBorrowTimeout": 1})["Endpoint"]
    with sandbox.connect(host, password=sandbox.app_password) as held:
        held.execute("SELECT 1")
        data, out = smoke(sandbox_cli, "c-pool", "--secret", sandbox.seeded["secret_arn"],
                          "--database", sandbox.app_database, code=5)
    f = data["failure"]
    assert f["klass"] == "pool-timeout"
    assert f["message"] == "Timed-out waiting to acquire database connection."
    assert "rdsproxyctl pool c-pool" in f["remedy"] and "MaxConnectionsPercent" in f["remedy"]


def test_database_down_is_a_borrow_timeout(sandbox, sandbox_cli):
    from rdsproxyctl.sandbox import manager, postgres

    sandbox.make_proxy("c-dbdown", pool={"ConnectionBorrowTimeout": 1})
    state, _ = manager.load(sandbox.directory)
    postgres.stop(manager._cluster(state))
    try:
        sandbox.wait_health("c-dbdown", "UNAVAILABLE", "UNREACHABLE")
        data, _ = smoke(sandbox_cli, "c-dbdown", "--iam", "--user", sandbox.app_user,
                        "--database", sandbox.app_database, code=5)
    finally:
        manager.up(sandbox.directory)
    assert data["failure"]["klass"] == "pool-timeout"
    assert "targets c-dbdown" in data["failure"]["remedy"]
    sandbox.wait_health("c-dbdown", "AVAILABLE")


def test_psql_with_token_and_dsn_from_rdsproxyctl(sandbox):
    sandbox.make_proxy("c-psql")
    env = {**os.environ, **sandbox.env}
    env.pop("RDSPROXYCTL_MAX_ATTEMPTS", None)
    rdsproxyctl = [sys.executable, "-m", "rdsproxyctl"]
    token = subprocess.run([*rdsproxyctl, "token", "c-psql", "--user", sandbox.app_user],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    dsn = subprocess.run([*rdsproxyctl, "token", "c-psql", "--user", sandbox.app_user,
                          "--database", sandbox.app_database, "--format", "dsn"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert "password" not in dsn and "sslmode=verify-full" in dsn
    assert f"sslrootcert={sandbox.ca_file}" in dsn  # from PGSSLROOTCERT, set by sandbox env
    out = subprocess.run(["psql", dsn, "-At", "-c", "SELECT current_user"],
                         env={**env, "PGPASSWORD": token}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == sandbox.app_user


def test_load_mode_stays_within_the_pools_cap(sandbox, sandbox_cli):
    sandbox.make_proxy("c-load", pool={"MaxConnectionsPercent": 5,
                                       "MaxIdleConnectionsPercent": 5})
    others = sandbox.backends()  # other proxies' pooled connections for the same user
    out = sandbox_cli("connect", "c-load", "--iam", "--user", sandbox.app_user, "--database",
                      sandbox.app_database, "--count", "200", "--concurrency", "50",
                      "--check-backends", "-o", "json")
    data = out.json()
    assert (data["succeeded"], data["failed"]) == (200, 0)
    assert 1 <= data["backends_max"] - others <= 5  # 5% of max_connections=100
    assert set(data["latency_ms"]) >= {"tcp_connect", "tls_handshake", "authentication",
                                       "first_query", "total"}
    assert data["connects_per_second"] > 0


def test_connect_json_keys_are_documented(sandbox, sandbox_cli):
    from .test_json_docs import assert_documented

    sandbox.make_proxy("c-docs")
    data, _ = smoke(sandbox_cli, "c-docs", "--iam", "--user", sandbox.app_user, "--database",
                    sandbox.app_database)
    assert_documented("connect", data)
    sandbox.make_proxy("c-docs-pw", iam="DISABLED")  # a wrong password, refused by the proxy
    failed, _ = smoke(sandbox_cli, "c-docs-pw", "--password-env", "BAD", "--user",
                      sandbox.app_user, code=4, env={"BAD": "not-the-password"})
    assert_documented("connect", failed)
    load = sandbox_cli("connect", "c-docs", "--iam", "--user", sandbox.app_user, "--database",
                       sandbox.app_database, "--count", "4", "--concurrency", "2",
                       "--check-backends", "-o", "json").json()
    assert_documented("connect", load)


def test_a_password_against_an_iam_only_proxy_is_refused_before_connecting(sandbox,
                                                                          sandbox_cli):
    sandbox.make_proxy("c-iamonly")
    out = sandbox_cli("connect", "c-iamonly", "--password-env", "PW", code=4,
                      env={"PW": "a-password"})
    assert "proxy c-iamonly requires IAM authentication" in out.stderr
    assert "use --iam, or `rdsproxyctl iam disable c-iamonly`" in out.stderr


def test_pg_variables_are_the_defaults_as_psql_reads_them(sandbox, sandbox_cli):
    """After `eval "$(rdsproxyctl sandbox env)"` (PGUSER, PGDATABASE, PGSSLMODE exported),
    token and connect need no --user; flags still win."""
    sandbox.make_proxy("c-pgenv")
    assert sandbox.env.get("PGUSER") == sandbox.app_user
    token = sandbox_cli("token", "c-pgenv", "-o", "json").json()
    assert token["user"] == sandbox.app_user
    data, _ = smoke(sandbox_cli, "c-pgenv", "--iam")
    assert data["ok"] and data["user"] == sandbox.app_user
    out = sandbox_cli("connect", "c-pgenv", "--iam", code=2, env={"PGSSLMODE": "disable"})
    assert "--sslmode disable" in out.stderr  # PGSSLMODE was read (and a token needs TLS)
    flag = sandbox_cli("token", "c-pgenv", "--user", "other", "-o", "json").json()
    assert flag["user"] == "other"


def test_connect_takes_a_postgresql_uri(sandbox, sandbox_cli):
    proxy = sandbox.make_proxy("c-uri")
    host, port = proxy["Endpoint"], 5432
    uri = f"postgresql://{sandbox.app_user}@{host}:{port}/{sandbox.app_database}"
    data, _ = smoke(sandbox_cli, uri, "--iam")
    assert data["ok"] and data["proxy"] is None and data["host"] == host
    out = sandbox_cli("connect", f"postgresql://u:pw@{host}/db", "--iam", code=2)
    assert "a password in the URI is refused" in out.stderr


def test_list_and_show_at_60_columns_break_no_word(sandbox, sandbox_cli, monkeypatch):
    """On a 60-column terminal no name, ARN, address or status is split across lines."""
    from rdsproxyctl.cli.output import Renderer

    sandbox.make_proxy("c-narrow-sixty")
    monkeypatch.setattr(Renderer, "is_terminal", lambda self, stream=None: True)
    env = {"COLUMNS": "60", "NO_COLOR": "1"}
    for args in (("list",), ("show", "c-narrow-sixty")):
        table = sandbox_cli(*args, env=env).stdout
        lines = table.splitlines()
        data = sandbox_cli(*args, "-o", "json").json()
        rows = data if isinstance(data, list) else [data["proxy"], *data["targets"]]
        words = {str(v) for row in rows for k, v in row.items()
                 if k in ("name", "arn", "endpoint", "status", "rds_resource_id", "role_arn",
                          "vpc_id") and v and " " not in str(v)}
        assert words, args
        for word in words:
            assert any(word in line for line in lines), (args, word, table)
