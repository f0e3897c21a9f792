"""Proxy log lines, in RDS Proxy's format, shipped in batches to CloudWatch Logs.

Each proxy writes to the log group ``/aws/rds/proxy/NAME`` (created when first
needed, as RDS Proxy does), stream ``prx-ID`` (the proxy's resource id).  Lines are
queued by the emulator and flushed by :meth:`LogShipper.run` every
``FLUSH_INTERVAL`` seconds, or sooner when a batch fills up.  Every line is also
appended to ``emulator.log`` in the sandbox's state directory.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

from rdsproxyctl.sandbox.emulator.messages import LOG, log_line
from rdsproxyctl.sandbox.state import open_private  # 0600: log lines hold user names, SQL

log = logging.getLogger("rdsproxyctl.sandbox")

LOG_GROUP_PREFIX = "/aws/rds/proxy/"
FLUSH_INTERVAL = 0.5
MAX_BATCH = 500


class LogShipper:
    """Formats lines and ships them to each proxy's log group."""

    def __init__(self, control: Any, file: Path | None = None) -> None:
        self.control = control
        self._pending: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self._file: IO[str] | None = open_private(file, "a", buffering=1) if file else None
        self._wake = asyncio.Event()

    def emit(self, proxy_name: str, proxy_id: str, key: str, *, endpoint: str | None = "default",
             client: int | None = None, **values: Any) -> str:
        """Queue the ``LOG[key]`` line for a proxy; returns the line."""
        entry = LOG[key]
        now = _dt.datetime.now(_dt.timezone.utc)
        line = log_line(now, entry.level, entry.format(**values), endpoint=endpoint, client=client)
        batch = self._pending[(proxy_name, proxy_id)]
        batch.append({"timestamp": int(now.timestamp() * 1000), "message": line})
        if self._file is not None:
            self._file.write(f"{proxy_name}: {line}\n")
        if len(batch) >= MAX_BATCH:
            self._wake.set()
        return line

    def flush(self) -> None:
        pending, self._pending = self._pending, defaultdict(list)
        for (name, proxy_id), events in pending.items():
            try:
                self.control.put_log_events(LOG_GROUP_PREFIX + name, proxy_id, events)
            except Exception:  # noqa: BLE001 - never let logging take the proxy down
                log.exception("could not ship %d log lines for %s", len(events), name)

    async def run(self) -> None:
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
                self.flush()
        finally:
            self.flush()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
