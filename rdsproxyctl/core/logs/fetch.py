"""Read a proxy's CloudWatch Logs group: streaming, classified, and followed.

Events come from ``FilterLogEvents`` through botocore's paginator at the largest page
size (10,000 events), page by page: memory holds one page, however many events the
window has.  ``follow`` keeps polling after the window's end and never yields an
event twice: it remembers the ids of the events inside a short look-back window
(events can reach CloudWatch a little out of order), forgets those older than the
window, and backs off while the group is idle.

The log group is ``/aws/rds/proxy/NAME``; RDS Proxy creates it with its first log
line, so a proxy that never had a client has none (the error says so).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from rdsproxyctl.core.awserrors import aws_errors
from rdsproxyctl.core.logs.classify import LogEvent, classifier
from rdsproxyctl.core.logs.query import Selection, Window
from rdsproxyctl.core.models import LOG_GROUP_PREFIX
from rdsproxyctl.errors import NotFound, RdsProxyCtlError

if TYPE_CHECKING:  # pragma: no cover
    from rdsproxyctl.core.aws import Aws

#: FilterLogEvents returns at most 10,000 events per call.
PAGE_SIZE = 10_000
#: ``follow``: how far back each poll looks again for late events (milliseconds).
LOOKBACK_MS = 10_000
#: ``follow``: the wait between polls, doubling while nothing new arrives.
MIN_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 10.0


T = TypeVar("T")


def log_group(proxy: str) -> str:
    return LOG_GROUP_PREFIX + proxy


@lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def iso_millis(millis: int) -> str:
    """``1666373129482`` -> ``2022-10-21T17:25:29.482+00:00`` (UTC, like every time we print)."""
    seconds, ms = divmod(int(millis), 1000)
    return f"{_second(seconds)}.{ms:03d}+00:00"


def missing_log_group(aws: Aws, proxy: str, known_proxy: bool = False) -> NotFound:
    """The error for a log group that does not exist, saying why it may not
    (``known_proxy``: the caller knows the proxy exists; no need to look)."""
    from rdsproxyctl.core import proxies

    group = log_group(proxy)
    try:
        if not known_proxy:
            proxies.get_proxy(aws, proxy)
    except NotFound as err:  # the proxy itself is missing: that is the real news
        return NotFound(f"{err.message}, and there is no log group {group}", hint=err.hint)
    except RdsProxyCtlError:  # no rds:DescribeDBProxies: say both possibilities
        return NotFound(
            f"log group {group} does not exist in {aws.region_or_none or '?'}",
            hint="the proxy may never have had traffic (RDS Proxy creates the group with its "
                 "first log line), or the name or region is wrong",
        )
    return NotFound(
        f"log group {group} does not exist yet: proxy {proxy} has never logged anything",
        hint="RDS Proxy creates the group when it writes its first line, usually when the "
             "first client connects; connect once and retry",
    )


@contextmanager
def _group_errors(aws: Aws, proxy: str, known_proxy: bool = False) -> Iterator[None]:
    try:
        with aws_errors(aws, proxy=proxy, log_group=log_group(proxy)):
            yield
    except NotFound as err:  # the only thing FilterLogEvents can miss is the group
        raise missing_log_group(aws, proxy, known_proxy) from err


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced by a background thread up to ``depth`` items ahead.

    Fetching the next page (an HTTP round trip) then overlaps with the caller's work
    on the current one; memory holds ``depth + 1`` pages.  The producer's exception
    is raised here, in the caller's thread; closing this generator (or Ctrl-C in the
    caller) stops the producer at its next page.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            handoff.put(("error", exc))

    threading.Thread(target=produce, name="rdsproxyctl-read-ahead", daemon=True).start()
    try:
        while True:
            kind, item = handoff.get()
            if kind == "item":
                yield item
            elif kind == "done":
                return
            else:
                raise item
    finally:
        stop.set()


def raw_pages(aws: Aws, proxy: str, *, start: int, end: int | None = None,
              filter_pattern: str | None = None, page_size: int = PAGE_SIZE,
              known_proxy: bool = False) -> Iterator[list[dict[str, Any]]]:
    """The group's events from ``start`` (ms) to ``end``, one page (a list) at a time."""
    params: dict[str, Any] = {
        "logGroupName": log_group(proxy),
        "startTime": start,
        "PaginationConfig": {"PageSize": page_size},
    }
    if end is not None:
        params["endTime"] = end
    if filter_pattern:
        params["filterPattern"] = filter_pattern
    client = aws.client("logs")
    with _group_errors(aws, proxy, known_proxy):
        for page in read_ahead(client.get_paginator("filter_log_events").paginate(**params)):
            yield page.get("events") or []


