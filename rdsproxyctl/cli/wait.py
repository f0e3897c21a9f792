"""``rdsproxyctl wait NAME --for ...``: the waiter as a command, for runbooks."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.runtime import Runtime, command


def register(app: typer.Typer) -> None:
    command(app, "wait")(wait_cmd)


def wait_cmd(
    name: Annotated[str, typer.Argument(
        help="The proxy's name (for endpoint-available and deleted with --endpoint: the "
        "proxy the endpoint belongs to).", show_default=False)],
    rt: Runtime,
    for_: Annotated[str, o.option("--for", "available: the proxy; targets-available: the "
                                  "proxy and every target AVAILABLE; deleted: the proxy (or "
                                  "--endpoint) gone; endpoint-available: --endpoint.")]
    = "available",
    endpoint: Annotated[Optional[str], o.option(
        "--endpoint", "For endpoint-available and deleted.")] = None,
    timeout: o.Timeout = o.DEFAULT_TIMEOUT,
) -> None:
    """Wait until a proxy (or one of its endpoints) reaches a state; exit 1 on time-out,
    saying what it last saw.

    Polls every RDSPROXYCTL_POLL_INTERVAL seconds (default 5).  A proxy that ends in
    incompatible-network or insufficient-resource-limits stops the wait at once (exit 1).
    Prints the state it reached (-o json for scripts).

    Examples:

      rdsproxyctl create demo ... --no-wait && rdsproxyctl wait demo --for targets-available

      rdsproxyctl wait demo --for deleted --timeout 10m

      rdsproxyctl wait demo --for endpoint-available --endpoint demo-ro
    """
    from rdsproxyctl.cli.output import Fields, View
    from rdsproxyctl.cli.plans import wait_options
    from rdsproxyctl.core import waiter
    from rdsproxyctl.errors import UsageError

    options = wait_options(timeout)
    if for_ == "endpoint-available" and not endpoint:
        raise UsageError("--for endpoint-available needs --endpoint NAME")
    if endpoint and for_ not in ("endpoint-available", "deleted"):
        raise UsageError(f"--endpoint goes with --for endpoint-available or deleted, not {for_}")
    what = f"endpoint {endpoint}" if endpoint else f"proxy {name}"
    data: dict[str, object] = {"proxy": name, "endpoint": endpoint, "for": for_}
    with rt.renderer.status(f"waiting for {what}: {for_}") as update:
        if for_ == "available":
            result = waiter.wait_for_proxy(rt.aws, name, options=options, progress=update)
            data.update(status=result.proxy.status, waited_seconds=round(result.waited, 1))
        elif for_ == "targets-available":
            result = waiter.wait_for_targets_available(rt.aws, name, options=options,
                                                       progress=update)
            data.update(status=result.proxy.status, waited_seconds=round(result.waited, 1),
                        targets=[{"rds_resource_id": t.rds_resource_id,
                                  "state": t.health.state} for t in result.targets])
        elif endpoint:
            waited = (waiter.wait_for_endpoint(rt.aws, endpoint, options=options, progress=update)
                      if for_ == "endpoint-available" else
                      waiter.wait_for_endpoint_deleted(rt.aws, endpoint, options=options,
                                                       progress=update))
            data.update(status="available" if for_ == "endpoint-available" else "deleted",
                        waited_seconds=round(waited, 1))
        else:
            waited = waiter.wait_for_proxy_deleted(rt.aws, name, options=options,
                                                   progress=update)
            data.update(status="deleted", waited_seconds=round(waited, 1))
    rt.renderer.emit(View(data, [Fields([(k.replace("_", " "), v) for k, v in data.items()
                                         if v is not None], title=f"{what}: {for_}")]))
