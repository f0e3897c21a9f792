"""Validation of what a mutating command asks for, before any change is made.

Two layers, both raising :class:`~rdsproxyctl.errors.UsageError` (exit 2) with one
clear line:

* value checks (``check_*``) need no AWS call at all: name rules, numeric ranges,
  the client password auth type and IAM mode against the engine family, session
  pinning filters (MySQL only), ARN shapes, at least two subnets;
* look-ups (``lookup_*``) make read-only calls: subnets exist and span two
  Availability Zones in one VPC (EC2), secrets exist (Secrets Manager), the target
  database exists and runs the proxy's engine (RDS).  They run after every value
  check and before any mutating call.

Limits are those of the RDS API reference (CreateDBProxy, ConnectionPoolConfiguration,
UserAuthConfig):
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBProxy.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from rdsproxyctl.errors import AccessDenied, NotFound, UsageError

ENGINE_FAMILIES = ("POSTGRESQL", "MYSQL", "SQLSERVER")

#: ClientPasswordAuthType values each engine family accepts.
PASSWORD_AUTH_TYPES = {
    "POSTGRESQL": ("POSTGRES_SCRAM_SHA_256", "POSTGRES_MD5"),
    "MYSQL": ("MYSQL_CACHING_SHA2_PASSWORD", "MYSQL_NATIVE_PASSWORD"),
    "SQLSERVER": ("SQL_SERVER_AUTHENTICATION",),
}
IAM_AUTH_VALUES = ("DISABLED", "REQUIRED", "ENABLED")
SESSION_PINNING_FILTERS = ("EXCLUDE_VARIABLE_SETS",)
TARGET_ROLES = ("READ_WRITE", "READ_ONLY")
DEFAULT_AUTH_SCHEMES = ("NONE", "IAM_AUTH")

IDLE_CLIENT_TIMEOUT = (1, 28800)
MAX_CONNECTIONS_PERCENT = (1, 100)
BORROW_TIMEOUT = (0, 300)

#: DB engines (DescribeDBInstances/Clusters ``Engine``) -> the proxy engine family.
_ENGINE_PREFIXES = (
    ("aurora-postgresql", "POSTGRESQL"),
    ("postgres", "POSTGRESQL"),
    ("aurora-mysql", "MYSQL"),
    ("aurora", "MYSQL"),  # Aurora MySQL 1 was plain "aurora"
    ("mysql", "MYSQL"),
    ("mariadb", "MYSQL"),
    ("sqlserver", "SQLSERVER"),
)

_NAME_RE = re.compile(r"[A-Za-z](?:-?[A-Za-z0-9]+)*")  # fullmatch: "$" lets "\n" through
_SECRET_ARN_RE = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_TAG_KEY_MAX, _TAG_VALUE_MAX = 128, 256


# -- value checks: no AWS call -----------------------------------------------------------
def check_name(name: str, what: str = "proxy name") -> str:
    """1-63 ASCII letters, digits and hyphens; a letter first; no '--' nor trailing '-'."""
    if not (isinstance(name, str) and 1 <= len(name) <= 63 and _NAME_RE.fullmatch(name)):
        raise UsageError(
            f"{what} {name!r} is not valid: use 1-63 letters, digits and hyphens, starting "
            "with a letter, without two hyphens in a row or a hyphen at the end")
    return name


def check_range(value: int | None, bounds: tuple[int, int], what: str) -> int | None:
    if value is None:
        return None
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UsageError(f"{what} must be an integer from {lo} to {hi}, got {value!r}")
    return value


def check_engine(engine: str) -> str:
    """``postgresql`` / ``POSTGRESQL`` -> ``POSTGRESQL``."""
    family = (engine or "").strip().upper()
    if family not in ENGINE_FAMILIES:
        raise UsageError(f"engine {engine!r} is not one of "
                         + ", ".join(f.lower() for f in ENGINE_FAMILIES))
    return family


def check_iam_auth(value: str, engine_family: str) -> str:
    mode = (value or "").strip().upper()
    if mode not in IAM_AUTH_VALUES:
        raise UsageError(f"IAM auth {value!r} is not one of required, disabled"
                         + (", enabled" if engine_family == "SQLSERVER" else ""))
    if mode == "ENABLED" and engine_family != "SQLSERVER":
        raise UsageError(f"IAM auth ENABLED exists only for SQL Server proxies; a "
                         f"{engine_family} proxy takes REQUIRED or DISABLED")
    return mode


def check_password_auth_type(value: str | None, engine_family: str) -> str | None:
    if value is None:
        return None
    kind = value.strip().upper()
    allowed = PASSWORD_AUTH_TYPES[engine_family]
    if kind not in allowed:
        raise UsageError(f"client password auth type {value!r} does not fit a {engine_family} "
                         f"proxy: use {' or '.join(allowed)}")
    return kind


def check_pinning_filters(filters: Iterable[str] | None, engine_family: str) -> list[str] | None:
    if filters is None:
        return None
    values = [f.strip().upper() for f in filters if f.strip()]
    bad = [f for f in values if f not in SESSION_PINNING_FILTERS]
    if bad:
        raise UsageError(f"session pinning filter {bad[0]!r} is not valid: the only filter is "
                         + ", ".join(SESSION_PINNING_FILTERS))
    if values and engine_family != "MYSQL":
        raise UsageError(f"session pinning filters exist only for MySQL proxies, not "
                         f"{engine_family}")
    return values


def check_pool(engine_family: str, *, max_connections: int | None = None,
               max_idle: int | None = None, borrow_timeout: int | None = None,
               pinning_filters: Iterable[str] | None = None,
               current_max: int | None = None) -> list[str] | None:
    """Pool values: ranges, idle percent within max (given or current), filters."""
    check_range(max_connections, MAX_CONNECTIONS_PERCENT, "max connections percent")
    upper = max_connections if max_connections is not None else current_max
    check_range(max_idle, (0, upper if upper is not None else 100),
                "max idle connections percent" + (
                    f" (at most max connections percent, {upper})" if upper is not None else ""))
    check_range(borrow_timeout, BORROW_TIMEOUT, "connection borrow timeout (seconds)")
    return check_pinning_filters(pinning_filters, engine_family)


def check_target_role(value: str) -> str:
    role = (value or "").strip().upper().replace("-", "_")
    if role not in TARGET_ROLES:
        raise UsageError(f"endpoint role {value!r} is not one of read-write, read-only")
    return role


def check_secret_arn(arn: str) -> str:
    if not _SECRET_ARN_RE.match(arn or ""):
        raise UsageError(f"{arn!r} is not a Secrets Manager secret ARN "
                         "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)")
    return arn


def check_role_arn(arn: str) -> str:
    if not _ROLE_ARN_RE.match(arn or ""):
        raise UsageError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    return arn


def split_list(values: Iterable[str] | None) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``: repeatable options that also take commas."""
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def check_subnet_count(subnets: list[str], what: str = "the proxy") -> list[str]:
    unique = list(dict.fromkeys(subnets))
    if len(unique) < 2:
        raise UsageError(f"{what} needs at least two subnets in different Availability "
                         f"Zones; got {len(unique)}")
    return unique


