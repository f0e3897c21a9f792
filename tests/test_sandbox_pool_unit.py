"""The emulator's protocol-agnostic pool, the relay's message splitter and the SQL that pins.

The pool is driven with a fake :class:`~rdsproxyctl.sandbox.emulator.pool.Backend`: it
knows no wire protocol, which is what lets another engine's adapter plug in.
"""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from rdsproxyctl.sandbox.emulator import protocol as pg
from rdsproxyctl.sandbox.emulator.pgpinning import normalize, pin_reason
from rdsproxyctl.sandbox.emulator.pool import (
    BackendError,
    BorrowTimeout,
    Limits,
    PoolKey,
    TargetPool,
)

KEY = PoolKey("app", "app")


class FakeBackend:
    def __init__(self, key: PoolKey, ident: int) -> None:
        self.id = ident
        self.key = key
        self.last_used = 0.0
        self.closed = False
        self.resets = 0
        self.inits: list[str | None] = []

    @property
    def alive(self) -> bool:
        return not self.closed

    def close(self, *, abort: bool = False) -> None:
        self.closed = True

    async def reset(self) -> bool:
        self.resets += 1
        return True

    async def initialize(self, init_query: str | None) -> str | None:
        self.inits.append(init_query)
        return None

    async def server_max_connections(self) -> int | None:
        return 100


def _pool(limits: dict, delay: float = 0.0, fail: BackendError | None = None) -> TargetPool:
    opened: list[FakeBackend] = []

    async def opener(key: PoolKey, password: str | None, timeout: float) -> FakeBackend:
        await asyncio.sleep(delay)
        if fail is not None:
            raise fail
        conn = FakeBackend(key, len(opened) + 1)
        opened.append(conn)
        return conn

    pool = TargetPool("test", opener, lambda: Limits(**limits))
    pool.opened = opened  # type: ignore[attr-defined]
    return pool


def test_simultaneous_first_borrows_are_all_served_when_the_cap_becomes_known():
    async def main():
        pool = _pool({"max_connections_percent": 10, "borrow_timeout": 2}, delay=0.05)
        peak = [0]

        async def borrower() -> int:
            conn = await pool.acquire(KEY, None)
            peak[0] = max(peak[0], len(pool.busy))
            await asyncio.sleep(0.05)
            pool.release(conn)
            return conn.id

        ids = await asyncio.gather(*(borrower() for _ in range(12)))
        assert len(ids) == 12 and peak[0] == 10  # the cap rose to 10 once known
        assert len(pool.opened) == 10

    asyncio.run(main())


def test_borrowers_are_served_first_come_first_served():
    async def main():
        pool = _pool({"max_connections_percent": 1, "borrow_timeout": 5})  # cap 1
        first = await pool.acquire(KEY, None)
        order: list[int] = []

        async def borrower(i: int) -> None:
            conn = await pool.acquire(KEY, None)
            order.append(i)
            await asyncio.sleep(0.01)
            pool.release(conn)

        tasks = []
        for i in range(5):
            tasks.append(asyncio.ensure_future(borrower(i)))
            await asyncio.sleep(0.01)  # queue them in order
        pool.release(first)
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]
        assert len(pool.opened) == 1  # one connection served everyone

    asyncio.run(main())


def test_a_raised_cap_wakes_waiters_and_a_timeout_says_so():
    async def main():
        limits = {"max_connections_percent": 1, "borrow_timeout": 3}
        pool = TargetPool("test", _pool(limits).opener, lambda: Limits(**limits))
        await pool.acquire(KEY, None)
        waiter = asyncio.ensure_future(pool.acquire(KEY, None))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        limits["max_connections_percent"] = 2  # ModifyDBProxyTargetGroup, live
        conn = await asyncio.wait_for(waiter, 2)
        assert conn is not None and pool.open_count == 2
        limits["borrow_timeout"] = 0.2
        with pytest.raises(BorrowTimeout):
            await pool.acquire(KEY, None)

    asyncio.run(main())


def test_release_as_is_reset_or_abort():
    async def main():
        pool = _pool({"max_connections_percent": 10, "init_query": "SET x TO 1"})
        conn = await pool.acquire(KEY, None)
        assert conn.inits == ["SET x TO 1"]
        pool.release(conn)  # end of a transaction: back as it is
        assert pool.idle_count == 1 and conn.resets == 0
        again = await pool.acquire(KEY, None)
        assert again is conn
        pool.release(conn, reset=True)  # a pinned session ended: reset, InitQuery again
        await asyncio.sleep(0.01)
        assert conn.resets == 1 and conn.inits == ["SET x TO 1", "SET x TO 1"]
        assert pool.idle_count == 1
        conn = await pool.acquire(KEY, None)
        pool.release(conn, abort=True)  # mid-request: closed
        assert conn.closed and pool.open_count == 0

    asyncio.run(main())


