"""top: plain lines when piped, JSON lines, rich Live on a terminal, Ctrl-C ends cleanly."""

from __future__ import annotations

import json
import re

import pytest

from .metrics_data import publish, steady
from .test_json_docs import assert_documented
from .test_pinning import put_lines


@pytest.fixture
def busy(world):
    world.make_proxy("demo")
    publish(world.aws.client("cloudwatch"), "demo", steady(
        15, DatabaseConnectionsCurrentlySessionPinned=[0] * 14 + [2],
        DatabaseConnectionsBorrowLatency=[800] * 14 + [1500]))
    put_lines(world, "demo", [
        '[WARN] [proxyEndpoint=default] [clientConnection=3] The client session was pinned to '
        'the database connection [dbConnection=7] for the remainder of the session. The proxy '
        "can't reuse this connection until the session ends. Reason: A parse message was "
        "detected."])
    return world


def test_piped_prints_one_line_per_refresh(busy, cli):
    out = cli("top", "demo", "--iterations", "1")
    lines = out.stdout.splitlines()
    assert len(lines) == 1
    words = dict(w.split("=", 1) for w in lines[0].split()[1:])
    assert words["clients"] == "12" and words["db"] == "4/90" and words["pinned"] == "2"
    assert words["borrow"] == "1.5ms" and words["query"] == "2.5ms"
    assert words["newest_log"] == "pinned-parse-message"


def test_json_lines(busy, cli):
    out = cli("top", "demo", "--iterations", "2", "--interval", "1", "-o", "json")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 2
    row = rows[-1]
    assert row["database_connections"] == 4 and row["ceiling"] == 90 and row["pinned"] == 2
    assert row["history"]["pinned"][-1] == 2 and len(row["history"]["pinned"]) >= 14
    assert row["log_lines"][-1]["signature"] == "pinned-parse-message"
    assert_documented("top", row, free_form=("history",))


def test_live_view_on_a_terminal(busy, cli, monkeypatch):
    from rdsproxyctl.cli.output import Renderer

    monkeypatch.setattr(Renderer, "is_terminal", lambda self, stream=None: True)
    out = cli("top", "demo", "--iterations", "2", "--interval", "1")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.stdout)
    assert "database connections / ceiling" in text
    assert "4 / 90" in text and "pinned-parse-message" in text
    assert "Ctrl-C to quit" in text


def test_live_view_shows_log_text_as_is():
    from rich.console import Console

    from rdsproxyctl.cli.top import live_table
    from rdsproxyctl.core.top import LogLine, Snapshot

    line = LogLine("2026-05-01T09:58:00.000Z", "warn", "pinned-parse-message",
                   "pinned to [dbConnection=7] [bold]x[/bold] \x1b[31m")
    snap = Snapshot("demo", "2026-05-01T10:00:00+00:00", None, *([None] * 10),
                    log_lines=[line], notes=["[red]note[/red]"])
    console = Console(width=200, record=True, force_terminal=True)
    console.print(live_table(snap, 10))
    text = console.export_text()
    assert "[dbConnection=7] [bold]x[/bold] \\x1b[31m" in text  # never markup, no escapes
    assert "09:58:00" in text and "[red]note[/red]" in text and "no datapoints yet" in text


def test_ctrl_c_ends_cleanly(busy, cli, monkeypatch):
    from rdsproxyctl.cli import top

    def interrupt(_seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(top.time, "sleep", interrupt)
    out = cli("top", "demo", "--interval", "5")  # no --iterations: until Ctrl-C
    assert out.exit_code == 0 and len(out.stdout.splitlines()) == 1
    assert "Traceback" not in out.stderr and "error" not in out.stderr


def test_idle_and_unknown_proxies(world, cli):
    world.make_proxy("idle")
    out = cli("top", "idle", "--iterations", "1", "-o", "json")
    row = json.loads(out.stdout)
    assert row["metrics_time"] is None and "no datapoints yet (a new or idle proxy)" in row["notes"]
    cli("top", "nope", "--iterations", "1", code=3)
    cli("top", "demo", "--interval", "0", code=2)
