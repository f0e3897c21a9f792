"""Command-line and non-Python clients through the sandbox's RDS Proxy emulator: psql
and pgbench (Debian's PostgreSQL client, libpq), and node-postgres (npm ``pg``, installed
by .ci/bootstrap into tests/clients/node).

Each logs in with an IAM token as its password, with verify-full TLS against the sandbox
CA, and runs the query suite of ``tests/clients_suite.py`` (pgbench: its own workload,
initialised through the proxy too, which sends COPY FROM STDIN).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .clients_suite import ROWS_SQL, assert_multiplexed, assert_nothing_left, check, table_name

pytestmark = pytest.mark.slow

PROXY = "clients-cli"
NODE_DIR = Path(__file__).parent / "clients" / "node"


@pytest.fixture(scope="module")
def proxy(sandbox: Any) -> str:
    return str(sandbox.make_proxy(PROXY)["Endpoint"])


def libpq_env(sandbox: Any, host: str) -> dict[str, str]:
    """What a shell has after ``eval "$(rdsproxyctl sandbox env)"`` plus the proxy's
    host and a fresh IAM token as the password (as docs/sandbox.md's quick start)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(sandbox.directory), "LC_ALL": "C.UTF-8",
           **{k: v for k, v in sandbox.env.items() if k.startswith("PG")}}
    env.update(PGHOST=host, PGPASSWORD=sandbox.token(host, sandbox.app_user))
    assert env["PGSSLMODE"] == "verify-full" and env["PGSSLROOTCERT"] == str(sandbox.ca_file)
    return env


def run(argv: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, **kwargs)


# -- psql ------------------------------------------------------------------------------
def psql_script(table: str) -> str:
    """The suite for psql: one ``key|value`` line per step.  psql 15 has no ``\\bind``,
    so the parameterised step uses psql variables (interpolated by psql: simple
    protocol) and the prepared step SQL-level PREPARE/EXECUTE."""
    return f"""\\set VERBOSITY sqlstate
SELECT 'user', current_user;
SELECT 'simple', 1 + 1;
\\set a 40
\\set b 2
SELECT 'params', :a::int + :b::int;
CREATE TABLE {table} (id int, note text);
BEGIN;
INSERT INTO {table} VALUES (1, 'n'), (2, 'n'), (3, 'n');
SELECT 'in_transaction', count(*) FROM {table};
ROLLBACK;
SELECT 'after_rollback', count(*) FROM {table};
SELECT 'row', g, pad FROM ({ROWS_SQL}) s;
SELECT 1/0;
\\echo error|:LAST_ERROR_SQLSTATE
SELECT 'recovered', 'recovered';
BEGIN;
SELECT 1/0;
\\echo txn_error|:LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT 'txn_recovered', 'recovered';
PREPARE suite_double(int) AS SELECT 'prepared', $1 * 2;
EXECUTE suite_double(1);
EXECUTE suite_double(2);
EXECUTE suite_double(3);
DEALLOCATE suite_double;
DROP TABLE {table};
"""


def parse_psql(stdout: str) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": 0, "rows_sum": 0, "prepared": []}
    for line in stdout.splitlines():
        key, _, rest = line.partition("|")
        if key == "row":
            out["rows"] += 1
            out["rows_sum"] += int(rest.split("|")[0])
        elif key == "prepared":
            out["prepared"].append(int(rest))
        elif key in ("simple", "params", "in_transaction", "after_rollback"):
            out[key] = int(rest)
        elif key:
            out[key] = rest
    return out


def test_psql(sandbox: Any, proxy: str, tmp_path: Path) -> None:
    script = tmp_path / "suite.sql"
    script.write_text(psql_script(table_name("psql")))
    proc = run(["psql", "-X", "-At", "-F", "|", "-f", str(script)], libpq_env(sandbox, proxy))
    assert proc.returncode == 0, proc.stderr
    check(parse_psql(proc.stdout))
    # the two errors, and the statement psql ran inside the failed transaction: nothing else
    assert [line for line in proc.stderr.splitlines() if "ERROR" in line] == \
        [f"psql:{script}:14: ERROR:  22012", f"psql:{script}:18: ERROR:  22012"]
    # SQL-level PREPARE pins the session (AWS's pinning conditions), logged with its digest
    pin = sandbox.log_lines(PROXY, contains="prepare suite_double")
    assert pin and "was pinned" in pin[0], pin
    assert_nothing_left(sandbox)


