"""Aurora DB clusters as proxy targets, and the sandbox's hooks for real clusters.

What AWS reports for a proxy whose target group names a DB cluster
(https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBProxyTarget.html):
one ``TRACKED_CLUSTER`` target (``RdsResourceId`` and ``TrackedClusterId`` the
cluster, ``Endpoint`` its writer endpoint) plus one ``RDS_INSTANCE`` target per member
(``Endpoint`` the instance's, ``Role`` ``READ_WRITE`` for the writer and ``READ_ONLY``
for readers, ``TrackedClusterId`` the cluster), each with its own health.  moto keeps
only the first; :func:`sync_targets` keeps the member rows in step with the cluster's
members (after registration, a failover, members added) on every read.

READ_ONLY proxy endpoints route to Aurora readers only
(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy-endpoints.html):
:func:`check_target_role` refuses one on a proxy whose target is a DB instance, with
RDS's generic ``InvalidParameterCombination`` code; the wording is ours (AWS documents
that such an endpoint cannot serve, not the exact text of the refusal; unverified).

Sandbox hooks: :func:`set_cluster_provisioner` (CreateDBCluster with engine
``aurora-postgresql`` asks it to make real servers; the cluster says ``creating`` until
:func:`set_cluster_members` reports them), :func:`set_cluster_members` (the members,
their endpoints and which one writes), and ``settings.URL_IDENTIFIER`` (the customer
identifier in cluster host names, which the sandbox certificate covers).
"""

from __future__ import annotations

from typing import Any

from moto.moto_api._internal import mock_random as random
from moto.rds.models import DBCluster, DBProxy, DBProxyTarget, RDSBackend

from rdsproxyctl.motoext import settings
from rdsproxyctl.motoext.common import backend, fault

READ_ONLY_REFUSED = ("The DB proxy {proxy} targets a DB instance. READ_ONLY endpoints are "
                     "supported only for proxies associated with Aurora DB clusters.")


