"""The sandbox's one long-running process: ``python -m rdsproxyctl.sandbox.daemon DIR``.

It runs, in one process so they share moto's in-process backends:

* a moto server (with :func:`rdsproxyctl.motoext.install`) on 127.0.0.1, in a thread;
* the RDS Proxy emulator (asyncio, main thread): one listener per proxy endpoint,
  bound by the moto extension's endpoint allocator when the API creates it;
* the target health checker and the log shipper.

At start it seeds the API (:mod:`.seed`) with moto's random generator seeded from the
state file, so a restarted daemon hands out the same access keys and ARNs.  When
ready it writes ``daemon.json``; SIGTERM or SIGINT stop it cleanly.  ``sandbox up``
starts it; nothing else should.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import Any

from rdsproxyctl.sandbox import state as st

log = logging.getLogger("rdsproxyctl.sandbox")

#: Credentials the daemon signs its own seeding calls with (moto ignores them).
_BOOTSTRAP_KEY = ("AKIASANDBOXBOOTSTRAP", "sandbox-bootstrap-secret")


def _environment(region: str) -> None:
    from rdsproxyctl.sandbox import hostnames

    keep = {k: os.environ[k] for k in (hostnames.ENV_FILE, hostnames.ENV_SWITCH)
            if k in os.environ}  # how `up` asked endpoints to be named
    for var in list(os.environ):
        if var.startswith(("AWS_", "RDSPROXYCTL_")):
            del os.environ[var]
    os.environ.update(
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
        AWS_ACCESS_KEY_ID=_BOOTSTRAP_KEY[0],
        AWS_SECRET_ACCESS_KEY=_BOOTSTRAP_KEY[1],
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE="/nonexistent/rdsproxyctl-sandbox",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/rdsproxyctl-sandbox",
        AWS_EC2_METADATA_DISABLED="true",
        **keep,
    )


def _start_moto(port: int | None) -> Any:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    for candidate in ([port] if port else []) + [0]:
        if candidate and not st.port_is_free("127.0.0.1", candidate):
            continue
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=candidate, verbose=False)
        server.start()
        return server
    raise RuntimeError("no port for the moto server")  # pragma: no cover


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    directory = Path(argv[0]).resolve()
    state = st.read_json(directory / st.STATE_FILE)
    if state is None:
        print(f"no sandbox state in {directory}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    region = state["region"]
    loop = os.environ.get("RDSPROXYCTL_SANDBOX_LOOP", "auto")  # before the clean-up
    _environment(region)

    from moto.moto_api._internal import mock_random

    from rdsproxyctl import motoext
    from rdsproxyctl.core.aws import Aws, AwsSettings
    from rdsproxyctl.sandbox import seed

    motoext.install()
    motoext.settings.REGISTERED_TARGET_HEALTH = "REGISTERING"
    motoext.settings.URL_IDENTIFIER = state.get("dns_id")
    from rdsproxyctl.sandbox import aurora

    stale = aurora.remove_all(directory)  # a crashed daemon's clusters: the API forgot them
    if stale:
        log.info("removed the servers of DB clusters the API no longer knows: %s", stale)
    mock_random.seed(int(state["seed"]))
    started = time.monotonic()
    server = _start_moto(state.get("api", {}).get("port"))
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    pg = state["postgres"]
    app = state["app"]
    seeded = seed.seed(Aws(AwsSettings(endpoint_url=url, region=region, max_attempts=2)),
                       db_host=pg["host"], db_port=pg["port"],
                       superuser_password=pg["superuser_password"], app_user=app["user"],
                       app_password=app["password"], app_database=app["database"])
    motoext.set_instance_endpoint(seeded.account_id, region, seeded.db_instance, pg["host"],
                                  pg["port"])
    seeded = _seed_mysql(state, seeded, url)
    log.info("moto server on %s, seeded in %.2fs", url, time.monotonic() - started)
    try:
        _run_loop(_serve(directory, state, seeded, url, port), loop)
    finally:
        motoext.set_endpoint_allocator(None)
        server.stop()
    log.info("stopped")
    return 0


def _run_loop(main: Any, choice: str) -> None:
    """The event loop RDSPROXYCTL_SANDBOX_LOOP asks for: ``auto`` (the default) runs on
    uvloop when it is installed (the ``sandbox`` extra installs it: about 1.6x the relay's
    throughput, docs/performance.md) and on asyncio's loop otherwise; ``uvloop`` warns when
    it is missing; ``asyncio`` always runs asyncio's."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                log.warning("RDSPROXYCTL_SANDBOX_LOOP=uvloop but uvloop is not installed "
                            "(pip install 'rdsproxyctl[sandbox]'): using asyncio's loop")
        else:
            log.info("event loop: uvloop %s", uvloop.__version__)
            uvloop.run(main)
            return
    asyncio.run(main)


