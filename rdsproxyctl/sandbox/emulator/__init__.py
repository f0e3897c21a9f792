"""An RDS Proxy emulator on asyncio: protocol-agnostic pooling, one adapter per engine.

Protocol-agnostic (docs/sandbox.md, "Engine adapters"):

* :mod:`.server` -- listeners, pools, sessions, metric sampling; ``ADAPTERS`` by engine family
* :mod:`.session` -- ``SessionCore``: borrowing, returning, pinning, idle time, counters
* :mod:`.pool` -- the per-target pool (FIFO borrow queue, caps, reset) over ``Backend``s
* :mod:`.metrics` -- RDS Proxy's CloudWatch metrics
* :mod:`.messages` -- THE table of client-facing errors and log lines (RDS Proxy wording)
* :mod:`.control` -- the proxy's view of the sandbox's AWS (moto's in-process backends)
* :mod:`.logs` -- log lines, batched to CloudWatch Logs
* :mod:`.health` -- target health checks, written to DescribeDBProxyTargets

The PostgreSQL adapter:

* :mod:`.pgsession` -- a client session: startup, client authentication, first borrow
* :mod:`.pgrelay` -- the multiplexing relay (request accounting, statements, pinning)
* :mod:`.pgbackend` -- a connection to PostgreSQL (a pool ``Backend``)
* :mod:`.pgpinning` -- which SQL pins, and its digest
* :mod:`.protocol` -- message framing, the startup packet, message builders
* :mod:`.scram` -- SCRAM-SHA-256 (server and client side) and MD5 password checks
* :mod:`.iamtoken` -- RDS IAM auth token validation (SigV4, recomputed with botocore)

The MySQL adapter (:mod:`.mysql`, on 3306; it shares :mod:`.iamtoken`):

* :mod:`.mysql.session` -- its listener and client sessions: handshake, TLS, client
  authentication, multiplexing from the server status flags
* :mod:`.mysql.backend` -- a connection to MariaDB/MySQL (a pool ``Backend``) and the opener
* :mod:`.mysql.packets` -- the wire protocol: framing, connection phase, response scanner
* :mod:`.mysql.pinning` -- which SQL pins, what is tracked, and its digest
"""
