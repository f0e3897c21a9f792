"""The root ``rdsproxyctl`` command: global options, version, and the command groups.

Each command group lives in its own module with a ``register(app)`` function; COMMANDS
below says which module defines which top-level command, and the module is imported
only when its command runs (the root ``--help`` lists SUMMARIES instead).  Importing this module must stay cheap:
no boto3, botocore or psycopg, and no command module.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl import __version__
from rdsproxyctl.cli.groups import LazyGroup
from rdsproxyctl.cli.runtime import reflow, root_callback

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
    "wait": ("rdsproxyctl.cli.wait",),
    "iam": ("rdsproxyctl.cli.iam",),
    "endpoints": ("rdsproxyctl.cli.endpoints",),
    "logs": ("rdsproxyctl.cli.logs",),
    "metrics": ("rdsproxyctl.cli.metrics",),
    "top": ("rdsproxyctl.cli.top",),
    "pinning": ("rdsproxyctl.cli.pinning",),
    "sandbox": ("rdsproxyctl.cli.sandbox",),
}


#: Each command's one-line help, so `rdsproxyctl --help` lists them without importing a
#: single command module (tests/test_lazy_imports.py checks they match the commands').
SUMMARIES: dict[str, str] = {
    "list": "List every proxy in the region with its status, TLS, IAM auth and target health.",
    "show": "Show a proxy: settings, auth entries, pool, targets, endpoints, tags, log group.",
    "targets": "Targets of a proxy and their health.  `targets NAME` is `targets list NAME`.",
    "token": "Mint an IAM authentication token for a proxy (valid 15 minutes).",
    "connect": "Connect through a proxy and time each phase; on failure say what broke and "
               "the fix.",
    "diagnose": "Check everything about a proxy: status, TLS, secrets, role, client "
                "permission, network, targets, pool, recent logs (and, with --connect, a real "
                "connection).",
    "create": "Create a proxy, optionally its IAM role, its pool settings and its target.",
    "apply": "Make a proxy match a TOML spec: create what is missing, change what differs.",
    "modify": "Change a proxy's settings: TLS, idle timeout, debug logging, name, auth entries.",
    "pool": "Change the connection pool of a proxy's target group; shows old and new values.",
    "delete": "Delete a proxy with its endpoints and target group (the databases stay).",
    "wait": "Wait until a proxy (or one of its endpoints) reaches a state; exit 1 on "
            "time-out, saying what it last saw.",
    "iam": "IAM authentication of a proxy's clients: enable, disable, status, policy.",
    "endpoints": "A proxy's endpoints.  `endpoints NAME` is `endpoints list NAME`.",
    "logs": "Tail, summarise and classify the proxy's CloudWatch Logs.  `logs NAME` is `logs "
            "tail NAME`; a proxy named summary, classify or tail needs `logs tail NAME`.",
    "metrics": "The proxy's CloudWatch metrics: min/avg/max/last and a sparkline per metric.",
    "top": "A live view of the pool: connections against the ceiling, pinned, latencies, "
           "warnings.",
    "pinning": "What pins the proxy's sessions: pin events by cause and digest, and each fix.",
    "sandbox": "An offline sandbox: the AWS API (moto), a real PostgreSQL with TLS, and a "
               "local RDS Proxy that checks TLS and IAM tokens and pools connections.  No AWS "
               "account needed.",
}


class RootGroup(LazyGroup):
    lazy = COMMANDS
    summaries = SUMMARIES


app = typer.Typer(
    name="rdsproxyctl",
    cls=RootGroup,
    help=reflow(HELP),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
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
