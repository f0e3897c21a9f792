"""An RDS Proxy emulator for PostgreSQL clients (wire protocol v3), on asyncio.

* :mod:`.messages` -- THE table of client-facing errors and log lines (RDS Proxy wording)
* :mod:`.protocol` -- message framing, the startup packet, message builders
* :mod:`.scram` -- SCRAM-SHA-256 (server and client side) and MD5 password checks
* :mod:`.iamtoken` -- RDS IAM auth token validation (SigV4, recomputed with botocore)
* :mod:`.control` -- the proxy's view of the sandbox's AWS (moto's in-process backends)
* :mod:`.pool` -- backend connections and the per-target pool
* :mod:`.logs` -- log lines, batched to CloudWatch Logs
* :mod:`.server` -- listeners and client sessions
* :mod:`.health` -- target health checks, written to DescribeDBProxyTargets
"""
