"""``logs``: tail, summarise and classify the proxy's CloudWatch Logs.

``rdsproxyctl logs NAME`` is ``rdsproxyctl logs tail NAME``; ``logs summary`` and
``logs classify`` reach their own commands, so a proxy literally named ``summary``,
``classify`` or ``tail`` needs the explicit form: ``rdsproxyctl logs tail summary``.
"""

from __future__ import annotations

import json
import sys
from typing import IO, TYPE_CHECKING, Annotated, Any, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.groups import group_with_default
from rdsproxyctl.cli.output import Column, Fields, OutputFormat, Table, View, tsv_cell
from rdsproxyctl.cli.runtime import Runtime, command
from rdsproxyctl.errors import CheckFailed, NotFound, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from rdsproxyctl.core.logs.classify import LogEvent
    from rdsproxyctl.core.logs.summary import Summary


def _severity(fail_on: str) -> str:
    """--fail-on (warn, error or fail, none) as the summary's severity words."""
    threshold = o.fail_threshold(fail_on)
    return "none" if threshold is None else ("warn" if threshold == "warn" else "error")


ProxyName = o.ProxyName
Since = o.Since
Until = o.Until
Endpoint = Annotated[Optional[str], o.option("--endpoint", "Only its lines (`default`: the "
                                                 "proxy's own).")]
Signatures = o.Signatures
Errors = o.Errors
Grep = o.Grep
FilterPattern = o.FilterPattern
FailOnOption = o.FailOn
IncludeInfo = o.IncludeInfo
Top = o.Top

logs_app = group_with_default(
    "tail",
    help="Tail, summarise and classify the proxy's CloudWatch Logs.  `logs NAME` is "
         "`logs tail NAME`; a proxy named summary, classify or tail needs `logs tail NAME`.",
)


def register(app: typer.Typer) -> None:
    command(logs_app, "tail")(tail_cmd)
    command(logs_app, "summary")(summary_cmd)
    command(logs_app, "classify")(classify_cmd)
    app.add_typer(logs_app, name="logs")


# -- writing events, a page at a time ----------------------------------------------------------
_STYLES = {"error": "red", "warn": "yellow", "info": ""}
TSV_KEYS = ("timestamp", "level", "signature", "severity", "endpoint", "client_connection",
            "db_connection", "message")  # message last: it is escaped for terminals


def safe(text: str | None) -> str:
    """``text`` through the renderer's sanitiser (``-`` when empty)."""
    from rdsproxyctl.cli.output import sanitize

    return sanitize(text) if text else "-"


