"""``iam enable|disable|status|policy``: IAM authentication of a proxy's clients."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.groups import HelpGroup
from rdsproxyctl.cli.output import Fields, Table, View
from rdsproxyctl.cli.plans import require_consent, run_plan, wait_options
from rdsproxyctl.cli.runtime import Runtime, command

ProxyName = o.ProxyName

iam_app = typer.Typer(
    cls=HelpGroup,
    no_args_is_help=True,
    help="IAM authentication of a proxy's clients: enable, disable, status, policy.",
)


def register(app: typer.Typer) -> None:
    command(iam_app, "enable")(enable_cmd)
    command(iam_app, "disable")(disable_cmd)
    command(iam_app, "status")(status_cmd)
    command(iam_app, "policy")(policy_cmd)
    app.add_typer(iam_app, name="iam")


def enable_cmd(
    name: ProxyName,
    rt: Runtime,
    mode: Annotated[str, o.option("--mode")] = "required",
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Require IAM authentication on every auth entry (IAMAuth REQUIRED).

    Shows each entry's IAMAuth before and after.  IAM authentication needs TLS: a
    proxy that does not require TLS gets a warning.  Clients that use passwords are
    refused once IAM is required: asks for confirmation on a terminal (--yes otherwise).

    Examples:

      rdsproxyctl iam enable demo --yes

      rdsproxyctl iam enable demo --dry-run -o json
    """
    from rdsproxyctl.core import lifecycle

    options = wait_options(timeout)

    run_plan(rt, lifecycle.iam_plan(rt.aws, name, enable=True, mode=mode), dry_run=dry_run,
             yes=yes, wait=wait, options=options)


def disable_cmd(
    name: ProxyName,
    rt: Runtime,
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Turn IAM authentication off on every auth entry (IAMAuth DISABLED).

    This weakens authentication: asks for confirmation on a terminal (--yes otherwise).

    Examples:

      rdsproxyctl iam disable demo --yes
    """
    from rdsproxyctl.core import lifecycle

    options = wait_options(timeout)

    run_plan(rt, lifecycle.iam_plan(rt.aws, name, enable=False), dry_run=dry_run, yes=yes,
             wait=wait, options=options)


def status_view(status: object) -> View:
    from rdsproxyctl.cli.proxies import AUTH_COLUMNS
    from rdsproxyctl.core.models import to_jsonable

    data = to_jsonable(status)
    return View(data, [
        Fields(title=f"IAM authentication of {data['proxy']}", pairs=[
            ("engine family", data["engine_family"]),
            ("IAM auth", data["iam_auth"]),
            ("require TLS", data["require_tls"]),
            ("default auth scheme", data["default_auth_scheme"]),
        ]),
        Table(AUTH_COLUMNS, data["auth"], title="Auth entries", empty="no auth entries"),
    ])


def status_cmd(name: ProxyName, rt: Runtime) -> None:
    """Show IAMAuth on each auth entry, RequireTLS and the default auth scheme.

    Examples:

      rdsproxyctl iam status demo

      rdsproxyctl iam status demo -o json | jq -r '.auth[].iam_auth'
    """
    from rdsproxyctl.core import lifecycle

    rt.renderer.emit(status_view(lifecycle.iam_status(rt.aws, name)))


def policy_cmd(
    name: ProxyName,
    rt: Runtime,
    db_user: Annotated[Optional[list[str]], o.option(
        "--user", "To allow (* for any). Repeatable.", envvar=None)] = None,
    attach_to_role: Annotated[Optional[str], o.option("--attach-to-role")] = None,
    attach_to_user: Annotated[Optional[str], o.option("--attach-to-user")] = None,
    policy_name: Annotated[Optional[str], o.option("--policy-name")] = None,
    replace: Annotated[bool, o.option("--replace")] = False,
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
) -> None:
    """Print the rds-db:connect policy that lets a principal connect through the proxy.

    The resource is arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-ID/USER, with the prx-
    id of the proxy (not of the database).  The policy JSON goes to stdout; with
    --attach-to-role or --attach-to-user it is also attached as an inline policy.
    An existing inline policy of that name is read first: the statement is added to
    it (its other statements stay), or with --replace the whole policy is replaced.

    Examples:

      rdsproxyctl iam policy demo --user app > connect-policy.json

      rdsproxyctl iam policy demo --user app --attach-to-role app-task-role

      rdsproxyctl iam policy demo --user '*' --attach-to-user ci --dry-run
    """
    from rdsproxyctl.core import lifecycle

    document = lifecycle.connect_policy(rt.aws, name, list(db_user or []))
    if not (attach_to_role or attach_to_user):
        if policy_name or dry_run or replace:
            from rdsproxyctl.errors import UsageError

            raise UsageError("--policy-name, --replace and --dry-run go with --attach-to-role "
                             "or --attach-to-user")
        rt.renderer.write_json(document)
        return
    plan, stored = lifecycle.attach_policy_plan(
        rt.aws, name, document, role=attach_to_role, user=attach_to_user,
        policy_name=policy_name, replace=replace)
    if dry_run:
        run_plan(rt, plan, dry_run=True)
        return
    from rdsproxyctl.core.plan import execute

    for warning in plan.warnings:
        rt.renderer.warn(warning)
    if plan.no_changes:
        rt.renderer.write_json(stored)
        return
    require_consent(rt, plan, yes=yes)
    execute(rt.aws, plan, wait=False)
    rt.renderer.write_json(stored)
    rt.renderer.success(plan.calls[0].description)
