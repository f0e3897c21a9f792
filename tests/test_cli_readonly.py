"""list, show and targets through the CLI, against moto with the project's extension."""

from __future__ import annotations

from rdsproxyctl import motoext

from .conftest import ACCOUNT, REGION


def test_list_json_reports_every_proxy_with_target_health(world, cli):
    world.make_proxy("alpha")
    world.make_proxy("beta", iam="DISABLED", require_tls=False, targets=False)
    rows = {r["name"]: r for r in cli("list", "-o", "json").json()}
    assert set(rows) == {"alpha", "beta"}
    assert rows["alpha"]["engine_family"] == "POSTGRESQL"
    assert rows["alpha"]["iam_auth"] == "REQUIRED"
    assert rows["alpha"]["require_tls"] is True
    assert rows["alpha"]["targets_total"] == 1
    assert rows["alpha"]["target_health"] in ("1/1 available", "0/1 available")
    assert rows["alpha"]["endpoint"].startswith("alpha.proxy-")
    assert rows["beta"] == {**rows["beta"], "iam_auth": "DISABLED", "require_tls": False,
                            "targets_total": 0, "target_health": "no targets"}


def test_list_empty_region(moto, cli):
    assert cli("list", "-o", "json", "--region", "eu-west-1").json() == []
    out = cli("list", "--region", "eu-west-1")
    assert "no proxies" in out.stderr and out.stdout == ""  # a message, not data


def _show(cli, *extra):
    return cli("show", "demo", "-o", "json", *extra).json()


def test_show_json_reports_settings_auth_pool_targets_endpoints_tags(world, cli):
    world.make_proxy("demo", IdleClientTimeout=900, DebugLogging=True,
                     Tags=[{"Key": "team", "Value": "db"}], targets=False)
    rds = world.rds()
    rds.modify_db_proxy_target_group(
        DBProxyName="demo", TargetGroupName="default",
        ConnectionPoolConfig={"MaxConnectionsPercent": 75, "MaxIdleConnectionsPercent": 40,
                              "ConnectionBorrowTimeout": 30, "InitQuery": "SET x TO 1"})
    rds.create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="reader",
                                 VpcSubnetIds=world.subnets, TargetRole="READ_ONLY")
    rds.register_db_proxy_targets(DBProxyName="demo", DBInstanceIdentifiers=[world.db_instance])
    data = _show(cli)
    p = data["proxy"]
    assert p["name"] == "demo" and p["status"] == "available"
    assert p["resource_id"].startswith("prx-") and p["arn"].endswith(p["resource_id"])
    assert (p["region"], p["account_id"], p["port"]) == (REGION, ACCOUNT, 5432)
    assert p["log_group"] == "/aws/rds/proxy/demo"
    assert p["role_arn"] == world.role_arn
    assert p["subnet_ids"] == world.subnets
    assert p["security_group_ids"] == [world.security_group]
    assert (p["require_tls"], p["idle_client_timeout"], p["debug_logging"]) == (True, 900, True)
    assert p["auth"] == [{"auth_scheme": "SECRETS", "secret_arn": world.secret_arn,
                          "iam_auth": "REQUIRED", "client_password_auth_type": None,
                          "description": None, "user_name": None}]
    assert data["target_group"]["pool"] == {
        "max_connections_percent": 75, "max_idle_connections_percent": 40,
        "connection_borrow_timeout": 30, "session_pinning_filters": [],
        "init_query": "SET x TO 1"}
    [target] = data["targets"]
    assert (target["rds_resource_id"], target["type"], target["role"]) == \
        ("db1", "RDS_INSTANCE", "READ_WRITE")
    assert target["endpoint"].startswith("db1.") and target["port"] == 5432
    assert target["health"]["state"] in ("REGISTERING", "AVAILABLE")
    names = {e["name"]: e for e in data["endpoints"]}
    assert names["default"]["is_default"] and names["default"]["endpoint"] == p["endpoint"]
    assert names["reader"]["target_role"] == "READ_ONLY"
    assert names["reader"]["endpoint"].startswith("reader.endpoint.proxy-")
    assert data["tags"] == {"team": "db"}


def test_show_table_and_tsv_render_the_same_data(world, cli):
    world.make_proxy("demo")
    motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "UNAVAILABLE", "AUTH_FAILURE",
                              "Proxy does not have any registered credentials")
    data = _show(cli)
    table = cli("show", "demo", "-o", "table").stdout
    tsv = dict(line.split("\t", 1) for line in cli("show", "demo", "-o", "tsv").stdout.splitlines())
    for value in (data["proxy"]["endpoint"], data["proxy"]["arn"], world.secret_arn,
                  "UNAVAILABLE", "AUTH_FAILURE", "Proxy does not have any registered credentials"):
        assert value in table
        assert value in tsv.values()
    assert tsv["proxy.endpoint"] == data["proxy"]["endpoint"]
    assert tsv["targets.0.health.reason"] == "AUTH_FAILURE"
    assert tsv["proxy.require_tls"] == "true"
    assert tsv["key"] == "value"  # the header line


