"""The sandbox's real PostgreSQL: initdb / pg_ctl, TLS on, loopback only.

The server binaries come from ``pg_config --bindir`` (Debian's ``postgresql`` package:
``/usr/lib/postgresql/N/bin``).  ``initdb`` refuses to run as root, so under root the
cluster belongs to an unprivileged system user (``rdsproxyctl-sandbox``, created when
missing) and lives in a private temporary directory that user owns; otherwise it
runs as the current user inside the sandbox directory.

The cluster listens on 127.0.0.1 only, on a free port, with ``ssl = on`` (the
sandbox certificate), no Unix socket, ``max_connections`` known to the proxy's pool,
and durability off (it is a sandbox: fast start, fast tests).  Authentication:
SCRAM-SHA-256 for everyone, except members of ``rds_iam`` over TLS, who are trusted:
that is how the sandbox emulates RDS's IAM database authentication for proxies with
end-to-end IAM (DefaultAuthScheme IAM_AUTH), since PostgreSQL cannot check IAM
tokens itself.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rdsproxyctl.errors import CheckFailed
from rdsproxyctl.sandbox.state import is_running

SANDBOX_USER = "rdsproxyctl-sandbox"
SUPERUSER = "postgres"
MAX_CONNECTIONS = 100
INSTALL_HINT = ("install them in one line: sudo apt-get install -y postgresql "
                "postgresql-contrib  (Debian/Ubuntu; pgbench is in postgresql-contrib)")

HBA = """\
# rdsproxyctl sandbox: loopback only.
# TYPE  DATABASE  USER      ADDRESS        METHOD
hostssl all       +rds_iam  {net}   trust
host    all       +rds_iam  {net}   reject
host    all       all       {net}   scram-sha-256
"""
#: Cluster members (rdsproxyctl.sandbox.aurora) listen on their own 127.0.0.N and let the
#: superuser stream WAL to a replica, over TLS.
HBA_REPLICATION = "hostssl replication {user} {net} scram-sha-256\n"

CONF = """
# -- rdsproxyctl sandbox ------------------------------------------------------
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = {max_connections}
shared_buffers = 16MB
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
client_connection_check_interval = 1000
"""


@dataclass(frozen=True)
class Cluster:
    """Where a sandbox cluster lives and who runs it."""

    bindir: Path
    data_dir: Path
    owner: str | None  # the OS user that runs it; None: the current user
    base_dir: Path  # removed by `down` (the data dir's parent when we made it)

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first)
        except (OSError, ValueError):
            return None
        return pid if is_running(pid, str(self.data_dir)) else None


def find_bindir() -> Path:
    """PostgreSQL's server binaries, or a clear error saying how to install them."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
                         key=lambda p: _version(p.parent.name), reverse=True)
    for path in candidates:
        if all((path / exe).exists() for exe in ("initdb", "pg_ctl", "postgres")):
            return path
    raise CheckFailed("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found",
                      hint=INSTALL_HINT)


def _version(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in name.split("."))
    except ValueError:
        return (0,)


