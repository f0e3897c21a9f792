"""`rdsproxyctl CMD --help` of issue 4's commands imports no boto3, botocore or psycopg."""

from __future__ import annotations

import json
import subprocess
import sys

COMMANDS = [
    ["create"], ["apply"], ["modify"], ["pool"], ["delete"],
    ["iam"], ["iam", "enable"], ["iam", "disable"], ["iam", "status"], ["iam", "policy"],
    ["endpoints"], ["endpoints", "list"], ["endpoints", "create"], ["endpoints", "delete"],
    ["targets", "add"], ["targets", "remove"],
]

SCRIPT = """
import json, sys
from typer.testing import CliRunner
from rdsproxyctl.cli.app import app
runner = CliRunner()
heavy = ("boto3", "botocore", "psycopg")
report = {}
for args in json.loads(sys.argv[1]):
    result = runner.invoke(app, [*args, "--help"])
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
    report[" ".join(args)] = [result.exit_code, loaded, "Usage" in result.output]
print(json.dumps(report))
"""


def test_help_of_every_lifecycle_command_stays_light():
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(COMMANDS)],
                         capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(out.stdout)
    assert set(report) == {" ".join(c) for c in COMMANDS}
    for command, (code, loaded, usage) in report.items():
        assert (command, code, usage) == (command, 0, True)
        assert (command, loaded) == (command, [])
