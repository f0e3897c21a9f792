"""Aurora PostgreSQL DB clusters in the sandbox: a real writer and a streaming replica.

Creating a DB cluster with engine ``aurora-postgresql`` through the sandbox's API
(``create-db-cluster``) makes, in the daemon, two PostgreSQL servers from Debian's
binaries, as the sandbox's unprivileged user (:mod:`.postgres`): the writer (initdb,
TLS on, the application's roles and database) and a reader made with ``pg_basebackup
-R`` (a hot standby streaming WAL from the writer over TLS).  Each member listens on its
own loopback address and the cluster's one port (``127.0.0.A:P``, ``127.0.0.B:P``), so
the cluster's host names (``NAME.cluster-ID...`` for the writer, ``NAME.cluster-ro-ID...``
for the reader, :mod:`.hostnames`) move with a failover as AWS's DNS names do.

The servers are recorded in ``clusters.json`` in the sandbox directory, so ``down`` (or a
restarted daemon, whose API has forgotten them) stops and removes them.

Operations used by the faults (:mod:`.faults`): :func:`promote` (the reader becomes the
writer: ``pg_ctl promote``), :func:`rebuild_replica` (a stopped old writer comes back as
a replica of the new one), :func:`replicating` (is a reader streaming?),
:func:`break_replication` / :func:`restore_replication` (the WAL receiver stops / resumes).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdsproxyctl.errors import CheckFailed
from rdsproxyctl.sandbox import postgres
from rdsproxyctl.sandbox import state as st

CLUSTERS_FILE = "clusters.json"
NETWORK = "127.0.0.0/8"


@dataclass
class Member:
    identifier: str  # the DB instance identifier, e.g. NAME-instance-1
    host: str  # its own 127.0.0.N
    port: int
    server: postgres.Cluster

    def to_dict(self) -> dict[str, Any]:
        s = self.server
        return {"identifier": self.identifier, "host": self.host, "port": self.port,
                "bindir": str(s.bindir), "data_dir": str(s.data_dir), "owner": s.owner,
                "base_dir": str(s.base_dir)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Member:
        return cls(d["identifier"], d["host"], int(d["port"]),
                   postgres.Cluster(bindir=Path(d["bindir"]), data_dir=Path(d["data_dir"]),
                                    owner=d.get("owner"), base_dir=Path(d["base_dir"])))


@dataclass
class AuroraCluster:
    identifier: str
    port: int
    members: list[Member] = field(default_factory=list)
    writer: str = ""  # identifier of the writer member

    def member(self, identifier: str) -> Member:
        return next(m for m in self.members if m.identifier == identifier)

    @property
    def readers(self) -> list[Member]:
        return [m for m in self.members if m.identifier != self.writer]

    def to_dict(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "port": self.port, "writer": self.writer,
                "members": [m.to_dict() for m in self.members]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuroraCluster:
        return cls(d["identifier"], int(d["port"]), [Member.from_dict(m) for m in d["members"]],
                   d.get("writer", ""))


def free_addresses(count: int) -> tuple[list[str], int]:
    """``count`` distinct loopback addresses and one port free on all of them."""
    for _ in range(50):
        hosts = [f"127.0.0.{n}" for n in random.sample(range(2, 255), count)]
        port = st.free_port(hosts[0])
        if all(st.port_is_free(h, port) for h in hosts):
            return hosts, port
    raise CheckFailed("no free loopback address and port for a DB cluster")


def create(sandbox_dir: Path, identifier: str, *, superuser_password: str, cert: Path,
           key: Path, app_user: str, app_password: str, app_database: str,
           ca: Path) -> AuroraCluster:
    """A writer and one streaming reader, started, with the application's roles."""
    hosts, port = free_addresses(2)
    cluster = AuroraCluster(identifier, port)
    writer_id = f"{identifier}-instance-1"
    server = postgres.create(sandbox_dir, superuser_password=superuser_password, cert=cert,
                             key=key, name=f"aurora-{writer_id}", network=NETWORK,
                             replication=True)
    writer = Member(writer_id, hosts[0], port, server)
    cluster.members.append(writer)
    cluster.writer = writer_id
    try:
        postgres.start(server, port, writer.host)
        postgres.setup_roles(
            postgres.dsn(writer.host, port, postgres.SUPERUSER, superuser_password, "postgres", ca),
            app_user=app_user, app_password=app_password, app_database=app_database)
        reader = replica_of(sandbox_dir, writer, f"{identifier}-instance-2", hosts[1],
                            superuser_password)
        cluster.members.append(reader)
        postgres.start(reader.server, port, reader.host)
    except BaseException:
        remove(cluster)
        raise
    return cluster


