"""``sandbox up | down | status | env``: start, stop and describe a sandbox.

``up`` is idempotent: it makes what is missing (state, certificates, the PostgreSQL
cluster) and (re)starts what is not running (PostgreSQL, the daemon).  ``down`` stops
both by pid (after checking the pid is ours) and removes everything ``up`` made.
Concurrent ``up``/``down`` on one directory are serialised with a lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rdsproxyctl.errors import CheckFailed, NotFound, UsageError
from rdsproxyctl.sandbox import state as st

#: Not us-east-1: there, AWS CLI v1 sends `aws rds ...` to rds.amazonaws.com whatever
#: AWS_ENDPOINT_URL says (its SSL-common-name override), escaping the sandbox.
DEFAULT_REGION = "eu-west-1"
APP_USER = "app"
APP_DATABASE = "app"
PROXY_PORT = 5432
DAEMON_START_TIMEOUT = 60.0
DAEMON_STOP_TIMEOUT = 10.0
#: Files `up` makes in the sandbox directory (removed by `down`).
_OWN_FILES = (st.STATE_FILE, st.DAEMON_FILE, st.CA_FILE, st.CERT_FILE, st.KEY_FILE,
              st.DAEMON_LOG, st.EMULATOR_LOG, st.EMULATOR_STATE, "clusters.json", "faults.json",
              "fault-request.json", ".lock")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class FlushResult:
    """What ``sandbox flush`` did."""

    directory: str
    metrics_published: int  # publications since the daemon started, this one included
    seconds: float


def flush(directory: Path, timeout: float = 10.0) -> FlushResult:
    """Make the daemon publish its metrics and ship its log lines now (SIGUSR1), and wait
    until it has (``metrics_published`` in ``emulator.json`` grows)."""
    from rdsproxyctl.errors import CheckFailed, NotFound

    pid = daemon_pid(directory)
    if pid is None:
        raise NotFound(f"no running sandbox in {directory}",
                       hint="`rdsproxyctl sandbox up` starts it")
    path = directory / st.EMULATOR_STATE
    before = int((st.read_json(path) or {}).get("metrics_published", 0))
    started = time.monotonic()
    os.kill(pid, signal.SIGUSR1)
    while time.monotonic() - started < timeout:
        time.sleep(0.05)
        now = int((st.read_json(path) or {}).get("metrics_published", 0))
        if now > before:
            return FlushResult(str(directory), now, round(time.monotonic() - started, 3))
    raise CheckFailed(f"the sandbox daemon did not publish within {timeout:.0f} s",
                      hint=f"see {directory / 'daemon.log'}")


@dataclass(frozen=True)
class Part:
    """One running part of the sandbox."""

    name: str
    state: str  # running | crashed | stopped
    pid: int | None
    address: str | None
    detail: str | None = None


@dataclass(frozen=True)
class ProxyAddress:
    name: str
    endpoint: str | None
    status: str | None


@dataclass(frozen=True)
class SandboxStatus:
    json_properties: ClassVar[tuple[str, ...]] = ("running",)

    directory: str
    region: str
    endpoint_url: str | None
    ca_file: str
    parts: list[Part]
    proxies: list[ProxyAddress] = field(default_factory=list)
    log_files: list[str] = field(default_factory=list)
    #: How proxy endpoints are named: {"kind": "hostnames"|"addresses", "file", "reason"}.
    names: dict[str, Any] | None = None
    #: Active faults (`sandbox fault`): kind, proxy, value, target, since, detail.
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return all(p.state == "running" for p in self.parts)


@dataclass(frozen=True)
class SandboxEnv:
    """Shell variables that point the AWS CLI, boto3, psql and rdsproxyctl at a sandbox."""

    variables: dict[str, str]
    unset: list[str]

    def shell(self) -> list[str]:
        import shlex

        lines = [f"unset {' '.join(self.unset)}"] if self.unset else []
        lines += [f"export {k}={shlex.quote(v)}" for k, v in self.variables.items()]
        return lines


@dataclass(frozen=True)
class DownResult:
    directory: str
    stopped: list[str]
    removed: bool
    leftovers: list[str]


# -- helpers ------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_dir(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is not a directory",
                         hint="pass --dir with a directory for the sandbox's state")


def _cluster(state: dict[str, Any]) -> Any:
    from rdsproxyctl.sandbox.postgres import Cluster

    pg = state["postgres"]
    return Cluster(bindir=Path(pg["bindir"]), data_dir=Path(pg["data_dir"]),
                   owner=pg.get("owner"), base_dir=Path(pg["base_dir"]))


def daemon_pid(directory: Path) -> int | None:
    info = st.read_json(directory / st.DAEMON_FILE) or {}
    pid = info.get("pid")
    return pid if st.is_running(pid, st.DAEMON_MODULE, str(directory)) else None


def load(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state and the daemon's ready file, or NotFound when no sandbox is there."""
    _check_dir(directory)
    state = st.read_json(directory / st.STATE_FILE)
    if state is None:
        raise NotFound(f"no sandbox in {directory}",
                       hint="start one with `rdsproxyctl sandbox up"
                       + ("" if directory == st.default_dir() else f" --dir {directory}") + "`")
    return state, st.read_json(directory / st.DAEMON_FILE) or {}


