"""``rdsproxyctl diagnose``: every check of a proxy in one report."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.output import Column, Table, View
from rdsproxyctl.cli.runtime import Runtime, command
from rdsproxyctl.core.models import to_jsonable
from rdsproxyctl.errors import ExitCode, ExitWith, UsageError


def register(app: typer.Typer) -> None:
    command(app, "diagnose")(diagnose_cmd)


COLUMNS = [Column("proxy", "PROXY"), Column("area", "AREA", optional=True),
           Column("status", "STATUS", styled=True), Column("id", "CHECK"),
           Column("title", "FINDING"), Column("note", "NOTE"), Column("remedy", "REMEDY")]


def _note(finding: dict[str, Any]) -> str | None:
    """Why a check was skipped (the table shows it, not only JSON)."""
    if finding["status"] != "SKIP":
        return None
    evidence = finding.get("evidence") or {}
    if evidence.get("missing_action"):
        return f"skipped: no permission for {evidence['missing_action']}"
    reason = evidence.get("reason") or evidence.get("error")
    return f"skipped: {reason}" if reason else "skipped"


def report_view(reports: list[Any], single: bool = False) -> View:
    """One row per finding, with its proxy: the same shape for one proxy and for --all
    (JSON: an array with an object per proxy, in both cases)."""
    data = to_jsonable(reports)
    rows = [{"proxy": r["proxy"], **f, "note": _note(f)} for r in data for f in r["findings"]]
    summaries = []
    for report in data:
        counts = ", ".join(f"{n} {s}" for s, n in report["counts"].items() if n)
        summaries.append(f"{report['proxy']} ({report['region']}): {report['worst']} - {counts}")
    return View(data, [Table(COLUMNS, rows, title="; ".join(summaries), empty="no findings")])


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
    all_proxies: Annotated[bool, o.option("--all", "Checked concurrently.")] = False,
    user: Annotated[Optional[str], o.option(
        "--user", "For the client-permission check and --connect.")] = None,
    principal: Annotated[Optional[str], o.option("--principal")] = None,
    connect: Annotated[bool, o.option("--connect")] = False,
    since: Annotated[str, o.option("--since", "How far back the log checks look.")] = "1h",
    checks: Annotated[Optional[list[str]], o.option("--check")] = None,
    skips: Annotated[Optional[list[str]], o.option("--skip")] = None,
    fail_on: o.FailOn = "fail",
    list_checks: Annotated[bool, o.option("--list-checks")] = False,
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
    rt.renderer.emit(report_view(reports))
    level = o.fail_threshold(fail_on)
    if level is None:
        return
    threshold = core.SEVERITY[core.WARN if level == "warn" else core.FAIL]
    failing = {r.proxy: sorted({f.id for f in r.findings if core.SEVERITY[f.status] >= threshold})
               for r in reports}
    failing = {proxy: ids for proxy, ids in failing.items() if ids}
    if failing:
        count = sum(len(ids) for ids in failing.values())
        raise ExitWith(f"{count} check(s) at or above {level.upper()}: "
                       + "; ".join(f"{proxy}: {', '.join(ids)}" for proxy, ids in failing.items()),
                       ExitCode.CHECK_FAILED)
