"""`diagnose --all` over 50 sandbox proxies against 50 sequential `diagnose NAME` runs.

Goal: the concurrent run takes at most 0.15 of the sequential wall time.  Also reports the
AWS API calls per proxy of each way (counted from --debug's API-call lines).

    python benchmarks/run.py diagnose --repeat 1
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from bench_sandbox import running_sandbox
from runner import Bench, Comparison, Timing, benchmark, print_comparison, tool

PROXIES = 50


def _create_proxies(directory: Path) -> list[str]:
    import boto3

    from rdsproxyctl.sandbox import manager

    variables = manager.env(directory).variables
    seeded = json.loads((directory / "daemon.json").read_text())["seeded"]
    rds = boto3.Session(aws_access_key_id=variables["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=variables["AWS_SECRET_ACCESS_KEY"],
                        region_name=variables["AWS_REGION"]).client(
        "rds", endpoint_url=variables["AWS_ENDPOINT_URL"])
    names = [f"bench-{i:02d}" for i in range(PROXIES)]
    for name in names:
        rds.create_db_proxy(DBProxyName=name, EngineFamily="POSTGRESQL",
                            RoleArn=seeded["role_arn"], VpcSubnetIds=seeded["subnet_ids"],
                            VpcSecurityGroupIds=[seeded["proxy_security_group"]],
                            RequireTLS=True, Auth=[{"AuthScheme": "SECRETS",
                                                    "SecretArn": seeded["secret_arn"],
                                                    "IAMAuth": "REQUIRED"}])
        rds.modify_db_proxy_target_group(DBProxyName=name, TargetGroupName="default",
                                         ConnectionPoolConfig={"MaxConnectionsPercent": 75})
        rds.register_db_proxy_targets(DBProxyName=name,
                                      DBInstanceIdentifiers=[seeded["db_instance"]])
    return names


def _calls(argv: list[str], env: dict[str, str]) -> int:
    out = subprocess.run([*argv, "--debug"], env=env, capture_output=True, text=True)
    return sum(1 for line in out.stderr.splitlines() if "rdsproxyctl.aws: API call " in line)


@benchmark("diagnose")
def diagnose(bench: Bench) -> None:
    """diagnose --all over 50 proxies vs 50 sequential diagnose NAME runs (sandbox)."""
    from rdsproxyctl.sandbox import manager

    with running_sandbox() as (directory, _state):
        names = _create_proxies(directory)
        env = {**os.environ, **manager.env(directory).variables}
        env.pop("RDSPROXYCTL_MAX_ATTEMPTS", None)
        rdsproxyctl = tool("rdsproxyctl")
        all_argv = [rdsproxyctl, "diagnose", "--all", "--user", "app", "-o", "json"]
        one = [rdsproxyctl, "diagnose", "--user", "app", "-o", "json"]
        sequential, concurrent = [], []
        for _ in range(bench.repeat):
            started = time.perf_counter()
            for name in names:
                subprocess.run([*one[:2], name, *one[2:]], env=env, capture_output=True)
            sequential.append(time.perf_counter() - started)
            started = time.perf_counter()
            out = subprocess.run(all_argv, env=env, capture_output=True, text=True)
            concurrent.append(time.perf_counter() - started)
            reports = json.loads(out.stdout)
            assert len(reports) == PROXIES, out.stderr[-500:]
        calls_all = _calls(all_argv, env)
        calls_one = _calls([*one[:2], names[0], *one[2:]], env)
        seq = sorted(sequential)[len(sequential) // 2]
        conc = sorted(concurrent)[len(concurrent) // 2]
        result = Comparison(
            f"diagnose --all over {PROXIES} sandbox proxies vs {PROXIES} sequential diagnose NAME",
            f"{PROXIES} x diagnose NAME",
            [Timing(f"{PROXIES} x diagnose NAME", [], sequential),
             Timing("diagnose --all", [], concurrent)],
            {"API calls per proxy (diagnose NAME)": calls_one,
             "API calls per proxy (diagnose --all)": round(calls_all / PROXIES, 1),
             "goal (<= 0.15)": "met" if conc <= 0.15 * seq else "MISSED"})
        bench.results.append(result)
        print_comparison(result)
