"""The sandbox's RDS Proxy emulator against PostgreSQL itself, TLS on both paths.

One run starts a sandbox in a temporary directory, creates a proxy (IAM auth
REQUIRED, RequireTLS), and measures:

* connect + ``SELECT 1`` + close, 200 times in a row (psycopg, verify-full TLS):
  directly to PostgreSQL (SCRAM password) and through the emulator (IAM token);
* ``pgbench -S -c 20 -T 10`` against both (compared by the time per 1000
  transactions, 1000 / pgbench's tps).

For each path it counts the backend connections PostgreSQL saw (``sessions`` in
``pg_stat_database``; through the emulator this includes the health checker's
probe, one every 10 s): the pool is what makes the difference.

    python benchmarks/run.py sandbox --repeat 5
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner import ROOT, Bench, Comparison, Timing, benchmark, print_comparison

LOOP = str(ROOT / "benchmarks" / "sandbox_connect_loop.py")
CONNECTS = 200
PGBENCH = ["-S", "-c", "20", "-j", "2", "-T", "10", "-n"]


def _backends_since(superuser_dsn: str, mark: int) -> int:
    """Backend connections to the app database since ``mark`` (``sessions`` in
    pg_stat_database counts every session PostgreSQL established)."""
    time.sleep(0.6)  # session statistics reach pg_stat_database within a second
    return _mark(superuser_dsn) - mark


def _mark(superuser_dsn: str) -> int:
    import psycopg

    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = 'app'"
                           ).fetchone()
    return int(row[0]) if row else 0


def _proxy(directory: Path) -> tuple[str, str]:
    """Create the benchmark's proxy; its address and a token for the app user."""
    import boto3

    from rdsproxyctl.sandbox import manager

    variables = manager.env(directory).variables
    seeded = json.loads((directory / "daemon.json").read_text())["seeded"]
    session = boto3.Session(aws_access_key_id=variables["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=variables["AWS_SECRET_ACCESS_KEY"],
                            region_name=variables["AWS_REGION"])
    rds = session.client("rds", endpoint_url=variables["AWS_ENDPOINT_URL"])
    address = rds.create_db_proxy(
        DBProxyName="bench", EngineFamily="POSTGRESQL", RoleArn=seeded["role_arn"],
        VpcSubnetIds=seeded["subnet_ids"], RequireTLS=True,
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": seeded["secret_arn"],
               "IAMAuth": "REQUIRED"}])["DBProxy"]["Endpoint"]
    rds.register_db_proxy_targets(DBProxyName="bench",
                                  DBInstanceIdentifiers=[seeded["db_instance"]])
    deadline = time.monotonic() + 30
    while rds.describe_db_proxy_targets(DBProxyName="bench")["Targets"][0]["TargetHealth"][
            "State"] != "AVAILABLE":
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark proxy's target never became AVAILABLE")
        time.sleep(0.2)
    return address, rds.generate_db_auth_token(address, 5432, "app")


@contextmanager
def running_sandbox() -> Iterator[tuple[Path, dict[str, Any]]]:
    """A fresh sandbox in a temporary directory for one benchmark: (directory, its state)."""
    from rdsproxyctl.sandbox import manager

    directory = Path(tempfile.mkdtemp(prefix="rdsproxyctl-bench-"))
    try:
        manager.up(directory)
        state, _ = manager.load(directory)
        yield directory, state
    finally:
        manager.down(directory)


def pgbench_env(ca: str) -> dict[str, str]:
    """libpq's environment for pgbench: verify-full TLS with the sandbox's CA."""
    return {"PATH": "/usr/bin:/bin", "PGSSLMODE": "verify-full", "PGSSLROOTCERT": ca}


def init_pgbench(pg: dict[str, Any], app: dict[str, Any], env: dict[str, str],
                 scale: int = 1) -> None:
    """pgbench's tables in the app database (directly on PostgreSQL)."""
    subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), "-h", pg["host"], "-p", str(pg["port"]),
                    "-U", "app", "app"], env={**env, "PGPASSWORD": app["password"]},
                   check=True, capture_output=True)


def _pgbench(conninfo: dict[str, str], env: dict[str, str]) -> float:
    out = subprocess.run(["pgbench", *PGBENCH, "-h", conninfo["host"], "-p", conninfo["port"],
                          "-U", "app", "app"], env={**env, "PGPASSWORD": conninfo["password"]},
                         capture_output=True, text=True, check=True)
    found = re.search(r"tps = ([0-9.]+) \(without initial", out.stdout)
    if not found:
        raise RuntimeError(f"no tps in pgbench's output: {out.stdout[-500:]}")
    return float(found.group(1))


@benchmark("sandbox")
def sandbox(bench: Bench) -> None:
    """200 x (connect + SELECT 1 + close) and pgbench -S -c 20 -T 10: emulator vs direct."""
    from rdsproxyctl.sandbox.postgres import dsn

    with running_sandbox() as (directory, state):
        pg, app = state["postgres"], state["app"]
        ca = str(directory / "ca.pem")
        superuser = dsn(pg["host"], pg["port"], pg["superuser"], pg["superuser_password"],
                        "postgres", directory / "ca.pem")
        address, token = _proxy(directory)
        paths = {
            "direct to PostgreSQL": {"host": pg["host"], "port": str(pg["port"]),
                                     "password": app["password"]},
            "through the emulator": {"host": address, "port": "5432", "password": token},
        }
        conninfo = {label: (f"host={p['host']} port={p['port']} user=app dbname=app "
                            f"password={p['password']} sslmode=verify-full sslrootcert={ca}")
                    for label, p in paths.items()}
        backends: dict[str, Any] = {}
        for label, info in conninfo.items():  # one counted run per path
            mark = _mark(superuser)
            subprocess.run([sys.executable, LOOP, str(CONNECTS), info], check=True)
            backends[label] = _backends_since(superuser, mark)
        bench.compare(
            f"connect + SELECT 1 + close, {CONNECTS} times (verify-full TLS)",
            {label: [sys.executable, LOOP, str(CONNECTS), info] for label, info in conninfo.items()},
            baseline="direct to PostgreSQL",
            notes={f"backend connections ({label})": n for label, n in backends.items()})

        if not shutil.which("pgbench"):
            print("\n(pgbench not installed: skipping the pgbench comparison)")
            return
        env = pgbench_env(ca)
        init_pgbench(pg, app, env)
        timings, notes = [], {}
        for label, p in paths.items():
            mark = _mark(superuser)
            tps = _pgbench(p, env)
            timings.append(Timing(label, ["pgbench", *PGBENCH], [1000.0 / tps]))
            notes[f"tps ({label})"] = round(tps)
            notes[f"backend connections ({label})"] = _backends_since(superuser, mark)
        result = Comparison("pgbench -S -c 20 -T 10: time per 1000 transactions (1000/tps)",
                            "direct to PostgreSQL", timings, notes)
        bench.results.append(result)
        print_comparison(result)
