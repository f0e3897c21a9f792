"""``targets add|remove``: register or deregister a proxy's database.

They join the ``targets`` group of cli/proxies.py (whose bare form lists targets).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl.cli.plans import (
    DEFAULT_TIMEOUT,
    DryRun,
    Timeout,
    WaitOff,
    run_plan,
    wait_options,
)
from rdsproxyctl.cli.runtime import Runtime, command

ProxyName = Annotated[str, typer.Argument(help="The proxy's name (DBProxyName).",
                                          show_default=False)]
DbInstance = Annotated[Optional[str], typer.Option(
    "--db-instance", help="A DB instance identifier.", show_default=False)]
DbCluster = Annotated[Optional[str], typer.Option(
    "--db-cluster", help="An Aurora DB cluster identifier.", show_default=False)]


def register(app: typer.Typer) -> None:  # noqa: ARG001 - the group lives in cli/proxies.py
    """Add ``add`` and ``remove`` to cli/proxies.py's ``targets`` group (once per process).

    COMMANDS in cli/app.py lists ("rdsproxyctl.cli.proxies", "rdsproxyctl.cli.targets")
    for ``targets``: proxies registers the group on the app, this module its two commands.
    """
    from rdsproxyctl.cli.proxies import targets_app

    have = {c.name for c in targets_app.registered_commands}
    if "add" not in have:
        command(targets_app, "add")(add_cmd)
    if "remove" not in have:
        command(targets_app, "remove")(remove_cmd)


def add_cmd(
    name: ProxyName,
    rt: Runtime,
    db_instance: DbInstance = None,
    db_cluster: DbCluster = None,
    dry_run: DryRun = False,
    wait: WaitOff = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Register a DB instance or cluster as the proxy's target (nothing if already there).

    Examples:

      rdsproxyctl targets add demo --db-instance db1 --wait

      rdsproxyctl targets add demo --db-cluster aurora-1 --dry-run
    """
    from rdsproxyctl.core import lifecycle

    options = wait_options(timeout)

    plan = lifecycle.targets_plan(rt.aws, name, add=True, instance=db_instance,
                                  cluster=db_cluster)
    run_plan(rt, plan, dry_run=dry_run, wait=wait, options=options)


def remove_cmd(
    name: ProxyName,
    rt: Runtime,
    db_instance: DbInstance = None,
    db_cluster: DbCluster = None,
    dry_run: DryRun = False,
    wait: WaitOff = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Deregister a DB instance or cluster from the proxy (nothing if not a target).

    Examples:

      rdsproxyctl targets remove demo --db-instance db1
    """
    from rdsproxyctl.core import lifecycle

    options = wait_options(timeout)

    plan = lifecycle.targets_plan(rt.aws, name, add=False, instance=db_instance,
                                  cluster=db_cluster)
    run_plan(rt, plan, dry_run=dry_run, wait=wait, options=options)