def test_refused_credentials_fail_the_borrow_at_once():
    async def main():
        pool = _pool({"borrow_timeout": 5}, fail=BackendError("auth_failed", "no"))
        with pytest.raises(BackendError):
            await asyncio.wait_for(pool.acquire(KEY, None), 1)

    asyncio.run(main())


# -- the relay's splitter ------------------------------------------------------------------------
_messages = hs.lists(hs.tuples(hs.sampled_from(b"QPBDESHXdcf"),
                               hs.binary(max_size=300)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(_messages, hs.lists(hs.integers(min_value=1, max_value=97), max_size=30))
def test_splitter_gives_every_message_however_the_stream_is_cut(msgs, cuts):
    stream = b"".join(pg.message(bytes([k]), body) for k, body in msgs)
    splitter = pg.Splitter(whole=128)
    pieces: list[tuple[bytes, bytes, int]] = []
    pos = 0
    for size in cuts + [len(stream)]:
        pieces.extend(splitter.feed(stream[pos:pos + size]))
        pos += size
    assert b"".join(p for _, p, _ in pieces) == stream
    starts = [k for k, _, flags in pieces if flags & pg.START]
    assert starts == [bytes([k]) for k, _ in msgs]
    for kind, piece, flags in pieces:
        if flags == pg.WHOLE:
            assert len(piece) <= 128 and piece[:1] == kind
    assert not splitter.in_message


@settings(max_examples=200, deadline=None)
@given(hs.binary(max_size=400))
def test_splitter_on_random_bytes_only_raises_protocol_violation(data):
    splitter = pg.Splitter(whole=64)
    try:
        for i in range(0, len(data), 7):
            splitter.feed(data[i:i + 7])
    except pg.ProtocolViolation:
        pass


def test_splitter_memory_is_bounded_for_huge_declared_lengths():
    splitter = pg.Splitter(whole=1024)
    pieces = splitter.feed(b"d" + struct.pack("!I", 1 << 30) + b"x" * 10)
    assert pieces == [(b"d", b"d" + struct.pack("!I", 1 << 30) + b"x" * 10, pg.START)]
    assert splitter.in_message and len(splitter._buf) == 0


# -- what pins -----------------------------------------------------------------------------------
@pytest.mark.parametrize("sql, reason", [
    ("SET search_path TO x", "settings"),
    ("set search_path = 'a'; set names 'b';", "settings"),
    ("RESET ALL", "settings"),
    ("SELECT pg_catalog.set_config('search_path', 'x', false)", "settings"),
    ("PREPARE p AS SELECT 1", "prepare"),
    ("EXECUTE p", "prepare"),
    ("DEALLOCATE ALL", "prepare"),
    ("CREATE TEMP TABLE t (x int)", "temporary"),
    ("create temporary sequence s", "temporary"),
    ("CREATE OR REPLACE TEMP VIEW v AS SELECT 1", "temporary"),
    ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", "cursor"),
    ("DISCARD ALL", "discard"),
    ("LISTEN channel", "listen"),
    ("LOAD 'auto_explain'", "load"),
    ("SELECT nextval('s')", "sequence"),
    ("SELECT pg_advisory_lock(1)", "advisory_lock"),
    ("SELECT pg_try_advisory_lock_shared(1)", "advisory_lock"),
    ("SELECT '" + "x" * 17000 + "'", "too_large"),
])
def test_what_aws_documents_as_pinning_pins(sql, reason):
    found = pin_reason(sql)
    assert found is not None and found[0] == reason, found


@pytest.mark.parametrize("sql", [
    "SELECT 1", "SET LOCAL work_mem = '1MB'", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "UPDATE t SET x = 1", "SELECT set_config('a', 'b', true)", "SELECT pg_advisory_xact_lock(1)",
    "DECLARE c CURSOR FOR SELECT 1", "BEGIN", "COMMIT", "SELECT 'SET x = 1'",
    "-- SET x = 1\nSELECT 1", "PREPARE TRANSACTION 'x'", "SELECT offset_value FROM t",
])
def test_what_does_not_pin(sql):
    assert pin_reason(sql) is None


def test_digest_hides_literals_and_keeps_the_shape():
    assert normalize("SET search_path = 'a'; SET NAMES 'b';") == "set search_path = $1; set names $2;"
    assert normalize("SELECT $1, 42, E'x''y', $$z$$ /* c */ FROM \"T\"") == \
        'select $1, $2, $3, $4 from "T"'


@settings(max_examples=300, deadline=None)
@given(hs.text(max_size=200))
def test_pin_reason_never_fails(sql):
    found = pin_reason(sql)
    assert found is None or isinstance(found[1], str)
