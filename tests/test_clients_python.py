"""Python database clients through the sandbox's RDS Proxy emulator: psycopg 3 (also in
pipeline mode and with ``max_protocol_version=latest``), asyncpg, pg8000 and SQLAlchemy.

Every client logs in with an IAM token over TLS verified against the sandbox CA (the
client's equivalent of ``sslmode=verify-full``) and runs the query suite of
``tests/clients_suite.py``; the matrix is in docs/sandbox.md ("Real clients").
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from .clients_suite import (
    EXPECTED,
    ROWS_SQL,
    assert_multiplexed,
    assert_nothing_left,
    assert_pinned,
    check,
    table_name,
)

pytestmark = pytest.mark.slow

PROXY = "clients-python"


@pytest.fixture(scope="module")
def proxy(sandbox: Any) -> str:
    """The proxy every client here goes through (IAM REQUIRED, RequireTLS): its address."""
    return str(sandbox.make_proxy(PROXY)["Endpoint"])


def tls_context(sandbox: Any) -> ssl.SSLContext:
    """verify-full for drivers that take an SSLContext: the sandbox CA, hostname checked
    (the proxy's address is an IP SAN of the sandbox certificate)."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    return context


# -- psycopg 3 ---------------------------------------------------------------------------
def psycopg_connect(sandbox: Any, host: str, **params: Any) -> Any:
    import psycopg

    return psycopg.connect(host=host, port=5432, user=sandbox.app_user,
                           dbname=sandbox.app_database, password=sandbox.token(host, "app"),
                           sslmode="verify-full", sslrootcert=str(sandbox.ca_file),
                           connect_timeout=10, autocommit=True, **params)


def run_psycopg(conn: Any, table: str, probe: Any = None) -> dict[str, Any]:
    """The suite; ``probe()`` runs after the first three steps, before anything pins."""
    import psycopg
    from psycopg import errors

    out: dict[str, Any] = {}
    out["user"] = conn.execute("SELECT current_user").fetchone()[0]
    out["simple"] = conn.execute("SELECT 1 + 1").fetchone()[0]  # no params: simple query
    out["params"] = conn.execute("SELECT %s::int + %s::int", (40, 2)).fetchone()[0]
    if probe:
        probe()
    conn.execute(f"CREATE TABLE {table} (id int, note text)")
    with conn.transaction(force_rollback=True):
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(i, "n") for i in (1, 2, 3)])
        out["in_transaction"] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    out["after_rollback"] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    rows = conn.execute(ROWS_SQL).fetchall()
    out["rows"], out["rows_sum"] = len(rows), sum(r[0] for r in rows)
    try:
        conn.execute("SELECT 1/0")
    except errors.DivisionByZero as exc:
        out["error"] = exc.sqlstate
    out["recovered"] = conn.execute("SELECT 'recovered'").fetchone()[0]
    try:
        with conn.transaction():
            conn.execute("SELECT 1/0")
    except errors.DivisionByZero as exc:
        out["txn_error"] = exc.sqlstate
    out["txn_recovered"] = conn.execute("SELECT 'recovered'").fetchone()[0]
    # prepare=True: a named server-side statement (_pg3_N), Parse once, Bind/Execute after
    out["prepared"] = [conn.execute("SELECT %s::int * 2", (n,), prepare=True).fetchone()[0]
                       for n in (1, 2, 3)]
    conn.execute(f"DROP TABLE {table}")
    assert isinstance(conn, psycopg.Connection)
    return out


def test_psycopg(sandbox: Any, proxy: str) -> None:
    """Multiplexed until psycopg, having prepared its executemany INSERT, forgets its
    prepared statements at the ROLLBACK with ``DEALLOCATE ALL``: that pins the session,
    as on RDS Proxy (``prepare_threshold=None`` avoids it)."""
    with psycopg_connect(sandbox, proxy) as conn:
        out = run_psycopg(conn, table_name("psycopg"), lambda: assert_multiplexed(sandbox, PROXY))
        assert conn.pgconn.ssl_in_use
        assert_pinned(sandbox, PROXY, "deallocate all")
    check(out)
    assert_nothing_left(sandbox)


