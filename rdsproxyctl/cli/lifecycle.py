"""Create and change proxies: ``create``, ``apply``, ``modify``, ``pool``, ``delete``.

The rest of issue 4's commands live in cli/iam.py, cli/endpoints.py and cli/targets.py
(COMMANDS in cli/app.py maps each top-level command to its module).  Every command
here builds a plan in core (rdsproxyctl.core.lifecycle) and hands it to
cli/plans.run_plan.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.options import AUTH_PANEL, NET_PANEL, PLAN_PANEL
from rdsproxyctl.cli.plans import run_plan, wait_options
from rdsproxyctl.cli.runtime import Runtime, command

ProxyName = o.ProxyName


def register(app: typer.Typer) -> None:
    command(app, "create")(create_cmd)
    command(app, "apply")(apply_cmd)
    command(app, "modify")(modify_cmd)
    command(app, "pool")(pool_cmd)
    command(app, "delete")(delete_cmd)


def _whole(seconds: float | None) -> int | None:
    """A duration option as the whole seconds the API takes."""
    return None if seconds is None else int(seconds)


def _pool_spec(max_conns: int | None, max_idle: int | None, borrow: float | None,
               init_query: str | None, pinning: list[str] | None):  # noqa: ANN202
    from rdsproxyctl.core.spec import PoolSpec
    from rdsproxyctl.core.validate import split_list

    return PoolSpec(max_connections_percent=max_conns, max_idle_connections_percent=max_idle,
                    connection_borrow_timeout=_whole(borrow), init_query=init_query,
                    session_pinning_filters=split_list(pinning) if pinning else None)


def create_cmd(
    name: ProxyName,
    rt: Runtime,
    engine: Annotated[str, o.option("--engine")] = "postgresql",
    secret: o.Secrets = None,
    role: o.Role = None,
    create_role: Annotated[bool, o.option("--create-role", rich_help_panel=AUTH_PANEL)] = False,
    role_name: Annotated[Optional[str], o.option("--role-name",
                                                 rich_help_panel=AUTH_PANEL)] = None,
    iam_auth: Annotated[str, o.option("--iam-auth", rich_help_panel=AUTH_PANEL)] = "disabled",
    client_password_auth_type: o.ClientPasswordAuthType = None,
    end_to_end_iam: Annotated[bool, o.option("--end-to-end-iam",
                                             rich_help_panel=AUTH_PANEL)] = False,
    subnets: Annotated[Optional[list[str]], o.option(
        "--subnets", "Two or more, in different Availability Zones.",
        rich_help_panel=NET_PANEL)] = None,
    security_groups: o.SecurityGroups = None,
    require_tls: Annotated[bool, o.option("--require-tls")] = True,
    idle_client_timeout: o.IdleClientTimeout = None,
    debug_logging: Annotated[bool, o.option("--debug-logging")] = False,
    tag: o.Tags = None,
    db_instance: Annotated[Optional[str], o.option(
        "--db-instance", "Registered as the target.")] = None,
    db_cluster: Annotated[Optional[str], o.option(
        "--db-cluster", "Registered as the target.")] = None,
    max_connections_percent: o.MaxConnectionsPercent = None,
    max_idle_connections_percent: o.MaxIdleConnectionsPercent = None,
    borrow_timeout: o.BorrowTimeout = None,
    init_query: o.InitQuery = None,
    session_pinning_filter: o.SessionPinningFilter = None,
    if_not_exists: o.IfNotExists = False,
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Create a proxy, optionally its IAM role, its pool settings and its target.

    Everything is checked before the first change: the name, ranges, auth types
    against the engine, subnets in two Availability Zones, the secrets and the
    target database.  Then the plan runs and the command waits until the proxy is
    available and its target has registered.

    Examples:

      rdsproxyctl create demo --engine postgresql --secret arn:aws:secretsmanager:...:secret:app \\
          --create-role --subnets subnet-a,subnet-b --db-instance db1 --max-connections-percent 75

      rdsproxyctl create demo --secret ARN --role ARN --subnets subnet-a,subnet-b --dry-run -o json

      rdsproxyctl create demo --secret ARN --role ARN --subnets A,B --if-not-exists --no-wait
    """
    from rdsproxyctl.core import lifecycle
    from rdsproxyctl.core import validate as v
    from rdsproxyctl.core.spec import AuthSpec, ProxySpec, TargetSpec

    options = wait_options(timeout)

    secrets = v.split_list(secret)
    spec = ProxySpec(
        name=name, engine_family=engine, role_arn=role,
        vpc_subnet_ids=v.split_list(subnets),
        vpc_security_group_ids=v.split_list(security_groups) or None,
        require_tls=require_tls, idle_client_timeout=_whole(idle_client_timeout),
        debug_logging=debug_logging or None,
        default_auth_scheme="IAM_AUTH" if end_to_end_iam else None,
        auth=[AuthSpec(secret_arn=arn, iam_auth=iam_auth,
                       client_password_auth_type=client_password_auth_type)
              for arn in secrets],
        tags=v.parse_tags(tag) or None,
        pool=_pool_spec(max_connections_percent, max_idle_connections_percent, borrow_timeout,
                        init_query, session_pinning_filter),
    )
    if db_instance or db_cluster:
        if db_instance and db_cluster:
            from rdsproxyctl.errors import UsageError

            raise UsageError("pass one of --db-instance and --db-cluster, not both")
        spec.targets = [TargetSpec(db_instance, db_cluster)]
    if not secrets and client_password_auth_type:
        v.check_password_auth_type(client_password_auth_type, v.check_engine(engine))
    if not secrets:
        v.check_iam_auth(iam_auth, v.check_engine(engine))
    role_request = None
    if create_role:
        from rdsproxyctl.core.iam import default_role_name

        v.check_name(name)
        role_request = lifecycle.RoleRequest(role_name or default_role_name(name))
    elif role_name:
        from rdsproxyctl.errors import UsageError

        raise UsageError("--role-name goes with --create-role")
    plan = lifecycle.create_plan(rt.aws, spec, create_role=role_request,
                                 if_not_exists=if_not_exists)
    run_plan(rt, plan, dry_run=dry_run, yes=yes, wait=wait, options=options)


