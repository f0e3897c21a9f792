"""Backend connections to PostgreSQL, and the connection pool of one proxy target.

Design (see docs/sandbox.md, "The pool"):

* A :class:`TargetPool` holds the connections one proxy keeps to one target, keyed by
  :class:`PoolKey` (user, database).  Its cap is
  ``floor(MaxConnectionsPercent / 100 * max_connections)`` of the server (read with
  ``SHOW max_connections`` on the first connection), counted over every key; idle
  connections above ``MaxIdleConnectionsPercent`` are closed when returned.  Both
  percentages and ConnectionBorrowTimeout are read live from the target group on
  every borrow.
* ``acquire(key, ...)`` hands out an idle connection of that key, opens a new one while
  under the cap (closing an idle connection of another key to make room), or waits,
  up to the borrow timeout, for a connection to come back; then raises
  :class:`BorrowTimeout`.
* ``release(conn, clean=...)`` takes a connection back.  A clean one (no statement in
  flight) is reset in the background (``ROLLBACK`` when in a transaction, then
  ``DISCARD ALL``) before anyone else may borrow it; anything else is closed.

The unit of borrowing is deliberately whatever the session asks for: today a client
session borrows at start-up and releases at the end (session pooling); transaction
multiplexing will borrow at the first message of a transaction and release at
ReadyForQuery(idle) unless the session is pinned, with no change here.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.sandbox.emulator import protocol as pg
from rdsproxyctl.sandbox.emulator.scram import ScramClient, ScramError, md5_password

CONNECT_TIMEOUT = 5.0
RESET_TIMEOUT = 5.0

_db_ids = itertools.count(random.randrange(10_000_000, 90_000_000))


class BackendError(Exception):
    """Opening or using a backend connection failed.

    ``kind``: ``unreachable`` (TCP), ``connection_failed`` (TLS, protocol, the server
    refused the connection), ``auth_failed`` (the server refused the credentials) or
    ``database_error`` (any other server error, e.g. an unknown database).
    """

    def __init__(self, kind: str, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.fields = fields or {}


#: Backend errors a borrow gives up on at once; the others (database unreachable,
#: too many connections) are retried until the borrow timeout.
FINAL_ERRORS = ("auth_failed", "database_error")


class BorrowTimeout(Exception):
    def __init__(self, seconds: float, open_count: int, cap: int,
                 last_error: BackendError | None) -> None:
        super().__init__("borrow timeout")
        self.seconds = seconds
        self.open_count = open_count
        self.cap = cap
        self.last_error = last_error


@dataclass(frozen=True)
class PoolKey:
    user: str
    database: str


@dataclass
class Endpoint:
    """Where a target listens, and how the proxy trusts it."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None


def _error_text(fields: dict[str, str]) -> str:
    return fields.get("M", "unknown error")


