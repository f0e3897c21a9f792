"""Start-up weight and `show` against the AWS CLI's describe call."""

from __future__ import annotations

import json
import subprocess
import sys

from runner import Bench, benchmark, fake_aws_env, moto_server, tool

SEED = r"""
import json, sys, boto3
s = boto3.Session(region_name="us-east-1")
kw = dict(endpoint_url=sys.argv[1])
ec2, rds, sm, iam = (s.client(n, **kw) for n in ("ec2", "rds", "secretsmanager", "iam"))
subnets = [x["SubnetId"] for x in ec2.describe_subnets()["Subnets"]][:2]
secret = sm.create_secret(Name="app", SecretString=json.dumps({"username": "app", "password": "pw"}))["ARN"]
role = iam.create_role(RoleName="proxy-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
rds.create_db_instance(DBInstanceIdentifier="db1", Engine="postgres", DBInstanceClass="db.t3.micro",
                       MasterUsername="x", MasterUserPassword="password1", AllocatedStorage=20)
rds.create_db_proxy(DBProxyName="demo", EngineFamily="POSTGRESQL", RoleArn=role, VpcSubnetIds=subnets,
                    Auth=[{"AuthScheme": "SECRETS", "SecretArn": secret, "IAMAuth": "REQUIRED"}], RequireTLS=True)
rds.register_db_proxy_targets(DBProxyName="demo", DBInstanceIdentifiers=["db1"])
rds.create_db_proxy_endpoint(DBProxyName="demo", DBProxyEndpointName="reader", VpcSubnetIds=subnets,
                             TargetRole="READ_ONLY")
"""


@benchmark("startup")
def startup(bench: Bench) -> None:
    """`rdsproxyctl --help` against a minimal typer app with two commands."""
    bench.compare(
        "--help: rdsproxyctl against a minimal two-command typer app",
        {
            "minimal typer app --help": [sys.executable, "benchmarks/minimal_typer_app.py", "--help"],
            "rdsproxyctl --help": [tool("rdsproxyctl"), "--help"],
            "rdsproxyctl show --help": [tool("rdsproxyctl"), "show", "--help"],
        },
        baseline="minimal typer app --help",
    )


@benchmark("show")
def show(bench: Bench) -> None:
    """`rdsproxyctl show NAME -o json` against `aws rds describe-db-proxies` (same moto server)."""
    env = fake_aws_env()
    with moto_server(env) as url:
        subprocess.run([sys.executable, "-c", SEED, url], env=env, check=True)
        out = subprocess.run([tool("rdsproxyctl"), "--endpoint-url", url, "show", "demo", "-o", "json"],
                             env=env, check=True, capture_output=True, text=True).stdout
        calls = len(json.loads(out)["endpoints"])
        bench.env = env
        bench.compare(
            "show NAME -o json (5 API calls, 4 in parallel) vs aws rds describe-db-proxies (1 call)",
            {
                "aws rds describe-db-proxies": [tool("aws"), "--endpoint-url", url, "rds",
                                                "describe-db-proxies", "--db-proxy-name", "demo"],
                "rdsproxyctl show -o json": [tool("rdsproxyctl"), "--endpoint-url", url, "show",
                                             "demo", "-o", "json"],
            },
            baseline="aws rds describe-db-proxies",
            notes={"endpoints reported by show": calls},
        )
