"""Consent: every mutating command, run without a terminal and without --yes, refuses
exactly when its plan removes, deregisters, or weakens TLS or authentication (exit 2, a
hint, no mutating AWS call); --prune and --detailed-exitcode of apply; iam policy reads
the inline policy it would change; Ctrl-C says what was changed."""

from __future__ import annotations

import json

import pytest

from rdsproxyctl.cli import plans
from rdsproxyctl.core import plan as core_plan
from rdsproxyctl.core.plan import Change, consent_reason

from .clitree import mutating_commands

pytestmark = pytest.mark.usefixtures("instant_waits")


@pytest.fixture
def estate(world):
    """demo: IAM required, target db1, endpoint demo-ep0; plain: IAM disabled, no target."""
    world.make_proxy("demo", iam="REQUIRED")
    world.make_proxy("plain", iam="DISABLED", targets=False)
    world.rds().create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="demo-ep0",
                                         VpcSubnetIds=world.subnets)
    iam = world.aws.client("iam")
    iam.create_user(UserName="ci")
    iam.put_user_policy(UserName="ci", PolicyName="connect", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    return world


def spec_without_endpoints(world, tmp_path) -> str:
    path = tmp_path / "demo.toml"
    path.write_text(f"""endpoint = []

[proxy]
name = "demo"
engine_family = "POSTGRESQL"
role_arn = "{world.role_arn}"
vpc_subnet_ids = {json.dumps(world.subnets)}

[[proxy.auth]]
secret_arn = "{world.secret_arn}"
iam_auth = "REQUIRED"
""")
    return str(path)


#: command -> cases of (arguments, refuses without a terminal and --yes).  Every mutating
#: command of the app must be here (test_every_mutating_command_is_covered).
CASES = {
    ("create",): [(lambda w, t: ["create", "new1", "--secret", w.secret_arn, "--role",
                                 w.role_arn, "--subnets", ",".join(w.subnets), "--no-wait"],
                   False)],
    ("apply",): [(lambda w, t: ["apply", spec_without_endpoints(w, t)], False),
                 (lambda w, t: ["apply", spec_without_endpoints(w, t), "--prune"], True)],
    ("modify",): [(lambda w, t: ["modify", "demo", "--idle-client-timeout", "900"], False),
                  (lambda w, t: ["modify", "demo", "--no-require-tls"], True),
                  (lambda w, t: ["modify", "demo", "--iam", "disabled"], True)],
    ("pool",): [(lambda w, t: ["pool", "demo", "--max-connections-percent", "50"], False)],
    ("delete",): [(lambda w, t: ["delete", "demo"], True)],
    ("iam", "enable"): [(lambda w, t: ["iam", "enable", "plain"], True),
                        (lambda w, t: ["iam", "enable", "demo"], False)],  # no change
    ("iam", "disable"): [(lambda w, t: ["iam", "disable", "demo"], True)],
    ("iam", "policy"): [
        (lambda w, t: ["iam", "policy", "demo", "--db-user", "app", "--attach-to-user", "ci",
                       "--policy-name", "connect"], False),  # adds the statement
        (lambda w, t: ["iam", "policy", "demo", "--db-user", "app", "--attach-to-user", "ci",
                       "--policy-name", "connect", "--replace"], True)],
    ("targets", "add"): [(lambda w, t: ["targets", "add", "plain", "--db-instance", "db1"],
                          False)],
    ("targets", "remove"): [(lambda w, t: ["targets", "remove", "demo", "--db-instance",
                                           "db1"], True)],
    ("endpoints", "create"): [(lambda w, t: ["endpoints", "create", "demo", "demo-ep1"], False)],
    ("endpoints", "delete"): [(lambda w, t: ["endpoints", "delete", "demo", "demo-ep0"], True)],
}


def test_every_mutating_command_is_covered():
    assert set(CASES) == set(mutating_commands()), \
        "describe each new mutating command's consent behaviour in CASES"


@pytest.mark.parametrize("command,index,refuses", [
    (cmd, i, refuses) for cmd, cases in CASES.items() for i, (_, refuses) in enumerate(cases)],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v))
