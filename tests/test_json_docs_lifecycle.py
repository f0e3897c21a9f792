"""Every key issue 4's commands print with -o json is documented in docs/json.md."""

from __future__ import annotations

import pytest

from .test_json_docs import assert_documented

pytestmark = pytest.mark.usefixtures("instant_waits")


def plan_keys(data):
    """The plan's own keys: API parameters and old/new values are AWS's or user data."""
    data = dict(data)
    data["calls"] = [{**c, "params": {}} for c in data["calls"]]
    data["changes"] = [{**c, "old": None, "new": None} for c in data["changes"]]
    after, data["after"] = data.get("after"), None
    targets = data.pop("targets", None)
    return data, after, targets


def test_plan_keys_are_documented(world, cli):
    out = cli("create", "demo", "--secret", world.secret_arn, "--create-role", "--subnets",
              ",".join(world.subnets), "--db-instance", "db1", "--tag", "a=b",
              "-o", "json").json()
    plan, after, targets = plan_keys(out)
    assert_documented("plans", plan)
    assert set(plan) == {"action", "proxy", "no_changes", "changes", "calls", "warnings",
                         "consent", "dry_run", "applied", "after"}
    assert_documented("show", {"proxy": after})
    added = cli("targets", "remove", "demo", "--db-instance", "db1", "--yes", "-o", "json").json()
    assert_documented("plans", plan_keys(added)[0])
    added = cli("targets", "add", "demo", "--db-instance", "db1", "--wait", "-o", "json").json()
    plan, _, targets = plan_keys(added)
    assert "targets" in added
    assert_documented("targets", targets)


def test_iam_status_and_endpoints_list_keys_are_documented(world, cli):
    world.make_proxy("demo")
    cli("endpoints", "create", "demo", "demo-ep")
    assert_documented("iam status", cli("iam", "status", "demo", "-o", "json").json())
    assert_documented("endpoints list", cli("endpoints", "demo", "-o", "json").json())
