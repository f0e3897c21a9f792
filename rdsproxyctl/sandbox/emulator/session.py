"""A client session's pooling life, whatever the engine's wire protocol.

An engine adapter (PostgreSQL: :mod:`.pgsession` and :mod:`.pgrelay`) reads and writes
the client's and the database's messages; it tells the :class:`SessionCore` what
happened, and the core decides about connections, as RDS Proxy does
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-pinning.html):

* ``await core.borrow()`` when a request arrives and the session holds no connection
  (the first message after the end of a transaction): a connection of the session's
  (user, database) from the target's pool, waiting in the pool's FIFO queue up to
  ConnectionBorrowTimeout (:class:`~.pool.BorrowTimeout`); the adapter then prepares it
  for this session (its startup parameters).
* ``core.transaction_ended()`` when the database says no transaction is open and no
  request is in flight: the connection goes back to the pool as it is, unless the session
  is pinned.
* ``core.pin(reason)`` when the session changed state the proxy cannot carry to another
  connection: one WARN line in the log, and the session keeps its connection to its end.
* ``core.finish(...)`` at the end: a connection still held is reset (pinned, or left in a
  transaction) or closed at once (a request in flight), then returned.
* ``core.idle_timeout()``: IdleClientTimeout, read live, counted by the adapter from
  ``core.request_done()`` (the end of the last request).

The core keeps the per-proxy counters behind the CloudWatch metrics (:mod:`.metrics`).
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

from rdsproxyctl.sandbox.emulator import iamtoken, routing
from rdsproxyctl.sandbox.emulator.messages import IAM_REASONS, PIN_REASONS
from rdsproxyctl.sandbox.emulator.pool import BorrowTimeout, PoolKey

#: How often a session looks its target and pool up again (a moved or removed target).
RESOLVE_EVERY = 1.0

if TYPE_CHECKING:
    from rdsproxyctl.sandbox.emulator.control import ProxyView, TargetView
    from rdsproxyctl.sandbox.emulator.server import Emulator


class SessionCore:
    """Borrowing, returning and pinning for one client session."""

    def __init__(self, emulator: Emulator, address: str, proxy: ProxyView) -> None:
        self.em = emulator
        self.address = address
        self.proxy = proxy
        self.id = random.randrange(10_000_000, 99_999_999)  # [clientConnection=N]
        self.key: PoolKey | None = None
        self.password: str | None = None
        self.pool: Any = None
        self.backend: Any = None
        self.pinned: str | None = None  # the PIN_REASONS key
        self.authenticated = False
        self.in_transaction = False  # the adapter's last word from the database
        self.tls = False
        self.counters = emulator.metrics.proxy(proxy.resource_id)
        self.last_request_end = asyncio.get_running_loop().time()
        self._resolved = 0.0  # when the target and its pool were last looked up
        self._epoch = -1  # routing.epoch() then
        self._events: Any = None

    # -- logging ---------------------------------------------------------------------------
    def log(self, key: str, **values: Any) -> None:
        self.em.shipper.emit(self.proxy.name, self.proxy.resource_id, key,
                             endpoint=self.proxy.endpoint_name, client=self.id, **values)

    def events(self) -> Any:
        if self._events is None:
            self._events = self.em.pool_events(self.proxy, self.id, self.proxy.endpoint_name)
        return self._events

    # -- IAM authentication (engine-neutral) -------------------------------------------------
    def iam_token_accepted(self, proxy: ProxyView, user: str, token: str, port: int) -> bool:
        """Whether ``token`` is a valid IAM token of a principal allowed ``rds-db:connect``
        as ``user``; logs the outcome.  Each adapter refuses in its own words."""
        control = self.em.control
        try:
            # signed for the endpoint's host name, or for the address it resolves to
            hosts = (proxy.address, self.em.aliases.get(proxy.address, proxy.address))
            _, key = iamtoken.verify(token, user=user, host=hosts, port=port,
                                     region=proxy.region, lookup=control.signing_key)
            resource = control.dbuser_arn(proxy, user)
            if control.decision(key.principal_arn, "rds-db:connect", resource) != "allowed":
                raise iamtoken.TokenRejected("not_authorized", principal=key.principal_arn,
                                             resource=resource)
        except iamtoken.TokenRejected as rejected:
            reason = IAM_REASONS[rejected.reason].format(**rejected.values)
            self.log("iam_auth_failed", user=user, reason=reason)
            return False
        self.log("iam_auth_succeeded", user=user)
        return True

    # -- settings, read live -----------------------------------------------------------------
    def current_proxy(self) -> ProxyView:
        """The proxy's settings as of now (the emulator reuses a look-up for 0.25 s)."""
        return self.em.proxy_view(self.address) or self.proxy

    def idle_timeout(self) -> float:
        return float(self.current_proxy().idle_client_timeout)

    def request_done(self) -> None:
        self.last_request_end = asyncio.get_running_loop().time()

    # -- borrowing -----------------------------------------------------------------------------
    async def _target(self, deadline: float) -> TargetView:
        """The writer (READ_WRITE endpoints) or a reader (READ_ONLY ones) that serves now,
        waiting for one (a failover) until ``deadline`` (:mod:`.routing`; raises
        routing.NoReaders for a READ_ONLY endpoint without readers)."""
        loop = asyncio.get_running_loop()
        control = self.em.control
        while True:
            target = routing.choose(control.targets(self.proxy.name), self.proxy.target_role,
                                    lambda rid: control.health(self.proxy.name, rid))
            if target is not None:
                return target
            if loop.time() >= deadline:
                raise BorrowTimeout(0, 0, 0, None)
            await asyncio.sleep(0.1)

    async def borrow(self) -> Any:
        """A connection for this session (raises BorrowTimeout or BackendError)."""
        assert self.key is not None and self.backend is None
        loop = asyncio.get_running_loop()
        started = loop.time()
        pool = self.pool
        if (pool is not None and not pool.closed and started - self._resolved < RESOLVE_EVERY
                and self._epoch == routing.epoch()):
            timeout = pool.limits().borrow_timeout
        else:  # which target, which pool: asked again every RESOLVE_EVERY seconds
            settings = self.em.control.pool_settings(self.proxy.name)
            timeout = float(settings.borrow_timeout if settings else 0)
            pool = None
        try:
            if pool is None:
                self._epoch = routing.epoch()
                target = await self._target(started + timeout)
                pool = self.pool = self.em.pool_for(self.proxy, target)
                self._resolved = started
            self.backend = await pool.acquire(self.key, self.password, events=self.events())
        except BorrowTimeout as exc:
            self.log("borrow_timeout", seconds=int(timeout), open=exc.open_count, cap=exc.cap)
            raise
        self.counters.borrow_latency.add((loop.time() - started) * 1e6)
        return self.backend

    def transaction_ended(self) -> None:
        """The database is idle, outside a transaction, with nothing in flight: return the
        connection as it is, unless the session is pinned."""
        if self.backend is None or self.pinned is not None:
            return
        conn, self.backend = self.backend, None
        self.in_transaction = False
        self.pool.release(conn, events=self.events())

    def pin(self, reason: str, **values: Any) -> None:
        """Pin the session to its connection for the rest of the session (once)."""
        if self.pinned is not None or self.backend is None:
            return
        self.pinned = reason
        self.log("pinned", db=self.backend.id, reason=PIN_REASONS[reason].format(**values))

    def finish(self, *, mid_request: bool, needs_reset: bool) -> None:
        """The session ended: give back a connection it still holds."""
        conn, self.backend = self.backend, None
        if conn is None or self.pool is None:
            return
        if mid_request:
            self.pool.release(conn, abort=True, events=self.events())
        else:
            self.pool.release(conn, reset=needs_reset or self.pinned is not None,
                              events=self.events())
