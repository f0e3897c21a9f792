"""The emulator pools as RDS Proxy does: transaction multiplexing, pinning, a fair queue.

End to end, through the sandbox (real PostgreSQL, real clients).  Two clients prove that
no transaction or session state is handed from one to the other: with a pool capped at
one connection the second client gets the very connection the first one used.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import psycopg
import pytest

from rdsproxyctl.core.logs.classify import classify

pytestmark = pytest.mark.slow

PIN = "The client session was pinned to the database connection"


def _drop(conn):
    """Vanish without a Terminate message, like a killed client."""
    socket.socket(fileno=os.dup(conn.pgconn.socket)).shutdown(socket.SHUT_RDWR)
    conn.close()


def _settled(sandbox, name, timeout=5.0):
    """The proxy's pool once no connection is borrowed or being reset."""
    deadline = time.monotonic() + timeout
    while True:
        pool = sandbox.pool(name)
        if pool.get("busy") == 0 or time.monotonic() > deadline:
            return pool
        time.sleep(0.05)


def test_an_idle_client_holds_no_connection_and_transactions_multiplex(sandbox):
    name = "pool-mux"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 1})["Endpoint"]  # cap 1
    token = sandbox.token(host, "app")
    a = sandbox.connect(host, password=token, autocommit=True)
    b = sandbox.connect(host, password=token, autocommit=True)
    with a, b:
        for _ in range(3):  # both run on the one connection, in turn
            assert a.execute("SELECT 1").fetchone() == (1,)
            assert b.execute("SELECT 2").fetchone() == (2,)
        pids = {a.execute("SELECT pg_backend_pid()").fetchone()[0],
                b.execute("SELECT pg_backend_pid()").fetchone()[0]}
        assert len(pids) == 1
        # pipelining (P B D E S P B D E S) and a Flush-separated sequence leave nothing held
        with a.pipeline():
            first = a.execute("SELECT %s::int", [1])
            second = a.execute("SELECT %s::text", ["x"])
        assert first.fetchone() == (1,) and second.fetchone() == ("x",)
        # COPY FROM STDIN, simple and extended protocol (libpq's Sync after CopyDone)
        b.execute("CREATE TABLE IF NOT EXISTS pool_copy (x int)")
        with b.cursor() as cur:
            with cur.copy("COPY pool_copy FROM STDIN") as copy:
                for i in range(100):
                    copy.write_row([i])
        assert b.execute("SELECT count(*) >= 100 FROM pool_copy").fetchone() == (True,)
        b.execute("DROP TABLE pool_copy")
        pool = _settled(sandbox, name)
        assert pool["busy"] == 0 and pool["open"] == 1, pool
        # a named (protocol-level) prepared statement follows its session across borrows
        # and does not pin: RDS Proxy multiplexes the extended query protocol since 2023
        a.prepare_threshold = 0
        b.prepare_threshold = 0
        for i in range(3):
            assert a.execute("SELECT %s::int + 1", [i]).fetchone() == (i + 1,)
            assert b.execute("SELECT %s::int * 2", [i]).fetchone() == (i * 2,)
        assert _settled(sandbox, name)["busy"] == 0
    assert not sandbox.log_lines(name, contains=PIN, timeout=1)


def test_set_search_path_pins_keeps_the_setting_and_others_see_the_default(sandbox):
    name = "pool-pin"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 5})["Endpoint"]
    token = sandbox.token(host, "app")
    with sandbox.connect(host, password=token, autocommit=True) as pinned:
        pinned.execute("SET search_path TO x")
        with sandbox.connect(host, password=token, autocommit=True) as other:
            for _ in range(3):
                assert pinned.execute("SHOW search_path").fetchone() == ("x",)
                assert other.execute("SHOW search_path").fetchone() == ('"$user", public',)
        lines = sandbox.log_lines(name, contains=PIN)
        assert len(lines) == 1
        assert lines[0].endswith("Reason: SQL changed session settings that the proxy doesn't "
                                 "track. Consider moving session configuration to the proxy's "
                                 'initialization query. Digest: "set search_path to x".')
        assert "[WARN]" in lines[0]
        event = classify(lines[0])
        assert event.signature == "pinned-session-settings"
        assert event.fields.get("digest") == "set search_path to x"
        assert sandbox.pool(name)["busy"] == 1  # the pinned session keeps its connection
    pool = _settled(sandbox, name)
    assert pool["busy"] == 0
    with sandbox.connect(host, password=token, autocommit=True) as later:
        for _ in range(3):
            assert later.execute("SHOW search_path").fetchone() == ('"$user", public',)


