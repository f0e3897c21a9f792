"""The desired state of a proxy: what ``create`` flags and ``apply`` spec files say.

A :class:`ProxySpec` mirrors the Terraform resources of RDS Proxy's usual set-up
(``aws_db_proxy``, ``aws_db_proxy_default_target_group``, ``aws_db_proxy_target``,
``aws_db_proxy_endpoint``), with the same attribute names.  ``None`` means "not
managed": the plan leaves that part as it is (and AWS's default applies on creation).

:func:`load_spec` reads a TOML spec file (docs/apply.md documents it with a full
example) and checks every value before any AWS call; unknown keys are errors, so a
typo never silently leaves a setting unmanaged.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdsproxyctl.core import validate as v
from rdsproxyctl.errors import UsageError


@dataclass
class AuthSpec:
    """One ``auth`` block (UserAuthConfig)."""

    secret_arn: str
    iam_auth: str | None = None  # None: DISABLED on creation, left as is on change
    client_password_auth_type: str | None = None
    description: str | None = None
    auth_scheme: str = "SECRETS"
    username: str | None = None

    def to_api(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """The UserAuthConfig; fields left unset keep their value in ``base``."""
        out: dict[str, Any] = {}
        base = base or {}
        pairs = (("AuthScheme", self.auth_scheme), ("SecretArn", self.secret_arn),
                 ("IAMAuth", self.iam_auth), ("ClientPasswordAuthType",
                                                self.client_password_auth_type),
                 ("Description", self.description), ("UserName", self.username))
        for key, value in pairs:
            value = value if value is not None else base.get(key)
            if value is not None:
                out[key] = value
        if "IAMAuth" not in out:
            out["IAMAuth"] = "DISABLED"
        return out


@dataclass
class PoolSpec:
    """``connection_pool_config`` of the default target group."""

    max_connections_percent: int | None = None
    max_idle_connections_percent: int | None = None
    connection_borrow_timeout: int | None = None
    init_query: str | None = None  # "" clears it
    session_pinning_filters: list[str] | None = None

    API_NAMES = {
        "max_connections_percent": "MaxConnectionsPercent",
        "max_idle_connections_percent": "MaxIdleConnectionsPercent",
        "connection_borrow_timeout": "ConnectionBorrowTimeout",
        "init_query": "InitQuery",
        "session_pinning_filters": "SessionPinningFilters",
    }

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.API_NAMES)


@dataclass
class TargetSpec:
    """An ``aws_db_proxy_target``: one DB instance or one DB cluster."""

    db_instance_identifier: str | None = None
    db_cluster_identifier: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        if self.db_instance_identifier:
            return ("instance", self.db_instance_identifier)
        return ("cluster", self.db_cluster_identifier or "")

    @property
    def label(self) -> str:
        kind, ident = self.key
        return f"{kind} {ident}"


@dataclass
class EndpointSpec:
    """An ``aws_db_proxy_endpoint``."""

    name: str
    vpc_subnet_ids: list[str] | None = None  # None: the proxy's subnets
    vpc_security_group_ids: list[str] | None = None  # None: AWS's default on creation
    target_role: str = "READ_WRITE"
    tags: dict[str, str] | None = None


@dataclass
class ProxySpec:
    """The whole set-up of one proxy."""

    name: str
    engine_family: str
    role_arn: str | None = None
    vpc_subnet_ids: list[str] = field(default_factory=list)
    vpc_security_group_ids: list[str] | None = None
    require_tls: bool | None = None
    idle_client_timeout: int | None = None
    debug_logging: bool | None = None
    default_auth_scheme: str | None = None
    auth: list[AuthSpec] | None = None
    tags: dict[str, str] | None = None
    pool: PoolSpec | None = None
    targets: list[TargetSpec] | None = None
    endpoints: list[EndpointSpec] | None = None

    def check(self, *, creating: bool = True, role_planned: bool = False) -> None:
        """Every value check that needs no AWS call (raises UsageError).

        ``role_planned``: the role is made by the plan (``--create-role``).
        """
        v.check_name(self.name)
        self.engine_family = v.check_engine(self.engine_family)
        family = self.engine_family
        if self.role_arn is not None:
            v.check_role_arn(self.role_arn)
        elif creating and not role_planned:
            raise UsageError("a proxy needs an IAM role: pass --role ARN or --create-role")
        if creating or self.vpc_subnet_ids:
            self.vpc_subnet_ids = v.check_subnet_count(self.vpc_subnet_ids)
        v.check_range(self.idle_client_timeout, v.IDLE_CLIENT_TIMEOUT,
                      "idle client timeout (seconds)")
        if self.default_auth_scheme is not None:
            scheme = self.default_auth_scheme.upper()
            if scheme not in v.DEFAULT_AUTH_SCHEMES:
                raise UsageError(f"default auth scheme {self.default_auth_scheme!r} is not one "
                                 "of NONE, IAM_AUTH")
            self.default_auth_scheme = scheme
        if not self.auth and self.default_auth_scheme != "IAM_AUTH" and (
                creating or self.auth is not None):
            raise UsageError("a proxy needs at least one secret (--secret ARN) unless it uses "
                             "end-to-end IAM authentication (--end-to-end-iam)")
        seen: set[str] = set()
        for entry in self.auth or []:
            v.check_secret_arn(entry.secret_arn)
            if entry.secret_arn in seen:
                raise UsageError(f"secret {entry.secret_arn} is listed twice")
            seen.add(entry.secret_arn)
            if entry.auth_scheme.upper() != "SECRETS":
                raise UsageError(f"auth scheme {entry.auth_scheme!r} is not valid: the only "
                                 "scheme is SECRETS")
            entry.auth_scheme = "SECRETS"
            if entry.iam_auth is not None:
                entry.iam_auth = v.check_iam_auth(entry.iam_auth, family)
            entry.client_password_auth_type = v.check_password_auth_type(
                entry.client_password_auth_type, family)
        if self.tags is not None:
            self.tags = v.check_tags(self.tags)
        if self.pool is not None:
            self.pool.session_pinning_filters = v.check_pool(
                family, max_connections=self.pool.max_connections_percent,
                max_idle=self.pool.max_idle_connections_percent,
                borrow_timeout=self.pool.connection_borrow_timeout,
                pinning_filters=self.pool.session_pinning_filters)
        if self.targets is not None:
            keys = [t.key for t in self.targets]
            for t in self.targets:
                if bool(t.db_instance_identifier) == bool(t.db_cluster_identifier):
                    raise UsageError("each target names exactly one of db_instance_identifier "
                                     "and db_cluster_identifier")
            if len(set(keys)) != len(keys):
                raise UsageError("a target is listed twice")
        names: set[str] = set()
        for ep in self.endpoints or []:
            v.check_name(ep.name, "endpoint name")
            if ep.name == "default" or ep.name in names:
                raise UsageError(f"endpoint name {ep.name!r} is reserved or listed twice")
            names.add(ep.name)
            ep.target_role = v.check_target_role(ep.target_role)
            if ep.vpc_subnet_ids is not None:
                ep.vpc_subnet_ids = v.check_subnet_count(ep.vpc_subnet_ids,
                                                         f"endpoint {ep.name}")
            if ep.tags is not None:
                ep.tags = v.check_tags(ep.tags)

    def warnings(self) -> list[str]:
        """Settings that are allowed but deserve a second look."""
        out = []
        if self.pool is not None and self.pool.max_connections_percent == 100:
            out.append(max_connections_warning(self.name))
        if self.debug_logging:
            out.append(debug_logging_warning(self.name))
        iam_wanted = any((a.iam_auth or "DISABLED") != "DISABLED" for a in self.auth or []) \
            or self.default_auth_scheme == "IAM_AUTH"
        if iam_wanted and self.require_tls is False:
            out.append(iam_tls_warning(self.name))
        return out


def max_connections_warning(name: str) -> str:
    return (f"MaxConnectionsPercent 100 lets {name} take every connection the database allows "
            "(`rdsproxyctl diagnose` FAILs pool.max_connections on it): "
            "leave headroom (AWS suggests about 30%) when other clients or another proxy "
            "use the database")


def debug_logging_warning(name: str) -> str:
    return (f"debug logging writes SQL statements to CloudWatch Logs (/aws/rds/proxy/{name}): "
            f"a privacy and cost risk; turn it off when done (`rdsproxyctl modify {name} "
            "--no-debug-logging`)")


def iam_tls_warning(name: str) -> str:
    return (f"IAM authentication needs TLS but {name} does not require it: clients must "
            f"connect with TLS (sslmode=require or stricter), or run `rdsproxyctl modify "
            f"{name} --require-tls`")


# -- the TOML spec file ------------------------------------------------------------------------
_PROXY_KEYS = {"name", "engine_family", "role_arn", "vpc_subnet_ids", "vpc_security_group_ids",
               "require_tls", "idle_client_timeout", "debug_logging", "default_auth_scheme",
               "auth", "tags"}
_AUTH_KEYS = {"secret_arn", "iam_auth", "client_password_auth_type", "description",
              "auth_scheme", "username"}
_POOL_KEYS = set(PoolSpec.API_NAMES)
_TARGET_KEYS = {"db_instance_identifier", "db_cluster_identifier"}
_ENDPOINT_KEYS = {"db_proxy_endpoint_name", "vpc_subnet_ids", "vpc_security_group_ids",
                  "target_role", "tags"}
_TOP_KEYS = {"proxy", "default_target_group", "target", "endpoint"}


class _Reader:
    """Typed access to one table of the spec, naming the file and key in errors."""

    def __init__(self, source: str, where: str, table: Any, allowed: set[str]) -> None:
        self.source, self.where = source, where
        if not isinstance(table, dict):
            self.fail(f"[{where}] must be a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} in [{where}]; allowed: "
                      + ", ".join(sorted(allowed)))
        self.table = table

    def fail(self, message: str) -> None:
        raise UsageError(f"{self.source}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], required: bool = False) -> Any:
        if key not in self.table:
            if required:
                self.fail(f"[{self.where}] needs {key}")
            return None
        value = self.table[key]
        if isinstance(value, bool) and kind is int:
            self.fail(f"[{self.where}] {key} must be an integer, got {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(f"[{self.where}] {key} must be {_ARTICLE.get(names, names)}, got {value!r}")
        return value

    def strings(self, key: str, required: bool = False) -> list[str] | None:
        value = self.get(key, list, required)
        if value is not None and not all(isinstance(x, str) for x in value):
            self.fail(f"[{self.where}] {key} must be a list of strings")
        return value

    def tags(self, key: str = "tags") -> dict[str, str] | None:
        value = self.get(key, dict)
        if value is not None and not all(isinstance(x, str) for x in value.values()):
            self.fail(f"[{self.where}.{key}] values must be strings")
        return value


_ARTICLE = {"str": "a string", "int": "an integer", "bool": "true or false", "list": "a list",
            "dict": "a table"}


def parse_spec(text: str, source: str = "spec") -> ProxySpec:
    """A :class:`ProxySpec` from TOML text, every value checked (no AWS call)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses on nested arrays and inline tables
        raise UsageError(f"{source}: not valid TOML: nested too deeply") from None
    top = _Reader(source, "(top level)", doc, _TOP_KEYS)
    if "proxy" not in doc:
        top.fail("the spec needs a [proxy] table")
    p = _Reader(source, "proxy", doc["proxy"], _PROXY_KEYS)
    auth: list[AuthSpec] | None = None
    if "auth" in p.table:
        entries = p.get("auth", list)
        auth = []
        for i, raw in enumerate(entries):
            a = _Reader(source, f"proxy.auth[{i}]", raw, _AUTH_KEYS)
            auth.append(AuthSpec(
                secret_arn=a.get("secret_arn", str, required=True),
                iam_auth=a.get("iam_auth", str),
                client_password_auth_type=a.get("client_password_auth_type", str),
                description=a.get("description", str),
                auth_scheme=a.get("auth_scheme", str) or "SECRETS",
                username=a.get("username", str),
            ))
    spec = ProxySpec(
        name=p.get("name", str, required=True),
        engine_family=p.get("engine_family", str, required=True),
        role_arn=p.get("role_arn", str, required=True),
        vpc_subnet_ids=p.strings("vpc_subnet_ids", required=True) or [],
        vpc_security_group_ids=p.strings("vpc_security_group_ids"),
        require_tls=p.get("require_tls", bool),
        idle_client_timeout=p.get("idle_client_timeout", int),
        debug_logging=p.get("debug_logging", bool),
        default_auth_scheme=p.get("default_auth_scheme", str),
        auth=auth,
        tags=p.tags(),
    )
    if "default_target_group" in doc:
        g = _Reader(source, "default_target_group", doc["default_target_group"],
                    {"connection_pool_config"})
        if "connection_pool_config" in g.table:
            c = _Reader(source, "default_target_group.connection_pool_config",
                        g.table["connection_pool_config"], _POOL_KEYS)
            spec.pool = PoolSpec(
                max_connections_percent=c.get("max_connections_percent", int),
                max_idle_connections_percent=c.get("max_idle_connections_percent", int),
                connection_borrow_timeout=c.get("connection_borrow_timeout", int),
                init_query=c.get("init_query", str),
                session_pinning_filters=c.strings("session_pinning_filters"),
            )
    if "target" in doc:
        rows = top.get("target", list)
        spec.targets = []
        for i, raw in enumerate(rows):
            t = _Reader(source, f"target[{i}]", raw, _TARGET_KEYS)
            spec.targets.append(TargetSpec(t.get("db_instance_identifier", str),
                                           t.get("db_cluster_identifier", str)))
    if "endpoint" in doc:
        rows = top.get("endpoint", list)
        spec.endpoints = []
        for i, raw in enumerate(rows):
            e = _Reader(source, f"endpoint[{i}]", raw, _ENDPOINT_KEYS)
            spec.endpoints.append(EndpointSpec(
                name=e.get("db_proxy_endpoint_name", str, required=True),
                vpc_subnet_ids=e.strings("vpc_subnet_ids"),
                vpc_security_group_ids=e.strings("vpc_security_group_ids"),
                target_role=e.get("target_role", str) or "READ_WRITE",
                tags=e.tags(),
            ))
    try:
        spec.check(creating=True)
    except UsageError as err:
        if err.message.startswith(source):
            raise
        raise UsageError(f"{source}: {err.message}", hint=err.hint) from None
    return spec


#: A spec is a page of TOML; anything bigger is not one (``/dev/zero``, a log file).
MAX_SPEC_BYTES = 1 << 20


def load_spec(path: str | Path) -> ProxySpec:
    """Read and parse a spec: a regular file of at most :data:`MAX_SPEC_BYTES`."""
    import os
    import stat

    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise UsageError(f"spec file {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read spec file {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"spec file {path} is not a regular file",
                             hint="pass a TOML file (see docs/apply.md)")
        data = b""
        while len(data) <= MAX_SPEC_BYTES:
            chunk = os.read(fd, MAX_SPEC_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise UsageError(f"cannot read spec file {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SPEC_BYTES:
        raise UsageError(f"spec file {path} is larger than {MAX_SPEC_BYTES // 1024} KiB: "
                         "not a proxy spec")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read spec file {path}: {exc}") from None
    return parse_spec(text, str(path))
