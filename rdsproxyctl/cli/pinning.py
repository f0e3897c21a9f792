"""``pinning``: what pins the proxy's sessions, and the fix for each cause."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.output import Column, Fields, Table, View
from rdsproxyctl.cli.runtime import Runtime, command
from rdsproxyctl.errors import CheckFailed

if TYPE_CHECKING:  # pragma: no cover
    from rdsproxyctl.core.pinning import PinningReport



def register(app: typer.Typer) -> None:
    command(app, "pinning")(pinning_cmd)


def pinning_view(report: PinningReport) -> View:
    from rdsproxyctl.core.models import to_jsonable

    data = to_jsonable(report)
    share = data["pinned_share"]
    about = [
        ("proxy", data["proxy"]), ("file", data["file"]),
        ("window", f"{data['since']} .. {data['until'] or 'now'}" if data["since"] else None),
        ("debug logging", None if data["debug_logging"] is None
         else "on" if data["debug_logging"] else "off (no pin lines are written)"),
        ("pin events", data["pin_events"]),
        ("pinned sessions", f"{data['pinned_sessions']} of {data['client_sessions']} client "
         f"session(s)" + (f" ({share:.0%})" if share is not None else "")),
        ("peak pinned connections (metrics)", data["pinned_connections_peak"]),
        ("result", data["status"]),
    ]
    # digests and reasons come from log lines: the renderer escapes every cell
    groups = [{**g, "what": g["digest"] or g["reason"],
               "fix_line": g["fix"] if not g["command"] else f"{g['fix']}: {g['command']}"}
              for g in data["groups"]]
    sources = [{"cause": g["title"], "client": f["client"], "setting": f["setting"],
                "source": f["source"]}
               for g in data["groups"] if not g["inherent"] for f in g["fixes"]]
    return View(data, [
        Fields([(k, v) for k, v in about if v is not None], title="Pinning"),
        Table([Column("count", "COUNT"), Column("sessions", "SESSIONS"),
               Column("title", "CAUSE"), Column("what", "DIGEST / REASON"),
               Column("explanation", "WHY IT PINS"), Column("fix_line", "FIX")],
              groups, title="Pin events by cause and digest", empty="no pin events"),
        Table([Column("cause", "CAUSE"), Column("client", "CLIENT"),
               Column("setting", "SETTING"), Column("source", "SOURCE")],
              sources, title="Fixes and their sources", empty="none"),
    ])


def finish(rt: Runtime, report: PinningReport) -> None:
    """Notes on stderr, the report on stdout, exit 1 when pinning is a FAIL."""
    for note in report.notes:
        if note.startswith("DebugLogging is off"):
            rt.renderer.warn(note)
        else:
            rt.renderer.info(note)
    rt.renderer.emit(pinning_view(report))
    if report.status == "FAIL":
        share = report.pinned_share
        raise CheckFailed(
            f"{report.pinned_sessions} pinned session(s)"
            + (f", {share:.0%} of client sessions" if share is not None else "")
            + ": pooling is off for them",
            hint="apply the fix of each cause above (commands are printed, never run)")


def pinning_cmd(
    name: o.ProxyName,
    rt: Runtime,
    since: o.Since = "1h",
    until: o.Until = None,
) -> None:
    """What pins the proxy's sessions: pin events by cause and digest, and each fix.

    Reads the pin lines of /aws/rds/proxy/NAME (written only while DebugLogging is on: the command says when it is off) and the pinned-connections metric. Each group says why it pins in plain words and the fix: the InitQuery to move a SET into (as the `rdsproxyctl pool` command that would apply it; nothing is changed), the driver setting that stops named prepared statements, with its source, or "inherent: keep the session short". Exit 1 when more than 20% of client sessions were pinned.

    Examples:

      rdsproxyctl pinning my-proxy --since 24h

      rdsproxyctl pinning my-proxy -o json | jq '.groups[] | {cause, count, command}'

      aws logs tail /aws/rds/proxy/my-proxy --since 1h | rdsproxyctl logs classify --pinning
    """
    from rdsproxyctl.core.pinning import analyse_proxy

    with rt.renderer.status(f"reading the pin lines of {name}"):
        report = analyse_proxy(rt.aws, name, since=since, until=until)
    finish(rt, report)


def classify_pinning(rt: Runtime, events: Any, file: str) -> None:
    """``logs classify --pinning``: the same report over lines read from a file."""
    from rdsproxyctl.core.pinning import PinningAnalyzer

    finish(rt, PinningAnalyzer().add_all(events).result(file=file))