def sandbox_user() -> str | None:
    """The OS user to run PostgreSQL as: ourselves, or (as root) the sandbox user,
    created when missing."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SANDBOX_USER)
        return SANDBOX_USER
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    proc = subprocess.run([useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
                           "--shell", "/usr/sbin/nologin", SANDBOX_USER],
                          capture_output=True, text=True)
    try:
        pwd.getpwnam(SANDBOX_USER)  # made now, or by a concurrent `up`
    except KeyError:
        raise CheckFailed(f"could not create the system user {SANDBOX_USER} to run PostgreSQL "
                          f"(initdb refuses root): {proc.stderr.strip()}",
                          hint="run `sandbox up` as a non-root user, or create that user") \
            from None
    return SANDBOX_USER


def _as(owner: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


def _run(cluster: Cluster, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_as(cluster.owner, argv), capture_output=True, text=True,
                          timeout=timeout, cwd=cluster.base_dir, stdin=subprocess.DEVNULL)


def _chown(path: Path, owner: str | None) -> None:
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def create(sandbox_dir: Path, *, superuser_password: str, cert: Path, key: Path,
           max_connections: int = MAX_CONNECTIONS, name: str = "postgres",
           network: str = "127.0.0.1/32", replication: bool = False) -> Cluster:
    """initdb a new cluster with the sandbox's TLS certificate and settings (``name``: its
    directory under the sandbox's; ``network``: whom pg_hba.conf admits;
    ``replication``: the superuser may stream WAL to a standby)."""
    bindir = find_bindir()
    owner = sandbox_user()
    base = new_base(sandbox_dir, name, owner)
    cluster = Cluster(bindir=bindir, data_dir=base / "data", owner=owner, base_dir=base)
    pwfile = base / "pwfile"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(superuser_password + "\n")
    _chown(pwfile, owner)
    try:
        proc = _run(cluster, [str(bindir / "initdb"), "-D", str(cluster.data_dir), "-U", SUPERUSER,
                              f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                              "--locale=C", "--no-sync", "--no-instructions"], timeout=120)
    finally:
        pwfile.unlink(missing_ok=True)
    if proc.returncode != 0:
        remove(cluster)
        raise CheckFailed(f"initdb failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
    for src, name in ((cert, "server.crt"), (key, "server.key")):
        dest = cluster.data_dir / name
        shutil.copyfile(src, dest)
        os.chmod(dest, 0o600)
        _chown(dest, owner)
    with open(cluster.data_dir / "postgresql.conf", "a") as f:
        f.write(CONF.format(max_connections=max_connections))
    hba = HBA.format(net=network)
    if replication:
        hba += HBA_REPLICATION.format(user=SUPERUSER, net=network)
    (cluster.data_dir / "pg_hba.conf").write_text(hba)
    return cluster


def new_base(sandbox_dir: Path, name: str, owner: str | None) -> Path:
    """A directory for one server: private under /tmp for the sandbox user (as root),
    else ``sandbox_dir/name``."""
    if owner:
        base = Path(tempfile.mkdtemp(prefix="rdsproxyctl-sandbox-pg-"))
        _chown(base, owner)
    else:
        base = sandbox_dir / name
        base.mkdir(parents=True, exist_ok=True)
    return base


def start(cluster: Cluster, port: int, host: str = "127.0.0.1") -> int:
    """Start the cluster on ``host``:``port``; its postmaster pid."""
    lock = cluster.data_dir / "postmaster.pid"
    if lock.exists() and cluster.pid() is None:
        # A crashed postmaster's lock file.  Its pid may still be a zombie nobody reaped
        # yet, which PostgreSQL would take for a live server: the file must go.
        lock.unlink()
    proc = _run(cluster, [str(cluster.bindir / "pg_ctl"), "start", "-D", str(cluster.data_dir),
                          "-w", "-t", "60", "-s", "-l", str(cluster.log_file),
                          "-o", f"-p {int(port)} -h {host}"], timeout=90)
    pid = cluster.pid()
    if proc.returncode != 0 or pid is None:
        tail = _tail(cluster.log_file)
        raise CheckFailed(f"PostgreSQL did not start on {host}:{port}: "
                          f"{(proc.stderr or proc.stdout).strip()[-300:]} {tail}".strip(),
                          hint=f"see {cluster.log_file}")
    return pid


def stop(cluster: Cluster, timeout: float = 30) -> None:
    """Stop the cluster (fast shutdown); kill its postmaster if pg_ctl cannot."""
    pid = cluster.pid()
    if pid is None:
        return
    _run(cluster, [str(cluster.bindir / "pg_ctl"), "stop", "-D", str(cluster.data_dir), "-m",
                   "fast", "-w", "-t", str(int(timeout)), "-s"], timeout=timeout + 10)
    deadline = time.monotonic() + 5
    while is_running(pid, str(cluster.data_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_running(pid, str(cluster.data_dir)):
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: the postmaster stops its children
        deadline = time.monotonic() + 5
        while is_running(pid, str(cluster.data_dir)) and time.monotonic() < deadline:
            time.sleep(0.05)


def remove(cluster: Cluster) -> None:
    shutil.rmtree(cluster.base_dir, ignore_errors=True)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def dsn(host: str, port: int, user: str, password: str, dbname: str, ca: Path) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(host=host, port=port, user=user, password=password, dbname=dbname,
                         sslmode="verify-full", sslrootcert=str(ca), connect_timeout=10)


def setup_roles(conninfo: str, *, app_user: str, app_password: str, app_database: str) -> None:
    """The application's role and database, and the ``rds_iam`` role (idempotent)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = {r[0] for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname IN ('rds_iam', %s)", (app_user,))}
        if "rds_iam" not in exists:
            conn.execute("CREATE ROLE rds_iam NOLOGIN")
        verb = "ALTER" if app_user in exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(app_user), sql.Literal(app_password)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (app_database,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(app_database), sql.Identifier(app_user)))