def test_psycopg_latest_protocol(sandbox: Any, proxy: str) -> None:
    """libpq 18 (psycopg-binary >= 3.3 bundles it) asks for protocol 3.2 with
    ``max_protocol_version=latest``; the proxy must negotiate it down to 3.0 as
    PostgreSQL 15 does (NegotiateProtocolVersion with minor 0), not refuse the client."""
    import psycopg

    if psycopg.pq.version() < 180000:
        pytest.skip(f"libpq {psycopg.pq.version()} has no max_protocol_version (needs 18)")
    with psycopg_connect(sandbox, proxy, max_protocol_version="latest") as conn:
        assert conn.pgconn.full_protocol_version == 30000
        out = run_psycopg(conn, table_name("psycopg-latest"),
                          lambda: assert_multiplexed(sandbox, PROXY))
        assert_pinned(sandbox, PROXY, "deallocate all")
    check(out)
    assert_nothing_left(sandbox)


def test_psycopg_pipeline(sandbox: Any, proxy: str) -> None:
    """Pipeline mode: many Parse/Bind/Describe/Execute before one Sync (and Flushes),
    executemany's batch, an error that aborts the rest of the batch up to its Sync."""
    from psycopg import errors

    table = table_name("psycopg-pipeline")
    with psycopg_connect(sandbox, proxy) as conn:
        conn.execute(f"CREATE TABLE {table} (id int, note text)")
        with conn.pipeline() as pipeline:
            first = conn.execute("SELECT %s::int + %s::int", (40, 2))
            many = conn.execute(ROWS_SQL)
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)",
                                [(i, "n") for i in range(1, 101)])
            pipeline.sync()
            count = conn.execute(f"SELECT count(*), sum(id) FROM {table}")
            prepared = [conn.execute("SELECT %s::int * 2", (n,), prepare=True) for n in (1, 2, 3)]
        assert first.fetchone() == (EXPECTED["params"],)
        assert len(many.fetchall()) == EXPECTED["rows"]
        assert count.fetchone() == (100, 5050)
        assert [c.fetchone()[0] for c in prepared] == EXPECTED["prepared"]
        assert_multiplexed(sandbox, PROXY)  # named statements (prepare=True) do not pin

        with pytest.raises(errors.DivisionByZero):
            with conn.pipeline():
                conn.execute(f"INSERT INTO {table} VALUES (0, 'lost')")
                conn.execute("SELECT 1/0")
                conn.execute(f"INSERT INTO {table} VALUES (-1, 'skipped')")
        # up to its Sync, a pipeline is one implicit transaction: the INSERT before the
        # error is rolled back with it
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (100,)
        assert conn.execute("SELECT 'recovered'").fetchone() == ("recovered",)
        conn.execute(f"DROP TABLE {table}")
    assert_nothing_left(sandbox)


# -- asyncpg ---------------------------------------------------------------------------
async def run_asyncpg(sandbox: Any, host: str, table: str) -> dict[str, Any]:
    import asyncpg

    class Rollback(Exception):
        pass

    out: dict[str, Any] = {}
    conn = await asyncpg.connect(host=host, port=5432, user=sandbox.app_user,
                                 database=sandbox.app_database,
                                 password=sandbox.token(host, "app"),
                                 ssl=tls_context(sandbox), timeout=10)
    try:
        out["user"] = await conn.fetchval("SELECT current_user")
        assert await conn.execute("SELECT 1 + 1") == "SELECT 1"  # no args: simple query
        out["simple"] = await conn.fetchval("SELECT 1 + 1")
        out["params"] = await conn.fetchval("SELECT $1::int + $2::int", 40, 2)
        await conn.execute(f"CREATE TABLE {table} (id int, note text)")
        try:
            async with conn.transaction():
                await conn.executemany(f"INSERT INTO {table} VALUES ($1, $2)",
                                       [(i, "n") for i in (1, 2, 3)])
                out["in_transaction"] = await conn.fetchval(f"SELECT count(*) FROM {table}")
                raise Rollback
        except Rollback:
            pass
        out["after_rollback"] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        rows = await conn.fetch(ROWS_SQL)
        out["rows"], out["rows_sum"] = len(rows), sum(r["g"] for r in rows)
        try:
            await conn.fetchval("SELECT 1/0")
        except asyncpg.DivisionByZeroError as exc:
            out["error"] = exc.sqlstate
        out["recovered"] = await conn.fetchval("SELECT 'recovered'")
        try:
            async with conn.transaction():
                await conn.fetchval("SELECT 1/0")
        except asyncpg.DivisionByZeroError as exc:
            out["txn_error"] = exc.sqlstate
        out["txn_recovered"] = await conn.fetchval("SELECT 'recovered'")
        statement = await conn.prepare("SELECT $1::int * 2")  # named: __asyncpg_stmt_N__
        out["prepared"] = [await statement.fetchval(n) for n in (1, 2, 3)]
        await conn.execute(f"DROP TABLE {table}")
        await asyncio.to_thread(assert_multiplexed, sandbox, PROXY)
    finally:
        await conn.close()
    return out


