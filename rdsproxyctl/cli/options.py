"""The CLI's one vocabulary: every option's flag, meaning, type and default, defined once.

A command takes its options from here, either as a ready ``Annotated`` type::

    from rdsproxyctl.cli import options as o

    def my_cmd(name: o.ProxyName, rt: Runtime, user: o.User = None, wait: o.Wait = True): ...

or, for a flag only it uses, with :func:`option` (the flag must be in :data:`VOCABULARY`)::

    hold: Annotated[float, o.option("--hold")] = 0.0

``tests/test_vocabulary.py`` walks every command of the app and fails when a flag is
missing here, has another type, another default, a help text that does not start
with its meaning, or a short form paired with two long ones.  docs/configuration.md's
vocabulary table is generated from :data:`VOCABULARY` (``python -m
rdsproxyctl.devtools.gendocs``).  Old spellings live in :data:`DEPRECATED`: they still
work for one release, with a warning on stderr, and are not shown in help.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Optional

try:  # typer 0.28 carries its own copy of click
    from typer._click.types import ParamType
except ImportError:  # pragma: no cover - typer < 0.28 uses click itself
    from click.types import ParamType  # type: ignore[no-redef]
import typer

GLOBAL_PANEL = "Global options"
PLAN_PANEL = "Plan and wait"
POOL_PANEL = "Connection pool"
AUTH_PANEL = "Authentication"
NET_PANEL = "Network"


class Term:
    """One flag of the vocabulary.

    ``kind``: text, integer, number, duration, time, path, choice, flag (a bare
    switch) or switch (``--x/--no-x``).  ``default`` is the documented default, the
    same in every command (``vary`` explains the one that differs, if any).  (A plain
    class: a dataclass costs every start-up its generated methods.)
    """

    __slots__ = ("flag", "kind", "meaning", "short", "default", "choices", "env", "vary")

    def __init__(self, flag: str, kind: str, meaning: str, short: str | None = None,
                 default: Any = None, choices: tuple[str, ...] = (), env: str | None = None,
                 vary: str | None = None) -> None:
        self.flag, self.kind, self.meaning, self.short = flag, kind, meaning, short
        self.default, self.choices, self.env, self.vary = default, choices, env, vary

    @property
    def decls(self) -> tuple[str, ...]:
        if self.kind == "switch":
            return (f"{self.flag}/--no-{self.flag[2:]}",)
        return (self.flag, self.short) if self.short else (self.flag,)


def _terms(*terms: Term) -> dict[str, Term]:
    return {t.flag: t for t in terms}


OUTPUT_FORMATS = ("table", "wide", "json", "tsv", "markdown")
FAIL_ON = ("warn", "error", "fail", "none")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
WAIT_FOR = ("available", "targets-available", "deleted", "endpoint-available")
TOKEN_FORMATS = ("token", "env", "json", "dsn")

#: Every option of the CLI.  Keep it sorted by area; the doc table follows this order.
VOCABULARY: dict[str, Term] = _terms(
    # -- global ---------------------------------------------------------------------------
    Term("--profile", "text", "AWS profile.", env="RDSPROXYCTL_PROFILE, AWS_PROFILE"),
    Term("--region", "text", "AWS region.",
         env="RDSPROXYCTL_REGION, AWS_REGION, AWS_DEFAULT_REGION"),
    Term("--endpoint-url", "text", "AWS API endpoint, e.g. a moto server or the sandbox.",
         env="RDSPROXYCTL_ENDPOINT_URL, AWS_ENDPOINT_URL"),
    Term("--output", "choice", "Output format (wide: table with every column).", short="-o",
         choices=OUTPUT_FORMATS, default="table", env="RDSPROXYCTL_OUTPUT"),
    Term("--query", "text", "JMESPath expression applied to the JSON document (as the AWS "
         "CLI's); tables and tsv show its result as rows."),
    Term("--no-headers", "flag", "No header line in table and tsv output.", default=False),
    Term("--no-color", "flag", "No colours.", default=False, env="NO_COLOR"),
    Term("--debug", "flag", "Show tracebacks and the AWS API calls (secrets redacted).",
         default=False),
    Term("--quiet", "flag", "Only data and errors: no progress or informational messages.",
         short="-q", default=False),
    Term("--version", "flag", "Show the version and exit."),
    Term("--install-completion", "flag", "Install completion for the current shell."),
    Term("--show-completion", "flag", "Show completion for the current shell, to copy it or "
         "customize the installation."),
    # -- what to reach ------------------------------------------------------------------------
    Term("--endpoint", "text", "A proxy endpoint's name (DBProxyEndpointName) instead of the "
         "proxy's default endpoint."),
    Term("--host", "text", "A host name to use as is, without looking the proxy up."),
    Term("--port", "integer", "Port for --host (default 5432; 3306 means a MySQL proxy)."),
    Term("--user", "text", "Database user.", short="-u", env="PGUSER"),
    Term("--database", "text", "Database name (default: the user name).", short="-d",
         env="PGDATABASE"),
    Term("--sslmode", "choice", "libpq sslmode.", choices=SSLMODES, default="verify-full",
         env="PGSSLMODE"),
    Term("--ca-bundle", "text", "CA certificates to verify the proxy (default: PGSSLROOTCERT, "
         "else the OS trust store, which holds the Amazon roots)."),
    Term("--iam", "flag", "Authenticate with an IAM token.", default=False),
    Term("--secret", "text", "A Secrets Manager secret (ARN) with a database user's username "
         "and password."),
    Term("--password-env", "text", "Read the password from this environment variable."),
    Term("--connect-timeout", "duration", "How long a connection attempt may take.",
         default=10.0),
    Term("--format", "choice", "What the token command prints: token, env (export lines), "
         "json, or dsn (a libpq connection string without the password; MySQL: the mysql "
         "client's options).",
         choices=TOKEN_FORMATS),
    # -- connect load mode --------------------------------------------------------------------
    Term("--count", "integer", "Load mode: this many connections in all."),
    Term("--concurrency", "integer", "Load mode: this many at a time.", default=10),
    Term("--hold", "duration", "Load mode: keep each connection open this long.", default=0.0),
    Term("--check-backends", "flag", "Load mode: report the most backend connections the "
         "database held (pg_stat_activity; MySQL: information_schema.processlist).",
         default=False),
    # -- plans, waiting, consent ---------------------------------------------------------------
    Term("--dry-run", "flag", "Print the plan (every API call and its parameters) and change "
         "nothing.", default=False),
    Term("--wait", "switch", "Wait until the change is done (the proxy available, new targets "
         "out of REGISTERING, a deleted resource gone).", default=True),
    Term("--timeout", "duration", "How long to wait at most, then exit 1 (the change goes on "
         "in AWS).", default=1200.0),
    Term("--for", "choice", "What to wait for.", choices=WAIT_FOR, default="available"),
    Term("--yes", "flag", "Consent to a plan that removes, deregisters, or weakens TLS or "
         "authentication, without asking (required without a terminal).", short="-y",
         default=False),
    Term("--prune", "flag", "Also remove what the spec no longer names (endpoints, targets, "
         "auth entries); without it they are kept, with a warning.", default=False),
    Term("--detailed-exitcode", "flag", "With --dry-run: exit 0 when nothing differs, 2 when "
         "the plan has changes (drift), as terraform plan -detailed-exitcode.", default=False),
    Term("--if-exists", "flag", "Succeed without change when it does not exist.", default=False),
    Term("--if-not-exists", "flag", "Succeed without change when it exists.", default=False),
    # -- proxy settings -----------------------------------------------------------------------
    Term("--engine", "text", "Engine family: postgresql, mysql or sqlserver.",
         default="postgresql"),
    Term("--role", "text", "ARN of the IAM role the proxy reads its secrets with (RoleArn)."),
    Term("--create-role", "flag", "Create that role: trusted by rds.amazonaws.com, allowed "
         "GetSecretValue on exactly these secrets (and kms:Decrypt for customer-managed keys).",
         default=False),
    Term("--role-name", "text", "Name of the role --create-role makes (default: "
         "rds-proxy-NAME)."),
    Term("--iam-auth", "text", "IAMAuth of every auth entry: required or disabled (enabled: "
         "SQL Server only)."),
    Term("--client-password-auth-type", "text", "ClientPasswordAuthType of every auth entry, "
         "e.g. POSTGRES_SCRAM_SHA_256, POSTGRES_MD5, MYSQL_CACHING_SHA2_PASSWORD."),
    Term("--end-to-end-iam", "switch", "DefaultAuthScheme IAM_AUTH: the proxy uses IAM to the "
         "database too (secrets become optional)."),
    Term("--add-secret", "text", "Add an auth entry for this secret ARN. Repeatable."),
    Term("--remove-secret", "text", "Remove the auth entry of this secret ARN. Repeatable."),
    Term("--subnets", "text", "Subnet ids, comma-separated or repeated."),
    Term("--security-groups", "text", "Security group ids, comma-separated or repeated "
         "(default: the VPC's default group)."),
    Term("--require-tls", "switch", "Refuse clients without TLS (RequireTLS)."),
    Term("--idle-client-timeout", "duration", "IdleClientTimeout: 1s to 8h (AWS default 30m)."),
    Term("--debug-logging", "switch", "Log SQL statements to CloudWatch Logs (for "
         "troubleshooting only)."),
    Term("--new-name", "text", "Rename the proxy (its endpoint's host name changes)."),
    Term("--tag", "text", "A tag, KEY=VALUE. Repeatable."),
    Term("--db-instance", "text", "A DB instance identifier."),
    Term("--db-cluster", "text", "An Aurora DB cluster identifier."),
    Term("--target-role", "text", "TargetRole of an endpoint: read-write, or read-only (Aurora "
         "clusters with readers).", default="read-write"),
    Term("--max-connections-percent", "integer", "MaxConnectionsPercent, 1-100: the share of "
         "the database's max_connections the proxy may use."),
    Term("--max-idle-connections-percent", "integer", "MaxIdleConnectionsPercent, 0 to the max "
         "connections percent."),
    Term("--borrow-timeout", "duration", "ConnectionBorrowTimeout: 0 to 5m."),
    Term("--init-query", "text", "SQL run on every new database connection ('' clears it). "
         "Never put secrets in it."),
    Term("--session-pinning-filter", "text", "Session pinning filter (MySQL only): "
         "EXCLUDE_VARIABLE_SETS. Repeatable."),
    Term("--mode", "text", "required (clients must use IAM), or enabled (IAM or password; SQL "
         "Server only).", default="required"),
    Term("--attach-to-role", "text", "Attach the policy inline to this IAM role (name or ARN)."),
    Term("--attach-to-user", "text", "Attach the policy inline to this IAM user (name or ARN)."),
    Term("--replace", "flag", "Replace an existing inline policy of that name instead of "
         "adding the statement to it (needs consent: its other statements go).",
         default=False),
    Term("--policy-name", "text", "Name of the inline policy (default: "
         "rds-proxy-connect-NAME)."),
    # -- diagnose -----------------------------------------------------------------------------
    Term("--all", "flag", "Every proxy in the region.", default=False),
    Term("--principal", "text", "IAM user/role ARN whose rds-db:connect permission to check "
         "(default: the caller)."),
    Term("--connect", "flag", "Also connect through the proxy (the connect smoke test).",
         default=False),
    Term("--check", "text", "Run only this check (repeatable)."),
    Term("--skip", "text", "Skip this check (repeatable)."),
    Term("--list-checks", "flag", "List the check ids and exit.", default=False),
    Term("--fail-on", "choice", "Exit 1 when a finding reaches this severity (error and fail "
         "are the same; none: never).", choices=FAIL_ON, default="fail"),
    # -- logs ---------------------------------------------------------------------------------
    Term("--since", "time", "Start of the window: a duration back from now (900, 15m, 2h, 1d, "
         "1h30m) or an ISO 8601 time (UTC unless it has an offset).", default="1h",
         vary="10m for `logs tail`, as `aws logs tail`"),
    Term("--until", "time", "End of the window (default: now); same forms as --since."),
    Term("--follow", "flag", "Keep polling for new lines until Ctrl-C (exit 130).", short="-f",
         default=False),
    Term("--signature", "text", "Only this signature (repeatable; globs such as 'iam-auth-*'; "
         "`unclassified`). See docs/signatures.md.", short="-s"),
    Term("--errors", "flag", "Only warnings and errors (unknown lines by their level).",
         default=False),
    Term("--grep", "text", "Only lines matching this regular expression (Python syntax, "
         "applied locally to the whole line)."),
    Term("--filter-pattern", "text", "CloudWatch Logs filter pattern, passed as is (replaces "
         "the one built from the other options)."),
    Term("--include-info", "flag", "Count info signatures too (default: warnings and errors "
         "only).", default=False),
    Term("--top", "integer", "How many users, reasons and digests.", default=10),
    Term("--summary", "flag", "Print the summary (as `logs summary`) instead of the lines.",
         default=False),
    Term("--pinning", "flag", "Print the pinning report (as `pinning NAME`: pin events by "
         "cause and digest, each with its fix) instead of the lines.", default=False),
    # -- metrics and top ----------------------------------------------------------------------
    Term("--period", "text", "Seconds per datapoint: a multiple of 60 (1m, 5m, 1h; 5m "
         "multiples for windows starting over 15 days ago, 1h over 63 days). Default: the "
         "smallest that keeps 1440 points per metric."),
    Term("--target", "text", "Only this target's metrics (CloudWatch's Target dimension, "
         "e.g. db:INSTANCE)."),
    Term("--metric", "text", "Only this CloudWatch metric (repeatable; globs such as "
         "'Query*')."),
    Term("--interval", "number", "Seconds between refreshes, 1-3600.", default=10.0),
    Term("--iterations", "integer", "Stop after this many refreshes (0: until Ctrl-C).",
         default=0),
    # -- sandbox ------------------------------------------------------------------------------
    Term("--mysql", "flag", "Also start a MariaDB server (Debian's mariadb-server) and a "
         "sandbox-mysql DB instance for MYSQL proxies; kept by later `up`s.", default=False),
    Term("--dir", "path", "The sandbox's state directory (default: "
         "$XDG_STATE_HOME/rdsproxyctl/sandbox).", env="RDSPROXYCTL_SANDBOX_DIR"),
    Term("--cluster", "flag", "Demo a proxy on an Aurora PostgreSQL cluster (a writer and a "
         "streaming reader) with a READ_ONLY endpoint.", default=False),
    Term("--proxy", "text", "The sandbox proxy (DBProxyName) a fault acts on; needed when "
         "the sandbox has several."),
)

#: Old spellings, still accepted for one release with a warning: (command, old) -> new.
#: ``command`` is the path after ``rdsproxyctl`` ("endpoints create").
DEPRECATED: dict[tuple[str, str], str] = {
    ("token", "-f"): "--format",
    ("create", "--iam"): "--iam-auth",
    ("modify", "--iam"): "--iam-auth",
    ("iam policy", "--db-user"): "--user",
    ("endpoints create", "--role"): "--target-role",
    ("logs summary", "--all"): "--include-info",
    ("logs classify", "--all"): "--include-info",
}


def option(flag: str, help: str | None = None, **kwargs: Any) -> Any:
    """``typer.Option`` for ``flag`` of :data:`VOCABULARY`: its declarations and meaning.

    ``help`` adds command-specific words after the meaning (the meaning always leads).
    """
    term = VOCABULARY[flag]
    text = term.meaning + (" " + help if help else "")
    if term.kind == "duration":
        kwargs.setdefault("click_type", DURATION)
        kwargs.setdefault("metavar", "DURATION")
    if term.kind == "choice":
        kwargs.setdefault("click_type", Choice(term.choices, case_sensitive=False))
    if term.env and term.env.startswith("PG"):
        kwargs.setdefault("envvar", term.env)
    kwargs.setdefault("show_default", term.default not in (None, False, ""))
    return typer.Option(*term.decls, help=text, **kwargs)


class Choice(ParamType):
    """One of a few words, any case (typer's own choice type wants an Enum)."""

    name = "choice"

    def __init__(self, choices: tuple[str, ...], case_sensitive: bool = False) -> None:
        self.choices = choices

    def get_metavar(self, param: Any, ctx: Any) -> str:
        return "[" + "|".join(self.choices) + "]"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        text = str(value).lower()
        if text not in self.choices:
            self.fail(f"{value!r} is not one of {', '.join(self.choices)}", param, ctx)
        return text

    def shell_complete(self, ctx: Any, param: Any, incomplete: str) -> list[Any]:
        try:
            from typer._click.shell_completion import CompletionItem
        except ImportError:  # pragma: no cover - typer < 0.28
            from click.shell_completion import CompletionItem  # type: ignore[no-redef]

        return [CompletionItem(c) for c in self.choices if c.startswith(incomplete.lower())]


class Duration(ParamType):
    """A length of time in the one grammar (core/duration.py), as float seconds."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        from rdsproxyctl.core.duration import FORMS, parse_seconds

        seconds = parse_seconds(str(value))
        if seconds is None:
            self.fail(f"{value!r} is not a duration: {FORMS}", param, ctx)
        return seconds


DURATION = Duration()


def duration_text(seconds: float) -> str:
    """1200.0 -> '20m', 90.0 -> '90s', 5400.0 -> '1h30m' (for help and messages)."""
    whole = int(seconds)
    if whole != seconds or whole < 60 or whole % 60:
        return f"{seconds:g}s"
    hours, minutes = divmod(whole // 60, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")


# -- arguments --------------------------------------------------------------------------------
ProxyName = Annotated[str, typer.Argument(help="The proxy's name (DBProxyName).",
                                          show_default=False)]
OptionalProxyName = Annotated[Optional[str], typer.Argument(
    help="The proxy's name; omit it with --host.", show_default=False)]
EndpointName = Annotated[str, typer.Argument(help="The endpoint's name (DBProxyEndpointName).",
                                             show_default=False)]

# -- shared options (built on first use: a command pays only for the ones it takes) ---------
_SHARED: dict[str, Callable[[], Any]] = {
    "User": lambda: Annotated[Optional[str], option("--user")],
    "Database": lambda: Annotated[Optional[str], option("--database")],
    "Host": lambda: Annotated[Optional[str], option("--host")],
    "Port": lambda: Annotated[Optional[int], option("--port")],
    "Endpoint": lambda: Annotated[Optional[str], option("--endpoint")],
    "CaBundle": lambda: Annotated[Optional[str], option("--ca-bundle")],
    "Secret": lambda: Annotated[Optional[str], option("--secret")],
    "Secrets": lambda: (
        Annotated[Optional[list[str]], option("--secret", "Repeatable.",
        rich_help_panel=AUTH_PANEL)]),
    "DryRun": lambda: Annotated[bool, option("--dry-run", rich_help_panel=PLAN_PANEL)],
    "Wait": lambda: Annotated[bool, option("--wait", rich_help_panel=PLAN_PANEL)],
    "Timeout": lambda: Annotated[float, option("--timeout", rich_help_panel=PLAN_PANEL)],
    "Yes": lambda: Annotated[bool, option("--yes")],
    "IfExists": lambda: Annotated[bool, option("--if-exists")],
    "IfNotExists": lambda: Annotated[bool, option("--if-not-exists")],
    "Subnets": lambda: (
        Annotated[Optional[list[str]], option("--subnets", rich_help_panel=NET_PANEL)]),
    "SecurityGroups": lambda: (
        Annotated[Optional[list[str]], option("--security-groups", rich_help_panel=NET_PANEL)]),
    "Tags": lambda: Annotated[Optional[list[str]], option("--tag")],
    "DbInstance": lambda: Annotated[Optional[str], option("--db-instance")],
    "DbCluster": lambda: Annotated[Optional[str], option("--db-cluster")],
    "Role": lambda: Annotated[Optional[str], option("--role", rich_help_panel=AUTH_PANEL)],
    "IamAuth": lambda: Annotated[Optional[str], option("--iam-auth", rich_help_panel=AUTH_PANEL)],
    "ClientPasswordAuthType": lambda: (
        Annotated[Optional[str], option("--client-password-auth-type",
        rich_help_panel=AUTH_PANEL)]),
    "EndToEndIam": lambda: (
        Annotated[Optional[bool], option("--end-to-end-iam", rich_help_panel=AUTH_PANEL)]),
    "RequireTls": lambda: Annotated[Optional[bool], option("--require-tls")],
    "IdleClientTimeout": lambda: Annotated[Optional[float], option("--idle-client-timeout")],
    "DebugLogging": lambda: Annotated[Optional[bool], option("--debug-logging")],
    "MaxConnectionsPercent": lambda: (
        Annotated[Optional[int], option("--max-connections-percent", rich_help_panel=POOL_PANEL)]),
    "MaxIdleConnectionsPercent": lambda: (
        Annotated[Optional[int], option("--max-idle-connections-percent",
        rich_help_panel=POOL_PANEL)]),
    "BorrowTimeout": lambda: (
        Annotated[Optional[float], option("--borrow-timeout", rich_help_panel=POOL_PANEL)]),
    "InitQuery": lambda: (
        Annotated[Optional[str], option("--init-query", rich_help_panel=POOL_PANEL)]),
    "SessionPinningFilter": lambda: (
        Annotated[Optional[list[str]], option("--session-pinning-filter",
        rich_help_panel=POOL_PANEL)]),
    "Since": lambda: Annotated[str, option("--since")],
    "Until": lambda: Annotated[Optional[str], option("--until")],
    "FailOn": lambda: Annotated[str, option("--fail-on")],
    "Signatures": lambda: Annotated[Optional[list[str]], option("--signature")],
    "Errors": lambda: Annotated[bool, option("--errors")],
    "Grep": lambda: Annotated[Optional[str], option("--grep")],
    "FilterPattern": lambda: Annotated[Optional[str], option("--filter-pattern")],
    "IncludeInfo": lambda: Annotated[bool, option("--include-info")],
    "Top": lambda: Annotated[int, option("--top", min=1)],
}


def __getattr__(name: str) -> Any:
    """``options.User`` and the other shared types of :data:`_SHARED`, built once."""
    factory = _SHARED.get(name)
    if factory is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = factory()
    return value

DEFAULT_TIMEOUT = VOCABULARY["--timeout"].default


def fail_threshold(value: str) -> str | None:
    """--fail-on's value as a severity word: warn, fail (also for error), or None."""
    value = value.lower()
    return None if value == "none" else ("warn" if value == "warn" else "fail")
