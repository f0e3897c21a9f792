"""The emulator's pure parts: wire-protocol parsing, SCRAM/MD5, IAM token validation,
the message table.  No servers."""

from __future__ import annotations

import datetime as _dt
import re
import string
import struct

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from rdsproxyctl.sandbox.emulator import iamtoken, messages
from rdsproxyctl.sandbox.emulator import protocol as pg
from rdsproxyctl.sandbox.emulator.scram import (
    ScramClient,
    ScramError,
    ScramServer,
    Verifier,
    check_md5,
    md5_password,
)


# -- startup packets and framing ---------------------------------------------------------------
def _startup_body(params: dict[str, str]) -> bytes:
    return pg.startup_packet(params)[4:]


def test_parse_startup_packet():
    s = pg.parse_startup(_startup_body({"user": "app", "database": "db", "application_name": "x"}))
    assert (s.major, s.minor) == (3, 0)
    assert s.params == {"user": "app", "database": "db", "application_name": "x"}
    cancel = pg.parse_startup(pg.cancel_request(1234, b"\x01\x02\x03\x04")[4:])
    assert (cancel.code, cancel.cancel_pid, cancel.cancel_key) == (pg.CANCEL_REQUEST, 1234,
                                                                   b"\x01\x02\x03\x04")
    assert pg.parse_startup(pg.ssl_request()[4:]).code == pg.SSL_REQUEST


@pytest.mark.parametrize("body, why", [
    (b"", "too short"),
    (struct.pack("!I", 2 << 16) + b"user\x00a\x00\x00", "unsupported frontend protocol"),
    (struct.pack("!I", pg.PROTOCOL_3_0) + b"user\x00app", "not terminated"),
    (struct.pack("!I", pg.PROTOCOL_3_0) + b"user\x00\x00", "without a value"),
    (struct.pack("!I", pg.PROTOCOL_3_0) + b"\x00x\x00\x00", "empty parameter name"),
    (struct.pack("!I", pg.PROTOCOL_3_0) + b"user\x00\xff\xfe\x00\x00", "UTF-8"),
    (struct.pack("!II", pg.SSL_REQUEST, 0), "malformed SSL"),
    (struct.pack("!II", pg.CANCEL_REQUEST, 1), "malformed cancel"),
])
def test_parse_startup_rejects_malformed_packets(body, why):
    with pytest.raises(pg.ProtocolViolation, match=why):
        pg.parse_startup(body)


@settings(max_examples=300, deadline=None)
@given(hs.binary(max_size=300))
def test_parse_startup_never_fails_otherwise_on_random_bytes(data):
    try:
        result = pg.parse_startup(data)
    except pg.ProtocolViolation:
        return
    assert result.code in (pg.SSL_REQUEST, pg.GSSENC_REQUEST, pg.CANCEL_REQUEST) or result.major == 3


@settings(max_examples=200, deadline=None)
@given(hs.dictionaries(hs.text(alphabet=string.ascii_letters + "_.", min_size=1, max_size=20),
                       hs.text(alphabet=hs.characters(blacklist_categories=("Cs",),
                                                      blacklist_characters="\x00"), max_size=30),
                       max_size=6))
def test_startup_packets_round_trip(params):
    assert pg.parse_startup(_startup_body(params)).params == params