class ClusterProvisioner:
    """What the sandbox plugs into :func:`set_cluster_provisioner`."""

    def create(self, account_id: str, region: str, identifier: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def delete(self, account_id: str, region: str, identifier: str) -> None:  # pragma: no cover
        raise NotImplementedError


_provisioner: ClusterProvisioner | None = None


def set_cluster_provisioner(provisioner: ClusterProvisioner | None) -> None:
    global _provisioner
    _provisioner = provisioner


_orig_create_cluster = RDSBackend.create_db_cluster
_orig_delete_cluster = RDSBackend.delete_db_cluster
_orig_cluster_status = DBCluster.status


def create_db_cluster(self: RDSBackend, kwargs: dict[str, Any]) -> DBCluster:
    cluster = _orig_create_cluster(self, kwargs)
    if settings.URL_IDENTIFIER:
        cluster.url_identifier = settings.URL_IDENTIFIER
    if _provisioner is not None and cluster.engine == "aurora-postgresql":
        cluster._rpc_status = "creating"
        _provisioner.create(self.account_id, self.region_name, cluster.db_cluster_identifier)
    return cluster


def delete_db_cluster(self: RDSBackend, cluster_identifier: str,
                      snapshot_name: str | None = None) -> DBCluster:
    cluster = _orig_delete_cluster(self, cluster_identifier, snapshot_name)
    if _provisioner is not None and getattr(cluster, "_rpc_status", None) is not None:
        _provisioner.delete(self.account_id, self.region_name, cluster_identifier)
    return cluster


def _cluster_status(self: DBCluster) -> str:
    override = getattr(self, "_rpc_status", None)
    return override if override is not None else _orig_cluster_status.fget(self)  # type: ignore[attr-defined]


def _set_cluster_status(self: DBCluster, value: str) -> None:
    if getattr(self, "_rpc_status", None) is not None:
        self._rpc_status = value
    _orig_cluster_status.fset(self, value)  # type: ignore[attr-defined]


def set_cluster_members(account_id: str, region: str, identifier: str,
                        members: list[dict[str, Any]], status: str = "available") -> None:
    """The cluster's members as the sandbox made them: ``[{"id", "address", "port",
    "writer": bool}]`` (DB instances are created when missing), and its status."""
    with settings.lock:
        rds = backend(account_id, region)
        cluster = rds.clusters[identifier]
        for m in members:
            db = rds.databases.get(m["id"])
            if db is None:
                db = rds.create_db_instance({
                    "db_instance_identifier": m["id"], "db_cluster_identifier": identifier,
                    "engine": cluster.engine, "engine_version": cluster.engine_version,
                    "db_instance_class": "db.r6g.large", "port": int(m["port"]),
                    "tags": []})
            db._rpc_address = m["address"]
            db.port = int(m["port"])
            db.is_cluster_writer = bool(m["writer"])
        cluster.port = int(members[0]["port"]) if members else cluster.port
        if getattr(cluster, "_rpc_status", None) is not None:
            cluster._rpc_status = status
        for proxy in rds.db_proxies.values():
            sync_targets(rds, proxy)


def _new_target_arn(proxy: DBProxy) -> str:
    return (f"arn:{proxy.partition}:rds:{proxy.region}:{proxy.account_id}:"
            f"target:prx-tgt-{random.get_random_string(17, lower_case=True)}")


def sync_targets(rds: RDSBackend, proxy: DBProxy) -> None:
    """One RDS_INSTANCE row per member of each tracked cluster, roles as now."""
    with settings.lock:
        for group in proxy.proxy_target_groups.values():
            tracked = [t for t in group.targets if t.type == "TRACKED_CLUSTER"]
            if not tracked and not any(getattr(t, "tracked_cluster_id", None)
                                       for t in group.targets):
                continue
            keep: list[DBProxyTarget] = [t for t in group.targets
                                         if t.type != "RDS_INSTANCE"
                                         or not getattr(t, "tracked_cluster_id", None)]
            old = {t.rds_resource_id: t for t in group.targets
                   if t.type == "RDS_INSTANCE" and getattr(t, "tracked_cluster_id", None)}
            rows: list[DBProxyTarget] = []
            for ct in tracked:
                cluster = rds.clusters.get(ct.rds_resource_id)
                if cluster is None:
                    continue
                ct.endpoint = cluster.endpoint
                ct.port = int(cluster.port)
                ct.tracked_cluster_id = ct.rds_resource_id
                for member in cluster.members:
                    row = old.get(member.db_instance_identifier)
                    if row is None:
                        row = DBProxyTarget(rds, member.db_instance_identifier, None,
                                            "RDS_INSTANCE")
                        row.target_arn = _new_target_arn(proxy)
                        if settings.REGISTERED_TARGET_HEALTH:
                            row._rpc_health = {"State": settings.REGISTERED_TARGET_HEALTH,
                                               "Reason": None, "Description": None}
                    row.endpoint = member.address
                    row.port = int(member.port)
                    row.role = "READ_WRITE" if member.is_cluster_writer else "READ_ONLY"
                    row.tracked_cluster_id = ct.rds_resource_id
                    rows.append(row)
            group.targets = keep + rows


def check_target_role(proxy: DBProxy, target_role: str | None) -> None:
    """READ_ONLY endpoints: refused on a proxy whose target is a DB instance."""
    if target_role != "READ_ONLY":
        return
    group = proxy.proxy_target_groups.get("default")
    targets = list(group.targets) if group is not None else []
    if any(t.type == "RDS_INSTANCE" and not getattr(t, "tracked_cluster_id", None)
           for t in targets):
        raise fault("InvalidParameterCombination",
                    READ_ONLY_REFUSED.format(proxy=proxy.db_proxy_name))


def install() -> None:
    RDSBackend.create_db_cluster = create_db_cluster  # type: ignore[method-assign]
    RDSBackend.delete_db_cluster = delete_db_cluster  # type: ignore[method-assign]
    DBCluster.status = property(_cluster_status, _set_cluster_status)  # type: ignore[assignment]
