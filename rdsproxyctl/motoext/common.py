"""Faults with the codes of botocore's RDS model, validation, and look-ups shared by the
extension's modules."""

from __future__ import annotations

import re
from typing import Any

from moto.rds import exceptions as rds_exceptions
from moto.rds.exceptions import RDSClientError
from moto.rds.models import DBProxy, DBProxyTargetGroup, RDSBackend, rds_backends

_NAME_RE = re.compile(r"^[A-Za-z](?:-?[A-Za-z0-9]+)*$")
HEALTH_STATES = {"REGISTERING", "AVAILABLE", "UNAVAILABLE", "UNUSED"}
HEALTH_REASONS = {
    None, "UNREACHABLE", "CONNECTION_FAILED", "AUTH_FAILURE", "PENDING_PROXY_CAPACITY",
    "INVALID_REPLICATION_STATE", "PROMOTED",
}


def backend(account_id: str, region: str) -> RDSBackend:
    return rds_backends[account_id][region]


def fault(code: str, message: str) -> RDSClientError:
    """A fault; moto takes the HTTP status from the shape of that code in the RDS model."""
    return RDSClientError(code, message)


def proxy_not_found(name: str) -> RDSClientError:
    return rds_exceptions.DBProxyNotFoundFault(name)


def invalid_parameter(message: str) -> RDSClientError:
    return fault("InvalidParameterValue", message)


def validate_name(name: str, what: str) -> None:
    if not (1 <= len(name) <= 63 and _NAME_RE.match(name)):
        raise invalid_parameter(
            f"{what} {name!r} is not valid: 1 to 63 ASCII letters, digits and hyphens; it must "
            "start with a letter and can't end with a hyphen or contain two consecutive hyphens."
        )


def validate_range(value: Any, lo: int, hi: int, field: str) -> None:
    if value is not None and not lo <= int(value) <= hi:
        raise invalid_parameter(f"{field} must be between {lo} and {hi}; got {value}.")


def proxy_hostname(name: str, proxy: DBProxy) -> str:
    return f"{name}.proxy-{proxy.url_identifier}.{proxy.region}.rds.amazonaws.com"


def endpoint_hostname(name: str, proxy: DBProxy) -> str:
    return f"{name}.endpoint.proxy-{proxy.url_identifier}.{proxy.region}.rds.amazonaws.com"


def find_proxy(backend: RDSBackend, name: str | None) -> DBProxy:
    proxy = backend.db_proxies.get(name or "")
    if proxy is None:
        raise proxy_not_found(name or "")
    return proxy


def find_target_group(proxy: DBProxy, name: str | None) -> DBProxyTargetGroup:
    group = proxy.proxy_target_groups.get(name or "default")
    if group is None:
        raise fault("DBProxyTargetGroupNotFoundFault",
                    f"The target group {name} doesn't exist for proxy {proxy.db_proxy_name}.")
    return group
