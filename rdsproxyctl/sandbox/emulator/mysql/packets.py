"""The MySQL client/server protocol's framing and the packets the emulator reads and writes.

Written from MySQL's protocol documentation (https://dev.mysql.com/doc/dev/mysql-server/latest/
PAGE_PROTOCOL.html: "MySQL Packets", "Connection Phase", "Generic Response Packets",
"Text Resultset") and MariaDB's (https://mariadb.com/kb/en/clientserver-protocol/).  A
packet is a 3-byte little-endian payload length, a 1-byte sequence id and the payload;
payloads of 0xFFFFFF bytes or more continue in the next packet.  Nothing here does I/O
except :func:`read_packet`; everything else is pure and property-tested.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from dataclasses import dataclass, field

MAX_CHUNK = 0xFFFFFF
#: The largest logical packet the emulator accepts from a client before authentication.
MAX_AUTH_PACKET = 1 << 16

# -- capability flags (Protocol::CapabilityFlags) -------------------------------------------------
LONG_PASSWORD = 1
FOUND_ROWS = 1 << 1
LONG_FLAG = 1 << 2
CONNECT_WITH_DB = 1 << 3
LOCAL_FILES = 1 << 7
PROTOCOL_41 = 1 << 9
INTERACTIVE = 1 << 10
SSL = 1 << 11
TRANSACTIONS = 1 << 13
SECURE_CONNECTION = 1 << 15
MULTI_STATEMENTS = 1 << 16
MULTI_RESULTS = 1 << 17
PS_MULTI_RESULTS = 1 << 18
PLUGIN_AUTH = 1 << 19
CONNECT_ATTRS = 1 << 20
PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
SESSION_TRACK = 1 << 23
DEPRECATE_EOF = 1 << 24

#: What the proxy offers clients and asks of the database: the same set on both sides, so
#: result sets relay byte for byte (no DEPRECATE_EOF, no SESSION_TRACK, no LOCAL_FILES,
#: no compression).
PROXY_CAPABILITIES = (LONG_PASSWORD | LONG_FLAG | CONNECT_WITH_DB | PROTOCOL_41 | SSL
                      | TRANSACTIONS | SECURE_CONNECTION | MULTI_STATEMENTS | MULTI_RESULTS
                      | PS_MULTI_RESULTS | PLUGIN_AUTH | CONNECT_ATTRS
                      | PLUGIN_AUTH_LENENC_CLIENT_DATA)

# -- server status flags (SERVER_STATUS_*) ---------------------------------------------------------
STATUS_IN_TRANS = 0x0001
STATUS_AUTOCOMMIT = 0x0002
STATUS_MORE_RESULTS = 0x0008

# -- commands -------------------------------------------------------------------------------------
COM_QUIT = 0x01
COM_INIT_DB = 0x02
COM_QUERY = 0x03
COM_FIELD_LIST = 0x04
COM_STATISTICS = 0x09
COM_PING = 0x0E
COM_CHANGE_USER = 0x11
COM_STMT_PREPARE = 0x16
COM_SET_OPTION = 0x1B
COM_RESET_CONNECTION = 0x1F

UTF8MB4_GENERAL_CI = 45


class ProtocolError(Exception):
    """A malformed or oversized packet."""


# -- framing ----------------------------------------------------------------------------------------
def frame(seq: int, payload: bytes) -> bytes:
    """``payload`` as one or more packets starting at sequence id ``seq``."""
    out = bytearray()
    pos = 0
    while True:
        chunk = payload[pos:pos + MAX_CHUNK]
        out += struct.pack("<I", len(chunk))[:3] + bytes([seq & 0xFF]) + chunk
        seq += 1
        pos += len(chunk)
        if len(chunk) < MAX_CHUNK:
            return bytes(out)


@dataclass
class Packet:
    seq: int  # sequence id of the last physical packet
    payload: bytes
    raw: bytes  # the bytes as read (headers included), to relay unchanged


async def read_packet(reader: asyncio.StreamReader, limit: int = 1 << 30) -> Packet:
    """One logical packet (its continuation packets joined)."""
    raw = bytearray()
    payload = bytearray()
    while True:
        header = await reader.readexactly(4)
        length = header[0] | header[1] << 8 | header[2] << 16
        if len(payload) + length > limit:
            raise ProtocolError(f"packet of more than {limit} bytes")
        body = await reader.readexactly(length) if length else b""
        raw += header + body
        payload += body
        if length < MAX_CHUNK:
            return Packet(header[3], bytes(payload), bytes(raw))


def split_packets(data: bytes) -> tuple[list[Packet], bytes]:
    """Whole logical packets at the start of ``data``, and the rest (pure twin of
    :func:`read_packet`, for tests)."""
    packets: list[Packet] = []
    pos = 0
    while True:
        start = pos
        payload = bytearray()
        while True:
            if len(data) - pos < 4:
                return packets, data[start:]
            length = int.from_bytes(data[pos:pos + 3], "little")
            if len(data) - pos - 4 < length:
                return packets, data[start:]
            payload += data[pos + 4:pos + 4 + length]
            seq = data[pos + 3]
            pos += 4 + length
            if length < MAX_CHUNK:
                break
        packets.append(Packet(seq, bytes(payload), data[start:pos]))


# -- length-encoded values ----------------------------------------------------------------------------
def lenenc_int(n: int) -> bytes:
    if n < 0xFB:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def read_lenenc_int(buf: bytes, pos: int) -> tuple[int | None, int]:
    """The value (None for NULL, 0xFB) and the next position."""
    if pos >= len(buf):
        raise ProtocolError("truncated length-encoded integer")
    first = buf[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFB:
        return None, pos + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}.get(first)
    if size is None or pos + 1 + size > len(buf):
        raise ProtocolError("bad length-encoded integer")
    return int.from_bytes(buf[pos + 1:pos + 1 + size], "little"), pos + 1 + size


def lenenc_str(data: bytes) -> bytes:
    return lenenc_int(len(data)) + data


def read_lenenc_str(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    n, pos = read_lenenc_int(buf, pos)
    if n is None:
        return None, pos
    if pos + n > len(buf):
        raise ProtocolError("truncated length-encoded string")
    return buf[pos:pos + n], pos + n


def read_cstr(buf: bytes, pos: int) -> tuple[bytes, int]:
    end = buf.find(b"\x00", pos)
    if end < 0:
        raise ProtocolError("unterminated string")
    return buf[pos:end], end + 1


# -- generic responses ------------------------------------------------------------------------------
def ok(status: int = STATUS_AUTOCOMMIT, affected: int = 0, insert_id: int = 0,
       warnings: int = 0, header: int = 0x00) -> bytes:
    return (bytes([header]) + lenenc_int(affected) + lenenc_int(insert_id)
            + struct.pack("<HH", status, warnings))


def err(code: int, sqlstate: str, message: str) -> bytes:
    return (b"\xff" + struct.pack("<H", code) + b"#" + sqlstate.encode("ascii")[:5]
            + message.encode("utf-8"))


def eof(status: int = STATUS_AUTOCOMMIT, warnings: int = 0) -> bytes:
    return b"\xfe" + struct.pack("<HH", warnings, status)


def is_ok(payload: bytes) -> bool:
    return bool(payload) and payload[0] == 0x00 and len(payload) >= 7


def is_err(payload: bytes) -> bool:
    return bool(payload) and payload[0] == 0xFF


def is_eof(payload: bytes) -> bool:
    return bool(payload) and payload[0] == 0xFE and len(payload) < 9


def ok_status(payload: bytes) -> int:
    """The status flags of an OK packet."""
    _, pos = read_lenenc_int(payload, 1)
    _, pos = read_lenenc_int(payload, pos)
    if pos + 2 > len(payload):
        raise ProtocolError("truncated OK packet")
    return int(struct.unpack_from("<H", payload, pos)[0])


def eof_status(payload: bytes) -> int:
    if len(payload) < 5:
        raise ProtocolError("truncated EOF packet")
    return int(struct.unpack_from("<H", payload, 3)[0])


@dataclass(frozen=True)
class ServerError:
    code: int
    sqlstate: str
    message: str

    def __str__(self) -> str:
        return f"ERROR {self.code} ({self.sqlstate}): {self.message}"


def parse_err(payload: bytes) -> ServerError:
    if len(payload) < 3:
        raise ProtocolError("truncated ERR packet")
    code = int(struct.unpack_from("<H", payload, 1)[0])
    if payload[3:4] == b"#":
        return ServerError(code, payload[4:9].decode("ascii", "replace"),
                           payload[9:].decode("utf-8", "replace"))
    return ServerError(code, "HY000", payload[3:].decode("utf-8", "replace"))


# -- the connection phase ------------------------------------------------------------------------------
@dataclass
class Greeting:
    """Protocol::HandshakeV10."""

    server_version: str
    connection_id: int
    scramble: bytes  # 20 bytes
    capabilities: int
    charset: int = UTF8MB4_GENERAL_CI
    status: int = STATUS_AUTOCOMMIT
    plugin: str = "mysql_native_password"

    def encode(self) -> bytes:
        caps = self.capabilities
        return (b"\x0a" + self.server_version.encode() + b"\x00"
                + struct.pack("<I", self.connection_id) + self.scramble[:8] + b"\x00"
                + struct.pack("<H", caps & 0xFFFF) + bytes([self.charset])
                + struct.pack("<H", self.status) + struct.pack("<H", caps >> 16 & 0xFFFF)
                + bytes([len(self.scramble) + 1]) + b"\x00" * 10
                + self.scramble[8:] + b"\x00" + self.plugin.encode() + b"\x00")

    @classmethod
    def decode(cls, payload: bytes) -> Greeting:
        if not payload or payload[0] != 0x0A:
            raise ProtocolError(f"not a protocol 10 handshake (first byte {payload[:1]!r})")
        version, pos = read_cstr(payload, 1)
        if pos + 4 + 8 + 1 + 2 > len(payload):
            raise ProtocolError("truncated handshake")
        conn_id = int(struct.unpack_from("<I", payload, pos)[0])
        pos += 4
        part1 = payload[pos:pos + 8]
        pos += 9
        caps = int(struct.unpack_from("<H", payload, pos)[0])
        pos += 2
        charset, status, plugin, part2 = UTF8MB4_GENERAL_CI, STATUS_AUTOCOMMIT, "", b""
        if pos < len(payload):
            charset = payload[pos]
            status = int(struct.unpack_from("<H", payload, pos + 1)[0])
            caps |= int(struct.unpack_from("<H", payload, pos + 3)[0]) << 16
            auth_len = payload[pos + 5]
            pos += 6 + 10
            if caps & SECURE_CONNECTION:
                n = max(13, auth_len - 8)
                part2 = payload[pos:pos + n].rstrip(b"\x00")
                pos += n
            if caps & PLUGIN_AUTH:
                plugin = payload[pos:].split(b"\x00", 1)[0].decode("ascii", "replace")
        return cls(version.decode("utf-8", "replace"), conn_id, part1 + part2, caps, charset,
                   status, plugin or "mysql_native_password")


def ssl_request(capabilities: int, charset: int = UTF8MB4_GENERAL_CI,
                max_packet: int = 1 << 24) -> bytes:
    return struct.pack("<IIB23s", capabilities | SSL, max_packet, charset, b"")


@dataclass
class HandshakeResponse:
    """Protocol::HandshakeResponse41 (or the SSL request, its first 32 bytes)."""

    capabilities: int
    max_packet: int = 1 << 24
    charset: int = UTF8MB4_GENERAL_CI
    user: str = ""
    auth_response: bytes = b""
    database: str | None = None
    plugin: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    ssl_only: bool = False  # an SSLRequest: the rest comes over TLS

    def encode(self) -> bytes:
        caps = self.capabilities
        out = bytearray(struct.pack("<IIB23s", caps, self.max_packet, self.charset, b""))
        out += self.user.encode() + b"\x00"
        if caps & PLUGIN_AUTH_LENENC_CLIENT_DATA:
            out += lenenc_str(self.auth_response)
        else:
            out += bytes([len(self.auth_response)]) + self.auth_response
        if caps & CONNECT_WITH_DB:
            out += (self.database or "").encode() + b"\x00"
        if caps & PLUGIN_AUTH:
            out += self.plugin.encode() + b"\x00"
        if caps & CONNECT_ATTRS:
            attrs = b"".join(lenenc_str(k.encode()) + lenenc_str(v.encode())
                             for k, v in self.attributes.items())
            out += lenenc_str(attrs)
        return bytes(out)

    @classmethod
    def decode(cls, payload: bytes) -> HandshakeResponse:
        if len(payload) < 32:
            raise ProtocolError("handshake response shorter than 32 bytes")
        caps, max_packet, charset = struct.unpack_from("<IIB", payload)
        if not caps & PROTOCOL_41:
            raise ProtocolError("the client does not speak protocol 4.1")
        if len(payload) == 32:
            if not caps & SSL:
                raise ProtocolError("handshake response without a user")
            return cls(caps, max_packet, charset, ssl_only=True)
        user, pos = read_cstr(payload, 32)
        if caps & PLUGIN_AUTH_LENENC_CLIENT_DATA:
            auth, pos = read_lenenc_str(payload, pos)
        elif caps & SECURE_CONNECTION:
            n = payload[pos] if pos < len(payload) else 0
            auth, pos = payload[pos + 1:pos + 1 + n], pos + 1 + n
        else:
            auth, pos = read_cstr(payload, pos)
        database = None
        if caps & CONNECT_WITH_DB and pos < len(payload):
            db, pos = read_cstr(payload, pos)
            database = db.decode("utf-8", "replace") or None
        plugin = ""
        if caps & PLUGIN_AUTH and pos < len(payload):
            name, pos = read_cstr(payload, pos)
            plugin = name.decode("ascii", "replace")
        attributes: dict[str, str] = {}
        if caps & CONNECT_ATTRS and pos < len(payload):
            blob, pos = read_lenenc_str(payload, pos)
            at = 0
            blob = blob or b""
            while at < len(blob):
                k, at = read_lenenc_str(blob, at)
                v, at = read_lenenc_str(blob, at)
                attributes[(k or b"").decode("utf-8", "replace")] = \
                    (v or b"").decode("utf-8", "replace")
        return cls(caps, max_packet, charset, user.decode("utf-8", "replace"), auth or b"",
                   database, plugin, attributes)


def auth_switch(plugin: str, data: bytes) -> bytes:
    """Protocol::AuthSwitchRequest."""
    return b"\xfe" + plugin.encode() + b"\x00" + data


# -- password scrambles -----------------------------------------------------------------------------
def native_scramble(password: bytes, nonce: bytes) -> bytes:
    """mysql_native_password: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))."""
    if not password:
        return b""
    stage1 = hashlib.sha1(password).digest()
    stage2 = hashlib.sha1(stage1).digest()
    mask = hashlib.sha1(nonce[:20] + stage2).digest()
    return bytes(a ^ b for a, b in zip(stage1, mask))


def sha2_scramble(password: bytes, nonce: bytes) -> bytes:
    """caching_sha2_password's fast path: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce)."""
    if not password:
        return b""
    p1 = hashlib.sha256(password).digest()
    p2 = hashlib.sha256(p1).digest()
    mask = hashlib.sha256(p2 + nonce[:20]).digest()
    return bytes(a ^ b for a, b in zip(p1, mask))


