"""Client-visible downtime of an Aurora failover: through the proxy against direct to the writer.

One run starts a sandbox in a temporary directory, creates an Aurora PostgreSQL cluster
(a real writer and streaming reader) and a proxy on it (password auth, RequireTLS), and
then, ``--repeat`` times and for each path in turn:

* 10 clients write (``INSERT``, autocommit) every 20 ms, each on its own connection;
  a client whose statement fails reconnects (after 50 ms) and goes on;
* ``rdsproxyctl sandbox fault failover`` (the writer stops, the reader is promoted);
* the run ends once every client has written again; ``fault clear`` rebuilds the old
  writer as the reader for the next round.

A client's downtime is the longest time between two of its successful writes across the
failover; the round's figure is the median over the clients (the worst one and the count
of client-visible errors are noted).  Direct clients dial the cluster's writer endpoint
(``NAME.cluster-ID...``), whose name the sandbox moves to the new writer as AWS's DNS does
(without AWS's DNS TTL: re-resolved at each reconnect); proxy clients dial the proxy.

    python benchmarks/run.py failover --repeat 3
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench_sandbox import running_sandbox
from runner import Bench, Comparison, Timing, benchmark, print_comparison

CLIENTS = 10
INTERVAL = 0.02
PROXY = "bench-failover"
CLUSTER = "bench-aurora"


class _Client(threading.Thread):
    def __init__(self, conninfo: dict[str, Any], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.stop = stop
        self.ok: list[float] = []
        self.errors: list[tuple[float, str]] = []

    def run(self) -> None:
        import psycopg

        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(**self.conninfo, autocommit=True, connect_timeout=3)
                conn.execute("INSERT INTO failover_bench VALUES (now())")
                self.ok.append(time.monotonic())
            except psycopg.Error as exc:
                self.errors.append((time.monotonic(), type(exc).__name__))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
                continue
            time.sleep(INTERVAL)
        if conn is not None:
            conn.close()

    def downtime(self, since: float) -> float:
        """The longest gap between successful writes around ``since``."""
        times = [t for t in self.ok]
        gaps = [b - a for a, b in zip(times, times[1:]) if b >= since]
        return max(gaps) if gaps else float("inf")


def _setup(directory: Path, state: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    import json

    import boto3

    from rdsproxyctl.sandbox import manager

    variables = manager.env(directory).variables
    info = json.loads((directory / "daemon.json").read_text())
    if (info.get("names") or {}).get("kind") != "hostnames":
        raise SystemExit("the failover benchmark needs RDS host names (run it as root, or "
                         "where /etc/hosts is writable): direct clients follow the writer by name")
    seeded = info["seeded"]
    session = boto3.Session(aws_access_key_id=variables["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=variables["AWS_SECRET_ACCESS_KEY"],
                            region_name=variables["AWS_REGION"])
    rds = session.client("rds", endpoint_url=variables["AWS_ENDPOINT_URL"])
    rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql",
                          MasterUsername="postgres", MasterUserPassword="pw-123456789")
    deadline = time.monotonic() + 120
    while (cluster := rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0])[
            "Status"] != "available":
        if time.monotonic() > deadline:
            raise RuntimeError(f"cluster {CLUSTER}: {cluster['Status']}")
        time.sleep(0.25)
    proxy = rds.create_db_proxy(
        DBProxyName=PROXY, EngineFamily="POSTGRESQL", RoleArn=seeded["role_arn"],
        VpcSubnetIds=seeded["subnet_ids"], RequireTLS=True,
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": seeded["secret_arn"],
               "IAMAuth": "DISABLED"}])["DBProxy"]
    rds.register_db_proxy_targets(DBProxyName=PROXY, DBClusterIdentifiers=[CLUSTER])
    _wait_available(rds)
    app, ca = state["app"], str(directory / "ca.pem")
    common = {"user": app["user"], "password": app["password"], "dbname": app["database"],
              "sslmode": "verify-full", "sslrootcert": ca}
    paths = {"direct to the writer": {**common, "host": cluster["Endpoint"],
                                      "port": cluster["Port"]},
             "through the proxy": {**common, "host": proxy["Endpoint"], "port": 5432}}
    import psycopg

    with psycopg.connect(**paths["direct to the writer"], autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS failover_bench (at timestamptz)")
    return rds, paths, cluster


def _wait_available(rds: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = rds.describe_db_proxy_targets(DBProxyName=PROXY)["Targets"]
        members = [t for t in rows if t["Type"] == "RDS_INSTANCE"]
        if len(members) == 2 and all(t["TargetHealth"].get("State") == "AVAILABLE"
                                     for t in members):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"members not AVAILABLE: {rows}")
        time.sleep(0.2)


def _round(directory: Path, rds: Any, conninfo: dict[str, Any]) -> dict[str, Any]:
    from rdsproxyctl.sandbox import faults

    stop = threading.Event()
    clients = [_Client(conninfo, stop) for _ in range(CLIENTS)]
    for c in clients:
        c.start()
    time.sleep(2.0)
    started = time.monotonic()
    faults.request(directory, "set", kind="failover", proxy=PROXY)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
            c.ok and c.ok[-1] > started + 0.5 for c in clients):
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for c in clients:
        c.join(10)
    faults.request(directory, "clear", proxy=PROXY)
    _wait_available(rds)
    downtimes = [c.downtime(started) for c in clients]
    return {"median": statistics.median(downtimes), "worst": max(downtimes),
            "errors": sum(1 for c in clients for t, _ in c.errors if t >= started),
            "clients_with_errors": sum(1 for c in clients if any(t >= started
                                                                 for t, _ in c.errors))}


@benchmark("failover")
def failover(bench: Bench) -> None:
    """Client-visible downtime of a cluster failover: through the proxy vs direct."""
    with running_sandbox() as (directory, state):
        rds, paths, _ = _setup(directory, state)
        timings = {label: Timing(label, ["sandbox fault failover"]) for label in paths}
        notes: dict[str, Any] = {}
        for n in range(max(1, bench.repeat)):
            for label, conninfo in paths.items():  # interleaved rounds
                result = _round(directory, rds, conninfo)
                timings[label].seconds.append(result["median"])
                print(f"round {n + 1} {label}: median {result['median'] * 1000:.0f} ms, worst "
                      f"{result['worst'] * 1000:.0f} ms, {result['errors']} client errors "
                      f"({result['clients_with_errors']}/{CLIENTS} clients saw one)", flush=True)
                notes[f"worst downtime, last round ({label})"] = f"{result['worst'] * 1000:.0f} ms"
                notes[f"clients that saw an error, last round ({label})"] = \
                    f"{result['clients_with_errors']}/{CLIENTS}"
        result = Comparison(f"failover downtime per client ({CLIENTS} clients writing every "
                            f"{INTERVAL * 1000:.0f} ms; median over clients)",
                            "direct to the writer", list(timings.values()), notes)
        bench.results.append(result)
        print_comparison(result)
