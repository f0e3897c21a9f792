"""The query suite every real client runs through the sandbox's RDS Proxy emulator.

Each client (psql, psycopg, asyncpg, pg8000, node-postgres, SQLAlchemy) runs the same
steps in one session, written the way that client's users write them, and reports what
it saw as a dict (node: as JSON on stdout).  :func:`check` compares that with
:data:`EXPECTED`, so one description of the suite judges every client.

The steps, in order, in ONE client session:

``user``            ``SELECT current_user`` (IAM token -> the secret's user)
``simple``          ``SELECT 1 + 1`` with no parameters (simple query protocol where the
                    client has one)
``params``          ``SELECT $1::int + $2::int`` with 40, 2 (extended protocol: Parse/Bind)
``in_transaction``  ``CREATE TABLE`` (autocommit), then BEGIN, INSERT 3 rows, count them
``after_rollback``  ROLLBACK, count again: nothing left
``rows``            ``SELECT g, repeat('x', g % 50) FROM generate_series(1, 2000) g``: 2000
                    rows (about 80 KB, more than one read of the relay); ``rows_sum`` is
                    the sum of g
``error``           ``SELECT 1/0`` outside a transaction: SQLSTATE 22012 ...
``recovered``       ... then ``SELECT 'recovered'`` in the same session
``txn_error``       BEGIN, ``SELECT 1/0``: 22012 inside a transaction ...
``txn_recovered``   ... ROLLBACK, then ``SELECT 'recovered'``
``prepared``        ``SELECT $1::int * 2`` for 1, 2, 3 through the client's named /
                    prepared statements (psql: ``PREPARE`` / ``EXECUTE``)

then the table is dropped.  While the session is open and idle between transactions,
:func:`assert_multiplexed` checks that it holds no database connection (the proxy
multiplexes it), or :func:`assert_pinned` that the client did something that pins it (as
psycopg does: after a ROLLBACK or a DROP it sends ``DEALLOCATE ALL`` when it has prepared
statements).  After the client has gone, :func:`assert_nothing_left`
checks PostgreSQL itself: no backend of the app user is left inside a transaction.
"""

from __future__ import annotations

import time
from typing import Any

ROWS = 2000

EXPECTED: dict[str, Any] = {
    "user": "app",
    "simple": 2,
    "params": 42,
    "in_transaction": 3,
    "after_rollback": 0,
    "rows": ROWS,
    "rows_sum": ROWS * (ROWS + 1) // 2,
    "error": "22012",
    "recovered": "recovered",
    "txn_error": "22012",
    "txn_recovered": "recovered",
    "prepared": [2, 4, 6],
}

ROWS_SQL = f"SELECT g, repeat('x', g % 50) AS pad FROM generate_series(1, {ROWS}) g"


def table_name(client: str) -> str:
    """The suite's scratch table for one client (clients run one at a time, but a
    failed run must not break the next client's)."""
    return "suite_" + "".join(c if c.isalnum() else "_" for c in client.lower())


def check(outcome: dict[str, Any], *, skip: tuple[str, ...] = ()) -> None:
    """Every step's result as :data:`EXPECTED` says (``skip``: steps the client cannot
    express, each with its reason where the client's test calls this)."""
    expected = {k: v for k, v in EXPECTED.items() if k not in skip}
    got = {k: outcome.get(k) for k in expected}
    assert got == expected


def assert_multiplexed(sandbox: Any, proxy_name: str) -> None:
    """Called while ONE client session is open, idle between transactions and not pinned:
    with transaction multiplexing it holds no database connection, so the proxy's pool
    has none borrowed (session pooling would show one)."""
    pool = sandbox.pool(proxy_name)
    assert pool and pool["busy"] == 0, pool


def assert_pinned(sandbox: Any, proxy_name: str, digest: str) -> None:
    """Called while ONE client session is open and idle: it is pinned (holds its database
    connection between transactions), and the proxy logged the pin with ``digest``."""
    pool = sandbox.pool(proxy_name)
    assert pool and pool["busy"] == 1, pool
    lines = sandbox.log_lines(proxy_name, contains=f'Digest: "{digest}"')
    assert lines and "was pinned" in lines[-1], lines


def assert_nothing_left(sandbox: Any, timeout: float = 5.0) -> None:
    """After a client left: no backend of the app user is idle in a transaction (the
    proxy must never hand transaction state on), and none holds a lock on a suite table."""
    query = ("SELECT count(*) FILTER (WHERE state LIKE 'idle in transaction%%'),"
             " (SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
             "   WHERE c.relname LIKE 'suite_%%')"
             " FROM pg_stat_activity WHERE usename = %s")
    deadline = time.monotonic() + timeout
    while True:
        with sandbox.superuser() as conn:
            row = conn.execute(query, (sandbox.app_user,)).fetchone()
        if row == (0, 0) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert row == (0, 0), f"left behind: {row[0]} idle-in-transaction backends, {row[1]} locks"
