"""The emulator's MySQL wire protocol pieces: framing, length-encoded values, the connection
phase packets, password scrambles, and the response scanner that finds transaction
boundaries.  Pure functions: property-tested, no server."""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdsproxyctl.sandbox.emulator.mysql import packets as my


@given(st.integers(0, 255), st.binary(max_size=3000))
def test_frame_then_split_gives_the_payload_back(seq, payload):
    framed = my.frame(seq, payload)
    packets, rest = my.split_packets(framed)
    assert rest == b"" and len(packets) == 1
    assert packets[0].payload == payload and packets[0].raw == framed


def test_a_payload_of_16_mib_continues_in_an_empty_packet():
    payload = b"x" * my.MAX_CHUNK
    framed = my.frame(7, payload)
    assert len(framed) == 4 + my.MAX_CHUNK + 4  # the second packet is empty
    assert framed[3] == 7 and framed[4 + my.MAX_CHUNK + 3] == 8
    packets, rest = my.split_packets(framed)
    assert rest == b"" and packets[0].payload == payload and packets[0].seq == 8

    async def read() -> my.Packet:
        reader = asyncio.StreamReader()
        reader.feed_data(framed)
        reader.feed_eof()
        return await my.read_packet(reader)

    assert asyncio.run(read()).payload == payload


@given(st.lists(st.binary(max_size=300), max_size=6), st.integers(0, 40))
def test_split_packets_keeps_an_incomplete_tail(payloads, cut):
    data = b"".join(my.frame(i, p) for i, p in enumerate(payloads))
    whole, rest = my.split_packets(data[:max(0, len(data) - cut)])
    assert [p.payload for p in whole] == payloads[:len(whole)]
    assert b"".join(p.raw for p in whole) + rest == data[:max(0, len(data) - cut)]


def test_read_packet_refuses_an_oversized_packet():
    async def read() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(my.frame(0, b"y" * 100))
        await my.read_packet(reader, limit=10)

    with pytest.raises(my.ProtocolError):
        asyncio.run(read())


@given(st.integers(0, 2**64 - 1))
def test_lenenc_int_round_trip(n):
    encoded = my.lenenc_int(n)
    assert my.read_lenenc_int(encoded + b"tail", 0) == (n, len(encoded))


@given(st.binary(max_size=70000))
@settings(max_examples=50)
def test_lenenc_str_round_trip(data):
    encoded = my.lenenc_str(data)
    assert my.read_lenenc_str(encoded, 0) == (data, len(encoded))


@given(st.binary(max_size=40))
def test_truncated_or_garbage_lenenc_never_crashes_otherwise(data):
    try:
        my.read_lenenc_str(data, 0)
    except my.ProtocolError:
        pass


@given(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
       st.integers(0, 2**31 - 1), st.binary(min_size=20, max_size=20).map(
           lambda b: bytes(1 + x % 254 for x in b)),
       st.sampled_from(["mysql_native_password", "caching_sha2_password"]))
def test_greeting_round_trip(version, conn_id, scramble, plugin):
    greeting = my.Greeting(version, conn_id, scramble, my.PROXY_CAPABILITIES, plugin=plugin)
    back = my.Greeting.decode(greeting.encode())
    assert (back.server_version, back.connection_id, back.scramble, back.plugin) == \
        (version, conn_id, scramble, plugin)
    assert back.capabilities == my.PROXY_CAPABILITIES


_names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


@given(_names, st.binary(max_size=300), st.one_of(st.none(), _names.filter(bool)),
       st.sampled_from(["mysql_native_password", "mysql_clear_password", ""]),
       st.dictionaries(_names, _names, max_size=3))
def test_handshake_response_round_trip(user, auth, database, plugin, attrs):
    response = my.HandshakeResponse(my.PROXY_CAPABILITIES, user=user, auth_response=auth,
                                    database=database, plugin=plugin, attributes=attrs)
    back = my.HandshakeResponse.decode(response.encode())
    assert (back.user, back.auth_response, back.database, back.plugin, back.attributes) == \
        (user, auth, database, plugin, attrs)
    assert not back.ssl_only


def test_ssl_request_is_recognised_and_old_protocols_refused():
    assert my.HandshakeResponse.decode(my.ssl_request(my.PROXY_CAPABILITIES)).ssl_only
    with pytest.raises(my.ProtocolError):
        my.HandshakeResponse.decode(struct.pack("<IIB23s", my.SSL, 0, 45, b""))  # no 4.1
    with pytest.raises(my.ProtocolError):
        my.HandshakeResponse.decode(b"\x00" * 10)


@given(st.binary(max_size=200))
def test_garbage_handshake_responses_raise_protocol_errors_only(data):
    try:
        my.HandshakeResponse.decode(data)
    except my.ProtocolError:
        pass


