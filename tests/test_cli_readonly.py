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
    assert "no proxies" in out.stdout
