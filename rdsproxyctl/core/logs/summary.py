"""Summaries of classified events: a count per signature with its remedy, top users,
top pinning reasons and digests.  Built in one streaming pass (memory grows with the
number of distinct signatures, users, reasons and digests, not with events)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from rdsproxyctl.core.logs.classify import LogEvent
from rdsproxyctl.core.logs.signatures import BY_ID, SEVERITY_RANK, SIGNATURES, UNCLASSIFIED

#: The pinning rows (their reasons and digests are ranked).
_PINNED = frozenset(s.id for s in SIGNATURES if s.id == "pinned" or s.parent == "pinned")


@dataclass(frozen=True)
class SignatureCount:
    signature: str
    severity: str
    title: str
    count: int
    first_seen: str | None
    last_seen: str | None
    cause: str
    remedy: str
    doc: str | None


@dataclass(frozen=True)
class Ranked:
    value: str
    count: int


@dataclass(frozen=True)
class Summary:
    """What ``logs summary`` (and ``logs classify --summary``) reports."""

    json_properties: ClassVar[tuple[str, ...]] = ("failed",)

    events: int
    classified: int
    unclassified: int
    signatures: list[SignatureCount]
    top_users: list[Ranked]
    top_pinning_reasons: list[Ranked]
    top_digests: list[Ranked]
    worst_severity: str | None
    fail_on: str
    failing: list[str]
    proxy: str | None = None
    log_group: str | None = None
    file: str | None = None
    since: str | None = None
    until: str | None = None
    filter_pattern: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.failing)


@dataclass
class _Seen:
    count: int = 0
    first: str | None = None
    last: str | None = None


@dataclass
class Summarizer:
    """Feed events with :meth:`add` (or :meth:`add_all`), then take :meth:`result`."""

    top: int = 10
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _users: Counter[str] = field(default_factory=Counter)
    _reasons: Counter[str] = field(default_factory=Counter)
    _digests: Counter[str] = field(default_factory=Counter)
    _events: int = 0
    _unclassified: int = 0

    @property
    def events(self) -> int:
        """Events added so far."""
        return self._events

    def add(self, event: LogEvent) -> None:
        self._events += 1
        signature = event.signature
        if signature == UNCLASSIFIED:
            self._unclassified += 1
            return
        seen = self._seen.get(signature)
        if seen is None:
            seen = self._seen[signature] = _Seen()
        seen.count += 1
        ts = event.timestamp
        if ts is not None:
            if seen.first is None or ts < seen.first:
                seen.first = ts
            if seen.last is None or ts > seen.last:
                seen.last = ts
        fields = event.fields
        if fields:
            user = fields.get("user")
            if user is not None:
                self._users[user] += 1
            if signature in _PINNED:
                reason = fields.get("reason")
                if reason is not None:
                    self._reasons[reason] += 1
                digest = fields.get("digest")
                if digest is not None:
                    self._digests[digest] += 1

    def add_all(self, events: Iterable[LogEvent]) -> Summarizer:
        for event in events:
            self.add(event)
        return self

    def result(self, fail_on: str = "error", **context: str | None) -> Summary:
        rows = []
        for sig_id, seen in self._seen.items():
            sig = BY_ID[sig_id]
            rows.append(SignatureCount(sig_id, sig.severity, sig.title, seen.count, seen.first,
                                       seen.last, sig.cause, sig.remedy, sig.doc))
        rows.sort(key=lambda r: (-SEVERITY_RANK[r.severity], -r.count, r.signature))
        worst = rows[0].severity if rows else None
        threshold = SEVERITY_RANK.get(fail_on)
        failing = [] if threshold is None else [
            r.signature for r in rows if SEVERITY_RANK[r.severity] >= threshold]

        def ranked(counter: Counter[str]) -> list[Ranked]:
            return [Ranked(v, n) for v, n in counter.most_common(self.top)]

        return Summary(
            events=self._events,
            classified=self._events - self._unclassified,
            unclassified=self._unclassified,
            signatures=rows,
            top_users=ranked(self._users),
            top_pinning_reasons=ranked(self._reasons),
            top_digests=ranked(self._digests),
            worst_severity=worst,
            fail_on=fail_on,
            failing=failing,
            **context,  # type: ignore[arg-type]
        )
