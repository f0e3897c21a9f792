"""`rdsproxyctl token --host ...` against `aws rds generate-db-auth-token` and the floor."""

from __future__ import annotations

import sys

from runner import Bench, benchmark, fake_aws_env, tool

HOST = "demo.proxy-abcdefghijkl.us-east-1.rds.amazonaws.com"


@benchmark("token")
def token(bench: Bench) -> None:
    """Minting a token with no API call: rdsproxyctl vs the AWS CLI vs `python -c pass`."""
    bench.env = fake_aws_env()
    result = bench.compare(
        "token --host (no API call) vs aws rds generate-db-auth-token",
        {
            "aws rds generate-db-auth-token": [tool("aws"), "rds", "generate-db-auth-token",
                                               "--hostname", HOST, "--port", "5432",
                                               "--username", "app", "--region", "us-east-1"],
            "rdsproxyctl token --host": [tool("rdsproxyctl"), "token", "--host", HOST, "--port",
                                         "5432", "--region", "us-east-1", "--user", "app"],
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
        },
        baseline="aws rds generate-db-auth-token",
    )
    ratio = result.ratio("rdsproxyctl token --host")
    print(f"  goal: token <= 0.40 of the AWS CLI: {'met' if ratio <= 0.40 else 'MISSED'} "
          f"({ratio:.2f})")
