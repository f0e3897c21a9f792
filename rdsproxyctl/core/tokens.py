"""RDS IAM authentication tokens for proxies, minted locally with botocore's SigV4 presigner.

A token is a SigV4 presigned query string for service ``rds-db``, ``Action=connect``,
``DBUser=USER``, valid 15 minutes, signed for exactly the host and port the client will
dial and for the proxy's region (see "Connecting to a proxy using IAM authentication",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-connecting.html).
Minting makes no API call and creates no RDS client: it needs credentials only.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.errors import AuthError, UsageError

TOKEN_LIFETIME_SECONDS = 900
SIGNING_SERVICE = "rds-db"

# NAME.proxy-XXXX.REGION.rds.amazonaws.com, NAME.endpoint.proxy-XXXX.REGION..., and the
# database endpoints ID.XXXX.REGION.rds.amazonaws.com / ID.cluster-XXXX.REGION...
_RDS_HOST = re.compile(
    r"^(?P<labels>.+)\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.rds\.amazonaws\.com(?:\.cn)?\.?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AuthToken:
    """A minted token and what it was signed for."""

    token: str
    host: str
    port: int
    user: str
    region: str
    expires_at: _dt.datetime
    warnings: list[str] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class HostInfo:
    """What a host name says about itself: ``proxy``, ``database`` or ``other``."""

    kind: str
    region: str | None


def classify_host(host: str) -> HostInfo:
    match = _RDS_HOST.match(host)
    if not match:
        return HostInfo("other", None)
    labels = match.group("labels").lower().split(".")
    kind = "proxy" if any(label.startswith("proxy-") for label in labels) else "database"
    return HostInfo(kind, match.group("region").lower())


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse an empty AWS_SESSION_TOKEN: botocore would sign an empty X-Amz-Security-Token,
    which the proxy rejects as an IAM authentication failure."""
    if "AWS_SESSION_TOKEN" in environ and not environ["AWS_SESSION_TOKEN"].strip():
        raise AuthError(
            "AWS_SESSION_TOKEN is set but empty: the token would carry an empty "
            "X-Amz-Security-Token and the proxy would refuse it",
            hint="unset AWS_SESSION_TOKEN (long-term keys), or set it to the session token "
                 "that goes with AWS_ACCESS_KEY_ID",
        )


def preflight(host: str, port: int, user: str, region: str) -> list[str]:
    """Refuse or warn about tokens that could never work; returns the warnings."""
    if not host or any(c.isspace() for c in host) or "/" in host:
        raise UsageError(f"not a host name: {host!r}")
    if not 1 <= int(port) <= 65535:
        raise UsageError(f"port must be 1-65535, got {port}")
    if not user:
        raise UsageError("a database user name is required (--user)")
    info = classify_host(host)
    if info.region and info.region != region:
        raise UsageError(
            f"{host} is in {info.region} but the token would be signed for {region}; "
            "the proxy would refuse it",
            hint=f"pass --region {info.region} (or let rdsproxyctl look the proxy up by name)",
        )
    if info.kind == "database":
        return [
            f"{host} looks like a database endpoint, not a proxy endpoint: a token must be "
            "signed for the host the client dials (the proxy's endpoint, "
            "NAME.proxy-ID.REGION.rds.amazonaws.com)"
        ]
    return []


def _token_time(token: str) -> _dt.datetime:
    """When the token was signed: its X-Amz-Date (parsed by hand: ``strptime``'s first
    call costs ~2 ms, a fifth of this command's own time)."""
    stamp = re.search(r"X-Amz-Date=(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z", token)
    assert stamp, "a SigV4 presigned token always has X-Amz-Date"
    return _dt.datetime(*(int(g) for g in stamp.groups()), tzinfo=_dt.timezone.utc)


def sign(credentials: Any, host: str, port: int, user: str, region: str) -> str:
    """The token: the same request botocore's ``generate_db_auth_token`` presigns."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import create_request_object, prepare_request_dict

    scheme = "https://"  # required to parse the netloc; removed from the token below
    request_dict = {"url_path": "/", "query_string": "", "headers": {}, "method": "GET",
                    "body": {"Action": "connect", "DBUser": user}}
    prepare_request_dict(request_dict, f"{scheme}{host}:{port}")
    request = create_request_object(request_dict)
    SigV4QueryAuth(credentials, SIGNING_SERVICE, region,
                   expires=TOKEN_LIFETIME_SECONDS).add_auth(request)
    request.prepare()
    return str(request.url)[len(scheme):]


def mint(aws: Any, host: str, port: int, user: str, region: str | None = None,
         environ: Mapping[str, str] | None = None) -> AuthToken:
    """Mint a token for ``user`` at ``host:port``; ``region`` defaults to the factory's."""
    check_environment(os.environ if environ is None else environ)
    region = region or aws.region
    warnings = preflight(host, port, user, region)
    credentials = aws.credentials()
    if credentials.token is not None and not credentials.token.strip():
        check_environment({"AWS_SESSION_TOKEN": ""})
    token = sign(credentials, host, int(port), user, region)
    expires = _token_time(token) + _dt.timedelta(seconds=TOKEN_LIFETIME_SECONDS)
    return AuthToken(token=token, host=host, port=int(port), user=user, region=region,
                     expires_at=expires, warnings=warnings)


@dataclass(frozen=True)
class ProxyTarget:
    """Where a client connects for a proxy (or one of its endpoints)."""

    proxy: str
    host: str
    port: int
    region: str
    engine_family: str
    endpoint_name: str = "default"


def resolve(aws: Any, proxy_name: str, endpoint_name: str | None = None) -> ProxyTarget:
    """Look the proxy (and optionally one of its endpoints) up: host, port, region."""
    from rdsproxyctl.core.aws import aws_errors
    from rdsproxyctl.core.proxies import get_proxy

    from rdsproxyctl.core.validate import check_name

    check_name(proxy_name)
    if endpoint_name and endpoint_name != "default":
        check_name(endpoint_name, "endpoint name")
    proxy = get_proxy(aws, proxy_name)
    port = proxy.port
    if port is None:
        raise UsageError(f"proxy {proxy_name} has an unknown engine family {proxy.engine_family!r}")
    host = proxy.endpoint or ""
    if endpoint_name and endpoint_name != "default":
        with aws_errors(aws, proxy=proxy_name, endpoint=endpoint_name):
            rows = aws.client("rds").describe_db_proxy_endpoints(
                DBProxyName=proxy_name, DBProxyEndpointName=endpoint_name)["DBProxyEndpoints"]
        if not rows:
            from rdsproxyctl.errors import NotFound

            raise NotFound(f"proxy endpoint {endpoint_name} not found for proxy {proxy_name}")
        host = rows[0].get("Endpoint") or ""
    if not host:
        raise UsageError(f"proxy {proxy_name} has no endpoint yet (status {proxy.status})",
                         hint=f"wait until it is available: rdsproxyctl show {proxy_name}")
    return ProxyTarget(proxy=proxy_name, host=host, port=port,
                       region=proxy.region or aws.region, engine_family=proxy.engine_family,
                       endpoint_name=endpoint_name or "default")
