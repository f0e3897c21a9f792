"""MySQL-family connections (PyMySQL), timing each phase; reached through :mod:`.db`.

Why PyMySQL: it is pure Python (nothing to compile, no libmysqlclient: ``pip install``
works wherever rdsproxyctl does, Lambda included), well kept, speaks TLS with a
:class:`ssl.SSLContext` we build (so verify-full means what it says), and does the three
authentication plugins RDS Proxy uses: ``mysql_native_password``,
``caching_sha2_password`` and ``mysql_clear_password`` (IAM tokens).  Its connection runs
in visible steps (socket, server greeting, TLS, authentication), which is what the phase
timings need.

TLS follows the libpq ``sslmode`` names the CLI uses everywhere, mapped to MySQL's
``--ssl-mode``: ``disable`` DISABLED, ``allow``/``prefer`` PREFERRED, ``require``
REQUIRED, ``verify-ca`` VERIFY_CA, ``verify-full`` VERIFY_IDENTITY (the default).
An IAM token (``mysql_clear_password``) is only ever sent over TLS: without it the
connection fails before the token leaves the machine.  A password is never sent in clear
text (``mysql_clear_password``), nor in caching_sha2's or sha256's full authentication,
unless the proxy's certificate is verified (``require_auth=!password``, the same rule as
libpq's for PostgreSQL); the scrambles, which never carry the password, always go.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from rdsproxyctl.core.db import ConnParams, PhaseTimer, resolve

SSL_MODES = {"disable": "DISABLED", "allow": "PREFERRED", "prefer": "PREFERRED",
             "require": "REQUIRED", "verify-ca": "VERIFY_CA", "verify-full": "VERIFY_IDENTITY"}

FIRST_QUERY = "SELECT 1, SUBSTRING_INDEX(CURRENT_USER(), '@', 1), VERSION()"
BACKENDS_QUERY = ("SELECT COUNT(*) FROM information_schema.processlist "
                  "WHERE user = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND db = DATABASE()")

#: SQLSTATEs of the errors RDS Proxy documents for MySQL (PyMySQL keeps only the code).
_SQLSTATES = {1040: "HY000", 1045: "28000", 1105: "HY000", 1231: "42000", 2026: "HY000",
              3159: "HY000", 9501: "HY000"}
CR_SSL_CONNECTION_ERROR = 2026


def ssl_context(params: ConnParams) -> ssl.SSLContext | None:
    """The client TLS context for ``params.sslmode`` (None: no TLS at all)."""
    mode = params.sslmode
    if mode == "disable":
        return None
    if mode in ("verify-ca", "verify-full"):
        cafile = params.sslrootcert if params.sslrootcert not in (None, "system") else None
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.check_hostname = mode == "verify-full"
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _connection_class() -> Any:
    import pymysql

    class ClearPassword:
        """``mysql_clear_password``, over TLS only (the IAM token is a password)."""

        def __init__(self, con: Any) -> None:
            self.con = con

        def authenticate(self, packet: Any) -> Any:
            if "!password" in (getattr(self.con, "require_auth", None) or ""):
                raise pymysql.err.OperationalError(
                    CR_SSL_CONNECTION_ERROR,
                    "SSL connection error: the server asked for the password in clear text "
                    "and the proxy's certificate is not verified (--sslmode below verify-ca); "
                    "refusing to send it")
            if not getattr(self.con, "_secure", False):
                raise pymysql.err.OperationalError(
                    CR_SSL_CONNECTION_ERROR,
                    "SSL connection error: the server asked for the password in clear text "
                    "on a connection without TLS; refusing to send it")
            self.con.write_packet(self.con.password + b"\0")
            return self.con._read_packet()

    def _refuse() -> Exception:
        return pymysql.err.OperationalError(
            CR_SSL_CONNECTION_ERROR,
            "SSL connection error: the server asked for the password itself and the proxy's "
            "certificate is not verified (--sslmode below verify-ca); refusing to send it")

    class CachingSha2:
        """``caching_sha2_password``: the scramble, always; the password itself (full
        authentication: in clear inside TLS, or RSA-encrypted with a key the server sends)
        only when the server's certificate is verified."""

        def __init__(self, con: Any) -> None:
            self.con = con

        def authenticate(self, packet: Any) -> Any:
            from pymysql import _auth

            con = self.con
            if "!password" not in (getattr(con, "require_auth", None) or ""):
                return _auth.caching_sha2_password_auth(con, packet)
            write = con.write_packet

            def guarded(payload: bytes) -> None:
                if payload and payload != _auth.scramble_caching_sha2(con.password, con.salt):
                    raise _refuse()
                write(payload)

            con.write_packet = guarded
            try:
                return _auth.caching_sha2_password_auth(con, packet)
            finally:
                del con.write_packet  # back to the class's method

    class Sha256:
        """``sha256_password`` sends the password itself: only to a verified server."""

        def __init__(self, con: Any) -> None:
            self.con = con

        def authenticate(self, packet: Any) -> Any:
            from pymysql import _auth

            if "!password" in (getattr(self.con, "require_auth", None) or ""):
                raise _refuse()
            return _auth.sha256_password_auth(self.con, packet)

    class _TimedContext:
        def __init__(self, ctx: ssl.SSLContext, timer: PhaseTimer) -> None:
            self._ctx, self._timer = ctx, timer

        def wrap_socket(self, sock: socket.socket, server_hostname: str | None = None) -> Any:
            wrapped = self._ctx.wrap_socket(sock, server_hostname=server_hostname)
            self._timer.start("authentication")
            return wrapped

        def __getattr__(self, name: str) -> Any:
            return getattr(self._ctx, name)

    class TimedConnection(pymysql.connections.Connection):  # type: ignore[misc]
        timer: PhaseTimer
        wants_tls: bool

        def _get_server_information(self) -> None:
            super()._get_server_information()
            tls = self.wants_tls and bool(self.server_capabilities & pymysql.constants.CLIENT.SSL)
            self.timer.start("tls_handshake" if tls else "authentication")

    plugins = {"mysql_clear_password": ClearPassword, "caching_sha2_password": CachingSha2,
               "sha256_password": Sha256}
    return TimedConnection, plugins, _TimedContext


