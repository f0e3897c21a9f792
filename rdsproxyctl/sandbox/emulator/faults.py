"""The emulator's side of the sandbox's faults and limits, per proxy (by its ``prx-`` id).

* ``latency``: seconds the database's answer to each statement is held back (``db-slow``:
  the relay reads the answer, waits, then handles it, so it looks like a slow database);
* ``client_limit``: at most that many client connections at once; the next one gets
  "The maximum number of client connections to the proxy exceeded N.";
* ``rate_limit``: at most that many new client connections per second; the next one
  gets "Rate of connection to proxy exceeded N." (both texts: RDS Proxy's troubleshooting
  page, https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html);
* ``held``: backend connections borrowed from the proxy's pools and held (``pool-exhausted``).

The session asks :meth:`FaultTable.admit` once it knows its proxy, :meth:`latency` when it
forwards a statement, and :meth:`leave` at its end.  Nothing here knows the wire protocol.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ProxyFaults:
    latency: float = 0.0
    client_limit: int | None = None
    rate_limit: int | None = None
    clients: int = 0
    accepted: collections.deque[float] = field(default_factory=collections.deque)
    held: list[tuple[Any, Any]] = field(default_factory=list)  # (pool, connection)

    @property
    def idle(self) -> bool:
        return (not self.latency and self.client_limit is None and self.rate_limit is None
                and not self.held and not self.clients)


class Refusal(Exception):
    """A new client over a limit: ``key`` in messages.CLIENT, with ``limit``."""

    def __init__(self, key: str, limit: int) -> None:
        super().__init__(key)
        self.key = key
        self.limit = limit


class FaultTable:
    def __init__(self) -> None:
        self.proxies: dict[str, ProxyFaults] = {}

    def of(self, proxy_id: str) -> ProxyFaults:
        faults = self.proxies.get(proxy_id)
        if faults is None:
            faults = self.proxies[proxy_id] = ProxyFaults()
        return faults

    def admit(self, proxy_id: str, now: float | None = None) -> None:
        """Count a new client of the proxy, or refuse it (:class:`Refusal`)."""
        f = self.of(proxy_id)
        now = time.monotonic() if now is None else now
        if f.rate_limit is not None:
            while f.accepted and now - f.accepted[0] >= 1.0:
                f.accepted.popleft()
            if len(f.accepted) >= f.rate_limit:
                raise Refusal("connection_rate", f.rate_limit)
            f.accepted.append(now)
        if f.client_limit is not None and f.clients >= f.client_limit:
            raise Refusal("max_client_connections", f.client_limit)
        f.clients += 1

    def leave(self, proxy_id: str) -> None:
        f = self.proxies.get(proxy_id)
        if f is not None and f.clients > 0:
            f.clients -= 1

    def latency(self, proxy_id: str) -> float:
        f = self.proxies.get(proxy_id)
        return f.latency if f is not None else 0.0

    def snapshot(self) -> dict[str, Any]:
        return {pid: {"latency": f.latency, "client_limit": f.client_limit,
                      "rate_limit": f.rate_limit, "clients": f.clients, "held": len(f.held)}
                for pid, f in self.proxies.items() if not f.idle}