_messages = hs.lists(hs.tuples(hs.sampled_from([b"Q", b"P", b"B", b"S", b"Z", b"D", b"X"]),
                               hs.binary(max_size=40)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(_messages, hs.lists(hs.integers(min_value=1, max_value=50), min_size=1, max_size=10))
def test_scanner_finds_every_message_however_the_stream_is_cut(msgs, cuts):
    stream = b"".join(pg.message(kind, body) for kind, body in msgs)
    scanner = pg.Scanner(keep=8)
    seen = []
    pos, i = 0, 0
    while pos < len(stream):
        size = cuts[i % len(cuts)]
        seen += [(f.kind, f.length, f.head) for f in scanner.feed(stream[pos:pos + size])]
        pos += size
        i += 1
    assert seen == [(k, len(b), b[:8]) for k, b in msgs]
    assert not scanner.in_message


@settings(max_examples=300, deadline=None)
@given(hs.binary(max_size=400))
def test_scanner_on_random_bytes_only_raises_protocol_violation(data):
    scanner = pg.Scanner(keep=4)
    try:
        for frame in scanner.feed(data):
            assert frame.length >= 0 and len(frame.head) <= 4
    except pg.ProtocolViolation:
        pass


def test_scanner_keeps_memory_bounded_for_huge_declared_lengths():
    scanner = pg.Scanner(keep=16)
    header = b"Q" + struct.pack("!I", 0x7FFFFFFF)
    assert list(scanner.feed(header + b"x" * 1000)) == []
    assert scanner.in_message and len(scanner._head) == 16
    with pytest.raises(pg.ProtocolViolation):
        list(pg.Scanner().feed(b"Q" + struct.pack("!I", 3)))


def test_error_response_fields_round_trip():
    msg = pg.error_response("This RDS Proxy requires TLS connections.", "28000")
    assert msg[:1] == b"E"
    fields = pg.parse_error_fields(msg[5:])
    assert fields["S"] == "FATAL" and fields["C"] == "28000"
    assert fields["M"] == "This RDS Proxy requires TLS connections."


# -- SCRAM and MD5 ------------------------------------------------------------------------------
def test_scram_exchange_succeeds_and_is_verified_both_ways():
    verifier = Verifier.from_password("s3cr3t")
    server, client = ScramServer(verifier), ScramClient("s3cr3t")
    server_first = server.first(client.first())
    server_final = server.final(client.final(server_first))
    client.verify(server_final)


def test_scram_wrong_password_and_tampering_fail():
    verifier = Verifier.from_password("s3cr3t")
    server, client = ScramServer(verifier), ScramClient("wrong")
    with pytest.raises(ScramError, match="wrong password"):
        server.final(client.final(server.first(client.first())))
    server, client = ScramServer(verifier), ScramClient("s3cr3t")
    final = client.final(server.first(client.first()))
    with pytest.raises(ScramError, match="nonce"):
        server.final(final.replace("r=", "r=X", 1))
    with pytest.raises(ScramError, match="channel binding"):
        ScramServer(verifier).first("p=tls-server-end-point,,n=,r=abc")


@settings(max_examples=100, deadline=None)
@given(hs.text(max_size=80), hs.text(max_size=80))
def test_scram_server_rejects_garbage_cleanly(first, final):
    server = ScramServer(Verifier.from_password("pw", salt=b"0123456789abcdef", iterations=16))
    try:
        server.first(first)
        server.final(final)
    except ScramError:
        return
    pytest.fail("garbage was accepted")  # pragma: no cover


def test_md5_matches_postgresql_formula():
    # md5(md5(password || user) || salt), as libpq computes it
    answer = md5_password("app", "pw", b"\x01\x02\x03\x04")
    assert re.fullmatch(r"md5[0-9a-f]{32}", answer)
    assert check_md5("app", "pw", b"\x01\x02\x03\x04", answer)
    assert not check_md5("app", "other", b"\x01\x02\x03\x04", answer)


# -- IAM tokens -------------------------------------------------------------------------------------
AKID, SECRET, REGION, HOST = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", \
    "eu-west-1", "127.0.0.9"
NOW = _dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=_dt.timezone.utc)
PRINCIPAL = "arn:aws:iam::123456789012:user/alice"


def _token(host=HOST, port=5432, user="app", region=REGION, secret=SECRET, akid=AKID,
           at=NOW, session_token=None):
    from unittest import mock

    session = botocore.session.Session()
    session.set_credentials(akid, secret, session_token)
    client = session.create_client("rds", region_name=region)
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=at.replace(tzinfo=None)):
        return client.generate_db_auth_token(host, port, user)


def _lookup(akid):
    if akid == AKID:
        return iamtoken.SigningKey(SECRET, PRINCIPAL)
    if akid == "ASIATEMPORARY":
        return iamtoken.SigningKey(SECRET, PRINCIPAL, session_token="the-session-token")
    return None


