"""The renderer: formats, colours, terminals, streams."""

from __future__ import annotations

import io

from rdsproxyctl.cli.output import Column, Fields, Renderer, Table, View, cell, flatten, tsv_cell


def render(fmt: str, view: View, **kw) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    Renderer(fmt, stdout=out, stderr=err, **kw).emit(view)
    return out.getvalue(), err.getvalue()


VIEW = View(
    data=[{"name": "a", "status": "available", "tls": True, "subnets": ["s1", "s2"], "n": None}],
    sections=[Table([Column("name", "NAME"), Column("status", "STATUS", styled=True),
                     Column("tls", "TLS"), Column("subnets", "SUBNETS"), Column("n", "N")],
                    [{"name": "a", "status": "available", "tls": True, "subnets": ["s1", "s2"],
                      "n": None}])],
)


def test_tsv_single_table_is_header_and_rows():
    out, _ = render("tsv", VIEW)
    assert out.splitlines() == ["name\tstatus\ttls\tsubnets\tn", "a\tavailable\ttrue\ts1,s2\t"]


def test_tsv_escapes_tabs_and_newlines():
    assert tsv_cell("a\tb\nc") == "a\\tb\\nc"
    assert tsv_cell(None) == "" and tsv_cell(False) == "false"


def test_plain_table_when_piped_and_rich_on_a_terminal():
    plain, _ = render("table", VIEW)
    assert plain.splitlines()[0].split() == ["NAME", "STATUS", "TLS", "SUBNETS", "N"]
    assert "\x1b[" not in plain
    rich, _ = render("table", VIEW, terminal=True)
    assert "\x1b[" in rich and "available" in rich  # coloured status
    nocolor, _ = render("table", VIEW, terminal=True, color=False)
    assert "\x1b[32m" not in nocolor and "available" in nocolor


def test_no_color_environment_variable(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out, _ = render("table", VIEW, terminal=True)
    assert "\x1b[32m" not in out


def test_messages_go_to_stderr_and_quiet_silences_info_only():
    out, err = io.StringIO(), io.StringIO()
    r = Renderer("table", stdout=out, stderr=err, quiet=True)
    r.info("hello")
    r.warn("careful")
    r.error("broken", hint="fix it")
    assert out.getvalue() == ""
    assert err.getvalue().splitlines() == ["warning: careful", "error: broken", "hint: fix it"]


def test_status_prints_one_line_per_change_when_not_a_terminal():
    err = io.StringIO()
    r = Renderer("table", stdout=io.StringIO(), stderr=err)
    with r.status("waiting") as update:
        update("waiting")
        update("still waiting")
    assert err.getvalue().splitlines() == ["waiting", "still waiting"]


def test_fields_sections_and_markdown():
    view = View({"a": 1}, [Fields([("alpha", 1), ("beta", None)], title="T")])
    md, _ = render("markdown", view)
    assert "### T" in md and "| alpha" in md
    assert cell(None) == "-" and cell([]) == "-" and cell({"k": "v"}) == "k=v"


def test_flatten_keeps_scalar_lists_whole():
    assert list(flatten({"a": {"b": [1, 2]}, "c": [{"d": 3}]})) == [("a.b", [1, 2]), ("c.0.d", 3)]
