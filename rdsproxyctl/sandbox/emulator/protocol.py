"""PostgreSQL wire protocol v3: framing, the startup packet, and message builders.

Only what a proxy needs: it reads and writes whole startup-phase messages, and in
the relay phase it forwards bytes as they come while :class:`Scanner` follows the
message boundaries (to see ReadyForQuery, Terminate, Query text) without ever
buffering a whole message, so a huge message costs no memory.

Reference: https://www.postgresql.org/docs/current/protocol-message-formats.html
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

PROTOCOL_3_0 = 196608  # 3 << 16
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

#: PostgreSQL's own limit for a startup packet (MAX_STARTUP_PACKET_LENGTH).
MAX_STARTUP_LENGTH = 10000
#: The longest message accepted during authentication (a password or SASL message;
#: an IAM token with a session token is 1-2 KB).
MAX_AUTH_MESSAGE = 16384
#: The longest backend message read whole (startup answers, reset results).
MAX_BACKEND_MESSAGE = 1 << 20


class ProtocolViolation(Exception):
    """The peer sent something the protocol does not allow."""


class UnsupportedProtocol(ProtocolViolation):
    """A startup packet for a protocol version other than 3.x."""

    def __init__(self, major: int, minor: int) -> None:
        super().__init__(f"unsupported frontend protocol {major}.{minor}")
        self.major = major
        self.minor = minor


@dataclass
class Startup:
    """A parsed startup-phase packet."""

    code: int
    params: dict[str, str] = field(default_factory=dict)
    cancel_pid: int = 0
    cancel_key: bytes = b""

    @property
    def major(self) -> int:
        return self.code >> 16

    @property
    def minor(self) -> int:
        return self.code & 0xFFFF


def parse_startup(body: bytes) -> Startup:
    """Parse a startup packet body (without its 4-byte length).

    Raises :class:`ProtocolViolation` for anything malformed.
    """
    if len(body) < 4:
        raise ProtocolViolation("startup packet too short")
    (code,) = struct.unpack_from("!I", body)
    if code in (SSL_REQUEST, GSSENC_REQUEST):
        if len(body) != 4:
            raise ProtocolViolation("malformed SSL/GSS request")
        return Startup(code)
    if code == CANCEL_REQUEST:
        if len(body) < 12 or len(body) > 4 + 4 + 256:
            raise ProtocolViolation("malformed cancel request")
        (pid,) = struct.unpack_from("!I", body, 4)
        return Startup(code, cancel_pid=pid, cancel_key=bytes(body[8:]))
    if code >> 16 != 3:
        raise UnsupportedProtocol(code >> 16, code & 0xFFFF)
    raw = body[4:]
    if not raw.endswith(b"\x00"):
        raise ProtocolViolation("startup packet is not terminated")
    parts = raw[:-1].split(b"\x00")
    if parts and parts[-1] == b"":
        parts.pop()  # the list ends with an empty name
    if len(parts) % 2:
        raise ProtocolViolation("startup packet has a name without a value")
    params: dict[str, str] = {}
    try:
        for i in range(0, len(parts), 2):
            name = parts[i].decode("utf-8")
            if not name:
                raise ProtocolViolation("empty parameter name in startup packet")
            params[name] = parts[i + 1].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation("startup packet is not valid UTF-8") from None
    return Startup(code, params)


async def read_startup(reader: asyncio.StreamReader) -> Startup:
    """Read and parse one startup-phase packet."""
    header = await reader.readexactly(4)
    (length,) = struct.unpack("!I", header)
    if length < 8 or length > MAX_STARTUP_LENGTH:
        raise ProtocolViolation(f"invalid startup packet length {length}")
    return parse_startup(await reader.readexactly(length - 4))


async def read_message(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, bytes]:
    """Read one typed message whole: ``(type, body)``."""
    header = await reader.readexactly(5)
    kind = header[:1]
    (length,) = struct.unpack_from("!I", header, 1)
    if length < 4 or length - 4 > limit:
        raise ProtocolViolation(f"invalid length {length} for message {kind!r}")
    return kind, await reader.readexactly(length - 4)


# -- builders ------------------------------------------------------------------------------
def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode("utf-8").replace(b"\x00", b"") + b"\x00"


def error_response(message_text: str, sqlstate: str, severity: str = "FATAL",
                   extra: dict[str, str] | None = None) -> bytes:
    fields = {"S": severity, "V": severity, "C": sqlstate, "M": message_text, **(extra or {})}
    body = b"".join(k.encode() + cstr(v) for k, v in fields.items()) + b"\x00"
    return message(b"E", body)


def auth_request(code: int, data: bytes = b"") -> bytes:
    return message(b"R", struct.pack("!I", code) + data)


AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstr(name) + cstr(value))


def backend_key_data(pid: int, key: bytes) -> bytes:
    return message(b"K", struct.pack("!I", pid) + key)


def ready_for_query(status: bytes = b"I") -> bytes:
    return message(b"Z", status)


def negotiate_protocol_version(version: int, unsupported: list[str]) -> bytes:
    """NegotiateProtocolVersion as PostgreSQL 15 sends it: the newest version it speaks
    (the whole number, 3.0 = 196608: libpq 18 reads it so) and the options it ignored."""
    body = struct.pack("!II", version, len(unsupported)) + b"".join(cstr(o) for o in unsupported)
    return message(b"v", body)


def startup_packet(params: dict[str, str]) -> bytes:
    body = struct.pack("!I", PROTOCOL_3_0)
    body += b"".join(cstr(k) + cstr(v) for k, v in params.items()) + b"\x00"
    return struct.pack("!I", len(body) + 4) + body


def ssl_request() -> bytes:
    return struct.pack("!II", 8, SSL_REQUEST)


def cancel_request(pid: int, key: bytes) -> bytes:
    return struct.pack("!III", 12 + len(key), CANCEL_REQUEST, pid) + key


def query(sql: str) -> bytes:
    return message(b"Q", cstr(sql))


def parse_error_fields(body: bytes) -> dict[str, str]:
    """The fields of an ErrorResponse / NoticeResponse body: ``{"S": "FATAL", "M": ...}``."""
    fields: dict[str, str] = {}
    for part in body.split(b"\x00"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def parse_cstrings(body: bytes) -> list[str]:
    return [p.decode("utf-8", "replace") for p in body.split(b"\x00")[:-1]]


def data_row(body: bytes) -> list[str | None]:
    """The columns of a DataRow body, as text."""
    (count,) = struct.unpack_from("!H", body)
    pos = 2
    out: list[str | None] = []
    for _ in range(count):
        (length,) = struct.unpack_from("!i", body, pos)
        pos += 4
        if length < 0:
            out.append(None)
        else:
            out.append(body[pos:pos + length].decode("utf-8", "replace"))
            pos += length
    return out


# -- scanning a byte stream ------------------------------------------------------------------
@dataclass
class Frame:
    """A message seen by :class:`Scanner`: its type, declared body length, and the
    first bytes of its body (up to the scanner's ``keep``)."""

    kind: bytes
    length: int
    head: bytes
    end: int  # offset just past this message in the chunk that completed it


class Scanner:
    """Follows message boundaries across arbitrary chunks of a stream.

    ``feed(chunk)`` yields a :class:`Frame` for each message that *ends* in the chunk,
    with at most ``keep`` leading body bytes (enough for a ReadyForQuery status, or the
    start of a Query's SQL).  Memory use is bounded by ``keep`` whatever the declared
    lengths; a length below 4 raises :class:`ProtocolViolation`.
    """

    def __init__(self, keep: int = 1) -> None:
        self.keep = keep
        self._header = b""
        self._kind = b""
        self._length = 0
        self._remaining = -1  # -1: reading a header
        self._head = bytearray()

    @property
    def in_message(self) -> bool:
        return self._remaining >= 0 or bool(self._header)

    def feed(self, chunk: bytes) -> Iterator[Frame]:
        pos = 0
        n = len(chunk)
        while pos < n:
            if self._remaining < 0:
                need = 5 - len(self._header)
                self._header += chunk[pos:pos + need]
                pos += min(need, n - pos)
                if len(self._header) < 5:
                    return
                self._kind = self._header[:1]
                (length,) = struct.unpack_from("!I", self._header, 1)
                self._header = b""
                if length < 4:
                    raise ProtocolViolation(f"invalid length {length} for message {self._kind!r}")
                self._length = length - 4
                self._remaining = self._length
                self._head = bytearray()
            take = min(self._remaining, n - pos)
            if len(self._head) < self.keep and take:
                self._head += chunk[pos:pos + min(take, self.keep - len(self._head))]
            pos += take
            self._remaining -= take
            if self._remaining == 0:
                self._remaining = -1
                yield Frame(self._kind, self._length, bytes(self._head), pos)


# -- cutting a stream into messages ------------------------------------------------------------
START = 1  # the piece begins a message (it holds the 5-byte header)
END = 2  # the piece ends a message
WHOLE = START | END


class Splitter:
    """Cuts a byte stream into messages for the relay.

    ``feed(chunk)`` returns ``(kind, piece, flags)`` tuples in stream order: a message of
    at most ``whole`` bytes comes as one piece (``WHOLE``: header and body, so the relay
    can read it, hold it back or put another message before it); a longer one comes as
    it arrives, in pieces (``START`` with the header, then middle pieces, then ``END``),
    so memory stays bounded whatever the declared length.  A length below 4 raises
    :class:`ProtocolViolation`.
    """

    __slots__ = ("whole", "_buf", "_kind", "_remaining")

    def __init__(self, whole: int = 1 << 16) -> None:
        self.whole = whole
        self._buf = b""
        self._kind = b""
        self._remaining = 0

    @property
    def in_message(self) -> bool:
        return bool(self._buf) or self._remaining > 0

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes, int]]:
        out: list[tuple[bytes, bytes, int]] = []
        if self._remaining:
            take = min(self._remaining, len(chunk))
            self._remaining -= take
            out.append((self._kind, chunk[:take], 0 if self._remaining else END))
            chunk = chunk[take:]
            if not chunk:
                return out
        buf = self._buf + chunk if self._buf else chunk
        pos = 0
        n = len(buf)
        unpack = struct.unpack_from
        while n - pos >= 5:
            (length,) = unpack("!I", buf, pos + 1)
            if length < 4:
                self._buf = b""
                raise ProtocolViolation(f"invalid length {length} for message "
                                        f"{buf[pos:pos + 1]!r}")
            total = length + 1
            if total <= self.whole:
                if n - pos < total:
                    break
                out.append((buf[pos:pos + 1], buf[pos:pos + total], WHOLE))
                pos += total
                continue
            avail = min(total, n - pos)
            self._kind = buf[pos:pos + 1]
            self._remaining = total - avail
            out.append((self._kind, buf[pos:pos + avail], START | (0 if self._remaining else END)))
            pos += avail
        self._buf = buf[pos:] if pos < n else b""
        return out
