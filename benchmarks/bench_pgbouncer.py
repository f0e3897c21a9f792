"""pgbench with 50 clients: directly against PostgreSQL, through PgBouncer and through
the sandbox's RDS Proxy emulator, in one run.

    apt-get install pgbouncer                  # Debian's PgBouncer (once; not started)
    python benchmarks/run.py pgbouncer         # about 4 minutes

One sandbox (a temporary directory) gives PostgreSQL (TLS) and the emulator; a proxy
``bench`` (IAM auth REQUIRED, RequireTLS, MaxConnectionsPercent ``POOL_PERCENT``) and a
PgBouncer started here on a free loopback port, as an unprivileged user (the sandbox's
system user when we are root: PgBouncer refuses root), transaction pooling, pool size
= the emulator's cap, TLS on both sides (clients: the sandbox certificate; server:
verify-full against the sandbox CA), SCRAM with the app password, stopped by PID.

Four workloads -- select-only (``-S``) and TPC-B-like, each in simple and ``-M prepared``
query mode -- ``-c 50 -T DURATION`` on a scale-10 database, path by path (so no
pooler's idle server connections hold PostgreSQL's slots during another path's runs).
Simple mode runs on 2 threads (``-j 2``), prepared mode on one thread per client (``-j
50``): pgbench 15 prepares each statement with a synchronous ``PQprepare`` that blocks
every other client of its thread, so when a transaction-pooling proxy has fewer
connections than there are clients, a thread waiting for a connection to prepare on
holds up the clients that hold the connections mid-transaction, and nobody moves until
the borrow timeout ("Timed-out waiting to acquire database connection." after 120 s:
found with this benchmark, TPC-B-like, 50 clients on 2 threads, cap 20).  For each run: tps, average latency, failed transactions and
aborted clients, and the peak number of the app's backends in pg_stat_activity (sampled
every 0.1 s during the run); for the emulator also the pin lines it wrote.  The ratio
printed is emulator tps / PgBouncer tps (goal, issue 10: >= 0.5 for select-only with
multiplexing on).  When uvloop is installed (``pip install -e '.[sandbox]'``), the
emulator runs a second time with the daemon restarted on uvloop's event loop
(``RDSPROXYCTL_SANDBOX_LOOP=uvloop``), as the row "emulator (uvloop)".

PgBouncer 1.18 (Debian 12) has no protocol-level prepared statements in transaction
pooling (``max_prepared_statements`` came in 1.21:
https://github.com/pgbouncer/pgbouncer/releases/tag/pgbouncer_1_21_0): with ``-M
prepared`` its clients fail with ``prepared statement "P0_1" does not exist`` when a
transaction lands on another server connection; the run reports that as it happens.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_sandbox import _proxy, init_pgbench, pgbench_env, running_sandbox
from runner import Bench, Comparison, Timing, benchmark, free_port

CLIENTS = 50
DURATION = int(os.environ.get("RDSPROXYCTL_BENCH_SECONDS", "10"))
SCALE = 10
#: MaxConnectionsPercent of the benchmark proxy; the emulator's cap is this share of
#: PostgreSQL's max_connections (100), and PgBouncer's pool size is the same number: 20
#: connections for 50 clients, which only transaction pooling (multiplexing) can serve.
POOL_PERCENT = int(os.environ.get("RDSPROXYCTL_BENCH_POOL_PERCENT", "20"))
WORKLOADS = [("select-only", ["-S"]), ("TPC-B-like", [])]
MODES = ["simple", "prepared"]
PATHS = ["PostgreSQL", "PgBouncer", "emulator"]


# -- PgBouncer ---------------------------------------------------------------------------
PGBOUNCER_INI = """\
[databases]
app = host={db_host} port={db_port} dbname=app

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
logfile = {dir}/pgbouncer.log
auth_type = scram-sha-256
auth_file = {dir}/userlist.txt
pool_mode = transaction
default_pool_size = {pool}
max_db_connections = {pool}
max_client_conn = {max_clients}
client_tls_sslmode = require
client_tls_cert_file = {dir}/server.pem
client_tls_key_file = {dir}/server.key
server_tls_sslmode = verify-full
server_tls_ca_file = {dir}/ca.pem
"""


def _owner() -> str | None:
    """Who runs PgBouncer: ourselves, or as root the sandbox's unprivileged system user."""
    from rdsproxyctl.sandbox.postgres import sandbox_user

    return sandbox_user()