class EventWriter:
    """Writes classified events in the chosen format, page by page, flushing each page.

    json: one object per line (JSON lines); tsv: a header and one row per event;
    markdown: a table; table: ``TIME LEVEL SIGNATURE MESSAGE``, coloured by severity on
    a terminal.
    """

    def __init__(self, rt: Runtime) -> None:
        self.out: IO[str] = rt.renderer.stdout
        self.format = rt.output
        self.console: Any = None
        self.count = 0
        from rdsproxyctl.core.logs.signatures import SIGNATURES

        self.width = max(len(s.id) for s in SIGNATURES)
        self.query = rt.renderer.query
        if self.format is OutputFormat.table and rt.renderer.is_terminal() and not self.query:
            from rich.console import Console

            self.console = Console(file=self.out, force_terminal=True, highlight=False,
                                   no_color=not rt.renderer.color, soft_wrap=True)
        if self.query is not None or not rt.renderer.headers:
            pass
        elif self.format is OutputFormat.tsv:
            self.out.write("\t".join(TSV_KEYS) + "\n")
        elif self.format is OutputFormat.markdown:
            self.out.write("| time | level | signature | message |\n|---|---|---|---|\n")

    def write(self, events: list[LogEvent]) -> None:
        if not events:
            self.out.flush()
            return
        self.count += len(events)
        fmt = self.format
        if self.query is not None:  # --query: applied to each event's JSON object
            self.out.write("".join(self._queried(e) for e in events))
        elif fmt is OutputFormat.json:
            dumps = json.JSONEncoder(separators=(",", ":")).encode
            self.out.write("\n".join(dumps(e.to_json()) for e in events) + "\n")
        elif fmt is OutputFormat.tsv:
            self.out.write("".join(
                "\t".join(tsv_cell(getattr(e, k)) for k in TSV_KEYS[:-1])
                + "\t" + tsv_cell(safe(e.message)) + "\n" for e in events))
        elif fmt is OutputFormat.markdown:
            self.out.write("".join(
                f"| {safe(e.timestamp)} | {e.level or '-'} | {e.signature} | "
                f"{_md(safe(e.message))} |\n" for e in events))
        elif self.console is not None:
            self._rich(events)
        else:
            self.out.write("".join(
                f"{safe(e.timestamp)}  {e.level or '-':<5}  {e.signature:<{self.width}}  "
                f"{safe(e.message)}\n"
                for e in events))
        self.out.flush()

    def _queried(self, event: LogEvent) -> str:
        """One line: --query's result for one event (JSON with -o json; else a value, or
        tab-separated values)."""
        result = self.query.search(event.to_json())
        if result is None:
            return ""
        if self.format is OutputFormat.json or isinstance(result, dict):
            return json.dumps(result, separators=(",", ":")) + "\n"
        values = result if isinstance(result, list) else [result]
        return "\t".join(tsv_cell(v) for v in values) + "\n"

    def _rich(self, events: list[LogEvent]) -> None:
        from rich.text import Text

        for e in events:
            style = _STYLES.get(e.severity, "")
            line = Text()
            line.append(safe(e.timestamp), style="dim")
            line.append(f"  {e.level or '-':<5}  ", style=style)
            tag = "dim" if e.signature == "unclassified" else f"bold {style}".strip()
            line.append(f"{e.signature:<{self.width}}", style=tag)
            line.append("  " + safe(e.message), style=style)
            self.console.print(line)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _write_pages(rt: Runtime, pages: Any) -> int:
    """Write every page (a closed pipe, ``| head``, ends quietly in the error handler)."""
    writer = EventWriter(rt)
    for page in pages:
        writer.write(page)
    return writer.count


# -- commands ------------------------------------------------------------------------------------
def tail_cmd(
    name: ProxyName,
    rt: Runtime,
    since: Since = "10m",
    until: Until = None,
    follow: Annotated[bool, o.option("--follow")] = False,
    endpoint: Endpoint = None,
    signature: Signatures = None,
    errors: Errors = False,
    grep: Grep = None,
    filter_pattern: FilterPattern = None,
) -> None:
    """Show the proxy's log lines (/aws/rds/proxy/NAME), each tagged with its signature.

    Each line shows time, level, signature and message, coloured by severity on a terminal; `-o json` prints JSON lines (one object per event, keys in docs/json.md). --errors and --signature fetch with a server-side filter pattern built from the signature catalog (docs/signatures.md).

    Examples:

      rdsproxyctl logs my-proxy --since 1h --errors

      rdsproxyctl logs my-proxy -f -s 'iam-auth-*'

      rdsproxyctl logs my-proxy --since 2024-05-01T10:00Z --until 2024-05-01T11:00Z -o json | jq -c 'select(.user)'

      rdsproxyctl logs tail summary     # a proxy literally named "summary"
    """
    from rdsproxyctl.core.logs import fetch
    from rdsproxyctl.core.logs.query import Selection, Window
    from rdsproxyctl.core.validate import check_name

    check_name(name)
    window = Window.parse(since, until)
    selection = Selection.build(signatures=signature or (), errors=errors, endpoint=endpoint,
                                grep=grep)
    if follow and until:
        raise UsageError("--follow and --until do not go together",
                         hint="--follow reads until Ctrl-C")
    if errors:
        rt.renderer.info("--errors: showing severity warn and error only (the signature's "
                         "severity; unknown lines by their level)")
    if follow:
        rt.renderer.info(f"following {fetch.log_group(name)} (Ctrl-C to stop)")
        pages = fetch.follow(rt.aws, name, window.start, selection, filter_pattern=filter_pattern)
    else:
        pages = fetch.pages(rt.aws, name, window, selection, filter_pattern=filter_pattern)
    count = _write_pages(rt, pages)
    if count == 0 and rt.output is OutputFormat.table:
        rt.renderer.info(f"no matching log lines in {fetch.log_group(name)} for that window")


