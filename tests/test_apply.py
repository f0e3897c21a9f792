"""`apply SPEC.toml`: the example of docs/apply.md, applied twice; diffs; spec errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rdsproxyctl.core.spec import parse_spec

pytestmark = pytest.mark.usefixtures("instant_waits")

DOC = Path(__file__).resolve().parents[1] / "docs" / "apply.md"


def example_spec() -> str:
    """The full example of docs/apply.md (the first ```toml block)."""
    found = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/apply.md lost its example"
    return found.group(1)


@pytest.fixture
def spec_world(world):
    """The example's placeholders, made real in moto."""
    aws = world.aws
    reporting = aws.client("secretsmanager").create_secret(
        Name="reporting-db",
        SecretString=json.dumps({"username": "reporting", "password": "r3p0rt-pw"}))["ARN"]
    aws.client("rds").create_db_cluster(
        DBClusterIdentifier="app-cluster", Engine="aurora-postgresql",
        MasterUsername="postgres", MasterUserPassword="password123")
    world.replacements = {
        "subnet-0123456789abcdef0": world.subnets[0],
        "subnet-0fedcba9876543210": world.subnets[1],
        "sg-0123456789abcdef0": world.security_group,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf": world.secret_arn,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:reporting-db-GhIjKl": reporting,
        "arn:aws:iam::123456789012:role/rds-proxy-app": world.role_arn,
    }
    return world


def write_spec(tmp_path, world, text: str | None = None, **edits: str) -> Path:
    text = text if text is not None else example_spec()
    for old, new in {**world.replacements, **edits}.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "proxy.toml"
    path.write_text(text)
    return path


def test_the_documented_example_applies_and_a_second_run_changes_nothing(
        spec_world, cli, api_calls, tmp_path):
    path = write_spec(tmp_path, spec_world)
    first = cli("apply", str(path), "-o", "json").json()
    assert first["applied"] is True and first["after"]["status"] == "available"
    assert [c["operation"] for c in first["calls"]] == [
        "CreateDBProxy", "ModifyDBProxyTargetGroup", "RegisterDBProxyTargets",
        "CreateDBProxyEndpoint"]
    shown = cli("show", "app-proxy", "-o", "json").json()
    p = shown["proxy"]
    assert p["require_tls"] is True and p["idle_client_timeout"] == 1800
    assert [a["iam_auth"] for a in p["auth"]] == ["REQUIRED", "REQUIRED"]
    assert p["auth"][0]["client_password_auth_type"] == "POSTGRES_SCRAM_SHA_256"
    assert shown["tags"] == {"team": "payments", "environment": "production"}
    assert shown["target_group"]["pool"] == {
        "max_connections_percent": 70, "max_idle_connections_percent": 35,
        "connection_borrow_timeout": 30, "session_pinning_filters": [],
        "init_query": "SET TIME ZONE 'UTC'"}
    assert [t["rds_resource_id"] for t in shown["targets"]] == ["app-cluster"]
    extra = [e for e in shown["endpoints"] if not e["is_default"]]
    assert [(e["name"], e["target_role"]) for e in extra] == [("app-proxy-ro", "READ_ONLY")]

    api_calls.clear()
    second = cli("apply", str(path))
    assert "no changes" in second.stderr and second.stdout == ""
    assert api_calls.mutating == []
    again = cli("apply", str(path), "-o", "json").json()
    assert again["no_changes"] is True and again["calls"] == [] and again["changes"] == []
    assert api_calls.mutating == []


def test_apply_prints_a_diff_of_fields_and_changes_only_what_differs(
        spec_world, cli, api_calls, tmp_path):
    path = write_spec(tmp_path, spec_world)
    cli("apply", str(path))
    changed = write_spec(tmp_path, spec_world, **{
        "idle_client_timeout = 1800": "idle_client_timeout = 900",
        'environment = "production"': 'owner = "dba"',
        "max_connections_percent = 70": "max_connections_percent = 60",
        'description = "reporting user"': 'description = "reports"',
    })
    api_calls.clear()
    plan = cli("apply", str(changed), "--dry-run", "-o", "json").json()
    assert api_calls.mutating == []
    diff = {(c["action"], c["resource"], c["field"], json.dumps(c["old"]), json.dumps(c["new"]))
            for c in plan["changes"]}
    assert diff == {
        ("update", "proxy app-proxy", "idle_client_timeout", "1800", "900"),
        ("update", "auth reporting-db-" + spec_world.replacements[
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:reporting-db-GhIjKl"
        ].rsplit("-", 1)[-1], "description", '"reporting user"', '"reports"'),
        ("create", "tags of proxy app-proxy", "owner", "null", '"dba"'),
        ("delete", "tags of proxy app-proxy", "environment", '"production"', "null"),
        ("update", "target_group default", "max_connections_percent", "70", "60"),
    }
    assert [c["operation"] for c in plan["calls"]] == [
        "ModifyDBProxy", "AddTagsToResource", "RemoveTagsFromResource",
        "ModifyDBProxyTargetGroup"]
    modify = plan["calls"][0]
    assert modify["wait_after"] is True
    assert set(modify["params"]) == {"DBProxyName", "IdleClientTimeout", "Auth"}
    table = cli("apply", str(changed), "--dry-run").stdout
    assert re.search(r"~\s+proxy app-proxy\s+idle_client_timeout\s+1800\s+900", table)
    assert re.search(r"-\s+tags of proxy app-proxy\s+environment\s+production", table)
    cli("apply", str(changed))
    api_calls.clear()
    assert "no changes" in cli("apply", str(changed)).stderr
    assert api_calls.mutating == []


def test_apply_replaces_targets_and_endpoints_as_the_spec_says(spec_world, cli, tmp_path):
    path = write_spec(tmp_path, spec_world)
    cli("apply", str(path))
    text = example_spec()
    text = text.replace('db_cluster_identifier = "app-cluster"     # or db_instance_identifier = "app-db"',
                        'db_instance_identifier = "db1"')
    text = text[:text.index("[[endpoint]]")]  # no endpoint blocks at all
    path2 = write_spec(tmp_path, spec_world, text=text)
    # endpoints left out: unmanaged, so the existing endpoint stays; the old target goes
    # only with --prune
    plan = cli("apply", str(path2), "--dry-run", "-o", "json").json()
    assert [c["operation"] for c in plan["calls"]] == ["RegisterDBProxyTargets"]
    assert any("cluster app-cluster is a target of app-proxy but not in the spec: kept "
               "(--prune deregisters it)" in w for w in plan["warnings"])
    plan = cli("apply", str(path2), "--prune", "--dry-run", "-o", "json").json()
    assert [c["operation"] for c in plan["calls"]] == ["DeregisterDBProxyTargets",
                                                       "RegisterDBProxyTargets"]
    assert plan["calls"][0]["params"]["DBClusterIdentifiers"] == ["app-cluster"]
    assert plan["calls"][1]["params"]["DBInstanceIdentifiers"] == ["db1"]
    assert plan["consent"] == ["deregisters target app-cluster"]
    cli("apply", str(path2), "--prune", code=2)  # no terminal, no --yes
    cli("apply", str(path2), "--prune", "--yes")
    targets = cli("targets", "app-proxy", "-o", "json").json()
    assert [t["rds_resource_id"] for t in targets] == ["db1"]
    assert any(e["name"] == "app-proxy-ro" for e in cli("endpoints", "app-proxy",
                                                         "-o", "json").json())


def test_apply_deletes_endpoints_missing_from_a_managed_list(spec_world, cli, tmp_path):
    path = write_spec(tmp_path, spec_world)
    cli("apply", str(path))
    text = example_spec()
    head = text[:text.index("[[endpoint]]")]
    path2 = write_spec(tmp_path, spec_world, text=head.replace("[proxy]", "endpoint = []\n\n[proxy]", 1))
    # without --prune: kept, with a warning, and no call
    plan = cli("apply", str(path2), "--dry-run", "-o", "json").json()
    assert plan["no_changes"] and plan["calls"] == []
    assert any("endpoint app-proxy-ro of app-proxy is not in the spec: kept (--prune deletes "
               "it)" in w for w in plan["warnings"])
    plan = cli("apply", str(path2), "--prune", "--dry-run", "-o", "json").json()
    assert [(c["operation"], c["params"]) for c in plan["calls"]] == [
        ("DeleteDBProxyEndpoint", {"DBProxyEndpointName": "app-proxy-ro"})]
    # the plan shows what goes: the endpoint's current values
    gone = {c["field"]: c["old"] for c in plan["changes"]}
    assert {c["action"] for c in plan["changes"]} == {"delete"}
    assert gone["target_role"] == "READ_ONLY" and gone["endpoint"].startswith("app-proxy-ro.")
    assert gone["vpc_subnet_ids"]
    assert plan["consent"] == ["removes endpoint app-proxy-ro"]


@pytest.mark.parametrize("old,new,expected", [
    ('engine_family = "POSTGRESQL"', 'engine_family = "MYSQL"',
     "proxy app-proxy is POSTGRESQL; the engine family cannot change"),
    ('target_role = "READ_ONLY"', 'target_role = "READ_WRITE"',
     "endpoint app-proxy-ro is READ_ONLY; its role cannot change in place"),
])
def test_apply_refuses_what_cannot_change_in_place(spec_world, cli, api_calls, tmp_path, old,
                                                   new, expected):
    cli("apply", str(write_spec(tmp_path, spec_world)))
    api_calls.clear()
    text = example_spec().replace(old, new)
    if "MYSQL" in new:
        text = text.replace('client_password_auth_type = "POSTGRES_SCRAM_SHA_256"', "")
    out = cli("apply", str(write_spec(tmp_path, spec_world, text=text)), code=2)
    assert expected in out.stderr
    assert api_calls.mutating == []


def test_apply_refuses_other_subnets_in_place(spec_world, cli, api_calls, tmp_path):
    cli("apply", str(write_spec(tmp_path, spec_world)))
    third = spec_world.aws.client("ec2").describe_subnets()["Subnets"][2]["SubnetId"]
    text = example_spec().replace(
        'vpc_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]  # 2+ AZs',
        f'vpc_subnet_ids = ["subnet-0123456789abcdef0", "{third}"]')
    api_calls.clear()
    out = cli("apply", str(write_spec(tmp_path, spec_world, text=text)), code=2)
    assert "the subnets of proxy app-proxy cannot change in place" in out.stderr
    assert api_calls.mutating == []


SPEC_ERRORS = [
    ("[proxy]\nname = 'x'\nengine_famly = 'POSTGRESQL'\n", "unknown key 'engine_famly' in [proxy]"),
    ("[proxy\n", "not valid TOML"),
    ("[target]\n", "the spec needs a [proxy] table"),
    ("[proxy]\nengine_family = 'POSTGRESQL'\n", "[proxy] needs name"),
    ("[proxy]\nname = 'x'\nengine_family = 'POSTGRESQL'\nrole_arn = 'arn:aws:iam::123456789012:role/r'\n"
     "vpc_subnet_ids = ['a', 'b']\nrequire_tls = 'yes'\n", "[proxy] require_tls must be true or false"),
    ("[proxy]\nname = 'x'\nengine_family = 'POSTGRESQL'\nrole_arn = 'arn:aws:iam::123456789012:role/r'\n"
     "vpc_subnet_ids = ['a', 'b']\nidle_client_timeout = 0\n"
     "[[proxy.auth]]\nsecret_arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s'\n",
     "idle client timeout (seconds) must be an integer from 1 to 28800, got 0"),
    ("[proxy]\nname = 'x'\nengine_family = 'POSTGRESQL'\nrole_arn = 'arn:aws:iam::123456789012:role/r'\n"
     "vpc_subnet_ids = ['a', 'b']\n"
     "[[proxy.auth]]\nsecret_arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s'\n"
     "[default_target_group.connection_pool_config]\nsession_pinning_filters = ['EXCLUDE_VARIABLE_SETS']\n",
     "session pinning filters exist only for MySQL proxies"),
    ("[proxy]\nname = 'x'\nengine_family = 'POSTGRESQL'\nrole_arn = 'arn:aws:iam::123456789012:role/r'\n"
     "vpc_subnet_ids = ['a', 'b']\n"
     "[[proxy.auth]]\nsecret_arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s'\n"
     "[[target]]\ndb_instance_identifier = 'a'\ndb_cluster_identifier = 'b'\n",
     "each target names exactly one of"),
    ("[proxy]\nname = 'x'\nengine_family = 'POSTGRESQL'\nrole_arn = 'arn:aws:iam::123456789012:role/r'\n"
     "vpc_subnet_ids = ['a']\n", "needs at least two subnets"),
]


@pytest.mark.parametrize("text,expected", SPEC_ERRORS, ids=[e for _, e in SPEC_ERRORS])
def test_bad_spec_fails_before_any_api_call(world, cli, api_calls, tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = cli("apply", str(path), code=2)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), out.stderr
    assert expected in lines[0]
    assert api_calls.calls == []


def test_missing_spec_file(moto, cli, tmp_path):
    out = cli("apply", str(tmp_path / "nope.toml"), code=2)
    assert "spec file" in out.stderr and "does not exist" in out.stderr


def test_example_parses_to_the_documented_values():
    spec = parse_spec(example_spec(), "docs/apply.md")
    assert spec.name == "app-proxy" and spec.engine_family == "POSTGRESQL"
    assert [a.iam_auth for a in spec.auth or []] == ["REQUIRED", "REQUIRED"]
    assert spec.pool is not None and spec.pool.max_connections_percent == 70
    assert [t.key for t in spec.targets or []] == [("cluster", "app-cluster")]
    assert [(e.name, e.target_role) for e in spec.endpoints or []] == [("app-proxy-ro",
                                                                        "READ_ONLY")]


def test_apply_idle_percent_above_the_current_max_is_refused(spec_world, cli, api_calls,
                                                             tmp_path):
    cli("apply", str(write_spec(tmp_path, spec_world)))
    text = example_spec().replace("max_connections_percent = 70              "
                                  "# 1-100: leave headroom for other clients\n", "")
    text = text.replace("max_idle_connections_percent = 35", "max_idle_connections_percent = 75")
    api_calls.clear()
    out = cli("apply", str(write_spec(tmp_path, spec_world, text=text)), code=2)
    assert ("max idle connections percent (75) cannot exceed max connections percent (70) "
            "of app-proxy") in out.stderr
    assert api_calls.mutating == []
