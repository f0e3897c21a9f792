"""PostgreSQL adapter: which SQL pins a session to its database connection, and its digest.

The conditions are AWS's "Conditions that cause pinning for RDS for PostgreSQL"
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-pinning.html) as they
stand since the extended query protocol is multiplexed (AWS Database Blog, "Amazon RDS
Proxy multiplexing support for PostgreSQL Extended Query Protocol",
https://aws.amazon.com/blogs/database/amazon-rds-proxy-multiplexing-support-for-postgresql-extended-query-protocol/):

* ``SET`` / ``RESET`` (not ``SET LOCAL`` / ``SET TRANSACTION``, which end with the
  transaction) and ``set_config(..., false)``: session settings the proxy doesn't track;
* ``PREPARE``, ``EXECUTE``, ``DEALLOCATE`` (SQL-level prepared statements; protocol-level
  Parse/Bind no longer pin: the relay carries named statements across connections);
* temporary tables, sequences and views; cursors declared ``WITH HOLD`` (other cursors
  end with their transaction); ``DISCARD``; ``LISTEN``; ``LOAD``;
* sequence functions (``nextval``, ``setval``, ``currval``, ``lastval``) and session-level
  advisory locks (``pg_advisory_lock`` and friends; the ``_xact_`` variants don't pin);
* a statement over 16384 bytes (the limits section): its text is not inspected.

Calls of functions and procedures that change state inside are not detected, as AWS
says of RDS Proxy.  :func:`pin_reason` returns a key of ``messages.PIN_REASONS``.
"""

from __future__ import annotations

import re

#: Text longer than this is not inspected: the session pins ("too_large").
MAX_INSPECTED = 16384

_TRIGGERS = ("set", "prepare", "execute", "deallocate", "temp", "hold", "discard", "listen",
             "load", "val", "advisory")

_TOKEN = re.compile(
    r"(?P<comment>--[^\n]*|/\*.*?\*/)"
    r"|(?P<dollar>\$([A-Za-z_]\w*|)\$.*?\$\3\$)"
    r"|(?P<string>(?:[EeBbXxNnUu]&?)?'(?:[^']|'')*')"
    r"|(?P<ident>\"(?:[^\"]|\"\")*\")"
    r"|(?P<param>\$\d+)"
    r"|(?P<number>(?<![\w$])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)",
    re.S)

_STATEMENT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("settings", re.compile(r"(?:set|reset)\b(?!\s+(?:local|transaction)\b)")),
    ("prepare", re.compile(r"(?:prepare\b(?!\s+transaction\b)|execute\b|deallocate\b)")),
    ("temporary", re.compile(
        r"create\s+(?:or\s+replace\s+)?(?:(?:global|local)\s+)?(?:temp|temporary)\s+"
        r"(?:(?:unlogged|recursive)\s+)?(?:table|sequence|view)\b")),
    ("cursor", re.compile(r"declare\b.*\bwith\s+hold\b", re.S)),
    ("discard", re.compile(r"discard\b")),
    ("listen", re.compile(r"listen\b")),
    ("load", re.compile(r"load\b")),
)
_ANYWHERE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("settings", re.compile(r"\bset_config\s*\([^;]*?,\s*false\s*\)")),
    ("sequence", re.compile(r"\b(?:nextval|setval|currval|lastval)\s*\(")),
    ("advisory_lock", re.compile(r"\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(")),
)


def normalize(sql: str) -> str:
    """The statement's digest: comments gone, literals and parameters as ``$1, $2 ...``,
    keywords and unquoted names in lower case, white space collapsed."""
    out: list[str] = []
    n = 0
    pos = 0
    for m in _TOKEN.finditer(sql):
        out.append(sql[pos:m.start()].lower())
        pos = m.end()
        if m.group("comment") is not None:
            out.append(" ")
        elif m.group("ident") is not None:
            out.append(m.group("ident"))
        else:
            n += 1
            out.append(f"${n}")
    out.append(sql[pos:].lower())
    return " ".join("".join(out).split())


def pin_reason(sql: str) -> tuple[str, str] | None:
    """``(reason key, digest)`` when ``sql`` pins the session, else None."""
    if len(sql) > MAX_INSPECTED:
        return ("too_large", "")
    low = sql.lower()
    if not any(word in low for word in _TRIGGERS):
        return None
    digest = normalize(sql)
    for statement in digest.split(";"):
        statement = statement.strip()
        if not statement:
            continue
        for key, rule in _STATEMENT_RULES:
            if rule.match(statement):
                return (key, digest)
        for key, rule in _ANYWHERE_RULES:
            if rule.search(statement):
                return (key, digest)
    return None