def summary_view(summary: Summary) -> View:
    from rdsproxyctl.core.models import to_jsonable

    data = to_jsonable(summary)
    about = [
        ("proxy", data["proxy"]),
        ("log group", data["log_group"]),
        ("file", data["file"]),
        ("since", data["since"]),
        ("until", data["until"] or "now"),
        ("filter pattern", _shorten(data["filter_pattern"])),
        ("events", data["events"]),
        ("classified", data["classified"]),
        ("unclassified", data["unclassified"]),
        ("fail on", data["fail_on"]),
        ("result", ("FAIL: " + ", ".join(data["failing"])) if data["failed"] else "PASS"),
    ]
    about = [(k, v) for k, v in about if v is not None]
    ranked = [Column("value", "VALUE"), Column("count", "COUNT")]
    return View(data, [
        Fields(about, title="Summary"),
        Table([Column("severity", "SEVERITY"), Column("signature", "SIGNATURE"),
               Column("count", "COUNT"), Column("first_seen", "FIRST SEEN"),
               Column("last_seen", "LAST SEEN"), Column("remedy", "REMEDY")],
              data["signatures"], title="Signatures", empty="no matching signatures"),
        Table(ranked, data["top_users"], title="Top users", empty="none"),
        Table(ranked, data["top_pinning_reasons"], title="Top pinning reasons", empty="none"),
        Table(ranked, data["top_digests"], title="Top pinning digests", empty="none"),
    ])


def _shorten(text: str | None, width: int = 60) -> str | None:
    return text if text is None or len(text) <= width else text[:width - 4] + " ..."


def _finish_summary(rt: Runtime, summary: Summary) -> None:
    rt.renderer.emit(summary_view(summary))
    if summary.failed:
        raise CheckFailed(
            f"{len(summary.failing)} signature(s) at or above {summary.fail_on}: "
            + ", ".join(summary.failing),
            hint="see each signature's remedy above (docs/signatures.md has the details)",
        )


def summary_cmd(
    name: ProxyName,
    rt: Runtime,
    since: Since = "1h",
    until: Until = None,
    endpoint: Endpoint = None,
    fail_on: FailOnOption = "fail",
    include_info: IncludeInfo = False,
    top: Top = 10,
    filter_pattern: FilterPattern = None,
) -> None:
    """Count each signature in the window with its remedy; exit 1 at --fail-on severity.

    Reports first and last seen, top users, top pinning reasons and digests. Only warnings and errors are fetched (a server-side filter pattern), unless --include-info. Exits 1 when a signature of --fail-on severity or worse is present, for runbooks.

    Examples:

      rdsproxyctl logs summary my-proxy --since 1h

      rdsproxyctl logs summary my-proxy --since 15m --fail-on warn || page-oncall

      rdsproxyctl logs summary my-proxy -o json | jq '.signatures[] | {signature, count}'
    """
    from rdsproxyctl.core.logs import fetch
    from rdsproxyctl.core.logs.query import Selection, Window
    from rdsproxyctl.core.logs.summary import Summarizer
    from rdsproxyctl.core.validate import check_name

    check_name(name)
    window = Window.parse(since, until)
    selection = Selection.build(min_severity=None if include_info else "warn", endpoint=endpoint)
    pattern = filter_pattern if filter_pattern is not None else selection.filter_pattern()
    summarizer = Summarizer(top=top)
    group = fetch.log_group(name)
    with rt.renderer.status(f"reading {group}") as update:
        for page in fetch.pages(rt.aws, name, window, selection, filter_pattern=pattern):
            summarizer.add_all(page)
            update(f"reading {group}: {summarizer.events} events")
    _finish_summary(rt, summarizer.result(
        _severity(fail_on), proxy=name, log_group=group, since=_iso(window.start),
        until=_iso(window.end) if window.end else None, filter_pattern=pattern))


