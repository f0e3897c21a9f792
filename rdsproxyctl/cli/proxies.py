"""Read-only commands: ``list``, ``show`` and ``targets``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rdsproxyctl.cli.output import Column, Fields, Table, View
from rdsproxyctl.cli.runtime import Runtime, command
from rdsproxyctl.core import proxies as core
from rdsproxyctl.core.models import to_jsonable

ProxyName = Annotated[str, typer.Argument(help="The proxy's name (DBProxyName).",
                                          show_default=False)]

LIST_COLUMNS = [
    Column("name", "NAME"),
    Column("engine_family", "ENGINE", optional=True),
    Column("status", "STATUS", styled=True),
    Column("require_tls", "TLS", optional=True),
    Column("iam_auth", "IAM AUTH", styled=True),
    Column("idle_client_timeout", "IDLE TIMEOUT", optional=True),
    Column("target_health", "TARGETS", styled=True),
    Column("endpoint", "ENDPOINT"),
]

TARGET_COLUMNS = [
    Column("rds_resource_id", "RESOURCE"),
    Column("type", "TYPE", optional=True),
    Column("role", "ROLE", optional=True),
    Column("endpoint", "ENDPOINT"),
    Column("port", "PORT", optional=True),
    Column("health.state", "STATE", styled=True),
    Column("health.reason", "REASON"),
    Column("health.description", "DESCRIPTION", optional=True),
]

AUTH_COLUMNS = [
    Column("secret_arn", "SECRET"),
    Column("iam_auth", "IAM AUTH", styled=True),
    Column("client_password_auth_type", "CLIENT PASSWORD AUTH"),
    Column("auth_scheme", "SCHEME", optional=True),
    Column("description", "DESCRIPTION", optional=True),
]

ENDPOINT_COLUMNS = [
    Column("name", "NAME"),
    Column("target_role", "ROLE"),
    Column("status", "STATUS", styled=True),
    Column("endpoint", "ENDPOINT"),
    Column("vpc_id", "VPC", optional=True),
    Column("subnet_ids", "SUBNETS", optional=True),
    Column("security_group_ids", "SECURITY GROUPS", optional=True),
]


def list_view(summaries: list[Any]) -> View:
    data = to_jsonable(summaries)
    return View(data, [Table(LIST_COLUMNS, data, empty="no proxies in this region")])


def targets_view(targets: list[Any]) -> View:
    data = to_jsonable(targets)
    return View(data, [Table(TARGET_COLUMNS, data, title="Targets", empty="no targets registered")])


def show_view(details: Any) -> View:
    data = to_jsonable(details)
    p = data["proxy"]
    pool = (data["target_group"] or {}).get("pool") or {}
    sections: list[Any] = [
        Fields(title=f"Proxy {p['name']}", pairs=[
            ("status", p["status"]),
            ("engine family", p["engine_family"]),
            ("endpoint", p["endpoint"]),
            ("port", p["port"]),
            ("arn", p["arn"]),
            ("resource id", p["resource_id"]),
            ("region", p["region"]),
            ("role", p["role_arn"]),
            ("vpc", p["vpc_id"]),
            ("subnets", p["subnet_ids"]),
            ("security groups", p["security_group_ids"]),
            ("require TLS", p["require_tls"]),
            ("IAM auth", p["iam_auth"]),
            ("default auth scheme", p["default_auth_scheme"]),
            ("idle client timeout", p["idle_client_timeout"]),
            ("debug logging", p["debug_logging"]),
            ("log group", p["log_group"]),
            ("created", p["created_date"]),
        ]),
        Table(AUTH_COLUMNS, p["auth"], title="Auth", empty="no auth entries"),
        Fields(title="Target group (connection pool)", pairs=[
            ("max connections %", pool.get("max_connections_percent")),
            ("max idle connections %", pool.get("max_idle_connections_percent")),
            ("borrow timeout (s)", pool.get("connection_borrow_timeout")),
            ("session pinning filters", pool.get("session_pinning_filters")),
            ("init query", pool.get("init_query")),
        ]),
        Table(TARGET_COLUMNS, data["targets"], title="Targets", empty="no targets registered"),
        Table(ENDPOINT_COLUMNS, [e for e in data["endpoints"] if not e["is_default"]],
              title="Extra endpoints", empty="no extra endpoints"),
        Fields(title="Tags", pairs=sorted(data["tags"].items()) or [("(none)", "")]),
    ]
    return View(data, sections)


def register(app: typer.Typer) -> None:
    command(app, "list")(list_cmd)
    command(app, "show")(show_cmd)


def list_cmd(rt: Runtime) -> None:
    """List every proxy in the region with its status, TLS, IAM auth and target health.

    Examples:

      rdsproxyctl list

      rdsproxyctl list -o json | jq -r '.[] | select(.targets_available < .targets_total) | .name'
    """
    rt.renderer.emit(list_view(core.list_summaries(rt.aws)))


def show_cmd(name: ProxyName, rt: Runtime) -> None:
    """Show a proxy: settings, auth entries, pool, targets, endpoints, tags, log group.

    Examples:

      rdsproxyctl show my-proxy

      rdsproxyctl show my-proxy -o json | jq .target_group.pool

      rdsproxyctl show my-proxy -o tsv | awk -F'\\t' '$1=="proxy.status" {print $2}'
    """
    details = core.describe(rt.aws, name)
    for warning in details.warnings:
        rt.renderer.warn(warning)
    rt.renderer.emit(show_view(details))