def test_without_a_terminal_and_without_yes(estate, cli, api_calls, tmp_path, command, index,
                                            refuses):
    args = CASES[command][index][0](estate, tmp_path)
    api_calls.clear()
    if refuses:
        out = cli(*args, code=2)
        assert "refusing without confirmation (no terminal to ask on)" in out.stderr
        assert "hint: add --yes to confirm" in out.stderr
        assert api_calls.mutating == []
        # the plan says why, and --yes goes ahead
        plan = cli(*args, "--dry-run", "-o", "json").json()
        assert plan["consent"]
        cli(*args, "--yes")
        assert api_calls.mutating
    else:
        out = cli(*args, "-o", "json")
        assert out.json()["consent"] == [] if out.stdout.strip().startswith('{"action"') else True
        assert "refusing" not in out.stderr


def test_every_mutating_command_takes_yes():
    for path, cmd in mutating_commands().items():
        assert any("--yes" in getattr(p, "opts", ()) for p in cmd.params), path


@pytest.mark.parametrize("change,needs", [
    (Change("delete", "endpoint e"), True),
    (Change("delete", "target db1", "type", "instance"), True),
    (Change("delete", "auth app", "iam_auth", "REQUIRED"), True),
    (Change("delete", "tags of proxy p", "team", "a"), False),
    (Change("update", "proxy p", "require_tls", True, False), True),
    (Change("update", "proxy p", "require_tls", False, True), False),
    (Change("update", "auth a", "iam_auth", "REQUIRED", "DISABLED"), True),
    (Change("update", "auth a", "iam_auth", "DISABLED", "REQUIRED"), True),
    (Change("update", "auth a", "iam_auth", "DISABLED", "ENABLED"), False),
    (Change("update", "auth a", "client_password_auth_type", "POSTGRES_SCRAM_SHA_256",
            "POSTGRES_MD5"), True),
    (Change("update", "auth a", "client_password_auth_type", "POSTGRES_MD5",
            "POSTGRES_SCRAM_SHA_256"), False),
    (Change("update", "proxy p", "idle_client_timeout", 1800, 60), False),
    (Change("create", "endpoint e", "target_role", None, "READ_ONLY"), False),
])
def test_the_one_rule_of_what_needs_consent(change, needs):
    assert (consent_reason(change) is not None) is needs


def test_on_a_terminal_the_reasons_are_shown_and_asked(estate, cli, monkeypatch, api_calls):
    monkeypatch.setattr(plans, "stdin_is_terminal", lambda: True)
    api_calls.clear()
    out = cli("targets", "remove", "demo", "--db-instance", "db1", input="n\n", code=1)
    assert "targets remove demo deregisters target db1" in out.stderr
    assert "Proceed?" in out.stderr and "not confirmed: nothing changed" in out.stderr
    assert api_calls.mutating == []
    cli("targets", "remove", "demo", "--db-instance", "db1", input="y\n")
    assert ("rds", "DeregisterDBProxyTargets") in api_calls.mutating


# -- apply: --prune, --detailed-exitcode ------------------------------------------------------
def test_apply_keeps_what_the_spec_no_longer_names_without_prune(estate, cli, api_calls,
                                                                  tmp_path):
    spec = spec_without_endpoints(estate, tmp_path)
    api_calls.clear()
    out = cli("apply", spec)
    assert "endpoint demo-ep0 of demo is not in the spec: kept (--prune deletes it)" in out.stderr
    assert ("rds", "DeleteDBProxyEndpoint") not in api_calls.mutating
    plan = cli("apply", spec, "--prune", "--dry-run", "-o", "json").json()
    old = {c["field"]: c["old"] for c in plan["changes"] if c["resource"] == "endpoint demo-ep0"}
    assert old["endpoint"].startswith("demo-ep0.") and old["target_role"] == "READ_WRITE"
    cli("apply", spec, "--prune", "--yes")
    assert ("rds", "DeleteDBProxyEndpoint") in api_calls.mutating


def test_apply_detailed_exitcode_detects_drift(estate, cli, api_calls, tmp_path):
    spec = spec_without_endpoints(estate, tmp_path)
    api_calls.clear()
    cli("apply", spec, "--dry-run", "--detailed-exitcode")  # nothing differs (kept): 0
    cli("modify", "demo", "--idle-client-timeout", "900")
    spec_text = open(spec).read().replace('vpc_subnet_ids', 'idle_client_timeout = 1800\n'
                                          'vpc_subnet_ids')
    open(spec, "w").write(spec_text)
    api_calls.clear()
    out = cli("apply", spec, "--dry-run", "--detailed-exitcode", "-o", "json", code=2)
    assert out.json()["changes"][0]["field"] == "idle_client_timeout"
    assert api_calls.mutating == []
    out = cli("apply", spec, "--detailed-exitcode", code=2)
    assert "--detailed-exitcode goes with --dry-run" in out.stderr
    assert api_calls.mutating == []