@contextmanager
def running_pgbouncer(sandbox_dir: Path, pg: dict[str, Any], password: str,
                      pool: int) -> Iterator[int]:
    """A PgBouncer in front of the sandbox's PostgreSQL on 127.0.0.1: its port."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        raise RuntimeError("pgbouncer is not installed: apt-get install pgbouncer")
    owner = _owner()
    work = Path(tempfile.mkdtemp(prefix="rdsproxyctl-pgbouncer-"))
    port = free_port()
    files = {
        "pgbouncer.ini": PGBOUNCER_INI.format(db_host=pg["host"], db_port=pg["port"], port=port,
                                              dir=work, pool=pool, max_clients=CLIENTS * 4),
        "userlist.txt": f'"app" "{password}"\n',
        "ca.pem": (sandbox_dir / "ca.pem").read_text(),
        "server.pem": (sandbox_dir / "server.pem").read_text(),
        "server.key": (sandbox_dir / "server.key").read_text(),
    }
    ids = pwd.getpwnam(owner) if owner else None
    for name, text in files.items():
        path = work / name
        path.write_text(text)
        os.chmod(path, 0o600)
        if ids:
            os.chown(path, ids.pw_uid, ids.pw_gid)
    if ids:
        os.chown(work, ids.pw_uid, ids.pw_gid)
    proc = subprocess.Popen([binary, str(work / "pgbouncer.ini")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            user=ids.pw_uid if ids else None, group=ids.pw_gid if ids else None,
                            extra_groups=[] if ids else None)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                log = (work / "pgbouncer.log")
                tail = log.read_text()[-800:] if log.exists() else ""
                raise RuntimeError(f"pgbouncer exited {proc.returncode}: {tail}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("pgbouncer did not start listening")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()  # by PID: SIGTERM, immediate shutdown
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(work, ignore_errors=True)


# -- measuring ---------------------------------------------------------------------------
class BackendSampler:
    """The peak number of the app user's client backends in pg_stat_activity, sampled
    every 0.1 s on one superuser connection while a run lasts."""

    def __init__(self, superuser_dsn: str) -> None:
        self.dsn = superuser_dsn
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'"
                                   " AND backend_type = 'client backend'").fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)
                self._stop.wait(0.1)

    def __enter__(self) -> BackendSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _number(pattern: str, text: str) -> float | None:
    found = re.search(pattern, text)
    return float(found.group(1)) if found else None


def pgbench_run(host: str, port: int, password: str, env: dict[str, str],
                args: list[str]) -> dict[str, Any]:
    """One pgbench run; its figures even when some clients aborted (exit code 2)."""
    threads = CLIENTS if "prepared" in args else 2  # see the module's docstring
    proc = subprocess.run(["pgbench", "-n", "-c", str(CLIENTS), "-j", str(threads),
                           "-T", str(DURATION), *args, "-h", host, "-p", str(port), "-U", "app",
                           "app"],
                          env={**env, "PGPASSWORD": password}, capture_output=True, text=True,
                          timeout=DURATION + 120)
    out = proc.stdout
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    return {
        "exit": proc.returncode,
        "tps": _number(r"tps = ([0-9.]+) \(without initial", out) or 0.0,
        "latency_ms": _number(r"latency average = ([0-9.]+) ms", out),
        "transactions": int(_number(r"actually processed: (\d+)", out) or 0),
        "failed": int(_number(r"number of failed transactions: (\d+)", out) or 0),
        "aborted_clients": len(re.findall(r"client \d+ (?:script \d+ )?aborted", proc.stderr)),
        "errors": len(errors),
        "first_error": errors[0][:160] if errors else None,
    }


def _pin_lines(directory: Path) -> int:
    log = directory / "emulator.log"
    if not log.exists():
        return 0
    with open(log, errors="replace") as f:
        return sum(1 for line in f if "was pinned" in line)


def _have_uvloop() -> bool:
    import importlib.util

    return importlib.util.find_spec("uvloop") is not None


def _restart_daemon(directory: Path, loop: str) -> tuple[str, str]:
    """Restart the sandbox's daemon (PostgreSQL keeps running) on another event loop
    (RDSPROXYCTL_SANDBOX_LOOP); the API's state goes with the old daemon, so the proxy
    is made again: its new address and a token."""
    from rdsproxyctl.sandbox import manager
    from rdsproxyctl.sandbox import state as st

    pid = manager.daemon_pid(directory)
    if pid:
        manager._stop_pid(pid, st.DAEMON_MODULE, str(directory))
    os.environ["RDSPROXYCTL_SANDBOX_LOOP"] = loop
    try:
        manager.up(directory)
    finally:
        del os.environ["RDSPROXYCTL_SANDBOX_LOOP"]
    address, token = _proxy(directory)
    _set_pool(directory, POOL_PERCENT)
    return address, token


def _max_connections(superuser_dsn: str) -> int:
    import psycopg

    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
    return int(row[0]) if row else 100


def _set_pool(directory: Path, percent: int) -> None:
    """The proxy's cap, and as many idle connections kept (PgBouncer keeps its own idle
    server connections for server_idle_timeout, 600 s)."""
    import boto3

    from rdsproxyctl.sandbox import manager

    variables = manager.env(directory).variables
    rds = boto3.Session(aws_access_key_id=variables["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=variables["AWS_SECRET_ACCESS_KEY"],
                        region_name=variables["AWS_REGION"]).client(
        "rds", endpoint_url=variables["AWS_ENDPOINT_URL"])
    rds.modify_db_proxy_target_group(
        DBProxyName="bench", TargetGroupName="default",
        ConnectionPoolConfig={"MaxConnectionsPercent": percent,
                              "MaxIdleConnectionsPercent": percent})


def _table(results: dict[tuple[str, str, str], dict[str, Any]], cap: int,
           paths: list[str]) -> None:
    print(f"\n## pgbench -c {CLIENTS} -T {DURATION} (simple: -j 2, prepared: -j {CLIENTS}), "
          f"scale {SCALE}; pool size {cap} (emulator cap = PgBouncer default_pool_size)")
    print("| workload | mode | path | tps | latency | backends (peak) | failed | aborted "
          "clients | errors | emulator / PgBouncer |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workload, _ in WORKLOADS:
        for mode in MODES:
            bouncer = results[(workload, mode, "PgBouncer")]
            for path in paths:
                r = results[(workload, mode, path)]
                ratio = ""
                if path.startswith("emulator"):  # no ratio to a run whose clients were cut short
                    ratio = ("n/a" if bouncer["errors"] or not bouncer["tps"]
                             else f"**{r['tps'] / bouncer['tps']:.2f}**")
                pins = f" ({r['pins']} pin lines)" if path.startswith("emulator") else ""
                latency = f"{r['latency_ms']:.1f} ms" if r["latency_ms"] is not None else "-"
                print(f"| {workload} | {mode} | {path} | {r['tps']:.0f} | {latency} | "
                      f"{r['backends']}{pins} | {r['failed']} | {r['aborted_clients']} | "
                      f"{r['errors']} | {ratio} |")
    for key, r in results.items():
        if r["first_error"]:
            print(f"  {' / '.join(key)}: {r['first_error']}")


@benchmark("pgbouncer")
def pgbouncer(bench: Bench) -> None:
    """pgbench -c 50 (select-only, TPC-B; simple, prepared): PostgreSQL, PgBouncer, emulator."""
    from rdsproxyctl.sandbox.postgres import dsn

    if not shutil.which("pgbench"):
        raise RuntimeError("pgbench is not installed (Debian: postgresql-contrib)")
    # the first emulator pass on asyncio's loop; "emulator (uvloop)" restarts the daemon
    os.environ["RDSPROXYCTL_SANDBOX_LOOP"] = "asyncio"
    with running_sandbox() as (directory, state):
        pg, app = state["postgres"], state["app"]
        superuser = dsn(pg["host"], pg["port"], pg["superuser"], pg["superuser_password"],
                        "postgres", directory / "ca.pem")
        address, token = _proxy(directory)
        _set_pool(directory, POOL_PERCENT)
        cap = max(1, _max_connections(superuser) * POOL_PERCENT // 100)
        env = pgbench_env(str(directory / "ca.pem"))
        init_pgbench(pg, app, env, scale=SCALE)
        results: dict[tuple[str, str, str], dict[str, Any]] = {}
        paths = PATHS + (["emulator (uvloop)"] if _have_uvloop() else [])
        # path by path, so that no pooler's idle server connections take PostgreSQL's
        # slots (max_connections) while another path runs
        for path in paths:
            with contextlib.ExitStack() as stack:
                if path == "PostgreSQL":
                    host, port, password = pg["host"], pg["port"], app["password"]
                elif path == "PgBouncer":
                    host, port, password = "127.0.0.1", stack.enter_context(
                        running_pgbouncer(directory, pg, app["password"], cap)), app["password"]
                else:
                    if path == "emulator (uvloop)":
                        address, token = _restart_daemon(directory, "uvloop")
                    host, port, password = address, 5432, token
                for workload, args in WORKLOADS:
                    for mode in MODES:
                        pins = _pin_lines(directory)
                        with BackendSampler(superuser) as sampler:
                            r = pgbench_run(host, port, password, env, [*args, "-M", mode])
                        r["backends"] = sampler.peak
                        r["pins"] = _pin_lines(directory) - pins
                        results[(workload, mode, path)] = r
                        print(f"  {path:<17} {workload:<11} {mode:<8} {r['tps']:8.0f} tps  "
                              f"backends {r['backends']:3d}  failed {r['failed']}  "
                              f"aborted {r['aborted_clients']}", flush=True)
        _table(results, cap, paths)
        for workload, _ in WORKLOADS:
            for mode in MODES:
                timings = [Timing(path, [], [1.0 / max(results[(workload, mode, path)]["tps"],
                                                       1e-9)]) for path in paths]
                notes = {f"{path}": {k: v for k, v in results[(workload, mode, path)].items()
                                     if k != "first_error"} for path in paths}
                bench.results.append(Comparison(
                    f"pgbench {workload} -M {mode} -c {CLIENTS}: seconds per transaction",
                    "PgBouncer", timings, notes))