# -- up -----------------------------------------------------------------------------------
def up(directory: Path, *, region: str | None = None, mysql: bool = False,
       progress: Progress = _quiet) -> SandboxStatus:
    """Start the sandbox (or whatever part of it is not running).  ``mysql``: also a MariaDB
    server for MYSQL proxies (kept from then on: later `up`s restart it)."""
    _check_dir(directory)
    existed = directory.exists()
    try:
        with _locked(directory):
            state = st.read_json(directory / st.STATE_FILE)
            if state is None:  # a region only matters for a new sandbox
                state = _create(directory, region or DEFAULT_REGION, progress)
            if mysql and not state.get("mariadb"):
                _create_mariadb(directory, state, progress)
            _ensure_postgres(directory, state, progress)
            _ensure_mariadb(directory, state, progress)
            _ensure_daemon(directory, state, progress)
    except BaseException:
        if st.read_json(directory / st.STATE_FILE) is None:  # nothing usable was made
            _remove_files(directory, remove_dir=not existed)
        raise
    return status(directory)


def _remove_files(directory: Path, *, remove_dir: bool) -> None:
    for name in _OWN_FILES:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    if remove_dir:
        with contextlib.suppress(OSError):
            directory.rmdir()


def _create(directory: Path, region: str, progress: Progress) -> dict[str, Any]:
    from rdsproxyctl.sandbox import certs, hostnames, postgres

    postgres.find_bindir()  # before making anything: say how to install PostgreSQL
    progress("making the sandbox's CA and server certificate")
    ident = hostnames.new_identifier()
    certs.make(directory, ca_file=st.CA_FILE, cert_file=st.CERT_FILE, key_file=st.KEY_FILE,
               dns_names=hostnames.wildcards(ident, region))
    progress("creating a PostgreSQL cluster (initdb)")
    superuser_password = secrets.token_urlsafe(18)
    cluster = postgres.create(directory, superuser_password=superuser_password,
                              cert=directory / st.CERT_FILE, key=directory / st.KEY_FILE)
    state = {
        "version": 1,
        "region": region,
        "dns_id": ident,
        "seed": secrets.randbelow(2**31),
        "created_at": time.time(),
        "postgres": {"bindir": str(cluster.bindir), "data_dir": str(cluster.data_dir),
                     "base_dir": str(cluster.base_dir), "owner": cluster.owner,
                     "host": "127.0.0.1", "port": st.free_port(), "superuser": postgres.SUPERUSER,
                     "superuser_password": superuser_password,
                     "max_connections": postgres.MAX_CONNECTIONS},
        "app": {"user": APP_USER, "password": secrets.token_urlsafe(18),
                "database": APP_DATABASE},
        "api": {"port": None},
    }
    st.write_json(directory / st.STATE_FILE, state)
    return state


