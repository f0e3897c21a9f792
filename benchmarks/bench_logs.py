"""`logs classify` against grep, and `logs NAME -o json` against the AWS CLI.

* classify: a generated file of 1,000,000 proxy log lines (the documented shapes with
  random connection ids, addresses, users, digests and 2% unique noise lines),
  `rdsproxyctl logs classify FILE --summary --include-info` (and per-line JSON) against
  `grep -E -i -c` with the catalog's own patterns as EREs (LC_ALL=C: grep's fastest).
  Goal: classify within 10x of grep.
* fetch: 100,000 events in a proxy's log group on one moto server,
  `rdsproxyctl logs demo --since 1d -o json` against
  `aws logs filter-log-events --log-group-name /aws/rds/proxy/demo`.
  Goal: no slower than the AWS CLI.

Both contenders' stdout goes to /dev/null.  These comparisons run at most 3 times each
(one run takes seconds): `python benchmarks/run.py classify fetch`.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runner import ROOT, Bench, benchmark, fake_aws_env, moto_server, tool

sys.path.insert(0, str(ROOT))

from rdsproxyctl.core.logs.patterns import grep_patterns  # noqa: E402

CLASSIFY_LINES = 1_000_000
FETCH_EVENTS = 100_000
MAX_REPEAT = 3

_USERS = [f"app_{i:03d}" for i in range(200)] + ["reporting", "admin", "etl"]
_DIGESTS = [f"set {random.Random(i).choice(['search_path', 'timezone', 'work_mem', 'role'])} "
            f"to $1 /* job {i} */" for i in range(500)]
_IAM_REASONS = ["Invalid credentials.", "A missing X-Amz-Security-Token value.",
                "An empty token.", "An expired token.",
                "The IAM authentication failed because of too many competing requests."]
_PIN = ("The client session was pinned to the database connection [dbConnection={db}] for the "
        "remainder of the session. The proxy can't reuse this connection until the session "
        "ends. Reason: ")


def _line(rnd: random.Random, ts: str) -> str:
    """One proxy log line in the documented shape, most of them routine."""
    conn, db = rnd.randrange(10**7, 10**9), rnd.randrange(10**8, 10**10)
    user = rnd.choice(_USERS)
    ip = f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}:{rnd.randrange(1024, 65536)}"
    endpoint = "default" if rnd.random() < 0.8 else "reader"
    r = rnd.random()
    level = "INFO"
    if r < 0.20:
        msg = f"A new client connected from {ip}."
    elif r < 0.38:
        msg = "The client connection closed. Reason: The client chose to close the connection."
    elif r < 0.50:
        msg = f'Proxy authentication with IAM authentication succeeded for user "{user}" with TLS on.'
    elif r < 0.58:
        msg = (f'Received Startup Message: [username="{user}", database="orders", '
               f"protocolMajorVersion=3, protocolMinorVersion=0, sslEnabled=true]")
    elif r < 0.66:
        msg = (f"A TCP connection was established from the proxy at {ip} to the database at "
               f"10.0.2.15:5432.")
    elif r < 0.72:
        msg = "The database connection was released back to the connection pool."
    elif r < 0.80:
        level = "WARN"
        msg = (f'Proxy authentication with IAM authentication failed for user "{user}" with TLS '
               f"on. Reason: {rnd.choice(_IAM_REASONS)}")
    elif r < 0.85:
        level = "WARN"
        msg = (f"Proxy authentication with PostgreSQL native password authentication failed for "
               f'user "{user}" with TLS on.')
    elif r < 0.93:
        level = "WARN"
        reason = rnd.choice([
            "A parse message was detected.",
            "The connection ran a SQL query which exceeded the 16384 byte limit.",
            "SQL changed session settings that the proxy doesn't track. Consider moving session "
            f'configuration to the proxy\'s initialization query. Digest: "{rnd.choice(_DIGESTS)}".',
        ])
        msg = _PIN.format(db=db) + reason
    elif r < 0.96:
        level = "ERROR"
        msg = rnd.choice(["Timed-out waiting to acquire database connection.",
                          "This RDS Proxy requires TLS connections.",
                          f"The maximum number of client connections to the proxy exceeded "
                          f"{rnd.randrange(100, 5000)}."])
    elif r < 0.98:
        msg = f"The database connection closed. Reason: idle for {rnd.randrange(1, 900)}s."
    else:  # noise nobody catalogued, each line different
        msg = " ".join(rnd.choice(["lorem", "ipsum", "dolor", "amet", "proxy", "state", "x",
                                   user, "queue", "shard"]) for _ in range(rnd.randrange(3, 12)))
    return f"{ts} [{level}] [proxyEndpoint={endpoint}] [clientConnection={conn}] {msg}"


def generate(path: Path, count: int, seed: int = 6) -> None:
    rnd = random.Random(seed)
    start = 1_700_000_000_000
    with path.open("w") as f:
        for i in range(count):
            ms = start + i * 3
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
            f.write(_line(rnd, ts) + "\n")


@benchmark("classify")
def classify(bench: Bench) -> None:
    """`logs classify` of 1,000,000 generated lines against `grep -E -i -c` (same patterns)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "proxy.log"
        generate(path, CLASSIFY_LINES)
        grep = ["grep", "-E", "-i", "-c"]
        for pattern in grep_patterns():
            grep += ["-e", pattern]
        grep.append(str(path))
        matched = subprocess.run(grep, capture_output=True, text=True, env={"LC_ALL": "C"},
                                 check=True).stdout.strip()
        summary = subprocess.run([tool("rdsproxyctl"), "logs", "classify", str(path), "--summary",
                                  "--include-info", "--fail-on", "none", "-o", "json"],
                                 capture_output=True, text=True, check=True).stdout
        data = json.loads(summary)
        repeat, bench.repeat = bench.repeat, min(bench.repeat, MAX_REPEAT)
        try:
            bench.compare(
                f"logs classify, {CLASSIFY_LINES:,} lines ({path.stat().st_size / 1e6:.0f} MB) "
                "vs grep -E -i -c with the catalog's patterns",
                {
                    # GNU grep stops at the first match when its output is /dev/null (as
                    # the runner's is): count into a file so it reads the whole input.
                    "grep -E -i -c (LC_ALL=C)": ["env", "LC_ALL=C", "sh", "-c",
                                                 'exec "$@" > "$0"', str(Path(tmp) / "count"),
                                                 *grep],
                    "rdsproxyctl logs classify --summary": [
                        tool("rdsproxyctl"), "logs", "classify", str(path), "--summary", "--include-info",
                        "--fail-on", "none", "-o", "json"],
                    "rdsproxyctl logs classify -o json": [
                        tool("rdsproxyctl"), "logs", "classify", str(path), "-o", "json"],
                },
                baseline="grep -E -i -c (LC_ALL=C)",
                notes={"lines grep matched": matched,
                       "lines classify tagged": data["classified"],
                       "unclassified": data["unclassified"],
                       "signatures seen": len(data["signatures"])},
            )
        finally:
            bench.repeat = repeat


