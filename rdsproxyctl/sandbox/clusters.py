"""The daemon's Aurora clusters: the moto extension's provisioner, and failover.

CreateDBCluster (engine ``aurora-postgresql``) in the sandbox's API calls
:meth:`Clusters.create`, which makes the real servers (:mod:`.aurora`) on a thread
(the API answers at once, the cluster says ``creating``) and then publishes the members
to the API (:func:`rdsproxyctl.motoext.set_cluster_members`: DB instances
``NAME-instance-1`` the writer and ``NAME-instance-2`` the reader, with their
endpoints) and their host names (:mod:`.hostnames`: the cluster's writer and reader
names follow the roles).  :meth:`failover` promotes the reader and stops the old
writer; :meth:`restore` brings the old writer back as a replica of the new one.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from rdsproxyctl.sandbox import aurora, hostnames
from rdsproxyctl.sandbox import state as st

log = logging.getLogger("rdsproxyctl.sandbox")


class Clusters:
    """Implements :class:`rdsproxyctl.motoext.ClusterProvisioner` for the daemon."""

    def __init__(self, directory: Path, state: dict[str, Any], names: hostnames.Names,
                 account_id: str, region: str) -> None:
        self.directory = directory
        self.state = state
        self.names = names
        self.account_id = account_id
        self.region = region
        self.clusters: dict[str, aurora.AuroraCluster] = {}
        self.lock = threading.RLock()
        self.ca = directory / st.CA_FILE
        #: cluster -> member ids that are down on purpose (stopped old writers)
        self.stopped: dict[str, set[str]] = {}

    @property
    def password(self) -> str:
        return str(self.state["postgres"]["superuser_password"])

    # -- the provisioner -------------------------------------------------------------------
    def create(self, account_id: str, region: str, identifier: str) -> None:
        threading.Thread(target=self._make, args=(identifier,), name=f"cluster-{identifier}",
                         daemon=True).start()

    def _make(self, identifier: str) -> None:
        from rdsproxyctl import motoext

        started = time.monotonic()
        app = self.state["app"]
        try:
            cluster = aurora.create(self.directory, identifier, superuser_password=self.password,
                                    cert=self.directory / st.CERT_FILE,
                                    key=self.directory / st.KEY_FILE, app_user=app["user"],
                                    app_password=app["password"], app_database=app["database"],
                                    ca=self.ca)
        except Exception:  # noqa: BLE001 - reported in the API and the daemon's log
            log.exception("could not make DB cluster %s", identifier)
            try:
                motoext.set_cluster_members(self.account_id, self.region, identifier, [],
                                            status="failed")
            except Exception:  # noqa: BLE001 - deleted meanwhile
                pass
            return
        with self.lock:
            self.clusters[identifier] = cluster
            aurora.save_all(self.directory, self.clusters)
        self.publish(identifier)
        log.info("DB cluster %s: writer %s, reader %s, in %.1fs", identifier,
                 cluster.member(cluster.writer).host, cluster.readers[0].host,
                 time.monotonic() - started)

    def delete(self, account_id: str, region: str, identifier: str) -> None:
        with self.lock:
            cluster = self.clusters.pop(identifier, None)
            aurora.save_all(self.directory, self.clusters)
        if cluster is None:
            return
        for name in self._names(cluster):
            self.names.drop(name)
        threading.Thread(target=aurora.remove, args=(cluster,), daemon=True).start()

    def _names(self, cluster: aurora.AuroraCluster) -> list[str]:
        ident, region = self.names.ident, self.names.region
        out = [hostnames.cluster_name(cluster.identifier, ident, region),
               hostnames.cluster_name(cluster.identifier, ident, region, reader=True)]
        out += [hostnames.instance_name(m.identifier, ident, region) for m in cluster.members]
        return out

    def publish(self, identifier: str) -> None:
        """Tell the API (and the hosts block) who the members are and who writes."""
        from rdsproxyctl import motoext

        with self.lock:
            cluster = self.clusters[identifier]
            ident, region = self.names.ident, self.names.region
            writer = cluster.member(cluster.writer)
            self.names.set(hostnames.cluster_name(identifier, ident, region), writer.host)
            readers = [m for m in cluster.readers
                       if m.identifier not in self.stopped.get(identifier, set())]
            self.names.set(hostnames.cluster_name(identifier, ident, region, reader=True),
                           (readers[0] if readers else writer).host)
            members = []
            for m in cluster.members:
                address = self.names.set(hostnames.instance_name(m.identifier, ident, region),
                                         m.host)
                members.append({"id": m.identifier, "address": address, "port": m.port,
                                "writer": m.identifier == cluster.writer})
        motoext.set_cluster_members(self.account_id, self.region, identifier, members)
        from rdsproxyctl.sandbox.emulator import routing

        routing.changed()  # roles moved: sessions look their target up again

    # -- what the faults do ----------------------------------------------------------------------
    def find(self, identifier: str) -> aurora.AuroraCluster | None:
        with self.lock:
            return self.clusters.get(identifier)

    def member_of(self, instance: str) -> tuple[aurora.AuroraCluster, aurora.Member] | None:
        with self.lock:
            for cluster in self.clusters.values():
                for m in cluster.members:
                    if m.identifier == instance:
                        return cluster, m
        return None

    def failover(self, identifier: str) -> tuple[str, str]:
        """Promote the (first) reader, stop the old writer; (old writer, new writer)."""
        with self.lock:
            cluster = self.clusters[identifier]
            old = cluster.member(cluster.writer)
            new = next(m for m in cluster.readers
                       if m.identifier not in self.stopped.get(identifier, set()))
        from rdsproxyctl.sandbox import postgres

        postgres.stop(old.server)  # in-flight statements on the old writer fail here
        aurora.promote(new)
        with self.lock:
            cluster.writer = new.identifier
            self.stopped.setdefault(identifier, set()).add(old.identifier)
            aurora.save_all(self.directory, self.clusters)
        self.publish(identifier)
        return old.identifier, new.identifier

    def restore(self, identifier: str) -> None:
        """Stopped members come back as streaming replicas of the writer."""
        with self.lock:
            cluster = self.clusters[identifier]
            down = [cluster.member(i) for i in self.stopped.pop(identifier, set())]
            writer = cluster.member(cluster.writer)
        for member in down:
            aurora.rebuild_replica(self.directory, member, writer, self.password)
        self.publish(identifier)

    def replicating(self, instance: str) -> bool | None:
        found = self.member_of(instance)
        if found is None:
            return None
        return aurora.replicating(found[1], self.password, self.ca)

    def shutdown(self) -> None:
        with self.lock:
            clusters = list(self.clusters.values())
            self.clusters.clear()
        for cluster in clusters:
            aurora.remove(cluster)
        (self.directory / aurora.CLUSTERS_FILE).unlink(missing_ok=True)
