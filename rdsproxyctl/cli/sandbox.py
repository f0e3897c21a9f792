"""``rdsproxyctl sandbox up | down | status | env | demo``: the offline sandbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.output import Column, Fields, Table, View
from rdsproxyctl.cli.runtime import Runtime, command

HELP = """An offline sandbox: the AWS API (moto), a real PostgreSQL with TLS, and a local
RDS Proxy that checks TLS and IAM tokens and pools connections.  No AWS account needed.

Examples:

  rdsproxyctl sandbox up && eval "$(rdsproxyctl sandbox env)"

  rdsproxyctl sandbox demo
"""

DirOption = Annotated[Optional[Path], o.option("--dir", "(env: RDSPROXYCTL_SANDBOX_DIR)")]

PART_COLUMNS = [
    Column("name", "PART"),
    Column("state", "STATE", styled=True),
    Column("pid", "PID"),
    Column("address", "ADDRESS"),
    Column("detail", "WHAT"),
]
PROXY_COLUMNS = [
    Column("name", "PROXY"),
    Column("status", "STATUS", styled=True),
    Column("endpoint", "ADDRESS"),
]


def register(app: typer.Typer) -> None:
    from rdsproxyctl.cli.groups import HelpGroup
    from rdsproxyctl.cli.runtime import reflow

    group = typer.Typer(cls=HelpGroup, no_args_is_help=True, help=reflow(HELP))
    command(group, "up")(up_cmd)
    command(group, "down")(down_cmd)
    command(group, "status")(status_cmd)
    command(group, "env")(env_cmd)
    command(group, "demo")(demo_cmd)
    command(group, "fault")(fault_cmd)
    command(group, "flush")(flush_cmd)
    app.add_typer(group, name="sandbox")


FAULT_COLUMNS = [Column("kind", "FAULT"), Column("proxy", "PROXY"), Column("value", "VALUE"),
                 Column("target", "TARGET"), Column("detail", "WHAT")]


#: What only the sandbox needs (the `sandbox` extra): import name -> distribution.
SANDBOX_MODULES = {"moto": "moto[server]", "flask": "moto[server]", "cryptography": "cryptography"}


def require_sandbox_extra() -> None:
    """Refuse (exit 2) before starting anything when the `sandbox` extra is not installed."""
    from importlib.util import find_spec

    from rdsproxyctl.errors import UsageError

    missing = sorted({dist for module, dist in SANDBOX_MODULES.items()
                      if find_spec(module) is None})
    if missing:
        raise UsageError("the sandbox needs packages that are not installed: "
                         + ", ".join(missing),
                         hint="pip install 'rdsproxyctl[sandbox]'")


def _numbered_steps(rt: Runtime) -> Callable[[str], None]:
    """A demo's progress: each step numbered ([1], [2], ...), indented lines as they are."""
    count = 0

    def step(message: str) -> None:
        nonlocal count
        if not message.startswith(" "):
            count += 1
            message = f"[{count}] {message}"
        rt.renderer.info(message)

    return step


def _dir(path: Path | None) -> Path:
    from rdsproxyctl.sandbox.state import resolve_dir

    return resolve_dir(path)


def status_view(status: Any) -> View:
    from rdsproxyctl.core.models import to_jsonable

    data = to_jsonable(status)
    return View(data, [
        Fields([("directory", data["directory"]), ("region", data["region"]),
                ("AWS endpoint", data["endpoint_url"]), ("CA (PGSSLROOTCERT)", data["ca_file"]),
                ("endpoints", names_line(data.get("names")))],
               title="Sandbox"),
        Table(PART_COLUMNS, data["parts"], title="Parts"),
        Table(PROXY_COLUMNS, data["proxies"], title="Proxies",
              empty="(none: create one with boto3, the AWS CLI or `rdsproxyctl sandbox demo`)"),
        Table(FAULT_COLUMNS, data.get("faults") or [], title="Faults",
              empty="(none: `rdsproxyctl sandbox fault --help` lists them)"),
    ])


def names_line(names: dict[str, Any] | None) -> str:
    """How proxy endpoints are named, in one line (`sandbox up` says which it did)."""
    if not names:
        return "-"
    if names.get("kind") == "hostnames":
        return f"RDS host names (NAME.proxy-ID.REGION.rds.amazonaws.com) via {names.get('reason')}"
    return f"loopback addresses (no host names: {names.get('reason')})"