async def _serve(directory: Path, state: dict[str, Any], seeded: Any, url: str,
                 port: int) -> None:
    from rdsproxyctl import motoext
    from rdsproxyctl.sandbox import hostnames
    from rdsproxyctl.sandbox.emulator.control import Control
    from rdsproxyctl.sandbox.emulator.health import HealthChecker
    from rdsproxyctl.sandbox.emulator.logs import LogShipper
    from rdsproxyctl.sandbox.emulator.server import Emulator, LoopbackAllocator

    loop = asyncio.get_running_loop()
    control = Control(seeded.account_id, seeded.region)
    shipper = LogShipper(control, directory / st.EMULATOR_LOG)
    server_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    server_ssl.load_cert_chain(directory / st.CERT_FILE, directory / st.KEY_FILE)
    backend_ssl = ssl.create_default_context(cafile=str(directory / st.CA_FILE))
    emulator = Emulator(control, shipper, server_ssl, backend_ssl)
    block = hostnames.HostsBlock(str(directory))
    mode = hostnames.choose(block, state.get("dns_id"), state["region"])
    log.info("proxy endpoints: %s (%s)", mode.kind, mode.reason)
    names = hostnames.Names(block, state.get("dns_id") or "", state["region"], mode)
    allocator = LoopbackAllocator(emulator, loop, names=names)
    from rdsproxyctl.sandbox.clusters import Clusters

    clusters = Clusters(directory, state, names, seeded.account_id, seeded.region)
    motoext.set_cluster_provisioner(clusters)
    emulator.replication = clusters.replicating
    motoext.set_endpoint_allocator(allocator)
    health = HealthChecker(control, emulator, backend_ssl)
    info: dict[str, Any] = {
        "pid": os.getpid(), "ready": True, "api": {"host": "127.0.0.1", "port": port, "url": url},
        "seeded": seeded.to_dict(), "db_port": state["postgres"]["port"],
        "names": mode.to_dict(),
        "mysql_port": (state.get("mariadb") or {}).get("port"),
        "started_at": time.time()}
    from rdsproxyctl.core.aws import Aws, AwsSettings
    from rdsproxyctl.sandbox.faults import Controller

    faults = Controller(directory, state, control, emulator, clusters, seeded,
                        Aws(AwsSettings(endpoint_url=url, region=seeded.region, max_attempts=2)))
    tasks = [loop.create_task(shipper.run()), loop.create_task(health.run()),
             loop.create_task(faults.run()),
             loop.create_task(_write_snapshots(directory, emulator)),
             loop.create_task(_follow_postgres(directory, seeded, info))]
    flush_now = asyncio.Event()
    tasks.append(loop.create_task(_publish_metrics(directory, emulator, shipper, flush_now)))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, flush_now.set)  # `rdsproxyctl sandbox flush`
    st.write_json(directory / st.DAEMON_FILE, info)
    log.info("ready")
    await stop.wait()
    log.info("stopping")
    motoext.set_endpoint_allocator(None)
    await emulator.shutdown()
    allocator.close_all()
    motoext.set_cluster_provisioner(None)
    clusters.shutdown()
    names.clear()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    shipper.close()


