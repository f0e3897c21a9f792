"""Classify RDS Proxy log lines against the signature catalog, one pass per line.

A line is read in two steps:

1. the *envelope*: optional columns of ``aws logs tail`` (time, stream) or of an
   export (time), the proxy's own timestamp, the level (``[WARN]``, ``WARN:`` ...)
   and the ``[proxyEndpoint=...] [clientConnection=...] [dbConnection=...]`` tags;
   a level counts in brackets or before a colon (``[WARN]``, ``WARN:``), so MySQL's
   ``ERROR 1045 (28000): ...`` stays in the message;
   every part may be missing;
2. the *message*: one search of the catalog's combined regex (every pattern of
   :data:`~.signatures.SIGNATURES` as a named alternative) finds the signature and its
   fields; a signature with refinements (``iam-auth-failed`` -> ``iam-auth-expired-token``
   ...) gets one more search of its children's combined regex over its reason.

Nothing here raises on odd input: binary garbage, control characters and very long
lines classify as ``unclassified`` (only the first :data:`SEARCH_LIMIT` characters of
a message are searched).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import IO, Any

from rdsproxyctl.core.logs.signatures import (
    BY_ID,
    FIELDS,
    INT_FIELDS,
    SIGNATURES,
    UNCLASSIFIED,
    Signature,
)
from rdsproxyctl.core.redact import redact_text

#: Only this many characters of a message are searched: AWS's messages are short, and
#: it keeps a pathological line from costing more than a normal one.
SEARCH_LIMIT = 8192
#: ``classify`` reads at most this many bytes of one line (CloudWatch's largest event is
#: 256 KiB); the rest of a longer line is skipped, not kept in memory.
MAX_LINE_BYTES = 256 * 1024

_ISO = r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?)?(?:Z|[+-]\d\d:?\d\d)?"
_ENVELOPE = re.compile(
    rf"""[\s\x00]*
    (?:(?P<t1>{_ISO})\s+                         # aws logs tail / export: the event time
       (?:(?P<stream>[^\s\[]\S*)\s+(?={_ISO}|\[))?  # aws logs tail: the stream (detailed format)
    )?
    (?:(?P<t2>{_ISO})\s+)?                        # the proxy's own timestamp
    (?:\[?(?P<level>INFO|WARN(?:ING)?|ERROR|DEBUG|TRACE|FATAL|NOTICE|CRITICAL)(?:\]:?|:)(?:\s+|$))?
    (?P<tags>(?:\[\w+\s*=[^]]*\]\s*)*)
    """,
    re.VERBOSE | re.IGNORECASE,
)
_TAG = re.compile(r"\[(\w+)\s*=\s*([^]]*)\]")
_DB_CONNECTION = re.compile(r"dbConnection\s*=\s*(\w+)", re.IGNORECASE)
_TAG_FIELDS = {"proxyendpoint": "endpoint", "clientconnection": "client_connection",
               "dbconnection": "db_connection"}
_LEVELS = {"WARNING": "WARN", "CRITICAL": "ERROR", "FATAL": "ERROR", "NOTICE": "INFO"}
_LEVEL_SEVERITY = {"ERROR": "error", "WARN": "warn"}
_QUOTES = "\"'`"
Span = tuple[int, int]
_NO_FIELDS: dict[str, Any] = dict.fromkeys(FIELDS)


class LogEvent:
    """One classified log line.  ``to_json()`` gives its stable JSON keys.

    The parts of the line (message, endpoint, connection ids ...) are cut from it
    when read, through its shape: a summary that only counts signatures never pays
    for them.
    """

    __slots__ = ("raw", "fields", "_shape", "_timestamp", "_log_stream")

    def __init__(self, raw: str, shape: _Shape, fields: dict[str, Any],
                 timestamp: str | None = None, log_stream: str | None = None) -> None:
        #: The whole line as received (redacted), for ``--grep``; not in JSON.
        self.raw = raw
        #: What the signature extracted (user, reason, digest, client_address, limit ...).
        self.fields = fields
        self._shape = shape
        self._timestamp = timestamp
        self._log_stream = log_stream

    @property
    def signature(self) -> str:
        return self._shape.signature

    @property
    def severity(self) -> str:
        return self._shape.severity

    @property
    def level(self) -> str | None:
        return self._shape.level

    @property
    def message(self) -> str:
        a, b = self._shape.message
        return self.raw[a:b]

    @property
    def timestamp(self) -> str | None:
        return self._timestamp if self._timestamp is not None else self._cut(self._shape.timestamp)

    @property
    def log_stream(self) -> str | None:
        return self._log_stream if self._log_stream is not None else self._cut(self._shape.stream)

    @property
    def endpoint(self) -> str | None:
        return self._cut(self._shape.endpoint)

    @property
    def client_connection(self) -> str | None:
        return self._cut(self._shape.client_connection)

    @property
    def db_connection(self) -> str | None:
        return self._cut(self._shape.db_connection)

    def _cut(self, span: Span | None) -> str | None:
        return None if span is None else self.raw[span[0]:span[1]]

    def to_json(self) -> dict[str, Any]:
        """Every key, always (``null`` when absent): the event's, then every field's."""
        return {
            "timestamp": self.timestamp,
            "level": self.level,
            "endpoint": self.endpoint,
            "client_connection": self.client_connection,
            "db_connection": self.db_connection,
            "log_stream": self.log_stream,
            "signature": self.signature,
            "severity": self.severity,
            "message": self.message,
            **_NO_FIELDS,
            **self.fields,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogEvent):
            return NotImplemented
        return (self.raw, self.to_json()) == (other.raw, other.to_json())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LogEvent({self.to_json()!r})"


def clean_span(text: str, a: int, b: int) -> Span | None:
    """Where a field's value is once trimmed of blanks, trailing punctuation and outer quotes.

    Only blanks, ``.,;:`` and quotes move the ends, never a digit: the span is the
    same for every line of a shape.
    """
    while a < b and text[a].isspace():
        a += 1
    while b > a and (text[b - 1].isspace() or text[b - 1] in ".,;:"):
        b -= 1
    if b - a >= 2 and text[a] == text[b - 1] and text[a] in _QUOTES:
        a, b = a + 1, b - 1
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
    return (a, b) if a < b else None


_GROUP = re.compile(r"\(\?P<(\w+)>")
_DIGITS = bytes.maketrans(b"123456789", b"000000000")


@cache
def required_literals(pattern: str) -> frozenset[str] | None:
    """Strings (case-folded) one of which occurs in every match of ``pattern``, or None.

    GNU grep's "must" prefilter: when none of them is in a line, the (slow, because
    it fails at every position) search can be skipped.  Derived from the parsed
    pattern, so it can't disagree with it.
    """
    try:
        from re import _constants as c
        from re import _parser as p

        return _must(list(p.parse(pattern, re.IGNORECASE)), c)
    except Exception:  # noqa: BLE001 - a private module: without it, no prefilter
        return None


def _must(items: list[Any], c: Any) -> frozenset[str] | None:
    best: frozenset[str] | None = None
    run: list[str] = []

    def take(req: frozenset[str] | None) -> None:
        nonlocal best
        if req and (best is None or _score(req) > _score(best)):
            best = req

    def flush() -> None:
        if run:
            take(frozenset(["".join(run)]))
            run.clear()

    for op, av in items:
        if op is c.LITERAL:
            run.append(chr(av).casefold())
            continue
        flush()
        if op is c.SUBPATTERN:
            take(_must(list(av[-1]), c))
        elif op is c.BRANCH:
            alternatives = [_must(list(a), c) for a in av[1]]
            if all(alternatives):
                take(frozenset().union(*alternatives))  # type: ignore[arg-type]
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and av[0] >= 1:
            take(_must(list(av[2]), c))
        # anything else (a class, '.', an anchor ...) promises no literal
    flush()
    return best


def _score(req: frozenset[str]) -> tuple[int, int]:
    return min(map(len, req)), -len(req)


def _prefilter(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """A regex finding any required literal of any pattern (None: can't prefilter)."""
    literals: set[str] = set()
    for pattern in patterns:
        req = required_literals(pattern)
        if req is None:
            return None
        literals |= req
    # "connect" in a line implies "connection" may be there: keep the shortest
    kept = sorted(lit for lit in literals if not any(o != lit and o in lit for o in literals))
    return re.compile("|".join(map(re.escape, kept))) if kept else None


class _Alternatives:
    """Patterns of several rows as one regex: each a named alternative ``a<N>``."""

    def __init__(self, entries: list[tuple[Signature, str]], *, ordered: bool) -> None:
        parts = []
        for k, (_, pattern) in enumerate(entries):
            renamed = _GROUP.sub(lambda m, k=k: f"(?P<a{k}_{m.group(1)}>", pattern)
            # ordered: the first row whose pattern occurs anywhere wins (refinements);
            # otherwise the match that starts first wins (the top level).
            parts.append(f"(?:.*?(?P<a{k}>{renamed}))" if ordered else f"(?P<a{k}>{renamed})")
        self.regex = re.compile("|".join(parts), re.IGNORECASE | re.DOTALL)
        self.ordered = ordered
        self.prefilter = None if ordered else _prefilter(p for _, p in entries)
        index = self.regex.groupindex
        #: outermost group number -> (row, [(field, group number)])
        self.rows: dict[int, tuple[Signature, list[tuple[str, int]]]] = {
            index[f"a{k}"]: (sig, [(name, index[f"a{k}_{name}"])
                                   for name in re.compile(pattern).groupindex])
            for k, (sig, pattern) in enumerate(entries)
        }

    def find(self, text: str, pos: int, endpos: int) -> tuple[Signature, dict[str, Span], int] | None:
        """The row found in ``text[pos:endpos]``, its fields' spans, and where it ended."""
        if self.prefilter is not None and not self.prefilter.search(text[pos:endpos].casefold()):
            return None
        find = self.regex.match if self.ordered else self.regex.search
        m = find(text, pos, endpos)
        if m is None:
            return None
        sig, groups = self.rows[m.lastindex]  # type: ignore[index]  # the outermost group
        spans = {name: m.span(idx) for name, idx in groups if m.start(idx) >= 0}
        return sig, spans, m.end()


@dataclass(frozen=True, slots=True)
class _Shape:
    """Where the parts of a line are and what it is.

    Equal for every line with the same text once digits are replaced by ``0``: no
    pattern tells one digit from another, so the regexes match those lines alike.
    """

    signature: str
    severity: str
    level: str | None
    #: the line carries a secret: spans are those of the redacted line
    redact: bool
    message: Span
    timestamp: Span | None
    stream: Span | None
    endpoint: Span | None
    client_connection: Span | None
    db_connection: Span | None
    #: (field, start, end) of each field's cleaned value; numbers apart
    fields: tuple[tuple[str, int, int], ...]
    numbers: tuple[tuple[str, int, int], ...]

    def event(self, line: str, timestamp: str | None, log_stream: str | None) -> LogEvent:
        fields = {name: line[a:b] for name, a, b in self.fields}
        for name, a, b in self.numbers:
            fields[name] = int(line[a:b])
        return LogEvent(line, self, fields, timestamp, log_stream)


def _span(m: re.Match[str], group: str) -> Span | None:
    return m.span(group) if m.start(group) >= 0 else None


class Classifier:
    """The catalog compiled: :meth:`classify` reads one line.

    Results are cached per *shape* (the line with its digits replaced by ``0``), so the
    regexes run once per kind of line, not once per line: log lines differ mostly in
    timestamps, connection ids, addresses and ports.  The cache holds at most
    ``cache_size`` shapes (it starts over when full).
    """

    def __init__(self, signatures: Iterable[Signature] = SIGNATURES, *,
                 cache_size: int = 20_000) -> None:
        signatures = tuple(signatures)
        self.top = _Alternatives([(s, p) for s in signatures for p in s.patterns], ordered=False)
        self.refine: dict[str, _Alternatives] = {}
        for parent in {s.parent for s in signatures if s.parent}:
            kids = [(s, p) for s in signatures if s.parent == parent for p in s.reason_patterns]
            self.refine[parent] = _Alternatives(kids, ordered=True)
        self.cache_size = cache_size
        self._shapes: dict[bytes, _Shape] = {}

    def classify(self, line: str, *, timestamp: str | None = None,
                 log_stream: str | None = None) -> LogEvent:
        """Classify one line (a CloudWatch message, or a line of a file)."""
        key = line.encode("utf-8", "surrogatepass").translate(_DIGITS)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shape(line)
            if len(self._shapes) >= self.cache_size:
                self._shapes.clear()
            self._shapes[key] = shape
        if shape.redact:  # redaction, like the regexes, treats all digits alike
            line = redact_text(line)
        return shape.event(line, timestamp, log_stream)

    def _signature(self, line: str, start: int, end: int) -> tuple[str, dict[str, Span]]:
        found = self.top.find(line, start, min(end, start + SEARCH_LIMIT))
        if found is None:
            return UNCLASSIFIED, {}
        sig, spans, stop = found
        while sig.id in self.refine:
            reason = spans.get("reason")
            if reason and reason[0] < reason[1]:
                a, b = reason
            else:  # no reason given: the rest of the line
                a, b = stop, min(end, start + SEARCH_LIMIT)
            refined = self.refine[sig.id].find(line, a, b)
            if refined is None:
                break
            sig, extra, _ = refined
            spans.update(extra)
        return sig.id, spans

    def _shape(self, line: str) -> _Shape:
        redacted = redact_text(line)
        redact, line = redacted != line, redacted
        env = _ENVELOPE.match(line)
        assert env is not None  # every part of the envelope is optional
        start, end = env.end(), len(line.rstrip())
        level = env.group("level")
        if level:
            level = _LEVELS.get(level.upper(), level.upper())
        tags: dict[str, Span] = {}
        if env.group("tags"):
            for m in _TAG.finditer(line, env.start("tags"), env.end("tags")):
                name = _TAG_FIELDS.get(m.group(1).lower())
                if name:
                    a, b = m.span(2)
                    value = line[a:b]
                    a += len(value) - len(value.lstrip())
                    b -= len(value) - len(value.rstrip())
                    tags[name] = (a, max(a, b))
        if "db_connection" not in tags:
            found = _DB_CONNECTION.search(line, start, end)
            if found:
                tags["db_connection"] = found.span(1)
        signature, spans = self._signature(line, start, max(start, end))
        if signature == UNCLASSIFIED:
            severity = _LEVEL_SEVERITY.get(level or "", "info")
        else:
            severity = BY_ID[signature].severity
        fields, numbers = [], []
        for name, (a, b) in spans.items():
            cleaned = clean_span(line, a, b)
            if cleaned is None:
                continue
            if name not in INT_FIELDS:
                fields.append((name, *cleaned))
            elif line[cleaned[0]:cleaned[1]].isdigit():
                numbers.append((name, *cleaned))
        return _Shape(
            signature=signature,
            severity=severity,
            level=level,
            redact=redact,
            message=(start, max(start, end)),
            timestamp=_span(env, "t2") or _span(env, "t1"),
            stream=_span(env, "stream"),
            endpoint=tags.get("endpoint"),
            client_connection=tags.get("client_connection"),
            db_connection=tags.get("db_connection"),
            fields=tuple(fields),
            numbers=tuple(numbers),
        )


@cache
def classifier() -> Classifier:
    """The catalog's classifier, compiled once per process."""
    return Classifier()


def classify(line: str, **kwargs: Any) -> LogEvent:
    """Classify one line with the catalog (see :meth:`Classifier.classify`)."""
    return classifier().classify(line, **kwargs)


def read_lines(stream: IO[bytes], max_bytes: int = MAX_LINE_BYTES,
               chunk_size: int = 1 << 16) -> Iterator[str]:
    """The lines of a binary stream as text, whatever its bytes.

    Invalid UTF-8 becomes U+FFFD, NUL and other control characters stay (the
    renderers escape them), and a line longer than ``max_bytes`` is cut there: the
    rest of it is read and dropped, never held in memory.  Reads what is available
    (``read1``), so a pipe's lines come out as they arrive.
    """
    read = getattr(stream, "read1", stream.read)
    carry = b""
    skipping = False  # inside the rest of an over-long line
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        end = chunk.rfind(b"\n")
        if skipping:
            if end < 0:
                continue
            start = chunk.find(b"\n") + 1
            block, carry, skipping = chunk[start:end], chunk[end + 1:], False
            if start > end:  # the long line's end was the chunk's last newline
                block = None
        elif end < 0:
            carry += chunk
            block = None
        else:
            block, carry = carry + chunk[:end], chunk[end + 1:]
        if block is not None:
            parts = block.split(b"\n")
            if max(map(len, parts)) > max_bytes:
                parts = [p[:max_bytes] for p in parts]
            text = b"\n".join(parts).decode("utf-8", "replace")
            if "\r" in text:
                text = text.replace("\r\n", "\n").removesuffix("\r")
            yield from text.split("\n")
        if len(carry) >= max_bytes:
            yield carry[:max_bytes].decode("utf-8", "replace").removesuffix("\r")
            carry, skipping = b"", True
    if carry:
        yield carry.decode("utf-8", "replace").removesuffix("\r")


def classify_lines(lines: Iterable[str]) -> Iterator[LogEvent]:
    """Classify lines lazily (blank lines are skipped)."""
    c = classifier()
    for line in lines:
        if line.strip():
            yield c.classify(line)
