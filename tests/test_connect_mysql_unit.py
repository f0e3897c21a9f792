"""connect on MYSQL proxies without a server: the MySQL failure rules, TLS modes, error
texts, and token's MySQL formats."""

from __future__ import annotations

import ssl

import pytest

from rdsproxyctl.core import mysqldb
from rdsproxyctl.core.connect import CLASS_EXIT_CODES, classify
from rdsproxyctl.core.db import ConnParams

CTX = {"user": "app", "host": "h", "port": 3306, "region": "eu-west-1", "proxy": "p"}
TOKEN_HINT = "rds-db:connect"


@pytest.mark.parametrize("message, klass", [
    ("ERROR 3159 (HY000): This RDS Proxy requires TLS connections.", "tls"),
    ("ERROR 9501 (HY000): Timed-out waiting to acquire database connection", "pool-timeout"),
    ("ERROR 1040 (HY000): IAM authentication rate limit exceeded", "proxy-limit"),
    ("ERROR 1040 (HY000): Connections rate limit exceeded (100)", "proxy-limit"),
    ("ERROR 1040 (HY000): Number simultaneous connections exceeded (1000)", "proxy-limit"),
    ("ERROR 1231 (42000): Variable ''character_set_client'' can't be set to the value of ucs2",
     "unsupported-option"),
    ("ERROR 2026 (HY000): SSL connection error: Internal Server Error", "tls"),
    ("ERROR 1105 (HY000): Unknown error", "database"),
    ("ERROR 2003: Can't connect to MySQL server on 'h' (timed out)", "network"),
    ("ERROR 2013: Lost connection to MySQL server during query", "network"),
])
def test_documented_mysql_texts_get_their_class(message, klass):
    failure = classify("authentication", message, {**CTX, "auth": "password"})
    assert failure.klass == klass and failure.exit_code == int(CLASS_EXIT_CODES[klass])


def test_access_denied_is_an_iam_failure_with_a_token_and_a_password_failure_otherwise():
    text = "ERROR 1045 (28000): Access denied for user 'app'@'%' (using password: YES)"
    iam = classify("authentication", text, {**CTX, "auth": "iam"})
    assert (iam.klass, iam.exit_code) == ("iam-auth", 4) and TOKEN_HINT in iam.remedy
    assert "--enable-cleartext-plugin" in iam.remedy
    password = classify("authentication", text, {**CTX, "auth": "secret"})
    assert (password.klass, password.exit_code) == ("password-auth", 4)
    assert "MYSQL_NATIVE_PASSWORD" in password.remedy
    iam_only = classify("authentication", text, {**CTX, "auth": "password", "iam_only": True})
    assert iam_only.klass == "iam-auth"  # a token passed with --password-env


def test_postgresql_rules_are_unchanged_by_the_auth_condition():
    failure = classify("authentication", "FATAL:  IAM authentication failed for user app. "
                       "Check the IAM token for this user and try again.", {**CTX, "auth": "secret"})
    assert failure.klass == "iam-auth"


def params(sslmode: str, root: str | None = "system") -> ConnParams:
    return ConnParams("h", 3306, "u", "d", sslmode=sslmode, sslrootcert=root, engine="mysql")


def test_ssl_modes_map_to_mysql_ssl_mode():
    assert mysqldb.SSL_MODES["verify-full"] == "VERIFY_IDENTITY"
    assert mysqldb.ssl_context(params("disable")) is None
    full = mysqldb.ssl_context(params("verify-full"))
    assert full is not None and full.check_hostname and full.verify_mode == ssl.CERT_REQUIRED
    ca = mysqldb.ssl_context(params("verify-ca"))
    assert ca is not None and not ca.check_hostname and ca.verify_mode == ssl.CERT_REQUIRED
    req = mysqldb.ssl_context(params("require"))
    assert req is not None and req.verify_mode == ssl.CERT_NONE


def test_verify_full_with_a_missing_ca_file_fails_before_any_connection(tmp_path):
    with pytest.raises(OSError):
        mysqldb.ssl_context(params("verify-full", str(tmp_path / "nope.pem")))


def test_error_message_has_the_documented_shape():
    import pymysql

    exc = pymysql.err.OperationalError(1045, "Access denied for user 'app'@'%' "
                                             "(using password: YES)")
    assert mysqldb.error_message(exc) == ("ERROR 1045 (28000): Access denied for user "
                                          "'app'@'%' (using password: YES)")
    assert mysqldb.error_message(pymysql.err.OperationalError(2003, "x")) == "ERROR 2003: x"
    assert mysqldb.is_error(exc) and not mysqldb.is_error(ValueError())


def test_dns_failure_is_timed_as_dns():
    from rdsproxyctl.core.db import DnsError, PhaseTimer, connect

    timer = PhaseTimer()
    with pytest.raises(DnsError):
        connect(ConnParams("no-such-host.invalid", 3306, "u", "d", engine="mysql"), timer)
    assert timer.failed_phase == "dns"