def connect(params: ConnParams, timer: PhaseTimer | None = None) -> Any:
    """A PyMySQL connection (autocommit on), phases timed into ``timer``.

    Raises :class:`~.db.DnsError` or ``pymysql.err.Error``; ``timer.failed_phase`` then names
    the phase that failed."""
    import pymysql

    timer = timer if timer is not None else PhaseTimer()
    connection_class, plugins, timed_context = _connection_class()
    try:
        timer.start("dns")
        address = resolve(params.host, params.port)
        timer.start("tcp_connect")
        try:
            sock = socket.create_connection((address, params.port), params.connect_timeout)
        except OSError as exc:
            raise pymysql.err.OperationalError(
                2003, f"Can't connect to MySQL server on {params.host!r} ({exc})") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = ssl_context(params)
        conn = connection_class(
            host=params.host, port=params.port, user=params.user,
            password=params.password or "", database=params.dbname or None,
            connect_timeout=params.connect_timeout, read_timeout=params.connect_timeout,
            write_timeout=params.connect_timeout, ssl=ctx if ctx is not None else None,
            ssl_disabled=ctx is None, defer_connect=True, autocommit=True,
            charset="utf8mb4", program_name=params.application_name,
            auth_plugin_map=plugins)
        conn.timer = timer
        conn.wants_tls = ctx is not None
        conn.require_auth = params.require_auth  # "!password": no clear-text password
        if ctx is not None:
            conn.ctx = timed_context(ctx, timer)
            if params.sslmode in ("allow", "prefer"):
                conn._ssl_required = False
        conn.connect(sock)
    except BaseException:
        timer.fail()
        raise
    timer.stop()
    conn._read_timeout = conn._write_timeout = None  # queries may wait for the pool
    if conn._sock is not None:
        conn._sock.settimeout(None)
    return conn


def first_query(conn: Any) -> tuple[str, str]:
    with conn.cursor() as cur:
        cur.execute(FIRST_QUERY)
        row = cur.fetchone()
    assert row is not None and int(row[0]) == 1
    return str(row[1]), str(row[2])


def scalar(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    return row[0] if row else None


def is_error(exc: BaseException) -> bool:
    try:
        import pymysql
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, pymysql.err.Error)


def error_message(exc: BaseException) -> str:
    """``ERROR code (SQLSTATE): text`` as the mysql client prints it."""
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        code, text = args[0], str(args[1])
        state = _SQLSTATES.get(code)
        return f"ERROR {code} ({state}): {text}" if state else f"ERROR {code}: {text}"
    return str(exc)