def _iso(millis: int) -> str:
    from rdsproxyctl.core.logs.fetch import iso_millis

    return iso_millis(millis)


def _open_input(path: str) -> IO[bytes]:
    if path == "-":
        return getattr(sys.stdin, "buffer", sys.stdin)
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        raise NotFound(f"file {path!r} not found") from None
    except IsADirectoryError:
        raise UsageError(f"{path!r} is a directory, not a file of log lines") from None
    except PermissionError:
        raise UsageError(f"{path!r} cannot be read: permission denied") from None
    except OSError as exc:
        raise UsageError(f"{path!r} cannot be read: {exc.strerror or exc}") from None


def classify_cmd(
    rt: Runtime,
    file: Annotated[str, typer.Argument(
        help="File of log lines (exported logs, `aws logs tail` output ...); - for stdin.",
        show_default=True)] = "-",
    summary: Annotated[bool, o.option("--summary")] = False,
    pinning: Annotated[bool, o.option("--pinning")] = False,
    fail_on: FailOnOption = "fail",
    include_info: IncludeInfo = False,
    top: Top = 10,
    signature: Signatures = None,
    errors: Errors = False,
    grep: Grep = None,
) -> None:
    """Classify log lines from a file or stdin with the signature catalog.

    Accepts the proxy's lines with or without their time, level and [key=value] prefix, and `aws logs tail` output (with its time and stream columns). Binary garbage and very long lines are read safely: undecodable bytes become U+FFFD, lines are cut at 256 KiB. A missing file exits 3, one that can't be read exits 2.

    Examples:

      aws logs tail /aws/rds/proxy/my-proxy --since 1h | rdsproxyctl logs classify

      rdsproxyctl logs classify exported.log --summary --fail-on warn

      rdsproxyctl logs classify exported.log -s 'pinned*' -o json | jq -r .digest | sort | uniq -c

      rdsproxyctl logs classify exported.log --pinning
    """
    from rdsproxyctl.core.logs.classify import classify_lines, read_lines
    from rdsproxyctl.core.logs.query import Selection
    from rdsproxyctl.core.logs.summary import Summarizer

    if summary and pinning:
        raise UsageError("--summary and --pinning do not go together: choose one report")
    # a summary counts warnings and errors unless --include-info, like `logs summary`
    selection = Selection.build(signatures=signature or (), grep=grep,
                                errors=errors or (summary and not include_info))
    stream = _open_input(file)
    if file == "-" and hasattr(stream, "isatty") and stream.isatty():
        rt.renderer.info("reading log lines from stdin (Ctrl-D to end)")
    try:
        events = classify_lines(read_lines(stream))
        if not selection.keeps_all:
            events = filter(selection.keep, events)
        if pinning:
            from rdsproxyctl.cli.pinning import classify_pinning

            classify_pinning(rt, events, file)
        elif summary:
            result = Summarizer(top=top).add_all(events).result(
                _severity(fail_on), file=file)
            _finish_summary(rt, result)
        else:
            _write_pages(rt, _batches(events))
    finally:
        if file != "-":
            stream.close()


def _batches(events: Any, size: int = 1000) -> Any:
    batch: list[Any] = []
    for e in events:
        batch.append(e)
        if len(batch) >= size:
            yield batch
            batch = []
    yield batch
