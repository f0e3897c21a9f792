"""Listeners and client sessions: the proxy itself.

Each proxy endpoint listens on its own loopback address (``127.0.0.N:5432``), bound by
:class:`LoopbackAllocator` at the moment the API creates the proxy or endpoint.  A
client session then goes: startup packet (SSLRequest answered with TLS, GSSENCRequest
declined, CancelRequest forwarded to the right backend) -> RequireTLS -> client
authentication from the proxy's Auth / DefaultAuthScheme (IAM token, SCRAM-SHA-256
or MD5) -> borrow a backend connection from the target's pool -> relay until the
client leaves -> return the connection, clean, to the pool.  Settings are read from
the API at each step, so changes apply to new connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import random
import re
import socket
import ssl
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.sandbox.emulator import iamtoken
from rdsproxyctl.sandbox.emulator import protocol as pg
from rdsproxyctl.sandbox.emulator.control import Control, Credential, ProxyView, TargetView
from rdsproxyctl.sandbox.emulator.logs import LogShipper
from rdsproxyctl.sandbox.emulator.messages import (
    CLIENT,
    CLOSE_REASONS,
    IAM_REASONS,
    PASSWORD_REASONS,
)
from rdsproxyctl.sandbox.emulator.pool import (
    BackendConnection,
    BackendError,
    BorrowTimeout,
    Endpoint,
    Limits,
    PoolKey,
    TargetPool,
)
from rdsproxyctl.sandbox.emulator.scram import ScramError, ScramServer, Verifier, check_md5

log = logging.getLogger("rdsproxyctl.sandbox")

PROXY_PORT = 5432
#: Time allowed from TCP accept to the end of client authentication (PostgreSQL's
#: authentication_timeout is 60 s).
STARTUP_TIMEOUT = 30.0
READ_SIZE = 1 << 16
#: Startup parameters that are about the connection, not session settings.
_NOT_SETTINGS = {"user", "database", "replication", "options"}


class _Refused(Exception):
    """End the session with a client-facing error (``CLIENT[key]``)."""

    def __init__(self, key: str, close: str = "auth_failed", **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.close = close
        self.values = values


class _Gone(Exception):
    """The client went away (or sent garbage we answer with silence)."""


@dataclass
class _RelayState:
    expected: int = 0  # ReadyForQuery messages still owed by the backend
    extended: bool = False  # extended-protocol messages sent since the last Sync


class Emulator:
    """All listeners, sessions and pools of one sandbox."""

    def __init__(self, control: Control, shipper: LogShipper, server_ssl: ssl.SSLContext,
                 backend_ssl: ssl.SSLContext | None) -> None:
        self.control = control
        self.shipper = shipper
        self.server_ssl = server_ssl
        self.backend_ssl = backend_ssl
        self.servers: dict[str, asyncio.base_events.Server] = {}
        self.sessions: dict[int, ClientSession] = {}
        self.pools: dict[tuple[str, str], TargetPool] = {}
        self.verifiers: dict[str, Verifier] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- listeners ------------------------------------------------------------------------
    async def serve(self, address: str, sock: socket.socket) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await ClientSession(self, address, reader, writer).run()

        self.servers[address] = await asyncio.start_server(accept, sock=sock, limit=READ_SIZE)

    async def close_address(self, address: str) -> None:
        server = self.servers.pop(address, None)
        if server is not None:
            server.close()
        for session in list(self.sessions.values()):
            if session.address == address:
                session.kill("proxy_deleted")

    async def shutdown(self) -> None:
        for address in list(self.servers):
            server = self.servers.pop(address)
            server.close()
        for session in list(self.sessions.values()):
            session.kill("shutdown")
        for pool in list(self.pools.values()):
            await pool.close()
        self.shipper.flush()

    # -- pools ------------------------------------------------------------------------------
    def pool_for(self, proxy: ProxyView, target: TargetView) -> TargetPool:
        key = (proxy.resource_id, target.rds_resource_id)
        pool = self.pools.get(key)
        endpoint = Endpoint(target.endpoint or "127.0.0.1", target.port, self.backend_ssl)
        if pool is None or pool.closed:
            name = proxy.name

            def limits(proxy_name: str = name, proxy_id: str = proxy.resource_id) -> Limits:
                current = self._proxy_name(proxy_id) or proxy_name
                settings = self.control.pool_settings(current)
                if settings is None:
                    return Limits(borrow_timeout=0)
                return Limits(settings.max_connections_percent,
                              settings.max_idle_connections_percent,
                              float(settings.borrow_timeout), settings.init_query)

            pool = TargetPool(f"{proxy.name}/{target.rds_resource_id}", endpoint, limits,
                              on_event=self._pool_events(proxy))
            self.pools[key] = pool
        elif (pool.endpoint.host, pool.endpoint.port) != (endpoint.host, endpoint.port):
            pool.endpoint = endpoint  # the database moved (restarted on another port)
        return pool

    def _proxy_name(self, proxy_id: str) -> str | None:
        for proxy in self.control.proxies():
            if proxy.unique_id == proxy_id:
                return str(proxy.db_proxy_name)
        return None

    def _pool_events(self, proxy: ProxyView, client: int | None = None,
                     endpoint: str | None = None) -> Any:
        proxy_id = proxy.resource_id

        def sink(event: str, conn: BackendConnection | None, values: dict[str, Any]) -> None:
            name = self._proxy_name(proxy_id) or proxy.name
            kw: dict[str, Any] = {"endpoint": endpoint, "client": client}
            if event == "opened" and conn is not None:
                self.shipper.emit(name, proxy_id, "db_connection_opened", db=conn.id,
                                  user=conn.key.user, database=conn.key.database, **kw)
            elif event == "open_failed":
                err = values["error"]
                self.shipper.emit(name, proxy_id, "db_connection_failed",
                                  user=values.get("user", "?"), reason=err.message, **kw)
            elif event == "released" and conn is not None:
                self.shipper.emit(name, proxy_id, "db_connection_released", db=conn.id, **kw)
            elif event == "closed" and conn is not None:
                self.shipper.emit(name, proxy_id, "db_connection_closed", db=conn.id,
                                  reason=values.get("reason", ""), **kw)

        return sink

    async def collect_pools(self) -> None:
        """Close the pools of proxies or targets that no longer exist."""
        live = {(p.unique_id, t.rds_resource_id)
                for p in self.control.proxies()
                for t in list(p.proxy_target_groups["default"].targets)}
        for key in [k for k in self.pools if k not in live]:
            pool = self.pools.pop(key)
            await pool.close()

    def snapshot(self) -> dict[str, Any]:
        """What the emulator is doing: listeners, sessions, pools (for ``emulator.json``)."""
        pools = []
        for (proxy_id, target), pool in self.pools.items():
            pools.append({"proxy_id": proxy_id, "proxy": self._proxy_name(proxy_id),
                          "target": target, **pool.stats()})
        return {"listeners": sorted(self.servers), "sessions": len(self.sessions),
                "pools": pools}

    def verifier(self, password: str) -> Verifier:
        v = self.verifiers.get(password)
        if v is None:
            if len(self.verifiers) > 1000:
                self.verifiers.clear()
            v = self.verifiers[password] = Verifier.from_password(password)
        return v

    # -- cancel ---------------------------------------------------------------------------------
    async def cancel(self, pid: int, key: bytes) -> None:
        session = self.sessions.get(pid)
        if session is None or not hmac.compare_digest(session.cancel_key, key):
            return
        conn = session.backend
        pool = session.pool
        if conn is None or pool is None:
            return
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(pool.endpoint.host, pool.endpoint.port), 5)
            writer.write(pg.cancel_request(conn.pid, conn.secret))
            await writer.drain()
            await asyncio.wait_for(reader.read(), 5)  # the server closes when done
            writer.close()
        except (OSError, asyncio.TimeoutError):
            pass


class ClientSession:
    """One client connection, from accept to close."""

    def __init__(self, emulator: Emulator, address: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.em = emulator
        self.address = address
        self.reader = reader
        self.writer = writer
        self.id = random.randrange(10_000_000, 99_999_999)
        self.pid = 0
        self.cancel_key = os.urandom(4)
        self.tls = False
        self.proxy: ProxyView | None = None
        self.user = ""
        self.database = ""
        self.settings: dict[str, str] = {}
        self.credential: Credential | None = None
        self.backend: BackendConnection | None = None
        self.pool: TargetPool | None = None
        self.task: asyncio.Task[Any] | None = None
        self.kill_reason: str | None = None
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"

    # -- logging -----------------------------------------------------------------------------
    def log(self, key: str, **values: Any) -> None:
        if self.proxy is not None:
            self.em.shipper.emit(self.proxy.name, self.proxy.resource_id, key,
                                 endpoint=self.proxy.endpoint_name, client=self.id, **values)

    def kill(self, reason: str) -> None:
        self.kill_reason = reason
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # -- the session -----------------------------------------------------------------------------
    async def run(self) -> None:
        self.task = asyncio.current_task()
        close_reason = "eof"
        try:
            self.proxy = self.em.control.proxy_at(self.address)
            if self.proxy is None or self.proxy.engine_family != "POSTGRESQL":
                return  # deleted meanwhile, or a MySQL/SQL Server proxy: not emulated
            startup = await asyncio.wait_for(self._startup(), STARTUP_TIMEOUT)
            if startup is None:
                return
            await asyncio.wait_for(self._authenticate(), STARTUP_TIMEOUT)
            await self._borrow()
            close_reason = await self._relay()
        except _Refused as refused:
            message = CLIENT[refused.key]
            await self._send_error(message.format(**refused.values), message.sqlstate)
            close_reason = refused.close
        except (_Gone, asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError,
                ssl.SSLError, OSError):
            close_reason = "eof"
        except asyncio.CancelledError:
            close_reason = self.kill_reason or "shutdown"
        except Exception:  # noqa: BLE001 - one session must never take the proxy down
            log.exception("client session %s failed", self.id)
            close_reason = "error"
        finally:
            self._finish(close_reason)

    def _finish(self, reason: str) -> None:
        self.em.sessions.pop(self.pid, None)
        if self.backend is not None and self.pool is not None:
            clean = self._relay_clean
            self.pool.release(self.backend, clean=clean, events=self._events())
            self.backend = None
        if self.proxy is not None and self.user:
            if reason == "idle":
                self.log("client_idle_timeout", seconds=self.proxy.idle_client_timeout)
            else:
                self.log("client_closed", reason=CLOSE_REASONS.get(reason, reason))
        with contextlib.suppress(Exception):
            self.writer.close()

    async def _send_error(self, text: str, sqlstate: str) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(pg.error_response(text, sqlstate))
            await asyncio.wait_for(self.writer.drain(), 5)

    # -- startup --------------------------------------------------------------------------------
    async def _startup(self) -> pg.Startup | None:
        announced = False
        while True:
            try:
                startup = await pg.read_startup(self.reader)
            except pg.ProtocolViolation as exc:
                self.user = self.user or "?"
                if not announced:
                    self.log("client_connected", address=self.peer)
                self.log("protocol_violation", detail=str(exc))
                raise _Refused("protocol_violation", "protocol", detail=str(exc)) from None
            if startup.code == pg.CANCEL_REQUEST:  # in clear, or over TLS (libpq 17+)
                await self.em.cancel(startup.cancel_pid, startup.cancel_key)
                return None
            if not announced:
                self.log("client_connected", address=self.peer)
                announced = True
            if startup.code == pg.SSL_REQUEST:
                if self.tls:
                    raise _Refused("protocol_violation", "protocol", detail="SSLRequest over TLS")
                if getattr(self.reader, "_buffer", b""):
                    # bytes sent with the SSLRequest came in clear: never treat them as sent
                    # over TLS (PostgreSQL's CVE-2021-23214 fix refuses them the same way)
                    detail = "received unencrypted data after SSL request"
                    self.log("protocol_violation", detail=detail)
                    raise _Refused("protocol_violation", "protocol", detail=detail)
                self.writer.write(b"S")
                await self.writer.drain()
                await self.writer.start_tls(self.em.server_ssl, ssl_handshake_timeout=10)
                self.tls = True
                continue
            if startup.code == pg.GSSENC_REQUEST:
                self.writer.write(b"N")
                await self.writer.drain()
                continue
            break
        params = startup.params
        unsupported = [k for k in params if k.startswith("_pq_.")]
        if startup.minor > 0 or unsupported:
            self.writer.write(pg.negotiate_protocol_version(0, unsupported))
        self.user = params.get("user", "")
        if not self.user:
            self.user = "?"
            raise _Refused("missing_user")
        for option in ("options", "replication"):
            if params.get(option):
                self.log("unsupported_option", option=option)
                raise _Refused("unsupported_option", option=option)
        self.database = params.get("database") or self.user
        self.settings = {k: v for k, v in params.items()
                         if k not in _NOT_SETTINGS and not k.startswith("_pq_.")}
        return startup

    # -- client authentication ---------------------------------------------------------------------
    async def _authenticate(self) -> None:
        proxy = self.em.control.proxy_at(self.address)  # settings as of now
        if proxy is None:
            raise _Gone()
        self.proxy = proxy
        if proxy.require_tls and not self.tls:
            self.log("tls_required")
            raise _Refused("tls_required")
        if proxy.end_to_end_iam:
            await self._iam(proxy)
            self.credential = None
        else:
            report = self.em.control.credentials(proxy)
            for key, values in report.problems:
                self.log(key, **values)
            credential = report.credentials.get(self.user)
            if credential is None:
                self.log("no_credentials", user=self.user)
                raise _Refused("no_credentials", user=self.user)
            if credential.entry.iam_auth in ("REQUIRED", "ENABLED"):
                await self._iam(proxy)
            elif credential.entry.client_password_auth_type == "POSTGRES_MD5":
                await self._md5(credential)
            else:
                await self._scram(credential)
            self.credential = credential
        self.writer.write(pg.auth_request(pg.AUTH_OK))

    async def _password_message(self) -> bytes:
        try:
            kind, body = await pg.read_message(self.reader, pg.MAX_AUTH_MESSAGE)
        except pg.ProtocolViolation as exc:
            self.log("protocol_violation", detail=str(exc))
            raise _Refused("protocol_violation", "protocol", detail=str(exc)) from None
        if kind != b"p":
            raise _Refused("unsupported_auth")
        return body

    async def _iam(self, proxy: ProxyView) -> None:
        if not self.tls:
            self.log("iam_without_tls", user=self.user)
            raise _Refused("iam_requires_tls")
        self.writer.write(pg.auth_request(pg.AUTH_CLEARTEXT))
        await self.writer.drain()
        body = await self._password_message()
        token = body.split(b"\x00", 1)[0].decode("utf-8", "replace")
        control = self.em.control
        try:
            _, key = iamtoken.verify(token, user=self.user, host=proxy.address, port=PROXY_PORT,
                                     region=proxy.region, lookup=control.signing_key)
            resource = control.dbuser_arn(proxy, self.user)
            if control.decision(key.principal_arn, "rds-db:connect", resource) != "allowed":
                raise iamtoken.TokenRejected("not_authorized", principal=key.principal_arn,
                                             resource=resource)
        except iamtoken.TokenRejected as rejected:
            reason = IAM_REASONS[rejected.reason].format(**rejected.values)
            self.log("iam_auth_failed", user=self.user, reason=reason)
            raise _Refused("iam_auth_failed", user=self.user) from None
        self.log("iam_auth_succeeded", user=self.user)

    async def _scram(self, credential: Credential) -> None:
        self.writer.write(pg.auth_request(pg.AUTH_SASL, pg.cstr("SCRAM-SHA-256") + b"\x00"))
        await self.writer.drain()
        body = await self._password_message()
        mechanism, _, rest = body.partition(b"\x00")
        if mechanism != b"SCRAM-SHA-256" or len(rest) < 4:
            raise _Refused("unsupported_auth")
        (length,) = struct.unpack_from("!i", rest)
        server = ScramServer(self.em.verifier(credential.password))
        tls = "on" if self.tls else "off"
        try:
            first = server.first(rest[4:4 + max(0, length)].decode("utf-8"))
            self.writer.write(pg.auth_request(pg.AUTH_SASL_CONTINUE, first.encode()))
            await self.writer.drain()
            final = server.final((await self._password_message()).decode("utf-8"))
        except (ScramError, UnicodeDecodeError) as exc:
            wrong = str(exc) == "wrong password"
            self.log("password_auth_failed", user=self.user, tls=tls,
                     reason=PASSWORD_REASONS["wrong_password" if wrong else "protocol"])
            raise _Refused("wrong_password" if wrong else "unsupported_auth",
                           user=self.user) from None
        self.writer.write(pg.auth_request(pg.AUTH_SASL_FINAL, final.encode()))
        self.log("password_auth_succeeded", user=self.user, tls=tls)

    async def _md5(self, credential: Credential) -> None:
        salt = os.urandom(4)
        self.writer.write(pg.auth_request(pg.AUTH_MD5, salt))
        await self.writer.drain()
        raw = (await self._password_message()).split(b"\x00", 1)[0]
        tls = "on" if self.tls else "off"
        if not re.fullmatch(rb"md5[0-9a-f]{32}", raw):  # malformed: refused, not compared
            self.log("password_auth_failed", user=self.user, tls=tls,
                     reason=PASSWORD_REASONS["protocol"])
            raise _Refused("unsupported_auth", user=self.user)
        answer = raw.decode("ascii")
        if not check_md5(self.user, credential.password, salt, answer):
            self.log("password_auth_failed", user=self.user, tls=tls,
                     reason=PASSWORD_REASONS["wrong_password"])
            raise _Refused("wrong_password", user=self.user)
        self.log("password_auth_succeeded", user=self.user, tls=tls)

    # -- borrowing a backend --------------------------------------------------------------------
    def _events(self) -> Any:
        assert self.proxy is not None
        return self.em._pool_events(self.proxy, self.id, self.proxy.endpoint_name)

    async def _target(self, proxy: ProxyView, deadline: float) -> TargetView:
        loop = asyncio.get_running_loop()
        while True:
            targets = self.em.control.targets(proxy.name)
            usable = [t for t in targets if t.type == "RDS_INSTANCE"]
            if usable:
                return next((t for t in usable if t.role == "READ_WRITE"), usable[0])
            if loop.time() >= deadline:
                raise BorrowTimeout(0, 0, 0, None)
            await asyncio.sleep(0.25)

    async def _borrow(self) -> None:
        proxy = self.proxy
        assert proxy is not None
        loop = asyncio.get_running_loop()
        settings = self.em.control.pool_settings(proxy.name)
        timeout = float(settings.borrow_timeout if settings else 0)
        try:
            target = await self._target(proxy, loop.time() + timeout)
            self.pool = self.em.pool_for(proxy, target)
            password = self.credential.password if self.credential is not None else None
            self.backend = await self.pool.acquire(PoolKey(self.user, self.database), password,
                                                   events=self._events())
        except BorrowTimeout as exc:
            self.log("borrow_timeout", seconds=int(timeout), open=exc.open_count, cap=exc.cap)
            raise _Refused("borrow_timeout", "borrow_timeout") from None
        except BackendError as exc:
            raise _Refused("database_error", "error", error=exc.message) from None
        conn = self.backend
        error = await conn.apply(self.settings)
        if error is not None:
            raise _Refused("database_error", "error", error=error.get("M", "?"))
        self.pid = self._new_pid()
        self.em.sessions[self.pid] = self
        out = [pg.parameter_status(k, v) for k, v in conn.params.items()]
        out.append(pg.backend_key_data(self.pid, self.cancel_key))
        out.append(pg.ready_for_query(conn.status))
        self.writer.write(b"".join(out))
        await self.writer.drain()

    def _new_pid(self) -> int:
        while True:
            pid = random.randrange(1 << 16, 1 << 31)
            if pid not in self.em.sessions:
                return pid

    # -- relay ---------------------------------------------------------------------------------------
    _relay_clean = True

    async def _relay(self) -> str:
        conn = self.backend
        proxy = self.proxy
        assert conn is not None and proxy is not None
        state = _RelayState()
        debug = proxy.debug_logging
        client_scan = pg.Scanner(keep=4096 if debug else 1)
        backend_scan = pg.Scanner(keep=1)
        self._relay_clean = False

        async def client_to_backend() -> str:
            while True:
                idle = state.expected == 0 and not state.extended
                timeout = self._idle_timeout() if idle else None
                try:
                    data = await asyncio.wait_for(self.reader.read(READ_SIZE), timeout)
                except asyncio.TimeoutError:
                    return "idle"
                if not data:
                    return "eof"
                cut = None
                for frame in client_scan.feed(data):
                    kind = frame.kind
                    if kind == b"X":
                        cut = frame.end - 5
                        break
                    if kind in (b"Q", b"F"):
                        state.expected += 1
                    elif kind == b"S":
                        state.expected += 1
                        state.extended = False
                    elif kind in (b"P", b"B", b"E", b"D", b"C", b"H"):
                        state.extended = True
                    if debug and kind in (b"Q", b"P"):
                        self._debug_sql(kind, frame.head)
                if cut is not None:
                    if cut > 0:
                        conn.writer.write(data[:cut])
                        await conn.writer.drain()
                    return "terminate" if cut >= 0 else "eof"
                conn.writer.write(data)
                await conn.writer.drain()

        async def backend_to_client() -> str:
            while True:
                data = await conn.reader.read(READ_SIZE)
                if not data:
                    return "backend_closed"
                for frame in backend_scan.feed(data):
                    if frame.kind == b"Z":
                        state.expected = max(0, state.expected - 1)
                        conn.status = frame.head[:1] or b"I"
                self.writer.write(data)
                await self.writer.drain()

        up = asyncio.ensure_future(client_to_backend())
        down = asyncio.ensure_future(backend_to_client())
        try:
            done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                if not task.done():
                    task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
        first = next(iter(done))
        reason = "eof"
        try:
            reason = first.result()
        except (pg.ProtocolViolation, ConnectionError, OSError, ssl.SSLError):
            reason = "eof"
        self._relay_clean = (reason in ("terminate", "eof", "idle") and state.expected == 0
                             and not state.extended and not client_scan.in_message
                             and not backend_scan.in_message)
        return reason

    def _idle_timeout(self) -> float:
        proxy = self.em.control.proxy_at(self.address) or self.proxy
        assert proxy is not None
        return float(proxy.idle_client_timeout)

    def _debug_sql(self, kind: bytes, head: bytes) -> None:
        parts = head.split(b"\x00")
        sql = parts[0] if kind == b"Q" else (parts[1] if len(parts) > 1 else b"")
        self.log("debug_query" if kind == b"Q" else "debug_parse",
                 sql=sql.decode("utf-8", "replace"))


# -- addresses -----------------------------------------------------------------------------------
@dataclass
class LoopbackAllocator:
    """Binds ``127.0.0.N:5432`` for each new proxy endpoint (the moto extension's
    :class:`~rdsproxyctl.motoext.EndpointAllocator`).  Called from the moto server's
    threads; the socket is bound and listening before the API call returns, so a
    client may connect as soon as it knows the address."""

    emulator: Emulator
    loop: asyncio.AbstractEventLoop
    port: int = PROXY_PORT
    first: int = 2
    last: int = 254
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allocate(self, proxy_name: str, endpoint_name: str) -> str | None:
        with self._lock:
            candidates = list(range(self.first, self.last + 1))
            start = random.randrange(len(candidates))
            for n in candidates[start:] + candidates[:start]:
                address = f"127.0.0.{n}"
                if address in self.sockets:
                    continue
                # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets
                # whose proto says TCP, and accepted sockets inherit it.  With proto 0 every
                # small reply waited for the client's delayed ACK (40 ms a round trip).
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((address, self.port))
                    sock.listen(128)
                    sock.setblocking(False)
                except OSError:
                    sock.close()
                    continue
                self.sockets[address] = sock
                asyncio.run_coroutine_threadsafe(self.emulator.serve(address, sock), self.loop)
                return address
        return None

    def release(self, address: str) -> None:
        with self._lock:
            sock = self.sockets.pop(address, None)
        if sock is not None:
            fut = asyncio.run_coroutine_threadsafe(self.emulator.close_address(address), self.loop)
            fut.add_done_callback(lambda _f: sock.close())

    def close_all(self) -> None:
        with self._lock:
            for sock in self.sockets.values():
                sock.close()
            self.sockets.clear()