def _ensure_postgres(directory: Path, state: dict[str, Any], progress: Progress) -> None:
    from rdsproxyctl.sandbox import postgres

    cluster = _cluster(state)
    if cluster.pid() is not None:
        return
    if not cluster.data_dir.exists():
        raise CheckFailed(f"the sandbox's PostgreSQL data directory {cluster.data_dir} is gone",
                          hint=f"`rdsproxyctl sandbox down --dir {directory}`, then `up` again")
    pg = state["postgres"]
    if not st.port_is_free(pg["host"], pg["port"]):
        pg["port"] = st.free_port()
    progress(f"starting PostgreSQL on {pg['host']}:{pg['port']}")
    postgres.start(cluster, pg["port"])
    postgres.setup_roles(
        postgres.dsn(pg["host"], pg["port"], pg["superuser"], pg["superuser_password"], "postgres",
                     directory / st.CA_FILE),
        app_user=state["app"]["user"], app_password=state["app"]["password"],
        app_database=state["app"]["database"])
    st.write_json(directory / st.STATE_FILE, state)


def _mariadb_server(state: dict[str, Any]) -> Any:
    from rdsproxyctl.sandbox.mariadb import Server

    my = state["mariadb"]
    return Server(mariadbd=Path(my["mariadbd"]), base_dir=Path(my["base_dir"]),
                  owner=my.get("owner"))


def _create_mariadb(directory: Path, state: dict[str, Any], progress: Progress) -> None:
    from rdsproxyctl.sandbox import mariadb

    mariadb.find_binaries()  # before making anything: say how to install MariaDB
    progress("creating a MariaDB data directory (mariadb-install-db)")
    password = secrets.token_urlsafe(18)
    app = state["app"]
    server = mariadb.create(directory, superuser_password=password, app_user=app["user"],
                            app_password=app["password"], app_database=app["database"],
                            cert=directory / st.CERT_FILE, key=directory / st.KEY_FILE,
                            ca=directory / st.CA_FILE)
    state["mariadb"] = {"mariadbd": str(server.mariadbd), "base_dir": str(server.base_dir),
                        "owner": server.owner, "host": "127.0.0.1", "port": st.free_port(),
                        "superuser": mariadb.SUPERUSER, "superuser_password": password,
                        "max_connections": mariadb.MAX_CONNECTIONS}
    st.write_json(directory / st.STATE_FILE, state)


def _ensure_mariadb(directory: Path, state: dict[str, Any], progress: Progress) -> None:
    from rdsproxyctl.sandbox import mariadb

    if not state.get("mariadb"):
        return
    server = _mariadb_server(state)
    if server.pid() is not None:
        return
    if not server.data_dir.exists():
        raise CheckFailed(f"the sandbox's MariaDB data directory {server.data_dir} is gone",
                          hint=f"`rdsproxyctl sandbox down --dir {directory}`, then `up` again")
    my = state["mariadb"]
    if not st.port_is_free(my["host"], my["port"]):
        my["port"] = st.free_port()
    progress(f"starting MariaDB on {my['host']}:{my['port']}")
    mariadb.start(server, my["port"], my["max_connections"])
    st.write_json(directory / st.STATE_FILE, state)


def _ensure_daemon(directory: Path, state: dict[str, Any], progress: Progress) -> None:
    pid = daemon_pid(directory)
    if pid is not None:
        # The daemon follows PostgreSQL to a new port by itself (it watches state.json).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            info = st.read_json(directory / st.DAEMON_FILE) or {}
            mysql_port = (state.get("mariadb") or {}).get("port")
            if info.get("db_port") == state["postgres"]["port"] and \
                    info.get("mysql_port") == mysql_port:
                return
            time.sleep(0.1)
        progress("restarting the sandbox daemon (it did not follow PostgreSQL's new port)")
        _stop_pid(pid, st.DAEMON_MODULE, str(directory))
    (directory / st.DAEMON_FILE).unlink(missing_ok=True)
    progress("starting the AWS API (moto) and the proxy emulator")
    with st.open_private(directory / st.DAEMON_LOG, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", st.DAEMON_MODULE, str(directory)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd=directory)
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    while True:
        info = st.read_json(directory / st.DAEMON_FILE)
        if info and info.get("pid") == proc.pid and info.get("ready"):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                _stop_pid(proc.pid, st.DAEMON_MODULE, str(directory))
            raise CheckFailed(f"the sandbox daemon did not start: {_tail(directory / st.DAEMON_LOG)}",
                              hint=f"see {directory / st.DAEMON_LOG}")
        time.sleep(0.05)
    state["api"]["port"] = info["api"]["port"]
    st.write_json(directory / st.STATE_FILE, state)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:])