# -- iam policy: read first, merge, --replace ----------------------------------------------------
def test_iam_policy_adds_its_statement_to_an_existing_inline_policy(estate, cli):
    iam = estate.aws.client("iam")
    plan = cli("iam", "policy", "demo", "--db-user", "app", "--attach-to-user", "ci",
               "--policy-name", "connect", "--dry-run", "-o", "json").json()
    change = plan["changes"][0]
    assert change["action"] == "update"
    assert change["old"]["Statement"] == [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]
    assert [s["Action"] for s in change["new"]["Statement"]] == ["s3:*", "rds-db:connect"]
    assert plan["consent"] == []
    printed = json.loads(cli("iam", "policy", "demo", "--db-user", "app", "--attach-to-user",
                             "ci", "--policy-name", "connect").stdout)
    stored = iam.get_user_policy(UserName="ci", PolicyName="connect")["PolicyDocument"]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored == printed
    assert [s["Action"] for s in stored["Statement"]] == ["s3:*", "rds-db:connect"]
    # again: nothing to do
    out = cli("iam", "policy", "demo", "--db-user", "app", "--attach-to-user", "ci",
              "--policy-name", "connect", "--dry-run", "-o", "json").json()
    assert out["no_changes"]


def test_iam_policy_replace_needs_consent_and_replaces(estate, cli, api_calls):
    iam = estate.aws.client("iam")
    args = ("iam", "policy", "demo", "--db-user", "app", "--attach-to-user", "ci",
            "--policy-name", "connect", "--replace")
    api_calls.clear()
    out = cli(*args, code=2)
    assert "replaces inline policy connect of user ci (1 of its statement(s) removed)" in \
        out.stderr
    assert api_calls.mutating == []
    cli(*args, "--yes")
    stored = iam.get_user_policy(UserName="ci", PolicyName="connect")["PolicyDocument"]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert [s["Action"] for s in stored["Statement"]] == ["rds-db:connect"]


# -- Ctrl-C ----------------------------------------------------------------------------------------
def test_ctrl_c_during_the_wait_says_what_was_changed_and_how_to_go_on(world, cli, monkeypatch):
    from rdsproxyctl.core import waiter

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(waiter, "wait_for_proxy", interrupted)
    out = cli("create", "ux-three", "--secret", world.secret_arn, "--role", world.role_arn,
              "--subnets", ",".join(world.subnets), "--db-instance", "db1", code=130)
    lines = out.stderr.splitlines()
    error = next(line for line in lines if line.startswith("error:"))
    hint = next(line for line in lines if line.startswith("hint:"))
    assert "interrupted after 1 of 2 call(s): create POSTGRESQL proxy ux-three" in error
    assert "not made: register instance db1 as target of ux-three" in error
    assert "ux-three was created and may still be creating" in hint
    assert "registering" not in hint  # the target was never registered
    assert "`rdsproxyctl apply`" in hint and "`rdsproxyctl show ux-three`" in hint
    assert "Traceback" not in out.stderr


def test_ctrl_c_after_every_call_points_at_the_follow_up(world, cli, monkeypatch):
    monkeypatch.setattr(core_plan, "_final_wait", lambda *a, **k: (_ for _ in ()).throw(
        KeyboardInterrupt))
    world.make_proxy("ux-three", targets=False)
    out = cli("targets", "add", "ux-three", "--db-instance", "db1", "--wait", code=130)
    assert "interrupted after 1 of 1 call(s): register instance db1 as target of ux-three" \
        in out.stderr
    assert "its target is still registering" in out.stderr
    assert "`rdsproxyctl targets ux-three`" in out.stderr


def test_a_removed_target_shows_its_current_values(estate, cli):
    plan = cli("targets", "remove", "demo", "--db-instance", "db1", "--dry-run",
               "-o", "json").json()
    old = {c["field"]: c["old"] for c in plan["changes"] if c["resource"] == "target db1"}
    assert old["type"] == "instance" and old["endpoint"].endswith(":5432")
    assert plan["consent"] == ["deregisters target db1"]
