"""Every exit code, every expected failure: one line, a hint, no traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from botocore.exceptions import ClientError
from moto.core import set_initial_no_auth_action_count

from rdsproxyctl.cli.runtime import Runtime, command
from rdsproxyctl.core import aws as awsmod
from rdsproxyctl.core import awserrors
from rdsproxyctl.errors import (
    EXIT_CODE_MEANINGS,
    AccessDenied,
    AuthError,
    CheckFailed,
    ConnectionFailure,
    ExitCode,
    NotFound,
    UsageError,
)

from .conftest import Cli, REGION

ROOT = Path(__file__).resolve().parents[1]


# -- the one handler maps every error class to its code ---------------------------------
def _app_raising(exc: BaseException) -> typer.Typer:
    app = typer.Typer()

    def boom(rt: Runtime) -> None:
        raise exc

    command(app, "boom")(boom)

    @app.callback()
    def root() -> None:
        """A test app."""

    return app


@pytest.mark.parametrize("exc, code", [
    (CheckFailed("a check failed"), 1),
    (UsageError("bad value", hint="use a good one"), 2),
    (NotFound("no such thing"), 3),
    (AuthError("no creds"), 4),
    (ConnectionFailure("cannot connect"), 5),
    (RuntimeError("boom"), 70),
    (KeyboardInterrupt(), 130),
])
def test_handler_maps_each_error_to_its_exit_code(exc, code):
    result = Cli().runner.invoke(_app_raising(exc), ["boom"])
    assert result.exit_code == code
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stdout == ""


def test_hint_is_printed_on_its_own_line():
    result = Cli().runner.invoke(_app_raising(UsageError("bad value", hint="use a good one")),
                                 ["boom"])
    assert result.stderr.splitlines() == ["error: bad value", "hint: use a good one"]


def test_internal_error_says_how_to_get_the_traceback_and_debug_shows_it():
    app = _app_raising(RuntimeError("boom"))
    plain = Cli().runner.invoke(app, ["boom"])
    assert "unexpected error: RuntimeError: boom" in plain.stderr and "--debug" in plain.stderr
    debug = Cli().runner.invoke(app, ["boom", "--debug"])
    assert debug.exit_code == 70
    assert "Traceback (most recent call last)" in debug.stderr


def test_exit_codes_are_documented_in_readme_and_docs():
    for doc in ("README.md", "docs/configuration.md"):
        text = (ROOT / doc).read_text()
        documented = {int(m) for m in re.findall(r"^\| (\d+) \|", text, re.M)}
        assert documented == {int(c) for c in ExitCode}, doc
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)


# -- expected AWS failures through the real CLI -------------------------------------------
def test_unknown_proxy_exits_3_naming_proxy_and_region(moto, cli):
    out = cli("show", "nope", code=3)
    assert out.stderr.splitlines()[0] == f"error: proxy nope not found in {REGION}"
    cli("targets", "nope", code=3)


def test_unknown_output_format_is_a_usage_error(moto, cli):
    out = cli("list", "-o", "yaml", code=2)
    assert "yaml" in out.stderr
    out = cli("list", env={"RDSPROXYCTL_OUTPUT": "yaml"}, code=2)
    assert "RDSPROXYCTL_OUTPUT='yaml'" in out.stderr


@pytest.fixture
def fresh_sessions():
    awsmod.reset_cache()
    yield
    awsmod.reset_cache()


def test_no_credentials_exits_4_with_a_hint(fresh_sessions, cli):
    out = cli("list", env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, code=4)
    assert out.stderr.splitlines()[0] == "error: no AWS credentials found"
    assert "AWS_PROFILE" in out.stderr and "aws sso login" in out.stderr


def test_unknown_profile_exits_4(fresh_sessions, cli):
    out = cli("list", "--profile", "nosuch", code=4)
    assert "profile 'nosuch' not found" in out.stderr


def test_no_region_is_a_clear_usage_error(fresh_sessions, cli):
    out = cli("list", env={"AWS_DEFAULT_REGION": None}, code=2)
    assert out.stderr.splitlines()[0] == "error: no AWS region configured"
    assert "--region" in out.stderr


def test_unreachable_endpoint_exits_5(fresh_sessions, cli):
    out = cli("list", "--endpoint-url", "http://127.0.0.1:9", code=5)
    assert "cannot reach http://127.0.0.1:9" in out.stderr
    assert "--endpoint-url" in out.stderr


def test_bad_max_attempts_is_a_usage_error(moto, cli):
    out = cli("list", env={"RDSPROXYCTL_MAX_ATTEMPTS": "zero"}, code=2)
    assert "max attempts" in out.stderr


@set_initial_no_auth_action_count(5)  # the five set-up calls below run unauthenticated
def test_access_denied_names_the_api_action(world, cli, fresh_sessions):
    world.make_proxy("demo")
    iam = world.aws.client("iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="only-describe", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "rds:DescribeDBProxies", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    awsmod.reset_cache()
    out = cli("show", "demo", env=env, code=4)
    assert re.match(r"error: access denied: the caller may not perform rds:DescribeDBProxy\w+",
                    out.stderr)
    assert key["SecretAccessKey"] not in out.stderr


@set_initial_no_auth_action_count(0)
def test_rejected_credentials_exit_4(moto, cli, fresh_sessions):
    out = cli("list", code=4)
    assert "AWS rejected the credentials" in out.stderr


# -- the translation table itself (faults moto cannot produce) --------------------------------
def _client_error(code: str, message: str = "msg", op: str = "DescribeDBProxies",
                  retries: int = 0) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"RetryAttempts": retries}}, op)


@pytest.mark.parametrize("code", ["ExpiredToken", "ExpiredTokenException", "RequestExpired"])
def test_expired_credentials(code):
    err = awserrors.translate(_client_error(code), region=REGION, profile="prod")
    assert isinstance(err, AuthError) and err.exit_code == 4
    assert "expired" in err.message and "aws sso login --profile prod" in err.hint


def test_throttling_reports_the_attempts_made():
    err = awserrors.translate(_client_error("ThrottlingException", retries=4), region=REGION)
    assert err.exit_code == 1
    assert err.message == "AWS throttled DescribeDBProxies and it still failed after 5 attempts"
    assert err.hint


def test_access_denied_without_the_action_in_the_message_guesses_it():
    err = awserrors.translate(_client_error("AccessDenied", "no", op="GetSecretValue"))
    assert isinstance(err, AccessDenied)
    assert err.action == "secretsmanager:GetSecretValue"


def test_unknown_aws_code_keeps_code_and_message():
    err = awserrors.translate(_client_error("Weird", "it broke"))
    assert err.exit_code == 1 and err.code == "Weird"
    assert err.message == "DescribeDBProxies failed: Weird: it broke"


def test_signatures_in_aws_messages_are_redacted():
    err = awserrors.translate(_client_error(
        "Weird", "bad token host:5432/?Action=connect&X-Amz-Signature=abcdef0123"))
    assert "abcdef0123" not in err.message


def test_non_aws_exceptions_are_not_translated():
    assert awserrors.translate(ValueError("x")) is None


def test_closed_pipe_stops_quietly(monkeypatch):
    from rdsproxyctl.cli import errors as cli_errors

    silenced = []
    monkeypatch.setattr(cli_errors, "silence_stdout", lambda: silenced.append(True))
    result = Cli().runner.invoke(_app_raising(BrokenPipeError()), ["boom"])
    assert result.exit_code == 0 and result.stderr == "" and silenced == [True]
