"""The root ``rdsproxyctl`` command: global options, version, and the command groups.

Each command group lives in its own module and registers itself on ``app`` here.
Importing this module must stay cheap: no boto3, botocore or psycopg.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl import __version__
from rdsproxyctl.cli.runtime import root_callback

HELP = """Operate Amazon RDS Proxy: inspect proxies, their pool and targets.

Examples:

  rdsproxyctl list

  rdsproxyctl show my-proxy -o json

  rdsproxyctl targets my-proxy -o tsv | cut -f1,6

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

app = typer.Typer(
    name="rdsproxyctl",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.callback()(root_callback(VersionOption))


def _register() -> None:
    from rdsproxyctl.cli import proxies
    from rdsproxyctl.cli import sandbox

    proxies.register(app)
    sandbox.register(app)


_register()


def main() -> None:
    app(prog_name="rdsproxyctl")
