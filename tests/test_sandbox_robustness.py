"""The emulator under rough treatment: startup details real clients hit, bursts of
clients, clients that vanish mid-message, a fuzzed message stream.  Afterwards no
backend connection is leaked and daemon.log holds no traceback."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from rdsproxyctl.sandbox.emulator import protocol as pg

pytestmark = pytest.mark.slow


def _tls(sandbox, host) -> ssl.SSLSocket:
    raw = socket.create_connection((host, 5432), timeout=10)
    raw.sendall(pg.ssl_request())
    assert raw.recv(1) == b"S"
    ctx = ssl.create_default_context(cafile=str(sandbox.ca_file))
    return ctx.wrap_socket(raw, server_hostname=host)


def _read_until(s, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _recv_all(s) -> bytes:
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout, ssl.SSLError):
            return data
        if not chunk:
            return data
        data += chunk


def _login(sandbox, host, token, app="robust") -> ssl.SSLSocket:
    s = _tls(sandbox, host)
    s.sendall(pg.startup_packet({"user": "app", "database": "app", "application_name": app}))
    assert s.recv(9)[:1] == b"R"
    s.sendall(pg.message(b"p", pg.cstr(token)))
    data = _read_until(s, pg.ready_for_query())
    assert b"K" + struct.pack("!I", 12) not in data  # no BackendKeyData, as RDS Proxy
    return s


def _no_leaks(sandbox, name, app=None, timeout=15.0):
    """Every backend the proxy opened for ``app`` is in its pool, none borrowed."""
    app = app or name
    deadline = time.monotonic() + timeout
    while True:
        pool = sandbox.pool(name)
        with sandbox.superuser() as su:
            (n,) = su.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' "
                              "AND application_name = %s", [app]).fetchone()
            (busy,) = su.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' "
                                 "AND application_name = %s AND state <> 'idle'",
                                 [app]).fetchone()
        ok = pool.get("busy") == 0 and n <= pool.get("open", 0) and busy == 0
        if ok or time.monotonic() > deadline:
            assert ok, (pool, n, busy)
            return pool
        time.sleep(0.2)


def _no_traceback(sandbox):
    log = (sandbox.directory / "daemon.log").read_text(errors="replace")
    assert "Traceback" not in log, log[log.find("Traceback") - 200:][:3000]


def test_startup_details_as_rds_proxy(sandbox):
    host = sandbox.make_proxy("robust-startup")["Endpoint"]
    token = sandbox.token(host, "app")
    # protocol 3.2 with an unknown _pq_ option: NegotiateProtocolVersion as PostgreSQL 15
    with _tls(sandbox, host) as s:
        body = struct.pack("!I", (3 << 16) | 2) + b"user\x00app\x00_pq_.x\x00y\x00\x00"
        s.sendall(struct.pack("!I", len(body) + 4) + body)
        head = s.recv(5)
        assert head[:1] == b"v"
        rest = s.recv(struct.unpack("!I", head[1:])[0] - 4)
        assert struct.unpack_from("!II", rest) == (pg.PROTOCOL_3_0, 1)
        assert rest[8:] == b"_pq_.x\x00"
        assert s.recv(9)[:1] == b"R"  # and authentication goes on
    # libpq 18's max_protocol_version=latest then works
    if psycopg.pq.version() >= 180000:
        with sandbox.connect(host, password=token, max_protocol_version="latest") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    # the documented refusals, verbatim
    with _tls(sandbox, host) as s:
        s.sendall(struct.pack("!II", 8 + 9, 2 << 16) + b"user\x00app\x00")
        assert b"Feature not supported: RDS Proxy supports only version 3.0 of the PostgreSQL " \
               b"messaging protocol." in _recv_all(s)
    with pytest.raises(psycopg.OperationalError,
                       match="Feature not supported: RDS Proxy currently doesn't support "
                             "streaming replication mode."):
        sandbox.connect(host, password=token, replication="database")


def test_a_burst_of_500_clients_is_served(sandbox):
    name = "robust-burst"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 10,
                                          "ConnectionBorrowTimeout": 120})["Endpoint"]
    token = sandbox.token(host, "app")
    conninfo = psycopg.conninfo.make_conninfo(
        host=host, port=5432, user="app", dbname="app", password=token, sslmode="verify-full",
        sslrootcert=str(sandbox.ca_file), application_name=name, connect_timeout=120)

    async def client() -> None:
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        async with conn:
            await conn.execute("SELECT 1")

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(*(client() for _ in range(500)), return_exceptions=True)

    results = asyncio.run(main())
    errors = [r for r in results if r is not None]
    assert not errors, errors[:3]
    pool = _no_leaks(sandbox, name)
    assert pool["open"] <= 10
    _no_traceback(sandbox)


def test_clients_vanishing_mid_message_leak_nothing(sandbox):
    name = "robust-vanish"
    host = sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 3})["Endpoint"]
    token = sandbox.token(host, "app")
    cases = [
        pg.query("SELECT 1")[:7],  # half a Query
        pg.message(b"P", b"\x00SELECT 1\x00\x00\x00") + pg.message(b"B", b"\x00\x00")[:6],
        pg.message(b"P", b"\x00SELECT pg_sleep(5)\x00\x00\x00")
        + pg.message(b"B", b"\x00\x00\x00\x00\x00\x00\x00\x00") + pg.message(b"E", b"\x00\x00\x00\x00\x00")
        + pg.message(b"S"),  # a statement running
        pg.query("BEGIN") + pg.query("SELECT 1"),  # a transaction open
        pg.query("COPY (SELECT 1) TO STDOUT") + b"d\x00\x00",
        b"Q" + struct.pack("!I", 1 << 20) + b"SELECT " * 100,  # a long message, cut short
    ]
    for data in cases:
        s = _login(sandbox, host, token, app=name)
        s.sendall(data)
        time.sleep(0.1)
        s.close()
    _no_leaks(sandbox, name)
    with sandbox.connect(host, password=token) as conn:  # and the proxy still serves
        assert conn.execute("SELECT 1").fetchone() == (1,)
    _no_traceback(sandbox)


_KINDS = hs.sampled_from([b"Q", b"P", b"B", b"D", b"E", b"S", b"H", b"C", b"d", b"c", b"f",
                          b"F", b"p", b"z"])
_BODIES = hs.one_of(
    hs.binary(max_size=40),
    hs.sampled_from([b"SELECT 1\x00", b"\x00SELECT 1\x00\x00\x00", b"\x00\x00\x00\x00\x00\x00",
                     b"S\x00", b"P\x00", b"\x00\x00\x00\x00\x00", b"BEGIN\x00",
                     b"SET search_path TO x\x00", b"COPY (SELECT 1) TO STDOUT\x00"]))


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(hs.lists(hs.tuples(_KINDS, _BODIES), min_size=1, max_size=12), hs.booleans())
def test_fuzzed_message_streams_leak_nothing(sandbox, messages, wait):
    name = "robust-fuzz"
    if not sandbox.pool(name):
        sandbox.make_proxy(name, pool={"MaxConnectionsPercent": 3,
                                       "ConnectionBorrowTimeout": 10})
    host = sandbox.client("rds").describe_db_proxies(
        DBProxyName=name)["DBProxies"][0]["Endpoint"]
    s = _login(sandbox, host, sandbox.token(host, "app"), app=name)
    s.settimeout(0.3)
    try:
        s.sendall(b"".join(pg.message(k, body) for k, body in messages))
        if wait:
            _recv_all(s)
    except OSError:
        pass
    s.close()
    _no_leaks(sandbox, name)
    _no_traceback(sandbox)
