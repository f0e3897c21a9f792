"""logs / logs summary / logs classify through the CLI, against moto's CloudWatch Logs."""

from __future__ import annotations

import json
import re
import time

import pytest

from rdsproxyctl.core.logs import fetch
from rdsproxyctl.core.logs.query import Selection, Window
from rdsproxyctl.core.logs.signatures import SIGNATURES

from .logs_data import DOCUMENTED, IAM, PREFIX, put_lines
from .test_json_docs import assert_documented

REFUSED_TOKEN = (PREFIX + IAM + "Reason: An expired token.")
REFUSED_PASSWORD = (PREFIX + 'Proxy authentication with PostgreSQL native password '
                    'authentication failed for user "app_user" with TLS on.')
CONNECTED = ("2022-10-21T17:25:29.482Z [INFO] [proxyEndpoint=default] [clientConnection=1] "
             "A new client connected from 10.0.1.12:55392.")
READER_PIN = ("[WARN] [proxyEndpoint=reader] [clientConnection=2] The client session was pinned "
              "to the database connection [dbConnection=3] for the remainder of the session. "
              "Reason: A parse message was detected.")


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def proxy_logs(world, aws):
    """Proxy `demo` whose log group has a refused token, a refused password and noise."""
    world.make_proxy("demo")
    put_lines(aws, "demo", [CONNECTED, REFUSED_TOKEN, REFUSED_PASSWORD, READER_PIN,
                            "[INFO] something the catalog does not know"])
    return "demo"


def test_tail_shows_both_refusals_tagged(proxy_logs, cli):
    out = cli("logs", proxy_logs, "--since", "5m").stdout
    lines = out.splitlines()
    assert len(lines) == 5
    token = next(line for line in lines if "IAM authentication failed" in line)
    password = next(line for line in lines if "native password" in line)
    assert "iam-auth-expired-token" in token and "WARN" in token
    assert "password-auth-failed" in password
    assert any("unclassified" in line for line in lines)


def test_tail_json_lines_carry_the_documented_keys(proxy_logs, cli):
    rows = json_lines(cli("logs", proxy_logs, "-o", "json").stdout)
    assert len(rows) == 5
    by_sig = {r["signature"]: r for r in rows}
    token = by_sig["iam-auth-expired-token"]
    assert {"timestamp", "level", "endpoint", "client_connection", "db_connection", "message",
            "signature", "severity", "log_stream"} <= set(token)
    assert token["user"] == "app_user" and token["reason"] == "An expired token"
    assert token["severity"] == "error" and token["endpoint"] == "default"
    assert token["timestamp"].endswith("+00:00") and token["log_stream"] == "stream-1"
    assert token["digest"] is None and token["limit"] is None  # absent values are null
    assert by_sig["pinned-parse-message"]["db_connection"] == "3"
    assert by_sig["client-connected"]["client_address"] == "10.0.1.12:55392"


def test_tail_filters(proxy_logs, cli):
    errors = json_lines(cli("logs", proxy_logs, "--errors", "-o", "json").stdout)
    assert {r["signature"] for r in errors} == {"iam-auth-expired-token", "password-auth-failed",
                                                "pinned-parse-message"}
    only = json_lines(cli("logs", proxy_logs, "-s", "iam-auth-*", "-s", "password-*",
                          "-o", "json").stdout)
    assert {r["signature"] for r in only} == {"iam-auth-expired-token", "password-auth-failed"}
    reader = json_lines(cli("logs", proxy_logs, "--endpoint", "reader", "-o", "json").stdout)
    assert [r["signature"] for r in reader] == ["pinned-parse-message"]
    grep = json_lines(cli("logs", proxy_logs, "--grep", r"client(Connection=1\b| connected)",
                          "-o", "json").stdout)
    assert [r["signature"] for r in grep] == ["client-connected"]
    unknown = json_lines(cli("logs", proxy_logs, "-s", "unclassified", "-o", "json").stdout)
    assert [r["message"] for r in unknown] == ["something the catalog does not know"]


def test_tail_passes_the_largest_page_size_and_the_built_pattern(proxy_logs, aws, cli):
    seen: list[dict] = []
    client = aws.client("logs")

    def spy(params, **_):
        seen.append(dict(params))

    client.meta.events.register("provide-client-params.logs.FilterLogEvents", spy)
    try:
        cli("logs", proxy_logs, "--endpoint", "reader")
        cli("logs", proxy_logs, "--filter-pattern", '"clientConnection=2"', "-o", "json")
    finally:
        client.meta.events.unregister("provide-client-params.logs.FilterLogEvents", spy)
    assert seen[0]["limit"] == 10_000 and seen[0]["logGroupName"] == "/aws/rds/proxy/demo"
    assert seen[0]["filterPattern"] == '"[proxyEndpoint=reader]"'
    assert seen[1]["filterPattern"] == '"clientConnection=2"'


