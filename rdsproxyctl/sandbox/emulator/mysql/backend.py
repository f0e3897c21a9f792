"""Connections from the proxy to a MySQL-family database (the sandbox's MariaDB): the MySQL
adapter's pool :class:`~..pool.Backend`.

:func:`opener` gives the target's pool a way to open them; the pool itself knows nothing
of the protocol.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any

from rdsproxyctl.sandbox.emulator.mysql import packets as my
from rdsproxyctl.sandbox.emulator.pool import (
    BackendError,
    Endpoint,
    Opener,
    PoolKey,
    StreamBackend,
    open_stream,
)

CONNECT_TIMEOUT = 5.0
RESET_TIMEOUT = 5.0


#: MySQL error codes that mean "these credentials are refused" / "no such database" /
#: "too many connections" (retryable).
_AUTH_ERRORS = {1045, 1044, 1698}
_DATABASE_ERRORS = {1049}
_RETRYABLE = {1040, 1203}


class MySQLBackend(StreamBackend):
    """One connection from the proxy to the database, speaking protocol 4.1 over TLS (a pool
    ``Backend``: ``status`` is ``b"I"`` or ``b"T"`` (in a transaction), as PostgreSQL's)."""

    GOODBYE = my.frame(0, bytes([my.COM_QUIT]))

    def __init__(self, key: PoolKey, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        super().__init__(key, reader, writer)
        self.flags = my.STATUS_AUTOCOMMIT
        self.server_version = ""
        self.thread_id = 0
        self.database = key.database

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    async def open(cls, endpoint: Endpoint, key: PoolKey, password: str | None,
                   timeout: float = CONNECT_TIMEOUT) -> MySQLBackend:
        reader, writer = await open_stream(endpoint, timeout)
        conn = cls(key, reader, writer)
        try:
            await asyncio.wait_for(conn._handshake(endpoint, password or ""), timeout)
        except BackendError:
            conn.close()
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError,
                my.ProtocolError) as exc:
            conn.close()
            raise BackendError("connection_failed",
                               f"connection to {endpoint.host}:{endpoint.port} failed: "
                               f"{type(exc).__name__}: {exc}") from None
        return conn

    async def _handshake(self, endpoint: Endpoint, password: str) -> None:
        greeting_packet = await my.read_packet(self.reader)
        if my.is_err(greeting_packet.payload):
            raise _backend_error(my.parse_err(greeting_packet.payload))
        greeting = my.Greeting.decode(greeting_packet.payload)
        self.server_version, self.thread_id = greeting.server_version, greeting.connection_id
        caps = my.PROXY_CAPABILITIES & (greeting.capabilities | my.LONG_PASSWORD)
        seq = greeting_packet.seq + 1
        if endpoint.ssl_context is not None:
            if not greeting.capabilities & my.SSL:
                raise BackendError("connection_failed", "the database does not offer TLS")
            self.writer.write(my.frame(seq, my.ssl_request(caps)))
            await self.writer.drain()
            seq += 1
            await self.writer.start_tls(endpoint.ssl_context, server_hostname=endpoint.host)
        else:
            caps &= ~my.SSL
        plugin = greeting.plugin if greeting.plugin in ("mysql_native_password",
                                                        "caching_sha2_password") \
            else "mysql_native_password"
        secret = password.encode()
        response = my.HandshakeResponse(
            capabilities=caps, user=self.key.user, database=self.key.database,
            auth_response=_scramble(plugin, secret, greeting.scramble), plugin=plugin,
            attributes={"_client_name": "rds-proxy-emulator"})
        self.writer.write(my.frame(seq, response.encode()))
        await self.writer.drain()
        tls = endpoint.ssl_context is not None
        while True:
            packet = await my.read_packet(self.reader)
            payload = packet.payload
            if my.is_ok(payload):
                self.flags = my.ok_status(payload)
                return
            if my.is_err(payload):
                raise _backend_error(my.parse_err(payload))
            if payload[:1] == b"\xfe":  # AuthSwitchRequest
                name, pos = my.read_cstr(payload, 1)
                plugin = name.decode()
                nonce = payload[pos:].rstrip(b"\x00")
                if plugin == "mysql_clear_password" and not tls:
                    raise BackendError("connection_failed", "clear-text password without TLS")
                answer = (secret + b"\x00" if plugin == "mysql_clear_password"
                          else _scramble(plugin, secret, nonce))
            elif payload[:2] == b"\x01\x03":  # caching_sha2: fast auth succeeded
                continue
            elif payload[:2] == b"\x01\x04":  # caching_sha2: full authentication
                if not tls:
                    raise BackendError("connection_failed",
                                       "caching_sha2_password full authentication needs TLS")
                answer = secret + b"\x00"
            else:
                raise my.ProtocolError(f"unexpected packet {payload[:1]!r} in authentication")
            self.writer.write(my.frame(packet.seq + 1, answer))
            await self.writer.drain()

    # -- queries the proxy runs itself ----------------------------------------------------------
    async def query(self, sql: str) -> tuple[list[list[str | None]], my.ServerError | None]:
        """Run one statement; its rows (text) and its error."""
        self.writer.write(my.frame(0, bytes([my.COM_QUERY]) + sql.encode()))
        await self.writer.drain()
        return await self._answer(my.COM_QUERY)

    async def command(self, command: int, data: bytes = b"") -> my.ServerError | None:
        self.writer.write(my.frame(0, bytes([command]) + data))
        await self.writer.drain()
        _, error = await self._answer(command)
        return error

    async def _answer(self, command: int) -> tuple[list[list[str | None]], my.ServerError | None]:
        scanner = my.ResponseScanner(command)
        scanner.keep_rows = True
        while True:
            packet = await my.read_packet(self.reader)
            if scanner.feed(packet.payload):
                break
        self.note_status(scanner.status)
        return scanner.rows, scanner.error

    def note_status(self, flags: int | None) -> None:
        if flags is not None:
            self.flags = flags
            self.status = b"T" if flags & my.STATUS_IN_TRANS else b"I"

    async def reset(self) -> bool:
        """Back to a fresh session: roll back, COM_RESET_CONNECTION (user variables,
        temporary tables, session variables and prepared statements gone), and the
        pool key's database again.  False: unusable."""
        try:
            async with asyncio.timeout(RESET_TIMEOUT):
                if self.status != b"I":
                    _, error = await self.query("ROLLBACK")
                    if error is not None:
                        return False
                if await self.command(my.COM_RESET_CONNECTION) is not None:
                    return False
                if self.key.database and self.database != self.key.database:
                    if await self.command(my.COM_INIT_DB, self.key.database.encode()) is not None:
                        return False
                    self.database = self.key.database
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError,
                my.ProtocolError):
            return False
        return self.status == b"I"

    async def initialize(self, init_query: str | None) -> str | None:
        """Run the target group's InitQuery; the error text, if any."""
        if not init_query:
            return None
        _, error = await self.query(init_query)
        return None if error is None else error.message

    async def server_max_connections(self) -> int | None:
        rows, _ = await self.query("SELECT @@max_connections")
        value = rows[0][0] if rows and rows[0] else None
        return int(value) if value and value.isdigit() else None