#: The sandbox's AWS API is moto's: it checks no signature (docs/sandbox.md, "Who can use it").
OPEN_API_WARNING = ("the sandbox's AWS API on 127.0.0.1 accepts any credentials: any user of "
                    "this machine can read its secrets (the app database's password) and change "
                    "its proxies; run it on a machine you do not share")


def up_cmd(rt: Runtime, dir: DirOption = None,
           mysql: Annotated[bool, o.option("--mysql")] = False,
           ) -> None:
    """Start the sandbox, or whatever part of it is not running (safe to run twice).

    Everything listens on loopback only.  As root, PostgreSQL (and MariaDB) run as the
    system user `rdsproxyctl-sandbox` (created when missing), since initdb refuses root.
    --region sets a new sandbox's region (default eu-west-1).  See docs/sandbox.md.

    Examples:

      rdsproxyctl sandbox up

      rdsproxyctl sandbox up --mysql     # MYSQL proxies on 127.0.0.N:3306, MariaDB behind

      rdsproxyctl sandbox up --dir /tmp/sandbox --region eu-central-1 -o json
    """
    from rdsproxyctl.sandbox import manager

    require_sandbox_extra()
    directory = _dir(dir)
    with rt.renderer.status("starting the sandbox") as update:
        status = manager.up(directory, region=rt.options.region, mysql=mysql, progress=update)
    rt.renderer.emit(status_view(status))
    if not status.running:
        from rdsproxyctl.errors import CheckFailed

        raise CheckFailed("some part of the sandbox is not running",
                          hint=f"see the logs: {', '.join(status.log_files)}")
    env_hint = 'eval "$(rdsproxyctl sandbox env' + (f" --dir {directory}" if dir else "") + ')"'
    rt.renderer.warn(OPEN_API_WARNING)
    rt.renderer.success(f"sandbox up; point your shell at it with: {env_hint}")


def down_cmd(rt: Runtime, dir: DirOption = None) -> None:
    """Stop every part of the sandbox and remove what `up` made.

    Examples:

      rdsproxyctl sandbox down

      rdsproxyctl sandbox down --dir /tmp/sandbox
    """
    from rdsproxyctl.core.models import to_jsonable
    from rdsproxyctl.errors import CheckFailed
    from rdsproxyctl.sandbox import manager

    directory = _dir(dir)
    with rt.renderer.status("stopping the sandbox") as update:
        result = manager.down(directory, progress=update)
    data = to_jsonable(result)
    rt.renderer.emit(View(data, [Fields([("directory", data["directory"]),
                                         ("stopped", data["stopped"]),
                                         ("removed", data["removed"])], title="Sandbox down")]))
    if result.leftovers:
        raise CheckFailed("still listening after down: " + ", ".join(result.leftovers),
                          hint="another process holds those ports")
    if not result.stopped and not result.removed:
        rt.renderer.info(f"no sandbox in {directory} (no state.json of `sandbox up`): nothing "
                         "stopped or deleted")


def status_cmd(rt: Runtime, dir: DirOption = None) -> None:
    """Show each part of the sandbox with its pid and address, and the proxies it serves.

    The parts: the AWS API (moto), PostgreSQL, the proxy emulator.  Exit code 1 when a
    part has crashed (`sandbox up` restarts it), 3 when there is no sandbox.

    Examples:

      rdsproxyctl sandbox status

      rdsproxyctl sandbox status -o json | jq -r '.parts[] | "\\(.name) \\(.state)"'
    """
    from rdsproxyctl.errors import CheckFailed
    from rdsproxyctl.sandbox import manager

    status = manager.status(_dir(dir))
    rt.renderer.emit(status_view(status))
    crashed = [p.name for p in status.parts if p.state != "running"]
    if crashed:
        raise CheckFailed("not running: " + ", ".join(crashed),
                          hint="`rdsproxyctl sandbox up` restarts them")


def env_cmd(rt: Runtime, dir: DirOption = None) -> None:
    """Print shell exports that point the AWS CLI, boto3, psql and rdsproxyctl at the sandbox.

    The sandbox's access key, region, endpoint URL, CA (PGSSLROOTCERT) and
    PGSSLMODE=verify-full; AWS_SESSION_TOKEN and AWS_PROFILE are unset.

    Examples:

      eval "$(rdsproxyctl sandbox env)"

      rdsproxyctl sandbox env -o json | jq -r .variables.AWS_ENDPOINT_URL
    """
    from rdsproxyctl.cli.output import OutputFormat
    from rdsproxyctl.sandbox import manager

    sandbox = manager.env(_dir(dir))
    if rt.output is OutputFormat.json:
        rt.renderer.write_json({"variables": sandbox.variables, "unset": sandbox.unset})
        return
    for line in sandbox.shell():
        rt.renderer.write_line(line)


