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
from rdsproxyctl.cli.app import app
sys.argv = ["rdsproxyctl", *json.loads(sys.argv[1])]
try:
    app(prog_name="rdsproxyctl")
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore", "psycopg"})
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def all_command_paths() -> list[list[str]]:
    import typer

    paths: list[list[str]] = [[]]
    root = typer.main.get_command(app)
    ctx = typer.Context(root)

    def walk(cmd, prefix):
        if not hasattr(cmd, "list_commands"):
            return
        for name in cmd.list_commands(ctx):
            paths.append([*prefix, name])
            walk(cmd.get_command(ctx, name), [*prefix, name])

    walk(root, [])
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
    # main() ends the process itself (no interpreter shutdown): codes and output survive
    usage = subprocess.run([str(script), "token", "--user", "app"], capture_output=True,
                           text=True, timeout=60)
    assert usage.returncode == 2 and usage.stdout == ""
    assert usage.stderr.startswith("error: give a proxy NAME, or --host")
    bad_option = subprocess.run([str(script), "list", "-o", "yaml"], capture_output=True,
                                text=True, timeout=60)
    assert bad_option.returncode == 2 and "yaml" in bad_option.stderr


def test_a_command_imports_only_its_own_module():
    probe = (
        "import sys\n"
        "from rdsproxyctl.cli.app import app\n"
        "sys.argv = ['rdsproxyctl', '--version']\n"
        "try:\n    app(prog_name='rdsproxyctl')\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('rdsproxyctl.cli.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout
    loaded = eval(out.strip().splitlines()[-1])
    assert "rdsproxyctl.cli.proxies" not in loaded, loaded


ONE_PROCESS = """
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


def test_help_of_every_command_in_one_process_stays_light():
    """All the help pages in one process: no command's module drags in a heavy one
    that another's help would then find already loaded."""
    paths = all_command_paths()
    out = subprocess.run([sys.executable, "-c", ONE_PROCESS, json.dumps(paths)],
                         capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(out.stdout)
    assert set(report) == {" ".join(p) for p in paths}
    for command, (code, loaded, usage) in report.items():
        assert (command, code, usage) == (command, 0, True)
        assert (command, loaded) == (command, [])


def test_root_help_lists_commands_from_their_summaries_without_importing_them():
    """`rdsproxyctl --help` reads SUMMARIES; each must be its command's own one-line help."""
    import typer

    from rdsproxyctl.cli.app import COMMANDS, SUMMARIES

    assert set(SUMMARIES) == set(COMMANDS), "add the new command's one-line help to SUMMARIES"
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="rdsproxyctl")
    for name in COMMANDS:
        cmd = root.get_command(ctx, name)
        assert SUMMARIES[name] == (cmd.short_help or (cmd.help or "").split("\n\n")[0]), name
    probe = (
        "import sys, io, contextlib\n"
        "from rdsproxyctl.cli.app import app\n"
        "sys.argv = ['rdsproxyctl', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n        app(prog_name='rdsproxyctl')\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('rdsproxyctl.cli.')))\n"
        "print(all(n in out.getvalue() for n in %r))\n" % (list(COMMANDS),)
    )
    lines = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    loaded = eval(lines[0])
    assert [m for m in loaded if m.rsplit(".", 1)[-1] in
            {m.rsplit(".", 1)[-1] for mods in COMMANDS.values() for m in mods}] == []
    assert lines[1] == "True"  # every command is listed