def parse_tags(pairs: Iterable[str] | None) -> dict[str, str]:
    """``["team=db", "env=prod"]`` -> ``{"team": "db", "env": "prod"}``."""
    tags: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"tag {pair!r} is not KEY=VALUE")
        tags[key] = value
    return check_tags(tags)


def check_tags(tags: dict[str, Any]) -> dict[str, str]:
    for key, value in tags.items():
        if not isinstance(value, str):
            raise UsageError(f"tag {key!r}: the value must be a string, got {value!r}")
        if len(key) > _TAG_KEY_MAX or len(value) > _TAG_VALUE_MAX:
            raise UsageError(f"tag {key!r}: keys are at most {_TAG_KEY_MAX} characters and "
                             f"values at most {_TAG_VALUE_MAX}")
        if key.lower().startswith("aws:"):
            raise UsageError(f"tag {key!r}: keys starting with aws: are reserved by AWS")
    return dict(tags)


def engine_family_of(db_engine: str) -> str | None:
    engine = (db_engine or "").lower()
    for prefix, family in _ENGINE_PREFIXES:
        if engine.startswith(prefix):
            return family
    return None


# -- look-ups: read-only AWS calls ------------------------------------------------------------
def lookup_subnets(aws: Any, subnets: list[str], what: str = "the proxy") -> str:
    """The subnets exist, in one VPC, spanning two or more AZs; returns the VPC id."""
    from rdsproxyctl.core.awserrors import aws_errors

    # A filter (not SubnetIds) returns the subnets that exist, so the message can name
    # the one that does not.
    with aws_errors(aws):
        rows = aws.client("ec2").describe_subnets(
            Filters=[{"Name": "subnet-id", "Values": list(subnets)}])["Subnets"]
    found = {r["SubnetId"]: r for r in rows}
    missing = [s for s in subnets if s not in found]
    if missing:
        raise UsageError(f"subnet {missing[0]} does not exist in {aws.region}")
    vpcs = sorted({r["VpcId"] for r in rows})
    if len(vpcs) > 1:
        raise UsageError(f"the subnets of {what} must be in one VPC; they span {', '.join(vpcs)}")
    zones = sorted({r["AvailabilityZone"] for r in rows})
    if len(zones) < 2:
        raise UsageError(f"the subnets of {what} are all in {zones[0]}: RDS Proxy needs subnets "
                         "in at least two Availability Zones")
    return vpcs[0]


