"""``endpoints list|create|delete``: a proxy's extra endpoints (read-write or read-only)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.groups import group_with_default
from rdsproxyctl.cli.output import Table, View
from rdsproxyctl.cli.plans import run_plan, wait_options
from rdsproxyctl.cli.runtime import Runtime, command

ProxyName = o.ProxyName
EndpointName = o.EndpointName

endpoints_app = group_with_default(
    "list",
    help="A proxy's endpoints.  `endpoints NAME` is `endpoints list NAME`.",
)


def register(app: typer.Typer) -> None:
    command(endpoints_app, "list")(list_cmd)
    command(endpoints_app, "create")(create_cmd)
    command(endpoints_app, "delete")(delete_cmd)
    app.add_typer(endpoints_app, name="endpoints")


def list_cmd(name: ProxyName, rt: Runtime) -> None:
    """List a proxy's endpoints, the default one included.

    Examples:

      rdsproxyctl endpoints demo

      rdsproxyctl endpoints list demo -o json | jq -r '.[] | select(.target_role=="READ_ONLY").endpoint'
    """
    from rdsproxyctl.cli.output import Column
    from rdsproxyctl.cli.proxies import ENDPOINT_COLUMNS
    from rdsproxyctl.core import lifecycle
    from rdsproxyctl.core.models import to_jsonable

    data = to_jsonable(lifecycle.list_endpoints(rt.aws, name))
    columns = [*ENDPOINT_COLUMNS, Column("is_default", "DEFAULT")]
    rt.renderer.emit(View(data, [Table(columns, data, empty="no endpoints")]))


def create_cmd(
    name: ProxyName,
    endpoint: EndpointName,
    rt: Runtime,
    role: Annotated[str, o.option("--target-role")] = "read-write",
    subnets: Annotated[Optional[list[str]], o.option(
        "--subnets", "Default: the proxy's; they may be in another VPC.")] = None,
    security_groups: o.SecurityGroups = None,
    tag: o.Tags = None,
    if_not_exists: o.IfNotExists = False,
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Create an extra endpoint for a proxy, with its own subnets and security groups.

    Examples:

      rdsproxyctl endpoints create demo demo-ro --target-role read-only

      rdsproxyctl endpoints create demo demo-other-vpc --subnets subnet-x,subnet-y \\
          --security-groups sg-1 --no-wait
    """
    from rdsproxyctl.core import lifecycle
    from rdsproxyctl.core import validate as v

    options = wait_options(timeout)

    plan = lifecycle.endpoint_create_plan(
        rt.aws, name, endpoint, role=role, subnets=v.split_list(subnets) or None,
        security_groups=v.split_list(security_groups) or None, tags=v.parse_tags(tag),
        if_not_exists=if_not_exists)
    run_plan(rt, plan, dry_run=dry_run, yes=yes, wait=wait, options=options)


def delete_cmd(
    name: ProxyName,
    endpoint: EndpointName,
    rt: Runtime,
    yes: o.Yes = False,
    if_exists: o.IfExists = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Delete one of a proxy's extra endpoints.

    Examples:

      rdsproxyctl endpoints delete demo demo-ro --yes
    """
    from rdsproxyctl.core import lifecycle

    options = wait_options(timeout)

    plan = lifecycle.endpoint_delete_plan(rt.aws, name, endpoint, if_exists=if_exists)
    run_plan(rt, plan, dry_run=dry_run, yes=yes, wait=wait, options=options,
             question=f"Delete endpoint {endpoint} of proxy {name}?")