LEAKS = {
    # what the first client does -> what the next one, on the same connection, must see
    "transaction": ("BEGIN; CREATE TABLE pool_leak_tx (x int)",
                    "SELECT count(*) FROM pg_tables WHERE tablename = 'pool_leak_tx'", 0),
    "set": ("SET statement_timeout TO '1234ms'", "SHOW statement_timeout", "0"),
    "temporary table": ("CREATE TEMP TABLE pool_leak_tmp (x int)",
                        "SELECT count(*) FROM pg_tables WHERE tablename = 'pool_leak_tmp'", 0),
    "advisory lock": ("SELECT pg_advisory_lock(4242)",
                      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", 0),
    "listen": ("LISTEN pool_leak_channel",
               "SELECT count(*) FROM pg_listening_channels()", 0),
}


@pytest.mark.parametrize("vanish", [False, True], ids=["closes", "vanishes"])
def test_no_state_is_handed_to_the_next_client(sandbox, vanish):
    name = f"pool-leak-{'v' if vanish else 'c'}"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 1})["Endpoint"]  # cap 1
    token = sandbox.token(host, "app")
    for case, (setup, check, clean) in LEAKS.items():
        first = sandbox.connect(host, password=token, autocommit=True)
        first.execute(setup)
        pid = first.execute("SELECT pg_backend_pid()").fetchone()[0]
        if vanish:
            _drop(first)
        else:
            first.close()
        with sandbox.connect(host, password=token, autocommit=True,
                             connect_timeout=10) as second:
            assert second.execute(check).fetchone() == (clean,), case
            assert second.execute("SELECT pg_backend_pid()").fetchone()[0] == pid, case
    # every pin line the emulator wrote is one the log classifier knows
    lines = sandbox.log_lines(name, contains=PIN, count=4)
    assert len(lines) == 4  # SET, temporary table, advisory lock, LISTEN
    for line in lines:
        assert classify(line).signature.startswith("pinned"), line


def test_every_pin_reason_is_tagged_by_the_log_classifier():
    # two independent descriptions (the emulator's messages, the catalog's signatures)
    from rdsproxyctl.sandbox.emulator.messages import LOG, PIN_REASONS, log_line

    import datetime as dt

    for key, reason in PIN_REASONS.items():
        text = LOG["pinned"].format(db=123, reason=reason.format(digest="set x = $1"))
        line = log_line(dt.datetime.now(dt.timezone.utc), "WARN", text, endpoint="default",
                        client=7)
        event = classify(line)
        assert event.signature.startswith("pinned"), (key, event.signature)
        assert event.severity == "warn"
    too_large = classify(log_line(dt.datetime.now(dt.timezone.utc), "WARN", LOG["pinned"].format(
        db=1, reason=PIN_REASONS["too_large"])))
    assert too_large.signature == "pinned-statement-too-large"


def test_hundred_clients_on_ten_connections_get_no_error(sandbox):
    name = "pool-hundred"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 10,
                                          "ConnectionBorrowTimeout": 30})["Endpoint"]
    token = sandbox.token(host, "app")
    peak = [0]
    stop = threading.Event()
    errors: list[BaseException] = []
    done = [0]

    def watch():
        with sandbox.superuser() as conn:
            while not stop.is_set():
                (n,) = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' "
                                    "AND application_name = 'pool-hundred'").fetchone()
                peak[0] = max(peak[0], n)
                time.sleep(0.02)

    def client():
        try:
            with sandbox.connect(host, password=token, application_name="pool-hundred",
                                 connect_timeout=60) as conn:
                until = time.monotonic() + 10
                while time.monotonic() < until:
                    with conn.transaction():
                        conn.execute("SELECT 1").fetchone()
                        conn.execute("SELECT 2").fetchone()
                    done[0] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    clients = [threading.Thread(target=client) for _ in range(100)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(90)
    stop.set()
    watcher.join()
    assert not errors, errors[:3]
    assert done[0] >= 100
    assert 1 <= peak[0] <= 10, peak
    assert sandbox.pool(name)["open"] <= 10


def test_simultaneous_first_connects_are_all_served(sandbox):
    # the queue wakes waiters when the cap rises (it is 1 until the first connection
    # tells the pool the server's max_connections) and whenever a connection returns
    host = sandbox.make_proxy("pool-burst", pool={"ConnectionBorrowTimeout": 5})["Endpoint"]
    token = sandbox.token(host, "app")
    errors: list[BaseException] = []
    barrier = threading.Barrier(12)

    def client():
        try:
            barrier.wait()
            with sandbox.connect(host, password=token, connect_timeout=30) as conn:
                conn.execute("SELECT pg_sleep(0.2)")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]