def test_tail_window_and_formats(world, aws, cli):
    world.make_proxy("demo")
    old = int(time.time() * 1000) - 3 * 3600 * 1000
    put_lines(aws, "demo", [REFUSED_TOKEN], start_ms=old)
    put_lines(aws, "demo", [CONNECTED, "[WARN] a | b \x1b[31mred\x1b[0m"])
    assert len(cli("logs", "demo", "-o", "json").stdout.splitlines()) == 2  # default 10m
    assert len(cli("logs", "demo", "--since", "4h", "-o", "json").stdout.splitlines()) == 3
    assert len(cli("logs", "demo", "--since", "4h", "--until", "2h", "-o", "json")
               .stdout.splitlines()) == 1
    tsv = cli("logs", "demo", "-o", "tsv").stdout.splitlines()
    assert tsv[0].split("\t") == ["timestamp", "level", "signature", "severity", "endpoint",
                                  "client_connection", "db_connection", "message"]
    assert tsv[1].split("\t")[2] == "client-connected" and len(tsv) == 3
    md = cli("logs", "demo", "-o", "markdown").stdout
    assert md.startswith("| time | level | signature | message |") and "a \\| b" in md
    plain = cli("logs", "demo").stdout
    assert "\x1b" not in plain and "\\x1b[31mred" in plain  # control characters escaped
    # --query applies to each event; --no-headers drops tsv's header line
    assert cli("logs", "demo", "--query", "signature").stdout.splitlines()[0] == \
        "client-connected"
    rows = cli("logs", "demo", "-o", "json", "--query", "{s: signature}").stdout.splitlines()
    assert rows[0] == '{"s":"client-connected"}'
    assert cli("logs", "demo", "-o", "tsv", "--no-headers").stdout.splitlines()[0] \
        .split("\t")[2] == "client-connected"


def test_tail_empty_window_says_so(world, aws, cli):
    world.make_proxy("demo")
    put_lines(aws, "demo", [CONNECTED], start_ms=int(time.time() * 1000) - 3600 * 1000)
    out = cli("logs", "demo")
    assert out.stdout == "" and "no matching log lines" in out.stderr
    assert cli("logs", "demo", "-o", "json").stdout == ""


def test_missing_log_group_of_an_existing_proxy_says_it_never_logged(world, cli):
    world.make_proxy("quiet")
    out = cli("logs", "quiet", code=3)
    assert "/aws/rds/proxy/quiet does not exist yet" in out.stderr
    assert "first client connects" in out.stderr


def test_missing_log_group_of_a_missing_proxy_says_not_found(moto, cli):
    out = cli("logs", "ghost", "--region", "us-east-1", code=3)
    assert "proxy ghost not found" in out.stderr and "/aws/rds/proxy/ghost" in out.stderr
    assert cli("logs", "summary", "ghost", code=3).stdout == ""


@pytest.mark.parametrize("args", [
    ["logs", "demo", "--since", "yesterday"],
    ["logs", "demo", "--since", "1h", "--until", "2h"],
    ["logs", "demo", "--until", "soon"],
    ["logs", "demo", "-s", "no-such-signature"],
    ["logs", "demo", "--grep", "(oops"],
    ["logs", "demo", "--follow", "--until", "5m"],
    ["logs", "summary", "demo", "--since", "1 fortnight"],
    ["logs", "summary", "demo", "--fail-on", "sometimes"],
    ["logs", "summary"],
    ["logs", "bad_name!"],
    ["logs", "summary", "a" * 64],
    ["logs", "tail", "ends-with-"],
    ["logs", "demo", "--endpoint", 'say"hi'],
])
def test_bad_input_is_a_usage_error_before_any_aws_call(moto, cli, args):
    # no proxy and no log group exist: a usage error must come first (exit 2, not 3)
    out = cli(*args, code=2)
    assert out.stdout == ""


def test_proxy_named_like_a_subcommand_needs_tail(world, aws, cli):
    world.make_proxy("summary")
    put_lines(aws, "summary", [CONNECTED])
    rows = json_lines(cli("logs", "tail", "summary", "-o", "json").stdout)
    assert [r["signature"] for r in rows] == ["client-connected"]


