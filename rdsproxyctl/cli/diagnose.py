"""``rdsproxyctl diagnose``: every check of a proxy in one report."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional

import typer

from rdsproxyctl.cli.output import Column, Table, View
from rdsproxyctl.cli.runtime import Runtime, command
from rdsproxyctl.core.models import to_jsonable
from rdsproxyctl.errors import ExitCode, ExitWith, UsageError


class FailOn(str, Enum):
    warn = "warn"
    fail = "fail"


def register(app: typer.Typer) -> None:
    command(app, "diagnose")(diagnose_cmd)


COLUMNS = [Column("area", "AREA"), Column("status", "STATUS", styled=True),
           Column("id", "CHECK"), Column("title", "FINDING"), Column("remedy", "REMEDY")]


def report_view(reports: list[Any], single: bool) -> View:
    data = to_jsonable(reports)
    sections = []
    for report in data:
        counts = ", ".join(f"{n} {s}" for s, n in report["counts"].items() if n)
        sections.append(Table(COLUMNS, report["findings"],
                              title=f"{report['proxy']} ({report['region']}): {report['worst']} "
                                    f"- {counts}"))
    return View(data[0] if single else data, sections)


def checks_view() -> View:
    from rdsproxyctl.core.diagnose import REGISTRY

    rows = [{"id": d.id, "area": d.area, "title": d.title, "link": d.link}
            for d in REGISTRY.values()]
    return View(rows, [Table([Column("id", "CHECK"), Column("area", "AREA"),
                              Column("title", "TITLE")], rows)])


def diagnose_cmd(
    rt: Runtime,
    name: Annotated[Optional[str], typer.Argument(
        help="The proxy's name (or --all).", show_default=False)] = None,
    all_proxies: Annotated[bool, typer.Option(
        "--all", help="Every proxy in the region, concurrently.")] = False,
    user: Annotated[Optional[str], typer.Option(
        "--user", "-u", help="Database user for the client-permission check and --connect.",
        show_default=False)] = None,
    principal: Annotated[Optional[str], typer.Option(
        "--principal", help="IAM user/role ARN whose rds-db:connect permission to check "
        "(default: the caller).", show_default=False)] = None,
    connect: Annotated[bool, typer.Option(
        "--connect", help="Also connect through the proxy (the connect smoke test).")] = False,
    since: Annotated[str, typer.Option(
        "--since", help="How far back the log checks look: 15m, 2h, 1d.")] = "1h",
    checks: Annotated[Optional[list[str]], typer.Option(
        "--check", help="Run only this check (repeatable).", show_default=False)] = None,
    skips: Annotated[Optional[list[str]], typer.Option(
        "--skip", help="Skip this check (repeatable).", show_default=False)] = None,
    fail_on: Annotated[FailOn, typer.Option(
        "--fail-on", help="Exit 1 when a finding reaches this status.")] = FailOn.fail,
    list_checks: Annotated[bool, typer.Option(
        "--list-checks", help="List the check ids and exit.")] = False,
) -> None:
    """Check everything about a proxy: status, TLS, secrets, role, client permission, network,
    targets, pool, recent logs (and, with --connect, a real connection).

    Each finding is PASS, WARN, FAIL or SKIP (a check the caller lacks a permission for names
    the missing action), with its evidence, a remedy to paste, and the AWS page. Exit 0 when
    nothing reaches --fail-on (default fail), 1 otherwise.

    Examples:

      rdsproxyctl diagnose my-proxy --user app

      rdsproxyctl diagnose my-proxy --user app --connect -o markdown > incident.md

      rdsproxyctl diagnose --all --fail-on warn -o json
    """
    from rdsproxyctl.core import diagnose as core

    if list_checks:
        rt.renderer.emit(checks_view())
        return
    if bool(name) == bool(all_proxies):
        raise UsageError("give a proxy NAME or --all")
    options = core.Options(user=user, principal=principal, connect=connect, since=since,
                           checks=tuple(checks or ()), skips=tuple(skips or ()))
    reports = core.run(rt.aws, name, options, all_proxies=all_proxies)
    rt.renderer.emit(report_view(reports, single=not all_proxies))
    threshold = core.SEVERITY[core.WARN if fail_on is FailOn.warn else core.FAIL]
    failing = [f for r in reports for f in r.findings if core.SEVERITY[f.status] >= threshold]
    if failing:
        ids = sorted({f.id for f in failing})
        raise ExitWith(f"{len(failing)} finding(s) at or above {fail_on.value.upper()}: "
                       + ", ".join(ids), ExitCode.CHECK_FAILED)
