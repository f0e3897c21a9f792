"""What pins a MySQL client session to its database connection, and what the proxy tracks.

From "Avoiding pinning an RDS Proxy"
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-pinning.html), MySQL and
MariaDB: explicit table locks (LOCK TABLE(S), FLUSH TABLES WITH READ LOCK), named locks
(GET_LOCK), setting a user variable or a system variable the proxy doesn't track, temporary
tables, prepared statements (SQL text or the binary protocol), and any statement over
16384 bytes.  Tracked, so they don't pin (the proxy re-applies them on each database
connection the session borrows): the statements USE, DROP DATABASE / DROP SCHEMA and the
variables AUTOCOMMIT, AUTO_INCREMENT_INCREMENT, CHARACTER SET / CHAR SET / NAMES,
CHARACTER_SET_CLIENT / _CONNECTION / _RESULTS, COLLATION_CONNECTION,
INNODB_LOCK_WAIT_TIMEOUT, SQL_MODE, TIME_ZONE, TRANSACTION_ISOLATION / TX_ISOLATION,
TRANSACTION_READ_ONLY / TX_READ_ONLY.  The target group's SessionPinningFilters value
``EXCLUDE_VARIABLE_SETS`` opts SET statements out of pinning.

This is the emulator's own reading of that page, independent of the log catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_TRACKED_STATEMENT = 16384

TRACKED_VARIABLES = frozenset({
    "autocommit", "auto_increment_increment", "character_set_client",
    "character_set_connection", "character_set_results", "collation_connection",
    "innodb_lock_wait_timeout", "sql_mode", "time_zone", "transaction_isolation",
    "tx_isolation", "transaction_read_only", "tx_read_only",
})

_COMMENT = re.compile(r"\A(?:\s+|/\*(?!!).*?\*/|--[ \t][^\n]*(?:\n|\Z)|#[^\n]*(?:\n|\Z))*", re.S)
_SET = re.compile(r"SET\s", re.I)
_ASSIGN_USER_VAR = re.compile(r"@[\w$.]+\s*:=|@`[^`]*`\s*:=")
_LOCKS = re.compile(r"\A(?:LOCK\s+TABLES?\b|FLUSH\s+TABLES?\b.*\bWITH\s+READ\s+LOCK\b)", re.I | re.S)
_GET_LOCK = re.compile(r"\bGET_LOCK\s*\(", re.I)
_TEMP_TABLE = re.compile(r"\ACREATE\s+TEMPORARY\s+TABLE\b", re.I)
_PREPARE = re.compile(r"\APREPARE\s", re.I)
_USE = re.compile(r"\AUSE\s+`?([^`;\s]+)`?\s*;?\s*\Z", re.I)


@dataclass(frozen=True)
class Verdict:
    """What a statement does to the session: ``pin`` (the reason key, for the log line),
    ``tracked`` (SET assignments the proxy re-applies: name -> assignment text),
    ``database`` (USE: the new default database)."""

    pin: str | None = None
    tracked: dict[str, str] = field(default_factory=dict)
    database: str | None = None


def strip_comments(sql: str) -> str:
    return sql[_COMMENT.match(sql).end():]  # type: ignore[union-attr]


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside quotes and parentheses."""
    parts, depth, quote, start = [], 0, "", 0
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _assignment(part: str) -> tuple[str, str] | None:
    """(kind, name) of one SET assignment: kind ``user``, ``tracked``, ``untracked``,
    ``global`` (not session state) or ``transaction``."""
    text = part.strip()
    low = text.lower()
    if low.startswith("@") and not low.startswith("@@"):
        return ("user", text.split("=", 1)[0].rstrip(": ").strip())
    scope = "session"
    for prefix, scoped in (("global ", "global"), ("persist ", "global"),
                           ("persist_only ", "global"), ("session ", "session"),
                           ("local ", "session"), ("@@global.", "global"),
                           ("@@session.", "session"), ("@@local.", "session"), ("@@", "session")):
        if low.startswith(prefix):
            scope, text, low = scoped, text[len(prefix):].lstrip(), low[len(prefix):].lstrip()
            break
    if scope == "global":
        return ("global", low)
    if re.match(r"(?:names|character\s+set|char\s+set|charset)\b", low):
        return ("tracked", re.match(r"\w+(?:\s+set)?", low).group(0).replace(" ", "_"))  # type: ignore[union-attr]
    if low.startswith("transaction "):
        return ("transaction", "transaction")
    name = re.split(r"\s*:?=", low, maxsplit=1)[0].strip().strip("`")
    return ("tracked" if name in TRACKED_VARIABLES else "untracked", name)


def judge(sql: str, *, exclude_variable_sets: bool = False) -> Verdict:
    """The verdict for one COM_QUERY's text (several statements: the first pin wins)."""
    if len(sql.encode("utf-8", "surrogatepass")) > MAX_TRACKED_STATEMENT:
        return Verdict(pin="statement_too_large")
    tracked: dict[str, str] = {}
    database = None
    for statement in split_top_level(sql, ";"):
        text = strip_comments(statement).strip()
        if not text:
            continue
        if _LOCKS.match(text):
            return Verdict(pin="table_lock")
        if _GET_LOCK.search(text):
            return Verdict(pin="named_lock")
        if _TEMP_TABLE.match(text):
            return Verdict(pin="temporary_table")
        if _PREPARE.match(text):
            return Verdict(pin="prepared_statement")
        use = _USE.match(text)
        if use:
            database = use.group(1)
            continue
        if _SET.match(text):
            for part in split_top_level(text[4:]):
                kind, name = _assignment(part) or ("untracked", "?")
                if kind == "tracked":
                    tracked[name] = part.strip()
                elif kind in ("user", "untracked") and not exclude_variable_sets:
                    return Verdict(pin="user_variable" if kind == "user" else "session_variable")
            continue
        if _ASSIGN_USER_VAR.search(text) and not exclude_variable_sets:
            return Verdict(pin="user_variable")
    return Verdict(tracked=tracked, database=database)


def digest(sql: str, limit: int = 200) -> str:
    """The statement with literals replaced by ``?`` (what the pin log line shows)."""
    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "?", strip_comments(sql).strip())
    text = re.sub(r"\b\d+(?:\.\d+)?\b", "?", text)
    text = re.sub(r"\s+", " ", text)
    return text[:limit]