# -- summary -----------------------------------------------------------------------------------
def test_summary_fails_on_error_and_lists_the_iam_failure_with_its_remedy(proxy_logs, cli):
    out = cli("logs", "summary", proxy_logs, "--since", "5m", "--fail-on", "error", code=1)
    assert "iam-auth-expired-token" in out.stdout and "password-auth-failed" in out.stdout
    remedy = next(s.remedy for s in SIGNATURES if s.id == "iam-auth-expired-token")
    assert remedy.split(";")[0] in " ".join(out.stdout.split())
    assert "error: 2 signature(s) at or above error" in out.stderr
    assert "iam-auth-expired-token" in out.stderr and "Traceback" not in out.stderr


def test_summary_json_is_one_document(proxy_logs, cli):
    data = cli("logs", "summary", proxy_logs, "-o", "json", "--fail-on", "none").json()
    sigs = {s["signature"]: s for s in data["signatures"]}
    assert set(sigs) == {"iam-auth-expired-token", "password-auth-failed", "pinned-parse-message"}
    assert sigs["iam-auth-expired-token"]["count"] == 1
    assert sigs["iam-auth-expired-token"]["first_seen"] == sigs["iam-auth-expired-token"]["last_seen"]
    assert data["signatures"][-1]["signature"] == "pinned-parse-message"  # errors first
    assert data["top_users"] == [{"value": "app_user", "count": 2}]
    assert data["top_pinning_reasons"] == [{"value": "A parse message was detected", "count": 1}]
    assert data["failed"] is False and data["failing"] == [] and data["worst_severity"] == "error"
    assert data["unclassified"] == 0  # the unknown line is INFO: not a warning or error
    assert data["log_group"] == "/aws/rds/proxy/demo" and data["filter_pattern"].startswith("?")
    assert data["events"] == 3


def test_summary_fail_on_levels_and_all(proxy_logs, cli):
    cli("logs", "summary", proxy_logs, "--fail-on", "none")
    out = cli("logs", "summary", proxy_logs, "--all", "-o", "json", "--fail-on", "warn",
              code=1).json()
    assert "client-connected" in {s["signature"] for s in out["signatures"]}
    assert out["unclassified"] == 1 and out["filter_pattern"] is None
    assert "pinned-parse-message" in out["failing"]


def test_summary_digest_and_clean_pass(world, aws, cli):
    world.make_proxy("demo")
    digest_line = next(line for line, sig, _ in DOCUMENTED if sig == "pinned-session-settings")
    put_lines(aws, "demo", [digest_line, digest_line, CONNECTED])
    data = cli("logs", "summary", "demo", "-o", "json").json()  # only warnings: exit 0
    assert data["top_digests"] == [{"value": "set search_path to $1", "count": 2}]
    assert data["failed"] is False
    assert "PASS" in cli("logs", "summary", "demo").stdout


# -- classify ----------------------------------------------------------------------------------
def test_classify_file_tags_every_documented_line(tmp_path, cli):
    path = tmp_path / "exported.log"
    path.write_text("\n".join(line for line, *_ in DOCUMENTED) + "\n\n")
    rows = json_lines(cli("logs", "classify", str(path), "-o", "json").stdout)
    assert [r["signature"] for r in rows] == [sig for _, sig, _ in DOCUMENTED]
    for row, (_, _, fields) in zip(rows, DOCUMENTED):
        for name, value in fields.items():
            assert row[name] == value, (row, name)


def test_classify_stdin_and_aws_logs_tail_output(cli):
    tail = ("2022-10-21T17:25:29.482000+00:00 2022/10/21/prx-1 " + REFUSED_TOKEN + "\n"
            + "2022-10-21T17:25:30.000000+00:00 2022/10/21/prx-1 " + CONNECTED + "\n")
    rows = json_lines(cli("logs", "classify", "-o", "json", input=tail).stdout)
    assert [r["signature"] for r in rows] == ["iam-auth-expired-token", "client-connected"]
    assert rows[0]["log_stream"] == "2022/10/21/prx-1" and rows[0]["user"] == "app_user"
    again = json_lines(cli("logs", "classify", "-", "-o", "json", input=tail).stdout)
    assert again == rows


def test_classify_summary_and_fail_on(tmp_path, cli):
    path = tmp_path / "x.log"
    path.write_text(f"{REFUSED_TOKEN}\n{CONNECTED}\n{READER_PIN}\n")
    data = cli("logs", "classify", str(path), "--summary", "-o", "json", code=1).json()
    assert data["file"] == str(path) and data["failing"] == ["iam-auth-expired-token"]
    assert data["events"] == 2  # warnings and errors only, unless --all
    everything = cli("logs", "classify", str(path), "--summary", "--all", "--fail-on", "none",
                     "-o", "json").json()
    assert everything["events"] == 3