class BackendConnection:
    """One connection from the proxy to PostgreSQL."""

    def __init__(self, key: PoolKey, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.id = next(_db_ids)
        self.key = key
        self.reader = reader
        self.writer = writer
        self.pid = 0
        self.secret = b""
        self.params: dict[str, str] = {}
        self.status = b"I"
        self.created = time.monotonic()
        self.last_used = self.created
        self.closed = False

    # -- opening ------------------------------------------------------------------------
    @classmethod
    async def open(cls, endpoint: Endpoint, key: PoolKey, password: str | None,
                   timeout: float = CONNECT_TIMEOUT) -> BackendConnection:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint.host, endpoint.port), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise BackendError("unreachable",
                               f"can't reach {endpoint.host}:{endpoint.port}: {why}") from None
        conn = cls(key, reader, writer)
        try:
            await asyncio.wait_for(conn._handshake(endpoint, password), timeout)
        except BackendError:
            conn.close()
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError,
                pg.ProtocolViolation, ScramError) as exc:
            conn.close()
            raise BackendError("connection_failed",
                               f"connection to {endpoint.host}:{endpoint.port} failed: "
                               f"{type(exc).__name__}: {exc}") from None
        return conn

    async def _handshake(self, endpoint: Endpoint, password: str | None) -> None:
        if endpoint.ssl_context is not None:
            self.writer.write(pg.ssl_request())
            await self.writer.drain()
            answer = await self.reader.readexactly(1)
            if answer == b"N":  # never fall back to clear text: the password would follow
                raise BackendError("connection_failed", f"{endpoint.host}:{endpoint.port} "
                                   "declined TLS; the proxy requires TLS to its targets")
            if answer != b"S":
                raise pg.ProtocolViolation(f"unexpected answer {answer!r} to SSLRequest")
            if getattr(self.reader, "_buffer", b""):  # CVE-2021-23222: no clear-text bytes
                raise pg.ProtocolViolation("received unencrypted data after SSL response")
            await self.writer.start_tls(endpoint.ssl_context, server_hostname=endpoint.host)
        self.writer.write(pg.startup_packet({"user": self.key.user,
                                             "database": self.key.database}))
        await self.writer.drain()
        scram: ScramClient | None = None
        while True:
            kind, body = await pg.read_message(self.reader, pg.MAX_BACKEND_MESSAGE)
            if kind == b"E":
                fields = pg.parse_error_fields(body)
                code = fields.get("C", "")
                kind_ = "auth_failed" if code.startswith("28") else (
                    "connection_failed" if code.startswith(("53", "57", "08")) else "database_error")
                raise BackendError(kind_, _error_text(fields), fields)
            if kind != b"R":
                raise pg.ProtocolViolation(f"unexpected message {kind!r} during authentication")
            (code,) = struct.unpack_from("!I", body)
            if code == pg.AUTH_OK:
                break
            if password is None:
                raise BackendError("auth_failed",
                                   f"the database asked for a password for {self.key.user}")
            if code == pg.AUTH_CLEARTEXT:
                self.writer.write(pg.message(b"p", pg.cstr(password)))
            elif code == pg.AUTH_MD5:
                self.writer.write(pg.message(b"p", pg.cstr(
                    md5_password(self.key.user, password, body[4:8]))))
            elif code == pg.AUTH_SASL:
                mechanisms = pg.parse_cstrings(body[4:])
                if "SCRAM-SHA-256" not in mechanisms:
                    raise BackendError("connection_failed", f"no supported SASL mechanism in "
                                       f"{mechanisms}")
                scram = ScramClient(password)
                first = scram.first().encode()
                self.writer.write(pg.message(b"p", pg.cstr("SCRAM-SHA-256")
                                             + struct.pack("!i", len(first)) + first))
            elif code == pg.AUTH_SASL_CONTINUE and scram is not None:
                self.writer.write(pg.message(b"p", scram.final(body[4:].decode()).encode()))
            elif code == pg.AUTH_SASL_FINAL and scram is not None:
                scram.verify(body[4:].decode())
                continue
            else:
                raise BackendError("connection_failed", f"unsupported authentication request {code}")
            await self.writer.drain()
        while True:
            kind, body = await pg.read_message(self.reader, pg.MAX_BACKEND_MESSAGE)
            if kind == b"S":
                name, value = pg.parse_cstrings(body)[:2]
                self.params[name] = value
            elif kind == b"K":
                (self.pid,) = struct.unpack_from("!I", body)
                self.secret = bytes(body[4:])
            elif kind == b"Z":
                self.status = body[:1]
                return
            elif kind == b"E":
                fields = pg.parse_error_fields(body)
                raise BackendError("database_error", _error_text(fields), fields)

    # -- queries the proxy runs itself ----------------------------------------------------
    async def run(self, *sqls: str) -> tuple[list[list[str | None]], list[dict[str, str]]]:
        """Run simple queries back to back; their rows and their errors."""
        self.writer.write(b"".join(pg.query(s) for s in sqls))
        await self.writer.drain()
        rows: list[list[str | None]] = []
        errors: list[dict[str, str]] = []
        pending = len(sqls)
        while pending:
            kind, body = await pg.read_message(self.reader, pg.MAX_BACKEND_MESSAGE)
            if kind == b"D":
                rows.append(_data_row(body))
            elif kind == b"E":
                errors.append(pg.parse_error_fields(body))
            elif kind == b"S":
                name, value = pg.parse_cstrings(body)[:2]
                self.params[name] = value
            elif kind == b"Z":
                self.status = body[:1]
                pending -= 1
        return rows, errors

    async def reset(self) -> bool:
        """Back to a fresh session: no transaction, no session state.  False: unusable."""
        sqls = (["ROLLBACK"] if self.status != b"I" else []) + ["DISCARD ALL"]
        try:
            _, errors = await asyncio.wait_for(self.run(*sqls), RESET_TIMEOUT)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError,
                pg.ProtocolViolation):
            return False
        return not errors and self.status == b"I"

    async def apply(self, settings: dict[str, str]) -> dict[str, str] | None:
        """Set session parameters (a client's startup options); the error, if any."""
        if not settings:
            return None
        calls = ", ".join(f"pg_catalog.set_config({_literal(k)}, {_literal(v)}, false)"
                          for k, v in settings.items())
        _, errors = await self.run(f"SELECT {calls}")
        return errors[0] if errors else None

    @property
    def alive(self) -> bool:
        return not self.closed and not self.writer.is_closing() and not self.reader.at_eof()

    def close(self, *, abort: bool = False) -> None:
        """Say goodbye (Terminate) and close; ``abort``: drop the TCP connection at once
        (a statement may be running: PostgreSQL notices within
        client_connection_check_interval and cancels it)."""
        if self.closed:
            return
        self.closed = True
        try:
            if abort:
                self.writer.transport.abort()
                return
            if not self.writer.is_closing():
                self.writer.write(pg.message(b"X"))
            self.writer.close()
        except (OSError, RuntimeError):
            pass


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _data_row(body: bytes) -> list[str | None]:
    (count,) = struct.unpack_from("!H", body)
    pos = 2
    out: list[str | None] = []
    for _ in range(count):
        (length,) = struct.unpack_from("!i", body, pos)
        pos += 4
        if length < 0:
            out.append(None)
        else:
            out.append(body[pos:pos + length].decode("utf-8", "replace"))
            pos += length
    return out


