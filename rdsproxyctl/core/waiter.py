"""The one waiter: poll a proxy until it is ``available`` (or gone), with a time-out.

botocore has no waiter for RDS Proxy, so this polls DescribeDBProxies (and, when
targets changed, DescribeDBProxyTargets until none is REGISTERING).  Progress goes
to a callback (the CLI turns it into ``rt.renderer.status``); the poll interval,
the clock and ``sleep`` are injectable so tests run instantly.

A proxy that ends in ``incompatible-network`` or ``insufficient-resource-limits``
will not become available on its own: the wait stops at once with what the status
means and what to do (see DBProxy.Status in the RDS API reference,
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBProxy.html).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.errors import CheckFailed, NotFound

#: Default --timeout: creating a proxy takes several minutes, sometimes over ten.
DEFAULT_TIMEOUT = 1200.0
#: Default seconds between polls (RDSPROXYCTL_POLL_INTERVAL overrides it in the CLI).
DEFAULT_INTERVAL = 5.0

#: Statuses a proxy does not leave by itself: (what it means, what to do).
FAILED_STATUSES: dict[str, tuple[str, str]] = {
    "incompatible-network": (
        "RDS Proxy cannot work in the network it was given: a subnet or security group "
        "it uses was deleted or changed, or its subnets have no free IP addresses left",
        "check the subnets and security groups (`rdsproxyctl show {proxy}`): at least two "
        "subnets in different Availability Zones, with free IP addresses; fix them, "
        "or delete the proxy and create it again",
    ),
    "insufficient-resource-limits": (
        "RDS Proxy could not get the resources it needs: the account hit a limit such as "
        "its network-interface (ENI) quota, or the subnets ran out of IP addresses",
        "free network interfaces or IP addresses in the proxy's subnets, or raise the "
        "quota (Service Quotas: Amazon VPC, network interfaces per Region), then retry",
    ),
}


@dataclass(frozen=True)
class WaitOptions:
    timeout: float = DEFAULT_TIMEOUT
    interval: float = DEFAULT_INTERVAL
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass
class WaitResult:
    proxy: Any  # core.models.Proxy
    targets: list[Any] = field(default_factory=list)
    waited: float = 0.0


def _no_progress(_message: str) -> None:
    return None


class _Deadline:
    def __init__(self, options: WaitOptions) -> None:
        self.options = options
        self.started = options.clock()

    @property
    def elapsed(self) -> float:
        return self.options.clock() - self.started

    def pause(self, what: str, hint: str) -> None:
        """Sleep one interval, or raise when the time-out is up."""
        left = self.options.timeout - self.elapsed
        if left <= 0:
            raise CheckFailed(f"timed out after {self.options.timeout:.0f}s waiting for {what}",
                              hint=hint)
        self.options.sleep(max(0.0, min(self.options.interval, left)))


def wait_for_proxy(aws: Any, name: str, *, targets: bool = False,
                   options: WaitOptions | None = None,
                   progress: Callable[[str], None] | None = None) -> WaitResult:
    """Poll until proxy ``name`` is available (and, with ``targets``, none REGISTERING)."""
    from rdsproxyctl.core.proxies import get_proxy, get_targets

    options = options or WaitOptions()
    progress = progress or _no_progress
    deadline = _Deadline(options)
    state = "?"
    while True:
        proxy = get_proxy(aws, name)
        state = proxy.status
        if state in FAILED_STATUSES:
            meaning, hint = FAILED_STATUSES[state]
            raise CheckFailed(f"proxy {name} is {state}: {meaning}", hint=hint.format(proxy=name))
        if state == "available":
            if not targets:
                progress(f"{name}: available")
                return WaitResult(proxy, [], deadline.elapsed)
            rows = get_targets(aws, name)
            registering = [t.rds_resource_id or "?" for t in rows
                           if t.health.state == "REGISTERING"]
            if not registering:
                progress(f"{name}: available, targets registered")
                return WaitResult(proxy, rows, deadline.elapsed)
            state = f"available, target {', '.join(registering)} REGISTERING"
        progress(f"{name}: {state}")
        deadline.pause(f"proxy {name} to be available (still {state})",
                       f"AWS goes on with the change; follow it with `rdsproxyctl show {name}`, "
                       "or wait longer with --timeout")


def wait_for_proxy_deleted(aws: Any, name: str, *, options: WaitOptions | None = None,
                           progress: Callable[[str], None] | None = None) -> float:
    """Poll until proxy ``name`` no longer exists; returns the seconds waited."""
    from rdsproxyctl.core.proxies import get_proxy

    options = options or WaitOptions()
    progress = progress or _no_progress
    deadline = _Deadline(options)
    while True:
        try:
            state = get_proxy(aws, name).status
        except NotFound:
            progress(f"{name}: deleted")
            return deadline.elapsed
        progress(f"{name}: {state}")
        deadline.pause(f"proxy {name} to be deleted (still {state})",
                       f"AWS goes on deleting it; `rdsproxyctl show {name}` follows it")


def _endpoint_row(aws: Any, endpoint: str) -> dict[str, Any]:
    """The endpoint as DescribeDBProxyEndpoints reports it ({} if the list is empty);
    NotFound when it does not exist."""
    from rdsproxyctl.core.awserrors import aws_errors

    with aws_errors(aws, endpoint=endpoint):
        rows = aws.client("rds").describe_db_proxy_endpoints(
            DBProxyEndpointName=endpoint)["DBProxyEndpoints"]
    return dict(rows[0]) if rows else {}


def wait_for_endpoint_deleted(aws: Any, endpoint: str, *, options: WaitOptions | None = None,
                              progress: Callable[[str], None] | None = None) -> float:
    """Poll until proxy endpoint ``endpoint`` no longer exists."""
    options = options or WaitOptions()
    progress = progress or _no_progress
    deadline = _Deadline(options)
    while True:
        try:
            row = _endpoint_row(aws, endpoint)
        except NotFound:
            progress(f"endpoint {endpoint}: deleted")
            return deadline.elapsed
        state = row.get("Status", "?")
        progress(f"endpoint {endpoint}: {state}")
        deadline.pause(f"endpoint {endpoint} to be deleted (still {state})",
                       "AWS goes on deleting it; `rdsproxyctl endpoints list PROXY` follows it")


def wait_for_endpoint(aws: Any, endpoint: str, *, options: WaitOptions | None = None,
                      progress: Callable[[str], None] | None = None) -> float:
    """Poll until proxy endpoint ``endpoint`` is available."""
    options = options or WaitOptions()
    progress = progress or _no_progress
    deadline = _Deadline(options)
    while True:
        row = _endpoint_row(aws, endpoint)
        state = row.get("Status", "?")
        if state in FAILED_STATUSES:
            meaning, hint = FAILED_STATUSES[state]
            raise CheckFailed(f"endpoint {endpoint} is {state}: {meaning}",
                              hint=hint.format(proxy=row.get("DBProxyName", "PROXY")))
        progress(f"endpoint {endpoint}: {state}")
        if state == "available":
            return deadline.elapsed
        deadline.pause(f"endpoint {endpoint} to be available (still {state})",
                       "AWS goes on with it; `rdsproxyctl endpoints list PROXY` follows it")


def wait_for_targets_available(aws: Any, name: str, *, options: WaitOptions | None = None,
                               progress: Callable[[str], None] | None = None) -> WaitResult:
    """Poll until proxy ``name`` is available and every target is AVAILABLE (at least one)."""
    from rdsproxyctl.core.proxies import get_targets

    options = options or WaitOptions()
    progress = progress or _no_progress
    deadline = _Deadline(options)
    result = wait_for_proxy(aws, name, options=options, progress=progress)
    while True:
        rows = get_targets(aws, name)
        waiting = [f"{t.rds_resource_id or '?'} {t.health.state or '?'}"
                   + (f" ({t.health.reason})" if t.health.reason else "")
                   for t in rows if t.health.state != "AVAILABLE"]
        if rows and not waiting:
            progress(f"{name}: every target AVAILABLE")
            return WaitResult(result.proxy, rows, deadline.elapsed)
        state = ", ".join(waiting) if rows else "no targets registered"
        progress(f"{name}: {state}")
        deadline.pause(f"the targets of {name} to be AVAILABLE (last seen: {state})",
                       f"`rdsproxyctl targets {name}` shows why; `rdsproxyctl diagnose {name}` "
                       "checks the usual causes")