def flush_cmd(rt: Runtime, dir: DirOption = None) -> None:
    """Publish the proxies' CloudWatch metrics and ship their log lines now.

    The emulator publishes RDS Proxy's metrics (namespace AWS/RDS) into the sandbox's
    CloudWatch once a minute; this does it at once and waits until it is done, so
    `aws cloudwatch get-metric-statistics` sees what just happened.

    Examples:

      rdsproxyctl sandbox flush

      rdsproxyctl sandbox flush && aws cloudwatch get-metric-statistics --namespace AWS/RDS \\
        --metric-name DatabaseConnections --dimensions Name=ProxyName,Value=sandbox-demo \\
        --statistics Maximum --period 60 --start-time $(date -u -d -5min +%FT%TZ) \\
        --end-time $(date -u -d +1min +%FT%TZ)
    """
    from rdsproxyctl.core.models import to_jsonable
    from rdsproxyctl.sandbox import manager

    result = manager.flush(_dir(dir))
    data = to_jsonable(result)
    rt.renderer.emit(View(data, [Fields([("directory", data["directory"]),
                                         ("metrics published", data["metrics_published"]),
                                         ("seconds", data["seconds"])], title="Sandbox flush")]))


LOG_COLUMNS = [Column("line", "LOG LINE")]


def _demo_cluster(rt: Runtime, dir: Optional[Path]) -> None:
    from rdsproxyctl.cli.output import OutputFormat
    from rdsproxyctl.cli.proxies import targets_view
    from rdsproxyctl.core.models import to_jsonable
    from rdsproxyctl.sandbox import demo_cluster

    directory = _dir(dir)
    step = _numbered_steps(rt)

    result = demo_cluster.run(directory, step, debug=rt.options.debug)
    data = to_jsonable(result)
    writer, reader = result.checks[0], result.checks[-1]
    rt.renderer.success(
        f"pg_is_in_recovery() is {str(writer.in_recovery).lower()} through {writer.endpoint_name} "
        f"and {str(reader.in_recovery).lower()} through {reader.endpoint_name}")
    if rt.output is OutputFormat.json:
        rt.renderer.write_json(data)
        return
    rt.renderer.emit(View(data, [
        Fields([("proxy", result.proxy_name), ("DB cluster", result.cluster),
                ("cluster endpoint", result.cluster_endpoint),
                ("reader endpoint", result.reader_endpoint)], title="Cluster demo"),
        Table(CHECK_COLUMNS, data["checks"], title="Endpoints"),
        *targets_view(result.targets).sections]))
    flag = f" --dir {directory}" if dir else ""
    rt.renderer.info(f"try `rdsproxyctl sandbox fault failover --proxy {result.proxy_name}{flag}`")


ClusterFlag = Annotated[bool, o.option("--cluster")]

CHECK_COLUMNS = [Column("endpoint_name", "ENDPOINT"), Column("target_role", "ROLE"),
                 Column("host", "HOST"), Column("in_recovery", "PG_IS_IN_RECOVERY"),
                 Column("server_address", "SERVED BY")]


