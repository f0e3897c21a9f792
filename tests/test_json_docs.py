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
