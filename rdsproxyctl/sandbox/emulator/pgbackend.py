"""PostgreSQL adapter: one connection from the proxy to PostgreSQL (a pool ``Backend``).

Opens (TLS, SCRAM/MD5/cleartext as the server asks), runs the proxy's own queries
(``SHOW max_connections``, InitQuery, startup parameters, reset), and remembers what
the proxy put in its session: the startup parameters applied (``applied``) and the
protocol-level prepared statements it holds (``prepared``: name -> Parse message), so
that a multiplexed session can find its named statements on whichever connection it
borrows (see :mod:`.pgrelay`).
"""

from __future__ import annotations

import asyncio
import ssl
import struct

from rdsproxyctl.sandbox.emulator import protocol as pg
from rdsproxyctl.sandbox.emulator.pool import (
    BackendError,
    Endpoint,
    PoolKey,
    StreamBackend,
    open_stream,
)
from rdsproxyctl.sandbox.emulator.scram import ScramClient, ScramError, md5_password

CONNECT_TIMEOUT = 5.0
RESET_TIMEOUT = 5.0


def _error_text(fields: dict[str, str]) -> str:
    return fields.get("M", "unknown error")


class PgBackend(StreamBackend):
    """One connection from the proxy to PostgreSQL."""

    GOODBYE = pg.message(b"X")  # Terminate

    def __init__(self, key: PoolKey, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        super().__init__(key, reader, writer)
        self.pid = 0
        self.secret = b""
        self.params: dict[str, str] = {}
        self.applied: dict[str, str] = {}  # startup parameters the proxy set
        self.prepared: dict[bytes, bytes] = {}  # statement name -> its Parse message

    # -- opening ------------------------------------------------------------------------
    @classmethod
    async def open(cls, endpoint: Endpoint, key: PoolKey, password: str | None,
                   timeout: float = CONNECT_TIMEOUT) -> PgBackend:
        timeout = min(timeout, CONNECT_TIMEOUT)
        reader, writer = await open_stream(endpoint, timeout)
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
                rows.append(pg.data_row(body))
            elif kind == b"E":
                errors.append(pg.parse_error_fields(body))
            elif kind == b"S":
                name, value = pg.parse_cstrings(body)[:2]
                self.params[name] = value
            elif kind == b"Z":
                self.status = body[:1]
                pending -= 1
        return rows, errors

    # -- the pool's Backend interface -----------------------------------------------------
    async def server_max_connections(self) -> int | None:
        rows, _ = await self.run("SHOW max_connections")
        if rows and rows[0] and rows[0][0] and rows[0][0].isdigit():
            return int(rows[0][0])
        return None

    async def initialize(self, init_query: str | None) -> str | None:
        if not init_query:
            return None
        _, errors = await self.run(init_query)
        return _error_text(errors[0]) if errors else None

    async def reset(self) -> bool:
        """Back to a fresh session: no transaction, no session state.  False: unusable."""
        sqls = (["ROLLBACK"] if self.status != b"I" else []) + ["DISCARD ALL"]
        try:
            _, errors = await asyncio.wait_for(self.run(*sqls), RESET_TIMEOUT)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError,
                pg.ProtocolViolation):
            return False
        self.applied = {}
        self.prepared = {}
        return not errors and self.status == b"I"

    async def apply(self, settings: dict[str, str]) -> dict[str, str] | None:
        """Make the session's startup parameters those of ``settings`` (only what differs
        from what the proxy set before); the error, if any."""
        if settings == self.applied:
            return None
        sqls = [f"RESET {_ident(k)}" for k in self.applied if k not in settings]
        changed = {k: v for k, v in settings.items() if self.applied.get(k) != v}
        if changed:
            calls = ", ".join(f"pg_catalog.set_config({_literal(k)}, {_literal(v)}, false)"
                              for k, v in changed.items())
            sqls.append(f"SELECT {calls}")
        _, errors = await self.run(*sqls)
        if errors:
            self.applied = {"\x00unknown": ""}  # force a full re-apply next time
            return errors[0]
        self.applied = dict(settings)
        return None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
