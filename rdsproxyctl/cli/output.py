"""The one output layer: every command prints through :class:`Renderer`.

A command builds a :class:`~rdsproxyctl.cli.views.View`: its JSON data (stable snake_case keys) plus the
sections a person reads (tables and field lists whose cells are picked from that
same data, so ``table``, ``tsv``, ``markdown`` and ``json`` always agree).

* ``table``: rich on a terminal, tabulate's plain text when stdout is piped;
* ``json``: the data, indented, for ``jq``;
* ``tsv``: a header and tab-separated rows for ``cut``/``awk``; a view with more than
  one section is flattened to ``key<TAB>value`` lines (``targets.0.health.state``);
* ``markdown``: GitHub tables, to paste into an incident.

Data goes to stdout; messages, warnings, progress and errors go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from enum import Enum
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from rdsproxyctl.cli.views import Column, Fields, Table, View

_VIEW_NAMES = ("Column", "Table", "Fields", "Section", "View")


def __getattr__(name: str) -> Any:
    """Column, Table, Fields and View live in cli/views.py, loaded on first use: a
    command that prints no table (``token``) does not pay for their dataclasses."""
    if name in _VIEW_NAMES:
        from rdsproxyctl.cli import views

        return getattr(views, name)
    raise AttributeError(name)


class OutputFormat(str, Enum):
    table = "table"
    wide = "wide"  # a table with every column (the renderer's format is then table)
    json = "json"
    tsv = "tsv"
    markdown = "markdown"


#: Colours for status words on a terminal (rich styles).
STATUS_STYLES = {
    "available": "green",
    "AVAILABLE": "green",
    "PASS": "green",
    "REQUIRED": "green",
    "modifying": "yellow",
    "creating": "yellow",
    "REGISTERING": "yellow",
    "WARN": "yellow",
    "SKIP": "dim",
    "deleting": "yellow",
    "UNAVAILABLE": "red",
    "FAIL": "red",
    "incompatible-network": "red",
    "insufficient-resource-limits": "red",
    "suspended": "red",
}


#: What a terminal would act on: C0 and C1 controls (ESC, CSI, BEL, CR, backspace...),
#: DEL, and the Unicode line separators and bidirectional overrides.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MESSAGE_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                              "\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def sanitize(text: str, *, newlines: bool = False) -> str:
    """THE sanitiser: ``text`` with every control character escaped (``\\x1b``, ``\\n``).

    Every table cell, TSV cell, title and message goes through it: values come from
    outside (log lines, names, AWS strings) and must not move the cursor, clear the
    screen, retitle the terminal or split a TSV row.  ``newlines`` keeps line breaks
    (multi-line messages on stderr).
    """
    pattern = _MESSAGE_CONTROL if newlines else _CONTROL
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)


def cell(value: Any) -> str:
    """How one value reads in table, tsv and markdown output (control characters escaped)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return ",".join(f"{sanitize(str(k))}={cell(v)}" for k, v in value.items()) \
            if value else "-"
    return sanitize(str(value))


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={_plain(v)}" for k, v in value.items())
    return str(value)


def tsv_cell(value: Any) -> str:
    """A value for scripts: empty for none, true/false, comma-joined lists; tabs, newlines
    and every other control character escaped (``\\t``, ``\\n``, ``\\x1b``)."""
    return sanitize(_plain(value).replace("\\", "\\\\"))