def demo_cmd(rt: Runtime, dir: DirOption = None, cluster: ClusterFlag = False,
             engine: Annotated[str, o.option(
                 "--engine", "On the sandbox: postgresql, or mysql (a MYSQL proxy on the "
                 "sandbox's MariaDB, started if needed).")] = "postgresql") -> None:
    """Run the main job end to end on the sandbox, showing each step.

    Starts the sandbox if needed, creates a proxy (POSTGRESQL or MYSQL, RequireTLS, IAM
    REQUIRED, idle timeout 1800 s, 75% of max_connections) with the database as its
    target and waits for it, connects with an IAM token over verify-full TLS and runs a
    query, shows the proxy, diagnoses it, and prints its recent log lines.  With
    --cluster: creates an Aurora PostgreSQL cluster (a real writer and streaming reader),
    a proxy on it with a READ_ONLY endpoint, asks each endpoint `SELECT
    pg_is_in_recovery()` and lists the targets with their roles.

    Examples:

      rdsproxyctl sandbox demo

      rdsproxyctl sandbox demo --engine mysql

      rdsproxyctl sandbox demo -o json | jq .connect

      rdsproxyctl sandbox demo --cluster
    """
    if cluster:
        if engine.lower() != "postgresql":
            from rdsproxyctl.errors import UsageError

            raise UsageError("--cluster makes an Aurora PostgreSQL cluster: it takes no --engine "
                             f"{engine}")
        _demo_cluster(rt, dir)
        return
    from rdsproxyctl.cli.diagnose import report_view
    from rdsproxyctl.cli.output import OutputFormat
    from rdsproxyctl.cli.proxies import show_view
    from rdsproxyctl.core.models import to_jsonable
    from rdsproxyctl.sandbox import demo

    require_sandbox_extra()
    directory = _dir(dir)
    step = _numbered_steps(rt)

    engine = engine.lower()
    if engine not in demo.ENGINES:
        from rdsproxyctl.errors import UsageError

        raise UsageError(f"--engine {engine}: the demo runs postgresql or mysql")
    result = demo.run(directory, step, debug=rt.options.debug, engine=engine)
    data = to_jsonable({k: v for k, v in vars(result).items() if k != "details"})
    data["proxy"] = to_jsonable(result.details)
    smoke = result.connect
    rt.renderer.success(
        f"connected through {smoke.host}:{smoke.port} as {smoke.current_user} to "
        f"{smoke.database} ({'MySQL' if smoke.engine == 'mysql' else 'PostgreSQL'} "
        f"{smoke.server_version}) in {smoke.total_seconds:.3f} s; "
        f"diagnose: {result.diagnose.worst}")
    if rt.output is OutputFormat.json:
        rt.renderer.write_json(data)
        return
    rows = [{"line": line} for line in result.log_lines]
    rt.renderer.emit(View(data, [*show_view(result.details).sections,
                                 *report_view([result.diagnose]).sections,
                                 Table(LOG_COLUMNS, rows, title=f"Log group {result.log_group}",
                                       empty="(no lines yet)")]))
    flag = f" --dir {directory}" if dir else ""
    rt.renderer.info(f'the sandbox is still running: eval "$(rdsproxyctl sandbox env{flag})" '
                     f"to use it; `rdsproxyctl sandbox down{flag}` stops it")


FaultKind = Annotated[str, typer.Argument(
    help="failover | db-restart [SECONDS] | db-down | db-slow SECONDS | secret-denied | "
    "secret-broken | pool-exhausted | replica-broken | client-limit N | connection-rate N | "
    "clear", show_default=False)]
FaultValue = Annotated[Optional[float], typer.Argument(
    help="db-slow/db-restart: seconds; client-limit: connections; connection-rate: per second.",
    show_default=False)]
FaultProxy = Annotated[Optional[str], o.option("--proxy")]


def fault_cmd(kind: FaultKind, rt: Runtime, value: FaultValue = None, proxy: FaultProxy = None,
              dir: DirOption = None) -> None:
    """Inject a fault into the sandbox (or `clear` them), to rehearse a bad day.

    Each shows where it would on AWS: target health, the client's error, the proxy's
    log lines.  Database faults act on the proxy's target (the sandbox's PostgreSQL, or
    the writer of a sandbox Aurora cluster).  `sandbox status` lists active faults;
    `clear` ends them (all, or the proxy's with --proxy).  See docs/sandbox.md.

    Examples:

      rdsproxyctl sandbox fault failover --proxy sandbox-demo-cluster

      rdsproxyctl sandbox fault db-slow 0.5 --proxy sandbox-demo

      rdsproxyctl sandbox fault clear
    """
    from rdsproxyctl.core.models import to_jsonable
    from rdsproxyctl.sandbox import faults

    directory = _dir(dir)
    if kind == "clear":
        if value is not None:
            from rdsproxyctl.errors import UsageError

            raise UsageError("`fault clear` takes no value")
        with rt.renderer.status("clearing faults"):
            answer = faults.request(directory, "clear", proxy=proxy)
    else:
        value = faults.validate(kind, value)
        with rt.renderer.status(f"fault {kind}"):
            answer = faults.request(directory, "set", kind=kind, proxy=proxy, value=value)
    data = to_jsonable(answer)
    rt.renderer.emit(View(data, [
        Table(FAULT_COLUMNS, data["faults"], title="Cleared" if kind == "clear" else "Fault",
              empty="(no fault was active)"),
        Table(FAULT_COLUMNS, data["active"], title="Active faults", empty="(none)")]))
    rt.renderer.success(answer.message)