def _classify_page(raw: list[dict[str, Any]], selection: Selection) -> list[LogEvent]:
    classify = classifier().classify
    events = (classify(e.get("message") or "", timestamp=iso_millis(e.get("timestamp", 0)),
                       log_stream=e.get("logStreamName")) for e in raw)
    return list(events) if selection.keeps_all else [e for e in events if selection.keep(e)]


def pages(aws: Aws, proxy: str, window: Window, selection: Selection | None = None, *,
          filter_pattern: str | None = None,
          known_proxy: bool = False) -> Iterator[list[LogEvent]]:
    """Classified events of ``window`` that ``selection`` keeps, a page at a time.

    ``filter_pattern`` (default: the selection's own) goes to CloudWatch as is.
    """
    selection = selection or Selection()
    pattern = filter_pattern if filter_pattern is not None else selection.filter_pattern()
    for raw in raw_pages(aws, proxy, start=window.start, end=window.end, filter_pattern=pattern,
                         known_proxy=known_proxy):
        yield _classify_page(raw, selection)


def fetch_events(aws: Aws, proxy: str, since: str = "10m", until: str | None = None, *,
                 selection: Selection | None = None, filter_pattern: str | None = None,
                 known_proxy: bool = False) -> Iterator[LogEvent]:
    """The proxy's classified log events, streamed: ``fetch_events(aws, "demo", "5m")``.

    The library entry point (the sandbox's end-to-end tests use it): ``since`` and
    ``until`` take what ``--since``/``--until`` take.
    """
    window = Window.parse(since, until)
    for page in pages(aws, proxy, window, selection, filter_pattern=filter_pattern,
                      known_proxy=known_proxy):
        yield from page


def follow(aws: Aws, proxy: str, start: int, selection: Selection | None = None, *,
           filter_pattern: str | None = None, lookback_ms: int = LOOKBACK_MS,
           min_poll: float = MIN_POLL_SECONDS, max_poll: float = MAX_POLL_SECONDS,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[list[LogEvent]]:
    """Events from ``start`` (ms) on, then new ones as they arrive; never ends by itself.

    Yields a (possibly empty) list per page and one after each idle poll, so a caller
    can flush its output.  Each event is yielded once: each poll asks again from
    ``lookback_ms`` before the newest event seen and skips the ids it already gave;
    ids older than that are forgotten, so memory stays bounded by the look-back.
    Between polls it sleeps ``min_poll`` seconds, doubling up to ``max_poll`` while
    nothing new arrives.  Stop it by closing it, or with Ctrl-C (KeyboardInterrupt).
    """
    selection = selection or Selection()
    pattern = filter_pattern if filter_pattern is not None else selection.filter_pattern()
    seen: dict[str, int] = {}  # eventId -> timestamp, for events at or after `since`
    since = start
    wait = min_poll
    while True:
        newest = since
        fresh = 0
        for raw in raw_pages(aws, proxy, start=since, filter_pattern=pattern):
            new = []
            for e in raw:
                event_id, ts = e.get("eventId"), int(e.get("timestamp", 0))
                if event_id in seen:
                    continue
                seen[event_id] = ts
                newest = max(newest, ts)
                new.append(e)
            fresh += len(new)
            # events come in timestamp order: ids older than the next poll's start can go
            floor = newest - lookback_ms
            seen = {k: ts for k, ts in seen.items() if ts >= floor}
            yield _classify_page(new, selection)
        since = max(since, newest - lookback_ms)
        wait = min_poll if fresh else min(max_poll, wait * 2)
        yield []
        sleep(wait)