def test_init_query_applies_after_reset(sandbox):
    name = "pool-init"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 1,
                                          "InitQuery": "SET lock_timeout TO '7s'"})["Endpoint"]
    token = sandbox.token(host, "app")
    with sandbox.connect(host, password=token, autocommit=True) as conn:
        assert conn.execute("SHOW lock_timeout").fetchone() == ("7s",)
        conn.execute("SET work_mem TO '5MB'")  # pins; the connection is reset at the end
    with sandbox.connect(host, password=token, autocommit=True) as conn:
        assert conn.execute("SHOW work_mem").fetchone() != ("5MB",)
        assert conn.execute("SHOW lock_timeout").fetchone() == ("7s",)  # InitQuery again


def _messages_until_ready(s) -> list[tuple[bytes, bytes]]:
    """Read messages up to and including ReadyForQuery."""
    import struct

    data = b""
    out: list[tuple[bytes, bytes]] = []
    while True:
        while len(data) >= 5:
            (length,) = struct.unpack_from("!I", data, 1)
            if len(data) < length + 1:
                break
            out.append((data[:1], data[5:length + 1]))
            data = data[length + 1:]
            if out[-1][0] == b"Z":
                assert not data
                return out
        chunk = s.recv(65536)
        assert chunk, out
        data += chunk


def test_statements_follow_their_session_across_connections(sandbox):
    from rdsproxyctl.sandbox.emulator import protocol as pg

    from .test_sandbox_robustness import _login

    name = "pool-statements"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 1})["Endpoint"]  # cap 1
    token = sandbox.token(host, "app")
    one, two = _login(sandbox, host, token, app=name), _login(sandbox, host, token, app=name)

    def run(s, *messages) -> list[tuple[bytes, bytes]]:
        s.sendall(b"".join(messages) + pg.message(b"S"))
        return _messages_until_ready(s)

    def rows(answer) -> list[list[str | None]]:
        assert not [b for k, b in answer if k == b"E"], answer
        return [pg.data_row(b) for k, b in answer if k == b"D"]

    bind = pg.message(b"B", b"\x00\x00\x00\x00\x00\x00\x00\x00")  # unnamed portal/statement
    execute = pg.message(b"E", b"\x00\x00\x00\x00\x00")
    # the unnamed statement, then another session's Query on the same connection destroys it
    answer = run(one, pg.message(b"P", b"\x00SELECT 41 + 1\x00\x00\x00"))
    assert [k for k, _ in answer] == [b"1", b"Z"]
    assert rows(run(two, pg.message(b"P", b"\x00SELECT 7\x00\x00\x00"), bind,
                    execute)) == [["7"]]
    assert rows(run(one, bind, execute)) == [["42"]]  # re-prepared for session one
    # the same statement name in two sessions, with different text
    run(one, pg.message(b"P", b"s1\x00SELECT 1\x00\x00\x00"))
    answer = run(two, pg.message(b"P", b"s1\x00SELECT 2\x00\x00\x00"))
    assert [k for k, _ in answer] == [b"1", b"Z"]  # no "already exists"
    named = pg.message(b"B", b"\x00s1\x00\x00\x00\x00\x00\x00\x00")
    assert rows(run(one, named, execute)) == [["1"]]
    assert rows(run(two, named, execute)) == [["2"]]
    # Close removes it for its session only
    answer = run(one, pg.message(b"C", b"Ss1\x00"))
    assert [k for k, _ in answer] == [b"3", b"Z"]
    assert rows(run(two, named, execute)) == [["2"]]
    for s in (one, two):
        s.sendall(pg.message(b"X"))
        s.close()
    assert not sandbox.log_lines(name, contains=PIN, timeout=1)


def test_startup_parameters_and_idle_timeout_per_session(sandbox):
    name = "pool-params"
    rds = sandbox.client("rds")
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 1})["Endpoint"]
    token = sandbox.token(host, "app")
    with sandbox.connect(host, password=token, autocommit=True, application_name="one") as a, \
            sandbox.connect(host, password=token, autocommit=True,
                            application_name="two") as b:
        for _ in range(2):  # one connection, each borrow with the borrower's parameters
            assert a.execute("SHOW application_name").fetchone() == ("one",)
            assert b.execute("SHOW application_name").fetchone() == ("two",)
        # IdleClientTimeout applies live, counted from the end of the last request
        rds.modify_db_proxy(DBProxyName=name, IdleClientTimeout=1)
        time.sleep(0.5)
        a.execute("SELECT 1")
        time.sleep(2.0)
        with pytest.raises(psycopg.OperationalError):
            a.execute("SELECT 1")
    assert sandbox.log_lines(name, contains="IdleClientTimeout of 1 seconds")
