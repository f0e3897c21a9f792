"""The proxy's view of the sandbox's AWS: moto's in-process backends, read live.

The emulator runs in the same process as the sandbox's moto server, so it reads the
proxy's settings, its targets, IAM keys and policies and Secrets Manager secrets
straight from moto's backends (every new client connection sees the current
settings: no restart, no polling lag), and writes target health and log lines back.
This module is the only part of the emulator that knows moto's internals.

Reads take copies (``list(...)``) of moto's dicts: the moto server thread may be
changing them at the same time.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.sandbox.emulator.iamtoken import SigningKey

DEFAULT_PARTITION = "aws"


@dataclass(frozen=True)
class AuthEntry:
    secret_arn: str | None
    iam_auth: str  # DISABLED | REQUIRED | ENABLED
    client_password_auth_type: str  # POSTGRES_SCRAM_SHA_256 | POSTGRES_MD5 | ...
    description: str | None = None


@dataclass(frozen=True)
class ProxyView:
    """A proxy as one listening address sees it, at the moment of asking."""

    name: str
    resource_id: str  # prx-...
    arn: str
    account_id: str
    region: str
    engine_family: str
    status: str
    require_tls: bool
    idle_client_timeout: int
    debug_logging: bool
    default_auth_scheme: str
    role_arn: str
    auth: tuple[AuthEntry, ...]
    endpoint_name: str  # "default" or the extra endpoint's name
    address: str
    target_role: str = "READ_WRITE"  # the endpoint's: READ_ONLY endpoints route to readers

    @property
    def end_to_end_iam(self) -> bool:
        return self.default_auth_scheme == "IAM_AUTH"


@dataclass(frozen=True)
class PoolSettings:
    max_connections_percent: int
    max_idle_connections_percent: int
    borrow_timeout: int
    init_query: str | None


@dataclass(frozen=True)
class TargetView:
    rds_resource_id: str
    type: str
    endpoint: str | None
    port: int
    role: str | None
    tracked_cluster_id: str | None = None


@dataclass(frozen=True)
class Credential:
    username: str
    password: str
    entry: AuthEntry


@dataclass
class CredentialReport:
    """What the proxy's role could read from the secrets of its auth entries."""

    credentials: dict[str, Credential] = field(default_factory=dict)  # by username
    problems: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (LOG key, values)
    fingerprint: tuple[Any, ...] = ()


def _field(entry: Any, key: str) -> Any:
    """A UserAuthConfig field (the moto extension keeps the API's own keys)."""
    return entry.get(key)


