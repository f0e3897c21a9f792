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


@benchmark("startup-ab")
def startup_ab(bench: Bench) -> None:
    """Start-up of this checkout against another one (BENCH_BASE), interleaved in one run.

    BENCH_BASE is a directory holding another version's `rdsproxyctl/` (e.g. `git archive
    main | tar -x -C /tmp/base`); its commands run with PYTHONPATH=BENCH_BASE, so both use
    this environment's packages.  On a busy machine this is the fair before/after.
    """
    import os

    base = os.environ.get("BENCH_BASE")
    if not base:
        print("\n## startup-ab: set BENCH_BASE to another checkout's directory; skipped")
        return
    import compileall

    compileall.compile_dir(os.path.join(base, "rdsproxyctl"), quiet=1)  # as for this checkout
    bench.env = fake_aws_env()
    old, new = ["env", f"PYTHONPATH={base}"], ["env", "PYTHONPATH="]
    token_args = ["token", "--host", HOST, "--port", "5432", "--region", "us-east-1",
                  "--user", "app"]
    bench.compare("--help: BENCH_BASE and this checkout against a minimal typer app", {
        "minimal typer app --help": [*new, sys.executable, "benchmarks/minimal_typer_app.py",
                                     "--help"],
        "base: rdsproxyctl --help": [*old, tool("rdsproxyctl"), "--help"],
        "this: rdsproxyctl --help": [*new, tool("rdsproxyctl"), "--help"],
    }, baseline="minimal typer app --help")
    bench.compare("token --host: BENCH_BASE and this checkout against the AWS CLI", {
        "aws rds generate-db-auth-token": [*new, tool("aws"), "rds", "generate-db-auth-token",
                                           "--hostname", HOST, "--port", "5432",
                                           "--username", "app", "--region", "us-east-1"],
        "base: rdsproxyctl token --host": [*old, tool("rdsproxyctl"), *token_args],
        "this: rdsproxyctl token --host": [*new, tool("rdsproxyctl"), *token_args],
    }, baseline="aws rds generate-db-auth-token")
