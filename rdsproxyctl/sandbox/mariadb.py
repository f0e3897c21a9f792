"""The sandbox's real MariaDB (Debian's ``mariadb-server``): the database behind MYSQL proxies.

Found and run like the sandbox's PostgreSQL (:mod:`.postgres`): ``mariadb-install-db``
then ``mariadbd``, loopback only (127.0.0.1 on a free port, a Unix socket in its own
directory), TLS on with the sandbox certificate, ``max_connections`` known to the proxy's
pool, durability off.  Under root it runs as the unprivileged system user
``rdsproxyctl-sandbox`` (``runuser``), in a private temporary directory that user owns.

Accounts come from an ``--init-file`` run at every start (idempotent): ``admin``@127.0.0.1
(every privilege, the sandbox's superuser) and the application user (the seeded secret's
``username``/``password``, ``mysql_native_password``) owning the application database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rdsproxyctl.errors import CheckFailed
from rdsproxyctl.sandbox.postgres import _as, _chown, sandbox_user
from rdsproxyctl.sandbox.state import is_running, listening

SUPERUSER = "admin"
MAX_CONNECTIONS = 100
START_TIMEOUT = 60.0
INSTALL_HINT = "install it in one line: sudo apt-get install -y mariadb-server (Debian/Ubuntu)"


@dataclass(frozen=True)
class Server:
    """Where a sandbox MariaDB lives and who runs it."""

    mariadbd: Path
    base_dir: Path  # removed by `down`
    owner: str | None

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "mariadb.log"

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "mariadb.pid"

    @property
    def init_file(self) -> Path:
        return self.base_dir / "init.sql"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_running(pid, str(self.data_dir)) else None


def find_binaries() -> tuple[Path, Path]:
    """``mariadbd`` and ``mariadb-install-db``, or a clear error saying how to install them."""
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/libexec")
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not server or not install:
        raise CheckFailed("MariaDB server binaries (mariadbd, mariadb-install-db) not found",
                          hint=INSTALL_HINT)
    return Path(server), Path(install)


def available() -> bool:
    try:
        find_binaries()
    except CheckFailed:
        return False
    return True


def _run(server: Server, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_as(server.owner, argv), capture_output=True, text=True,
                          timeout=timeout, cwd=server.base_dir, stdin=subprocess.DEVNULL)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def create(sandbox_dir: Path, *, superuser_password: str, app_user: str, app_password: str,
           app_database: str, cert: Path, key: Path, ca: Path) -> Server:
    """Install a new data directory with the sandbox's TLS certificate and accounts."""
    mariadbd, install = find_binaries()
    owner = sandbox_user()
    if owner:
        base = Path(tempfile.mkdtemp(prefix="rdsproxyctl-sandbox-mariadb-"))
        _chown(base, owner)
    else:
        base = sandbox_dir / "mariadb"
        base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    server = Server(mariadbd=mariadbd, base_dir=base, owner=owner)
    for src, name in ((cert, "server.crt"), (key, "server.key"), (ca, "ca.pem")):
        dest = base / name
        shutil.copyfile(src, dest)
        os.chmod(dest, 0o600)
        _chown(dest, owner)
    db = "`" + app_database.replace("`", "``") + "`"
    init = "\n".join([
        f"CREATE USER IF NOT EXISTS {_quote(SUPERUSER)}@'127.0.0.1' IDENTIFIED BY "
        f"{_quote(superuser_password)};",
        f"ALTER USER {_quote(SUPERUSER)}@'127.0.0.1' IDENTIFIED BY {_quote(superuser_password)};",
        f"GRANT ALL PRIVILEGES ON *.* TO {_quote(SUPERUSER)}@'127.0.0.1' WITH GRANT OPTION;",
        f"CREATE DATABASE IF NOT EXISTS {db};",
        f"CREATE USER IF NOT EXISTS {_quote(app_user)}@'%' IDENTIFIED BY {_quote(app_password)};",
        f"ALTER USER {_quote(app_user)}@'%' IDENTIFIED BY {_quote(app_password)};",
        f"GRANT ALL PRIVILEGES ON {db}.* TO {_quote(app_user)}@'%';",
        "",
    ])
    fd = os.open(server.init_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(init)
    _chown(server.init_file, owner)
    proc = _run(server, [str(install), "--no-defaults", f"--datadir={server.data_dir}",
                         "--auth-root-authentication-method=socket", "--skip-test-db",
                         "--skip-name-resolve"])
    if proc.returncode != 0:
        remove(server)
        raise CheckFailed("mariadb-install-db failed: "
                          f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return server


def start(server: Server, port: int, max_connections: int = MAX_CONNECTIONS) -> int:
    """Start mariadbd on 127.0.0.1:``port``; its pid."""
    server.pid_file.unlink(missing_ok=True)
    base = server.base_dir
    argv = [str(server.mariadbd), "--no-defaults", f"--datadir={server.data_dir}",
            f"--port={int(port)}", "--bind-address=127.0.0.1", f"--socket={base / 'mysqld.sock'}",
            f"--pid-file={server.pid_file}", f"--log-error={server.log_file}",
            f"--init-file={server.init_file}", f"--ssl-cert={base / 'server.crt'}",
            f"--ssl-key={base / 'server.key'}", f"--ssl-ca={base / 'ca.pem'}",
            f"--max-connections={int(max_connections)}", "--skip-name-resolve",
            "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M",
            "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
            "--performance-schema=OFF", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci", "--skip-symbolic-links"]
    with open(os.devnull, "wb") as null:
        subprocess.Popen(_as(server.owner, argv), stdin=subprocess.DEVNULL, stdout=null,
                         stderr=null, start_new_session=True, close_fds=True, cwd=base)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        pid = server.pid()
        if pid is not None and listening("127.0.0.1", port, 0.2):
            return pid
        time.sleep(0.1)
    stop(server)
    raise CheckFailed(f"MariaDB did not start on 127.0.0.1:{port}: {_tail(server.log_file)}",
                      hint=f"see {server.log_file}")


def stop(server: Server, timeout: float = 30) -> None:
    pid = server.pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_running(pid, str(server.data_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_running(pid, str(server.data_dir)):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def remove(server: Server) -> None:
    shutil.rmtree(server.base_dir, ignore_errors=True)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
