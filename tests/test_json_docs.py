"""Every key a command prints with -o json is documented in docs/json.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def documented_keys(section: str) -> set[str]:
    text = (ROOT / "docs/json.md").read_text()
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/json.md has no '## {section}' section"
    return set(re.findall(r"`([a-z_][a-z0-9_]*)`", match.group(1)))


def json_keys(data: Any) -> set[str]:
    keys: set[str] = set()
    if isinstance(data, dict):
        for k, v in data.items():
            keys.add(k)
            keys |= json_keys(v)
    elif isinstance(data, list):
        for v in data:
            keys |= json_keys(v)
    return keys


def assert_documented(section: str, data: Any, free_form: tuple[str, ...] = ()) -> None:
    """``free_form``: keys whose children are user data (e.g. tag keys)."""
    if isinstance(data, dict):
        data = {k: ({} if k in free_form else v) for k, v in data.items()}
    missing = json_keys(data) - documented_keys(section)
    assert not missing, f"docs/json.md '## {section}' does not document {sorted(missing)}"


def test_list_show_targets_keys_are_documented(world, cli):
    world.make_proxy("demo", Tags=[{"Key": "team", "Value": "db"}])
    world.rds().create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="reader",
                                         VpcSubnetIds=world.subnets)
    assert_documented("list", cli("list", "-o", "json").json())
    assert_documented("show", cli("show", "demo", "-o", "json").json(), free_form=("tags",))
    assert_documented("targets", cli("targets", "demo", "-o", "json").json())


# -- plans (create, modify, pool, delete, ...), iam status, endpoints list -----------------------
def plan_keys(data):
    """The plan's own keys: API parameters and old/new values are AWS's or user data."""
    data = dict(data)
    data["calls"] = [{**c, "params": {}} for c in data["calls"]]
    data["changes"] = [{**c, "old": None, "new": None} for c in data["changes"]]
    after, data["after"] = data.get("after"), None
    targets = data.pop("targets", None)
    return data, after, targets


def test_plan_keys_are_documented(world, cli, instant_waits):
    out = cli("create", "demo", "--secret", world.secret_arn, "--create-role", "--subnets",
              ",".join(world.subnets), "--db-instance", "db1", "--tag", "a=b",
              "-o", "json").json()
    plan, after, targets = plan_keys(out)
    assert_documented("plans", plan)
    assert set(plan) == {"action", "proxy", "no_changes", "changes", "calls", "warnings",
                         "consent", "dry_run", "applied", "after"}
    assert_documented("show", {"proxy": after})
    added = cli("targets", "remove", "demo", "--db-instance", "db1", "--yes", "-o",
                "json").json()
    assert_documented("plans", plan_keys(added)[0])
    added = cli("targets", "add", "demo", "--db-instance", "db1", "--wait", "-o", "json").json()
    plan, _, targets = plan_keys(added)
    assert "targets" in added
    assert_documented("targets", targets)


def test_iam_status_and_endpoints_list_keys_are_documented(world, cli, instant_waits):
    world.make_proxy("demo")
    cli("endpoints", "create", "demo", "demo-ep")
    assert_documented("iam status", cli("iam", "status", "demo", "-o", "json").json())
    assert_documented("endpoints list", cli("endpoints", "demo", "-o", "json").json())