def test_refused_tcp_is_a_network_failure_in_tcp_connect():
    import socket

    from rdsproxyctl.core.connect import exception_message
    from rdsproxyctl.core.db import PhaseTimer, connect

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    timer = PhaseTimer()
    with pytest.raises(Exception) as info:
        connect(ConnParams("127.0.0.1", port, "u", "d", engine="mysql", connect_timeout=2),
                timer)
    assert timer.failed_phase == "tcp_connect"
    failure = classify(timer.failed_phase, exception_message(info.value), {**CTX, "port": port})
    assert failure.klass == "network" and failure.exit_code == 5


def test_mysql_token_formats():
    from rdsproxyctl.cli.token import mysql_env, mysql_options

    options = mysql_options("prx.example", 3306, "app", "shop", "/ca.pem")
    assert options.split() == ["--host=prx.example", "--port=3306", "--user=app",
                               "--enable-cleartext-plugin", "--loose-ssl-mode=VERIFY_IDENTITY",
                               "--loose-ssl-verify-server-cert", "--ssl-ca=/ca.pem",
                               "--database=shop"]
    assert "--ssl-ca" not in mysql_options("h", 3306, "app", None, "system")
    assert mysql_env("h", 3306, "t&k") == ["export MYSQL_HOST=h", "export MYSQL_TCP_PORT=3306",
                                           "export MYSQL_PWD='t&k'"]


def test_token_dsn_for_host_and_port_3306_needs_no_api_call(cli):
    out = cli("token", "--host", "prx.proxy-abc.eu-west-1.rds.amazonaws.com", "--port", "3306",
              "--region", "eu-west-1", "--user", "app", "--format", "dsn", "--ca-bundle",
              "/ca.pem")
    assert out.stdout.strip().startswith("--host=prx.proxy-abc.eu-west-1.rds.amazonaws.com "
                                         "--port=3306 --user=app --enable-cleartext-plugin")
    assert "Action=connect" not in out.stdout  # no password in a dsn


def _fake_server_asking_for_a_clear_text_password() -> tuple[int, list[bytes]]:
    """A MySQL server without TLS that switches the client to mysql_clear_password; what
    it received after the switch is recorded."""
    import socket
    import threading

    from rdsproxyctl.sandbox.emulator.mysql import packets as my

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.settimeout(5)
            caps = my.PROXY_CAPABILITIES & ~my.SSL
            conn.sendall(my.frame(0, my.Greeting("8.0.36", 1, b"a" * 20, caps).encode()))
            conn.recv(65536)  # the handshake response
            conn.sendall(my.frame(2, my.auth_switch("mysql_clear_password", b"")))
            try:
                received.append(conn.recv(65536))
            except OSError:
                received.append(b"")

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], received


@pytest.mark.parametrize("sslmode", ["disable", "prefer"])
def test_a_token_is_never_sent_in_clear_text(sslmode):
    import time

    import pymysql

    from rdsproxyctl.core.db import connect

    port, received = _fake_server_asking_for_a_clear_text_password()
    params = ConnParams("127.0.0.1", port, "app", "app", password="SECRET-TOKEN",
                        sslmode=sslmode, engine="mysql", connect_timeout=5)
    with pytest.raises(pymysql.err.OperationalError) as info:
        connect(params)
    assert info.value.args[0] == 2026 and "refusing to send it" in info.value.args[1]
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b"SECRET-TOKEN" not in b"".join(received)


def test_caching_sha2_full_authentication_needs_a_verified_server(tmp_path):
    """Below verify-ca the scramble goes, the password itself doesn't: a server asking for
    full authentication (the password in clear inside TLS) gets nothing."""
    import socket
    import ssl as ssl_mod
    import threading
    import time

    import pymysql

    from rdsproxyctl.core.db import connect
    from rdsproxyctl.sandbox import certs
    from rdsproxyctl.sandbox.emulator.mysql import packets as my

    certs.make(tmp_path, ca_file="ca.pem", cert_file="server.pem", key_file="server.key")
    server_ctx = ssl_mod.SSLContext(ssl_mod.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with listener:
            conn.settimeout(5)
            conn.sendall(my.frame(0, my.Greeting("8.0.36", 1, b"b" * 20, my.PROXY_CAPABILITIES,
                                                 plugin="caching_sha2_password").encode()))
            conn.recv(36)  # the SSL request
            tls = server_ctx.wrap_socket(conn, server_side=True)
            with tls:
                tls.recv(65536)  # the handshake response, with the scramble
                tls.sendall(my.frame(3, b"\x01\x04"))  # perform full authentication
                try:
                    received.append(tls.recv(65536))
                except OSError:
                    received.append(b"")

    threading.Thread(target=serve, daemon=True).start()
    params = ConnParams("127.0.0.1", listener.getsockname()[1], "app", "app",
                        password="S3CRET-PASSWORD", sslmode="require", engine="mysql",
                        require_auth="!password", connect_timeout=5)
    with pytest.raises(pymysql.err.OperationalError) as info:
        connect(params)
    assert info.value.args[0] == 2026 and "refusing to send it" in info.value.args[1]
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b"S3CRET-PASSWORD" not in b"".join(received)