def test_classify_bad_files(tmp_path, cli):
    out = cli("logs", "classify", str(tmp_path / "missing.log"), code=3)
    assert "not found" in out.stderr
    out = cli("logs", "classify", str(tmp_path), code=2)
    assert "is a directory" in out.stderr
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x\n")
    assert "cannot be read" in cli("logs", "classify", str(a_file / "child"), code=2).stderr
    locked = tmp_path / "locked.log"
    locked.write_text("x\n")
    locked.chmod(0)
    try:
        with open(locked):  # root reads anything: then there is nothing to test
            pytest.skip("running as root: permissions are not enforced")
    except PermissionError:
        assert "permission denied" in cli("logs", "classify", str(locked), code=2).stderr
    finally:
        locked.chmod(0o644)


def test_classify_binary_garbage_and_long_lines(tmp_path, cli):
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(256)) * 50 + b"\n" + b"A" * 600_000 + b"\n"
                     + REFUSED_TOKEN.encode() + b"\n")
    rows = json_lines(cli("logs", "classify", str(path), "-o", "json").stdout)
    assert rows[-1]["signature"] == "iam-auth-expired-token"
    assert all(len(r["message"]) <= 256 * 1024 for r in rows)
    plain = cli("logs", "classify", str(path)).stdout
    assert "\x00" not in plain and "\x1b" not in plain


# -- the library entry point the sandbox tests will use ------------------------------------------
def test_fetch_events_streams_classified_events_through_the_factory(proxy_logs, aws):
    events = list(fetch.fetch_events(aws, proxy_logs, "5m",
                                     selection=Selection.build(errors=True)))
    assert [e.signature for e in events] == ["iam-auth-expired-token", "password-auth-failed",
                                             "pinned-parse-message"]


def test_pages_follow_the_paginator(world, aws):
    world.make_proxy("demo")
    put_lines(aws, "demo", [f"[INFO] A new client connected from 10.0.0.{i}:1." for i in range(7)])
    window = Window.parse("10m")
    sizes = [len(p) for p in fetch.raw_pages(aws, "demo", start=window.start, page_size=3)]
    assert sizes == [3, 3, 1]


def test_a_closed_pipe_ends_quietly(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "many.log"
    path.write_text((CONNECTED + "\n") * 30_000)
    proc = subprocess.Popen([sys.executable, "-m", "rdsproxyctl", "logs", "classify", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert b"client-connected" in proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(30) == 0
    assert proc.stderr.read() == b""


def test_logs_json_keys_are_documented(proxy_logs, tmp_path, cli):
    for row in json_lines(cli("logs", proxy_logs, "-o", "json").stdout):
        assert_documented("logs", row)
    path = tmp_path / "documented.log"
    path.write_text("\n".join(line for line, *_ in DOCUMENTED) + "\n")
    for row in json_lines(cli("logs", "classify", str(path), "-o", "json").stdout):
        assert_documented("logs", row)
    assert_documented("logs summary", cli("logs", "summary", proxy_logs, "-o", "json",
                                          "--fail-on", "none").json())
    assert_documented("logs summary", cli("logs", "classify", str(path), "--summary", "--all",
                                          "--fail-on", "none", "-o", "json").json())


def test_terminal_lines_are_coloured_by_severity_and_escaped():
    import io

    from rdsproxyctl.cli.logs import EventWriter
    from rdsproxyctl.cli.output import OutputFormat, Renderer
    from rdsproxyctl.cli.runtime import GlobalOptions, Runtime
    from rdsproxyctl.core.logs.classify import classify

    rt = Runtime(GlobalOptions(output=OutputFormat.table))
    out = io.StringIO()
    rt.renderer = Renderer(OutputFormat.table, stdout=out, terminal=True)
    EventWriter(rt).write([classify(REFUSED_TOKEN), classify(CONNECTED),
                           classify("[WARN] odd \x1b[2J line")])
    text = out.getvalue()
    lines = text.splitlines()
    red = re.compile(r"\x1b\[[0-9;]*31m")
    assert red.search(lines[0]) and "iam-auth-expired-token" in lines[0]  # red: an error
    assert not red.search(lines[1]) and "client-connected" in lines[1]
    assert "\x1b[2;" not in lines[1]  # only the time is dim, not the whole line
    assert "\x1b[2J" not in text and "\\x1b[2J" in lines[2]  # the log's escape is shown, not run
    plain = io.StringIO()
    rt.renderer = Renderer(OutputFormat.table, stdout=plain, terminal=True, color=False)
    EventWriter(rt).write([classify(REFUSED_TOKEN)])
    assert "\x1b[3" not in plain.getvalue()  # --no-color