def test_psql_sees_verified_tls(sandbox: Any, proxy: str) -> None:
    """psql's own report of the session: TLS to the proxy, the proxy's address, and a
    wrong CA is refused (so verify-full above really verifies)."""
    env = libpq_env(sandbox, proxy)
    proc = run(["psql", "-X", "-c", r"\conninfo"], env)
    assert proc.returncode == 0, proc.stderr
    # an RDS host name: psql adds the address it resolved to (`(address "127.0.0.N")`)
    assert re.search(rf'on host "{re.escape(proxy)}"( \(address "127\.0\.0\.\d+"\))? '
                     r'at port "5432"', proc.stdout), proc.stdout
    assert "SSL connection (protocol: TLSv1." in proc.stdout
    # the OS trust store (libpq 15 has no sslrootcert=system): not the sandbox CA
    refused = run(["psql", "-X", "-c", "SELECT 1"],
                  {**env, "PGSSLROOTCERT": "/etc/ssl/certs/ca-certificates.crt"})
    assert refused.returncode == 2 and "certificate verify failed" in refused.stderr


# -- pgbench ---------------------------------------------------------------------------
def pgbench(env: dict[str, str], *args: str) -> dict[str, float]:
    proc = run(["pgbench", "-n", *args], env)
    assert proc.returncode == 0, proc.stderr[-1000:]
    tps = re.search(r"tps = ([0-9.]+) \(without initial", proc.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", proc.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", proc.stdout)
    assert tps and done and failed, proc.stdout
    return {"tps": float(tps.group(1)), "done": int(done.group(1)),
            "failed": int(failed.group(1))}


def test_pgbench_select_only(sandbox: Any, proxy: str) -> None:
    """pgbench -i through the proxy (CREATE, COPY FROM STDIN, VACUUM, ALTER), then a few
    seconds of select-only with 4 clients, in simple and in prepared (named statement)
    query mode: every transaction succeeds.  (4 clients on 2 threads: pgbench 15's
    synchronous PQprepare would deadlock a thread's clients behind a pool smaller than
    the client count; the proxy's cap here is far above 4.)"""
    env = libpq_env(sandbox, proxy)
    init = run(["pgbench", "-i", "-q", "-s", "1"], env)
    assert init.returncode == 0 and "done in" in init.stderr, init.stderr
    try:
        for mode, seconds in (("simple", "2"), ("prepared", "1")):
            result = pgbench(env, "-S", "-M", mode, "-c", "4", "-j", "2", "-T", seconds)
            assert result["failed"] == 0 and result["done"] > 100, (mode, result)
    finally:
        run(["pgbench", "-i", "-I", "d"], env)  # drop pgbench's tables
    assert_nothing_left(sandbox)


# -- node-postgres -----------------------------------------------------------------------
def test_node_postgres(sandbox: Any, proxy: str) -> None:
    node = shutil.which("node")
    assert node, "node is missing: run `bash .ci/bootstrap` (installs nodejs and npm)"
    assert (NODE_DIR / "node_modules" / "pg").is_dir(), \
        f"node-postgres is missing: run `npm ci` in {NODE_DIR} (.ci/bootstrap does)"
    env = {**libpq_env(sandbox, proxy), "SUITE_CA": str(sandbox.ca_file),
           "SUITE_TABLE": table_name("node"), "SUITE_ROWS_SQL": ROWS_SQL, "SUITE_HOLD": "1"}
    with subprocess.Popen([node, "suite.js"], env=env, cwd=NODE_DIR, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline()  # the suite is done, its session open and idle
            assert line, proc.stderr.read()
            out = json.loads(line)
            assert_multiplexed(sandbox, PROXY)  # a named statement does not pin
        finally:
            proc.stdin.close()  # let it end its session
        assert proc.wait(30) == 0, proc.stderr.read()
    assert out["tls"] is True
    check(out)
    assert_nothing_left(sandbox)
