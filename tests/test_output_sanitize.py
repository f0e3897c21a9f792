"""One sanitiser in the renderer: control characters from outside never reach a terminal or
split a TSV row, in tables, TSV, markdown, titles and messages."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdsproxyctl.cli.output import Column, Fields, Renderer, Table, View, sanitize, tsv_cell

EVIL = "app\x1b[2J\x1b]0;pwned\x07\r\x9b31m\u202e\tx\ny"


def _render(fmt: str, terminal: bool) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    r = Renderer(fmt, stdout=out, stderr=err, terminal=terminal, color=False)
    rows = [{"user": EVIL, "count": 3}]
    r.emit(View(rows, [Fields([("who " + EVIL, EVIL)], title="about " + EVIL),
                       Table([Column("user", "USER"), Column("count", "COUNT")], rows,
                             title=EVIL)]))
    r.warn("user " + EVIL)
    r.error("bad " + EVIL, hint="hint " + EVIL)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("fmt,terminal", [("table", True), ("table", False), ("tsv", False),
                                          ("markdown", False)])
def test_no_control_character_reaches_the_output(fmt, terminal):
    out, err = _render(fmt, terminal)
    for text in (out, err):
        for bad in ("\x1b[2J", "\x1b]0", "\x07", "\r", "\x9b", "\u202e"):
            assert bad not in text, (fmt, bad)
    assert "app\\x1b[2J" in out


def test_tsv_rows_stay_rows():
    out, _ = _render("tsv", False)
    lines = out.splitlines()
    # key/value flattening of a two-section view: every line has exactly one tab
    assert all(line.count("\t") == 1 for line in lines), lines


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_sanitize_leaves_no_control_characters(text):
    clean = sanitize(text)
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in clean)
    assert "\t" not in tsv_cell(text) and "\n" not in tsv_cell(text)


def test_logs_classify_summary_does_not_clear_the_screen(cli, tmp_path):
    line = ('2024-05-01T10:00:00.000Z [WARN] Proxy authentication with PostgreSQL native '
            'password authentication failed for user "ev\x1b[2Jil" with TLS on. Reason: x')
    path = tmp_path / "proxy.log"
    path.write_text(line + "\n", encoding="utf-8")
    for fmt in ("table", "tsv", "markdown"):
        out = cli("logs", "classify", str(path), "--summary", "-o", fmt, code=None)
        assert "\x1b" not in out.stdout and "\x1b" not in out.stderr
        assert "ev\\x1b[2Jil" in out.stdout, out.stdout
    out = cli("logs", "classify", str(path), "-o", "tsv", code=None)
    assert "\x1b" not in out.stdout
