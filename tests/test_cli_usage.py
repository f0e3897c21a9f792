"""How the CLI meets a person and a script: usage errors, groups, suggestions, completion,
--query/--no-headers on real commands, libpq's environment, and the `wait` command."""

from __future__ import annotations

import pytest

from rdsproxyctl import motoext

from .conftest import ACCOUNT, REGION


def two_lines(out) -> tuple[str, str]:
    error, hint = out.stderr.splitlines()
    assert error.startswith("error: ") and hint.startswith("hint: "), out.stderr
    return error, hint


@pytest.mark.parametrize("args,message", [
    (["list", "--bogus"], "No such option: --bogus"),
    (["create", "x", "--timeout", "10x"], "'10x' is not a duration"),
    (["list", "-o", "yaml"], "'yaml' is not one of table, wide, json, tsv, markdown"),
    (["lsit"], "No such command 'lsit'. Did you mean 'list'?"),
    (["targets", "lst", "demo"], "No such command 'lst'. Did you mean 'list'?"),
    (["logs", "tial", "demo"], "No such command 'tial'. Did you mean 'tail'?"),
])
def test_usage_errors_are_one_error_and_one_hint_line_without_colour(cli, args, message):
    out = cli(*args, "--no-color", code=2)
    error, hint = two_lines(out)
    assert message in error and "--help" in hint
    assert out.stdout == "" and "\x1b[" not in out.stderr and "╭" not in out.stderr


@pytest.mark.parametrize("group", [[], ["targets"], ["iam"], ["sandbox"], ["logs"]])
def test_a_group_without_a_subcommand_prints_its_help_on_stderr_with_exit_2(cli, group):
    out = cli(*group, code=2)
    assert out.stdout == "" and "Usage:" in out.stderr


def test_a_group_shortcut_still_takes_a_proxy_name(world, cli):
    world.make_proxy("demo")
    assert cli("targets", "demo", "-o", "json").json()[0]["rds_resource_id"] == "db1"


def test_durations_share_one_grammar(world, cli, instant_waits):
    world.make_proxy("demo")
    for value in ("90", "90s", "10m", "1h", "1h30m"):
        cli("pool", "demo", "--borrow-timeout", "30s", "--timeout", value, "--dry-run")
    plan = cli("modify", "demo", "--idle-client-timeout", "15m", "--dry-run", "-o", "json")
    assert any(c["new"] == 900 for c in plan.json()["changes"])


def test_command_help_has_one_global_options_line_and_reflowed_paragraphs(cli):
    out = cli("diagnose", "--help", env={"COLUMNS": "200"}).stdout
    assert "Global options (before or after the command" in out
    assert "--endpoint-url" not in out.split("Global options")[0]  # not 25 repeated lines
    # a docstring paragraph is one line at a wide terminal, not its source line breaks
    assert "Each finding is PASS, WARN, FAIL or SKIP (a check the caller lacks a permission " \
           "for names the missing action), with its evidence" in out


def test_shell_completion_for_bash_zsh_and_fish(cli):
    for shell, marker in (("bash", "_rdsproxyctl_completion()"), ("zsh", "#compdef rdsproxyctl"),
                          ("fish", "complete --command rdsproxyctl")):
        out = cli(env={"_RDSPROXYCTL_COMPLETE": f"source_{shell}"}, code=None)
        assert marker in out.stdout and "_RDSPROXYCTL_COMPLETE" in out.stdout, shell
    assert "--install-completion" in cli("--help", env={"COLUMNS": "200"}).stdout
    done = cli(env={"_RDSPROXYCTL_COMPLETE": "complete_bash", "COMP_WORDS": "rdsproxyctl ta",
                    "COMP_CWORD": "1"}, code=None)
    assert done.stdout.split() == ["targets"]
    done = cli(env={"_RDSPROXYCTL_COMPLETE": "complete_bash",
                    "COMP_WORDS": "rdsproxyctl wait demo --for end", "COMP_CWORD": "4"},
               code=None)
    assert done.stdout.split() == ["endpoint-available"]


