"""What `connect` sends over which channel: sslrootcert only for verifying modes, never a
password in clear text below verify-ca (libpq's require_auth), no IAM token without TLS."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from rdsproxyctl.core import db
from rdsproxyctl.core.connect import ConnectSpec, channel_policy
from rdsproxyctl.core.db import ConnParams, conninfo


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode,has_root", [("disable", False), ("prefer", False),
                                           ("require", False), ("verify-ca", True),
                                           ("verify-full", True)])
def test_sslrootcert_only_for_verifying_modes(mode, has_root):
    params = ConnParams(host="h", port=5432, user="u", dbname="d", sslmode=mode,
                        sslrootcert="system")
    assert ("sslrootcert=system" in conninfo(params, None)) is has_root


def test_sslmode_require_reaches_the_server_instead_of_failing_in_libpq():
    """Before: "weak sslmode require may not be used with sslrootcert=system"."""
    import psycopg

    params = ConnParams(host="127.0.0.1", port=_closed_port(), user="u", dbname="d",
                        password="pw", sslmode="require", sslrootcert="system",
                        connect_timeout=5)
    with pytest.raises(psycopg.OperationalError) as failed:
        db.connect(params)
    assert "weak sslmode" not in str(failed.value)
    assert "refused" in str(failed.value).lower()


@pytest.mark.parametrize("mode,iam,require_auth,warns", [
    ("verify-full", False, None, False),
    ("verify-ca", False, None, False),
    ("require", False, "!password", True),
    ("prefer", False, "!password", True),
    ("disable", False, "!password", True),
    ("require", True, None, True),
    ("verify-full", True, None, False),
])
def test_channel_policy(mode, iam, require_auth, warns):
    spec = ConnectSpec(host="h", iam=iam, user="u", sslmode=mode,
                       password_env=None if iam else "HOME")
    got, warnings = channel_policy(spec)
    assert got == require_auth
    assert bool(warnings) is warns


class _CleartextServer:
    """A listener that answers a startup packet with AuthenticationCleartextPassword and
    records whether the client then sent a password message."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.got_password = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(5)
            length = struct.unpack("!I", conn.recv(4))[0]
            body = conn.recv(length - 4)
            if struct.unpack("!I", body[:4])[0] == 80877103:  # SSLRequest: no TLS here
                conn.sendall(b"N")
                length = struct.unpack("!I", conn.recv(4))[0]
                conn.recv(length - 4)
            conn.sendall(b"R" + struct.pack("!II", 8, 3))  # cleartext password, please
            try:
                self.got_password = conn.recv(1) == b"p"
            except OSError:
                pass

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("mode", ["disable", "prefer"])
def test_a_password_is_never_sent_in_clear_text_on_a_weak_channel(mode):
    import psycopg

    server = _CleartextServer()
    spec = ConnectSpec(host="127.0.0.1", port=server.port, password_env="HOME", user="u",
                       sslmode=mode)
    require_auth, _ = channel_policy(spec)
    params = ConnParams(host="127.0.0.1", port=server.port, user="u", dbname="d",
                        password="s3cr3t", sslmode=mode, connect_timeout=5,
                        require_auth=require_auth)
    try:
        with pytest.raises(psycopg.OperationalError) as failed:
            db.connect(params)
    finally:
        server.close()
    assert "password" in str(failed.value)
    assert server.got_password is False


def test_connect_warns_on_a_weak_sslmode(moto, cli, monkeypatch):
    monkeypatch.setenv("PW_FOR_TEST", "pw")
    out = cli("connect", "--host", "127.0.0.1", "--port", str(_closed_port()),
              "--password-env", "PW_FOR_TEST", "--user", "u", "--sslmode", "prefer", code=5)
    assert "warning: --sslmode prefer: the connection may not be encrypted" in out.stderr
