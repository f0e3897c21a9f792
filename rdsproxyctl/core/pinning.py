"""The pinning report: pin events from the log classifier, grouped by cause and digest,
each group with its cause in plain words and the fix (or "inherent: keep the session
short").

It reads :class:`~rdsproxyctl.core.logs.classify.LogEvent`s, whatever their source
(CloudWatch for ``pinning NAME``, a file for ``logs classify --pinning``), and counts:

* pin events (the ``pinned*`` signatures) per group: (cause, digest);
* pinned sessions: distinct client connections among them (a line without a
  ``clientConnection`` counts as one session);
* client sessions: ``client-connected`` lines, for the share of sessions pinned.

What pins and what to do about it: AWS's "Avoiding pinning" page
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-pinning.html) and each
driver's own documentation, cited per fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

PINNING_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-pinning.html"
MODIFY_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-modifying-proxy.html"
#: A share of pinned sessions above this is a FAIL (exit 1); any pinning is a WARN.
FAIL_SHARE = 0.2


@dataclass(frozen=True)
class Fix:
    client: str  # the driver, ORM or place the setting goes
    setting: str
    source: str  # the page that documents it


@dataclass(frozen=True)
class Cause:
    key: str
    title: str
    words: str  # the cause in plain words
    inherent: bool
    fixes: tuple[Fix, ...] = ()


_PREPARED_FIXES = (
    Fix("psycopg 3", "prepare_threshold=None (connect(..., prepare_threshold=None))",
        "https://www.psycopg.org/psycopg3/docs/advanced/prepare.html"),
    Fix("asyncpg", "statement_cache_size=0 (asyncpg.connect / create_pool)",
        "https://magicstack.github.io/asyncpg/current/faq.html"),
    Fix("PostgreSQL JDBC", "prepareThreshold=0 (connection property or URL parameter)",
        "https://jdbc.postgresql.org/documentation/use/"),
    Fix("node-postgres", "unnamed queries: leave out `name` in the query config",
        "https://node-postgres.com/features/queries"),
    Fix("pgx (Go)", "default_query_exec_mode=exec (or simple_protocol) in the connection string",
        "https://pkg.go.dev/github.com/jackc/pgx/v5#QueryExecMode"),
    Fix("Npgsql", "Max Auto Prepare=0 (the default) and no explicit Prepare()",
        "https://www.npgsql.org/doc/prepare.html"),
    Fix("Prisma", "pgbouncer=true in the connection URL",
        "https://www.prisma.io/docs/orm/overview/databases/pgbouncer"),
    Fix("Rails (ActiveRecord)", "prepared_statements: false in database.yml",
        "https://api.rubyonrails.org/classes/ActiveRecord/ConnectionAdapters/PostgreSQLAdapter.html"),
    Fix("MySQL Connector/J", "useServerPrepStmts=false (the default)",
        "https://dev.mysql.com/doc/connector-j/en/connector-j-connp-props-prepared-statements.html"),
    Fix("node mysql2", "connection.query() instead of execute()",
        "https://sidorares.github.io/node-mysql2/docs/documentation/prepared-statements"),
)
_INHERENT = "this is inherent: keep the session short (connect, do the work, disconnect)"

CAUSES: dict[str, Cause] = {c.key: c for c in (
    Cause("prepared-statement", "Named prepared statements",
          "The driver prepared a named statement (a Parse message with a name). A prepared "
          "statement lives in one database session, so the proxy keeps the client on that "
          "connection until it disconnects.", False, _PREPARED_FIXES),
    Cause("sql-prepare", "SQL PREPARE / EXECUTE",
          "The application ran SQL-level PREPARE, EXECUTE or DEALLOCATE: the prepared "
          "statement lives in one database session.", False, (
              Fix("the application", "pass parameters with the driver's bind parameters "
                  "instead of SQL PREPARE/EXECUTE (the extended query protocol's statements "
                  "are multiplexed)", "https://aws.amazon.com/blogs/database/amazon-rds-proxy-"
                  "multiplexing-support-for-postgresql-extended-query-protocol/"),
          )),
    Cause("session-settings", "SET of a session setting",
          "A SET changed a session setting the proxy does not track (search_path, timezone, "
          "application_name ...), so this connection now differs from the others in the pool.",
          False, (
              Fix("the proxy", "InitQuery: run the SET on every new database connection "
                  "instead (command below)", PINNING_DOC),
              Fix("the application", "SET LOCAL inside a transaction (reset at its end), or "
                  "the setting in the DB parameter group / ALTER ROLE ... SET", PINNING_DOC),
              Fix("MySQL proxies", "SessionPinningFilters EXCLUDE_VARIABLE_SETS "
                  "(rdsproxyctl pool NAME --session-pinning-filter EXCLUDE_VARIABLE_SETS)",
                  PINNING_DOC),
          )),
    Cause("statement-too-large", "Statement over 16384 bytes",
          "A statement's text exceeded the 16384 bytes the proxy tracks, so it pins rather "
          "than risk losing session state.", False, (
              Fix("the application", "send large values as bind parameters, or split the "
                  "statement; keep query text under 16 KB", PINNING_DOC),
          )),
    Cause("temporary-table", "Temporary table", "The session created a temporary table, "
          "which exists in one database session only.", True),
    Cause("lock", "Lock held by the session", "The session took a lock that belongs to its "
          "database session (an advisory lock, LOCK TABLES, GET_LOCK).", True),
    Cause("cursor", "Cursor", "The session declared a cursor, which lives in one database "
          "session.", True),
    Cause("listen", "LISTEN", "The session listens for notifications on its database "
          "connection.", True),
    Cause("sequence", "Sequence functions", "nextval/setval/currval made the session "
          "depend on per-session sequence state.", True),
    Cause("discard-or-load", "DISCARD / LOAD", "The session discarded its state or loaded a "
          "library (LOAD), which applies to one database session.", True),
    Cause("other", "Other session state", "The client changed session state the proxy "
          "cannot share (see the reason).", True),
)}

#: Signature -> cause; the generic ``pinned`` row is sorted by its reason text.
_BY_SIGNATURE = {"pinned-parse-message": "prepared-statement",
                 "pinned-session-settings": "session-settings",
                 "pinned-statement-too-large": "statement-too-large",
                 "pinned-temporary-table": "temporary-table",
                 "pinned-lock": "lock"}
_BY_REASON = (
    (re.compile(r"\b(?:PREPARE|EXECUTE|DEALLOCATE)\b"), "sql-prepare"),  # SQL keywords, upper
    (re.compile(r"prepar|parse|extended", re.I), "prepared-statement"),
    (re.compile(r"\bset\b|setting|session\s+(?:variable|parameter|configuration)", re.I),
     "session-settings"),
    (re.compile(r"\d+\s*bytes?|too\s+(?:large|long)", re.I), "statement-too-large"),
    (re.compile(r"temp(?:orary)?\s+(?:table|sequence|view)", re.I), "temporary-table"),
    (re.compile(r"advisory|\block|get_lock", re.I), "lock"),
    (re.compile(r"cursor", re.I), "cursor"),
    (re.compile(r"listen|notif", re.I), "listen"),
    (re.compile(r"nextval|setval|currval|sequence", re.I), "sequence"),
    (re.compile(r"discard|\bload\b", re.I), "discard-or-load"),
)

def _pin_signatures() -> frozenset[str]:
    """The catalog's pinning rows: ``pinned`` and its children (whatever they become)."""
    from rdsproxyctl.core.logs.signatures import SIGNATURES

    return frozenset(s.id for s in SIGNATURES if s.id == "pinned" or s.parent == "pinned")


