"""``endpoints list|create|delete``: a proxy's extra endpoints (read-write or read-only)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl.cli.groups import group_with_default
from rdsproxyctl.cli.output import Table, View
from rdsproxyctl.cli.plans import (
    DEFAULT_TIMEOUT,
    DryRun,
    Timeout,
    WaitOff,
    Yes,
    run_plan,
    wait_options,
)
from rdsproxyctl.cli.runtime import Runtime, command

ProxyName = Annotated[str, typer.Argument(help="The proxy's name (DBProxyName).",
                                          show_default=False)]
EndpointName = Annotated[str, typer.Argument(help="The endpoint's name (DBProxyEndpointName).",
                                             show_default=False)]

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
    role: Annotated[str, typer.Option(
        "--role", help="read-write, or read-only (Aurora clusters with readers).")] = "read-write",
    subnets: Annotated[Optional[list[str]], typer.Option(
        "--subnets", help="Subnet ids, comma-separated or repeated (default: the proxy's); "
        "they may be in another VPC.", show_default=False)] = None,
    security_groups: Annotated[Optional[list[str]], typer.Option(
        "--security-groups", help="Security group ids (default: the VPC's default group).",
        show_default=False)] = None,
    tag: Annotated[Optional[list[str]], typer.Option(
        "--tag", help="KEY=VALUE. Repeatable.", show_default=False)] = None,
    if_not_exists: Annotated[bool, typer.Option(
        "--if-not-exists", help="Succeed without change when the endpoint exists.")] = False,
    yes: Yes = False,
    dry_run: DryRun = False,
    wait: WaitOff = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> None:
    """Create an extra endpoint for a proxy, with its own subnets and security groups.

    Examples:

      rdsproxyctl endpoints create demo demo-ro --role read-only

      rdsproxyctl endpoints create demo demo-other-vpc --subnets subnet-x,subnet-y \\
          --security-groups sg-1 --wait
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
    yes: Yes = False,
    if_exists: Annotated[bool, typer.Option(
        "--if-exists", help="Succeed without change when the endpoint does not exist.")] = False,
    dry_run: DryRun = False,
    wait: WaitOff = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
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