def test_query_and_no_headers_on_a_command(world, cli):
    world.make_proxy("demo")
    world.make_proxy("other", iam="DISABLED")
    out = cli("list", "--query", "[?iam_auth=='REQUIRED'].name", "-o", "json")
    assert out.json() == ["demo"]
    out = cli("list", "--query", "[].[name, iam_auth]", "-o", "tsv", "--no-headers")
    assert out.stdout.splitlines() == ["demo\tREQUIRED", "other\tDISABLED"]
    assert cli("show", "demo", "--query", "proxy.status").stdout == "available\n"
    assert cli("targets", "demo", "-o", "tsv", "--no-headers").stdout.startswith("db1\t")
    out = cli("list", "--query", "[?", code=2)
    assert "is not a JMESPath expression" in out.stderr and out.stdout == ""


def test_token_takes_the_user_and_database_from_libpq_variables(cli):
    args = ["token", "--host", "h.example.com", "--region", REGION]
    env = {"PGUSER": "app", "PGDATABASE": "appdb"}
    assert cli(*args, "-o", "json", env=env).json()["user"] == "app"
    exports = cli(*args, "--format", "env", env=env).stdout
    assert "export PGUSER=app" in exports and "export PGDATABASE=appdb" in exports
    assert cli(*args, "--user", "flag", "-o", "json", env=env).json()["user"] == "flag"
    out = cli(*args, code=2, env={"PGUSER": ""})
    assert "--user is required" in out.stderr and "PGUSER" in out.stderr


def test_connect_refuses_a_password_against_an_iam_only_proxy(world, cli, api_calls):
    world.make_proxy("demo", iam="REQUIRED")
    out = cli("connect", "demo", "--secret", world.secret_arn, code=4)
    assert "proxy demo requires IAM authentication" in out.stderr
    assert "use --iam, or `rdsproxyctl iam disable demo`" in out.stderr
    assert "GetSecretValue" not in api_calls.operations()  # refused before reading it


def test_wait_for_each_state(world, cli, instant_waits, monkeypatch):
    world.make_proxy("demo")
    out = cli("wait", "demo", "-o", "json")
    assert out.json()["status"] == "available" and out.json()["for"] == "available"
    data = cli("wait", "demo", "--for", "targets-available", "-o", "json").json()
    assert data["targets"] == [{"rds_resource_id": "db1", "state": "AVAILABLE"}]
    world.rds().create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="demo-ro",
                                         VpcSubnetIds=world.subnets, TargetRole="READ_WRITE")
    cli("wait", "demo", "--for", "endpoint-available", "--endpoint", "demo-ro")
    world.rds().delete_db_proxy(DBProxyName="demo")
    assert cli("wait", "demo", "--for", "deleted", "-o", "json").json()["status"] == "deleted"


def test_wait_times_out_with_what_it_last_saw(world, cli, instant_waits):
    world.make_proxy("demo")
    motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "UNAVAILABLE",
                              reason="AUTH_FAILURE", description="no access to the secret")
    out = cli("wait", "demo", "--for", "targets-available", "--timeout", "1", code=1)
    assert "timed out after 1s" in out.stderr
    assert "last seen: db1 UNAVAILABLE (AUTH_FAILURE)" in out.stderr


@pytest.mark.parametrize("args,message", [
    (["--for", "endpoint-available"], "needs --endpoint"),
    (["--for", "available", "--endpoint", "x"], "--endpoint goes with"),
    (["--for", "gone"], "'gone' is not one of available"),
    (["--timeout", "0"], "--timeout must be more than zero"),
])
def test_wait_bad_input_exits_2(moto, cli, args, message):
    out = cli("wait", "demo", *args, code=2)
    assert message in out.stderr