def lookup_secrets(aws: Any, arns: list[str]) -> tuple[dict[str, str | None], list[str]]:
    """Each secret exists; returns ({arn: KmsKeyId or None}, warnings).

    When the caller may read a secret, its JSON is checked for ``username`` and
    ``password`` keys (values are never kept nor shown); when it may not, the check
    is skipped silently.
    """
    from rdsproxyctl.core.awserrors import aws_errors

    client = aws.client("secretsmanager")
    keys: dict[str, str | None] = {}
    warnings: list[str] = []
    for arn in arns:
        try:
            with aws_errors(aws):
                described = client.describe_secret(SecretId=arn)
        except NotFound:
            raise UsageError(f"secret {arn} does not exist in Secrets Manager") from None
        except AccessDenied:
            warnings.append(f"cannot check secret {arn}: access denied "
                            "(secretsmanager:DescribeSecret)")
            keys[arn] = None
            continue
        keys[arn] = described.get("KmsKeyId")
        problem = _secret_shape_problem(aws, client, arn)
        if problem:
            warnings.append(problem)
    return keys, warnings


def _secret_shape_problem(aws: Any, client: Any, arn: str) -> str | None:
    """What is wrong with the secret's JSON for RDS Proxy, without reading out values."""
    from rdsproxyctl.core.awserrors import aws_errors
    from rdsproxyctl.errors import RdsProxyCtlError

    try:
        with aws_errors(aws):
            value = client.get_secret_value(SecretId=arn).get("SecretString")
    except RdsProxyCtlError:
        return None  # the caller may not read it (or it has no current value): skip
    if value is None:
        return f"secret {arn} has no SecretString: RDS Proxy needs JSON with username and password"
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    finally:
        value = None  # drop the secret as soon as its shape is known
    if not isinstance(data, dict):
        return f"secret {arn} is not a JSON object: RDS Proxy needs username and password keys"
    missing = [k for k in ("username", "password") if not data.get(k)]
    if missing:
        return (f"secret {arn} lacks {' and '.join(missing)}: RDS Proxy needs both keys in "
                "the secret's JSON")
    return None


def lookup_target(aws: Any, *, instance: str | None = None, cluster: str | None = None,
                  engine_family: str | None = None) -> dict[str, Any]:
    """The DB instance or cluster exists (and runs ``engine_family``); its description."""
    from rdsproxyctl.core.awserrors import aws_errors

    client = aws.client("rds")
    try:
        with aws_errors(aws):
            if instance:
                row = client.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]
            else:
                row = client.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
    except NotFound:
        kind = "DB instance" if instance else "DB cluster"
        raise UsageError(f"{kind} {instance or cluster} does not exist in {aws.region}") from None
    family = engine_family_of(row.get("Engine", ""))
    if engine_family and family and family != engine_family:
        raise UsageError(f"{instance or cluster} runs {row.get('Engine')}: a {engine_family} "
                         "proxy cannot use it as a target")
    return dict(row)


def reachability_warnings(aws: Any, spec: Any) -> list[str]:
    """What `diagnose` would FAIL as network.security_groups, said before the proxy exists:
    the proxy's security groups (or the VPC's default) and the target instance's must let
    the proxy reach it on its port.  Read-only look-ups; a failing one skips the warning."""
    import ipaddress

    from rdsproxyctl.core.awserrors import aws_errors
    from rdsproxyctl.core.diagnose.checks_network import reach
    from rdsproxyctl.errors import RdsProxyCtlError

    target = next((t for t in spec.targets or [] if t.db_instance_identifier), None)
    if target is None or not spec.vpc_subnet_ids:
        return []
    name = target.db_instance_identifier
    try:
        with aws_errors(aws):
            ec2 = aws.client("ec2")
            db = aws.client("rds").describe_db_instances(
                DBInstanceIdentifier=name)["DBInstances"][0]
            subnets = ec2.describe_subnets(SubnetIds=spec.vpc_subnet_ids)["Subnets"]
            proxy_ids = list(spec.vpc_security_group_ids or [])
            if not proxy_ids and subnets:
                proxy_ids = [g["GroupId"] for g in ec2.describe_security_groups(Filters=[
                    {"Name": "vpc-id", "Values": [subnets[0]["VpcId"]]},
                    {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]]
            db_ids = [m["VpcSecurityGroupId"] for m in db.get("VpcSecurityGroups", [])
                      if m.get("VpcSecurityGroupId")]
            if not proxy_ids or not db_ids:
                return []
            groups = {g["GroupId"]: g for g in ec2.describe_security_groups(
                GroupIds=sorted(set(proxy_ids + db_ids)))["SecurityGroups"]}
    except (RdsProxyCtlError, IndexError, KeyError):
        return []
    cidrs = [ipaddress.ip_network(s["CidrBlock"]) for s in subnets if s.get("CidrBlock")]
    port = int((db.get("Endpoint") or {}).get("Port") or 5432)
    egress, ingress, _ = reach(proxy_ids, cidrs, groups, db, port)
    problems = []
    if not egress:
        problems.append(f"the proxy's security groups ({', '.join(proxy_ids)}) allow no egress "
                        f"to {name} on port {port}")
    if not ingress:
        problems.append(f"{name}'s security groups ({', '.join(db_ids)}) allow no ingress on "
                        f"port {port} from the proxy's groups or subnets")
    if not problems:
        return []
    return [f"{'; '.join(problems)} (`rdsproxyctl diagnose` FAILs network.security_groups on "
            "it): the target will not become AVAILABLE until the rules allow it"]
