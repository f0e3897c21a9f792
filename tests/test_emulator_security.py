"""The emulator as an attacker meets it: clear-text bytes smuggled with an SSLRequest
(PostgreSQL's CVE-2021-23214 class), a database that declines TLS, expired assumed-role
keys, non-ASCII tokens and MD5 answers.  Real sockets on loopback; no PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as _dt
import ssl
from types import SimpleNamespace

import pytest

from rdsproxyctl.sandbox.emulator import iamtoken
from rdsproxyctl.sandbox.emulator import protocol as pg
from rdsproxyctl.sandbox.emulator.metrics import Metrics
from rdsproxyctl.sandbox.emulator.pgbackend import PgBackend as BackendConnection
from rdsproxyctl.sandbox.emulator.pgsession import PgClientSession
from rdsproxyctl.sandbox.emulator.pgsession import Refused as _Refused
from rdsproxyctl.sandbox.emulator.pool import BackendError, Endpoint, PoolKey
from rdsproxyctl.sandbox.emulator.scram import check_md5, md5_password

from .test_sandbox_protocol import AKID, NOW, PRINCIPAL, SECRET, _reason, _token, _verify


async def _startup_outcome(payload: bytes) -> tuple[object, bytes]:
    """Run a session's startup against ``payload`` sent in one packet: (outcome, reply)."""
    outcome: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        em = SimpleNamespace(server_ssl=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
                             metrics=Metrics(),
                             shipper=SimpleNamespace(emit=lambda *a, **k: None))
        proxy = SimpleNamespace(name="p", resource_id="prx-1", endpoint_name="default")
        session = PgClientSession(em, "127.0.0.1", proxy, reader, writer)  # type: ignore[arg-type]
        try:
            outcome.append(await asyncio.wait_for(session._startup(), 5))
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcome.append(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(1), 5)
    writer.close()
    for _ in range(100):
        if outcome:
            break
        await asyncio.sleep(0.02)
    server.close()
    await server.wait_closed()
    return outcome[0], reply


def test_bytes_sent_with_the_ssl_request_are_refused_not_read_as_tls():
    smuggled = pg.ssl_request() + pg.startup_packet({"user": "app", "database": "app"})
    outcome, reply = asyncio.run(_startup_outcome(smuggled))
    assert isinstance(outcome, _Refused) and outcome.key == "protocol_violation"
    assert "unencrypted data after SSL request" in outcome.values["detail"]
    assert reply != b"S"  # TLS was never offered


def test_an_ssl_request_alone_is_answered_with_tls():
    outcome, reply = asyncio.run(_startup_outcome(pg.ssl_request()))
    assert reply == b"S"
    assert not isinstance(outcome, _Refused)  # (the handshake then fails: no client TLS)


async def _backend_answering(answer: bytes) -> BaseException | None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(8)  # the SSLRequest
        writer.write(answer)
        await writer.drain()
        try:
            await asyncio.wait_for(reader.read(100), 2)  # a startup packet must not follow
        except asyncio.TimeoutError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    context = ssl.create_default_context()
    try:
        await BackendConnection.open(Endpoint("127.0.0.1", port, context),
                                     PoolKey("app", "app"), "pw", timeout=5)
    except BackendError as exc:
        return exc
    finally:
        server.close()
        await server.wait_closed()
    return None


def test_the_emulator_never_talks_to_its_database_in_clear_text():
    err = asyncio.run(_backend_answering(b"N"))
    assert isinstance(err, BackendError) and err.kind == "connection_failed"
    assert "declined TLS" in str(err)


# -- IAM tokens of assumed roles, and non-ASCII input --------------------------------------------
def _lookup_expiring(akid: str) -> iamtoken.SigningKey | None:
    if akid == "ASIATEMPORARY":
        return iamtoken.SigningKey(SECRET, PRINCIPAL, session_token="the-session-token",
                                   expires=NOW + _dt.timedelta(minutes=5))
    return None


def test_a_key_of_an_expired_assumed_role_session_is_refused():
    token = _token(akid="ASIATEMPORARY", session_token="the-session-token")

    def verify(now: _dt.datetime) -> object:
        return iamtoken.verify(token, user="app", host="127.0.0.9", port=5432,
                               region="eu-west-1", lookup=_lookup_expiring, now=now)

    assert verify(NOW + _dt.timedelta(minutes=4))  # the session is still valid
    with pytest.raises(iamtoken.TokenRejected) as err:
        verify(NOW + _dt.timedelta(minutes=6))  # the token is, the session is not
    assert err.value.reason == "credentials_expired"


@pytest.mark.parametrize("where", ["signature", "session"])
def test_non_ascii_tokens_are_malformed_not_a_crash(where):
    good = _token(akid="ASIATEMPORARY", session_token="the-session-token") \
        if where == "session" else _token()
    if where == "signature":
        bad = good[:-2] + "é0"
    else:
        bad = good.replace("X-Amz-Security-Token=the-session-token",
                           "X-Amz-Security-Token=the-sessión-token")
    assert bad != good
    assert _reason(bad) == "malformed"


def test_non_ascii_md5_answers_do_not_raise():
    salt = b"\x01\x02\x03\x04"
    assert not check_md5("app", "pw", salt, "md5" + "é" * 32)
    assert not check_md5("app", "pw", salt, "\udcff")
    assert check_md5("app", "pw", salt, md5_password("app", "pw", salt))


def test_control_reports_when_assumed_role_keys_expire(moto, aws):
    from rdsproxyctl.sandbox.emulator.control import Control

    iam, sts = aws.client("iam"), aws.client("sts")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="session",
                            DurationSeconds=900)["Credentials"]
    control = Control("123456789012", "us-east-1")
    key = control.signing_key(creds["AccessKeyId"])
    assert key is not None and key.expires is not None
    assert abs((key.expires - creds["Expiration"]).total_seconds()) < 2


def test_the_token_of_a_known_user_key_still_verifies():
    assert _verify(_token())[1].principal_arn == PRINCIPAL
    assert AKID
