"""Listeners, pools and metrics: the proxy itself, whatever the engine.

Each proxy endpoint listens on its own loopback address (``127.0.0.N:5432``), bound by
:class:`LoopbackAllocator` at the moment the API creates the proxy or endpoint.  An
accepted connection goes to the engine adapter of the proxy's engine family
(``ADAPTERS``: PostgreSQL is :mod:`.pgsession` / :mod:`.pgrelay` / :mod:`.pgbackend`),
which speaks the wire protocol and leaves pooling decisions to
:class:`~.session.SessionCore`.  The emulator owns the pools (one per proxy and
target, :class:`~.pool.TargetPool`, protocol-agnostic), the sessions, the log events
of the pools and the CloudWatch metrics (:mod:`.metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import random
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.sandbox.emulator.control import Control, ProxyView, TargetView
from rdsproxyctl.sandbox.emulator.faults import FaultTable
from rdsproxyctl.sandbox.emulator.logs import LogShipper
from rdsproxyctl.sandbox.emulator.metrics import NAMESPACE, Metrics, TargetSample
from rdsproxyctl.sandbox.emulator.pool import Limits, Opener, TargetPool
from rdsproxyctl.sandbox.emulator.scram import Verifier

log = logging.getLogger("rdsproxyctl.sandbox")

PROXY_PORT = 5432
MYSQL_PORT = 3306
READ_SIZE = 1 << 16
#: asyncio's TLS layer gives every connection a read buffer of ``SSLProtocol.max_size``
#: bytes (256 KiB in CPython 3.11), allocated up front: 1,000 TLS clients cost 256 MB.
#: A TLS record holds at most 16 KiB of data and reads loop until the record is drained,
#: so 16 KiB is enough (set in the daemon's process only, when the emulator starts;
#: docs/performance.md has the measurements).
TLS_READ_BUFFER = 16 * 1024
#: How long the pool settings read from the API are reused (a change applies within it).
LIMITS_TTL = 0.25


@dataclass(frozen=True)
class Adapter:
    """An engine family's protocol adapter: how to serve a client connection, and how to
    open a database connection (a pool ``Backend``) to a target.  See docs/sandbox.md."""

    engine_family: str
    #: ``session(emulator, address, proxy, reader, writer)``: an object with ``async run()``,
    #: ``kill(reason)`` and ``core`` (its :class:`~.session.SessionCore`).
    session: Callable[..., Any]
    #: ``opener(host, port, ssl_context) -> Opener`` for the target's pool.
    opener: Callable[[str, int, "ssl.SSLContext | None"], Opener]


def _postgres() -> Adapter:
    from rdsproxyctl.sandbox.emulator.pgbackend import PgBackend
    from rdsproxyctl.sandbox.emulator.pgsession import PgClientSession
    from rdsproxyctl.sandbox.emulator.pool import Endpoint

    def opener(host: str, port: int, context: ssl.SSLContext | None) -> Opener:
        endpoint = Endpoint(host, port, context)

        async def open_(key: Any, password: str | None, timeout: float) -> Any:
            return await PgBackend.open(endpoint, key, password, timeout)

        return open_

    return Adapter("POSTGRESQL", PgClientSession, opener)


def _mysql() -> Adapter:
    from rdsproxyctl.sandbox.emulator.mysql.backend import opener
    from rdsproxyctl.sandbox.emulator.mysql.session import MySQLSession

    return Adapter("MYSQL", MySQLSession, opener)


#: Engine family -> adapter factory.
ADAPTERS: dict[str, Callable[[], Adapter]] = {"POSTGRESQL": _postgres, "MYSQL": _mysql}


class Emulator:
    """All listeners, sessions, pools and metrics of one sandbox."""

    def __init__(self, control: Control, shipper: LogShipper, server_ssl: ssl.SSLContext,
                 backend_ssl: ssl.SSLContext | None) -> None:
        self.control = control
        self.shipper = shipper
        self.server_ssl = server_ssl
        self.backend_ssl = backend_ssl
        self.servers: dict[str, Any] = {}  # address (5432) or address:3306 -> .close()
        self.sessions: dict[int, Any] = {}  # by [clientConnection=N]
        self.pools: dict[tuple[str, str], TargetPool] = {}
        self.verifiers: dict[str, Verifier] = {}
        self.metrics = Metrics()
        #: listener key (an RDS host name, or the address itself) -> its loopback address
        self.aliases: dict[str, str] = {}
        #: DB instance id -> is it a streaming replica (None: unknown); the daemon's clusters
        self.replication: Any = None
        #: the sandbox's faults and limits, per proxy (emulator/faults.py)
        self.faults = FaultTable()
        self._adapters: dict[str, Adapter] = {}
        self._views: dict[str, tuple[float, ProxyView | None]] = {}
        import asyncio.sslproto

        if getattr(asyncio.sslproto.SSLProtocol, "max_size", 0) > TLS_READ_BUFFER:
            asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER

    def proxy_view(self, address: str) -> ProxyView | None:
        """``control.proxy_at(address)``, reused for ``LIMITS_TTL`` seconds (every session
        asks for its IdleClientTimeout once a second)."""
        now = asyncio.get_running_loop().time()
        cached = self._views.get(address)
        if cached is not None and now - cached[0] < LIMITS_TTL:
            return cached[1]
        view = self.control.proxy_at(address)
        self._views[address] = (now, view)
        return view

    def adapter(self, engine_family: str) -> Adapter | None:
        adapter = self._adapters.get(engine_family)
        if adapter is None and engine_family in ADAPTERS:
            adapter = self._adapters[engine_family] = ADAPTERS[engine_family]()
        return adapter

    # -- listeners ------------------------------------------------------------------------
    async def serve(self, address: str, sock: socket.socket) -> None:
        if sock.getsockname()[1] == MYSQL_PORT:
            # MySQL clients send their TLS ClientHello right behind the SSLRequest: that
            # listener reads the socket itself until TLS starts (mysql/session.py)
            from rdsproxyctl.sandbox.emulator.mysql.session import serve_mysql

            self.servers[f"{address}:{MYSQL_PORT}"] = serve_mysql(self, address, sock)
            return

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                proxy = self.control.proxy_at(address)
                adapter = self.adapter(proxy.engine_family) if proxy is not None else None
                if proxy is None or adapter is None or proxy.engine_family != "POSTGRESQL":
                    return  # deleted meanwhile, or an engine family not emulated
                await adapter.session(self, address, proxy, reader, writer).run()
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        self.servers[address] = await asyncio.start_server(accept, sock=sock, limit=READ_SIZE)

    async def close_address(self, address: str) -> None:
        for key in (address, f"{address}:{MYSQL_PORT}"):
            server = self.servers.pop(key, None)
            if server is not None:
                server.close()
        for session in list(self.sessions.values()):
            if session.core.address == address:
                session.kill("proxy_deleted")

    async def shutdown(self) -> None:
        for address in list(self.servers):
            server = self.servers.pop(address)
            server.close()
        for session in list(self.sessions.values()):
            session.kill("shutdown")
        await asyncio.sleep(0)
        for pool in list(self.pools.values()):
            await pool.close()
        self.shipper.flush()

    # -- pools ------------------------------------------------------------------------------
    def pool_for(self, proxy: ProxyView, target: TargetView) -> TargetPool:
        key = (proxy.resource_id, target.rds_resource_id)
        pool = self.pools.get(key)
        where = (target.endpoint or "127.0.0.1", target.port)
        if pool is None or pool.closed or getattr(pool, "where", None) != where:
            adapter = self.adapter(proxy.engine_family)
            assert adapter is not None
            opener = adapter.opener(where[0], where[1], self.backend_ssl)
            if pool is not None and not pool.closed:
                pool.opener = opener  # the database moved (restarted on another port)
                pool.where = where  # type: ignore[attr-defined]
                return pool
            name = proxy.name

            cache: list[Any] = [0.0, None]
            loop = asyncio.get_running_loop()

            def limits(proxy_name: str = name, proxy_id: str = proxy.resource_id) -> Limits:
                # read live, at most every LIMITS_TTL seconds (every borrow and return asks)
                if cache[1] is not None and loop.time() - cache[0] < LIMITS_TTL:
                    return cache[1]  # type: ignore[no-any-return]
                current = self._proxy_name(proxy_id) or proxy_name
                settings = self.control.pool_settings(current)
                if settings is None:
                    value = Limits(borrow_timeout=0)
                else:
                    value = Limits(settings.max_connections_percent,
                                   settings.max_idle_connections_percent,
                                   float(settings.borrow_timeout), settings.init_query)
                cache[0], cache[1] = loop.time(), value
                return value

            pool = TargetPool(f"{proxy.name}/{target.rds_resource_id}", opener, limits,
                              on_event=self.pool_events(proxy))
            pool.where = where  # type: ignore[attr-defined]
            self.pools[key] = pool
        return pool

    def _proxy_name(self, proxy_id: str) -> str | None:
        for proxy in self.control.proxies():
            if proxy.unique_id == proxy_id:
                return str(proxy.db_proxy_name)
        return None

    def pool_events(self, proxy: ProxyView, client: int | None = None,
                    endpoint: str | None = None) -> Any:
        proxy_id = proxy.resource_id

        def sink(event: str, conn: Any, values: dict[str, Any]) -> None:
            name = self._proxy_name(proxy_id) or proxy.name
            kw: dict[str, Any] = {"endpoint": endpoint, "client": client}
            if event == "opened" and conn is not None:
                self.shipper.emit(name, proxy_id, "db_connection_opened", db=conn.id,
                                  user=conn.key.user, database=conn.key.database, **kw)
            elif event == "open_failed":
                err = values["error"]
                self.shipper.emit(name, proxy_id, "db_connection_failed",
                                  user=values.get("user", "?"), reason=err.message, **kw)
            elif event == "released" and conn is not None:
                self.shipper.emit(name, proxy_id, "db_connection_released", db=conn.id, **kw)
            elif event == "closed" and conn is not None:
                self.shipper.emit(name, proxy_id, "db_connection_closed", db=conn.id,
                                  reason=values.get("reason", ""), **kw)

        return sink

    async def collect_pools(self) -> None:
        """Close the pools of proxies or targets that no longer exist."""
        live = {(p.unique_id, t.rds_resource_id)
                for p in self.control.proxies()
                for t in list(p.proxy_target_groups["default"].targets)}
        for key in [k for k in self.pools if k not in live]:
            pool = self.pools.pop(key)
            await pool.close()

    def snapshot(self) -> dict[str, Any]:
        """What the emulator is doing: listeners, sessions, pools (for ``emulator.json``)."""
        pools = []
        for (proxy_id, target), pool in self.pools.items():
            pools.append({"proxy_id": proxy_id, "proxy": self._proxy_name(proxy_id),
                          "target": target, **pool.stats()})
        return {"listeners": sorted(k for k in self.servers if ":" not in k),
                "mysql_listeners": sorted(k.split(":")[0] for k in self.servers if ":" in k),
                "sessions": len(self.sessions),
                "pools": pools, "metrics_published": self.metrics.published}

    def verifier(self, password: str) -> Verifier:
        v = self.verifiers.get(password)
        if v is None:
            if len(self.verifiers) > 1000:
                self.verifiers.clear()
            v = self.verifiers[password] = Verifier.from_password(password)
        return v

    # -- metrics -------------------------------------------------------------------------------
    def publish_metrics(self) -> int:
        """Put every proxy's metrics into the sandbox's CloudWatch; how many data points."""
        when = _dt.datetime.now(_dt.timezone.utc)
        sessions = [s.core for s in self.sessions.values()]
        count = 0
        for proxy in self.control.proxies():
            proxy_id = proxy.unique_id
            mine = [c for c in sessions if c.proxy.resource_id == proxy_id]
            targets = []
            for target in self.control.targets(proxy.db_proxy_name):
                pool = self.pools.get((proxy_id, target.rds_resource_id))
                held = [c for c in mine if c.backend is not None and c.pool is pool]
                health = self.control.health(proxy.db_proxy_name, target.rds_resource_id) or {}
                targets.append(TargetSample(
                    target=f"db:{target.rds_resource_id}", role=target.role or "READ_WRITE",
                    available=health.get("State") == "AVAILABLE",
                    connections=pool.open_count if pool else 0,
                    borrowed=len(pool.busy) if pool else 0,
                    in_transaction=sum(1 for c in held if c.in_transaction),
                    pinned=sum(1 for c in held if c.pinned is not None),
                    cap=pool.cap() if pool else 0,
                    requests=self.metrics.requests_since(pool) if pool else 0))
            clients = sum(1 for c in mine if c.authenticated)
            data = self.metrics.datapoints(proxy.db_proxy_name, proxy_id, clients, targets, when)
            for i in range(0, len(data), 20):
                try:
                    self.control.put_metric_data(NAMESPACE, data[i:i + 20])
                except Exception:  # noqa: BLE001 - metrics must not take the proxy down
                    log.exception("could not publish metrics for %s", proxy.db_proxy_name)
            count += len(data)
        self.metrics.published += 1
        return count


# -- addresses -----------------------------------------------------------------------------------
@dataclass
class LoopbackAllocator:
    """Binds ``127.0.0.N:5432`` for each new proxy endpoint (the moto extension's
    :class:`~rdsproxyctl.motoext.EndpointAllocator`).  Called from the moto server's
    threads; the socket is bound and listening before the API call returns, so a
    client may connect as soon as it knows the address.  With ``names``
    (:class:`rdsproxyctl.sandbox.hostnames.Names`) the endpoint reported is an RDS host
    name resolving to that address, and the listener is known by that name."""

    emulator: Emulator
    loop: asyncio.AbstractEventLoop
    port: int = PROXY_PORT
    #: Also bound on each address: MySQL proxies listen on 3306 (a PostgreSQL proxy's
    #: 3306, and a MySQL proxy's 5432, end each connection at once).
    extra_ports: tuple[int, ...] = (MYSQL_PORT,)
    first: int = 2
    last: int = 254
    names: Any = None
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def _aliases(self) -> dict[str, str]:
        """The emulator's listener key -> address map (sessions check IAM tokens with it)."""
        aliases = getattr(self.emulator, "aliases", None)
        if aliases is None:
            aliases = self.emulator.aliases = {}
        return aliases

    def allocate(self, proxy_name: str, endpoint_name: str) -> str | None:
        with self._lock:
            candidates = list(range(self.first, self.last + 1))
            start = random.randrange(len(candidates))
            order = candidates[start:] + candidates[:start]
            # Both ports if possible; else 5432 alone (something on the machine holds
            # 0.0.0.0:3306, a system MySQL: MYSQL proxies then get no listener, the others
            # still work).
            for ports in ((self.port, *self.extra_ports), (self.port,)):
                for n in order:
                    address = f"127.0.0.{n}"
                    if address in self._aliases.values():
                        continue
                    socks = self._bind(address, ports)
                    if not socks:
                        continue
                    key = address  # the listener's name: its RDS host name, or the address
                    if self.names is not None:
                        key = self.names.publish_endpoint(proxy_name, endpoint_name, address)
                    self._aliases[key] = address
                    self.sockets[key] = socks[0]
                    for sock in socks[1:]:
                        self.sockets[f"{key}:{sock.getsockname()[1]}"] = sock
                    for sock in socks:
                        asyncio.run_coroutine_threadsafe(self.emulator.serve(key, sock),
                                                         self.loop)
                    return key
        return None

    @staticmethod
    def _bind(address: str, ports: tuple[int, ...]) -> list[socket.socket]:
        """Listening sockets on ``address`` for every port, or none."""
        socks: list[socket.socket] = []
        try:
            for port in ports:
                # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets
                # whose proto says TCP, and accepted sockets inherit it.  With proto 0 every
                # small reply waited for the client's delayed ACK (40 ms a round trip).
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, port))
                sock.listen(128)
                sock.setblocking(False)
        except OSError:
            for sock in socks:
                sock.close()
            return []
        return socks

    def release(self, address: str) -> None:
        with self._lock:
            socks = [s for s in (self.sockets.pop(address, None),
                                 *(self.sockets.pop(f"{address}:{p}", None)
                                   for p in self.extra_ports)) if s is not None]
            self._aliases.pop(address, None)
        if socks and self.names is not None:
            self.names.drop(address)
        if socks:
            fut = asyncio.run_coroutine_threadsafe(self.emulator.close_address(address), self.loop)
            fut.add_done_callback(lambda _f: [s.close() for s in socks])

    def close_all(self) -> None:
        with self._lock:
            for sock in self.sockets.values():
                sock.close()
            self.sockets.clear()
