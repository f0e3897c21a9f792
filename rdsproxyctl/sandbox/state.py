"""The sandbox's state directory, its JSON state file, and process checks.

A sandbox lives in one directory (``--dir``, default
``$XDG_STATE_HOME/rdsproxyctl/sandbox``, i.e. ``~/.local/state/rdsproxyctl/sandbox``):

``state.json``   what ``up`` made: ports, pids, paths, the API's credentials (mode 0600)
``ca.pem``       the sandbox CA (PGSSLROOTCERT)
``server.pem`` / ``server.key``  the certificate of the proxy and PostgreSQL
``daemon.json``  written by the daemon when it is ready (its port, pid, what it seeded)
``daemon.log``   the daemon's own log; ``emulator.log`` every proxy log line
``emulator.json`` the emulator's listeners, sessions and pools, rewritten four times a second

When ``up`` runs as root, PostgreSQL's data directory lives elsewhere (a private
temporary directory owned by the unprivileged sandbox user), recorded in the state.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
DAEMON_FILE = "daemon.json"
CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server.key"
DAEMON_LOG = "daemon.log"
EMULATOR_LOG = "emulator.log"
EMULATOR_STATE = "emulator.json"
#: What the daemon's command line carries, so a pid is only ever ours.
DAEMON_MODULE = "rdsproxyctl.sandbox.daemon"


def default_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                             "state")
    return Path(base) / "rdsproxyctl" / "sandbox"


def resolve_dir(path: str | os.PathLike[str] | None) -> Path:
    """The sandbox directory: ``--dir``, then RDSPROXYCTL_SANDBOX_DIR, then the default."""
    raw = path or os.environ.get("RDSPROXYCTL_SANDBOX_DIR")
    return Path(raw).expanduser().resolve() if raw else default_dir()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, readable by the owner only (the file holds credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise


def open_private(path: Path, mode: str = "a", **kwargs: Any) -> Any:
    """Open ``path`` for appending, readable by the owner only (0600, also when it existed):
    logs may hold user names, addresses and SQL."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, mode, **kwargs)


def is_sandbox(directory: Path) -> bool:
    """The directory's own marker says it is a sandbox: a state.json that ``up`` wrote."""
    state = read_json(directory / STATE_FILE)
    return bool(state) and isinstance(state.get("postgres"), dict) and "version" in state


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)


# -- processes ---------------------------------------------------------------------------
def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [p.decode("utf-8", "replace") for p in f.read().split(b"\x00") if p]
    except OSError:
        return []


def is_running(pid: int | None, *markers: str) -> bool:
    """``pid`` is alive (not a zombie) and its command line contains every marker.

    The markers make sure a recycled pid is never taken for one of ours (we never
    signal a process we did not start)."""
    if not pid or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False
    if markers:
        line = " ".join(cmdline(pid))
        return all(m in line for m in markers)
    return True


def port_is_free(host: str, port: int) -> bool:
    """Could a server bind ``host:port``?  (With SO_REUSEADDR, as PostgreSQL and asyncio
    do: a port whose old connections linger in TIME_WAIT is free.)"""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def listening(host: str, port: int, timeout: float = 0.5) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
