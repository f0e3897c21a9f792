"""What to show: the time window and the selection of events, checked before any AWS call.

``--since``/``--until`` take a duration back from now (``90s``, ``15m``, ``2h``, ``1d``,
``1w``, or combined: ``1h30m``) or an ISO 8601 time (``2024-05-01``,
``2024-05-01T10:00``, ``2024-05-01T10:00:00+02:00``; without an offset, UTC).

A :class:`Selection` keeps events by signature id (exact ids or globs such as
``pinned-*``, plus ``unclassified``), minimum severity (``--errors`` is ``warn``),
proxy endpoint and a local regex on the raw line; it also proposes the server-side
filter pattern that cuts transfer for that selection (:mod:`.patterns`).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from rdsproxyctl.core.logs.classify import LogEvent
from rdsproxyctl.core.logs.patterns import build_filter_pattern
from rdsproxyctl.core.logs.signatures import (
    BY_ID,
    SEVERITIES,
    SEVERITY_RANK,
    SIGNATURES,
    UNCLASSIFIED,
)
from rdsproxyctl.core.duration import parse_seconds
from rdsproxyctl.errors import UsageError

TIME_HELP = ("a duration back from now (900, 15m, 2h, 1d, 1h30m) or an ISO 8601 time (UTC unless it "
             "has an offset)")


def parse_time(value: str, *, now: dt.datetime, option: str = "--since") -> dt.datetime:
    """``value`` as an aware UTC datetime; :class:`UsageError` (exit 2) if it is neither form."""
    text = value.strip()
    seconds = parse_seconds(text)
    if seconds is not None:
        if seconds <= 0:
            raise UsageError(f"{option} {value!r} must be more than zero")
        try:
            return now - dt.timedelta(seconds=seconds)
        except OverflowError:
            raise UsageError(f"{option} {value!r} is too far back") from None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not {TIME_HELP}",
            hint=f"e.g. {option} 15m, {option} 2h, {option} 2024-05-01T10:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def to_millis(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass(frozen=True)
class Window:
    """The time range to read, in milliseconds since the epoch (``end`` None: up to now)."""

    start: int
    end: int | None = None

    @classmethod
    def parse(cls, since: str, until: str | None = None, *,
              now: dt.datetime | None = None) -> Window:
        now = now or dt.datetime.now(dt.timezone.utc)
        start = parse_time(since, now=now, option="--since")
        end = parse_time(until, now=now, option="--until") if until else None
        if start > now:
            raise UsageError(f"--since {since!r} is in the future")
        if end is not None and end <= start:
            raise UsageError(f"--until {until!r} is not after --since {since!r}")
        return cls(to_millis(start), to_millis(end) if end else None)


def resolve_signatures(patterns: Iterable[str]) -> frozenset[str]:
    """Ids (or globs) given to ``--signature`` -> catalog ids; unknown -> UsageError."""
    known = [s.id for s in SIGNATURES] + [UNCLASSIFIED]
    chosen: set[str] = set()
    for pattern in patterns:
        hits = [i for i in known if fnmatch.fnmatchcase(i, pattern.strip())]
        if not hits:
            raise UsageError(f"unknown signature {pattern!r}",
                             hint="known: " + ", ".join(known) + " (globs such as 'iam-auth-*' work)")
        chosen.update(hits)
    return frozenset(chosen)


@dataclass(frozen=True)
class Selection:
    """Which classified events to keep.  The default keeps everything."""

    signatures: frozenset[str] | None = None  # None: any signature (and unclassified)
    min_severity: str | None = None  # None: any severity
    endpoint: str | None = None
    grep: re.Pattern[str] | None = None

    @classmethod
    def build(cls, *, signatures: Iterable[str] = (), errors: bool = False,
              min_severity: str | None = None, endpoint: str | None = None,
              grep: str | None = None) -> Selection:
        """From CLI-style values, checked: an unknown signature, a bad endpoint name or
        regex -> UsageError."""
        from rdsproxyctl.core.validate import check_name

        ids = resolve_signatures(signatures) if signatures else None
        if endpoint:
            check_name(endpoint, "endpoint name")
        severity = "warn" if errors else min_severity
        if severity is not None and severity not in SEVERITIES:
            raise UsageError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
        regex = None
        if grep is not None:
            try:
                regex = re.compile(grep)
            except re.error as exc:
                raise UsageError(
                    f"--grep {grep!r} is not a valid regular expression: {exc}") from None
        return cls(ids, severity, endpoint or None, regex)

    @property
    def keeps_all(self) -> bool:
        return self == Selection()

    def keep(self, event: LogEvent) -> bool:
        if self.signatures is not None and event.signature not in self.signatures:
            return False
        if (self.min_severity is not None
                and SEVERITY_RANK[event.severity] < SEVERITY_RANK[self.min_severity]):
            return False
        if self.endpoint is not None and event.endpoint != self.endpoint:
            return False
        return self.grep is None or self.grep.search(event.raw) is not None

    def filter_pattern(self) -> str | None:
        """The CloudWatch filter pattern that fetches (at least) what this keeps."""
        rank = SEVERITY_RANK[self.min_severity] if self.min_severity else 0
        wanted = self.signatures if self.signatures is not None else {*BY_ID, UNCLASSIFIED}
        ids = [s.id for s in SIGNATURES if s.id in wanted and SEVERITY_RANK[s.severity] >= rank]
        levels: list[str] | None = []
        if UNCLASSIFIED in wanted:
            # an unclassified line can be searched for by its level only, and not below warn
            levels = [s for s in SEVERITIES if SEVERITY_RANK[s] >= rank] if rank else None
        return build_filter_pattern(ids, unclassified_levels=levels, endpoint=self.endpoint)