def _stop_pid(pid: int, *markers: str, timeout: float = DAEMON_STOP_TIMEOUT) -> None:
    if not st.is_running(pid, *markers):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while st.is_running(pid, *markers):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
            break
        time.sleep(0.02)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it when it is our child


# -- down -----------------------------------------------------------------------------------
def down(directory: Path, progress: Progress = _quiet) -> DownResult:
    """Stop every part and remove what ``up`` made."""
    from rdsproxyctl.sandbox import postgres

    _check_dir(directory)
    if not directory.exists() or not st.is_sandbox(directory):
        # not a sandbox (no state.json of ours): delete nothing, not even a lock file
        return DownResult(str(directory), [], False, [])
    stopped: list[str] = []
    with _locked(directory):
        state = st.read_json(directory / st.STATE_FILE)
        info = st.read_json(directory / st.DAEMON_FILE) or {}
        pid = daemon_pid(directory)
        if pid is not None:
            progress(f"stopping the daemon (pid {pid})")
            _stop_pid(pid, st.DAEMON_MODULE, str(directory))
            stopped.append("daemon")
        if state is not None:
            cluster = _cluster(state)
            if cluster.pid() is not None:
                progress(f"stopping PostgreSQL (pid {cluster.pid()})")
                postgres.stop(cluster)
                stopped.append("postgres")
            postgres.remove(cluster)
            if state.get("mariadb"):
                from rdsproxyctl.sandbox import mariadb

                server = _mariadb_server(state)
                if server.pid() is not None:
                    progress(f"stopping MariaDB (pid {server.pid()})")
                    mariadb.stop(server)
                    stopped.append("mariadb")
                mariadb.remove(server)
        _remove_hosts_block(directory)
        from rdsproxyctl.sandbox import aurora

        if aurora.remove_all(directory):  # a crashed daemon's DB clusters
            stopped.append("clusters")
        for name in _OWN_FILES:
            with contextlib.suppress(FileNotFoundError):
                (directory / name).unlink()
        leftovers = []
        if state is not None:
            pg = state["postgres"]
            if st.listening(pg["host"], pg["port"], 0.2):
                leftovers.append(f"postgres port {pg['host']}:{pg['port']}")
            my = state.get("mariadb")
            if my and st.listening(my["host"], my["port"], 0.2):
                leftovers.append(f"mariadb port {my['host']}:{my['port']}")
        api = info.get("api") or {}
        if api.get("port") and st.listening("127.0.0.1", api["port"], 0.2):
            leftovers.append(f"API port 127.0.0.1:{api['port']}")
    with contextlib.suppress(OSError):
        (directory / ".lock").unlink()
    removed = False
    with contextlib.suppress(OSError):
        directory.rmdir()
        removed = True
    return DownResult(str(directory), stopped, removed, leftovers)


def _remove_hosts_block(directory: Path) -> None:
    """The daemon removes its hosts block when it stops; this covers one that crashed."""
    from rdsproxyctl.sandbox import hostnames

    with contextlib.suppress(OSError):
        hostnames.HostsBlock(str(directory)).remove()


