"""PostgreSQL adapter: one client session, from accept to close.

Startup packet (SSLRequest answered with TLS, GSSENCRequest declined, CancelRequest
ignored: RDS Proxy doesn't support it) -> the documented refusals -> RequireTLS ->
client authentication from the proxy's Auth / DefaultAuthScheme (IAM token,
SCRAM-SHA-256 or MD5) -> a first borrow to check the login and learn the server's
parameters -> the multiplexing relay (:mod:`.pgrelay`) until the client leaves.
Pooling decisions are the protocol-agnostic :class:`~.session.SessionCore`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import ssl
import struct
from typing import TYPE_CHECKING, Any

from rdsproxyctl.sandbox.emulator import protocol as pg
from rdsproxyctl.sandbox.emulator import routing
from rdsproxyctl.sandbox.emulator.control import Credential, ProxyView
from rdsproxyctl.sandbox.emulator.faults import Refusal
from rdsproxyctl.sandbox.emulator.messages import (
    CLIENT,
    CLOSE_REASONS,
    PASSWORD_REASONS,
)
from rdsproxyctl.sandbox.emulator.pool import BackendError, BorrowTimeout, PoolKey
from rdsproxyctl.sandbox.emulator.scram import ScramError, ScramServer, check_md5
from rdsproxyctl.sandbox.emulator.session import SessionCore

if TYPE_CHECKING:
    from rdsproxyctl.sandbox.emulator.server import Emulator

log = logging.getLogger("rdsproxyctl.sandbox")

PROXY_PORT = 5432
#: Time allowed from TCP accept to the end of client authentication (PostgreSQL's
#: authentication_timeout is 60 s).
STARTUP_TIMEOUT = 30.0
READ_SIZE = 1 << 16
#: Startup parameters that are about the connection, not session settings.
_NOT_SETTINGS = {"user", "database", "replication", "options"}


class Refused(Exception):
    """End the session with a client-facing error (``CLIENT[key]``)."""

    def __init__(self, key: str, close: str = "auth_failed", **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.close = close
        self.values = values


class Gone(Exception):
    """The client went away (or sent garbage we answer with silence)."""


class PgClientSession:
    """One PostgreSQL client connection."""

    def __init__(self, emulator: Emulator, address: str, proxy: ProxyView,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.em = emulator
        self.core = SessionCore(emulator, address, proxy)
        self.address = address
        self.reader = reader
        self.writer = writer
        self.user = ""
        self.settings: dict[str, str] = {}
        self.task: asyncio.Task[Any] | None = None
        self.kill_reason: str | None = None
        self.relay: Any = None
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"

    @property
    def proxy(self) -> ProxyView:
        return self.core.proxy

    def log(self, key: str, **values: Any) -> None:
        self.core.log(key, **values)

    def kill(self, reason: str) -> None:
        self.kill_reason = reason
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # -- the session -----------------------------------------------------------------------------
    async def run(self) -> None:
        from rdsproxyctl.sandbox.emulator.pgrelay import Relay

        self.task = asyncio.current_task()
        self.em.sessions[self.core.id] = self
        close_reason = "eof"
        try:
            startup = await asyncio.wait_for(self._startup(), STARTUP_TIMEOUT)
            if startup is None:
                return
            self._admit()
            await asyncio.wait_for(self._authenticate(), STARTUP_TIMEOUT)
            await self._first_borrow()
            self.relay = Relay(self)
            close_reason = await self.relay.run()
        except Refused as refused:
            message = CLIENT[refused.key]
            await self._send_error(message.format(**refused.values), message.sqlstate)
            close_reason = refused.close
        except (Gone, asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError,
                ssl.SSLError, OSError):
            close_reason = "eof"
        except asyncio.CancelledError:
            close_reason = self.kill_reason or "shutdown"
        except Exception:  # noqa: BLE001 - one session must never take the proxy down
            log.exception("client session %s failed", self.core.id)
            close_reason = "error"
        finally:
            self._finish(close_reason)

    _admitted = False

    def _admit(self) -> None:
        """The sandbox's client connection limits (emulator/faults.py)."""
        try:
            self.em.faults.admit(self.core.proxy.resource_id)
        except Refusal as refused:
            self.log(refused.key, limit=refused.limit)
            raise Refused(refused.key, "limit", limit=refused.limit) from None
        self._admitted = True

    def _finish(self, reason: str) -> None:
        self.em.sessions.pop(self.core.id, None)
        if self._admitted:
            self.em.faults.leave(self.core.proxy.resource_id)
        relay = self.relay
        if relay is not None:
            mid, reset = relay.end_state()
        else:  # still in the first borrow: nothing of the client's reached the database
            mid, reset = False, True
        self.core.finish(mid_request=mid, needs_reset=reset)
        if self.user:
            if reason == "idle":
                self.log("client_idle_timeout",
                         seconds=self.core.current_proxy().idle_client_timeout)
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
            except pg.UnsupportedProtocol as exc:
                self.user = self.user or "?"
                if not announced:
                    self.log("client_connected", address=self.peer)
                    self.core.counters.client_received += 1
                if exc.major < 3:
                    raise Refused("old_protocol", "protocol") from None
                self.log("protocol_violation", detail=str(exc))
                raise Refused("protocol_violation", "protocol", detail=str(exc)) from None
            except pg.ProtocolViolation as exc:
                self.user = self.user or "?"
                if not announced:
                    self.log("client_connected", address=self.peer)
                    self.core.counters.client_received += 1
                self.log("protocol_violation", detail=str(exc))
                raise Refused("protocol_violation", "protocol", detail=str(exc)) from None
            if startup.code == pg.CANCEL_REQUEST:
                # RDS Proxy doesn't support CancelRequest (its limitations) and sends no
                # BackendKeyData: the request is dropped, as PostgreSQL drops a bad one.
                return None
            if not announced:
                self.log("client_connected", address=self.peer)
                self.core.counters.client_received += 1
                announced = True
            if startup.code == pg.SSL_REQUEST:
                if self.core.tls:
                    raise Refused("protocol_violation", "protocol", detail="SSLRequest over TLS")
                if getattr(self.reader, "_buffer", b""):
                    # bytes sent with the SSLRequest came in clear: never treat them as sent
                    # over TLS (PostgreSQL's CVE-2021-23214 fix refuses them the same way)
                    detail = "received unencrypted data after SSL request"
                    self.log("protocol_violation", detail=detail)
                    raise Refused("protocol_violation", "protocol", detail=detail)
                self.writer.write(b"S")
                await self.writer.drain()
                await self.writer.start_tls(self.em.server_ssl, ssl_handshake_timeout=10)
                self.core.tls = True
                continue
            if startup.code == pg.GSSENC_REQUEST:
                self.writer.write(b"N")
                await self.writer.drain()
                continue
            break
        params = startup.params
        unsupported = [k for k in params if k.startswith("_pq_.")]
        if startup.minor > 0 or unsupported:
            # as PostgreSQL 15: the newest version it speaks (3.0) and the ignored options
            self.writer.write(pg.negotiate_protocol_version(pg.PROTOCOL_3_0, unsupported))
        self.user = params.get("user", "")
        if not self.user:
            self.user = "?"
            raise Refused("missing_user")
        if params.get("replication") and params["replication"].lower() not in ("false", "off",
                                                                                  "no", "0"):
            self.log("unsupported_option", option="replication")
            raise Refused("replication")
        if params.get("options"):
            self.log("unsupported_option", option="options")
            raise Refused("unsupported_option", option="options")
        database = params.get("database") or self.user
        self.core.key = PoolKey(self.user, database)
        self.settings = {k: v for k, v in params.items()
                         if k not in _NOT_SETTINGS and not k.startswith("_pq_.")}
        return startup

    # -- client authentication ---------------------------------------------------------------------
    async def _authenticate(self) -> None:
        proxy = self.em.control.proxy_at(self.address)  # settings as of now
        if proxy is None:
            raise Gone()
        self.core.proxy = proxy
        if proxy.require_tls and not self.core.tls:
            self.log("tls_required")
            raise Refused("tls_required")
        try:
            if proxy.end_to_end_iam:
                await self._iam(proxy)
                self.core.password = None
            else:
                report = self.em.control.credentials(proxy)
                for key, values in report.problems:
                    self.log(key, **values)
                credential = report.credentials.get(self.user)
                if credential is None:
                    self.log("no_credentials", user=self.user)
                    raise Refused("no_credentials", user=self.user)
                if credential.entry.iam_auth in ("REQUIRED", "ENABLED"):
                    await self._iam(proxy)
                elif credential.entry.client_password_auth_type == "POSTGRES_MD5":
                    await self._md5(credential)
                else:
                    await self._scram(credential)
                self.core.password = credential.password
        except Refused as refused:
            if refused.close == "auth_failed":
                self.core.counters.setup_failed_auth += 1
            raise
        self.writer.write(pg.auth_request(pg.AUTH_OK))

    async def _password_message(self) -> bytes:
        try:
            kind, body = await pg.read_message(self.reader, pg.MAX_AUTH_MESSAGE)
        except pg.ProtocolViolation as exc:
            self.log("protocol_violation", detail=str(exc))
            raise Refused("protocol_violation", "protocol", detail=str(exc)) from None
        if kind != b"p":
            raise Refused("unsupported_auth")
        return body

    async def _iam(self, proxy: ProxyView) -> None:
        if not self.core.tls:
            self.log("iam_without_tls", user=self.user)
            raise Refused("iam_requires_tls")
        self.writer.write(pg.auth_request(pg.AUTH_CLEARTEXT))
        await self.writer.drain()
        body = await self._password_message()
        token = body.split(b"\x00", 1)[0].decode("utf-8", "replace")
        if not self.core.iam_token_accepted(proxy, self.user, token, PROXY_PORT):
            raise Refused("iam_auth_failed", user=self.user) from None

    async def _scram(self, credential: Credential) -> None:
        self.writer.write(pg.auth_request(pg.AUTH_SASL, pg.cstr("SCRAM-SHA-256") + b"\x00"))
        await self.writer.drain()
        body = await self._password_message()
        mechanism, _, rest = body.partition(b"\x00")
        if mechanism != b"SCRAM-SHA-256" or len(rest) < 4:
            raise Refused("unsupported_auth")
        (length,) = struct.unpack_from("!i", rest)
        server = ScramServer(self.em.verifier(credential.password))
        tls = "on" if self.core.tls else "off"
        try:
            first = server.first(rest[4:4 + max(0, length)].decode("utf-8"))
            self.writer.write(pg.auth_request(pg.AUTH_SASL_CONTINUE, first.encode()))
            await self.writer.drain()
            final = server.final((await self._password_message()).decode("utf-8"))
        except (ScramError, UnicodeDecodeError) as exc:
            wrong = str(exc) == "wrong password"
            self.log("password_auth_failed", user=self.user, tls=tls,
                     reason=PASSWORD_REASONS["wrong_password" if wrong else "protocol"])
            raise Refused("wrong_password" if wrong else "unsupported_auth",
                          user=self.user) from None
        self.writer.write(pg.auth_request(pg.AUTH_SASL_FINAL, final.encode()))
        self.log("password_auth_succeeded", user=self.user, tls=tls)

    async def _md5(self, credential: Credential) -> None:
        salt = os.urandom(4)
        self.writer.write(pg.auth_request(pg.AUTH_MD5, salt))
        await self.writer.drain()
        raw = (await self._password_message()).split(b"\x00", 1)[0]
        tls = "on" if self.core.tls else "off"
        if not re.fullmatch(rb"md5[0-9a-f]{32}", raw):  # malformed: refused, not compared
            self.log("password_auth_failed", user=self.user, tls=tls,
                     reason=PASSWORD_REASONS["protocol"])
            raise Refused("unsupported_auth", user=self.user)
        answer = raw.decode("ascii")
        if not check_md5(self.user, credential.password, salt, answer):
            self.log("password_auth_failed", user=self.user, tls=tls,
                     reason=PASSWORD_REASONS["wrong_password"])
            raise Refused("wrong_password", user=self.user)
        self.log("password_auth_succeeded", user=self.user, tls=tls)

    # -- borrowing ----------------------------------------------------------------------------------
    async def borrow(self) -> Any:
        """Borrow for this session, the connection set to its startup parameters."""
        try:
            conn = await self.core.borrow()
        except BorrowTimeout:
            raise Refused("borrow_timeout", "borrow_timeout") from None
        except routing.NoReaders:
            raise Refused("no_readers", "error", endpoint=self.core.proxy.endpoint_name) from None
        except BackendError as exc:
            raise Refused("database_error", "error", error=exc.message) from None
        try:
            error = await conn.apply(self.settings)
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError, pg.ProtocolViolation):
            self.core.finish(mid_request=True, needs_reset=False)
            raise Refused("database_error", "error", error="the database closed the "
                          "connection") from None
        if error is not None:
            self.core.finish(mid_request=False, needs_reset=True)
            raise Refused("database_error", "error", error=error.get("M", "?"))
        return conn

    async def _first_borrow(self) -> None:
        """Check the login on a real connection, tell the client the server's parameters
        (no BackendKeyData: RDS Proxy sends none), and give the connection back."""
        conn = await self.borrow()
        self.core.authenticated = True
        self.core.counters.setup_succeeded += 1
        out = [pg.parameter_status(k, v) for k, v in conn.params.items()]
        out.append(pg.ready_for_query(b"I"))
        self.core.transaction_ended()
        self.writer.write(b"".join(out))
        await self.writer.drain()
        self.core.request_done()
