"""``targets [list] NAME``, ``targets add|remove``: a proxy's databases and their health."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.groups import group_with_default
from rdsproxyctl.cli.plans import run_plan, wait_options
from rdsproxyctl.cli.runtime import Runtime, command

ProxyName = o.ProxyName


def register(app: typer.Typer) -> None:
    group = group_with_default(
        "list",
        help="Targets of a proxy and their health.  `targets NAME` is `targets list NAME`.",
    )
    command(group, "list")(list_cmd)
    command(group, "add")(add_cmd)
    command(group, "remove")(remove_cmd)
    app.add_typer(group, name="targets")


def list_cmd(name: ProxyName, rt: Runtime) -> None:
    """List a proxy's targets and their health (state, reason, description).

    Examples:

      rdsproxyctl targets my-proxy

      rdsproxyctl targets my-proxy -o tsv | cut -f1,6
    """
    from rdsproxyctl.cli.proxies import targets_view
    from rdsproxyctl.core import proxies

    rt.renderer.emit(targets_view(proxies.get_targets(rt.aws, name)))


def add_cmd(
    name: ProxyName,
    rt: Runtime,
    db_instance: o.DbInstance = None,
    db_cluster: o.DbCluster = None,
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Register a DB instance or cluster as the proxy's target (nothing if already there).

    Examples:

      rdsproxyctl targets add demo --db-instance db1

      rdsproxyctl targets add demo --db-cluster aurora-1 --dry-run
    """
    _change(rt, name, True, db_instance, db_cluster, dry_run, wait, timeout, yes)


def remove_cmd(
    name: ProxyName,
    rt: Runtime,
    db_instance: o.DbInstance = None,
    db_cluster: o.DbCluster = None,
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Deregister a DB instance or cluster from the proxy (nothing if not a target).

    Asks for confirmation on a terminal; from a script, pass --yes.

    Examples:

      rdsproxyctl targets remove demo --db-instance db1 --yes
    """
    _change(rt, name, False, db_instance, db_cluster, dry_run, wait, timeout, yes)


def _change(rt: Runtime, name: str, add: bool, db_instance: str | None, db_cluster: str | None,
            dry_run: bool, wait: bool, timeout: float, yes: bool) -> None:
    from rdsproxyctl.core import lifecycle

    options = wait_options(timeout)
    plan = lifecycle.targets_plan(rt.aws, name, add=add, instance=db_instance,
                                  cluster=db_cluster)
    run_plan(rt, plan, dry_run=dry_run, yes=yes, wait=wait, options=options)