# -- status and env ----------------------------------------------------------------------------
def status(directory: Path) -> SandboxStatus:
    state, info = load(directory)
    cluster = _cluster(state)
    pg = state["postgres"]
    pg_pid = cluster.pid()
    dpid = daemon_pid(directory)
    api = info.get("api") or {}
    url = api.get("url")
    proxies = _proxies(directory, state, info) if dpid else []
    addresses = ", ".join(f"{p.endpoint}:{PROXY_PORT}" for p in proxies if p.endpoint)

    def state_of(pid: int | None) -> str:
        return "running" if pid else "crashed"

    parts = [
        Part("api", state_of(dpid), dpid, url, "moto server with rdsproxyctl's extension"),
        Part("postgres", state_of(pg_pid), pg_pid, f"{pg['host']}:{pg['port']}",
             f"PostgreSQL, TLS on, max_connections {pg['max_connections']}"),
        Part("emulator", state_of(dpid), dpid, addresses or None,
             f"RDS Proxy emulator, {len(proxies)} prox{'y' if len(proxies) == 1 else 'ies'}"),
    ]
    logs = [str(directory / st.DAEMON_LOG), str(directory / st.EMULATOR_LOG), str(cluster.log_file)]
    if state.get("mariadb"):
        server = _mariadb_server(state)
        my = state["mariadb"]
        my_pid = server.pid()
        parts.insert(2, Part("mariadb", state_of(my_pid), my_pid, f"{my['host']}:{my['port']}",
                             f"MariaDB, TLS on, max_connections {my['max_connections']}"))
        logs.append(str(server.log_file))
    return SandboxStatus(directory=str(directory), region=state["region"], endpoint_url=url,
                         ca_file=str(directory / st.CA_FILE), parts=parts, proxies=proxies,
                         log_files=logs, names=info.get("names") if dpid else None,
                         faults=_active_faults(directory) if dpid else [])


def _active_faults(directory: Path) -> list[dict[str, Any]]:
    from rdsproxyctl.sandbox import faults

    return faults.active(directory)


def _proxies(directory: Path, state: dict[str, Any], info: dict[str, Any]) -> list[ProxyAddress]:
    try:
        with sandbox_aws(directory) as aws:
            rows = aws.client("rds").describe_db_proxies()["DBProxies"]
    except Exception:  # noqa: BLE001 - status must not fail because the API is busy
        return []
    return [ProxyAddress(r["DBProxyName"], r.get("Endpoint"), r.get("Status")) for r in rows]


def env(directory: Path) -> SandboxEnv:
    state, info = load(directory)
    if not info.get("ready") or daemon_pid(directory) is None:
        raise CheckFailed(f"the sandbox in {directory} is not running",
                          hint="start it with `rdsproxyctl sandbox up`")
    seeded = info["seeded"]
    url = info["api"]["url"]
    region = state["region"]
    variables = {
        "AWS_ACCESS_KEY_ID": seeded["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": seeded["secret_access_key"],
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": url,
        "RDSPROXYCTL_ENDPOINT_URL": url,
        "RDSPROXYCTL_SANDBOX_DIR": str(directory),
        "PGSSLROOTCERT": str(directory / st.CA_FILE),
        "PGSSLMODE": "verify-full",
        "PGPORT": str(PROXY_PORT),
        "PGUSER": state["app"]["user"],
        "PGDATABASE": state["app"]["database"],
    }
    unset = ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
             "RDSPROXYCTL_PROFILE", "RDSPROXYCTL_REGION"]
    return SandboxEnv(variables, unset)


@contextlib.contextmanager
def sandbox_environment(directory: Path) -> Iterator[SandboxEnv]:
    """This process's environment as after ``eval "$(rdsproxyctl sandbox env)"``, for the
    duration of the block (the AWS factory's cached sessions are reset on the way in
    and out, so clients made inside sign with the sandbox's keys)."""
    from rdsproxyctl.core.aws import reset_cache

    sandbox = env(directory)
    saved = {k: os.environ.get(k) for k in [*sandbox.variables, *sandbox.unset]}
    for k in sandbox.unset:
        os.environ.pop(k, None)
    os.environ.update(sandbox.variables)
    reset_cache()
    try:
        yield sandbox
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_cache()


@contextlib.contextmanager
def sandbox_aws(directory: Path, *, debug: bool = False) -> Iterator[Any]:
    """The AWS factory, pointed at the sandbox with its credentials."""
    from rdsproxyctl.core.aws import Aws, AwsSettings

    with sandbox_environment(directory) as sandbox:
        yield Aws(AwsSettings(region=sandbox.variables["AWS_REGION"],
                              endpoint_url=sandbox.variables["AWS_ENDPOINT_URL"],
                              max_attempts=2, debug=debug))
