"""``diagnose``: every check of a proxy in one report a runbook can act on.

Importing this package registers every check (the ``checks_*`` modules), in report order.
"""

from __future__ import annotations

from typing import Any

from rdsproxyctl.core.diagnose import (  # noqa: F401 - imported to register their checks
    checks_settings,
    checks_access,
    checks_network,
    checks_pool,
    checks_logs,
    checks_connect,
)
from rdsproxyctl.core.diagnose.framework import (
    AREAS,
    FAIL,
    PASS,
    REGISTRY,
    SEVERITY,
    SKIP,
    WARN,
    Finding,
    Lookups,
    Options,
    ProxyReport,
    diagnose_proxy,
    selected,
)

__all__ = ["AREAS", "FAIL", "PASS", "REGISTRY", "SEVERITY", "SKIP", "WARN", "Finding",
           "Lookups", "Options", "ProxyReport", "diagnose_proxy", "run",
           "selected"]


def run(aws: Any, name: str | None, options: Options, all_proxies: bool = False,
        max_workers: int = 8) -> list[ProxyReport]:
    """Diagnose one proxy, or (``all_proxies``) every proxy in the region."""
    from rdsproxyctl.core.logs.query import Window

    selected(options)  # unknown ids and a bad --since fail before any API call
    Window.parse(options.since, None)
    if not all_proxies:
        assert name
        return [diagnose_proxy(aws, Lookups(aws), name, options)]
    from rdsproxyctl.core.proxies import list_proxies

    proxies = list_proxies(aws)
    lookups = Lookups(aws)
    for p in proxies:
        lookups.memo(("proxy", p.name), lambda p=p: p)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(proxies) or 1))) as pool:
        return list(pool.map(lambda p: diagnose_proxy(aws, lookups, p.name, options), proxies))