def _seed_mysql(state: dict[str, Any], seeded: Any, url: str) -> Any:
    """With MariaDB in the state: the ``sandbox-mysql`` DB instance (once), pointed at it."""
    from rdsproxyctl import motoext
    from rdsproxyctl.core.aws import Aws, AwsSettings
    from rdsproxyctl.sandbox import seed

    my = state.get("mariadb")
    if not my:
        return seeded
    if seeded.mysql_instance is None:
        seeded = seed.seed_mysql(Aws(AwsSettings(endpoint_url=url, region=seeded.region,
                                                 max_attempts=2)),
                                 seeded, db_port=my["port"],
                                 superuser_password=my["superuser_password"])
    motoext.set_instance_endpoint(seeded.account_id, seeded.region, seeded.mysql_instance,
                                  my["host"], my["port"])
    return seeded


async def _follow_postgres(directory: Path, seeded: Any, info: dict[str, Any]) -> None:
    """When ``up`` restarts PostgreSQL on another port, point the DB instance (and its
    proxy targets) at it, without restarting the API (which would lose its state)."""
    from rdsproxyctl import motoext

    while True:
        await asyncio.sleep(0.5)
        state = st.read_json(directory / st.STATE_FILE) or {}
        pg = state.get("postgres") or {}
        if pg.get("port") and pg["port"] != info["db_port"]:
            motoext.set_instance_endpoint(seeded.account_id, seeded.region, seeded.db_instance,
                                          pg["host"], pg["port"])
            info["db_port"] = pg["port"]
            st.write_json(directory / st.DAEMON_FILE, info)
            log.info("PostgreSQL moved to %s:%s", pg["host"], pg["port"])
        my = state.get("mariadb") or {}
        if my.get("port") and my["port"] != info.get("mysql_port"):
            # MariaDB added to a running sandbox (`up --mysql`), or restarted on a new port
            seeded = await asyncio.to_thread(_seed_mysql, state, seeded, info["api"]["url"])
            info["seeded"] = seeded.to_dict()
            info["mysql_port"] = my["port"]
            st.write_json(directory / st.DAEMON_FILE, info)
            log.info("MariaDB at %s:%s", my["host"], my["port"])


async def _publish_metrics(directory: Path, emulator: Any, shipper: Any,
                           now: asyncio.Event) -> None:
    """RDS Proxy's CloudWatch metrics once a minute, and at once on SIGUSR1 (``sandbox
    flush``, which then waits for ``metrics_published`` in ``emulator.json`` to grow);
    the log lines are flushed too."""
    from rdsproxyctl.sandbox.emulator.metrics import PUBLISH_INTERVAL

    while True:
        try:
            await asyncio.wait_for(now.wait(), PUBLISH_INTERVAL)
        except asyncio.TimeoutError:
            pass
        now.clear()
        try:
            shipper.flush()
            emulator.publish_metrics()
            st.write_json(directory / st.EMULATOR_STATE, {**emulator.snapshot(), "at": time.time()})
        except Exception:  # noqa: BLE001 - metrics must not stop the daemon
            log.exception("could not publish metrics")


async def _write_snapshots(directory: Path, emulator: Any, interval: float = 0.25) -> None:
    """Keep ``emulator.json`` (pools, sessions, listeners) current, for tests and debugging:
    rewritten every ``interval`` seconds, ``at`` saying when."""
    while True:
        try:
            st.write_json(directory / st.EMULATOR_STATE, {**emulator.snapshot(), "at": time.time()})
        except Exception:  # noqa: BLE001 - a diagnostic file must not stop the daemon
            log.exception("could not write %s", st.EMULATOR_STATE)
        await asyncio.sleep(interval)


if __name__ == "__main__":  # pragma: no cover - run by `sandbox up`
    raise SystemExit(main())