def apply_cmd(
    spec_file: Annotated[str, typer.Argument(
        metavar="SPEC.toml", help="The spec file (see docs/apply.md).", show_default=False)],
    rt: Runtime,
    prune: Annotated[bool, o.option("--prune", rich_help_panel=PLAN_PANEL)] = False,
    detailed_exitcode: Annotated[bool, o.option("--detailed-exitcode",
                                                rich_help_panel=PLAN_PANEL)] = False,
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Make a proxy match a TOML spec: create what is missing, change what differs.

    The spec says what Terraform's aws_db_proxy, aws_db_proxy_default_target_group,
    aws_db_proxy_target and aws_db_proxy_endpoint say (same attribute names).  The
    plan is printed as a diff of fields; running it again prints "no changes" and
    makes no change.  Tables left out of the spec are left as they are; endpoints,
    targets and auth entries the spec does not name are removed only with --prune
    (and, like anything that weakens TLS or authentication, only with consent).

    Examples:

      rdsproxyctl apply proxy.toml --dry-run

      rdsproxyctl apply proxy.toml --dry-run --detailed-exitcode   # 2: drift

      rdsproxyctl apply proxy.toml --prune --yes

      rdsproxyctl apply proxy.toml --dry-run -o json | jq '.changes'
    """
    from rdsproxyctl.core import lifecycle
    from rdsproxyctl.core.spec import load_spec
    from rdsproxyctl.errors import ExitCode, UsageError

    options = wait_options(timeout)
    if detailed_exitcode and not dry_run:
        raise UsageError("--detailed-exitcode goes with --dry-run",
                         hint="`rdsproxyctl apply SPEC --dry-run --detailed-exitcode` exits 2 "
                         "when the proxy differs from the spec")

    spec = load_spec(spec_file)
    outcome = run_plan(rt, lifecycle.apply_plan(rt.aws, spec, prune=prune), dry_run=dry_run,
                       yes=yes, wait=wait, options=options)
    if detailed_exitcode and not outcome.plan.no_changes:
        raise typer.Exit(ExitCode.USAGE)


def modify_cmd(
    name: ProxyName,
    rt: Runtime,
    require_tls: o.RequireTls = None,
    idle_client_timeout: o.IdleClientTimeout = None,
    debug_logging: o.DebugLogging = None,
    new_name: Annotated[Optional[str], o.option("--new-name")] = None,
    role: o.Role = None,
    security_groups: Annotated[Optional[list[str]], o.option(
        "--security-groups", "They replace the current ones.", rich_help_panel=NET_PANEL)] = None,
    add_secret: Annotated[Optional[list[str]], o.option(
        "--add-secret", rich_help_panel=AUTH_PANEL)] = None,
    remove_secret: Annotated[Optional[list[str]], o.option(
        "--remove-secret", rich_help_panel=AUTH_PANEL)] = None,
    iam_auth: o.IamAuth = None,
    client_password_auth_type: o.ClientPasswordAuthType = None,
    end_to_end_iam: o.EndToEndIam = None,
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Change a proxy's settings: TLS, idle timeout, debug logging, name, auth entries.

    Only what you pass changes; the plan shows each field's old and new value.

    Examples:

      rdsproxyctl modify demo --require-tls --idle-client-timeout 15m

      rdsproxyctl modify demo --add-secret arn:aws:secretsmanager:...:secret:reporting --dry-run

      rdsproxyctl modify demo --new-name demo-blue --no-wait
    """
    from rdsproxyctl.core import lifecycle
    from rdsproxyctl.core.validate import split_list

    options = wait_options(timeout)

    req = lifecycle.ModifyRequest(
        require_tls=require_tls, idle_client_timeout=_whole(idle_client_timeout),
        debug_logging=debug_logging, new_name=new_name, role_arn=role,
        security_groups=split_list(security_groups) if security_groups else None,
        end_to_end_iam=end_to_end_iam, add_secrets=split_list(add_secret),
        remove_secrets=split_list(remove_secret), iam_auth=iam_auth,
        client_password_auth_type=client_password_auth_type)
    run_plan(rt, lifecycle.modify_plan(rt.aws, name, req), dry_run=dry_run, yes=yes, wait=wait,
             options=options)


def pool_cmd(
    name: ProxyName,
    rt: Runtime,
    max_connections_percent: o.MaxConnectionsPercent = None,
    max_idle_connections_percent: o.MaxIdleConnectionsPercent = None,
    borrow_timeout: o.BorrowTimeout = None,
    init_query: o.InitQuery = None,
    session_pinning_filter: o.SessionPinningFilter = None,
    yes: o.Yes = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Change the connection pool of a proxy's target group; shows old and new values.

    Examples:

      rdsproxyctl pool demo --max-connections-percent 75 --max-idle-connections-percent 25

      rdsproxyctl pool demo --borrow-timeout 30s --dry-run

      rdsproxyctl pool demo --init-query ''
    """
    from rdsproxyctl.core import lifecycle

    options = wait_options(timeout)

    pool = _pool_spec(max_connections_percent, max_idle_connections_percent, borrow_timeout,
                      init_query, session_pinning_filter)
    run_plan(rt, lifecycle.pool_plan(rt.aws, name, pool), dry_run=dry_run, yes=yes, wait=wait,
             options=options)


def delete_cmd(
    name: ProxyName,
    rt: Runtime,
    yes: o.Yes = False,
    if_exists: o.IfExists = False,
    dry_run: o.DryRun = False,
    wait: o.Wait = True,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Delete a proxy with its endpoints and target group (the databases stay).

    Asks for confirmation on a terminal; from a script, pass --yes.  The IAM role
    and the secrets are left as they are.

    Examples:

      rdsproxyctl delete demo

      rdsproxyctl delete demo --yes --no-wait

      rdsproxyctl delete demo --yes --if-exists
    """
    from rdsproxyctl.core import lifecycle

    options = wait_options(timeout)

    plan = lifecycle.delete_plan(rt.aws, name, if_exists=if_exists)
    run_plan(rt, plan, dry_run=dry_run, yes=yes, wait=wait, options=options,
             question=f"Delete proxy {name} in {rt.aws.region}?")
