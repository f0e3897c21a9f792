"""RDS host names for the sandbox: ``NAME.proxy-ID.REGION.rds.amazonaws.com`` on loopback.

Clients that validate RDS host names (AWS's Advanced Python/JDBC Wrapper's IAM plugin
refuses anything else: "Invalid IAM host ... must be a valid RDS or Aurora endpoint")
need a proxy's ``Endpoint`` to look like AWS's, resolve to the listener and be covered
by the certificate it presents.  So each sandbox has one customer identifier ``ID``
(12 lowercase letters and digits, as AWS's per-account, per-region identifier,
chosen when the sandbox is made, kept in ``state.json``), and:

* proxies are ``NAME.proxy-ID.REGION.rds.amazonaws.com``, extra proxy endpoints
  ``NAME.endpoint.proxy-ID.REGION.rds.amazonaws.com``, DB clusters
  ``NAME.cluster-ID...`` / ``NAME.cluster-ro-ID...``, DB instances ``NAME.ID.REGION...``
  (formats: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-endpoints.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Overview.Endpoints.html);
* the sandbox certificate has a wildcard SAN for each of those forms (:func:`wildcards`);
* the names resolve through one marked block in ``/etc/hosts`` that the sandbox owns
  (:class:`HostsBlock`): written atomically (a temporary file renamed over it, or, when
  the file is a bind mount that cannot be replaced, rewritten in place), always under a
  lock, touching no line outside the block, removed by ``sandbox down``.

When the file cannot be written (not root, a read-only /etc, or
``RDSPROXYCTL_SANDBOX_HOSTNAMES=0``), or a name written there does not resolve (an
``nsswitch.conf`` without ``files``), endpoints are loopback addresses as before and
``sandbox up`` says so.  ``RDSPROXYCTL_SANDBOX_HOSTS_FILE`` points at another file (tests).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import socket
import string
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOSTS_FILE = "/etc/hosts"
ENV_FILE = "RDSPROXYCTL_SANDBOX_HOSTS_FILE"
ENV_SWITCH = "RDSPROXYCTL_SANDBOX_HOSTNAMES"
SUFFIX = "rds.amazonaws.com"
_ALPHABET = string.ascii_lowercase + string.digits


def new_identifier() -> str:
    """A customer identifier like AWS's (``c9akciq32abc``): 12 lowercase letters/digits."""
    return secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(_ALPHABET) for _ in range(11))


def proxy_name(proxy: str, ident: str, region: str) -> str:
    return f"{proxy}.proxy-{ident}.{region}.{SUFFIX}".lower()


def endpoint_name(endpoint: str, ident: str, region: str) -> str:
    return f"{endpoint}.endpoint.proxy-{ident}.{region}.{SUFFIX}".lower()


def cluster_name(cluster: str, ident: str, region: str, *, reader: bool = False) -> str:
    return f"{cluster}.cluster-{'ro-' if reader else ''}{ident}.{region}.{SUFFIX}".lower()


def instance_name(instance: str, ident: str, region: str) -> str:
    return f"{instance}.{ident}.{region}.{SUFFIX}".lower()


def wildcards(ident: str, region: str) -> list[str]:
    """The certificate's DNS SANs covering every name above (one label per wildcard)."""
    base = f"{ident}.{region}.{SUFFIX}".lower()
    return [f"*.proxy-{base}", f"*.endpoint.proxy-{base}", f"*.cluster-{base}",
            f"*.cluster-ro-{base}", f"*.{base}"]


@dataclass(frozen=True)
class Mode:
    """How endpoints are named: ``hostnames`` (through ``file``) or ``addresses``."""

    kind: str  # hostnames | addresses
    file: str | None
    reason: str

    @property
    def hostnames(self) -> bool:
        return self.kind == "hostnames"

    def to_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "file": self.file, "reason": self.reason}


def hosts_file() -> Path:
    return Path(os.environ.get(ENV_FILE) or DEFAULT_HOSTS_FILE)


