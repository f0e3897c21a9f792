"""The offline sandbox: a moto server, a real PostgreSQL with TLS and a local RDS Proxy.

Core side of ``rdsproxyctl sandbox``: nothing here imports typer or rich.

* :mod:`.state` -- the state directory, its JSON state file, process checks
* :mod:`.certs` -- a throwaway CA and the server certificate (127.0.0.1-254, RDS names)
* :mod:`.hostnames` -- RDS host names on loopback: the sandbox's block in /etc/hosts
* :mod:`.postgres` -- initdb / pg_ctl as an unprivileged user, TLS on
* :mod:`.seed` -- what ``up`` creates in the API (IAM user and keys, secret, role, VPC, DB)
* :mod:`.daemon` -- the one long-running process: moto server + emulator + log shipper
* :mod:`.aurora` / :mod:`.clusters` -- Aurora PostgreSQL clusters (writer + streaming reader)
* :mod:`.faults` -- ``sandbox fault``: failover, database, secret, pool faults and limits
* :mod:`.manager` -- up / down / status / env
* :mod:`.demo` / :mod:`.demo_cluster` -- the main job end to end (and on a cluster)
* :mod:`.emulator` -- the RDS Proxy emulator (PostgreSQL wire protocol v3)
"""