def test_scrambles_agree_with_pymysql():
    """Two implementations, one answer: PyMySQL's client side and the emulator's."""
    from pymysql import _auth

    nonce = bytes(range(33, 53))
    assert my.native_scramble(b"s3cret", nonce) == _auth.scramble_native_password(b"s3cret",
                                                                                   nonce)
    assert my.sha2_scramble(b"s3cret", nonce) == _auth.scramble_caching_sha2(b"s3cret", nonce)
    assert my.native_scramble(b"", nonce) == b""


def test_err_packet_round_trip():
    error = my.parse_err(my.err(1045, "28000", "Access denied for user 'a'@'%'"))
    assert (error.code, error.sqlstate, error.message) == (1045, "28000",
                                                           "Access denied for user 'a'@'%'")
    assert str(error) == "ERROR 1045 (28000): Access denied for user 'a'@'%'"


# -- the response scanner ----------------------------------------------------------------------
def column(name: str) -> bytes:
    return b"".join(my.lenenc_str(x) for x in (b"def", b"", b"", b"", name.encode(), b"")) + \
        b"\x0c" + b"\x00" * 12


def result_set(rows: list[list[bytes | None]], status: int) -> list[bytes]:
    ncols = len(rows[0]) if rows else 1
    out = [my.lenenc_int(ncols)] + [column(f"c{i}") for i in range(ncols)] + [my.eof(status)]
    for row in rows:
        out.append(b"".join(b"\xfb" if v is None else my.lenenc_str(v) for v in row))
    return out + [my.eof(status)]


def scan(command: int, payloads: list[bytes]) -> my.ResponseScanner:
    scanner = my.ResponseScanner(command)
    scanner.keep_rows = True
    for i, payload in enumerate(payloads):
        done = scanner.feed(payload)
        assert done == (i == len(payloads) - 1), (i, payload)
    return scanner


_cell = st.one_of(st.none(), st.binary(max_size=300))


@given(st.lists(st.lists(_cell, min_size=2, max_size=2), max_size=20),
       st.sampled_from([my.STATUS_AUTOCOMMIT, my.STATUS_IN_TRANS]))
def test_a_result_set_ends_at_its_final_eof(rows, status):
    scanner = scan(my.COM_QUERY, result_set(rows, status))
    assert scanner.status == status and scanner.error is None
    assert scanner.rows == [[None if v is None else v.decode("utf-8", "replace") for v in r]
                            for r in rows]


def test_rows_starting_with_0xfe_are_rows_not_eof():
    big = my.lenenc_str(b"z" * 70000)  # 0xfd-prefixed; and a 9+ byte 0xfe-prefixed row
    row_fe = b"\xfe" + struct.pack("<Q", 3) + b"abc"
    scanner = scan(my.COM_QUERY, [my.lenenc_int(1), column("a"), my.eof(), big, row_fe,
                                  my.eof(my.STATUS_AUTOCOMMIT)])
    assert scanner.done


def test_multiple_results_continue_until_the_last():
    first = result_set([[b"1"]], my.STATUS_AUTOCOMMIT | my.STATUS_MORE_RESULTS)
    middle = [my.ok(my.STATUS_IN_TRANS | my.STATUS_MORE_RESULTS)]
    last = [my.ok(my.STATUS_IN_TRANS)]
    scanner = scan(my.COM_QUERY, first + middle + last)
    assert scanner.status == my.STATUS_IN_TRANS


def test_an_error_ends_the_response_and_carries_no_status():
    scanner = scan(my.COM_QUERY, [my.err(1064, "42000", "syntax")])
    assert scanner.status is None and scanner.error is not None and scanner.error.code == 1064
    mid_rows = [my.lenenc_int(1), column("a"), my.eof(), b"\x011", my.err(1317, "70100", "kill")]
    assert scan(my.COM_QUERY, mid_rows).error.code == 1317


def test_other_commands():
    assert scan(my.COM_PING, [my.ok()]).status == my.STATUS_AUTOCOMMIT
    assert scan(my.COM_INIT_DB, [my.err(1049, "42000", "Unknown database 'x'")]).error
    assert scan(my.COM_STATISTICS, [b"Uptime: 5  Threads: 1"]).done
    assert scan(my.COM_FIELD_LIST, [column("a"), column("b"), my.eof()]).done
    assert scan(my.COM_RESET_CONNECTION, [my.ok(my.STATUS_AUTOCOMMIT)]).done


def test_a_packet_after_the_end_is_a_protocol_error():
    scanner = scan(my.COM_PING, [my.ok()])
    with pytest.raises(my.ProtocolError):
        scanner.feed(my.ok())


@given(st.lists(st.binary(min_size=1, max_size=30), max_size=30))
def test_garbage_responses_raise_protocol_errors_only(payloads):
    scanner = my.ResponseScanner(my.COM_QUERY)
    try:
        for payload in payloads:
            if scanner.feed(payload):
                break
    except my.ProtocolError:
        pass
