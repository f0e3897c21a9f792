"""One MySQL client session on a MYSQL proxy (``127.0.0.N:3306``), from accept to close.

Connection phase: the proxy's HandshakeV10 (protocol 4.1, TLS offered), the client's
SSLRequest answered with TLS, then its HandshakeResponse41.  Checks as RDS Proxy makes
them, against the proxy's settings as of now: RequireTLS without TLS -> ERROR 3159; the
auth entry whose secret's ``username`` is the client's user decides how it logs in:

* ``IAMAuth: REQUIRED`` (or DefaultAuthScheme IAM_AUTH): over TLS only, the client is
  switched to ``mysql_clear_password`` and sends its IAM token, checked as for PostgreSQL
  (port 3306);
* otherwise ClientPasswordAuthType: ``MYSQL_NATIVE_PASSWORD`` (the default) or
  ``MYSQL_CACHING_SHA2_PASSWORD`` (fast path, the scramble of the secret's password).

Any refusal is ``ERROR 1045 (28000): Access denied for user 'U'@'%' (using password: YES)``
with the reason in the proxy's log.

Command phase: transaction multiplexing.  A database connection is borrowed from the
target's pool at the first command that needs one and returned after the response whose
status flags say no transaction is open (SERVER_STATUS_IN_TRANS clear, no more results),
unless the session is pinned (:mod:`.pinning`); tracked settings (SET NAMES, autocommit,
sql_mode ..., USE) are re-applied to each connection borrowed.  Once pinned, the session
keeps its connection and bytes are relayed unchanged until the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import ssl
from typing import Any

from rdsproxyctl.sandbox.emulator.control import Credential, ProxyView
from rdsproxyctl.sandbox.emulator.messages import (
    CLOSE_REASONS,
    MYSQL_CLIENT,
    PASSWORD_REASONS,
)
from rdsproxyctl.sandbox.emulator.mysql import packets as my
from rdsproxyctl.sandbox.emulator.mysql.backend import MySQLBackend, nonce
from rdsproxyctl.sandbox.emulator.mysql.pinning import digest, judge
from rdsproxyctl.sandbox.emulator.pool import BackendError, BorrowTimeout, PoolKey
from rdsproxyctl.sandbox.emulator.session import SessionCore

log = logging.getLogger("rdsproxyctl.sandbox")

MYSQL_PORT = 3306
STARTUP_TIMEOUT = 30.0
READ_SIZE = 1 << 16
#: What the proxy says it is (RDS Proxy answers for the database it fronts).
SERVER_VERSION = "8.0.36-rds-proxy-emulator"
NATIVE = "MYSQL_NATIVE_PASSWORD"
CACHING_SHA2 = "MYSQL_CACHING_SHA2_PASSWORD"
EXCLUDE_VARIABLE_SETS = "EXCLUDE_VARIABLE_SETS"
_QUIT_PACKET = my.frame(0, bytes([my.COM_QUIT]))
#: pinning.judge's reasons -> messages.PIN_REASONS keys
_PIN_KEYS = {"session_variable": "settings", "statement_too_large": "too_large"}
#: Commands whose effect on the session the proxy can't carry to another connection.
_SESSION_COMMANDS = {my.COM_CHANGE_USER: "COM_CHANGE_USER", my.COM_SET_OPTION: "COM_SET_OPTION"}


class _Refused(Exception):
    def __init__(self, key: str, close: str = "auth_failed", **values: Any) -> None:
        super().__init__(key)
        self.key, self.close, self.values = key, close, values


class _Listener:
    """Accepts MySQL clients on one address.  Not ``asyncio.start_server``: a MySQL client
    sends its TLS ClientHello right behind its SSLRequest, without waiting for an answer,
    and a stream would have read it into its buffer before TLS could start.  Until TLS,
    the session reads the socket itself, exactly as many bytes as each packet has."""

    def __init__(self, emulator: Any, address: str, sock: socket.socket) -> None:
        self.task = asyncio.get_running_loop().create_task(self._accept(emulator, address, sock))
        self.sessions: set[asyncio.Task[Any]] = set()

    async def _accept(self, emulator: Any, address: str, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(MySQLSession(emulator, address, conn).run())
            self.sessions.add(task)
            task.add_done_callback(self.sessions.discard)

    def close(self) -> None:
        self.task.cancel()


def serve_mysql(emulator: Any, address: str, sock: socket.socket) -> _Listener:
    return _Listener(emulator, address, sock)


class MySQLSession:
    """One MySQL client connection.  Pooling decisions are the protocol-agnostic
    :class:`~..session.SessionCore`'s (``core``, made once the proxy is known)."""

    def __init__(self, emulator: Any, address: str, sock: socket.socket) -> None:
        self.em = emulator
        self.address = address
        self.sock = sock
        self.reader: asyncio.StreamReader | None = None  # once the connection phase is done
        self.writer: Any = None
        self.core: SessionCore | None = None
        self.seq = 0
        self.user = ""
        self.database = ""  # the pool key's database (from the handshake)
        self.current_database = ""  # after USE / COM_INIT_DB
        self.tracked: dict[str, str] = {}
        self.credential: Credential | None = None
        self.in_flight = False
        self.flags = my.STATUS_AUTOCOMMIT
        self.task: asyncio.Task[Any] | None = None
        self.kill_reason: str | None = None
        try:
            peer = sock.getpeername()
        except OSError:
            peer = ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"

    @property
    def proxy(self) -> ProxyView | None:
        return self.core.proxy if self.core is not None else None

    @property
    def tls(self) -> bool:
        return self.core is not None and self.core.tls

    @property
    def backend(self) -> MySQLBackend | None:
        return self.core.backend if self.core is not None else None

    @property
    def pinned(self) -> bool:
        return self.core is not None and self.core.pinned is not None

    # -- logging -------------------------------------------------------------------------------
    def log(self, key: str, **values: Any) -> None:
        if self.core is not None:
            self.core.log(key, **values)

    def kill(self, reason: str) -> None:
        self.kill_reason = reason
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # -- the session ------------------------------------------------------------------------------
    async def run(self) -> None:
        self.task = asyncio.current_task()
        close = "eof"
        try:
            proxy = self.em.control.proxy_at(self.address)
            if proxy is None or proxy.engine_family != "MYSQL":
                return  # deleted meanwhile, or not a MySQL proxy: nothing on 3306
            self.core = SessionCore(self.em, self.address, proxy)
            self.em.sessions[self.core.id] = self
            self.core.counters.client_received += 1
            self.log("client_connected", address=self.peer)
            await asyncio.wait_for(self._handshake(), STARTUP_TIMEOUT)
            close = await self._commands()
        except _Refused as refused:
            if refused.key == "access_denied" and self.core is not None:
                self.core.counters.setup_failed_auth += 1
            message = MYSQL_CLIENT[refused.key]
            await self._send_error(message.code, message.sqlstate,
                                   message.format(**refused.values))
            close = refused.close
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError,
                ssl.SSLError, OSError, my.ProtocolError):
            close = "eof"
        except asyncio.CancelledError:
            close = self.kill_reason or "shutdown"
        except Exception:  # noqa: BLE001 - one session must never take the proxy down
            log.exception("MySQL client session failed")
            close = "error"
        finally:
            self._finish(close)

    def _finish(self, reason: str) -> None:
        core = self.core
        if core is not None:
            self.em.sessions.pop(core.id, None)
            core.finish(mid_request=self.in_flight,
                        needs_reset=bool(self.tracked) or self._moved_database())
            if self.user:
                if reason == "idle":
                    self.log("client_idle_timeout",
                             seconds=core.current_proxy().idle_client_timeout)
                else:
                    self.log("client_closed", reason=CLOSE_REASONS.get(reason, reason))
        with contextlib.suppress(Exception):
            if self.writer is not None:
                self.writer.close()
            else:
                self.sock.close()

    def _moved_database(self) -> bool:
        return bool(self.current_database) and self.current_database != self.database

    async def _send(self, payload: bytes) -> None:
        data = my.frame(self.seq, payload)
        self.seq += 1
        if self.writer is None:
            await asyncio.get_running_loop().sock_sendall(self.sock, data)
        else:
            self.writer.write(data)
            await self.writer.drain()

    async def _send_error(self, code: int, sqlstate: str, text: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._send(my.err(code, sqlstate, text)), 5)

    async def _read(self, limit: int = my.MAX_AUTH_PACKET) -> my.Packet:
        if self.reader is None:
            packet = await self._read_raw(limit)
        else:
            packet = await my.read_packet(self.reader, limit)
        self.seq = packet.seq + 1
        return packet

    async def _recv_exactly(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        data = bytearray()
        while len(data) < n:
            chunk = await loop.sock_recv(self.sock, n - len(data))
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(data), n)
            data += chunk
        return bytes(data)

    async def _read_raw(self, limit: int) -> my.Packet:
        """One packet straight from the socket, reading no byte beyond it."""
        header = await self._recv_exactly(4)
        length = int.from_bytes(header[:3], "little")
        if length > limit or length >= my.MAX_CHUNK:
            raise my.ProtocolError(f"packet of more than {limit} bytes")
        body = await self._recv_exactly(length)
        return my.Packet(header[3], body, header + body)

    async def _streams(self, tls: bool) -> None:
        """Hand the socket to asyncio streams (with TLS: after the server-side handshake)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READ_SIZE, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        kwargs: dict[str, Any] = {"ssl": self.em.server_ssl, "ssl_handshake_timeout": 10} \
            if tls else {}
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, self.sock, **kwargs)
        self.reader = reader
        self.writer = asyncio.StreamWriter(transport, protocol, reader, loop)

    # -- connection phase ----------------------------------------------------------------------------
    async def _handshake(self) -> None:
        scramble = nonce()
        assert self.core is not None
        greeting = my.Greeting(SERVER_VERSION, self.core.id & 0x7FFFFFFF, scramble,
                               my.PROXY_CAPABILITIES)
        self.seq = 0
        await self._send(greeting.encode())
        try:
            response = my.HandshakeResponse.decode((await self._read()).payload)
            if response.ssl_only:
                await self._streams(tls=True)
                self.core.tls = True
                response = my.HandshakeResponse.decode((await self._read()).payload)
                if response.ssl_only:
                    raise my.ProtocolError("a second SSL request")
            else:
                await self._streams(tls=False)
        except my.ProtocolError as exc:
            self.user = self.user or "?"
            self.log("protocol_violation", detail=str(exc))
            raise _Refused("protocol_violation", "protocol") from None
        self.user = response.user or "?"
        self.database = self.current_database = response.database or ""
        proxy = self.em.control.proxy_at(self.address)  # settings as of now
        if proxy is None:
            raise ConnectionError("proxy gone")
        self.core.proxy = proxy
        self.core.key = PoolKey(self.user, self.database)
        if proxy.require_tls and not self.tls:
            self.log("tls_required")
            raise _Refused("tls_required")
        if not response.user:
            raise _Refused("access_denied", user="")
        if proxy.end_to_end_iam:
            await self._iam(proxy, response)
        else:
            report = self.em.control.credentials(proxy)
            for key, values in report.problems:
                self.log(key, **values)
            credential = report.credentials.get(self.user)
            if credential is None:
                self.log("no_credentials", user=self.user)
                raise _Refused("access_denied", user=self.user)
            if credential.entry.iam_auth in ("REQUIRED", "ENABLED"):
                await self._iam(proxy, response)
            else:
                await self._password(credential, response, scramble)
            self.credential = credential
            self.core.password = credential.password
        self.core.authenticated = True
        self.core.counters.setup_succeeded += 1
        await self._send(my.ok(self.flags))

    async def _iam(self, proxy: ProxyView, response: my.HandshakeResponse) -> None:
        if not self.tls:
            self.log("mysql_iam_cleartext_without_tls", user=self.user)
            raise _Refused("access_denied", user=self.user)
        if response.plugin == "mysql_clear_password" and response.auth_response:
            answer = response.auth_response
        else:
            await self._send(my.auth_switch("mysql_clear_password", b""))
            answer = (await self._read()).payload
        token = answer.split(b"\x00", 1)[0].decode("utf-8", "replace")
        assert self.core is not None
        if not self.core.iam_token_accepted(proxy, self.user, token, MYSQL_PORT):
            raise _Refused("access_denied", user=self.user) from None

    async def _password(self, credential: Credential, response: my.HandshakeResponse,
                        scramble: bytes) -> None:
        kind = credential.entry.client_password_auth_type
        plugin = "caching_sha2_password" if kind == CACHING_SHA2 else "mysql_native_password"
        expected = (my.sha2_scramble if plugin == "caching_sha2_password"
                    else my.native_scramble)
        if response.plugin == plugin or (not response.plugin and plugin == "mysql_native_password"):
            answer = response.auth_response
        else:
            scramble = nonce()
            await self._send(my.auth_switch(plugin, scramble + b"\x00"))
            answer = (await self._read()).payload
        tls = "on" if self.tls else "off"
        if not hmac.compare_digest(answer, expected(credential.password.encode(), scramble)):
            self.log("mysql_password_auth_failed", user=self.user, tls=tls,
                     reason=PASSWORD_REASONS["wrong_password"])
            raise _Refused("access_denied", user=self.user)
        if plugin == "caching_sha2_password":
            await self._send(b"\x01\x03")  # fast authentication succeeded
        self.log("mysql_password_auth_succeeded", user=self.user, tls=tls)

    # -- command phase -------------------------------------------------------------------------------
    def _exclude_variable_sets(self) -> bool:
        assert self.proxy is not None
        return EXCLUDE_VARIABLE_SETS in self.em.control.session_pinning_filters(self.proxy.name)

    async def _commands(self) -> str:
        core = self.core
        assert core is not None and self.reader is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                packet = await asyncio.wait_for(my.read_packet(self.reader), core.idle_timeout())
            except asyncio.TimeoutError:
                return "idle"
            self.seq = packet.seq + 1
            payload = packet.payload
            if not payload:
                raise my.ProtocolError("empty command")
            command = payload[0]
            if command == my.COM_QUIT:
                return "terminate"
            if command == my.COM_RESET_CONNECTION and not self.pinned:
                # the session's state goes; a later borrow gets a clean connection
                self.tracked.clear()
                self.current_database = self.database
                if core.backend is None:
                    await self._send(my.ok(my.STATUS_AUTOCOMMIT))
                    continue
            if command == my.COM_PING and core.backend is None:
                await self._send(my.ok(self.flags))
                continue
            pin: str | None = None
            sql = ""
            verdict = None
            if command == my.COM_QUERY:
                core.counters.query_requests += 1
                sql = payload[1:].decode("utf-8", "replace")
                if core.current_proxy().debug_logging:
                    self.log("debug_query", sql=sql[:4096])
                verdict = judge(sql, exclude_variable_sets=self._exclude_variable_sets())
                pin = verdict.pin
            elif command == my.COM_STMT_PREPARE:
                pin = "prepared_statement"
            elif command in _SESSION_COMMANDS or (command > my.COM_STMT_PREPARE
                                                  and command != my.COM_RESET_CONNECTION):
                pin = "session_command"
            if not await self._ensure_backend():
                continue
            conn = core.backend
            assert conn is not None
            sent = loop.time()
            if pin is not None:
                core.pin(_PIN_KEYS.get(pin, pin),
                         digest=digest(sql) if command == my.COM_QUERY
                         else _SESSION_COMMANDS.get(command, f"command {command:#04x}"))
                self.in_flight = True
                conn.writer.write(packet.raw)
                return await self._relay_raw()
            scanner = my.ResponseScanner(command)
            self.in_flight = True
            conn.writer.write(packet.raw)
            await conn.writer.drain()
            while True:
                answer = await my.read_packet(conn.reader)
                self.writer.write(answer.raw)
                if scanner.feed(answer.payload):
                    break
                if self.writer.transport.get_write_buffer_size() > READ_SIZE:
                    await self.writer.drain()
            await self.writer.drain()
            self.in_flight = False
            if command == my.COM_QUERY:
                core.counters.query_latency.add((loop.time() - sent) * 1e6)
            conn.note_status(scanner.status)
            core.in_transaction = conn.status != b"I"
            if scanner.status is not None:
                self.flags = scanner.status
            if scanner.error is None:
                if verdict is not None:
                    self.tracked.update(verdict.tracked)
                    if verdict.database:
                        self.current_database = verdict.database
                if command == my.COM_INIT_DB:
                    self.current_database = payload[1:].decode("utf-8", "replace")
            conn.database = self.current_database or conn.database
            if conn.status == b"I" and not self.pinned:
                self._transaction_ended()
            core.request_done()

    def _transaction_ended(self) -> None:
        """Give the connection back: as it is, or reset when this session's tracked settings
        (re-applied at each borrow) or USE changed it."""
        core = self.core
        assert core is not None
        if self.tracked or self._moved_database():
            conn, core.backend = core.backend, None
            core.in_transaction = False
            core.pool.release(conn, reset=True, events=core.events())
        else:
            core.transaction_ended()

    async def _ensure_backend(self) -> bool:
        """Borrow a database connection (and re-apply the tracked settings) unless the session
        holds one; False when it couldn't (the client got the error)."""
        core = self.core
        assert core is not None
        if core.backend is not None:
            return True
        try:
            conn = await core.borrow()
        except BorrowTimeout:  # the core logged it
            message = MYSQL_CLIENT["borrow_timeout"]
            await self._reply_error(message.code, message.sqlstate, message.text)
            return False
        except BackendError as exc:
            code = int(exc.fields.get("code", 1105))
            await self._reply_error(code, exc.fields.get("C", "HY000"), exc.message)
            return False
        try:
            if self.current_database and self.current_database != conn.database:
                if await conn.command(my.COM_INIT_DB, self.current_database.encode()) is None:
                    conn.database = self.current_database
            if self.tracked:
                await conn.query("SET " + ", ".join(self.tracked.values()))
        except (OSError, asyncio.IncompleteReadError, my.ProtocolError):
            core.finish(mid_request=True, needs_reset=True)
            raise
        return True

    async def _reply_error(self, code: int, sqlstate: str, text: str) -> None:
        await self._send(my.err(code, sqlstate, text))

    async def _relay_raw(self) -> str:
        """Pinned: bytes both ways, unchanged, until one side leaves."""
        conn = self.backend
        assert conn is not None and self.reader is not None

        async def up() -> str:
            while True:
                data = await self.reader.read(READ_SIZE)
                if not data:
                    return "eof"
                if data == _QUIT_PACKET:
                    self.in_flight = False
                    return "terminate"
                conn.writer.write(data)
                await conn.writer.drain()

        async def down() -> str:
            while True:
                data = await conn.reader.read(READ_SIZE)
                if not data:
                    return "backend_closed"
                self.writer.write(data)
                await self.writer.drain()

        tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            return next(iter(done)).result()
        except (ConnectionError, OSError, ssl.SSLError):
            return "eof"