SEED = r"""
import sys, time, botocore.session
url, count = sys.argv[1], int(sys.argv[2])
logs = botocore.session.Session().create_client("logs", region_name="us-east-1", endpoint_url=url)
group = "/aws/rds/proxy/demo"
logs.create_log_group(logGroupName=group)
logs.create_log_stream(logGroupName=group, logStreamName="s")
lines = open(sys.argv[3]).read().splitlines()
start = int(time.time() * 1000) - 3600_000
for i in range(0, count, 10_000):
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": start + j, "message": lines[j]} for j in range(i, min(count, i + 10_000))])
"""


@benchmark("fetch")
def fetch(bench: Bench) -> None:
    """`logs NAME --since 1d -o json` against `aws logs filter-log-events`, 100,000 events."""
    env = fake_aws_env()
    with tempfile.TemporaryDirectory() as tmp, moto_server(env) as url:
        path = Path(tmp) / "lines.log"
        generate(path, FETCH_EVENTS, seed=7)
        subprocess.run([sys.executable, "-c", SEED, url, str(FETCH_EVENTS), str(path)], env=env,
                       check=True)
        ours = [tool("rdsproxyctl"), "--endpoint-url", url, "logs", "demo", "--since", "1d",
                "-o", "json"]
        got = subprocess.run(ours, env=env, capture_output=True, text=True, check=True).stdout
        repeat, bench.repeat = bench.repeat, min(bench.repeat, MAX_REPEAT)
        bench.env = env
        try:
            bench.compare(
                f"logs NAME --since 1d -o json vs aws logs filter-log-events, "
                f"{FETCH_EVENTS:,} events (moto server)",
                {
                    "aws logs filter-log-events": [
                        tool("aws"), "--endpoint-url", url, "logs", "filter-log-events",
                        "--log-group-name", "/aws/rds/proxy/demo"],
                    "rdsproxyctl logs -o json": ours,
                },
                baseline="aws logs filter-log-events",
                notes={"events rdsproxyctl printed": got.count("\n")},
            )
        finally:
            bench.repeat = repeat
