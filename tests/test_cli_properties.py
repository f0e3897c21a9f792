"""Random option values for every command of the app, in-process: the exit code is one of
the documented ones, nothing prints a traceback, and a value that fails validation (a bad
proxy/endpoint name, a non-finite number) is refused with exit 2 before any AWS call.

The commands come from the app itself (tests/clitree.py), so a new command is covered.
Bounded: a few examples per command, values drawn from small pools plus random text.
"""

from __future__ import annotations

import math
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdsproxyctl.errors import EXIT_CODE_MEANINGS

from .clitree import leaf_commands, own_params

DOCUMENTED = {int(code) for code in EXIT_CODE_MEANINGS}

#: Commands that start servers (each has its own end-to-end test), never run here.
STARTS_SERVERS = {("sandbox", "up"), ("sandbox", "demo")}
#: Commands that refresh until Ctrl-C: run with --iterations 1 (after the random options).
UNTIL_INTERRUPTED = {("top",)}
#: Flags kept off: they poll or connect until interrupted / a real database answers.
KEPT_OFF = {"follow", "connect", "check_backends", "list_checks"}

_NAME_RE = re.compile(r"[A-Za-z](?:-?[A-Za-z0-9]+)*")
GOOD_NAMES = ["demo", "ghost", "demo-ep0", "plain"]
BAD_NAMES = ["bad name!", "x\x1b[2J", "demo--x", "9lives", "a" * 64, "tail-", "naïve", "demo\n"]
FLOATS = ["0", "0.5", "5", "-1", "1e12", "inf", "-inf", "nan", "1e309", "x"]
INTS = ["0", "1", "2", "5", "100", "301", "-1", "1000001", str(2**63), "x"]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=12)


def _is_name_arg(param) -> bool:
    return param.param_type_name == "argument" and param.name in ("name", "endpoint")


def _value(param, tmp_path, world):
    """A strategy of command-line words for one parameter ([] to leave it out)."""
    kind = getattr(param.type, "name", "")
    name = param.name
    if _is_name_arg(param):
        return st.sampled_from(GOOD_NAMES + BAD_NAMES)
    if param.param_type_name == "argument":  # a file: the spec, log lines
        spec = tmp_path / "spec.toml"
        spec.write_text('[proxy]\nname = "demo"\n')
        return st.sampled_from([str(spec), str(tmp_path / "missing.toml"), str(tmp_path),
                                "/dev/null", "-"])
    if name == "dir":
        return st.sampled_from([str(tmp_path / "no-sandbox"), str(tmp_path)])
    if kind == "boolean":
        return st.just(False) if name in KEPT_OFF else st.booleans()
    if kind == "float":
        return st.sampled_from(FLOATS)
    if kind in ("integer", "integer range"):
        return st.sampled_from(INTS)
    if kind == "choice":
        return st.sampled_from([*param.type.choices, "bogus"])
    if name in ("secret", "add_secret", "remove_secret"):
        return st.one_of(st.just(world.secret_arn), TEXT)
    if name in ("role",):
        return st.one_of(st.just(world.role_arn), st.sampled_from(["read-only", "read-write"]),
                         TEXT)
    if name == "host":
        return st.sampled_from(["127.0.0.1", "bad host", "h\x1b[2J", "localhost"])
    if name == "password_env":
        return st.sampled_from(["HOME", "RDSPROXYCTL_UNSET_VAR"])
    if name == "ca_bundle":
        return st.sampled_from([str(tmp_path / "none.pem"), "/dev/null"])
    if name in ("since", "until"):
        return st.one_of(st.sampled_from(["15m", "1h", "2024-05-01T10:00:00Z", "0s", "9e99h"]),
                         TEXT)
    return st.one_of(st.sampled_from(GOOD_NAMES + ["db1", "app", "*"]), TEXT)


