"""Knobs of the moto extension that tests and the sandbox set (``motoext.settings.X = ...``)."""

from __future__ import annotations

import threading

#: The health a newly registered target reports until someone sets it (the sandbox
#: sets "REGISTERING" and its health checker takes over); None: moto's own
#: REGISTERING-then-AVAILABLE.
REGISTERED_TARGET_HEALTH: str | None = None

#: How many reads (the create/modify response included) a proxy reports a transitional
#: status (creating, modifying) before it becomes available.  0 (the default) makes
#: every change instant; tests of ``--wait`` and the sandbox raise it.
TRANSITION_READS = 0

#: Proxy endpoints a proxy may have besides its default one.
PROXY_ENDPOINT_QUOTA = 20

#: The customer identifier in DB cluster host names (NAME.cluster-ID.REGION.rds.amazonaws.com);
#: the sandbox sets its own (its certificate covers it).  None: moto's random one per cluster.
URL_IDENTIFIER: str | None = None

#: One lock for every change the extension makes to moto's RDS state (the moto server
#: serves requests on threads, and the sandbox's hooks run on others).
lock = threading.RLock()