def _verify(token, *, user="app", host=HOST, port=5432, now=NOW):
    return iamtoken.verify(token, user=user, host=host, port=port, region=REGION,
                           lookup=_lookup, now=now)


def test_valid_token_verifies_and_names_the_principal():
    claims, key = _verify(_token())
    assert (claims.user, claims.host, claims.port, claims.region) == ("app", HOST, 5432, REGION)
    assert key.principal_arn == PRINCIPAL
    # ... for 15 minutes, give or take the clock-skew allowance
    _verify(_token(), now=NOW + _dt.timedelta(minutes=15))


def _reason(token, **kw):
    with pytest.raises(iamtoken.TokenRejected) as err:
        _verify(token, **kw)
    return err.value.reason


def test_refusals_name_their_reason():
    good = _token()
    assert _reason("") == "empty"
    assert _reason("not a token") == "malformed"
    assert _reason(good.split("&X-Amz-Signature")[0]) == "unsigned"
    assert _reason(good.replace("Action=connect", "Action=other")) == "action"
    assert _reason(good, now=NOW + _dt.timedelta(minutes=16)) == "expired"
    assert _reason(good, now=NOW - _dt.timedelta(minutes=5)) == "not_yet_valid"
    assert _reason(good, user="other") == "wrong_user"
    assert _reason(good, port=5433) == "wrong_endpoint"
    assert _reason(good, host="127.0.0.10") == "wrong_endpoint"
    assert _reason(_token(region="us-east-1")) == "wrong_region"
    assert _reason(_token(secret="not-the-secret")) == "signature"
    assert _reason(_token(akid="AKIAUNKNOWNKEY000000")) == "unknown_key"
    forged = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
    assert _reason(forged) == "signature"
    assert _reason(good.replace("DBUser=app", "DBUser=admin"), user="admin") == "signature"


def test_temporary_credentials_need_their_session_token():
    assert _verify(_token(akid="ASIATEMPORARY", session_token="the-session-token"))
    assert _reason(_token(akid="ASIATEMPORARY")) == "missing_session_token"
    assert _reason(_token(akid="ASIATEMPORARY", session_token="other")) == "bad_session_token"
    empty = _token(akid="ASIATEMPORARY", session_token="x").replace(
        "X-Amz-Security-Token=x", "X-Amz-Security-Token=")
    assert _reason(empty) == "empty_session_token"


@settings(max_examples=200, deadline=None)
@given(hs.text(max_size=300))
def test_random_tokens_are_refused_not_crashed_on(token):
    with pytest.raises(iamtoken.TokenRejected):
        _verify(token)


# -- the message table ------------------------------------------------------------------------
def test_documented_client_messages_are_verbatim():
    texts = {k: m.text for k, m in messages.CLIENT.items()}
    assert texts["tls_required"] == "This RDS Proxy requires TLS connections."
    assert messages.CLIENT["iam_auth_failed"].format(user="app") == (
        "IAM authentication failed for user app. Check the IAM token for this user and try again.")
    assert messages.CLIENT["borrow_timeout"].text == "Timed-out waiting to acquire database connection."
    for key, message in messages.CLIENT.items():
        assert re.fullmatch(r"[0-9A-Z]{5}", message.sqlstate), key


def test_log_lines_have_rds_proxy_shape():
    when = _dt.datetime(2022, 10, 21, 17, 25, 29, 482000, tzinfo=_dt.timezone.utc)
    line = messages.log_line(when, "INFO", messages.LOG["client_connected"].format(
        address="10.0.1.12:55392"), endpoint="default", client=94296180)
    assert line == ("2022-10-21T17:25:29.482Z [INFO] [proxyEndpoint=default] "
                    "[clientConnection=94296180] A new client connected from 10.0.1.12:55392.")
    for key, entry in messages.LOG.items():
        assert entry.level in ("INFO", "WARN", "ERROR", "DEBUG"), key
    for reason in messages.IAM_REASONS.values():
        assert reason.endswith(".") or "resource" in reason