def replica_of(sandbox_dir: Path, source: Member, identifier: str, host: str,
               superuser_password: str) -> Member:
    """``pg_basebackup -R`` of ``source`` into a new server (not started)."""
    owner = source.server.owner
    base = postgres.new_base(sandbox_dir, f"aurora-{identifier}", owner)
    server = postgres.Cluster(bindir=source.server.bindir, data_dir=base / "data", owner=owner,
                              base_dir=base)
    _basebackup(source, server, superuser_password)
    return Member(identifier, host, source.port, server)


def _basebackup(source: Member, server: postgres.Cluster, superuser_password: str) -> None:
    conninfo = (f"host={source.host} port={source.port} user={postgres.SUPERUSER} "
                f"sslmode=require application_name={server.data_dir.parent.name}")
    argv = [str(server.bindir / "pg_basebackup"), "-D", str(server.data_dir), "-R", "-X",
            "stream", "-c", "fast", "--no-sync", "-d", conninfo]
    if server.owner:
        argv = ["runuser", "-u", server.owner, "--", *argv]
    env = {**os.environ, "PGPASSWORD": superuser_password}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env,
                          cwd=server.base_dir, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise CheckFailed(f"pg_basebackup from {source.identifier} failed: "
                          f"{(proc.stderr or proc.stdout).strip()[-400:]}")


def promote(member: Member) -> None:
    """The standby becomes a writer (``pg_ctl promote``, waiting until it accepts writes)."""
    argv = [str(member.server.bindir / "pg_ctl"), "promote", "-D", str(member.server.data_dir),
            "-w", "-t", "60", "-s"]
    if member.server.owner:
        argv = ["runuser", "-u", member.server.owner, "--", *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=70,
                          cwd=member.server.base_dir, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise CheckFailed(f"could not promote {member.identifier}: "
                          f"{(proc.stderr or proc.stdout).strip()[-300:]}")


def rebuild_replica(sandbox_dir: Path, old: Member, source: Member,
                    superuser_password: str) -> Member:
    """``old`` (stopped or not) becomes a fresh streaming replica of ``source``, started."""
    postgres.stop(old.server)
    shutil.rmtree(old.server.data_dir, ignore_errors=True)
    _basebackup(source, old.server, superuser_password)
    postgres.start(old.server, old.port, old.host)
    return old


def _superuser(member: Member, password: str, ca: Path) -> Any:
    import psycopg

    return psycopg.connect(postgres.dsn(member.host, member.port, postgres.SUPERUSER, password,
                                        "postgres", ca), autocommit=True)


def replicating(member: Member, password: str, ca: Path) -> bool | None:
    """True: a standby whose WAL receiver streams; False: a standby that doesn't, or not
    a standby at all; None: the server does not answer."""
    try:
        with _superuser(member, password, ca) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), "
                               "(SELECT status FROM pg_stat_wal_receiver LIMIT 1)").fetchone()
    except Exception:  # noqa: BLE001 - down, starting, refusing
        return None
    return bool(row and row[0] and row[1] == "streaming")


def break_replication(member: Member, password: str, ca: Path) -> str:
    """Stop the reader's WAL receiver (an empty primary_conninfo), as a broken replica;
    returns the conninfo :func:`restore_replication` puts back."""
    with _superuser(member, password, ca) as conn:
        row = conn.execute("SHOW primary_conninfo").fetchone()
        conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
        conn.execute("SELECT pg_reload_conf()")
    return str(row[0]) if row else ""


def restore_replication(member: Member, password: str, ca: Path, conninfo: str) -> None:
    from psycopg import sql

    with _superuser(member, password, ca) as conn:
        conn.execute(sql.SQL("ALTER SYSTEM SET primary_conninfo = {}").format(
            sql.Literal(conninfo)))
        conn.execute("SELECT pg_reload_conf()")


def stop(cluster: AuroraCluster) -> None:
    for member in cluster.members:
        postgres.stop(member.server)


def remove(cluster: AuroraCluster) -> None:
    for member in cluster.members:
        postgres.stop(member.server)
        postgres.remove(member.server)


# -- the record in the sandbox directory ---------------------------------------------------
def load_all(sandbox_dir: Path) -> dict[str, AuroraCluster]:
    data = st.read_json(sandbox_dir / CLUSTERS_FILE) or {}
    return {k: AuroraCluster.from_dict(v) for k, v in (data.get("clusters") or {}).items()}


def save_all(sandbox_dir: Path, clusters: dict[str, AuroraCluster]) -> None:
    st.write_json(sandbox_dir / CLUSTERS_FILE,
                  {"clusters": {k: c.to_dict() for k, c in clusters.items()}})


def remove_all(sandbox_dir: Path) -> list[str]:
    """Stop and remove every recorded cluster's servers (``down``, a restarted daemon)."""
    clusters = load_all(sandbox_dir)
    for cluster in clusters.values():
        remove(cluster)
    (sandbox_dir / CLUSTERS_FILE).unlink(missing_ok=True)
    return sorted(clusters)