# -- the pool ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """The target group's pool settings, read at each borrow."""

    max_connections_percent: int = 100
    max_idle_connections_percent: int = 50
    borrow_timeout: float = 120.0
    init_query: str | None = None


#: Pool events for the log: (event, connection, values) -> None.
EventSink = Callable[[str, BackendConnection, dict[str, Any]], None]


@dataclass
class TargetPool:
    """The connections of one proxy to one target."""

    name: str
    endpoint: Endpoint
    limits: Callable[[], Limits]
    on_event: EventSink = lambda event, conn, values: None  # noqa: E731
    retry_interval: float = 1.0
    max_connections: int | None = None  # the server's, once known
    idle: dict[PoolKey, list[BackendConnection]] = field(default_factory=dict)
    busy: set[BackendConnection] = field(default_factory=set)
    resetting: set[BackendConnection] = field(default_factory=set)
    opening: int = 0
    closed: bool = False
    _waiters: deque[asyncio.Future[None]] = field(default_factory=deque)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    # -- numbers --------------------------------------------------------------------------
    @property
    def idle_count(self) -> int:
        return sum(len(v) for v in self.idle.values())

    @property
    def open_count(self) -> int:
        return self.idle_count + len(self.busy) + len(self.resetting) + self.opening

    def cap(self, limits: Limits | None = None) -> int:
        limits = limits or self.limits()
        if self.max_connections is None:
            return 1  # until the first connection tells us the server's max_connections
        return max(1, self.max_connections * limits.max_connections_percent // 100)

    def idle_cap(self, limits: Limits) -> int:
        if self.max_connections is None:
            return 1
        return self.max_connections * limits.max_idle_connections_percent // 100

    def stats(self) -> dict[str, Any]:
        limits = self.limits()
        return {"open": self.open_count, "idle": self.idle_count, "busy": len(self.busy),
                "cap": self.cap(limits), "max_connections": self.max_connections,
                "waiting": len(self._waiters)}

    # -- borrowing ---------------------------------------------------------------------------
    async def acquire(self, key: PoolKey, password: str | None,
                      events: EventSink | None = None) -> BackendConnection:
        """A connection for ``key``; ``events`` hears of connections opened (or not) for it."""
        events = events or self.on_event
        limits = self.limits()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.borrow_timeout
        last_error: BackendError | None = None
        while True:
            if self.closed:
                raise BorrowTimeout(limits.borrow_timeout, self.open_count, self.cap(limits),
                                    last_error)
            conn = self._take_idle(key)
            if conn is not None:
                self.busy.add(conn)
                return conn
            limits = self.limits()
            if self.open_count < self.cap(limits) or (self._evict_other(key)
                                                      and self.open_count < self.cap(limits)):
                self.opening += 1
                try:
                    conn = await self._open(key, password, limits, deadline - loop.time())
                except BackendError as exc:
                    last_error = exc
                    events("open_failed", None, {"error": exc, "user": key.user})  # type: ignore[arg-type]
                    self._wake()
                    if exc.kind in FINAL_ERRORS:
                        raise  # retrying can't help: wrong password, unknown database ...
                    await asyncio.sleep(max(0.0, min(self.retry_interval,
                                                     deadline - loop.time())))
                    if loop.time() >= deadline:
                        raise BorrowTimeout(limits.borrow_timeout, self.open_count,
                                            self.cap(limits), last_error) from None
                    continue
                finally:
                    self.opening -= 1
                self.busy.add(conn)
                events("opened", conn, {})
                return conn
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise BorrowTimeout(limits.borrow_timeout, self.open_count, self.cap(limits),
                                    last_error)
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), remaining)
            except asyncio.TimeoutError:
                raise BorrowTimeout(limits.borrow_timeout, self.open_count, self.cap(limits),
                                    last_error) from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                if not waiter.done():
                    waiter.cancel()

    async def _open(self, key: PoolKey, password: str | None, limits: Limits,
                    budget: float) -> BackendConnection:
        conn = await BackendConnection.open(self.endpoint, key, password,
                                            timeout=max(0.1, min(CONNECT_TIMEOUT, budget)))
        try:
            if self.max_connections is None:
                rows, _ = await conn.run("SHOW max_connections")
                if rows and rows[0] and rows[0][0] and rows[0][0].isdigit():
                    self.max_connections = int(rows[0][0])
            if limits.init_query:
                _, errors = await conn.run(limits.init_query)
                if errors:
                    raise BackendError("database_error", _error_text(errors[0]), errors[0])
        except BackendError:
            conn.close()
            raise
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError, pg.ProtocolViolation) as exc:
            conn.close()
            raise BackendError("connection_failed", f"{type(exc).__name__}: {exc}") from None
        return conn

    def _take_idle(self, key: PoolKey) -> BackendConnection | None:
        conns = self.idle.get(key)
        while conns:
            conn = conns.pop()
            if conn.alive:
                conn.last_used = time.monotonic()
                return conn
            self._close(conn, "The database closed the connection.")
        return None

    def _evict_other(self, key: PoolKey) -> bool:
        """Close the least recently used idle connection of another key."""
        candidates = [c for k, conns in self.idle.items() if k != key for c in conns]
        if not candidates:
            return False
        victim = min(candidates, key=lambda c: c.last_used)
        self.idle[victim.key].remove(victim)
        self._close(victim, "The pool needed room for another user or database.")
        return True

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- returning ----------------------------------------------------------------------------
    def release(self, conn: BackendConnection, *, clean: bool,
                events: EventSink | None = None) -> None:
        """Take ``conn`` back; ``events`` hears whether it was released or closed."""
        self.busy.discard(conn)
        if not clean or not conn.alive or self.closed:
            self._close(conn, "The client session ended in the middle of a request."
                        if not clean else "The database closed the connection."
                        if not conn.alive else "The proxy target was removed.", events,
                        abort=not clean)
            self._wake()
            return
        self.resetting.add(conn)
        task = asyncio.get_running_loop().create_task(self._reset(conn, events or self.on_event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reset(self, conn: BackendConnection, events: EventSink) -> None:
        try:
            ok = await conn.reset()
        finally:
            self.resetting.discard(conn)
        limits = self.limits()
        if not ok:
            self._close(conn, "The connection couldn't be reset for reuse.", events)
        elif self.closed:
            self._close(conn, "The proxy target was removed.", events)
        elif self.open_count >= self.cap(limits):
            self._close(conn, "The pool is above MaxConnectionsPercent.", events)
        elif self.idle_count >= self.idle_cap(limits) and not self._waiters:
            self._close(conn, "The pool is above MaxIdleConnectionsPercent.", events)
        else:
            conn.last_used = time.monotonic()
            self.idle.setdefault(conn.key, []).append(conn)
            events("released", conn, {})
        self._wake()

    def _close(self, conn: BackendConnection, reason: str,
               events: EventSink | None = None, abort: bool = False) -> None:
        if not conn.closed:
            conn.close(abort=abort)
            (events or self.on_event)("closed", conn, {"reason": reason})

    async def close(self) -> None:
        """Close every idle connection and refuse new borrows (target removed)."""
        self.closed = True
        for conns in self.idle.values():
            for conn in conns:
                self._close(conn, "The proxy target was removed.")
        self.idle.clear()
        while self._waiters:
            self._wake()
        for task in list(self._tasks):
            task.cancel()