# -- result sets --------------------------------------------------------------------------------------
def text_row(payload: bytes) -> list[str | None]:
    out: list[str | None] = []
    pos = 0
    while pos < len(payload):
        value, pos = read_lenenc_str(payload, pos)
        out.append(None if value is None else value.decode("utf-8", "replace"))
    return out


class ResponseScanner:
    """Follows the server's answer to one command, packet by packet (never buffering):
    :meth:`feed` says when the answer is complete; :attr:`status` is the status flags
    it ended with (None after an ERR packet, which carries none).

    COM_QUERY: OK | ERR | (column count, column definitions, EOF, rows, EOF|ERR), repeated
    while SERVER_MORE_RESULTS_EXISTS is set.  COM_FIELD_LIST: column definitions then
    EOF, or ERR.  COM_STATISTICS: one string.  Other commands: one OK, ERR or EOF.
    (The proxy never negotiates CLIENT_DEPRECATE_EOF, so EOF packets always come.)
    """

    def __init__(self, command: int) -> None:
        self.command = command
        self.state = {COM_QUERY: "first", COM_FIELD_LIST: "fields",
                      COM_STATISTICS: "string"}.get(command, "single")
        self.columns = 0
        self.status: int | None = None
        self.done = False
        self.rows: list[list[str | None]] = []
        self.keep_rows = False
        self.error: ServerError | None = None

    def feed(self, payload: bytes) -> bool:
        if self.done:
            raise ProtocolError("a packet after the end of the response")
        state = self.state
        if state == "string":
            self.done = True
        elif state in ("single", "first"):
            if is_err(payload):
                self._error(payload)
            elif payload[:1] == b"\x00" and is_ok(payload):
                self._end(ok_status(payload))
            elif state == "single" and is_eof(payload):
                self._end(eof_status(payload))
            elif state == "single":
                self.done = True  # e.g. COM_DEBUG's answer: one packet, whatever it is
            elif payload[:1] == b"\xfb":
                raise ProtocolError("LOCAL INFILE request (not negotiated)")
            else:
                count, _ = read_lenenc_int(payload, 0)
                if not count:
                    raise ProtocolError("result set with no columns")
                self.columns, self.state = count, "columns"
        elif state == "columns":
            self.columns -= 1
            if self.columns == 0:
                self.state = "columns_eof"
        elif state == "columns_eof":
            if not is_eof(payload):
                raise ProtocolError("no EOF after the column definitions")
            self.state = "rows"
        elif state == "rows":
            if is_eof(payload):
                self._end(eof_status(payload))
            elif is_err(payload):
                self._error(payload)
            elif self.keep_rows:
                self.rows.append(text_row(payload))
        elif state == "fields":
            if is_eof(payload):
                self._end(eof_status(payload))
            elif is_err(payload):
                self._error(payload)
        return self.done

    def _end(self, status: int) -> None:
        self.status = status
        if status & STATUS_MORE_RESULTS and self.command == COM_QUERY:
            self.state = "first"
        else:
            self.done = True

    def _error(self, payload: bytes) -> None:
        self.error = parse_err(payload)
        self.status = None
        self.done = True