def test_asyncpg(sandbox: Any, proxy: str) -> None:
    check(asyncio.run(run_asyncpg(sandbox, proxy, table_name("asyncpg"))))
    assert_nothing_left(sandbox)


def test_asyncpg_pool_concurrent_transactions(sandbox: Any, proxy: str) -> None:
    """asyncpg's own pool (its reset query on release: advisory unlock, CLOSE ALL,
    UNLISTEN, RESET ALL), 20 tasks of short transactions on 5 pooled client sessions."""
    import asyncpg

    async def main() -> list[int]:
        token = sandbox.token(proxy, "app")
        async with asyncpg.create_pool(host=proxy, port=5432, user=sandbox.app_user,
                                       database=sandbox.app_database, password=token,
                                       ssl=tls_context(sandbox), min_size=5, max_size=5) as pool:
            async def work(i: int) -> int:
                async with pool.acquire() as conn, conn.transaction():
                    return int(await conn.fetchval("SELECT $1::int + count(*) FROM "
                                                   "generate_series(1, 10)", i))
            return await asyncio.gather(*(work(i) for i in range(20)))

    assert asyncio.run(main()) == [i + 10 for i in range(20)]
    # asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) pins each
    # pooled session at its first release, as RDS Proxy users report ("RESET" pins)
    pins = sandbox.log_lines(PROXY, contains="reset all", count=5)
    assert len(pins) >= 5 and all("was pinned" in line for line in pins), pins
    assert_nothing_left(sandbox)


# -- pg8000 ----------------------------------------------------------------------------
def run_pg8000(sandbox: Any, host: str, table: str) -> dict[str, Any]:
    import pg8000.native

    out: dict[str, Any] = {}
    conn = pg8000.native.Connection(sandbox.app_user, host=host, port=5432,
                                    database=sandbox.app_database,
                                    password=sandbox.token(host, "app"),
                                    ssl_context=tls_context(sandbox), timeout=10)
    try:
        out["user"] = conn.run("SELECT current_user")[0][0]
        out["simple"] = conn.run("SELECT 1 + 1")[0][0]  # pg8000: always the unnamed statement
        out["params"] = conn.run("SELECT :a::int + :b::int", a=40, b=2)[0][0]
        conn.run(f"CREATE TABLE {table} (id int, note text)")
        conn.run("START TRANSACTION")
        for i in (1, 2, 3):
            conn.run(f"INSERT INTO {table} VALUES (:i, 'n')", i=i)
        out["in_transaction"] = conn.run(f"SELECT count(*) FROM {table}")[0][0]
        conn.run("ROLLBACK")
        out["after_rollback"] = conn.run(f"SELECT count(*) FROM {table}")[0][0]
        rows = conn.run(ROWS_SQL)
        out["rows"], out["rows_sum"] = len(rows), sum(r[0] for r in rows)
        try:
            conn.run("SELECT 1/0")
        except pg8000.native.DatabaseError as exc:
            out["error"] = exc.args[0]["C"]
        out["recovered"] = conn.run("SELECT 'recovered'")[0][0]
        conn.run("START TRANSACTION")
        try:
            conn.run("SELECT 1/0")
        except pg8000.native.DatabaseError as exc:
            out["txn_error"] = exc.args[0]["C"]
        conn.run("ROLLBACK")
        out["txn_recovered"] = conn.run("SELECT 'recovered'")[0][0]
        statement = conn.prepare("SELECT :n::int * 2")  # a named statement until close()
        out["prepared"] = [statement.run(n=n)[0][0] for n in (1, 2, 3)]
        statement.close()
        conn.run(f"DROP TABLE {table}")
        assert_multiplexed(sandbox, PROXY)
    finally:
        conn.close()
    return out


def test_pg8000(sandbox: Any, proxy: str) -> None:
    check(run_pg8000(sandbox, proxy, table_name("pg8000")))
    assert_nothing_left(sandbox)


