"""The pinning report over classified log lines: groups, causes, fixes, the share pinned."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdsproxyctl.core.logs.classify import classify_lines
from rdsproxyctl.core.pinning import CAUSES, PinningAnalyzer, cause_of, init_query

from .metrics_data import publish, steady
from .test_json_docs import assert_documented

PIN = ("{ts} [WARN] [proxyEndpoint=default] [clientConnection={c}] The client session was pinned "
       "to the database connection [dbConnection={d}] for the remainder of the session. The "
       "proxy can't reuse this connection until the session ends. Reason: {reason}")
CONNECTED = ("{ts} [INFO] [proxyEndpoint=default] [clientConnection={c}] A new client connected "
             "from 10.0.1.{c}:5539{c}.")
PARSE = "A parse message was detected."
SETTINGS = ("SQL changed session settings that the proxy doesn't track. Consider moving session "
            "configuration to the proxy's initialization query. Digest: \"set search_path = $1; "
            "set timezone = $2;\".")
TEMP = "A temporary table was created."
LARGE = "The connection ran a SQL query which exceeded the 16384 byte limit."


def workload_lines() -> list[str]:
    """Ten clients: three prepare named statements (one of them twice), two SET, one makes a
    temporary table, one sends a huge statement, three do nothing that pins."""
    ts = "2026-05-01T10:00:{:02d}.000Z"
    lines = [CONNECTED.format(ts=ts.format(c), c=c) for c in range(1, 11)]
    pins = [(1, PARSE), (2, PARSE), (3, PARSE), (3, PARSE), (4, SETTINGS), (5, SETTINGS),
            (6, TEMP), (7, LARGE)]
    lines += [PIN.format(ts=ts.format(20 + i), c=c, d=100 + c, reason=reason)
              for i, (c, reason) in enumerate(pins)]
    lines.append("2026-05-01T10:00:59.000Z [INFO] [proxyEndpoint=default] [clientConnection=9] "
                 "The client connection closed. Reason: The client chose to close the connection.")
    return lines


def analyse(lines, proxy="demo"):
    return PinningAnalyzer(proxy=proxy).add_all(classify_lines(lines)).result()


def test_groups_counts_causes_and_fixes():
    report = analyse(workload_lines())
    assert (report.pin_events, report.pinned_sessions, report.client_sessions) == (8, 7, 10)
    assert report.pinned_share == 0.7 and report.status == "FAIL"
    groups = {g.cause: g for g in report.groups}
    assert [g.cause for g in report.groups][0] == "prepared-statement"  # most frequent first
    prepared = groups["prepared-statement"]
    assert (prepared.count, prepared.sessions, prepared.inherent) == (4, 3, False)
    settings = {f.client: f for f in prepared.fixes}
    assert settings["psycopg 3"].setting.startswith("prepare_threshold=None")
    assert settings["asyncpg"].setting.startswith("statement_cache_size=0")
    assert settings["PostgreSQL JDBC"].setting.startswith("prepareThreshold=0")
    assert "name" in settings["node-postgres"].setting
    assert all(f.source.startswith("https://") for f in prepared.fixes)
    sets = groups["session-settings"]
    assert (sets.count, sets.sessions) == (2, 2)
    assert sets.digest == "set search_path = $1; set timezone = $2;"
    assert sets.init_query == "SET search_path TO <value>; SET timezone TO <value>"
    assert sets.command == ("rdsproxyctl pool demo --init-query 'SET search_path TO <value>; "
                            "SET timezone TO <value>'")
    temp = groups["temporary-table"]
    assert temp.inherent and temp.fix.startswith("this is inherent: keep the session short")
    assert temp.command is None and temp.fixes == []
    assert groups["statement-too-large"].count == 1
    assert groups["statement-too-large"].signature == "pinned-statement-too-large"


def test_no_pinning_passes_and_small_share_warns():
    lines = workload_lines()
    quiet = [line for line in lines if "pinned" not in line]
    report = analyse(quiet)
    assert report.status == "PASS" and report.groups == [] and report.pinned_share == 0
    one = quiet + [PIN.format(ts="2026-05-01T10:01:00.000Z", c=1, d=5, reason=PARSE)]
    assert analyse(one).status == "WARN"  # 1 of 10 sessions


@pytest.mark.parametrize("reason, cause", [
    ("An advisory lock was taken.", "lock"),
    ('A session-level advisory lock function was called. Digest: "select pg_advisory_lock($1)".',
     "lock"),
    ('A temporary table, sequence or view was created. Digest: "create temp table t (a int)".',
     "temporary-table"),
    ('A sequence function (nextval, setval, currval, lastval) was called. Digest: '
     '"select nextval($1)".', "sequence"),
    ('A DISCARD statement was detected. Digest: "discard all".', "discard-or-load"),
    ('A cursor declared WITH HOLD was detected. Digest: "declare c cursor with hold for '
     'select $1".', "cursor"),
    ("A cursor was declared.", "cursor"),
    ("LISTEN was called.", "listen"),
    ("nextval was called.", "sequence"),
    ('An explicit table lock was taken. Digest: "lock tables t write".', "lock"),
    ('A named lock was created with GET_LOCK. Digest: "select get_lock($1, $2)".', "lock"),
    ('The client sent a command that changes the session state. Digest: "COM_SET_OPTION".',
     "other"),
    ("Something new.", "other"),
])
def test_generic_pin_reasons(reason, cause):
    assert cause_of("pinned", reason) == cause
    assert CAUSES[cause].inherent


def test_every_pinning_signature_of_the_catalog_is_read():
    from rdsproxyctl.core.logs.signatures import SIGNATURES
    from rdsproxyctl.core.pinning import PIN_SIGNATURES

    for sig in SIGNATURES:
        if sig.id == "pinned" or sig.parent == "pinned":
            assert sig.id in PIN_SIGNATURES
            for example in sig.examples:
                report = analyse([example])
                assert report.pin_events == 1, example
                if sig.id != "pinned":
                    assert report.groups[0].cause != "other", (sig.id, example)


def test_sql_prepare_and_the_digest_of_generic_lines():
    line = PIN.format(ts="2026-05-01T10:00:00.000Z", c=1, d=2, reason=(
        'A SQL PREPARE, EXECUTE or DEALLOCATE statement was detected. Digest: "prepare q as '
        'select $1".'))
    report = analyse([line])
    (group,) = report.groups
    assert group.cause == "sql-prepare" and not group.inherent
    assert group.digest == "prepare q as select $1"
    assert group.reason == "A SQL PREPARE, EXECUTE or DEALLOCATE statement was detected."
    assert "bind parameters" in group.fix and group.fixes[0].source.startswith("https://aws.")
    # the digest of a SET does not make it a prepared statement
    assert cause_of("pinned", 'Something. Digest: "prepare x"') == "other"


def test_init_query_from_digests():
    assert init_query('set search_path to $1') == "SET search_path TO <value>"
    assert init_query("SET application_name = 'x'") == "SET application_name TO 'x'"
    assert init_query("select 1") is None and init_query(None) is None


@given(st.text(max_size=200))
def test_init_query_never_crashes(digest):
    result = init_query(digest)
    assert result is None or result.startswith("SET ")


def test_logs_classify_pinning(tmp_path, cli):
    path = tmp_path / "proxy.log"
    path.write_text("\n".join(workload_lines()) + "\n")
    out = cli("logs", "classify", str(path), "--pinning", "-o", "json", code=1)
    data = out.json()
    assert data["file"] == str(path) and data["proxy"] is None and data["status"] == "FAIL"
    assert {g["cause"]: g["count"] for g in data["groups"]} == {
        "prepared-statement": 4, "session-settings": 2, "temporary-table": 1,
        "statement-too-large": 1}
    assert "pooling is off" in out.stderr
    assert_documented("pinning", data)
    table = cli("logs", "classify", str(path), "--pinning", code=1).stdout
    assert "prepare_threshold=None" in table and "keep the session short" in table
    assert "https://www.psycopg.org/psycopg3/docs/advanced/prepare.html" in table
    cli("logs", "classify", str(path), "--pinning", "--summary", code=2)


def test_control_characters_in_digests_are_escaped(tmp_path, cli):
    digest = SETTINGS.replace("set timezone", "set \x1b[31mtimezone")
    path = tmp_path / "proxy.log"
    path.write_text(PIN.format(ts="2026-05-01T10:00:00.000Z", c=1, d=2, reason=digest) + "\n")
    out = cli("logs", "classify", str(path), "--pinning")
    assert "\x1b" not in out.stdout and "\\x1b[31mtimezone" in out.stdout
    assert "\x1b[31mtimezone" in cli("logs", "classify", str(path), "--pinning",
                                      "-o", "json").json()["groups"][0]["digest"]


def put_lines(world, name, lines):
    logs = world.aws.client("logs")
    group = f"/aws/rds/proxy/{name}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now - 5000 + i, "message": line} for i, line in enumerate(lines)])


def test_pinning_command_reads_the_proxys_lines(world, cli):
    world.make_proxy("demo", DebugLogging=True)
    put_lines(world, "demo", [line.split(" ", 1)[1] for line in workload_lines()])
    publish(world.aws.client("cloudwatch"), "demo",
            steady(10, DatabaseConnectionsCurrentlySessionPinned=7, DatabaseConnections=9))
    out = cli("pinning", "demo", "--since", "1h", "-o", "json", code=1)
    data = out.json()
    assert data["proxy"] == "demo" and data["debug_logging"] is True
    assert data["pin_events"] == 8 and data["client_sessions"] == 10
    assert data["pinned_connections_peak"] == 7 and data["database_connections_peak"] == 9
    assert "DebugLogging is off" not in out.stderr
    assert_documented("pinning", data)


def test_pinning_says_when_debug_logging_is_off(world, cli):
    world.make_proxy("demo")
    out = cli("pinning", "demo")
    assert "DebugLogging is off" in out.stderr and "--debug-logging" in out.stderr
    assert "stays on until you turn it off" in out.stderr
    assert "no log group" in out.stderr
    assert "PASS" in out.stdout


def test_pinning_unknown_proxy_and_bad_window(world, cli):
    cli("pinning", "nope", code=3)
    cli("pinning", "demo", "--since", "yesterday-ish", code=2)


@given(st.lists(st.tuples(st.integers(1, 30), st.sampled_from([PARSE, SETTINGS, TEMP, LARGE])),
                max_size=40),
       st.integers(0, 30))
def test_counts_add_up(pins, clients):
    lines = [CONNECTED.format(ts="2026-05-01T10:00:00.000Z", c=c) for c in range(1, clients + 1)]
    lines += [PIN.format(ts="2026-05-01T10:00:01.000Z", c=c, d=9, reason=r) for c, r in pins]
    report = analyse(lines)
    assert report.pin_events == len(pins) == sum(g.count for g in report.groups)
    assert report.pinned_sessions == len({c for c, _ in pins})
    assert all(1 <= g.sessions <= g.count for g in report.groups)
    assert report.client_sessions == clients
    assert report.status == ("PASS" if not pins else "FAIL" if clients and
                             len({c for c, _ in pins}) / clients > 0.2 else "WARN")
