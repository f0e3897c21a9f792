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
from dataclasses import dataclass, field
from functools import cache
from typing import IO, Any

from rdsproxyctl.core.logs.signatures import (
    BY_ID,
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


@dataclass(slots=True)
class LogEvent:
    """One classified log line.  ``to_json()`` gives its stable JSON keys."""

    message: str
    signature: str
    severity: str
    timestamp: str | None = None
    level: str | None = None
    endpoint: str | None = None
    client_connection: str | None = None
    db_connection: str | None = None
    log_stream: str | None = None
    #: What the signature extracted (user, reason, digest, client_address, limit ...).
    fields: dict[str, Any] = field(default_factory=dict)
    #: The whole line as received (redacted), for ``--grep``; not in JSON.
    raw: str = ""

    def to_json(self) -> dict[str, Any]:
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
            **self.fields,
        }


def clean(name: str, value: str | None) -> Any:
    """A field as JSON shows it: trimmed of blanks, trailing punctuation and outer quotes."""
    if value is None:
        return None
    value = value.strip().rstrip(".,;:").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in _QUOTES:
        value = value[1:-1].strip()
    if not value:
        return None
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return None
    return value


_GROUP = re.compile(r"\(\?P<(\w+)>")
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
Span = tuple[int, int]


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
        index = self.regex.groupindex
        #: outermost group number -> (row, [(field, group number)])
        self.rows: dict[int, tuple[Signature, list[tuple[str, int]]]] = {
            index[f"a{k}"]: (sig, [(name, index[f"a{k}_{name}"])
                                   for name in re.compile(pattern).groupindex])
            for k, (sig, pattern) in enumerate(entries)
        }

    def find(self, text: str, pos: int, endpos: int) -> tuple[Signature, dict[str, Span], int] | None:
        """The row found in ``text[pos:endpos]``, its fields' spans, and where it ended."""
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
    message: Span
    timestamp: Span | None
    stream: Span | None
    endpoint: Span | None
    client_connection: Span | None
    db_connection: Span | None
    fields: tuple[tuple[str, Span], ...]

    def event(self, line: str, timestamp: str | None, log_stream: str | None) -> LogEvent:
        fields = {}
        for name, (a, b) in self.fields:
            value = clean(name, line[a:b])
            if value is not None:
                fields[name] = value
        return LogEvent(
            line[self.message[0]:self.message[1]],
            self.signature,
            self.severity,
            timestamp or _cut(line, self.timestamp),
            self.level,
            _cut(line, self.endpoint),
            _cut(line, self.client_connection),
            _cut(line, self.db_connection),
            log_stream or _cut(line, self.stream),
            fields,
            line,
        )


def _cut(line: str, span: Span | None) -> str | None:
    return None if span is None else line[span[0]:span[1]]


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
        low = line.lower()
        if "password" in low or "x-amz-" in low or "://" in low:
            line = redact_text(line)
        key = line.encode("utf-8", "surrogatepass").translate(_DIGITS)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shape(line)
            if len(self._shapes) >= self.cache_size:
                self._shapes.clear()
            self._shapes[key] = shape
        return shape.event(line, timestamp, log_stream)

    def _signature(self, line: str, start: int, end: int) -> tuple[str, dict[str, Span]]:
        found = self.top.find(line, start, min(end, start + SEARCH_LIMIT))
        if found is None:
            return UNCLASSIFIED, {}
        sig, spans, stop = found
        while sig.id in self.refine:
            reason = spans.get("reason")
            a, b = reason if reason and reason[0] < reason[1] else (stop, min(end, start + SEARCH_LIMIT))
            refined = self.refine[sig.id].find(line, a, b)
            if refined is None:
                break
            sig, extra, _ = refined
            spans.update(extra)
        return sig.id, spans

    def _shape(self, line: str) -> _Shape:
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
        return _Shape(
            signature=signature,
            severity=severity,
            level=level,
            message=(start, max(start, end)),
            timestamp=_span(env, "t2") or _span(env, "t1"),
            stream=_span(env, "stream"),
            endpoint=tags.get("endpoint"),
            client_connection=tags.get("client_connection"),
            db_connection=tags.get("db_connection"),
            fields=tuple(spans.items()),
        )

    def signature_of(self, message: str) -> tuple[str, dict[str, Any]]:
        """``(signature id, fields)`` of a message without envelope (uncached)."""
        signature, spans = self._signature(message, 0, len(message))
        fields = {name: clean(name, message[a:b]) for name, (a, b) in spans.items()}
        return signature, {k: v for k, v in fields.items() if v is not None}


@cache
def classifier() -> Classifier:
    """The catalog's classifier, compiled once per process."""
    return Classifier()


def classify(line: str, **kwargs: Any) -> LogEvent:
    """Classify one line with the catalog (see :meth:`Classifier.classify`)."""
    return classifier().classify(line, **kwargs)


def read_lines(stream: IO[bytes], max_bytes: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The lines of a binary stream as text, whatever its bytes.

    Invalid UTF-8 becomes U+FFFD, NUL and other control characters stay (the
    renderers escape them), and a line longer than ``max_bytes`` is cut there: the
    rest of it is read and dropped in chunks, never held in memory.
    """
    while True:
        chunk = stream.readline(max_bytes)
        if not chunk:
            return
        if not chunk.endswith(b"\n") and len(chunk) >= max_bytes:
            while True:  # skip the rest of an over-long line
                rest = stream.readline(max_bytes)
                if not rest or rest.endswith(b"\n"):
                    break
        yield chunk.decode("utf-8", "replace").rstrip("\r\n")


def classify_lines(lines: Iterable[str]) -> Iterator[LogEvent]:
    """Classify lines lazily (blank lines are skipped)."""
    c = classifier()
    for line in lines:
        if line.strip():
            yield c.classify(line)
