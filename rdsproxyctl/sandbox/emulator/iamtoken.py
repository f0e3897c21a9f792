"""Validate an RDS IAM authentication token the way RDS Proxy does.

A token is a SigV4-presigned query string without a scheme
(``HOST:PORT/?Action=connect&DBUser=u&X-Amz-...&X-Amz-Signature=...``), made locally by
botocore's ``generate_db_auth_token`` or ``aws rds generate-db-auth-token``
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.html).
The signature is recomputed with botocore's own SigV4 code and the secret key of the
token's access key id, so anything botocore signs verifies here byte for byte.

Checks: service ``rds-db``, the proxy's region, ``Action=connect``, ``DBUser`` equal to
the startup user, host and port equal to the endpoint the client dialed, issued at
most 15 minutes ago (with a small clock-skew allowance), a known access key (and the
matching session token for temporary credentials), and the signature.  Whether the
principal may ``rds-db:connect`` is the caller's question (IAM policy evaluation).
"""

from __future__ import annotations

import datetime as _dt
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

#: RDS IAM tokens are valid for 15 minutes, whatever X-Amz-Expires says.
TOKEN_LIFETIME = 900
#: Clock skew tolerated on either side of the token's validity window.
CLOCK_SKEW = 30

_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders",
             "X-Amz-Signature")


@dataclass(frozen=True)
class SigningKey:
    """An access key the sandbox knows: its secret, its principal, its session token."""

    secret_access_key: str
    principal_arn: str
    session_token: str | None = None
    #: When temporary credentials (an assumed-role session) stop working (aware, UTC).
    expires: _dt.datetime | None = None


@dataclass(frozen=True)
class Claims:
    host: str
    port: int
    user: str
    access_key_id: str
    region: str
    service: str
    issued: _dt.datetime
    security_token: str | None


class TokenRejected(Exception):
    """Why a token was refused: ``reason`` is a key of ``messages.IAM_REASONS``."""

    def __init__(self, reason: str, **values: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values


def parse(token: str) -> tuple[Claims, list[tuple[str, str]], str]:
    """Split a token into its claims, its signed parameters and its signature."""
    if not token:
        raise TokenRejected("empty")
    if not token.isascii():  # a token is a URL: anything else is garbage, not a comparison
        raise TokenRejected("malformed")
    if token.startswith(("https://", "http://")):
        token = token.split("://", 1)[1]
    netloc, sep, query = token.partition("/?")
    if not sep or ":" not in netloc:
        raise TokenRejected("malformed")
    host, _, port_text = netloc.rpartition(":")
    if not port_text.isdigit():
        raise TokenRejected("malformed")
    try:
        params = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise TokenRejected("malformed") from None
    values = dict(params)
    if len(values) != len(params):
        raise TokenRejected("malformed")
    if any(k not in values for k in _REQUIRED):
        raise TokenRejected("unsigned")
    if values.get("Action") != "connect" or "DBUser" not in values:
        raise TokenRejected("action")
    if values["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise TokenRejected("malformed")
    scope = values["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise TokenRejected("malformed")
    try:
        issued = _dt.datetime.strptime(values["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=_dt.timezone.utc)
    except ValueError:
        raise TokenRejected("malformed") from None
    if scope[1] != values["X-Amz-Date"][:8]:
        raise TokenRejected("malformed")
    claims = Claims(host=host, port=int(port_text), user=values["DBUser"], access_key_id=scope[0],
                    region=scope[2], service=scope[3], issued=issued,
                    security_token=values.get("X-Amz-Security-Token"))
    signed = [(k, v) for k, v in params if k != "X-Amz-Signature"]
    return claims, signed, values["X-Amz-Signature"]


def signature(claims: Claims, signed: list[tuple[str, str]], key: SigningKey) -> str:
    """The SigV4 signature botocore would compute for these parameters."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.utils import percent_encode_sequence

    request = AWSRequest(method="GET", url=f"https://{claims.host}:{claims.port}/?"
                         + percent_encode_sequence(signed))
    request.context["timestamp"] = claims.issued.strftime("%Y%m%dT%H%M%SZ")
    auth = SigV4QueryAuth(Credentials(claims.access_key_id, key.secret_access_key,
                                      claims.security_token),
                          claims.service, claims.region, TOKEN_LIFETIME)
    canonical = auth.canonical_request(request)
    return str(auth.signature(auth.string_to_sign(request, canonical), request))


def verify(token: str, *, user: str, host: str | tuple[str, ...], port: int, region: str,
           lookup: Callable[[str], SigningKey | None], now: _dt.datetime | None = None,
           skew: int = CLOCK_SKEW) -> tuple[Claims, SigningKey]:
    """Check ``token`` for a connection of ``user`` to ``host:port`` in ``region``.

    Returns the claims and the signing key (whose principal the caller checks against
    IAM policies); raises :class:`TokenRejected` with the reason otherwise.
    """
    claims, signed, sig = parse(token)
    if claims.service != "rds-db":
        raise TokenRejected("wrong_service", got=claims.service)
    if claims.region != region:
        raise TokenRejected("wrong_region", got=claims.region, expected=region)
    if claims.user != user:
        raise TokenRejected("wrong_user")
    hosts = (host,) if isinstance(host, str) else host
    if claims.host.lower() not in {h.lower() for h in hosts} or claims.port != port:
        raise TokenRejected("wrong_endpoint", got=f"{claims.host}:{claims.port}",
                            expected=f"{hosts[0]}:{port}")
    now = now or _dt.datetime.now(_dt.timezone.utc)
    age = (now - claims.issued).total_seconds()
    if age < -skew:
        raise TokenRejected("not_yet_valid")
    if age > TOKEN_LIFETIME + skew:
        raise TokenRejected("expired")
    key = lookup(claims.access_key_id)
    if key is None:
        raise TokenRejected("unknown_key")
    if key.expires is not None and now >= key.expires:
        raise TokenRejected("credentials_expired")
    if key.session_token is not None:
        if claims.security_token is None:
            raise TokenRejected("missing_session_token")
        if claims.security_token == "":
            raise TokenRejected("empty_session_token")
        if not hmac.compare_digest(claims.security_token, key.session_token):
            raise TokenRejected("bad_session_token")
    elif claims.security_token is not None:
        raise TokenRejected("empty_session_token" if claims.security_token == ""
                            else "bad_session_token")
    if not hmac.compare_digest(signature(claims, signed, key), sig):
        raise TokenRejected("signature")
    return claims, key