def _invocation(path, cmd, tmp_path, world):
    """A strategy of (argv, poisoned): poisoned when a value must fail validation."""
    parts = []
    for param in own_params(cmd):
        if param.param_type_name == "argument":
            parts.append(_value(param, tmp_path, world).map(lambda v, p=param: (p, [v])))
            continue
        flag = max(param.opts, key=len)
        present = st.booleans()
        if getattr(param.type, "name", "") == "boolean" and param.is_flag:
            parts.append(_value(param, tmp_path, world).map(
                lambda on, f=flag, p=param: (p, [f] if on else [])))
            continue
        parts.append(st.tuples(present, _value(param, tmp_path, world)).map(
            lambda pv, f=flag, p=param: (p, [f, pv[1]] if pv[0] else [])))

    def build(chosen):
        poisoned = False
        options: list[str] = []
        arguments: list[str] = []
        for param, words in chosen:
            if not words:
                continue
            value = words[-1]
            if _is_name_arg(param) and not _NAME_RE.fullmatch(value):
                poisoned = True
            if getattr(param.type, "name", "") == "float":
                try:
                    poisoned |= not math.isfinite(float(value))
                except ValueError:
                    poisoned = True  # not a number: click refuses it
            (arguments if param.param_type_name == "argument" else options).extend(words)
        # "--": an argument may start with "-"
        return [*path, *options, "--", *arguments], poisoned

    return st.tuples(*parts).map(build) if parts else st.just(([*path], False))


#: Examples per command: a few in the suite (fixed, fast); CLI_PROPERTY_EXAMPLES=200 explores.
EXAMPLES = int(os.environ.get("CLI_PROPERTY_EXAMPLES", "5"))
COMMANDS = sorted(p for p in leaf_commands() if p not in STARTS_SERVERS)


NAMED = sorted(p for p in COMMANDS if any(_is_name_arg(q) for q in own_params(leaf_commands()[p])))


@pytest.mark.parametrize("path", NAMED, ids=" ".join)
@pytest.mark.parametrize("bad", ["bad name!", "x\x1b[2J", "demo\n"], ids=repr)
def test_a_bad_name_is_refused_before_any_aws_call(path, bad, moto, cli, api_calls):
    cmd = leaf_commands()[path]
    names = [bad if q.name == "name" else "ep" for q in own_params(cmd) if _is_name_arg(q)]
    needed = {("token",): ["--user", "u"], ("connect",): ["--password-env", "HOME"]}
    out = cli(*path, *needed.get(path, []), "--", *names, code=2)
    assert "is not valid" in out.stderr
    assert api_calls.calls == []


def test_the_walk_finds_the_commands():
    assert ("show",) in COMMANDS and ("targets", "remove") in COMMANDS and len(COMMANDS) > 20


@pytest.mark.usefixtures("instant_waits")
def test_random_values_exit_with_a_documented_code(world, cli, api_calls, tmp_path,
                                                   monkeypatch):
    """One moto world for all commands (building one per command would cost more than the
    examples); the proxies a command deleted are made again before the next one."""
    monkeypatch.setenv("HOME", str(tmp_path))  # --password-env HOME: a harmless value
    commands = leaf_commands()
    for path in COMMANDS:
        have = {p["DBProxyName"] for p in world.rds().describe_db_proxies()["DBProxies"]}
        if "demo" not in have:
            world.make_proxy("demo", iam="REQUIRED")
        if "plain" not in have:
            world.make_proxy("plain", iam="DISABLED", targets=False)
        _check_command(path, commands[path], world, cli, api_calls, tmp_path)


def _check_command(path, cmd, world, cli, api_calls, tmp_path):
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES == 5,
              database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(_invocation(path, cmd, tmp_path, world))
    def check(invocation):
        argv, poisoned = invocation
        if path in UNTIL_INTERRUPTED:
            split = argv.index("--")
            argv = [*argv[:split], "--iterations", "1", *argv[split:]]
        api_calls.clear()
        out = cli(*argv, code=None, input="")
        assert out.exit_code in DOCUMENTED, (argv, out.exit_code, out.stderr)
        assert out.exit_code != 70, (argv, out.stderr)
        assert "Traceback" not in out.stderr, (argv, out.stderr)
        if poisoned:
            assert out.exit_code == 2, (argv, out.exit_code, out.stderr)
            assert api_calls.calls == [], (argv, api_calls.calls)

    check()
