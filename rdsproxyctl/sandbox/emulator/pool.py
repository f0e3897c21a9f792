"""The connection pool of one proxy target: protocol-agnostic.

Design (see docs/sandbox.md, "The pool"):

* A :class:`TargetPool` holds the connections one proxy keeps to one target, keyed by
  :class:`PoolKey` (user, database).  Its cap is
  ``floor(MaxConnectionsPercent / 100 * max_connections)`` of the server (asked of the
  first connection), counted over every key; idle connections above
  ``MaxIdleConnectionsPercent`` are closed when returned (unless someone waits).  Both
  percentages, ConnectionBorrowTimeout and InitQuery are read live (``limits()``) at
  every borrow, every return and every half second while someone waits, so a change
  applies at once, a cap that rises wakes the queue.
* ``acquire(key, ...)`` is fair: borrowers are served first come, first served (one FIFO
  queue whatever the key).  The head of the queue takes an idle connection of its key,
  or opens one while under the cap (closing an idle connection of another key to make
  room), or waits for a return, up to the borrow timeout: :class:`BorrowTimeout`.
* ``release(conn, reset=..., abort=...)`` takes a connection back: as it is (a
  transaction ended cleanly and the session changed nothing the proxy cannot share),
  reset first (``Backend.reset()`` then InitQuery again), or aborted.

The pool never reads or writes the wire protocol: connections are :class:`Backend`
objects made by the engine adapter's ``opener`` (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

#: How often a waiting borrower re-reads the limits (a raised cap serves it at once).
WAIT_POLL = 0.5

_db_ids = itertools.count(random.randrange(10_000_000, 90_000_000))


def next_db_id() -> int:
    """The ``[dbConnection=N]`` of a new backend connection."""
    return next(_db_ids)


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


@dataclass
class Endpoint:
    """Where a target listens, and how the proxy trusts it."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None


async def open_stream(endpoint: Endpoint,
                      timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to a target, for any engine's backend (BackendError "unreachable"
    when it cannot be had within ``timeout``)."""
    try:
        return await asyncio.wait_for(asyncio.open_connection(endpoint.host, endpoint.port),
                                      timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise BackendError("unreachable",
                           f"can't reach {endpoint.host}:{endpoint.port}: {why}") from None


@dataclass(frozen=True)
class PoolKey:
    user: str
    database: str


class Backend(Protocol):
    """A database connection as the pool sees it (the engine adapter implements it)."""

    id: int
    key: PoolKey
    last_used: float

    @property
    def alive(self) -> bool: ...

    def close(self, *, abort: bool = False) -> None: ...

    async def reset(self) -> bool:
        """Back to a fresh session (no transaction, no session state); False: unusable."""

    async def initialize(self, init_query: str | None) -> str | None:
        """Run InitQuery (on a new or reset connection); the error text, if any."""

    async def server_max_connections(self) -> int | None:
        """The server's connection limit (asked once per pool)."""