PIN_SIGNATURES = _pin_signatures()
#: What ``pinning NAME`` fetches (the pin lines, and client connections for the share).
FETCH_SIGNATURES = (*sorted(PIN_SIGNATURES), "client-connected")
_SET = re.compile(r"\bset\s+(?:session\s+)?([A-Za-z_][\w.]*)\s*(?:=|\bto\b)\s*([^;]*)", re.I)


#: ``Digest: "..."`` at the end of a reason (the proxy's lines give one for most causes).
_DIGEST = re.compile(r"\s*\bdigest\b\s*[:=]\s*(.*)$", re.I | re.S)


def split_digest(reason: str | None) -> tuple[str | None, str | None]:
    """``(reason without its digest, digest)``."""
    if not reason:
        return reason, None
    found = _DIGEST.search(reason)
    if found is None:
        return reason, None
    return reason[:found.start()].strip(), _clean_digest(found.group(1))


def cause_of(signature: str, reason: str | None) -> str:
    if signature in _BY_SIGNATURE:
        return _BY_SIGNATURE[signature]
    words, _ = split_digest(reason)  # a digest's SQL says nothing about the cause
    for pattern, key in _BY_REASON:
        if words and pattern.search(words):
            return key
    return "other"


def init_query(digest: str | None) -> str | None:
    """The InitQuery to move the SETs of a digest into (placeholders -> ``<value>``)."""
    if not digest:
        return None
    sets = [(name, re.sub(r"\$\d+|\?", "<value>", value.strip()))
            for name, value in _SET.findall(digest)]
    if not sets:
        return None
    return "; ".join(f"SET {name} TO {value or '<value>'}" for name, value in sets)


def shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@dataclass(frozen=True)
class PinGroup:
    cause: str  # the cause key (prepared-statement, session-settings ...)
    title: str
    signature: str
    reason: str | None
    digest: str | None
    count: int
    sessions: int
    first_seen: str | None
    last_seen: str | None
    explanation: str
    inherent: bool
    fix: str  # one line: what to do
    fixes: list[Fix]
    init_query: str | None
    command: str | None  # the command that would apply the fix (never run by us)


@dataclass(frozen=True)
class PinningReport:
    """What ``pinning NAME`` (and ``logs classify --pinning``) prints."""

    proxy: str | None
    file: str | None
    since: str | None
    until: str | None
    events: int  # lines read (after the server-side filter)
    pin_events: int
    client_sessions: int
    pinned_sessions: int
    groups: list[PinGroup]
    debug_logging: bool | None
    notes: list[str]
    pinned_connections_peak: float | None = None  # DatabaseConnectionsCurrentlySessionPinned
    database_connections_peak: float | None = None

    json_properties: ClassVar[tuple[str, ...]] = ("pinned_share", "status")

    @property
    def pinned_share(self) -> float | None:
        if not self.client_sessions:
            return None
        return round(min(1.0, self.pinned_sessions / self.client_sessions), 3)

    @property
    def status(self) -> str:
        if not self.pin_events:
            return "PASS"
        share = self.pinned_share  # unknown without client-connected lines: not a FAIL
        return "FAIL" if share is not None and share > FAIL_SHARE else "WARN"


@dataclass
class _Acc:
    signature: str
    reason: str | None
    count: int = 0
    sessions: set[str] = field(default_factory=set)
    first: str | None = None
    last: str | None = None


@dataclass
class PinningAnalyzer:
    """Feed classified events (:meth:`add_all`), then take :meth:`result`."""

    proxy: str | None = None
    _groups: dict[tuple[str, str | None], _Acc] = field(default_factory=dict)
    _pinned: set[str] = field(default_factory=set)
    _events: int = 0
    _pin_events: int = 0
    _clients: int = 0

    def add(self, event: Any) -> None:
        self._events += 1
        signature = event.signature
        if signature == "client-connected":
            self._clients += 1
            return
        if signature not in PIN_SIGNATURES:
            return
        self._pin_events += 1
        fields = event.fields or {}
        reason, digest = fields.get("reason"), fields.get("digest")
        if digest is None:
            reason, digest = split_digest(reason)
        key = (cause_of(signature, reason), _clean_digest(digest))
        acc = self._groups.get(key)
        if acc is None:
            acc = self._groups[key] = _Acc(signature, _short(reason))
        acc.count += 1
        session = f"{event.endpoint}/{event.client_connection}" if event.client_connection \
            else f"line-{self._events}"
        acc.sessions.add(session)
        self._pinned.add(session)
        ts = event.timestamp
        if ts is not None:
            acc.first = ts if acc.first is None or ts < acc.first else acc.first
            acc.last = ts if acc.last is None or ts > acc.last else acc.last

    def add_all(self, events: Iterable[Any]) -> PinningAnalyzer:
        for e in events:
            self.add(e)
        return self

    def result(self, *, file: str | None = None, since: str | None = None,
               until: str | None = None, debug_logging: bool | None = None,
               notes: Iterable[str] = (), pinned_peak: float | None = None,
               connections_peak: float | None = None) -> PinningReport:
        groups = [self._group(key, acc) for key, acc in self._groups.items()]
        groups.sort(key=lambda g: (-g.count, g.cause, g.digest or ""))
        all_notes = list(notes)
        if not self._pin_events:
            all_notes.append("no pin lines in this window")
        return PinningReport(
            proxy=self.proxy, file=file, since=since, until=until, events=self._events,
            pin_events=self._pin_events, client_sessions=self._clients,
            pinned_sessions=len(self._pinned), groups=groups, debug_logging=debug_logging,
            notes=all_notes, pinned_connections_peak=pinned_peak,
            database_connections_peak=connections_peak)

    def _group(self, key: tuple[str, str | None], acc: _Acc) -> PinGroup:
        cause = CAUSES[key[0]]
        digest = key[1]
        query = init_query(digest) if cause.key == "session-settings" else None
        name = self.proxy or "NAME"
        command = None
        if cause.key == "session-settings":
            command = (f"rdsproxyctl pool {name} --init-query "
                       + shell_quote(query or "SET <setting> TO <value>"))
            fix = "move the SET into the proxy's InitQuery (command below; put the real value " \
                  "in place of <value>), or use SET LOCAL inside transactions"
        elif cause.inherent:
            fix = _INHERENT
        elif cause.key == "prepared-statement":
            fix = ("turn named prepared statements off in the driver: psycopg 3 "
                   "prepare_threshold=None, asyncpg statement_cache_size=0, JDBC "
                   "prepareThreshold=0, node-postgres unnamed queries (all: see the sources)")
        else:
            fix = "; ".join(f"{f.client}: {f.setting}" for f in cause.fixes)
        return PinGroup(
            cause=cause.key, title=cause.title, signature=acc.signature, reason=acc.reason,
            digest=digest, count=acc.count, sessions=len(acc.sessions), first_seen=acc.first,
            last_seen=acc.last, explanation=cause.words, inherent=cause.inherent, fix=fix,
            fixes=list(cause.fixes), init_query=query, command=command)


