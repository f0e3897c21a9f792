"""The root ``rdsproxyctl`` command: global options, version, and the command groups.

Each command group lives in its own module with a ``register(app)`` function; COMMANDS
below says which module defines which top-level command, and the module is imported
only when its command runs (or for ``--help``).  Importing this module must stay cheap:
no boto3, botocore or psycopg, and no command module.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl import __version__
from rdsproxyctl.cli.groups import LazyGroup
from rdsproxyctl.cli.runtime import root_callback

HELP = """Operate Amazon RDS Proxy: inspect, create and change proxies, mint IAM tokens,
test connections, read the proxy's logs and metrics, and diagnose what is wrong.

Examples:

  rdsproxyctl list

  rdsproxyctl show my-proxy -o json

  PGPASSWORD=$(rdsproxyctl token my-proxy --user app) psql ...

  rdsproxyctl connect my-proxy --iam --user app

  rdsproxyctl diagnose my-proxy --user app

  rdsproxyctl metrics my-proxy --since 3h; rdsproxyctl top my-proxy

  rdsproxyctl sandbox demo      # everything, offline, no AWS account

Global options may go before or after the command name.  Exit codes: 0 ok,
1 a check failed, 2 usage, 3 not found, 4 credentials or permission,
5 connection failure, 70 internal error, 130 interrupted.
"""


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rdsproxyctl {__version__}")
        raise typer.Exit()


VersionOption = Annotated[Optional[bool], typer.Option(
    "--version", callback=_print_version, is_eager=True, help="Show the version and exit.")]

#: Top-level command -> the modules whose ``register(app)`` define it, in help order.
COMMANDS: dict[str, tuple[str, ...]] = {
    "list": ("rdsproxyctl.cli.proxies",),
    "show": ("rdsproxyctl.cli.proxies",),
    "targets": ("rdsproxyctl.cli.targets",),
    "token": ("rdsproxyctl.cli.token",),
    "connect": ("rdsproxyctl.cli.connect",),
    "diagnose": ("rdsproxyctl.cli.diagnose",),
    "create": ("rdsproxyctl.cli.lifecycle",),
    "apply": ("rdsproxyctl.cli.lifecycle",),
    "modify": ("rdsproxyctl.cli.lifecycle",),
    "pool": ("rdsproxyctl.cli.lifecycle",),
    "delete": ("rdsproxyctl.cli.lifecycle",),
    "iam": ("rdsproxyctl.cli.iam",),
    "endpoints": ("rdsproxyctl.cli.endpoints",),
    "logs": ("rdsproxyctl.cli.logs",),
    "metrics": ("rdsproxyctl.cli.metrics",),
    "top": ("rdsproxyctl.cli.top",),
    "pinning": ("rdsproxyctl.cli.pinning",),
    "sandbox": ("rdsproxyctl.cli.sandbox",),
}


class RootGroup(LazyGroup):
    lazy = COMMANDS


app = typer.Typer(
    name="rdsproxyctl",
    cls=RootGroup,
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.callback()(root_callback(VersionOption))


def main() -> None:
    """The console script: run the app, flush, and leave without interpreter shutdown.

    Tearing down the hundreds of modules botocore and typer load takes ~25 ms, a fifth of
    a `token` run; nothing of ours needs it (threads are joined, connections and files
    closed by their ``with`` blocks), so once the output is flushed the process ends.
    """
    import os
    import sys

    code: int = 0
    try:
        app(prog_name="rdsproxyctl")
    except SystemExit as exc:
        if isinstance(exc.code, int):
            code = exc.code
        elif exc.code is not None:  # a message: print it as sys.exit would
            print(exc.code, file=sys.stderr)
            code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BrokenPipeError:  # the reader closed the pipe after our last write
                from rdsproxyctl.cli.errors import silence_stdout

                silence_stdout()
            except (OSError, ValueError):
                pass
    os._exit(code)