def pick(row: dict[str, Any], key: str) -> Any:
    """``row[key]``, where ``key`` may be a dotted path (``health.state``)."""
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``{"a": {"b": [{"c": 1}]}}`` -> ``("a.b.0.c", 1)``: JSON data as key/value pairs."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, list) and data and any(isinstance(v, (dict, list)) for v in data):
        for i, v in enumerate(data):
            yield from flatten(v, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, data


PADDING = 2  # rich's default cell padding: one space each side


def _widths(texts: list[list[str]], wrap: tuple[bool, ...] | None = None
            ) -> tuple[list[int], list[int]]:
    """Each column's narrowest width that splits no word, and its natural width."""
    mins, maxes = [], []
    for i, column in enumerate(texts):
        longest = max((len(t) for t in column), default=1)
        word = max((len(w) for t in column for w in t.split()), default=1)
        wraps = True if wrap is None else wrap[i]
        mins.append((word if wraps else longest) + PADDING)
        maxes.append(longest + PADDING)
    return mins, maxes


def _extra(console: Any, table: Any, maxes: list[int]) -> int:
    """The table's width beyond its columns (edges, separators)."""
    from rich.measure import Measurement

    natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
    return max(0, natural - sum(maxes))


def _fits(console: Any, table: Any, texts: list[list[str]]) -> bool:
    mins, maxes = _widths(texts)
    return sum(mins) + _extra(console, table, maxes) <= console.width


def _print_fitted(console: Any, table: Any, texts: list[list[str]],
                  wrap: tuple[bool, ...] | None = None) -> None:
    """Print ``table`` at the terminal's width if its words allow, else wider.

    rich shrinks the widest columns first, whatever their words, so the widths are
    decided here: each column keeps its longest word, and the columns with room to
    spare give it up, in proportion to what they can spare."""
    mins, maxes = _widths(texts, wrap)
    extra = _extra(console, table, maxes)
    avail = console.width - extra
    if sum(maxes) <= avail:
        console.print(table)
        return
    excess = sum(maxes) - avail
    slack = [hi - lo for lo, hi in zip(mins, maxes)]
    if sum(slack) <= excess:
        widths = list(mins)
    else:
        total = sum(slack)
        widths = [hi - excess * spare // total for hi, spare in zip(maxes, slack)]
        i = 0
        while sum(widths) > avail:  # rounding: take the rest from columns with room left
            if widths[i] > mins[i]:
                widths[i] -= 1
            i = (i + 1) % len(widths)
    for column, w in zip(table.columns, widths):
        column.width = w - PADDING
    width = console.width
    console.width = max(width, sum(widths) + extra)  # wider than the terminal, never split
    try:
        console.print(table)
    finally:
        console.width = width


def compile_query(expression: str) -> Any:
    """--query's JMESPath expression, compiled (a bad one is a usage error, exit 2)."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    from rdsproxyctl.errors import UsageError

    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--query {expression!r} is not a JMESPath expression: {message}",
                         hint="see https://jmespath.org/specification.html") from None


def query_view(result: Any) -> View:
    """--query's result as rows: a list of objects is a table with their keys as columns,
    a list of lists one column per position, a list of values one column, an object
    one row."""
    from rdsproxyctl.cli.views import Column, Table, View

    rows = result if isinstance(result, list) else [result]
    if rows and all(isinstance(r, dict) for r in rows):
        keys: dict[str, None] = {}
        for r in rows:
            keys.update(dict.fromkeys(r))
        columns = [Column(k, k.upper()) for k in keys]
        data_rows = rows
    elif rows and all(isinstance(r, list) for r in rows):
        n = max(len(r) for r in rows)
        columns = [Column(str(i), f"COLUMN{i + 1}") for i in range(n)]
        data_rows = [{str(i): v for i, v in enumerate(r)} for r in rows]
    else:
        columns = [Column("value", "VALUE")]
        data_rows = [{"value": r} for r in rows if r is not None]
    return View(result, [Table(columns, data_rows)])


def _env_no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


class Renderer:
    """Prints views to stdout and messages to stderr in the chosen format."""

    def __init__(
        self,
        fmt: OutputFormat | str = OutputFormat.table,
        *,
        color: bool = True,
        quiet: bool = False,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        terminal: bool | None = None,
        query: str | None = None,
        headers: bool = True,
    ) -> None:
        self.format = OutputFormat(fmt)
        self.wide = self.format is OutputFormat.wide
        if self.wide:
            self.format = OutputFormat.table
        self.headers = headers
        self.query = compile_query(query) if query else None
        self.color = color and not _env_no_color()
        self.quiet = quiet
        self._stdout = stdout
        self._stderr = stderr
        self._terminal = terminal
        self._consoles: dict[str, Any] = {}

    # -- streams ---------------------------------------------------------------
    @property
    def stdout(self) -> IO[str]:
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> IO[str]:
        return self._stderr or sys.stderr

    def is_terminal(self, stream: IO[str] | None = None) -> bool:
        if self._terminal is not None:
            return self._terminal
        stream = stream or self.stdout
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    def _console(self, which: str) -> Any:
        console = self._consoles.get(which)
        if console is None:
            from rich.console import Console

            stream = self.stdout if which == "out" else self.stderr
            terminal = self.is_terminal(stream)
            console = Console(
                file=stream,
                force_terminal=terminal,
                no_color=not self.color,
                highlight=False,
                emoji=False,  # ARNs hold ":secret:", which rich would render as an emoji
                soft_wrap=not terminal,
            )
            self._consoles[which] = console
        return console

    # -- data (stdout) -----------------------------------------------------------
    def emit(self, view: View) -> None:
        if self.query is not None:
            result = self.query.search(view.data)
            if self.format is not OutputFormat.json and not isinstance(result, (list, dict)):
                if result is not None:  # one value: the value alone, as the AWS CLI's text
                    self.write_line(sanitize(_plain(result)))
                return
            view = query_view(result)
        fmt = self.format
        if fmt is OutputFormat.json:
            self._dump_json(view.data)
        elif fmt is OutputFormat.tsv:
            self._emit_tsv(view)
        elif fmt is OutputFormat.markdown:
            self._emit_markdown(view)
        elif self.is_terminal():
            self._emit_rich(view)
        else:
            self._emit_plain(view)

    def write_json(self, data: Any) -> None:
        """A JSON document on stdout (--query applies)."""
        if self.query is not None:
            if self.format is not OutputFormat.json:
                from rdsproxyctl.cli.views import View

                self.emit(View(data))  # emit applies the query
                return
            data = self.query.search(data)
        self._dump_json(data)

    def _dump_json(self, data: Any) -> None:
        json.dump(data, self.stdout, indent=2, sort_keys=False, default=str)
        self.stdout.write("\n")

    def write_line(self, text: str) -> None:
        """Raw data on stdout (a token, an export line)."""
        self.stdout.write(text + "\n")

    def _emit_tsv(self, view: View) -> None:
        from rdsproxyctl.cli.views import Table

        out = self.stdout
        tables = [s for s in view.sections if isinstance(s, Table)]
        if len(view.sections) == 1 and tables:
            t = tables[0]
            if self.headers:
                out.write("\t".join(c.key for c in t.columns) + "\n")
            for row in t.rows:
                out.write("\t".join(tsv_cell(pick(row, c.key)) for c in t.columns) + "\n")
            return
        if self.headers:
            out.write("key\tvalue\n")
        for key, value in flatten(view.data):
            out.write(f"{tsv_cell(key)}\t{tsv_cell(value)}\n")

    def _empty(self, section: Table) -> None:
        """An empty section is a message (stderr), not data: stdout stays empty."""
        self.info(f"{section.title}: {section.empty}" if section.title else section.empty)

    def columns(self, section: Table, drop: int = 0) -> list[Column]:
        """The section's columns: all with -o wide, else minus the last ``drop`` optional ones."""
        if self.wide or not drop:
            return list(section.columns)
        optional = [c for c in section.columns if c.optional][-drop:]
        return [c for c in section.columns if c not in optional]

    def _plain_tables(self, view: View, tablefmt: str, heading: Callable[[str], str]) -> None:
        from tabulate import tabulate

        from rdsproxyctl.cli.views import Fields

        out = self.stdout
        first = True
        for section in view.sections:
            if not isinstance(section, Fields) and not section.rows:
                self._empty(section)
                continue
            if not first:
                out.write("\n")
            first = False
            if section.title:
                out.write(heading(sanitize(section.title)) + "\n")
            if isinstance(section, Fields):
                rows = [[sanitize(label), cell(value)] for label, value in section.pairs]
                headers = ["field", "value"] if tablefmt == "github" else ()
                out.write(tabulate(rows, tablefmt=tablefmt, headers=headers) + "\n")
            else:
                columns = self.columns(section)
                rows = [[cell(pick(r, c.key)) for c in columns] for r in section.rows]
                headers = [c.header for c in columns] if self.headers else ()
                out.write(tabulate(rows, headers=headers, tablefmt=tablefmt,
                                   disable_numparse=True) + "\n")

    def _emit_plain(self, view: View) -> None:
        self._plain_tables(view, "simple", lambda t: f"== {t} ==")

    def _emit_markdown(self, view: View) -> None:
        self._plain_tables(view, "github", lambda t: f"### {t}\n")

    def _emit_rich(self, view: View) -> None:
        """Rich tables that never break a word: a column is at least as wide as its longest
        word; when the table does not fit the terminal, optional columns go first (not with
        -o wide), then free text wraps between words, then the table is wider than the
        terminal (as kubectl's) rather than split a name, an ARN or an address."""
        from rich import box
        from rich.table import Table as RichTable
        from rich.text import Text

        from rdsproxyctl.cli.views import Fields

        console = self._console("out")
        for section in view.sections:
            title = Text(sanitize(section.title)) if section.title else None
            if isinstance(section, Fields):
                grid = RichTable(title=title, title_justify="left", box=box.SIMPLE,
                                 show_header=False, title_style="bold")
                pairs = [[Text(sanitize(label)), self._styled(cell(value), Text)]
                         for label, value in section.pairs]
                grid.add_column(style="bold cyan", no_wrap=True)
                grid.add_column(overflow="fold")
                for pair in pairs:
                    grid.add_row(*pair)
                _print_fitted(console, grid, [[str(r[i]) for r in pairs] for i in (0, 1)],
                              wrap=(False, True))
                continue
            if not section.rows:
                self._empty(section)
                continue
            optional = sum(1 for c in section.columns if c.optional)
            for drop in range(1 if self.wide else optional + 1):
                columns = self.columns(section, drop)
                table = RichTable(title=title, title_justify="left",
                                  box=box.SIMPLE_HEAD, title_style="bold",
                                  show_header=self.headers)
                rows = [[self._styled(cell(pick(r, c.key)), Text) if c.styled
                         else Text(cell(pick(r, c.key))) for c in columns]
                        for r in section.rows]
                for c in columns:
                    table.add_column(c.header, overflow="fold")
                for row in rows:
                    table.add_row(*row)
                texts = [[str(row[i]) for row in rows] + ([c.header] if self.headers else [])
                         for i, c in enumerate(columns)]
                if self.wide or drop == optional or _fits(console, table, texts):
                    break
            _print_fitted(console, table, texts)

    def _styled(self, text: str, text_cls: Any) -> Any:
        style = STATUS_STYLES.get(text.split("/")[0].split(" ")[0], "")
        return text_cls(text, style=style)

    # -- messages (stderr) ----------------------------------------------------------
    def _message(self, prefix: str, style: str, message: str) -> None:
        from rich.markup import escape

        console = self._console("err")
        message = escape(sanitize(message, newlines=True))
        console.print(f"[{style}]{prefix}[/{style}]{message}" if prefix else message)

    def info(self, message: str) -> None:
        if not self.quiet:
            self._message("", "", message)

    def success(self, message: str) -> None:
        if not self.quiet:
            self._message("✓ " if self.is_terminal(self.stderr) else "", "green", message)

    def warn(self, message: str) -> None:
        self._message("warning: ", "yellow bold", message)

    def error(self, message: str, hint: str | None = None) -> None:
        self._message("error: ", "red bold", message)
        if hint:
            self._message("hint: ", "cyan", hint)

    @contextlib.contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar on a terminal (stderr); silent otherwise.  Yields ``update(done)``."""
        if self.quiet or not self.is_terminal(self.stderr):
            yield lambda _done: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=self._console("err"),
                      transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda done: bar.update(task, completed=done)

    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[Callable[[str], None]]:
        """Progress for a long wait: a spinner with elapsed time on a terminal,
        one line per change otherwise.  Yields ``update(new_message)``."""
        if self.quiet:
            yield lambda _msg: None
            return
        if not self.is_terminal(self.stderr):
            last = [message]
            self.info(message)  # sanitised there

            def update_plain(msg: str) -> None:
                if msg != last[0]:
                    last[0] = msg
                    self.info(msg)

            yield update_plain
            return
        from rich.markup import escape

        started = time.monotonic()
        console = self._console("err")
        with console.status(escape(sanitize(message))) as live:

            def update_live(msg: str) -> None:
                # escaped: progress may carry user text (an init query, a name) with "[...]"
                live.update(f"{escape(sanitize(msg))} "
                            f"[dim]({time.monotonic() - started:.0f}s)[/dim]")

            yield update_live
