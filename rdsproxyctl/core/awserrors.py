"""Map botocore exceptions and AWS fault codes to rdsproxyctl errors, in one table.

:func:`translate` is the only place an AWS failure becomes a message, an exit code
and a hint.  The CLI's error handler calls it for any botocore exception that
reaches it; core functions call it with a ``subject`` (proxy name, endpoint ...)
so the message can name what was not found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rdsproxyctl.core.aws import aws_errors  # noqa: F401 - re-exported: the usual import

from rdsproxyctl.core.redact import redact_text
from rdsproxyctl.errors import (
    AccessDenied,
    AuthError,
    AwsApiError,
    ConnectionFailure,
    NotFound,
    RdsProxyCtlError,
    UsageError,
)

CREDENTIALS_HINT = (
    "set AWS_PROFILE (or --profile) to a configured profile, run `aws sso login`, "
    "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


@dataclass(frozen=True)
class Fault:
    """How one AWS error code is reported.  Templates see the keys of ``_context``."""

    error: type[RdsProxyCtlError]
    message: str
    hint: str | None = None


_NOT_FOUND_HINT = "check the name and the region ({region}); `rdsproxyctl list` shows the proxies"
_THROTTLED = Fault(
    AwsApiError,
    "AWS throttled {operation} and it still failed after {attempts} attempts",
    "wait a minute and retry; lower the concurrency of bulk commands",
)
_EXPIRED = Fault(
    AuthError,
    "the AWS credentials have expired ({code})",
    "refresh them: `aws sso login{profile_flag}`, or fetch new temporary credentials",
)
_REJECTED = Fault(
    AuthError,
    "AWS rejected the credentials ({code}): {aws_message}",
    "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE; "
    "an empty AWS_SESSION_TOKEN also causes this",
)
_DENIED = Fault(
    AccessDenied,
    "access denied: the caller may not perform {action}",
    "grant {action} to the caller's IAM identity (`aws sts get-caller-identity` shows it)",
)
_INVALID = Fault(UsageError, "AWS refused the request ({code}): {aws_message}")

#: AWS error code -> how to report it.  One table for the whole project.
FAULTS: dict[str, Fault] = {
    # not found
    "DBProxyNotFoundFault": Fault(NotFound, "proxy {proxy} not found in {region}", _NOT_FOUND_HINT),
    "DBProxyEndpointNotFoundFault": Fault(
        NotFound, "proxy endpoint {endpoint} not found in {region}",
        "`rdsproxyctl endpoints list PROXY` shows the proxy's endpoints"),
    "DBProxyTargetGroupNotFoundFault": Fault(
        NotFound, "the target group of proxy {proxy} was not found: {aws_message}"),
    "DBProxyTargetNotFoundFault": Fault(
        NotFound, "target not found: {aws_message}",
        "`rdsproxyctl targets PROXY` shows the registered targets"),
    "DBInstanceNotFound": Fault(NotFound, "DB instance not found in {region}: {aws_message}"),
    "DBInstanceNotFoundFault": Fault(NotFound, "DB instance not found in {region}: {aws_message}"),
    "DBClusterNotFoundFault": Fault(NotFound, "DB cluster not found in {region}: {aws_message}"),
    "ResourceNotFoundException": Fault(NotFound, "{aws_message}"),
    "NoSuchEntity": Fault(NotFound, "IAM: {aws_message}"),
    # credentials and permissions
    "ExpiredToken": _EXPIRED,
    "ExpiredTokenException": _EXPIRED,
    "RequestExpired": _EXPIRED,
    "InvalidClientTokenId": _REJECTED,
    "UnrecognizedClientException": _REJECTED,
    "InvalidAccessKeyId": _REJECTED,
    "SignatureDoesNotMatch": _REJECTED,
    "AuthFailure": _REJECTED,
    "IncompleteSignature": _REJECTED,
    "AccessDenied": _DENIED,
    "AccessDeniedException": _DENIED,
    "UnauthorizedOperation": _DENIED,
    "AuthorizationError": _DENIED,
    # throttling (botocore already retried in standard mode)
    "Throttling": _THROTTLED,
    "ThrottlingException": _THROTTLED,
    "ThrottledException": _THROTTLED,
    "RequestLimitExceeded": _THROTTLED,
    "RequestThrottled": _THROTTLED,
    "RequestThrottledException": _THROTTLED,
    "TooManyRequestsException": _THROTTLED,
    "SlowDown": _THROTTLED,
    # bad requests AWS refused
    "InvalidParameterValue": _INVALID,
    "InvalidParameterCombination": _INVALID,
    "ValidationError": _INVALID,
    "InvalidParameterException": _INVALID,
    "InvalidSubnet": _INVALID,
    # creating and changing proxies (issue 4; exit codes documented in docs/lifecycle.md):
    # a name already taken or a target already there is a value conflict (2); limits and
    # states AWS refuses are failed preconditions (1).
    "DBProxyAlreadyExistsFault": Fault(
        UsageError, "a proxy with that name already exists in {region}: {aws_message}",
        "`rdsproxyctl create --if-not-exists` succeeds when it does; `rdsproxyctl modify` or "
        "`apply` change it; or choose another name"),
    "DBProxyQuotaExceededFault": Fault(
        AwsApiError, "the account already has the most proxies allowed in {region}",
        "delete a proxy you no longer use, or ask for more in Service Quotas (Amazon RDS, "
        "proxies per account)"),
    "InvalidDBProxyStateFault": Fault(
        AwsApiError, "proxy {proxy} cannot take {operation} in its current state: {aws_message}",
        "wait until `rdsproxyctl show {proxy}` says available (mutating commands wait with "
        "--wait), then run the command again"),
    "InvalidDBProxyEndpointStateFault": Fault(
        AwsApiError, "endpoint {endpoint} cannot take {operation} in its current state",
        "wait until `rdsproxyctl endpoints list PROXY` says available, then retry"),
    "InsufficientAvailableIPsInSubnetFault": Fault(
        AwsApiError, "not enough free IP addresses in the proxy's subnets for {operation}",
        "add CIDR blocks to the VPC or free addresses in the subnets (RDS Proxy scales with "
        "the size of its targets), then retry"),
    "DBProxyTargetAlreadyRegisteredFault": Fault(
        UsageError, "that database is already a target of proxy {proxy}",
        "`rdsproxyctl targets {proxy}` lists the targets; `targets add` skips those already there"),
    "DBProxyEndpointAlreadyExistsFault": Fault(
        UsageError, "a proxy endpoint named {endpoint} already exists in {region}",
        "endpoint names are unique per account and region; choose another name"),
    "DBProxyEndpointQuotaExceededFault": Fault(
        AwsApiError, "proxy {proxy} already has the most endpoints allowed",
        "delete an endpoint it no longer needs (`rdsproxyctl endpoints delete`)"),
    "InvalidDBInstanceStateFault": Fault(
        AwsApiError, "the DB instance cannot take {operation} in its current state: "
        "{aws_message}", "wait until the instance is available, then retry"),
    "InvalidDBClusterStateFault": Fault(
        AwsApiError, "the DB cluster cannot take {operation} in its current state: "
        "{aws_message}", "wait until the cluster is available, then retry"),
    "EntityAlreadyExists": Fault(
        UsageError, "IAM: {aws_message}",
        "pass --role ARN to use the existing role, or --role-name to choose another name"),
    "LimitExceeded": Fault(AwsApiError, "IAM limit reached: {aws_message}"),
    "MalformedPolicyDocument": Fault(UsageError, "IAM refused the policy: {aws_message}"),
    "InvalidSubnetID.NotFound": Fault(NotFound, "subnet not found in {region}: {aws_message}"),
    "InvalidSubnetID.Malformed": Fault(UsageError, "{aws_message}"),
    "InvalidGroup.NotFound": Fault(NotFound, "security group not found in {region}: "
                                   "{aws_message}"),
    "NotFoundException": Fault(NotFound, "KMS: {aws_message}"),
    # CloudWatch metrics (issue 12): GetMetricData's own fault; a denied call is AccessDenied
    # above, naming cloudwatch:GetMetricData (see _OPERATION_SERVICES)
    "InvalidNextToken": Fault(
        AwsApiError, "CloudWatch refused the page token of {operation}: {aws_message}",
        "run the command again (the window's pages are read in one go)"),
}

# Service prefix of an operation, for naming the IAM action of an AccessDenied whose
# message does not name it.  Most AWS messages do ("... not authorized to perform: X").
_OPERATION_SERVICES = (
    (re.compile(r"DB|Tags"), "rds"),
    (re.compile(r"Secret"), "secretsmanager"),
    (re.compile(r"MetricData|MetricStatistics|ListMetrics|Alarm|Dashboard"), "cloudwatch"),
    (re.compile(r"Log"), "logs"),
    (re.compile(r"Role|Polic|User|Simulate"), "iam"),
    (re.compile(r"Subnet|SecurityGroup|Vpc"), "ec2"),
    (re.compile(r"CallerIdentity|AssumeRole"), "sts"),
    (re.compile(r"Key|Alias|Decrypt"), "kms"),
)
_ACTION_IN_MESSAGE = re.compile(r"perform:?\s+([a-z0-9-]+:[A-Za-z0-9*]+)")
#: Endpoint prefixes some messages use where IAM's action prefix differs (CloudWatch's API
#: lives at monitoring.REGION.amazonaws.com; its actions are cloudwatch:*).
_IAM_PREFIXES = {"monitoring": "cloudwatch"}
# An error body in another protocol than the client speaks (a query-protocol XML error to
# a CBOR/JSON client, as moto answers CloudWatch's smithy-rpc-v2-cbor): botocore sees only
# the HTTP status; the code and message are in the XML.
_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


def iam_action(operation: str, aws_message: str) -> str:
    found = _ACTION_IN_MESSAGE.search(aws_message or "")
    if found:
        prefix, _, name = found.group(1).partition(":")
        return f"{_IAM_PREFIXES.get(prefix, prefix)}:{name}"
    for pattern, prefix in _OPERATION_SERVICES:
        if pattern.search(operation):
            return f"{prefix}:{operation}"
    return operation or "the requested action"


#: Codes meaning "this API endpoint does not implement the call" (emulators, old moto).
UNPARSEABLE = "UnparseableResponse"
UNSUPPORTED_CODES = frozenset({UNPARSEABLE, "InvalidAction", "NotImplemented"})


class _Context(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "?"


def no_credentials(profile: str | None = None) -> AuthError:
    where = f" for profile {profile!r}" if profile else ""
    return AuthError(f"no AWS credentials found{where}", hint=CREDENTIALS_HINT)


def _client_error(exc: Any, ctx: _Context) -> RdsProxyCtlError:
    error = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
    code = str(error.get("Code", "")) or "Unknown"
    operation = getattr(exc, "operation_name", "") or ""
    raw_message = str(error.get("Message", ""))
    if code.isdigit() and _XML_CODE.search(raw_message):
        inner = _XML_MESSAGE.search(raw_message)
        code = _XML_CODE.search(raw_message).group(1)  # type: ignore[union-attr]
        raw_message = inner.group(1) if inner else ""
    aws_message = redact_text(raw_message)
    ctx.update(
        code=code,
        operation=operation,
        aws_message=aws_message,
        action=iam_action(operation, aws_message),
        attempts=exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1,
    )
    fault = FAULTS.get(code)
    if fault is None:
        return AwsApiError(f"{operation or 'AWS'} failed: {code}: {aws_message}", code=code)
    message = fault.message.format_map(ctx)
    hint = fault.hint.format_map(ctx) if fault.hint else None
    if fault.error is AccessDenied:
        return AccessDenied(message, action=ctx["action"], hint=hint)
    err = fault.error(message, hint=hint)
    if isinstance(err, AwsApiError):
        err.code = code
    return err


def translate(exc: BaseException, *, region: str | None = None, profile: str | None = None,
              endpoint_url: str | None = None, **subject: str) -> RdsProxyCtlError | None:
    """Our error for a botocore exception, or ``None`` when ``exc`` is not one of them."""
    if isinstance(exc, RdsProxyCtlError):
        return exc
    try:
        import botocore.exceptions as bx
        from botocore.parsers import ResponseParserError
    except ImportError:  # pragma: no cover - botocore is a dependency
        return None
    ctx = _Context(region=region or "?", profile_flag=f" --profile {profile}" if profile else "",
                   **subject)
    if isinstance(exc, bx.ClientError):
        return _client_error(exc, ctx)
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError,
                        bx.CredentialRetrievalError)):
        return no_credentials(profile)
    if isinstance(exc, (bx.SSOTokenLoadError, bx.UnauthorizedSSOTokenError, bx.TokenRetrievalError)):
        return AuthError("the AWS SSO session has expired or is missing",
                         hint=f"run `aws sso login{ctx['profile_flag']}`")
    if isinstance(exc, bx.NoRegionError):
        return UsageError("no AWS region configured",
                          hint="pass --region or set AWS_REGION (or RDSPROXYCTL_REGION)")
    if isinstance(exc, bx.ProfileNotFound):
        return AuthError(str(exc), hint="check --profile / AWS_PROFILE")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError,
                        bx.ReadTimeoutError, bx.ConnectionClosedError, bx.ProxyConnectionError,
                        bx.SSLError)):
        where = endpoint_url or getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint"
        return ConnectionFailure(
            f"cannot reach {where}: {type(exc).__name__}",
            hint="check --endpoint-url / AWS_ENDPOINT_URL, the network, and any HTTPS proxy",
        )
    if isinstance(exc, ResponseParserError):
        where = endpoint_url or "the AWS endpoint"
        return AwsApiError(
            f"{where} answered with something that is not an AWS API response",
            code=UNPARSEABLE,
            hint="check --endpoint-url / AWS_ENDPOINT_URL: is it an AWS-compatible API that "
                 "implements this call?",
        )
    if isinstance(exc, bx.ParamValidationError):
        return UsageError(redact_text(str(exc)).replace("\n", " "))
    return None
