"""Which target a new borrow goes to: the writer for READ_WRITE endpoints, a reader for
READ_ONLY ones (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy-endpoints.html).

* A DB instance target serves READ_WRITE endpoints (as before, whatever its health:
  the pool retries an unreachable database until the borrow timeout).
* Members of a tracked Aurora cluster serve by role, only while their target health
  says they can (AVAILABLE, or REGISTERING before the first check): during a failover
  the old writer is UNAVAILABLE and the promoted reader becomes READ_WRITE, so new
  requests wait (up to the borrow timeout, in the caller) and then go to the new writer.
* A READ_ONLY endpoint on a proxy without a cluster, or on a cluster without readers,
  fails at once (:class:`NoReaders`); with readers that are all unavailable, it waits.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from rdsproxyctl.sandbox.emulator.control import TargetView

SERVING = ("AVAILABLE", "REGISTERING")

_epoch = 0


def changed() -> None:
    """Target health or roles changed: sessions look their target up again at the next
    borrow instead of reusing the one they resolved (a failover moves the writer)."""
    global _epoch
    _epoch += 1


def epoch() -> int:
    return _epoch


class NoReaders(Exception):
    """A READ_ONLY endpoint whose proxy has no reader to route to."""


def choose(targets: Sequence[TargetView], role: str,
           health: Callable[[str], dict[str, str] | None]) -> TargetView | None:
    """The target for a new borrow, or None: wait and ask again."""
    instances = [t for t in targets if t.type == "RDS_INSTANCE" and not t.tracked_cluster_id]
    members = [t for t in targets if t.type == "RDS_INSTANCE" and t.tracked_cluster_id]
    if role == "READ_ONLY":
        readers = [t for t in members if t.role == "READ_ONLY"]
        if not readers:
            raise NoReaders()
        up = [t for t in readers if _serving(health(t.rds_resource_id))]
        return random.choice(up) if up else None
    if instances:
        return next((t for t in instances if t.role == "READ_WRITE"), instances[0])
    writers = [t for t in members if t.role == "READ_WRITE"
               and _serving(health(t.rds_resource_id))]
    return writers[0] if writers else None


def _serving(health: dict[str, str] | None) -> bool:
    return health is None or health.get("State") in SERVING
