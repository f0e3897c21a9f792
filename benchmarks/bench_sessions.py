"""1,000 concurrent client sessions of short transactions through one emulated proxy.

Measures, with every session connected at once and each running ``--transactions``
short transactions (``BEGIN; SELECT 1; COMMIT``):

* errors (must be none) and the wall time;
* the most backend connections PostgreSQL saw from the proxy (must stay at or under
  the pool cap, MaxConnectionsPercent of max_connections);
* the emulator daemon's resident memory (VmRSS) idle, and its peak with the sessions
  connected: the difference must stay under 100 MB.

    .venv/bin/python benchmarks/bench_sessions.py                 # a temporary sandbox
    .venv/bin/python benchmarks/bench_sessions.py --dir .sbx      # a running one

Results go in docs/performance.md ("Transaction multiplexing: 1,000 sessions").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(directory: Path, sessions: int, transactions: int, percent: int) -> dict[str, float]:
    import boto3
    import psycopg
    from botocore.config import Config

    from rdsproxyctl.sandbox import manager
    from rdsproxyctl.sandbox.postgres import dsn

    state, info = manager.load(directory)
    env = manager.env(directory).variables
    pid = manager.daemon_pid(directory)
    assert pid is not None, "the sandbox daemon is not running"
    session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                    region_name=state["region"])
    rds = session.client("rds", endpoint_url=info["api"]["url"],
                         config=Config(retries={"max_attempts": 2}))
    seeded = info["seeded"]
    name = f"bench-sessions-{int(time.time())}"
    rds.create_db_proxy(
        DBProxyName=name, EngineFamily="POSTGRESQL", RoleArn=seeded["role_arn"],
        VpcSubnetIds=seeded["subnet_ids"], RequireTLS=True,
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": seeded["secret_arn"],
               "IAMAuth": "DISABLED"}])
    rds.modify_db_proxy_target_group(
        DBProxyName=name, TargetGroupName="default",
        ConnectionPoolConfig={"MaxConnectionsPercent": percent, "ConnectionBorrowTimeout": 120})
    rds.register_db_proxy_targets(DBProxyName=name, DBInstanceIdentifiers=[seeded["db_instance"]])
    host = rds.describe_db_proxies(DBProxyName=name)["DBProxies"][0]["Endpoint"]
    pg = state["postgres"]
    superuser = dsn(pg["host"], pg["port"], pg["superuser"], pg["superuser_password"],
                    "postgres", directory / "ca.pem")
    deadline = time.monotonic() + 30
    while True:  # the target's health check has logged in once
        targets = rds.describe_db_proxy_targets(DBProxyName=name)["Targets"]
        if targets and targets[0]["TargetHealth"]["State"] == "AVAILABLE":
            break
        assert time.monotonic() < deadline, targets
        time.sleep(0.2)
    conninfo = psycopg.conninfo.make_conninfo(
        host=host, port=5432, user=state["app"]["user"], dbname=state["app"]["database"],
        password=state["app"]["password"], sslmode="verify-full",
        sslrootcert=str(directory / "ca.pem"), application_name=name, connect_timeout=300)

    time.sleep(1.0)
    idle_kb = _rss_kb(pid)
    peak = {"rss": idle_kb, "backends": 0}
    stop = threading.Event()

    def watch() -> None:
        with psycopg.connect(superuser, autocommit=True) as su:
            while not stop.is_set():
                (n,) = su.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                  "application_name = %s", [name]).fetchone()
                peak["backends"] = max(peak["backends"], n)
                peak["rss"] = max(peak["rss"], _rss_kb(pid))
                time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    errors: list[BaseException] = []

    async def main() -> None:
        connected = asyncio.Event()
        count = [0]

        async def client() -> None:
            try:
                conn = await psycopg.AsyncConnection.connect(conninfo)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                count[0] += 1
                if count[0] == sessions:
                    connected.set()
                return
            count[0] += 1
            if count[0] == sessions:
                connected.set()
            await connected.wait()  # every session is connected before any transaction
            try:
                async with conn:
                    for _ in range(transactions):
                        async with conn.transaction():
                            await conn.execute("SELECT 1")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        await asyncio.gather(*(client() for _ in range(sessions)))

    started = time.monotonic()
    asyncio.run(main())
    wall = time.monotonic() - started
    stop.set()
    watcher.join()
    rds.delete_db_proxy(DBProxyName=name)
    cap = 100 * percent // 100  # max_connections = 100 in the sandbox
    return {"sessions": sessions, "transactions": sessions * transactions,
            "errors": len(errors), "wall_s": round(wall, 1),
            "tps": round(sessions * transactions / wall, 1), "cap": cap,
            "peak_backends": peak["backends"], "idle_rss_mb": round(idle_kb / 1024, 1),
            "peak_rss_mb": round(peak["rss"] / 1024, 1),
            "rss_above_idle_mb": round((peak["rss"] - idle_kb) / 1024, 1),
            "first_error": repr(errors[0]) if errors else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, help="a running sandbox (default: a temporary one)")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--transactions", type=int, default=5)
    parser.add_argument("--percent", type=int, default=10, help="MaxConnectionsPercent")
    args = parser.parse_args()
    from rdsproxyctl.sandbox import manager

    if args.dir:
        result = run(args.dir.resolve(), args.sessions, args.transactions, args.percent)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
            directory = Path(tmp) / "sandbox"
            manager.up(directory)
            try:
                result = run(directory, args.sessions, args.transactions, args.percent)
            finally:
                manager.down(directory)
    for key, value in result.items():
        print(f"{key:18} {value}")
    ok = (not result["errors"] and result["peak_backends"] <= result["cap"]
          and result["rss_above_idle_mb"] < 100)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