class StreamBackend:
    """What every engine's backend shares: identity, its TCP/TLS stream, liveness, closing.
    Subclasses set ``GOODBYE``, the message that ends a session politely (PostgreSQL's
    Terminate, MySQL's COM_QUIT)."""

    GOODBYE = b""

    def __init__(self, key: PoolKey, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.id = next_db_id()
        self.key = key
        self.reader = reader
        self.writer = writer
        self.status = b"I"  # "I" idle, "T" in a transaction (PostgreSQL's ReadyForQuery)
        self.created = time.monotonic()
        self.last_used = self.created
        self.closed = False

    @property
    def alive(self) -> bool:
        return not self.closed and not self.writer.is_closing() and not self.reader.at_eof()

    def close(self, *, abort: bool = False) -> None:
        """Say goodbye and close; ``abort``: drop the TCP connection at once (a statement
        may be running: the server notices and cancels it)."""
        if self.closed:
            return
        self.closed = True
        try:
            if abort:
                self.writer.transport.abort()
                return
            if not self.writer.is_closing():
                self.writer.write(self.GOODBYE)
            self.writer.close()
        except (OSError, RuntimeError):
            pass


#: ``opener(key, password, timeout) -> Backend`` (raises :class:`BackendError`).
Opener = Callable[[PoolKey, "str | None", float], Awaitable[Any]]


@dataclass(frozen=True)
class Limits:
    """The target group's pool settings, read live."""

    max_connections_percent: int = 100
    max_idle_connections_percent: int = 50
    borrow_timeout: float = 120.0
    init_query: str | None = None


#: Pool events for the log: (event, connection, values) -> None.
EventSink = Callable[[str, Any, dict[str, Any]], None]


@dataclass(eq=False)
class TargetPool:
    """The connections of one proxy to one target."""

    name: str
    opener: Opener
    limits: Callable[[], Limits]
    on_event: EventSink = lambda event, conn, values: None  # noqa: E731
    retry_interval: float = 1.0
    max_connections: int | None = None  # the server's, once known
    idle: dict[PoolKey, list[Any]] = field(default_factory=dict)
    busy: set[Any] = field(default_factory=set)
    resetting: set[Any] = field(default_factory=set)
    opening: int = 0
    closed: bool = False
    requests: int = 0  # connections asked of the database (DatabaseConnectionRequests)
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
                      events: EventSink | None = None) -> Any:
        """A connection for ``key``, first come first served; ``events`` hears of
        connections opened (or not) for it."""
        events = events or self.on_event
        limits = self.limits()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.borrow_timeout
        last_error: BackendError | None = None
        me: asyncio.Future[None] | None = None
        try:
            while True:
                if self.closed:
                    raise BorrowTimeout(limits.borrow_timeout, self.open_count,
                                        self.cap(limits), last_error)
                limits = self.limits()
                if not self._waiters or self._waiters[0] is me:  # our turn
                    conn = self._take_idle(key)
                    if conn is not None:
                        self._leave(me)
                        me = None
                        self.busy.add(conn)
                        return conn
                    if self.open_count < self.cap(limits) or (
                            self._evict_other(key) and self.open_count < self.cap(limits)):
                        self._leave(me)
                        me = None
                        try:
                            return await self._open_for(key, password, limits, deadline, events)
                        except _Retry as retry:
                            last_error = retry.error
                            continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise BorrowTimeout(limits.borrow_timeout, self.open_count,
                                        self.cap(limits), last_error)
                if me is None or me.done():
                    if me is not None and me in self._waiters:
                        # woken but could not proceed: keep our place in the queue
                        fresh: asyncio.Future[None] = loop.create_future()
                        self._waiters[self._waiters.index(me)] = fresh
                        me = fresh
                    else:
                        me = loop.create_future()
                        self._waiters.append(me)
                try:
                    await asyncio.wait_for(asyncio.shield(me), min(remaining, WAIT_POLL))
                except asyncio.TimeoutError:
                    pass
        finally:
            self._leave(me)

    async def _open_for(self, key: PoolKey, password: str | None, limits: Limits,
                        deadline: float, events: EventSink) -> Any:
        loop = asyncio.get_running_loop()
        self.opening += 1
        self.requests += 1
        self._wake()  # the next in line may open one too, or take an idle one
        try:
            conn = await self._open(key, password, limits, deadline - loop.time())
        except BackendError as exc:
            events("open_failed", None, {"error": exc, "user": key.user})
            if exc.kind in FINAL_ERRORS:
                raise  # retrying can't help: wrong password, unknown database ...
            await asyncio.sleep(max(0.0, min(self.retry_interval, deadline - loop.time())))
            if loop.time() >= deadline:
                raise BorrowTimeout(limits.borrow_timeout, self.open_count,
                                    self.cap(limits), exc) from None
            raise _Retry(exc) from None
        finally:
            self.opening -= 1
            self._wake()
        self.busy.add(conn)
        events("opened", conn, {})
        return conn

    async def _open(self, key: PoolKey, password: str | None, limits: Limits,
                    budget: float) -> Any:
        conn = await self.opener(key, password, max(0.1, budget))
        try:
            if self.max_connections is None:
                self.max_connections = await conn.server_max_connections()
            error = await conn.initialize(limits.init_query)
        except BackendError:
            conn.close()
            raise
        except Exception as exc:  # noqa: BLE001 - any I/O failure of a new connection
            conn.close()
            raise BackendError("connection_failed", f"{type(exc).__name__}: {exc}") from None
        if error is not None:
            conn.close()
            raise BackendError("database_error", error)
        return conn

    def _take_idle(self, key: PoolKey) -> Any:
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

    def _leave(self, me: asyncio.Future[None] | None) -> None:
        if me is None:
            return
        was_head = bool(self._waiters) and self._waiters[0] is me
        try:
            self._waiters.remove(me)
        except ValueError:
            pass
        if not me.done():
            me.cancel()
        if was_head:
            self._wake()

    def _wake(self) -> None:
        """Let the head of the queue look again."""
        if self._waiters and not self._waiters[0].done():
            self._waiters[0].set_result(None)

    # -- returning ----------------------------------------------------------------------------
    def release(self, conn: Any, *, reset: bool = False, abort: bool = False,
                events: EventSink | None = None) -> None:
        """Take ``conn`` back: as is, reset first (``reset``), or closed at once (``abort``:
        a request may be in flight)."""
        events = events or self.on_event
        self.busy.discard(conn)
        if abort or not conn.alive or self.closed:
            self._close(conn, "The client session ended in the middle of a request."
                        if abort else "The database closed the connection."
                        if not conn.alive else "The proxy target was removed.", events,
                        abort=abort)
            self._wake()
            return
        if not reset:
            self._idle(conn, events, quiet=True)
            return
        self.resetting.add(conn)
        task = asyncio.get_running_loop().create_task(self._reset(conn, events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reset(self, conn: Any, events: EventSink) -> None:
        ok = False
        try:
            ok = await conn.reset()
            if ok:
                ok = await conn.initialize(self.limits().init_query) is None
        except Exception:  # noqa: BLE001 - an unusable connection is closed below
            ok = False
        finally:
            self.resetting.discard(conn)
        if not ok:
            self._close(conn, "The connection couldn't be reset for reuse.", events)
            self._wake()
            return
        self._idle(conn, events, quiet=False)

    def _idle(self, conn: Any, events: EventSink, *, quiet: bool) -> None:
        limits = self.limits()
        if self.closed:
            self._close(conn, "The proxy target was removed.", events)
        elif self.open_count >= self.cap(limits):  # (not counting conn) the cap fell
            self._close(conn, "The pool is above MaxConnectionsPercent.", events)
        elif self.idle_count >= self.idle_cap(limits) and not self._waiters:
            self._close(conn, "The pool is above MaxIdleConnectionsPercent.", events)
        else:
            conn.last_used = time.monotonic()
            self.idle.setdefault(conn.key, []).append(conn)
            if not quiet:
                events("released", conn, {})
        self._wake()

    def _close(self, conn: Any, reason: str, events: EventSink | None = None,
               abort: bool = False) -> None:
        if not getattr(conn, "closed", False):
            conn.close(abort=abort)
            (events or self.on_event)("closed", conn, {"reason": reason})

    async def close(self) -> None:
        """Close every idle connection and refuse new borrows (target removed)."""
        self.closed = True
        for conns in self.idle.values():
            for conn in conns:
                self._close(conn, "The proxy target was removed.")
        self.idle.clear()
        for waiter in list(self._waiters):
            if not waiter.done():
                waiter.set_result(None)
        for task in list(self._tasks):
            task.cancel()


class _Retry(Exception):
    def __init__(self, error: BackendError) -> None:
        super().__init__(error.message)
        self.error = error