class Control:
    """Reads and writes the sandbox's moto backends for one account and region."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region

    # -- backends ----------------------------------------------------------------------
    @property
    def rds(self) -> Any:
        from moto.rds.models import rds_backends

        return rds_backends[self.account_id][self.region]

    @property
    def iam(self) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[self.account_id][DEFAULT_PARTITION]

    @property
    def secrets(self) -> Any:
        from moto.secretsmanager.models import secretsmanager_backends

        return secretsmanager_backends[self.account_id][self.region]

    @property
    def logs(self) -> Any:
        from moto.logs.models import logs_backends

        return logs_backends[self.account_id][self.region]

    # -- proxies -----------------------------------------------------------------------
    def _view(self, proxy: Any, endpoint_name: str, address: str,
              target_role: str = "READ_WRITE") -> ProxyView:
        auth = tuple(
            AuthEntry(secret_arn=_field(a, "SecretArn"),
                      iam_auth=_field(a, "IAMAuth") or "DISABLED",
                      client_password_auth_type=_field(a, "ClientPasswordAuthType")
                      or "POSTGRES_SCRAM_SHA_256", description=_field(a, "Description"))
            for a in list(proxy.auth or []))
        return ProxyView(
            name=proxy.db_proxy_name, resource_id=proxy.unique_id, arn=proxy.arn,
            account_id=self.account_id, region=self.region, engine_family=proxy.engine_family,
            status=proxy._rpc_status if hasattr(proxy, "_rpc_status") else "available",
            require_tls=bool(proxy.require_tls),
            idle_client_timeout=int(proxy.idle_client_timeout or 1800),
            debug_logging=bool(proxy.debug_logging),
            default_auth_scheme=getattr(proxy, "default_auth_scheme", "NONE") or "NONE",
            role_arn=proxy.role_arn, auth=auth, endpoint_name=endpoint_name, address=address,
            target_role=target_role or "READ_WRITE")

    def proxy_at(self, address: str) -> ProxyView | None:
        """The proxy (and which of its endpoints) that listens on ``address``."""
        from rdsproxyctl import motoext

        rds = self.rds
        for proxy in list(rds.db_proxies.values()):
            if getattr(proxy, "_rpc_address", None) == address:
                return self._view(proxy, "default", address)
        for ep in list(motoext.endpoints.endpoints_of(rds).values()):
            if getattr(ep, "_rpc_address", None) == address:
                proxy = rds.db_proxies.get(ep.db_proxy_name)
                if proxy is not None:
                    return self._view(proxy, ep.db_proxy_endpoint_name, address,
                                      getattr(ep, "target_role", "READ_WRITE"))
        return None

    def proxies(self) -> list[Any]:
        return list(self.rds.db_proxies.values())

    def pool_settings(self, proxy_name: str) -> PoolSettings | None:
        proxy = self.rds.db_proxies.get(proxy_name)
        if proxy is None:
            return None
        group = proxy.proxy_target_groups.get("default")
        return PoolSettings(
            max_connections_percent=int(group.max_connections),
            max_idle_connections_percent=int(group.max_idle_connections),
            borrow_timeout=int(group.borrow_timeout),
            init_query=getattr(group, "init_query", None) or None)

    def session_pinning_filters(self, proxy_name: str) -> tuple[str, ...]:
        """The target group's SessionPinningFilters (MySQL family), as of now."""
        proxy = self.rds.db_proxies.get(proxy_name)
        group = proxy.proxy_target_groups.get("default") if proxy is not None else None
        return tuple(getattr(group, "session_pinning_filters", None) or ())

    def targets(self, proxy_name: str) -> list[TargetView]:
        proxy = self.rds.db_proxies.get(proxy_name)
        if proxy is None:
            return []
        group = proxy.proxy_target_groups.get("default")
        out = []
        for t in list(group.targets):
            out.append(TargetView(rds_resource_id=t.rds_resource_id, type=t.type,
                                  endpoint=t.endpoint, port=int(t.port or 5432),
                                  role=getattr(t, "role", None),
                                  tracked_cluster_id=getattr(t, "tracked_cluster_id", None)))
        return out

    def set_health(self, proxy_name: str, target: str, state: str, reason: str | None = None,
                   description: str | None = None) -> None:
        from rdsproxyctl import motoext

        from rdsproxyctl.sandbox.emulator import routing

        routing.changed()
        try:
            motoext.set_target_health(self.account_id, self.region, proxy_name, target, state,
                                      reason, description)
        except (KeyError, Exception):  # noqa: BLE001 - the proxy or target just went away
            pass

    def health(self, proxy_name: str, target: str) -> dict[str, str] | None:
        proxy = self.rds.db_proxies.get(proxy_name)
        if proxy is None:
            return None
        for t in list(proxy.proxy_target_groups["default"].targets):
            if t.rds_resource_id == target:
                return getattr(t, "_rpc_health", None)
        return None

    # -- IAM ---------------------------------------------------------------------------
    def signing_key(self, access_key_id: str) -> SigningKey | None:
        """The secret of an active access key of an IAM user, or of an assumed-role
        session (with its session token); ``None`` for a key the sandbox never issued."""
        iam = self.iam
        for user in list(iam.users.values()):
            for key in list(user.access_keys):
                if key.access_key_id == access_key_id:
                    if key.status != "Active":
                        return None
                    return SigningKey(key.secret_access_key, user.arn)
        from moto.sts.models import sts_backends

        for role in list(sts_backends[self.account_id][DEFAULT_PARTITION].assumed_roles):
            if role.access_key_id == access_key_id:
                role_name = role.role_arn.split("/")[-1]
                arn = f"arn:aws:sts::{self.account_id}:assumed-role/{role_name}/{role.session_name}"
                expires = role.expiration  # moto keeps naive UTC
                if expires is not None and expires.tzinfo is None:
                    expires = expires.replace(tzinfo=datetime.timezone.utc)
                return SigningKey(role.secret_access_key, arn, role.session_token, expires)
        return None

    def decision(self, principal_arn: str, action: str, resource: str) -> str:
        """IAM's answer: ``allowed``, ``explicitDeny`` or ``implicitDeny``."""
        from rdsproxyctl import motoext

        try:
            (result,) = motoext.simulate_principal_policy(self.account_id, principal_arn,
                                                          [action], [resource])
        except Exception:  # noqa: BLE001 - an unknown principal is denied
            return "implicitDeny"
        return str(result["EvalDecision"])

    @staticmethod
    def dbuser_arn(proxy: ProxyView, user: str) -> str:
        """The resource of rds-db:connect through a proxy (its ``prx-`` id, not the DB's)."""
        return f"arn:aws:rds-db:{proxy.region}:{proxy.account_id}:dbuser:{proxy.resource_id}/{user}"

    # -- secrets -------------------------------------------------------------------------
    def credentials(self, proxy: ProxyView) -> CredentialReport:
        """Read each auth entry's secret as the proxy's role would."""
        report = CredentialReport()
        prints: list[Any] = [proxy.role_arn]
        for entry in proxy.auth:
            arn = entry.secret_arn or ""
            if self.decision(proxy.role_arn, "secretsmanager:GetSecretValue", arn) != "allowed":
                report.problems.append(("credentials_not_authorized",
                                        {"role": proxy.role_arn, "secret": arn}))
                prints.append(("denied", arn))
                continue
            try:
                value = self.secrets.get_secret_value(secret_id=arn, version_id=None,
                                                      version_stage=None)
                data = json.loads(value.get("SecretString") or "")
                username, password = data["username"], data["password"]
                if not isinstance(username, str) or not isinstance(password, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                report.problems.append(("credentials_malformed", {"secret": arn}))
                prints.append(("malformed", arn))
                continue
            except Exception:  # noqa: BLE001 - moto's not-found / deleted faults
                report.problems.append(("credentials_missing_secret", {"secret": arn}))
                prints.append(("missing", arn))
                continue
            report.credentials.setdefault(username, Credential(username, password, entry))
            prints.append((arn, username, password))
        report.fingerprint = tuple(prints)
        return report

    # -- metrics -------------------------------------------------------------------------
    @property
    def cloudwatch(self) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return cloudwatch_backends[self.account_id][self.region]

    def put_metric_data(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """PutMetricData, in process (what ``aws cloudwatch put-metric-data`` would do).
        moto keeps timestamps as naive UTC datetimes."""
        import datetime as _dt

        data = [{**d, "Timestamp": d["Timestamp"].astimezone(_dt.timezone.utc)
                 .replace(tzinfo=None)} if isinstance(d.get("Timestamp"), _dt.datetime) else d
                for d in data]
        self.cloudwatch.put_metric_data(namespace, data)

    # -- logs ----------------------------------------------------------------------------
    def put_log_events(self, group: str, stream: str, events: list[dict[str, Any]]) -> None:
        logs = self.logs
        if group not in logs.groups:
            try:
                logs.create_log_group(group, {})
            except Exception:  # noqa: BLE001 - created meanwhile
                pass
        log_group = logs.groups[group]
        if stream not in log_group.streams:
            try:
                logs.create_log_stream(group, stream)
            except Exception:  # noqa: BLE001
                pass
        logs.put_log_events(group, stream, events)
