"""PostgreSQL adapter: the relay, with transaction multiplexing.

The client's stream is cut into messages (:class:`~.protocol.Splitter`: whole messages
up to 64 KB, longer ones streamed in pieces).  The session borrows a connection at the
first message that arrives while it holds none, and gives it back (``transaction_ended``)
at the ReadyForQuery that leaves the database idle (``I``) with nothing in flight:

* **request accounting**: every Query, FunctionCall and Sync owes one ReadyForQuery
  (``expected``); extended-protocol messages since the last Sync (``extended``) and a
  message partly forwarded keep the connection too.  Pipelining (``P B D E S P B E S H``)
  just raises ``expected``.  In COPY FROM STDIN the server ignores Sync (and Flush)
  until CopyDone/CopyFail: those Syncs, sent after the Query/Execute that started the
  copy, are taken off ``expected`` when the CopyDone/CopyFail goes by.
* **statements across connections** (RDS Proxy multiplexes the extended query
  protocol since 2023, see the AWS blog cited in docs/sandbox.md): the session keeps the
  Parse message of each statement it prepared; a Bind or Describe of a statement the
  current connection lacks gets that Parse injected before it (a named one after a
  Close, which PostgreSQL accepts for a missing name), and a client's own named Parse
  gets a Close before it (the name may be left on the connection by another session).
  The ParseComplete/CloseComplete answers of injected messages are not forwarded.
* **pinning**: Query and Parse text is checked by :mod:`.pgpinning`; a hit pins the
  session (:meth:`~.session.SessionCore.pin`).

The backend's stream is read by one task per borrow, which stops at the return.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections import deque
from typing import TYPE_CHECKING, Any

from rdsproxyctl.sandbox.emulator import protocol as pg
from rdsproxyctl.sandbox.emulator.pgpinning import pin_reason

if TYPE_CHECKING:
    from rdsproxyctl.sandbox.emulator.pgsession import PgClientSession

READ_SIZE = 1 << 16
IDLE_CHECK = 1.0
_FORWARD, _DROP, _SYNC = 0, 1, 2  # what to do with the next ParseComplete/CloseComplete
_START, _END = pg.START, pg.END


def _cstr_at(body: bytes, pos: int) -> tuple[bytes, int]:
    end = body.find(b"\x00", pos)
    if end < 0:
        raise ValueError("unterminated string")
    return body[pos:end], end + 1


class Relay:
    """Moves one session's messages between its client and whichever connection it holds."""

    def __init__(self, session: PgClientSession) -> None:
        self.s = session
        self.core = session.core
        self.client = pg.Splitter()
        self.expected = 0  # ReadyForQuery messages the database still owes
        self.extended = False  # extended-protocol messages since the last Sync
        self.syncs_since_exec = 0  # Syncs since the last Query/Execute (COPY accounting)
        self.marks: deque[int] = deque()  # for ParseComplete / CloseComplete, in order
        self.statements: dict[bytes, bytes] = {}  # the session's statements: name -> Parse
        self.pump_task: asyncio.Task[None] | None = None
        self.sent_at: float | None = None
        self.debug = session.proxy.debug_logging
        self._timer: asyncio.TimerHandle | None = None
        self._forwarding = False  # between a client read and its last byte sent on
        self.slow = 0.0  # db-slow: seconds the database's next answer is held back

    # -- the end ---------------------------------------------------------------------------
    def end_state(self) -> tuple[bool, bool]:
        """(a request in flight, the connection needs a reset) for the session's end."""
        if self.pump_task is not None and not self.pump_task.done():
            self.pump_task.cancel()
        mid = self.expected > 0 or self.extended or self.client.in_message
        return mid, True

    def _idle(self) -> bool:
        return (self.expected == 0 and not self.extended and not self.client.in_message
                and not self._forwarding)

    # -- client -> database ------------------------------------------------------------------
    async def run(self) -> str:
        loop = asyncio.get_running_loop()
        reader = self.s.reader
        self._timer = loop.call_later(min(self.core.idle_timeout(), IDLE_CHECK),
                                      self._check_idle)
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    return "eof"
                try:
                    pieces = self.client.feed(data)
                except pg.ProtocolViolation as exc:
                    self.s.log("protocol_violation", detail=str(exc))
                    return "protocol"
                self._forwarding = True
                try:
                    if await self._forward(pieces):
                        return "terminate"
                finally:
                    self._forwarding = False
        finally:
            if self._timer is not None:
                self._timer.cancel()
            if self.pump_task is not None and not self.pump_task.done():
                self.pump_task.cancel()

    def _check_idle(self) -> None:
        """IdleClientTimeout (read live), counted from the end of the last request: one
        timer per session, looked at when it fires."""
        loop = asyncio.get_running_loop()
        timeout = self.core.idle_timeout()
        left = timeout - (loop.time() - self.core.last_request_end)
        if self._idle() and left <= 0.01:
            self.s.kill("idle")
            return
        # looked at again at least every IDLE_CHECK seconds: a lowered timeout applies
        self._timer = loop.call_later(min(max(left, 0.05), IDLE_CHECK), self._check_idle)

    async def _forward(self, pieces: list[tuple[bytes, bytes, int]]) -> bool:
        """Send pieces to the database (borrowing first when needed); True on Terminate."""
        out: list[bytes] = []
        conn = self.core.backend
        for kind, piece, flags in pieces:
            if not flags & _START:
                out.append(piece)  # the rest of a long message
                continue
            if kind == b"X":
                if out and conn is not None:
                    conn.writer.write(b"".join(out))
                return True
            if conn is None:
                conn = await self.s.borrow()
                self.pump_task = asyncio.get_running_loop().create_task(self._pump(conn))
            self._client_message(conn, kind, piece, flags, out)
            out.append(piece)
        if out and conn is not None:
            conn.writer.write(b"".join(out))
            await conn.writer.drain()
        return False

    def _client_message(self, conn: Any, kind: bytes, piece: bytes, flags: int,
                        out: list[bytes]) -> None:
        """Account for one client message; may add injected messages to ``out`` first."""
        whole = flags == pg.WHOLE
        if kind == b"Q":
            self.expected += 1
            self.syncs_since_exec = 0
            self.marks.append(_SYNC)
            self.statements.pop(b"", None)  # a Query destroys the unnamed statement
            conn.prepared.pop(b"", None)
            self._request()
            sql = piece[5:-1] if whole else None
            self._check_sql(sql, b"Q")
        elif kind == b"S":
            self.expected += 1
            self.extended = False
            self.syncs_since_exec += 1
            self.marks.append(_SYNC)
            self._request(query=False)
        elif kind == b"P":
            self.extended = True
            if not whole:
                self._check_sql(None, b"P")
                self.marks.append(_FORWARD)
                return
            try:
                name, pos = _cstr_at(piece, 5)
                sql, _ = _cstr_at(piece, pos)
            except ValueError:
                self.marks.append(_FORWARD)
                return
            self._check_sql(sql, b"P")
            if name:
                out.append(pg.message(b"C", b"S" + name + b"\x00"))
                self.marks.append(_DROP)
            self.marks.append(_FORWARD)
            self.statements[name] = piece
            conn.prepared[name] = piece
        elif kind == b"B":
            self.extended = True
            try:
                _, pos = _cstr_at(piece, 5)
                name, _ = _cstr_at(piece, pos)
            except ValueError:
                return
            self._ensure(conn, name, out)
        elif kind == b"D":
            self.extended = True
            if piece[5:6] == b"S":
                try:
                    name, _ = _cstr_at(piece, 6)
                except ValueError:
                    return
                self._ensure(conn, name, out)
        elif kind == b"C":
            self.extended = True
            self.marks.append(_FORWARD)
            if piece[5:6] == b"S":
                try:
                    name, _ = _cstr_at(piece, 6)
                except ValueError:
                    return
                self.statements.pop(name, None)
                conn.prepared.pop(name, None)
        elif kind == b"E":
            self.extended = True
            self.syncs_since_exec = 0
            self._request()
        elif kind == b"H":
            pass  # Flush asks for output, it is no request (libpq sends S then H)
        elif kind in (b"c", b"f"):  # CopyDone / CopyFail: the Syncs sent during COPY IN
            self.expected = max(0, self.expected - self.syncs_since_exec)  # were ignored
            for _ in range(self.syncs_since_exec):
                if self.marks and self.marks[-1] == _SYNC:
                    self.marks.pop()
            self.syncs_since_exec = 0
        elif kind == b"F":
            self.expected += 1
            self.marks.append(_SYNC)
            self._request()

    def _request(self, query: bool = True) -> None:
        if query:  # QueryRequests: Query, Execute, FunctionCall (a Sync is none)
            self.core.counters.query_requests += 1
        if self.sent_at is None:
            self.sent_at = asyncio.get_running_loop().time()
        if query:  # db-slow (emulator/faults.py): the answer to it comes late
            self.slow = self.s.em.faults.latency(self.core.proxy.resource_id)

    def _ensure(self, conn: Any, name: bytes, out: list[bytes]) -> None:
        """Make sure the connection has the session's statement ``name``."""
        parse = self.statements.get(name)
        if parse is None or conn.prepared.get(name) == parse:
            return
        if name:
            out.append(pg.message(b"C", b"S" + name + b"\x00"))
            self.marks.append(_DROP)
        out.append(parse)
        self.marks.append(_DROP)
        conn.prepared[name] = parse

    def _check_sql(self, sql: bytes | None, kind: bytes) -> None:
        if sql is None:  # longer than the relay reads whole: over 16 KB anyway
            self.core.pin("too_large")
            return
        text = sql.decode("utf-8", "replace")
        if self.debug:
            self.s.log("debug_query" if kind == b"Q" else "debug_parse", sql=text)
        found = pin_reason(text)
        if found is not None:
            reason, digest = found
            self.core.pin(reason, digest=digest)

    # -- database -> client ----------------------------------------------------------------------
    async def _pump(self, conn: Any) -> None:
        """Forward the database's messages until the connection goes back to the pool."""
        split = pg.Splitter()
        writer = self.s.writer
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await conn.reader.read(READ_SIZE)
                if not data:
                    self.s.kill("backend_closed")
                    return
                if self.slow > 0:  # db-slow: as if the database answered that much later
                    delay, self.slow = self.slow, 0.0
                    await asyncio.sleep(delay)
                if self.sent_at is not None:
                    self.core.counters.query_latency.add((loop.time() - self.sent_at) * 1e6)
                    self.sent_at = None
                out: list[bytes] = []
                returned = False
                for kind, piece, flags in split.feed(data):
                    if flags & _START:
                        if kind == b"Z":
                            self._ready(conn, piece[5:6] or b"I")
                            if self.core.backend is not conn:
                                returned = True
                        elif kind in (b"1", b"3") and flags == pg.WHOLE:
                            if self.marks and self.marks[0] != _SYNC:
                                if self.marks.popleft() == _DROP:
                                    continue
                        elif kind == b"E":
                            conn.prepared.clear()  # which statements exist is uncertain now
                    out.append(piece)
                if out:
                    writer.write(b"".join(out))
                if returned:
                    self.core.request_done()
                    await writer.drain()
                    return
                await writer.drain()
        except (OSError, ssl.SSLError, pg.ProtocolViolation, struct.error):
            self.s.kill("backend_closed")

    def _ready(self, conn: Any, status: bytes) -> None:
        """A ReadyForQuery: one request answered; maybe the end of the transaction."""
        conn.status = status
        self.core.in_transaction = status != b"I"
        self.expected = max(0, self.expected - 1)
        while self.marks:
            if self.marks.popleft() == _SYNC:
                break
        if self.expected == 0:
            self.sent_at = None
            if not self.extended and status == b"I" and not self.client.in_message:
                self.core.transaction_ended()
            if self.core.backend is conn and not self.extended:
                self.core.request_done()
