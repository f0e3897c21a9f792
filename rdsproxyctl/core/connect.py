"""Connection smoke tests through a proxy: time every phase, say what broke and how to fix it.

The client-facing messages RDS Proxy sends are documented on "Troubleshooting for RDS
Proxy" (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html);
:data:`FAILURE_RULES` maps them (and libpq's own errors) to a class and a remedy.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.core.db import ConnParams, ConnectTimeout, DnsError, PhaseTimer, sslrootcert
from rdsproxyctl.errors import ExitCode, UsageError

#: EngineFamily -> the driver family of :class:`~.db.ConnParams`.
ENGINES = {"POSTGRESQL": "postgresql", "MYSQL": "mysql"}
MYSQL_PORT = 3306

TROUBLESHOOTING = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html"

#: Failure class -> exit code (documented in docs/connect.md).
CLASS_EXIT_CODES: dict[str, ExitCode] = {
    "dns": ExitCode.CONNECTION,
    "network": ExitCode.CONNECTION,
    "tls": ExitCode.CONNECTION,
    "proxy-limit": ExitCode.CONNECTION,
    "pool-timeout": ExitCode.CONNECTION,
    "iam-auth": ExitCode.AUTH,
    "password-auth": ExitCode.AUTH,
    "unsupported-option": ExitCode.USAGE,
    "database": ExitCode.CHECK_FAILED,
}


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    klass: str
    remedy: str
    #: Only for this authentication mode (``iam``, ``secret``, ``password``; ``iam`` also
    #: when the proxy takes IAM tokens only): MySQL says "Access denied" whether a token or
    #: a password was refused.
    auth: str | None = None


def _rule(pattern: str, klass: str, remedy: str, auth: str | None = None) -> Rule:
    return Rule(re.compile(pattern, re.IGNORECASE), klass, remedy, auth)


_IAM_REMEDY = ("the token was refused: the caller needs rds-db:connect on {resource_arn}; the "
               "token must be signed for host {host}, port {port} and region {region} (the "
               "proxy's endpoint, not the database's), less than 15 minutes ago, with a "
               "correct clock")
#: RDS Proxy's MySQL texts ("Troubleshooting for RDS Proxy", RDS Proxy for MySQL section,
#: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html).
_MYSQL_RULES: tuple[Rule, ...] = (
    _rule(r"Access denied for user", "iam-auth",
          _IAM_REMEDY + "; MySQL clients send it with the cleartext plugin over TLS (mysql "
          "--enable-cleartext-plugin --ssl-mode=VERIFY_IDENTITY)", auth="iam"),
    _rule(r"Access denied for user", "password-auth",
          "the proxy refused user {user}: it needs a secret for this user in its auth "
          "entries whose password matches, and a ClientPasswordAuthType "
          "(MYSQL_NATIVE_PASSWORD or MYSQL_CACHING_SHA2_PASSWORD) the client supports"),
    _rule(r"IAM authentication rate limit exceeded", "proxy-limit",
          "the proxy's IAM authentication rate limit was hit: retry with back-off, reuse "
          "connections (a pool in the application), or spread connection storms"),
    _rule(r"Connections rate limit exceeded", "proxy-limit",
          "the proxy's connection rate limit was hit: retry with back-off and reuse connections"),
    _rule(r"Number simultaneous connections exceeded", "proxy-limit",
          "the proxy's client connection limit was reached: close idle clients, lower "
          "IdleClientTimeout, or pool connections in the application"),
    _rule(r"character_set_client.{0,8} can't be set|character_set_client.{0,8} cannot be set",
          "unsupported-option",
          "the client asked for a character set the proxy refuses (ucs2 and other "
          "multi-byte-only sets): use utf8mb4"),
    _rule(r"ERROR 2026|SSL connection error", "tls",
          "the TLS handshake with the proxy failed: retry (RDS Proxy answers `Internal Server "
          "Error` while it scales), and check --sslmode and --ca-bundle (proxies present "
          "Amazon Trust Services certificates)"),
    _rule(r"ERROR 1105|Unknown error", "database",
          "the proxy reported an unknown error: look at its log (rdsproxyctl logs {proxy})"),
)


#: Known messages, most specific first.  Remedies may use {user} {host} {port} {region}
#: {resource_arn} {proxy}.
FAILURE_RULES: tuple[Rule, ...] = (
    _rule(r"IAM authentication is allowed only with SSL", "tls",
          "IAM tokens are only accepted over TLS: connect with sslmode=require or verify-full "
          "(the default of rdsproxyctl connect)"),
    _rule(r"requires TLS connections", "tls",
          "the proxy has RequireTLS on: connect with sslmode=verify-full (or require)"),
    _rule(r"IAM authentication failed because of too many competing requests", "proxy-limit",
          "the proxy's IAM authentication rate limit was hit: retry with back-off, reuse "
          "connections (a pool in the application), or spread connection storms"),
    _rule(r"IAM authentication failed for user", "iam-auth",
          "the token was refused: the caller needs rds-db:connect on {resource_arn}; the token "
          "must be signed for host {host}, port {port} and region {region} (the proxy's "
          "endpoint, not the database's), less than 15 minutes ago, with a correct clock"),
    _rule(r"has no credentials for the role", "password-auth",
          "the proxy has no secret for user {user}: add a Secrets Manager secret with this "
          "username to the proxy's auth (rdsproxyctl modify {proxy} ...), or connect as a user "
          "that has one"),
    _rule(r"password that was provided for the role .* is wrong|password authentication failed",
          "password-auth",
          "the password does not match the proxy's secret for {user}: check the secret's "
          "password (and ClientPasswordAuthType against the database's password_encryption)"),
    _rule(r"supports only IAM, MD5, or SCRAM", "password-auth",
          "the client offered an authentication method the proxy does not support: use SCRAM "
          "or MD5 password authentication, or an IAM token"),
    _rule(r"user name is missing", "unsupported-option",
          "give a user name (--user)"),
    _rule(r"doesn't support the option|does not support the option", "unsupported-option",
          "RDS Proxy refuses startup options such as `options=-c ...`: set them with SET in "
          "the session (which pins it) or with the proxy's InitQuery (rdsproxyctl pool "
          "{proxy} --init-query ...)"),
    # the two other startup refusals of the troubleshooting page
    # (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html)
    _rule(r"doesn't support streaming replication mode", "unsupported-option",
          "RDS Proxy does not relay replication connections: connect to the database itself "
          "for streaming or logical replication (pg_basebackup, pg_recvlogical, CDC tools)"),
    _rule(r"supports only version 3\.0 of the PostgreSQL messaging protocol",
          "unsupported-option",
          "the client speaks a protocol older than 3.0: upgrade the driver (every libpq since "
          "7.4 speaks 3.0)"),
    _rule(r"maximum number of client connections to the proxy", "proxy-limit",
          "the proxy's client connection limit was reached: close idle clients, lower "
          "IdleClientTimeout, or pool connections in the application"),
    _rule(r"Rate of connection to proxy exceeded", "proxy-limit",
          "the proxy's connection rate limit was hit: retry with back-off and reuse connections"),
    _rule(r"Timed-out waiting to acquire database connection", "pool-timeout",
          "no database connection became free within ConnectionBorrowTimeout: the database may "
          "be down or the pool exhausted; check `rdsproxyctl targets {proxy}`, raise "
          "MaxConnectionsPercent or the borrow timeout (rdsproxyctl pool {proxy} ...), and look "
          "for pinned sessions (rdsproxyctl logs summary {proxy})"),
    _rule(r"Request returned an error", "database",
          "the database itself refused the request: read its message above"),
    *_MYSQL_RULES,
    _rule(r"certificate verify failed|does not match host name|SSL certificate|"
          r"root certificate file|sslrootcert|certificate", "tls",
          "TLS verification failed: proxies present certificates from Amazon Trust Services "
          "(Amazon Root CA 1-4): use sslrootcert=system (libpq 16+) or a CA bundle that "
          "contains those roots (--ca-bundle); connect with the proxy's own DNS name "
          "(custom DNS names fail hostname verification)"),
    _rule(r"server does not support SSL|SSL was required|SSL error|SSL SYSCALL|tls", "tls",
          "the TLS handshake failed: check --sslmode and that you are talking to the proxy"),
    _rule(r"timeout expired|timed out|no answer within", "network",
          "nothing answered at {host}:{port}: clients must be inside the proxy's VPC (or "
          "peered/VPN); check the security group of the proxy allows inbound {port} from you"),
    _rule(r"Connection refused|No route to host|Network is unreachable|could not connect|"
          r"Connection reset|server closed the connection|Can't connect to MySQL server|"
          r"Lost connection to MySQL server|MySQL server has gone away", "network",
          "the connection to {host}:{port} failed: check the host and port (PostgreSQL proxies "
          "listen on 5432, MySQL proxies on 3306), routing from this network, and security "
          "groups"),
)

_PHASE_FALLBACK = {"dns": "dns", "tcp_connect": "network", "tls_handshake": "tls",
                   "authentication": "password-auth", "first_query": "database"}


@dataclass(frozen=True)
class Failure:
    phase: str
    klass: str
    message: str
    remedy: str
    exit_code: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float | None
    ok: bool


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    host: str
    port: int
    user: str
    database: str
    auth: str
    proxy: str | None
    endpoint: str | None
    phases: list[Phase]
    total_seconds: float
    current_user: str | None = None
    server_version: str | None = None
    failure: Failure | None = None
    warnings: list[str] = field(default_factory=list)
    engine: str = "postgresql"  # postgresql | mysql


def classify(phase: str, message: str, context: dict[str, Any]) -> Failure:
    """The class and remedy of a failure message seen in ``phase``."""
    first_line = message.strip().splitlines()[0] if message.strip() else message
    for rule in FAILURE_RULES:
        if rule.auth is not None and rule.auth != context.get("auth") and \
                not (rule.auth == "iam" and context.get("iam_only")):
            continue
        if rule.pattern.search(message):
            klass, remedy = rule.klass, rule.remedy
            break
    else:
        klass = _PHASE_FALLBACK.get(phase, "database")
        remedy = {"dns": "the host name does not resolve from here: check it, and that this "
                         "machine can resolve the VPC's private DNS names",
                  }.get(klass, "see " + TROUBLESHOOTING)
    values = {"user": "?", "host": "?", "port": "?", "region": "?", "proxy": "PROXY",
              "resource_arn": "arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-ID/USER", **context}
    return Failure(phase=phase, klass=klass, message=_clean(first_line),
                   remedy=remedy.format(**values), exit_code=int(CLASS_EXIT_CODES[klass]))


def _clean(message: str) -> str:
    from rdsproxyctl.core.redact import redact_text

    text = re.sub(r"^(connection to server at .*?failed: )", "", message.strip())
    text = re.sub(r"^(FATAL|ERROR):\s+", "", text)
    return redact_text(text)


#: sslmodes under which the connection may end up unencrypted.
UNENCRYPTED_SSLMODES = ("disable", "allow", "prefer")
#: A DNS name, an IPv4/IPv6 address or a socket directory (no spaces, control characters,
#: commas or URL syntax).
_HOST_RE = re.compile(r"[A-Za-z0-9_.:%/-]{1,253}")

#: Longest --connect-timeout: an hour (libpq takes whole seconds; asyncio and select()
#: overflow on huge values).
MAX_CONNECT_TIMEOUT = 3600


@dataclass(frozen=True)
class ConnectSpec:
    """What to connect to and how to authenticate."""

    proxy: str | None = None
    endpoint: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    database: str | None = None
    iam: bool = False
    secret_arn: str | None = None
    password_env: str | None = None
    sslmode: str = "verify-full"
    ca_bundle: str | None = None
    connect_timeout: float = 10.0

    def validate(self) -> None:
        modes = [bool(self.iam), bool(self.secret_arn), bool(self.password_env)]
        if sum(modes) != 1:
            raise UsageError("choose exactly one of --iam, --secret ARN, --password-env VAR")
        if not self.proxy and not self.host:
            raise UsageError("give a proxy NAME, or --host (and --port)")
        if self.proxy and self.host:
            raise UsageError("give a proxy NAME or --host, not both")
        if self.iam and not self.user:
            raise UsageError("--iam needs --user: the database user the token is for")
        if self.sslmode not in ("disable", "allow", "prefer", "require", "verify-ca",
                                "verify-full"):
            raise UsageError(f"--sslmode {self.sslmode!r} is not a libpq sslmode")
        if self.iam and self.sslmode in UNENCRYPTED_SSLMODES:
            raise UsageError(f"--iam with --sslmode {self.sslmode}: the token would be sent to a "
                             "server that may not use TLS",
                             hint="IAM tokens go over TLS only: use --sslmode verify-full (the "
                             "default) or require")
        if self.host is not None and not _HOST_RE.fullmatch(self.host):
            raise UsageError(f"--host {self.host!r} is not a host name or IP address")
        if self.ca_bundle and not os.path.isfile(self.ca_bundle):
            raise UsageError(f"--ca-bundle {self.ca_bundle}: no such file")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise UsageError(f"--port must be 1-65535, got {self.port}")
        if not 0 < self.connect_timeout <= MAX_CONNECT_TIMEOUT:
            raise UsageError(f"--connect-timeout must be more than 0 and at most "
                             f"{MAX_CONNECT_TIMEOUT} seconds, got {self.connect_timeout:g}")
        if self.password_env and self.password_env not in os.environ:
            raise UsageError(f"--password-env {self.password_env}: that variable is not set")


@dataclass
class Prepared:
    """A resolved target and credentials, ready to dial (reused by load mode)."""

    params: ConnParams
    auth: str
    proxy: str | None
    endpoint: str | None
    context: dict[str, Any]
    lookup_seconds: float | None
    warnings: list[str]
    region: str | None


def _secret_credentials(aws: Any, secret_arn: str) -> tuple[str | None, str]:
    from rdsproxyctl.core.aws import aws_errors

    with aws_errors(aws, secret=secret_arn):
        value = aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    try:
        data = json.loads(value.get("SecretString") or "")
        password = data["password"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"secret {secret_arn} is not JSON with a `password` key",
                         hint="RDS Proxy secrets hold JSON with `username` and `password`") from None
    return data.get("username"), str(password)


def _is_token(password: str) -> bool:
    """A password that is an IAM auth token minted elsewhere (a presigned connect URL)."""
    return "Action=connect" in password and "X-Amz-Signature=" in password


def prepare(aws: Any, spec: ConnectSpec) -> Prepared:
    """Validate, look the proxy up (timed), and get the password or token."""
    from rdsproxyctl.core import tokens

    spec.validate()
    warnings: list[str] = []
    lookup_seconds = None
    region: str | None = None
    context: dict[str, Any] = {}
    if spec.proxy:
        started = time.perf_counter()
        target = tokens.resolve(aws, spec.proxy, spec.endpoint)
        lookup_seconds = time.perf_counter() - started
        if target.engine_family not in ENGINES:
            raise UsageError(
                f"proxy {spec.proxy} is {target.engine_family}: connect supports PostgreSQL "
                "and MySQL proxies")
        engine = ENGINES[target.engine_family]
        host, port, region = target.host, target.port, target.region
        from rdsproxyctl.core.proxies import get_proxy

        proxy = get_proxy(aws, spec.proxy)
        context["proxy_arn"] = proxy.arn
        if not spec.iam and proxy.iam_auth in ("REQUIRED", "END_TO_END") \
                and not _is_token(os.environ.get(spec.password_env or "", "")):
            # refused before anything is sent: the proxy would reject the password, and the
            # error would read as a token problem although no token was sent
            from rdsproxyctl.errors import AuthError

            how = "--secret" if spec.secret_arn else "--password-env (not a token)"
            raise AuthError(f"proxy {spec.proxy} requires IAM authentication: {how} sends a "
                            "password it would refuse",
                            hint=f"use --iam, or `rdsproxyctl iam disable {spec.proxy}` to "
                                 "allow passwords")
        # every login is an IAM token (MySQL's "Access denied" then means a refused token)
        context["iam_only"] = proxy.default_auth_scheme == "IAM_AUTH" or bool(proxy.auth) and \
            all(entry.iam_auth == "REQUIRED" for entry in proxy.auth)
        from rdsproxyctl.core.iam import db_user_arn

        context["resource_arn"] = db_user_arn(proxy, spec.user or "*")
    else:
        host, port = spec.host or "", spec.port or 5432
        engine = "mysql" if int(port) == MYSQL_PORT else "postgresql"
    user = spec.user
    password: str | None
    if spec.iam:
        minted = tokens.mint(aws, host, port, user or "", region)
        password, region = minted.token, minted.region
        warnings.extend(minted.warnings)
        context["token_expires_at"] = minted.expires_at.isoformat()
    elif spec.secret_arn:
        secret_user, password = _secret_credentials(aws, spec.secret_arn)
        user = user or secret_user
    else:
        password = os.environ[spec.password_env or ""]
    if not user:
        raise UsageError("no database user: pass --user (the secret has no `username`)")
    database = spec.database or user
    auth = "iam" if spec.iam else "secret" if spec.secret_arn else "password"
    context.update(user=user, host=host, port=port, region=region or "?",
                   proxy=spec.proxy or "PROXY", auth=auth, engine=engine)
    require_auth, weak = channel_policy(spec)
    warnings.extend(weak)
    params = ConnParams(host=host, port=int(port), user=user, dbname=database,
                        password=password, sslmode=spec.sslmode,
                        sslrootcert=sslrootcert(spec.ca_bundle),
                        connect_timeout=spec.connect_timeout, require_auth=require_auth,
                        engine=engine)
    return Prepared(params=params, auth=auth, proxy=spec.proxy, endpoint=spec.endpoint,
                    context=context, lookup_seconds=lookup_seconds, warnings=warnings,
                    region=region)


def channel_policy(spec: ConnectSpec) -> tuple[str | None, list[str]]:
    """libpq's require_auth for ``spec``, and warnings about a weak --sslmode.

    A password (or secret) never goes in clear text unless the server's certificate is
    verified: below verify-ca the client accepts only SCRAM or MD5 challenges
    (``require_auth=!password``).  An IAM token *is* a clear-text password: it needs
    TLS (``ConnectSpec.validate`` refuses it below ``require``).
    """
    from rdsproxyctl.core.db import VERIFYING_SSLMODES

    mode = spec.sslmode
    warnings: list[str] = []
    if mode in UNENCRYPTED_SSLMODES:
        warnings.append(f"--sslmode {mode}: the connection may not be encrypted (RDS Proxy "
                        "clients should use verify-full); the password is only answered to a "
                        "SCRAM or MD5 challenge, never sent in clear text")
    elif mode not in VERIFYING_SSLMODES:
        warnings.append(f"--sslmode {mode}: encrypted, but the server's certificate is not "
                        "verified (anyone in the path can pose as the proxy); use verify-full")
    if spec.iam or mode in VERIFYING_SSLMODES:
        return None, warnings
    return "!password", warnings


FIRST_QUERY = "SELECT 1, current_user, current_setting('server_version')"


def first_query(conn: Any) -> tuple[str, str]:
    """``SELECT 1``, current_user and the server version, over the simple query protocol
    (a client-side cursor: no Parse message, nothing that pins a proxy session)."""
    import psycopg

    with psycopg.ClientCursor(conn) as cur:
        cur.execute(FIRST_QUERY)
        row = cur.fetchone()
    assert row is not None and row[0] == 1
    return str(row[1]), str(row[2])


def exception_message(exc: BaseException) -> str:
    from rdsproxyctl.core import mysqldb

    if mysqldb.is_error(exc):
        return mysqldb.error_message(exc)
    message = str(exc)
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return primary or message


def smoke_test(aws: Any, spec: ConnectSpec) -> SmokeResult:
    """Connect once, run the first query, close; report each phase and the failure."""
    from rdsproxyctl.core import db

    started = time.perf_counter()
    prepared = prepare(aws, spec)
    mysql = prepared.params.engine == "mysql"
    if mysql:  # imported before the clock starts: not a phase
        import pymysql  # noqa: F401
    else:
        import psycopg  # noqa: F401
    timer = PhaseTimer()
    failure: Failure | None = None
    user_seen = version = None
    conn = None
    try:
        conn = db.connect(prepared.params, timer)
        if mysql:
            from rdsproxyctl.core import mysqldb

            user_seen, version = db.timed(timer, "first_query",
                                          lambda: mysqldb.first_query(conn))
        else:
            user_seen, version = db.timed(timer, "first_query", lambda: first_query(conn))
    except Exception as exc:  # noqa: BLE001 - database failures are classified, others raised
        if not _is_db_error(exc):
            raise
        failure = classify(timer.failed_phase or "tcp_connect", exception_message(exc),
                           prepared.context)
        if failure.klass == "iam-auth":
            failure = _explain_iam_failure(aws, failure, prepared)
    finally:
        if conn is not None:
            conn.close()
    phases = []
    if prepared.lookup_seconds is not None:
        phases.append(Phase("proxy_lookup", round(prepared.lookup_seconds, 6), True))
    for name in (*db.PHASES, "first_query"):
        if name in timer.durations:
            phases.append(Phase(name, round(timer.durations[name], 6),
                                not (failure and failure.phase == name)))
    return SmokeResult(
        ok=failure is None, host=prepared.params.host, port=prepared.params.port,
        user=prepared.params.user, database=prepared.params.dbname, auth=prepared.auth,
        proxy=prepared.proxy, endpoint=prepared.endpoint, phases=phases,
        total_seconds=round(time.perf_counter() - started, 6), current_user=user_seen,
        server_version=version, failure=failure, warnings=prepared.warnings,
        engine=prepared.params.engine)


def _is_db_error(exc: BaseException) -> bool:
    if isinstance(exc, (DnsError, ConnectTimeout)):
        return True
    from rdsproxyctl.core import mysqldb

    if mysqldb.is_error(exc):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, psycopg.Error)


def _explain_iam_failure(aws: Any, failure: Failure, prepared: Prepared) -> Failure:
    """Add the evidence an IAM failure needs: who signed, for what, and the clock."""
    details: dict[str, Any] = {
        "token_host": prepared.params.host, "token_port": prepared.params.port,
        "token_region": prepared.region, "required_resource": prepared.context.get("resource_arn"),
    }
    try:
        response = aws.client("sts").get_caller_identity()
        details["caller"] = response.get("Arn")
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        if date:
            from email.utils import parsedate_to_datetime

            skew = time.time() - parsedate_to_datetime(date).timestamp()
            details["clock_skew_seconds"] = round(skew, 1)
    except Exception:  # noqa: BLE001 - evidence is best effort; the failure stands
        pass
    remedy = failure.remedy
    if details.get("caller"):
        remedy += f" (the token was signed by {details['caller']})"
    if abs(details.get("clock_skew_seconds", 0)) > 300:
        remedy += f"; this machine's clock is {details['clock_skew_seconds']:+.0f} s off AWS's"
    return Failure(phase=failure.phase, klass=failure.klass, message=failure.message,
                   remedy=remedy, exit_code=failure.exit_code, details=details)