def _scramble(plugin: str, secret: bytes, nonce: bytes) -> bytes:
    if plugin == "caching_sha2_password":
        return my.sha2_scramble(secret, nonce)
    return my.native_scramble(secret, nonce)


def _backend_error(error: my.ServerError) -> BackendError:
    fields = {"C": error.sqlstate, "M": error.message, "code": str(error.code)}
    if error.code in _AUTH_ERRORS:
        return BackendError("auth_failed", error.message, fields)
    if error.code in _DATABASE_ERRORS:
        return BackendError("database_error", error.message, fields)
    if error.code in _RETRYABLE:
        return BackendError("connection_failed", error.message, fields)
    return BackendError("database_error", error.message, fields)


def opener(host: str, port: int, context: ssl.SSLContext | None) -> Opener:
    """The target's pool opens its connections with this."""
    endpoint = Endpoint(host, port, context)

    async def open_(key: PoolKey, password: str | None, timeout: float) -> Any:
        return await MySQLBackend.open(endpoint, key, password,
                                       timeout=max(0.1, min(CONNECT_TIMEOUT, timeout)))

    return open_


def nonce() -> bytes:
    """20 printable random bytes (MySQL avoids NUL and '$' in scrambles)."""
    return bytes(33 + b % 90 for b in os.urandom(20))
