"""``rdsproxyctl sandbox fault KIND [VALUE] [--proxy NAME]`` and ``sandbox fault clear``.

Faults rehearse a bad day on the sandbox; each shows up where it would on AWS (target
health, the client's error, the proxy's log lines):

==================  ===========================================================================
``failover``        (cluster targets) the writer stops, the reader is promoted; new requests wait
                    for the new writer (up to the borrow timeout); ``clear`` brings the old
                    writer back as a reader
``db-restart [S]``  the target database stops and starts again S seconds later (default 5)
``db-down``         the target database stops until ``clear``
``db-slow S``       the database's answer to each statement through the proxy comes S seconds late
``secret-denied``   the proxy's role loses ``secretsmanager:GetSecretValue`` on its secrets
                    (an explicit Deny in an inline policy ``sandbox-fault-secret-denied``)
``secret-broken``   the proxy's secrets lose their ``password`` key (a new secret version)
``pool-exhausted``  every backend connection the proxy may open is borrowed and held
``replica-broken``  (cluster targets) the reader stops streaming WAL from the writer
``client-limit N``  at most N client connections at once (RDS Proxy's client connection limit)
``connection-rate N``  at most N new client connections per second
==================  ===========================================================================

The CLI and the daemon talk through two files in the sandbox directory: the CLI writes
``fault-request.json`` (an id, the action) and waits; the daemon (:class:`Controller`)
applies it and writes ``faults.json`` (the active faults, and the answer to that id).
Database faults act on the proxy's target: the sandbox's PostgreSQL for the seeded DB
instance (every proxy on it sees the fault), the writer of a sandbox Aurora cluster.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rdsproxyctl.errors import CheckFailed, NotFound, UsageError
from rdsproxyctl.sandbox import state as st

log = logging.getLogger("rdsproxyctl.sandbox")

FAULTS_FILE = "faults.json"
REQUEST_FILE = "fault-request.json"
#: kind -> (takes a value, value's meaning, default value)
KINDS: dict[str, tuple[bool, str, float | None]] = {
    "failover": (False, "", None),
    "db-restart": (True, "seconds the database stays down", 5.0),
    "db-down": (False, "", None),
    "db-slow": (True, "seconds added to each statement", None),
    "secret-denied": (False, "", None),
    "secret-broken": (False, "", None),
    "pool-exhausted": (False, "", None),
    "replica-broken": (False, "", None),
    "client-limit": (True, "client connections at most", None),
    "connection-rate": (True, "new client connections per second at most", None),
}
DENY_POLICY = "sandbox-fault-secret-denied"
REQUEST_TIMEOUT = 180.0


@dataclass
class Fault:
    kind: str
    proxy: str
    value: float | None = None
    target: str | None = None  # the DB instance or cluster it acts on
    since: float = 0.0
    detail: str = ""
    undo: dict[str, Any] = field(default_factory=dict)  # what `clear` needs (not shown)

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("undo")
        return d


@dataclass(frozen=True)
class FaultAnswer:
    action: str
    faults: list[dict[str, Any]]  # the faults set or cleared
    active: list[dict[str, Any]]  # every active fault afterwards
    message: str


# -- the CLI side --------------------------------------------------------------------------------
def validate(kind: str, value: float | None) -> float | None:
    if kind not in KINDS:
        raise UsageError(f"unknown fault {kind!r}",
                         hint="one of: " + ", ".join(KINDS) + ", or `clear`")
    takes, meaning, default = KINDS[kind]
    if not takes:
        if value is not None:
            raise UsageError(f"fault {kind} takes no value")
        return None
    if value is None:
        if default is None:
            raise UsageError(f"fault {kind} needs a value: {meaning}")
        return default
    if kind in ("client-limit", "connection-rate"):
        if value != int(value) or value < 1:
            raise UsageError(f"fault {kind}: the value is a whole number of {meaning} (>= 1)")
    elif not 0 < value <= 300:
        raise UsageError(f"fault {kind}: {meaning} must be in (0, 300]")
    return value


def active(directory: Path) -> list[dict[str, Any]]:
    data = st.read_json(directory / FAULTS_FILE) or {}
    return list(data.get("active") or [])


def request(directory: Path, action: str, *, kind: str | None = None, proxy: str | None = None,
            value: float | None = None, timeout: float = REQUEST_TIMEOUT) -> FaultAnswer:
    """Ask the running daemon to set (``action="set"``) or clear a fault; its answer."""
    from rdsproxyctl.sandbox import manager

    manager.load(directory)  # NotFound when there is no sandbox
    if manager.daemon_pid(directory) is None:
        raise CheckFailed(f"the sandbox in {directory} is not running",
                          hint="start it with `rdsproxyctl sandbox up`")
    ident = secrets.token_hex(8)
    st.write_json(directory / REQUEST_FILE, {"id": ident, "action": action, "kind": kind,
                                             "proxy": proxy, "value": value})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = st.read_json(directory / FAULTS_FILE) or {}
        answer = data.get("answer") or {}
        if answer.get("id") == ident:
            if answer.get("error"):
                cls = {"usage": UsageError, "not_found": NotFound}.get(answer.get("code"),
                                                                       CheckFailed)
                raise cls(answer["error"], hint=answer.get("hint"))
            return FaultAnswer(action, answer.get("faults") or [], data.get("active") or [],
                               answer.get("message") or "")
        time.sleep(0.05)
    raise CheckFailed(f"the sandbox daemon did not answer within {timeout:.0f} s",
                      hint=f"see {directory / st.DAEMON_LOG}")


# -- the daemon side ------------------------------------------------------------------------------
class _Failed(Exception):
    def __init__(self, message: str, code: str = "check", hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


class Controller:
    """Applies fault requests in the daemon (see the module's docstring)."""

    def __init__(self, directory: Path, state: dict[str, Any], control: Any, emulator: Any,
                 clusters: Any, seeded: Any, aws: Any) -> None:
        self.directory = directory
        self.state = state
        self.control = control
        self.emulator = emulator
        self.clusters = clusters
        self.seeded = seeded
        self.aws = aws  # rdsproxyctl's factory, pointed at the sandbox's own API
        self.faults: list[Fault] = []
        self.answer: dict[str, Any] = {}
        self.seen: str | None = None
        self._write()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            req = st.read_json(self.directory / REQUEST_FILE)
            if not req or req.get("id") == self.seen:
                continue
            self.seen = req.get("id")
            try:
                if req.get("action") == "clear":
                    done = await self.clear(req.get("proxy"))
                    message = f"cleared {len(done)} fault(s)"
                else:
                    done = [await self.apply(str(req.get("kind")), req.get("proxy"),
                                             req.get("value"))]
                    message = done[0].detail
                self.answer = {"id": self.seen, "faults": [f.public() for f in done],
                               "message": message}
            except _Failed as exc:
                self.answer = {"id": self.seen, "error": str(exc), "code": exc.code,
                               "hint": exc.hint}
            except Exception as exc:  # noqa: BLE001 - answer, whatever happened
                log.exception("fault request failed")
                self.answer = {"id": self.seen, "error": f"{type(exc).__name__}: {exc}"}
            self._write()

    def _write(self) -> None:
        st.write_json(self.directory / FAULTS_FILE,
                      {"active": [f.public() for f in self.faults], "answer": self.answer})

    # -- looking up --------------------------------------------------------------------------
    def _proxy(self, name: str | None) -> Any:
        proxies = self.control.proxies()
        if name is None:
            if len(proxies) != 1:
                raise _Failed("name the proxy with --proxy: the sandbox has "
                               f"{len(proxies)} proxies", "usage")
            return proxies[0]
        for proxy in proxies:
            if proxy.db_proxy_name == name:
                return proxy
        raise _Failed(f"no proxy {name} in the sandbox", "not_found",
                      "`rdsproxyctl list` shows the sandbox's proxies")

    def _view(self, proxy: Any) -> Any:
        return self.control._view(proxy, "default", getattr(proxy, "_rpc_address", None) or "")

    def _target(self, proxy: Any) -> tuple[str, str]:
        """("cluster", id) or ("instance", id) of the proxy's target."""
        targets = self.control.targets(proxy.db_proxy_name)
        for t in targets:
            if t.type == "TRACKED_CLUSTER":
                if self.clusters.find(t.rds_resource_id) is None:
                    raise _Failed(f"the DB cluster {t.rds_resource_id} is not one the sandbox "
                                  "made")
                return "cluster", t.rds_resource_id
        for t in targets:
            if t.type == "RDS_INSTANCE":
                if t.rds_resource_id != self.seeded.db_instance:
                    raise _Failed(f"the sandbox has no database behind {t.rds_resource_id}")
                return "instance", t.rds_resource_id
        raise _Failed(f"the proxy {proxy.db_proxy_name} has no target", "usage",
                      "register one: `rdsproxyctl targets add`")

    def _server(self, kind: str, ident: str) -> tuple[Any, str, int]:
        """The PostgreSQL server (postgres.Cluster), host and port behind a target."""
        if kind == "cluster":
            cluster = self.clusters.find(ident)
            writer = cluster.member(cluster.writer)
            return writer.server, writer.host, writer.port
        from rdsproxyctl.sandbox import manager

        state = st.read_json(self.directory / st.STATE_FILE) or self.state
        return manager._cluster(state), state["postgres"]["host"], state["postgres"]["port"]

    def _emit(self, proxy: Any, key: str, **values: Any) -> None:
        self.emulator.shipper.emit(proxy.db_proxy_name, proxy.unique_id, key, endpoint=None,
                                   **values)

    def _find(self, kind: str, proxy: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind and f.proxy == proxy), None)

    # -- set -----------------------------------------------------------------------------------
    async def apply(self, kind: str, proxy_name: str | None, value: Any) -> Fault:
        try:
            value = validate(kind, None if value is None else float(value))
        except UsageError as exc:
            raise _Failed(str(exc), "usage", exc.hint) from None
        proxy = self._proxy(proxy_name)
        name = proxy.db_proxy_name
        if self._find(kind, name) is not None:
            raise _Failed(f"fault {kind} is already active on {name}", "usage",
                          "`rdsproxyctl sandbox fault clear` first")
        fault = Fault(kind, name, value, since=time.time())
        handler = getattr(self, "_set_" + kind.replace("-", "_"))
        await handler(proxy, fault)
        if kind != "db-restart" or fault.undo:
            self.faults.append(fault)
        log.info("fault %s on %s: %s", kind, name, fault.detail)
        return fault

    async def _set_failover(self, proxy: Any, fault: Fault) -> None:
        kind, ident = self._target(proxy)
        if kind != "cluster":
            raise _Failed("failover needs a proxy whose target is an Aurora DB cluster", "usage",
                          "`rdsproxyctl sandbox demo --cluster` makes one")
        cluster = self.clusters.find(ident)
        old = cluster.writer
        watchers = self._watchers(ident)
        for p in watchers:
            self.control.set_health(p.db_proxy_name, old, "UNAVAILABLE", "UNREACHABLE",
                                    f"The DB instance {old} is failing over.")
            self._emit(p, "failover_started", cluster=ident, old=old)
        old, new = await asyncio.to_thread(self.clusters.failover, ident)
        for p in watchers:
            self._emit(p, "failover_completed", cluster=ident, new=new)
        fault.target = ident
        fault.detail = f"DB cluster {ident} failed over: {new} is the writer, {old} is stopped"

    def _watchers(self, cluster: str) -> list[Any]:
        return [p for p in self.control.proxies()
                if any(t.tracked_cluster_id == cluster
                       for t in self.control.targets(p.db_proxy_name))]

    async def _set_db_down(self, proxy: Any, fault: Fault) -> None:
        from rdsproxyctl.sandbox import postgres

        kind, ident = self._target(proxy)
        server, host, port = self._server(kind, ident)
        await asyncio.to_thread(postgres.stop, server)
        fault.target = ident
        fault.undo = {"kind": kind}
        fault.detail = f"the database of {ident} ({host}:{port}) is stopped"

    async def _set_db_restart(self, proxy: Any, fault: Fault) -> None:
        await self._set_db_down(proxy, fault)
        seconds = float(fault.value or 5)

        async def later() -> None:
            await asyncio.sleep(seconds)
            if fault in self.faults:
                await self._clear_one(fault)
                self.faults.remove(fault)
                self._write()

        fault.detail = fault.detail.replace("is stopped", f"is restarting ({seconds:g} s down)")
        asyncio.get_running_loop().create_task(later())

    async def _set_db_slow(self, proxy: Any, fault: Fault) -> None:
        seconds = float(fault.value or 0)
        self.emulator.faults.of(proxy.unique_id).latency = seconds
        self._emit(proxy, "statement_delayed", seconds=f"{seconds:g}")
        fault.detail = f"each statement through {proxy.db_proxy_name} waits {seconds:g} s"

    async def _set_client_limit(self, proxy: Any, fault: Fault) -> None:
        self.emulator.faults.of(proxy.unique_id).client_limit = int(fault.value or 1)
        fault.detail = f"{proxy.db_proxy_name} takes at most {int(fault.value or 1)} clients"

    async def _set_connection_rate(self, proxy: Any, fault: Fault) -> None:
        self.emulator.faults.of(proxy.unique_id).rate_limit = int(fault.value or 1)
        fault.detail = (f"{proxy.db_proxy_name} takes at most {int(fault.value or 1)} new "
                        "connections per second")

    async def _set_secret_denied(self, proxy: Any, fault: Fault) -> None:
        arns = [a.secret_arn for a in self._view(proxy).auth if a.secret_arn]
        role = proxy.role_arn.split("/")[-1]
        doc = {"Version": "2012-10-17", "Statement": [
            {"Sid": "SandboxFaultSecretDenied", "Effect": "Deny",
             "Action": "secretsmanager:GetSecretValue", "Resource": arns or ["*"]}]}
        await asyncio.to_thread(self.aws.client("iam").put_role_policy, RoleName=role,
                                PolicyName=DENY_POLICY, PolicyDocument=json.dumps(doc))
        fault.target = role
        fault.detail = f"the role {role} may not read {len(arns)} secret(s)"

    async def _set_secret_broken(self, proxy: Any, fault: Fault) -> None:
        sm = self.aws.client("secretsmanager")
        saved = {}
        for arn in [a.secret_arn for a in self._view(proxy).auth if a.secret_arn]:
            value = await asyncio.to_thread(sm.get_secret_value, SecretId=arn)
            text = value.get("SecretString") or ""
            saved[arn] = text
            try:
                data = json.loads(text)
            except ValueError:
                continue
            data.pop("password", None)
            await asyncio.to_thread(sm.put_secret_value, SecretId=arn,
                                    SecretString=json.dumps(data))
        fault.undo = {"secrets": saved}
        fault.target = ", ".join(saved)
        fault.detail = f"{len(saved)} secret(s) have no password"

    async def _set_pool_exhausted(self, proxy: Any, fault: Fault) -> None:
        from rdsproxyctl.sandbox.emulator.pool import PoolKey

        view = self._view(proxy)
        report = self.control.credentials(view)
        credential = next(iter(report.credentials.values()), None)
        user = credential.username if credential else self.state["app"]["user"]
        password = credential.password if credential else None
        key = PoolKey(user, self.state["app"]["database"])
        held = self.emulator.faults.of(proxy.unique_id).held
        for target in self.control.targets(proxy.db_proxy_name):
            if target.type != "RDS_INSTANCE" or target.role != "READ_WRITE":
                continue
            pool = self.emulator.pool_for(view, target)
            while True:
                try:  # until the pool is at its cap: the next borrow waits, and times out
                    conn = await asyncio.wait_for(pool.acquire(key, password), 2.0)
                except Exception:  # noqa: BLE001 - full (TimeoutError), or refused
                    break
                held.append((pool, conn))
        fault.detail = f"{len(held)} backend connection(s) of {proxy.db_proxy_name} are held"
        if not held:
            raise _Failed(f"could not borrow any connection of {proxy.db_proxy_name}")

    async def _set_replica_broken(self, proxy: Any, fault: Fault) -> None:
        from rdsproxyctl.sandbox import aurora

        kind, ident = self._target(proxy)
        if kind != "cluster":
            raise _Failed("replica-broken needs a proxy whose target is an Aurora DB cluster",
                          "usage")
        cluster = self.clusters.find(ident)
        reader = cluster.readers[0]
        conninfo = await asyncio.to_thread(aurora.break_replication, reader,
                                           self.clusters.password, self.clusters.ca)
        fault.target = reader.identifier
        fault.undo = {"conninfo": conninfo, "cluster": ident}
        fault.detail = f"the reader {reader.identifier} stopped streaming from the writer"

    # -- clear -----------------------------------------------------------------------------------
    async def clear(self, proxy_name: str | None) -> list[Fault]:
        if proxy_name is not None:
            self._proxy(proxy_name)  # exists
        done = [f for f in self.faults if proxy_name is None or f.proxy == proxy_name]
        for fault in reversed(done):
            await self._clear_one(fault)
            self.faults.remove(fault)
        return done

    async def _clear_one(self, fault: Fault) -> None:
        from rdsproxyctl.sandbox import aurora, postgres

        proxy = next((p for p in self.control.proxies() if p.db_proxy_name == fault.proxy), None)
        if fault.kind == "failover":
            await asyncio.to_thread(self.clusters.restore, fault.target)
        elif fault.kind in ("db-down", "db-restart"):
            server, host, port = self._server(fault.undo.get("kind", "instance"),
                                              fault.target or "")
            if server.pid() is None:
                await asyncio.to_thread(postgres.start, server, port, host)
        elif fault.kind == "secret-denied":
            await asyncio.to_thread(self.aws.client("iam").delete_role_policy,
                                    RoleName=fault.target, PolicyName=DENY_POLICY)
        elif fault.kind == "secret-broken":
            sm = self.aws.client("secretsmanager")
            for arn, text in fault.undo.get("secrets", {}).items():
                await asyncio.to_thread(sm.put_secret_value, SecretId=arn, SecretString=text)
        elif fault.kind == "replica-broken":
            cluster = self.clusters.find(fault.undo["cluster"])
            if cluster is not None:
                await asyncio.to_thread(aurora.restore_replication,
                                        cluster.member(fault.target), self.clusters.password,
                                        self.clusters.ca, fault.undo["conninfo"])
        elif proxy is not None:
            table = self.emulator.faults.of(proxy.unique_id)
            if fault.kind == "db-slow":
                table.latency = 0.0
            elif fault.kind == "client-limit":
                table.client_limit = None
            elif fault.kind == "connection-rate":
                table.rate_limit = None
            elif fault.kind == "pool-exhausted":
                for pool, conn in table.held:
                    pool.release(conn, reset=True)
                table.held.clear()
        log.info("fault %s on %s cleared", fault.kind, fault.proxy)
