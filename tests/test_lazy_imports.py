"""--help must not import boto3, botocore or psycopg; the installed script must work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rdsproxyctl.cli.app import app

HEAVY = ("boto3", "botocore", "psycopg")

PROBE = r"""
import json, sys
from rdsproxyctl.cli.app import main
sys.argv = ["rdsproxyctl", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore", "psycopg"})
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def all_command_paths() -> list[list[str]]:
    import typer

    paths: list[list[str]] = [[]]

    def walk(cmd, prefix):
        for name, sub in getattr(cmd, "commands", {}).items():
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "root")
def test_help_imports_nothing_heavy(path):
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps([*path, "--help"])],
                          capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None)
    assert report["heavy"] == [], f"{' '.join(path)} --help imported {report['heavy']}"
    assert "Usage" in proc.stdout


def test_installed_console_script_runs():
    script = Path(sys.executable).parent / "rdsproxyctl"
    assert script.exists(), "rdsproxyctl is not installed in this environment"
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "list" in proc.stdout and "show" in proc.stdout
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    from rdsproxyctl import __version__

    assert version.stdout.strip() == f"rdsproxyctl {__version__}"
    module = subprocess.run([sys.executable, "-m", "rdsproxyctl", "--version"],
                            capture_output=True, text=True)
    assert module.stdout == version.stdout
