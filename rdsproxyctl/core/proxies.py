"""Read-only look-ups of proxies, their target group, targets, endpoints and tags."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rdsproxyctl.core.aws import Aws
from rdsproxyctl.core.awserrors import UNSUPPORTED_CODES, aws_errors
from rdsproxyctl.core.models import (
    Proxy,
    ProxyDetails,
    ProxyEndpoint,
    ProxySummary,
    Target,
    TargetGroup,
    default_endpoint,
)
from rdsproxyctl.core.validate import check_name
from rdsproxyctl.errors import AwsApiError

#: Bounded pool for per-proxy look-ups (``list``) and the parallel parts of ``show``.
MAX_WORKERS = 8
#: Records per page (RDS allows 20-100): the fewest round trips.
PAGE_SIZE = 100


def _paginate(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    pages = client.get_paginator(operation).paginate(
        PaginationConfig={"PageSize": PAGE_SIZE}, **params)
    for page in pages:
        items.extend(page.get(key) or [])
    return items


def list_proxies(aws: Aws) -> list[Proxy]:
    """Every proxy in the region, following pagination."""
    with aws_errors(aws):
        rows = _paginate(aws.client("rds"), "describe_db_proxies", "DBProxies")
    return [Proxy.from_api(r) for r in rows]


def get_proxy(aws: Aws, name: str) -> Proxy:
    """One proxy; :class:`~rdsproxyctl.errors.NotFound` names proxy and region."""
    check_name(name)  # a bad name is a usage error (exit 2), before any call
    with aws_errors(aws, proxy=name):
        rows = aws.client("rds").describe_db_proxies(DBProxyName=name)["DBProxies"]
    return Proxy.from_api(rows[0])


def get_targets(aws: Aws, name: str) -> list[Target]:
    check_name(name)  # a bad name is a usage error (exit 2), before any call
    with aws_errors(aws, proxy=name):
        rows = _paginate(aws.client("rds"), "describe_db_proxy_targets", "Targets",
                         DBProxyName=name)
    return [Target.from_api(r) for r in rows]


def get_target_group(aws: Aws, name: str) -> TargetGroup | None:
    """The proxy's target group (there is always exactly one, ``default``)."""
    check_name(name)  # a bad name is a usage error (exit 2), before any call
    with aws_errors(aws, proxy=name):
        rows = _paginate(aws.client("rds"), "describe_db_proxy_target_groups", "TargetGroups",
                         DBProxyName=name)
    groups = [TargetGroup.from_api(r) for r in rows]
    return next((g for g in groups if g.is_default), groups[0] if groups else None)


def get_endpoints(aws: Aws, name: str) -> list[ProxyEndpoint]:
    """The proxy's endpoints, the default one included (``is_default``)."""
    check_name(name)  # a bad name is a usage error (exit 2), before any call
    with aws_errors(aws, proxy=name):
        rows = _paginate(aws.client("rds"), "describe_db_proxy_endpoints", "DBProxyEndpoints",
                         DBProxyName=name)
    return [ProxyEndpoint.from_api(r) for r in rows]


def get_tags(aws: Aws, arn: str) -> dict[str, str]:
    with aws_errors(aws):
        rows = aws.client("rds").list_tags_for_resource(ResourceName=arn).get("TagList") or []
    return {t["Key"]: t.get("Value", "") for t in rows}


def list_summaries(aws: Aws, max_workers: int = MAX_WORKERS) -> list[ProxySummary]:
    """One row per proxy, with its target health; targets fetched concurrently."""
    proxies = list_proxies(aws)
    if not proxies:
        return []
    aws.client("rds")  # make the shared client before the threads use it
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(proxies)))) as pool:
        targets = list(pool.map(lambda p: get_targets(aws, p.name), proxies))
    return [ProxySummary.build(p, t) for p, t in zip(proxies, targets)]


def describe(aws: Aws, name: str) -> ProxyDetails:
    """Everything ``show`` reports: the proxy, then its parts fetched in parallel."""
    proxy = get_proxy(aws, name)
    with ThreadPoolExecutor(max_workers=4) as pool:
        group = pool.submit(get_target_group, aws, name)
        targets = pool.submit(get_targets, aws, name)
        endpoints = pool.submit(get_endpoints, aws, name)
        tags = pool.submit(get_tags, aws, proxy.arn)
        warnings: list[str] = []
        try:
            endpoint_list = endpoints.result()
        except AwsApiError as err:
            if err.code not in UNSUPPORTED_CODES:
                raise
            endpoint_list = [default_endpoint(proxy)]
            warnings.append("this API endpoint does not implement DescribeDBProxyEndpoints: "
                            "only the default endpoint is shown")
        return ProxyDetails(
            proxy=proxy,
            target_group=group.result(),
            targets=targets.result(),
            endpoints=endpoint_list,
            tags=tags.result(),
            warnings=warnings,
        )
