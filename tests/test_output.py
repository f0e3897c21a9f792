"""The renderer: formats, colours, terminals, streams."""

from __future__ import annotations

import io
import json

import pytest

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


# -- tables never split a word; --query; --no-headers; -o wide --------------------------------
ARN = "arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-0123456789abcdef0"
WIDE = View(
    data=[{"name": "sandbox-demo", "status": "available", "engine": "POSTGRESQL",
           "arn": ARN, "endpoint": "127.0.0.126:5432", "note": "a few words that may wrap"}],
    sections=[Table([Column("name", "NAME"), Column("status", "STATUS", styled=True),
                     Column("engine", "ENGINE", optional=True), Column("arn", "ARN"),
                     Column("endpoint", "ENDPOINT", optional=True), Column("note", "NOTE")],
                    [{"name": "sandbox-demo", "status": "available", "engine": "POSTGRESQL",
                      "arn": ARN, "endpoint": "127.0.0.126:5432",
                      "note": "a few words that may wrap"}])])
WORDS = ("sandbox-demo", "available", ARN)


def rich_lines(view: View, fmt: str = "table", width: int = 60, **kw) -> list[str]:
    out = io.StringIO()
    renderer = Renderer(fmt, stdout=out, stderr=io.StringIO(), terminal=True, color=False, **kw)
    renderer._console("out").width = width
    renderer.emit(view)
    return out.getvalue().splitlines()


def test_a_narrow_terminal_drops_optional_columns_and_never_splits_a_word():
    lines = rich_lines(WIDE, width=60)
    text = "\n".join(lines)
    for word in WORDS:
        assert any(word in line for line in lines), (word, text)
    assert "ENGINE" not in text and "ENDPOINT" not in text  # optional: dropped first
    assert "a few" in text  # free text may wrap between words


def test_wide_shows_every_column_unsplit():
    lines = rich_lines(WIDE, fmt="wide", width=60)
    text = "\n".join(lines)
    assert "ENGINE" in text and "ENDPOINT" in text
    for word in (*WORDS, "POSTGRESQL", "127.0.0.126:5432"):
        assert any(word in line for line in lines), (word, text)


def test_fields_never_split_a_value_word():
    view = View({}, [Fields([("arn", ARN), ("security groups", ["sg-0123456789abcdef0"])],
                            title="Proxy")])
    lines = rich_lines(view, width=40)
    assert any(ARN in line for line in lines), lines


def test_query_applies_to_the_json_document_and_tables_show_rows():
    view = View(data=[{"name": "a", "status": "available"}, {"name": "b", "status": "creating"}],
                sections=[])
    out, _ = render("json", view, query="[?status=='available'].name")
    assert json.loads(out) == ["a"]
    out, _ = render("tsv", view, query="[].{name: name, status: status}")
    assert out == "name\tstatus\na\tavailable\nb\tcreating\n"
    out, _ = render("tsv", view, query="[].[name, status]", headers=False)
    assert out == "a\tavailable\nb\tcreating\n"
    out, _ = render("table", view, query="[0].status")
    assert out == "available\n"  # one value: the value alone
    out, _ = render("tsv", view, query="[].name", headers=False)
    assert out == "a\nb\n"


def test_no_headers_for_tsv_and_tables():
    out, _ = render("tsv", VIEW, headers=False)
    assert out.splitlines() == ["a\tavailable\ttrue\ts1,s2\t"]
    out, _ = render("table", VIEW, headers=False)
    assert "NAME" not in out and "available" in out
    lines = rich_lines(WIDE, headers=False, width=200)
    assert "NAME" not in "\n".join(lines)


def test_a_bad_query_is_a_usage_error():
    from rdsproxyctl.errors import UsageError

    with pytest.raises(UsageError, match="is not a JMESPath expression") as err:
        Renderer("json", query="[?")
    assert err.value.exit_code == 2


def test_an_empty_table_is_a_message_on_stderr_not_data():
    empty = View([], [Table([Column("name", "NAME")], [], empty="no proxies in this region")])
    for fmt, terminal in (("table", False), ("table", True), ("markdown", False)):
        out, err = render(fmt, empty, terminal=terminal, color=False)
        assert out == "" and "no proxies in this region" in err, (fmt, terminal)
    out, _ = render("tsv", empty)
    assert out == "name\n"


def test_status_on_a_terminal_shows_brackets_literally():
    err = io.StringIO()
    renderer = Renderer(stdout=io.StringIO(), stderr=err, terminal=True, color=False)
    with renderer.status("[1/2] ModifyDBProxyTargetGroup: InitQuery=SELECT '[/oops]'") as update:
        update("[2/2] RegisterDBProxyTargets: [bold]db1[/bold]")
    renderer.info("done")
    assert "done" in err.getvalue()