def _short(text: str | None, width: int = 200) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text if len(text) <= width else text[:width - 3] + "..."


def _clean_digest(digest: str | None) -> str | None:
    if digest is None:
        return None
    return digest.strip().rstrip(".").strip().strip('"').strip() or None


DEBUG_OFF_NOTE = (
    "DebugLogging is off: RDS Proxy writes pin lines only while it is on, so this window "
    "cannot show what pinned. Turn it on for a while with `rdsproxyctl modify {name} "
    "--debug-logging`; it stays on until you turn it off (`rdsproxyctl modify {name} "
    "--no-debug-logging`), and meanwhile SQL text goes to CloudWatch Logs (privacy, cost). "
    + MODIFY_DOC)


def analyse_proxy(aws: Any, name: str, *, since: str = "1h", until: str | None = None,
                  with_metrics: bool = True) -> PinningReport:
    """``pinning NAME``: the proxy's pin lines over the window, and its pinned metric."""
    from rdsproxyctl.core.logs import fetch
    from rdsproxyctl.core.logs.query import Selection, Window
    from rdsproxyctl.core.proxies import get_proxy
    from rdsproxyctl.core.validate import check_name
    from rdsproxyctl.errors import AccessDenied, NotFound

    check_name(name)
    window = Window.parse(since, until)
    proxy = get_proxy(aws, name)  # NotFound: exit 3
    notes: list[str] = []
    if not proxy.debug_logging:
        notes.append(DEBUG_OFF_NOTE.format(name=name))
    selection = Selection.build(signatures=FETCH_SIGNATURES)
    analyzer = PinningAnalyzer(proxy=name)
    try:
        for page in fetch.pages(aws, name, window, selection,
                                filter_pattern=selection.filter_pattern(), known_proxy=True):
            analyzer.add_all(page)
    except NotFound:
        notes.append(f"no log group {fetch.log_group(name)}: the proxy has not logged yet")
    pinned_peak = connections_peak = None
    if with_metrics:
        from rdsproxyctl.core import metrics

        try:
            report = metrics.get_metrics(aws, name, since=since, until=until, metrics=(
                "DatabaseConnectionsCurrentlySessionPinned", "DatabaseConnections"))
        except AccessDenied as exc:
            notes.append(f"metrics not read: {exc.message}")
        else:
            pinned, conns = (report.get("DatabaseConnectionsCurrentlySessionPinned"),
                             report.get("DatabaseConnections"))
            pinned_peak = pinned.max if pinned else None
            connections_peak = conns.max if conns else None
            if pinned_peak and not analyzer._pin_events:
                notes.append(f"CloudWatch shows up to {pinned_peak:g} pinned database "
                             "connection(s) in this window although no pin line was read")
    return analyzer.result(since=fetch.iso_millis(window.start),
                           until=fetch.iso_millis(window.end) if window.end else None,
                           debug_logging=proxy.debug_logging, notes=notes,
                           pinned_peak=pinned_peak, connections_peak=connections_peak)