def test_targets_tsv_is_header_plus_rows(world, cli):
    world.make_proxy("demo")
    motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "UNAVAILABLE", "UNREACHABLE",
                              "the database did not answer")
    lines = cli("targets", "demo", "-o", "tsv").stdout.splitlines()
    header = lines[0].split("\t")
    row = dict(zip(header, lines[1].split("\t")))
    assert len(lines) == 2
    assert row["rds_resource_id"] == "db1"
    assert row["health.state"] == "UNAVAILABLE"
    assert row["health.description"] == "the database did not answer"
    assert cli("targets", "list", "demo", "-o", "json").json()[0]["health"] == {
        "state": "UNAVAILABLE", "reason": "UNREACHABLE",
        "description": "the database did not answer"}


def test_markdown_output_is_github_tables(world, cli):
    world.make_proxy("demo")
    out = cli("list", "-o", "markdown").stdout
    assert out.splitlines()[0].startswith("| NAME")
    assert "| demo" in out


def test_global_options_before_or_after_the_command(world, cli):
    world.make_proxy("demo")
    before = cli("--region", REGION, "-o", "json", "targets", "demo").json()
    after = cli("targets", "demo", "--region", REGION, "-o", "json").json()
    assert before == after and before[0]["rds_resource_id"] == "db1"


def test_option_precedence_flag_then_env_then_aws_chain(world, cli):
    world.make_proxy("demo")
    # RDSPROXYCTL_REGION beats AWS_DEFAULT_REGION: the proxy is not in eu-west-1
    out = cli("show", "demo", env={"RDSPROXYCTL_REGION": "eu-west-1"}, code=3)
    assert "not found in eu-west-1" in out.stderr
    # the flag after the command beats the flag before it and the environment
    cli("--region", "eu-west-1", "show", "demo", "--region", REGION,
        env={"RDSPROXYCTL_REGION": "eu-west-1"})
    # RDSPROXYCTL_OUTPUT sets the default format; -o beats it
    assert cli("list", env={"RDSPROXYCTL_OUTPUT": "json"}).json()[0]["name"] == "demo"
    assert cli("list", "-o", "tsv", env={"RDSPROXYCTL_OUTPUT": "json"}).stdout.startswith("name\t")
    # AWS_REGION (AWS's chain) beats AWS_DEFAULT_REGION
    out = cli("show", "demo", env={"AWS_REGION": "eu-west-1"}, code=3)
    assert "eu-west-1" in out.stderr


def test_list_follows_pages_and_fetches_targets_for_every_proxy(world, cli, monkeypatch):
    from rdsproxyctl.core import proxies

    monkeypatch.setattr(proxies, "PAGE_SIZE", 20)
    calls: list[str] = []
    world.rds().meta.events.register("before-call.rds.*",
                                     lambda model, **_: calls.append(model.name))
    for i in range(23):
        world.make_proxy(f"p{i:02d}", targets=i < 3)
    calls.clear()
    rows = cli("list", "-o", "json").json()
    assert [r["name"] for r in rows] == [f"p{i:02d}" for i in range(23)]
    assert [r["targets_total"] for r in rows[:4]] == [1, 1, 1, 0]
    assert calls.count("DescribeDBProxies") == 2
    assert calls.count("DescribeDBProxyTargets") == 23


def test_debug_logs_api_calls_with_secrets_redacted(world, cli):
    world.make_proxy("demo")
    out = cli("show", "demo", "--debug")
    assert "debug: rdsproxyctl.aws: API call rds.DescribeDBProxies {'DBProxyName': 'demo'}" \
        in out.stderr
    assert "API done rds.DescribeDBProxyTargets HTTP 200" in out.stderr
    # the hook redacts secret parameters whatever the call
    import logging

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("rdsproxyctl")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        world.aws.client("secretsmanager").put_secret_value(
            SecretId=world.secret_arn, SecretString='{"password": "hunter2"}')
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert any("PutSecretValue" in r for r in records)
    assert not any("hunter2" in r for r in records)
    assert any("***redacted***" in r for r in records)


def test_no_traceback_without_debug_but_with_it(world, cli):
    plain = cli("show", "nope", code=3)
    assert "Traceback" not in plain.stderr
    debug = cli("show", "nope", "--debug", code=3)
    assert "Traceback (most recent call last)" in debug.stderr
    assert "DBProxyNotFoundFault" in debug.stderr


def test_quiet_keeps_data_and_errors(world, cli):
    world.make_proxy("demo")
    assert cli("list", "-q", "-o", "json").json()[0]["name"] == "demo"
    assert "not found" in cli("show", "nope", "-q", code=3).stderr


def test_show_degrades_when_the_api_lacks_proxy_endpoints(world, cli, monkeypatch):
    """A plain moto server (or another emulator) may not implement DescribeDBProxyEndpoints."""
    from moto.rds.responses import RDSResponse

    def not_implemented(self):  # what a plain moto server answers: an HTML error page
        return 500, {}, "<!doctype html><title>500 Internal Server Error</title>"

    world.make_proxy("demo")
    monkeypatch.setattr(RDSResponse, "describe_db_proxy_endpoints", not_implemented)
    out = cli("show", "demo", "-o", "json")
    data = out.json()
    assert [e["name"] for e in data["endpoints"]] == ["default"]
    assert data["endpoints"][0]["endpoint"] == data["proxy"]["endpoint"]
    assert data["warnings"] and "DescribeDBProxyEndpoints" in out.stderr