class HostsBlock:
    """The lines between ``# >>> rdsproxyctl sandbox OWNER`` and ``# <<< ...`` markers."""

    def __init__(self, owner: str, path: Path | None = None) -> None:
        if "\n" in owner or "\r" in owner:
            raise ValueError("a block owner is one line")
        self.owner = owner
        self.path = path or hosts_file()
        self.begin = f"# >>> rdsproxyctl sandbox {owner} (removed by `sandbox down`)"
        self.end = f"# <<< rdsproxyctl sandbox {owner}"

    # -- can we? --------------------------------------------------------------------------
    def unwritable_reason(self) -> str | None:
        """Why this file cannot be changed, or None when it can."""
        if os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "false", "no", "off"):
            return f"{ENV_SWITCH}={os.environ[ENV_SWITCH]}"
        if not self.path.is_file():
            return f"{self.path} does not exist"
        if not os.access(self.path, os.W_OK):
            return f"{self.path} is not writable by this user"
        return None

    # -- read / write -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        digest = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:16]
        lock = Path(tempfile.gettempdir()) / f"rdsproxyctl-hosts-{digest}.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def entries(self) -> dict[str, str]:
        """Name -> address, as the block has them now."""
        out: dict[str, str] = {}
        inside = False
        for line in self._read().splitlines():
            if line == self.begin:
                inside = True
            elif line == self.end:
                inside = False
            elif inside and line.strip() and not line.startswith("#"):
                address, *names = line.split()
                for name in names:
                    out[name] = address
        return out

    def write(self, entries: dict[str, str]) -> None:
        """Make the block say exactly ``entries`` (name -> address); none: no block."""
        for name, address in entries.items():
            if not name or any(c.isspace() or c == "#" for c in name + address):
                raise ValueError(f"not a hosts entry: {address!r} {name!r}")
        with self._lock():
            text = self._read()
            kept = self._without_block(text)
            if entries:
                if kept and not kept.endswith("\n"):
                    kept += "\n"
                lines = [self.begin]
                lines += [f"{address}\t{name}" for name, address in sorted(entries.items())]
                lines.append(self.end)
                kept += "\n".join(lines) + "\n"
            if kept != text:
                self._replace(kept)

    def remove(self) -> None:
        if self.path.is_file() and self.begin in self._read():
            self.write({})

    def _read(self) -> str:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return ""

    def _without_block(self, text: str) -> str:
        out: list[str] = []
        inside = False
        for line in text.splitlines(keepends=True):
            bare = line.rstrip("\r\n")
            if bare == self.begin:
                inside = True
                continue
            if inside:
                if bare == self.end:
                    inside = False
                continue
            out.append(line)
        return "".join(out)

    def _replace(self, text: str) -> None:
        """Rename a complete temporary file over the hosts file (readers never see half a
        file); a bind-mounted file (EBUSY/EXDEV/EPERM on rename) is rewritten in place."""
        info = self.path.stat()
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".hosts.rdsproxyctl.")
        except OSError:
            self._rewrite_in_place(text)
            return
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, info.st_mode & 0o7777)
            with contextlib.suppress(OSError):
                os.chown(tmp, info.st_uid, info.st_gid)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self._rewrite_in_place(text)

    def _rewrite_in_place(self, text: str) -> None:
        with open(self.path, "r+") as f:
            f.write(text)
            f.truncate()


def resolves_to(name: str, address: str) -> bool:
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return False
    return any(info[4][0] == address for info in infos)


def choose(block: HostsBlock, ident: str | None, region: str) -> Mode:
    """Try the hosts file: write a probe name, check the resolver returns it, keep the
    block (with the probe) when it does.  Otherwise fall back to addresses."""
    if not ident:
        return Mode("addresses", None, "this sandbox was made before host names (no identifier)")
    reason = block.unwritable_reason()
    if reason is not None:
        return Mode("addresses", None, reason)
    probe = instance_name("sandbox-resolver-check", ident, region)
    try:
        block.write({probe: "127.0.0.1"})
    except OSError as exc:
        return Mode("addresses", None, f"could not write {block.path}: {exc.strerror or exc}")
    if not resolves_to(probe, "127.0.0.1"):
        with contextlib.suppress(OSError):
            block.remove()
        return Mode("addresses", None, f"names written to {block.path} do not resolve here")
    return Mode("hostnames", str(block.path), f"a block in {block.path} this sandbox owns")


class Names:
    """The sandbox's live name -> address table, mirrored into its hosts block."""

    def __init__(self, block: HostsBlock, ident: str, region: str, mode: Mode) -> None:
        import threading

        self.block = block
        self.ident = ident
        self.region = region
        self.mode = mode
        self._lock = threading.Lock()
        self._table: dict[str, str] = (
            {instance_name("sandbox-resolver-check", ident, region): "127.0.0.1"}
            if mode.hostnames else {})

    def set(self, name: str, address: str) -> str:
        """Publish ``name`` -> ``address``; the endpoint to report (the name, or the
        address when names are off or the write failed)."""
        if not self.mode.hostnames:
            return address
        with self._lock:
            self._table[name.lower()] = address
            try:
                self.block.write(dict(self._table))
            except OSError:
                self._table.pop(name.lower(), None)
                return address
        return name.lower()

    def drop(self, name: str) -> None:
        if not self.mode.hostnames:
            return
        with self._lock:
            if self._table.pop(name.lower(), None) is not None:
                with contextlib.suppress(OSError):
                    self.block.write(dict(self._table))

    def publish_endpoint(self, proxy: str, endpoint: str, address: str) -> str:
        """The Endpoint of a proxy's default (``endpoint == "default"``) or extra endpoint."""
        name = (proxy_name(proxy, self.ident, self.region) if endpoint == "default"
                else endpoint_name(endpoint, self.ident, self.region))
        return self.set(name, address)

    def address_of(self, name: str) -> str | None:
        with self._lock:
            return self._table.get(name.lower())

    def clear(self) -> None:
        with self._lock:
            self._table.clear()
        if self.mode.hostnames:
            with contextlib.suppress(OSError):
                self.block.remove()