# -- SQLAlchemy (psycopg 3 dialect) ----------------------------------------------------
def run_sqlalchemy(sandbox: Any, host: str, table: str) -> dict[str, Any]:
    from sqlalchemy import create_engine, event, exc, text

    # prepare_threshold=0: psycopg prepares every statement (named) from its first run
    engine = create_engine(
        f"postgresql+psycopg://{sandbox.app_user}@{host}:5432/{sandbox.app_database}",
        connect_args={"sslmode": "verify-full", "sslrootcert": str(sandbox.ca_file),
                      "connect_timeout": 10, "prepare_threshold": 0},
        pool_size=2, pool_pre_ping=True)

    @event.listens_for(engine, "do_connect")
    def iam_token(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        # SQLAlchemy's documented hook for tokens: a fresh one for each new connection
        cparams["password"] = sandbox.token(host, "app")

    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            out["user"] = conn.execute(text("SELECT current_user")).scalar_one()
            out["simple"] = conn.execute(text("SELECT 1 + 1")).scalar_one()
            out["params"] = conn.execute(text("SELECT CAST(:a AS int) + CAST(:b AS int)"),
                                         {"a": 40, "b": 2}).scalar_one()
            conn.execute(text(f"CREATE TABLE {table} (id int, note text)"))
            conn.commit()
            with conn.begin() as transaction:
                conn.execute(text(f"INSERT INTO {table} VALUES (:i, 'n')"),
                             [{"i": i} for i in (1, 2, 3)])
                out["in_transaction"] = conn.execute(
                    text(f"SELECT count(*) FROM {table}")).scalar_one()
                transaction.rollback()
            out["after_rollback"] = conn.execute(text(f"SELECT count(*) FROM {table}")
                                                 ).scalar_one()
            rows = conn.execute(text(ROWS_SQL)).all()
            out["rows"], out["rows_sum"] = len(rows), sum(r.g for r in rows)
            conn.rollback()
            try:
                conn.execute(text("SELECT 1/0"))
            except exc.DataError as error:
                out["error"] = error.orig.sqlstate
                conn.rollback()
            out["recovered"] = conn.execute(text("SELECT 'recovered'")).scalar_one()
            conn.commit()
            try:
                with conn.begin():
                    conn.execute(text(f"INSERT INTO {table} VALUES (9, 'lost')"))
                    conn.execute(text("SELECT 1/0"))
            except exc.DataError as error:
                out["txn_error"] = error.orig.sqlstate
            out["txn_recovered"] = conn.execute(text("SELECT 'recovered'")).scalar_one()
            out["prepared"] = [conn.execute(text("SELECT CAST(:n AS int) * 2"), {"n": n}
                                            ).scalar_one() for n in (1, 2, 3)]
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
            conn.execute(text(f"DROP TABLE {table}"))
            conn.commit()
        with engine.connect() as conn:  # the engine's pool hands the same session back
            assert conn.execute(text("SELECT 'again'")).scalar_one() == "again"
        # its pooled session, idle: pinned by psycopg's DEALLOCATE ALL at the first rollback
        # (every statement is prepared here)
        assert_pinned(sandbox, PROXY, "deallocate all")
    finally:
        engine.dispose()
    return out


def test_sqlalchemy(sandbox: Any, proxy: str) -> None:
    check(run_sqlalchemy(sandbox, proxy, table_name("sqlalchemy")))
    assert_nothing_left(sandbox)


# -- TLS is really verified --------------------------------------------------------------
def test_drivers_refuse_a_proxy_they_cannot_verify(sandbox: Any, proxy: str) -> None:
    """With the system trust store instead of the sandbox CA, every driver refuses the
    proxy's certificate: the verify-full set-up above is not a no-op."""
    import asyncpg
    import pg8000.native
    import psycopg

    system = ssl.create_default_context()
    token = sandbox.token(proxy, "app")
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(host=proxy, port=5432, user="app", dbname="app", password=token,
                        sslmode="verify-full", sslrootcert="system", connect_timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(asyncpg.connect(host=proxy, port=5432, user="app", database="app",
                                    password=token, ssl=system, timeout=10))
    with pytest.raises(ssl.SSLCertVerificationError):
        pg8000.native.Connection("app", host=proxy, database="app", password=token,
                                 ssl_context=system, timeout=10)
