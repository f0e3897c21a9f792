"""The one place rdsproxyctl opens database connections (psycopg 3; PyMySQL for the MySQL
family, in :mod:`.mysqldb`), timing each phase.

:func:`connect` (and :func:`connect_async` for load mode) drive libpq's non-blocking
connection (``PQconnectStart``/``PQconnectPoll``) and note when its status moves past
each stage, so a smoke test can say how long DNS, the TCP connect, the TLS handshake
and authentication took, and in which phase a failure happened.  Connections never
pin a proxy session: no prepared statements (``prepare_threshold=None``), no
``options`` startup parameter, no SET.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: sslmodes that check the server's certificate (and so read sslrootcert).
VERIFYING_SSLMODES = ("verify-ca", "verify-full")

#: Phase names, in order.
PHASES = ("dns", "tcp_connect", "tls_handshake", "authentication")


@dataclass(frozen=True)
class ConnParams:
    """Where and how to connect.  ``password`` is never printed (see :meth:`describe`)."""

    host: str
    port: int
    user: str
    dbname: str
    password: str | None = None
    sslmode: str = "verify-full"
    sslrootcert: str | None = "system"
    connect_timeout: float = 10.0
    application_name: str = "rdsproxyctl"
    #: ``postgresql`` (psycopg) or ``mysql`` (PyMySQL, :mod:`.mysqldb`)
    engine: str = "postgresql"
    #: libpq's require_auth (16+): the authentication requests the client accepts, e.g.
    #: ``!password`` so a password never goes in clear text
    #: (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-REQUIRE-AUTH).
    require_auth: str | None = None

    def describe(self) -> str:
        """The connection string without the password, for messages."""
        return (f"host={self.host} port={self.port} user={self.user} dbname={self.dbname} "
                f"sslmode={self.sslmode}" + (f" sslrootcert={self.sslrootcert}"
                                             if self.sslrootcert and self.sslmode in VERIFYING_SSLMODES
                                             else ""))


@dataclass
class PhaseTimer:
    """Seconds spent in each phase; ``failed_phase`` names where a failure happened."""

    durations: dict[str, float] = field(default_factory=dict)
    current: str | None = None
    failed_phase: str | None = None
    _started: float = 0.0

    def start(self, phase: str) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.durations[self.current] = now - self._started
        self.current, self._started = phase, now

    def stop(self) -> None:
        if self.current is not None:
            self.durations[self.current] = time.perf_counter() - self._started
            self.current = None

    def fail(self) -> None:
        self.failed_phase = self.current
        self.stop()


def sslrootcert(ca_bundle: str | None) -> str:
    """--ca-bundle, then PGSSLROOTCERT (the sandbox sets it), then the OS trust store
    (``system``: libpq 16+, which psycopg's binary package bundles)."""
    return ca_bundle or os.environ.get("PGSSLROOTCERT") or "system"


class DnsError(Exception):
    """The host name did not resolve."""


class ConnectTimeout(Exception):
    """The connection did not complete within ``connect_timeout``."""


def resolve(host: str, port: int) -> str:
    """The first address of ``host`` (what libpq would dial), or :class:`DnsError`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DnsError(f"could not resolve {host}: {exc.strerror}") from exc
    return str(infos[0][4][0])


def conninfo(params: ConnParams, hostaddr: str | None) -> str:
    from psycopg.conninfo import make_conninfo

    kwargs: dict[str, Any] = {
        "host": params.host, "port": params.port, "user": params.user,
        "dbname": params.dbname, "sslmode": params.sslmode,
        "application_name": params.application_name,
        "connect_timeout": max(1, int(params.connect_timeout)),
    }
    if hostaddr:
        kwargs["hostaddr"] = hostaddr
    if params.password is not None:
        kwargs["password"] = params.password
    if params.require_auth:
        kwargs["require_auth"] = params.require_auth
    # only the verifying modes read a root certificate; libpq refuses sslmode=require
    # with sslrootcert=system ("weak sslmode require may not be used with sslrootcert=system")
    if params.sslrootcert and params.sslmode in VERIFYING_SSLMODES:
        kwargs["sslrootcert"] = params.sslrootcert
    return make_conninfo("", **kwargs)


def _phase_of(status: Any) -> str:
    from psycopg import pq

    s = pq.ConnStatus
    if status == s.STARTED:
        return "tcp_connect"
    if status in (s.MADE, s.SSL_STARTUP, s.GSS_STARTUP):
        return "tls_handshake"
    return "authentication"


def _steps(params: ConnParams, timer: PhaseTimer) -> Any:
    """Generator driving libpq: yields (fileno, want_write) to wait on; returns the PGconn."""
    from psycopg import OperationalError, pq

    timer.start("dns")
    hostaddr = resolve(params.host, params.port)
    timer.start("tcp_connect")
    pgconn = pq.PGconn.connect_start(conninfo(params, hostaddr).encode())
    if pgconn.status == pq.ConnStatus.BAD:
        raise OperationalError(pgconn.get_error_message())
    poll = pq.PollingStatus.WRITING
    while True:
        if poll == pq.PollingStatus.OK:
            return pgconn
        if poll == pq.PollingStatus.FAILED:
            message = pgconn.get_error_message()
            pgconn.finish()
            raise OperationalError(message)
        yield pgconn.socket, poll == pq.PollingStatus.WRITING
        poll = pgconn.connect_poll()
        phase = _phase_of(pgconn.status)
        if poll != pq.PollingStatus.FAILED and phase != timer.current and \
                PHASES.index(phase) > PHASES.index(timer.current or "dns"):
            timer.start(phase)


def _wrap(pgconn: Any) -> Any:
    import psycopg

    conn = psycopg.Connection(pgconn)
    conn.prepare_threshold = None  # never pin a proxy session with prepared statements
    conn.autocommit = True
    return conn


def connect(params: ConnParams, timer: PhaseTimer | None = None) -> Any:
    """Open a psycopg connection, timing its phases into ``timer``.

    Raises :class:`DnsError`, :class:`ConnectTimeout` or ``psycopg.OperationalError``;
    ``timer.failed_phase`` then names the phase that failed.
    """
    if params.engine == "mysql":
        from rdsproxyctl.core import mysqldb

        return mysqldb.connect(params, timer)
    timer = timer if timer is not None else PhaseTimer()
    deadline = time.monotonic() + params.connect_timeout
    steps = _steps(params, timer)
    sel = selectors.DefaultSelector()
    try:
        fileno, want_write = next(steps)
        while True:
            sel.register(fileno, selectors.EVENT_WRITE if want_write else selectors.EVENT_READ)
            remaining = deadline - time.monotonic()
            ready = sel.select(max(0.0, remaining)) if remaining > 0 else []
            sel.unregister(fileno)
            if not ready:
                raise ConnectTimeout(f"no answer within {params.connect_timeout:g} s")
            fileno, want_write = steps.send(None)
    except StopIteration as done:
        timer.stop()
        return _wrap(done.value)
    except BaseException:
        timer.fail()
        steps.close()
        raise
    finally:
        sel.close()


async def connect_async(params: ConnParams, timer: PhaseTimer | None = None) -> Any:
    """:func:`connect` for asyncio: returns a ``psycopg.AsyncConnection`` (MySQL: a PyMySQL
    connection opened in a worker thread)."""
    import asyncio

    timer = timer if timer is not None else PhaseTimer()
    if params.engine == "mysql":
        from rdsproxyctl.core import mysqldb

        return await asyncio.to_thread(mysqldb.connect, params, timer)

    import psycopg

    loop = asyncio.get_running_loop()
    steps = _steps(params, timer)

    async def wait(fileno: int, want_write: bool) -> None:
        ready = loop.create_future()
        add, remove = ((loop.add_writer, loop.remove_writer) if want_write
                       else (loop.add_reader, loop.remove_reader))
        add(fileno, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            remove(fileno)

    try:
        async with asyncio.timeout(params.connect_timeout):
            fileno, want_write = next(steps)
            while True:
                await wait(fileno, want_write)
                fileno, want_write = steps.send(None)
    except StopIteration as done:
        timer.stop()
        conn = psycopg.AsyncConnection(done.value)
        conn.prepare_threshold = None
        await conn.set_autocommit(True)
        return conn
    except TimeoutError:
        timer.fail()
        steps.close()
        raise ConnectTimeout(f"no answer within {params.connect_timeout:g} s") from None
    except BaseException:
        timer.fail()
        steps.close()
        raise


def timed(timer: PhaseTimer, phase: str, func: Callable[[], Any]) -> Any:
    """Run ``func`` as ``phase`` of ``timer`` (e.g. the first query)."""
    timer.start(phase)
    try:
        result = func()
    except BaseException:
        timer.fail()
        raise
    timer.stop()
    return result
