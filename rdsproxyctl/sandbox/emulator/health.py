"""Target health, as RDS Proxy reports it in DescribeDBProxyTargets.

Every ``INTERVAL`` seconds, for each target of each proxy:

* the proxy's role reads each auth entry's secret (IAM policy evaluation on the
  role, then the secret's JSON).  No usable credentials -> ``UNAVAILABLE /
  AUTH_FAILURE`` with the documented description "Proxy does not have any
  registered credentials" (and each cause is logged, once per change);
* the proxy logs in to the database with the first usable credentials (end-to-end
  IAM: it only checks the database answers TLS).  A database that does not answer ->
  ``UNAVAILABLE / UNREACHABLE``; one that refuses the credentials ->
  ``UNAVAILABLE / AUTH_FAILURE``; any other failure -> ``UNAVAILABLE /
  CONNECTION_FAILED``; otherwise ``AVAILABLE``.

Logins are repeated only when the credentials changed, after a failure, or every
``RECHECK`` seconds; in between, a healthy target gets a TCP probe every
``TCP_RECHECK`` seconds, so a database that goes away is noticed within seconds for
the price of a TCP handshake.  Reasons and states:
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_TargetHealth.html
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from rdsproxyctl.sandbox.emulator.control import Control, ProxyView, TargetView
from rdsproxyctl.sandbox.emulator.pgbackend import PgBackend as BackendConnection
from rdsproxyctl.sandbox.emulator.pool import BackendError, Endpoint, PoolKey

log = logging.getLogger("rdsproxyctl.sandbox")

INTERVAL = 1.0
RECHECK = 30.0
TCP_RECHECK = 2.0
NO_CREDENTIALS = "Proxy does not have any registered credentials"
#: Ours: AWS names the reason (INVALID_REPLICATION_STATE), not its description.
NOT_REPLICATING = "The reader DB instance isn't replicating from the writer."


@dataclass
class _Known:
    fingerprint: Any = None
    checked: float = 0.0
    tcp_checked: float = 0.0
    health: tuple[str, str | None, str | None] | None = None
    logged_problems: tuple[Any, ...] = ()


class HealthChecker:
    def __init__(self, control: Control, emulator: Any, backend_ssl: Any) -> None:
        self.control = control
        self.emulator = emulator
        self.backend_ssl = backend_ssl
        self.known: dict[tuple[str, str], _Known] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.check_all()
                await self.emulator.collect_pools()
            except Exception:  # noqa: BLE001 - keep checking whatever happens
                log.exception("health check failed")
            await asyncio.sleep(INTERVAL)

    async def check_all(self) -> None:
        jobs = []
        live = set()
        tracked = []
        for proxy in self.control.proxies():
            address = getattr(proxy, "_rpc_address", None) or ""
            view = self.control._view(proxy, "default", address)
            targets = self.control.targets(view.name)
            for target in targets:
                live.add((view.resource_id, target.rds_resource_id))
                if target.type == "TRACKED_CLUSTER":
                    tracked.append((view, target, targets))
                else:
                    jobs.append(self.check(view, target))
        for key in [k for k in self.known if k not in live]:
            del self.known[key]
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)
        for view, target, targets in tracked:
            self._check_tracked(view, target, targets)

    def _check_tracked(self, proxy: ProxyView, target: TargetView,
                       targets: list[TargetView]) -> None:
        """A TRACKED_CLUSTER row is as healthy as the cluster's writer."""
        known = self.known.setdefault((proxy.resource_id, target.rds_resource_id), _Known())
        writer = next((t for t in targets if t.tracked_cluster_id == target.rds_resource_id
                       and t.role == "READ_WRITE"), None)
        if writer is None:
            self._set(proxy, target, known, ("UNAVAILABLE", "UNREACHABLE",
                      "The sandbox serves DB instances and its own Aurora PostgreSQL clusters "
                      "with members only."), log_change=False)
            return
        health = self.control.health(proxy.name, writer.rds_resource_id) or {}
        state = health.get("State", "REGISTERING")
        if state == "AVAILABLE":
            self._set(proxy, target, known, ("AVAILABLE", None, None), log_change=False)
        elif state != "REGISTERING":
            self._set(proxy, target, known, (state, health.get("Reason"),
                                             health.get("Description")), log_change=False)

    async def check(self, proxy: ProxyView, target: TargetView) -> None:
        known = self.known.setdefault((proxy.resource_id, target.rds_resource_id), _Known())
        if target.type != "RDS_INSTANCE":
            self._set(proxy, target, known, ("UNAVAILABLE", "UNREACHABLE",
                      "The sandbox serves DB instance targets only."))
            return
        replication = getattr(self.emulator, "replication", None)
        if target.role == "READ_ONLY" and replication is not None:
            streaming = await asyncio.to_thread(replication, target.rds_resource_id)
            if streaming is False:
                known.fingerprint = None  # log in again once it replicates
                self._set(proxy, target, known, ("UNAVAILABLE", "INVALID_REPLICATION_STATE",
                                                 NOT_REPLICATING))
                return
        if proxy.end_to_end_iam:
            user, password, fingerprint = None, None, ("iam",)
        else:
            report = self.control.credentials(proxy)
            problems = tuple((k, tuple(sorted(v.items()))) for k, v in report.problems)
            if problems != known.logged_problems:
                known.logged_problems = problems
                for key, values in report.problems:
                    self.emulator.shipper.emit(proxy.name, proxy.resource_id, key,
                                               endpoint=None, **values)
            if not report.credentials:
                self._set(proxy, target, known, ("UNAVAILABLE", "AUTH_FAILURE", NO_CREDENTIALS))
                known.fingerprint = None
                return
            first = next(iter(report.credentials.values()))
            user, password, fingerprint = first.username, first.password, report.fingerprint
        fingerprint = (fingerprint, target.endpoint, target.port)
        now = time.monotonic()
        healthy = known.health is not None and known.health[0] == "AVAILABLE"
        if fingerprint == known.fingerprint and healthy and now - known.checked < RECHECK:
            if now - known.tcp_checked < TCP_RECHECK:
                return
            known.tcp_checked = now
            if await self._answers(target):
                return
        known.fingerprint, known.checked, known.tcp_checked = fingerprint, now, now
        self._set(proxy, target, known, await self.probe(target, user, password,
                                                         proxy.engine_family))

    @staticmethod
    async def _answers(target: TargetView) -> bool:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(target.endpoint or "127.0.0.1", target.port), 5)
        except (OSError, asyncio.TimeoutError):
            return False
        writer.close()
        return True

    async def probe(self, target: TargetView, user: str | None, password: str | None,
                    engine_family: str = "POSTGRESQL") -> tuple[str, str | None, str | None]:
        endpoint = Endpoint(target.endpoint or "127.0.0.1", target.port, self.backend_ssl)
        if user is None:  # end-to-end IAM: is the database there?
            if await self._answers(target):
                return ("AVAILABLE", None, None)
            return ("UNAVAILABLE", "UNREACHABLE",
                    f"The database at {endpoint.host}:{endpoint.port} doesn't answer.")
        opener: Any = BackendConnection
        database = "postgres"
        if engine_family == "MYSQL":
            from rdsproxyctl.sandbox.emulator.mysql.backend import MySQLBackend

            opener, database = MySQLBackend, ""
        try:
            conn = await opener.open(endpoint, PoolKey(user, database), password)
        except BackendError as exc:
            if exc.kind == "unreachable":
                return ("UNAVAILABLE", "UNREACHABLE", exc.message)
            if exc.kind == "auth_failed":
                return ("UNAVAILABLE", "AUTH_FAILURE",
                        f"The database refused the credentials for user {user}: {exc.message}")
            if exc.kind == "database_error" and exc.fields.get("C") == "3D000":
                return ("AVAILABLE", None, None)  # logged in; it's only the probe's database
            return ("UNAVAILABLE", "CONNECTION_FAILED", exc.message)
        conn.close()
        return ("AVAILABLE", None, None)

    def _set(self, proxy: ProxyView, target: TargetView, known: _Known,
             health: tuple[str, str | None, str | None], log_change: bool = True) -> None:
        state, reason, description = health
        current = self.control.health(proxy.name, target.rds_resource_id) or {}
        if (current.get("State"), current.get("Reason"), current.get("Description")) != health:
            self.control.set_health(proxy.name, target.rds_resource_id, state, reason, description)
        if health == known.health:
            return
        before = known.health
        known.health = health
        if not log_change:
            return
        if state == "AVAILABLE":
            if before is not None:
                self.emulator.shipper.emit(proxy.name, proxy.resource_id, "target_available",
                                           endpoint=None, target=target.rds_resource_id)
        else:
            self.emulator.shipper.emit(proxy.name, proxy.resource_id, "target_unavailable",
                                       endpoint=None, target=target.rds_resource_id,
                                       reason=reason, description=description)
