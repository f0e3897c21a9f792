"""docs/cli.md matches the app (issue 4 added commands); docs name what the code does."""

from __future__ import annotations

from pathlib import Path

from rdsproxyctl.devtools import gendocs

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    assert gendocs.main(["--check"]) == 0, "run: COLUMNS=100 python -m rdsproxyctl.devtools.gendocs"


def test_lifecycle_docs_cover_every_new_command():
    cli_md = (ROOT / "docs" / "cli.md").read_text()
    lifecycle_md = (ROOT / "docs" / "lifecycle.md").read_text()
    for command in ("create", "apply", "modify", "pool", "delete", "iam enable", "iam disable",
                    "iam status", "iam policy", "targets add", "targets remove",
                    "endpoints list", "endpoints create", "endpoints delete"):
        assert f"`rdsproxyctl {command}`" in cli_md, command
        assert f"rdsproxyctl {command.split()[0]}" in lifecycle_md, command
