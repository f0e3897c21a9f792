"""``top``: a live view of the pool (rich Live on a terminal, one line per refresh piped)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.output import OutputFormat
from rdsproxyctl.cli.runtime import Runtime, command

if TYPE_CHECKING:  # pragma: no cover
    from rdsproxyctl.core.top import Snapshot


def register(app: typer.Typer) -> None:
    command(app, "top")(top_cmd)


def _n(value: float | None, suffix: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return text + suffix


def plain_line(s: Snapshot) -> str:
    """One refresh as one line of ``key=value`` words (for pipes and logs)."""
    from rdsproxyctl.cli.logs import safe

    newest = s.log_lines[-1].signature if s.log_lines else "-"
    words = [s.metrics_time or s.time, f"clients={_n(s.client_connections)}",
             f"db={_n(s.database_connections)}/{_n(s.ceiling)}", f"pinned={_n(s.pinned)}",
             f"borrowed={_n(s.borrowed)}", f"in_tx={_n(s.in_transaction)}",
             f"borrow={_n(s.borrow_latency_ms, 'ms')}", f"query={_n(s.query_latency_ms, 'ms')}",
             f"auth_failed={_n(s.setup_failed_auth)}", f"newest_log={safe(newest)}"]
    return " ".join(words)


def live_table(s: Snapshot, interval: float) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from rdsproxyctl.cli.logs import safe
    from rdsproxyctl.cli.metrics import sparkline

    head = Text(f"{s.proxy}  {s.metrics_time or 'no datapoints yet'}  (every {interval:g} s, "
                "Ctrl-C to quit)", style="bold")
    table = Table(box=None, show_header=True, header_style="bold")
    for col in ("", "now", "last 15 min"):
        table.add_column(col)

    def row(label: str, key: str, value: str, style: str = "") -> None:
        table.add_row(label, Text(value, style=style), sparkline(s.history.get(key, []), 15))

    db, ceiling = s.database_connections, s.ceiling
    full = db is not None and ceiling and db >= 0.9 * ceiling
    row("client connections", "client_connections", _n(s.client_connections))
    row("database connections / ceiling", "database_connections",
        f"{_n(db)} / {_n(ceiling)}", "red" if full else "")
    row("pinned", "pinned", _n(s.pinned), "yellow" if s.pinned else "")
    row("borrowed", "borrowed", _n(s.borrowed))
    row("in transaction", "in_transaction", _n(s.in_transaction))
    borrow = s.borrow_latency_ms
    row("borrow latency", "borrow_latency_ms", _n(borrow, " ms"),
        "red" if borrow and borrow >= 1000 else "yellow" if borrow and borrow >= 50 else "")
    row("database answer time", "query_latency_ms", _n(s.query_latency_ms, " ms"))
    row("client auth failures", "setup_failed_auth", _n(s.setup_failed_auth),
        "red" if s.setup_failed_auth else "")
    logs = Table(box=None, show_header=True, header_style="bold", title_justify="left",
                 title="newest warnings and errors (5 min)")
    logs.add_column("time", no_wrap=True, min_width=8)
    logs.add_column("signature", no_wrap=True, min_width=20)
    logs.add_column("message", overflow="ellipsis", no_wrap=True)
    for line in reversed(s.log_lines):
        style = "red" if line.severity == "error" else "yellow"
        when = safe(line.timestamp)
        # Text, not str: a log line's "[dbConnection=7]" is not rich markup
        logs.add_row(Text(when[11:19] if len(when) >= 19 else when),
                     Text(line.signature, style=style), Text(safe(line.message)[:160]))
    parts: list[Any] = [head, table, logs]
    parts.extend(Text(n, style="dim") for n in s.notes)  # Text: never markup
    return Group(*parts)


def top_cmd(
    name: o.ProxyName,
    rt: Runtime,
    interval: Annotated[float, o.option(
        "--interval", "CloudWatch publishes every minute.", min=1.0, max=3600.0)] = 10.0,
    endpoint: Annotated[Optional[str], o.option(
        "--endpoint", "Its metrics only (`default` is the proxy's own).")] = None,
    iterations: Annotated[int, o.option("--iterations", min=0, hidden=True)] = 0,
) -> None:
    """A live view of the pool: connections against the ceiling, pinned, latencies, warnings.

    Client vs database connections against the pool's ceiling (MaxDatabaseConnectionsAllowed), pinned and borrowed connections, borrow vs query latency, and the newest warning and error log signatures.

    On a terminal it refreshes in place until Ctrl-C; piped, it prints one line per refresh (`-o json`: one JSON object per line, keys in docs/json.md). Ctrl-C ends it cleanly (exit 0).

    Examples:

      rdsproxyctl top my-proxy

      rdsproxyctl top my-proxy --interval 30 | tee pool.log
    """
    from rdsproxyctl.core.validate import check_name

    check_name(name)
    live = rt.output is OutputFormat.table and rt.renderer.is_terminal()
    try:
        if live:
            _live(rt, name, endpoint, interval, iterations)
        else:
            _lines(rt, name, endpoint, interval, iterations)
    except KeyboardInterrupt:
        return  # Ctrl-C is how top ends: exit 0, no traceback


def _take(rt: Runtime, name: str, endpoint: str | None) -> Snapshot:
    from rdsproxyctl.core.proxies import get_proxy
    from rdsproxyctl.core.top import snapshot

    s = snapshot(rt.aws, name, endpoint=endpoint)
    if s.metrics_time is None and not s.log_lines:
        get_proxy(rt.aws, name)  # an unknown proxy is exit 3, not an empty view
    return s


def _lines(rt: Runtime, name: str, endpoint: str | None, interval: float,
           iterations: int) -> None:
    from rdsproxyctl.core.models import to_jsonable

    out = rt.renderer.stdout
    done = 0
    while True:
        s = _take(rt, name, endpoint)
        if rt.output is OutputFormat.json:
            out.write(json.dumps(to_jsonable(s), separators=(",", ":")) + "\n")
        else:
            out.write(plain_line(s) + "\n")
        out.flush()
        done += 1
        if iterations and done >= iterations:
            return
        time.sleep(interval)


def _live(rt: Runtime, name: str, endpoint: str | None, interval: float,
          iterations: int) -> None:
    from rich.live import Live

    console = rt.renderer._console("out")
    s = _take(rt, name, endpoint)
    done = 1
    with Live(live_table(s, interval), console=console, refresh_per_second=2,
              transient=False) as view:
        while not iterations or done < iterations:
            time.sleep(interval)
            s = _take(rt, name, endpoint)
            view.update(live_table(s, interval))
            done += 1
