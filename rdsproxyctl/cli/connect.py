"""``rdsproxyctl connect``: a timed connection smoke test through a proxy, and load mode."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from rdsproxyctl.cli.output import Column, Fields, Table, View
from rdsproxyctl.cli.runtime import Runtime, command
from rdsproxyctl.core.models import to_jsonable
from rdsproxyctl.errors import ExitCode, ExitWith


def register(app: typer.Typer) -> None:
    command(app, "connect")(connect_cmd)


PHASE_COLUMNS = [Column("name", "PHASE"), Column("ms", "TIME (ms)"),
                 Column("result", "RESULT", styled=True)]
LATENCY_COLUMNS = [Column("phase", "PHASE"), Column("p50", "P50 ms"), Column("p95", "P95 ms"),
                   Column("p99", "P99 ms"), Column("max", "MAX ms")]


def smoke_view(result: Any) -> View:
    data = to_jsonable(result)
    rows = [{"name": p["name"], "ms": None if p["seconds"] is None else round(p["seconds"] * 1000, 1),
             "result": "ok" if p["ok"] else "FAIL"} for p in data["phases"]]
    rows.append({"name": "total", "ms": round(data["total_seconds"] * 1000, 1),
                 "result": "ok" if data["ok"] else "FAIL"})
    where = f"proxy {data['proxy']}" if data["proxy"] else "host"
    pairs: list[tuple[str, Any]] = [
        ("target", f"{data['host']}:{data['port']} ({where})"),
        ("user / database", f"{data['user']} / {data['database']}"),
        ("authentication", data["auth"]),
    ]
    if data["ok"]:
        product = "MySQL" if data.get("engine") == "mysql" else "PostgreSQL"
        pairs.append(("result", f"connected as {data['current_user']}, {product} "
                                f"{data['server_version']}"))
    else:
        f = data["failure"]
        pairs += [("result", "FAIL"), ("failed phase", f["phase"]), ("class", f["klass"]),
                  ("message", f["message"]), ("remedy", f["remedy"])]
        pairs += [(k.replace("_", " "), v) for k, v in f["details"].items()]
    return View(data, [Table(PHASE_COLUMNS, rows, title="Phases"),
                       Fields(pairs, title="Connection")])


def load_view(result: Any) -> View:
    data = to_jsonable(result)
    rows = [{"phase": phase, **values} for phase, values in data["latency_ms"].items()]
    pairs: list[tuple[str, Any]] = [
        ("connections", f"{data['succeeded']} ok, {data['failed']} failed of {data['count']}"),
        ("concurrency", data["concurrency"]),
        ("wall time (s)", data["wall_seconds"]),
        ("connects per second", data["connects_per_second"]),
    ]
    if data["backends_max"] is not None:
        pairs.append(("backend connections (max seen)", data["backends_max"]))
    for klass, n in data["errors"].items():
        pairs.append((f"errors: {klass}", f"{n} ({data['error_examples'].get(klass, '')})"))
    return View(data, [Fields(pairs, title="Load"), Table(LATENCY_COLUMNS, rows,
                                                          title="Latency per phase")])


def connect_cmd(
    rt: Runtime,
    name: Annotated[Optional[str], typer.Argument(
        help="The proxy's name; omit it with --host.", show_default=False)] = None,
    iam: Annotated[bool, typer.Option("--iam", help="Authenticate with an IAM token.")] = False,
    secret: Annotated[Optional[str], typer.Option(
        "--secret", help="Read user and password from this Secrets Manager secret.",
        show_default=False)] = None,
    password_env: Annotated[Optional[str], typer.Option(
        "--password-env", help="Read the password from this environment variable.",
        show_default=False)] = None,
    user: Annotated[Optional[str], typer.Option(
        "--user", "-u", help="Database user (default with --secret: the secret's username).",
        show_default=False)] = None,
    database: Annotated[Optional[str], typer.Option(
        "--database", "-d", help="Database name (default: the user name).",
        show_default=False)] = None,
    endpoint: Annotated[Optional[str], typer.Option(
        "--endpoint", help="One of the proxy's extra endpoints.", show_default=False)] = None,
    host: Annotated[Optional[str], typer.Option(
        "--host", help="Connect here without looking the proxy up.", show_default=False)] = None,
    port: Annotated[Optional[int], typer.Option(
        "--port", help="Port for --host (default 5432; 3306 means a MySQL proxy).",
        show_default=False)] = None,
    sslmode: Annotated[str, typer.Option(
        "--sslmode", help="libpq sslmode (MySQL: the same --ssl-mode; verify-full is "
        "VERIFY_IDENTITY).")] = "verify-full",
    ca_bundle: Annotated[Optional[str], typer.Option(
        "--ca-bundle", help="CA certificates to verify the proxy (default: PGSSLROOTCERT, "
        "else the OS trust store, which holds the Amazon roots).", show_default=False)] = None,
    connect_timeout: Annotated[float, typer.Option(
        "--connect-timeout", help="Seconds before a connection attempt gives up.")] = 10.0,
    count: Annotated[Optional[int], typer.Option(
        "--count", help="Load mode: this many connections in all.", show_default=False)] = None,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", help="Load mode: this many at a time.")] = 10,
    hold: Annotated[float, typer.Option(
        "--hold", help="Load mode: keep each connection open this many seconds.")] = 0.0,
    check_backends: Annotated[bool, typer.Option(
        "--check-backends", help="Load mode: report the most backend connections the "
        "database held (pg_stat_activity; MySQL: information_schema.processlist), to see "
        "the pooling.")] = False,
) -> None:
    """Connect through a proxy and time each phase; on failure say what broke and the fix.

    Phases: proxy lookup, DNS, TCP connect, TLS handshake, authentication, first query
    (SELECT 1, current_user, server version). PostgreSQL and MySQL proxies (psycopg,
    PyMySQL). The test never pins a proxy session (no prepared statements, no `options`,
    no SET). Exit codes by failure class: dns, network,
    tls, proxy-limit, pool-timeout 5; iam-auth, password-auth 4; unsupported-option 2;
    database 1.

    Examples:

      rdsproxyctl connect my-proxy --iam --user app

      rdsproxyctl connect my-proxy --secret arn:aws:secretsmanager:...:secret:app-db -o json

      rdsproxyctl connect my-proxy --iam --user app --count 200 --concurrency 50 --check-backends
    """
    from rdsproxyctl.core import connect as core
    from rdsproxyctl.core import load

    spec = core.ConnectSpec(proxy=name, endpoint=endpoint, host=host, port=port, user=user,
                            database=database, iam=iam, secret_arn=secret,
                            password_env=password_env, sslmode=sslmode, ca_bundle=ca_bundle,
                            connect_timeout=connect_timeout)
    if count is not None:
        load.validate(count, concurrency, hold)
        prepared = core.prepare(rt.aws, spec)
        for warning in prepared.warnings:
            rt.renderer.warn(warning)
        with rt.renderer.progress("connecting", count) as update:
            result = load.run_sync(prepared, count, concurrency, hold, check_backends,
                                   progress=lambda done, _total: update(done))
        rt.renderer.emit(load_view(result))
        if result.failed:
            summary = ", ".join(f"{k} {n}" for k, n in result.errors.items())
            raise ExitWith(f"{result.failed} of {result.count} connections failed ({summary})",
                           ExitCode.CHECK_FAILED)
        return
    result = core.smoke_test(rt.aws, spec)
    for warning in result.warnings:
        rt.renderer.warn(warning)
    rt.renderer.emit(smoke_view(result))
    if result.failure is not None:
        f = result.failure
        raise ExitWith(f"{f.klass} failure in {f.phase}: {f.message}", f.exit_code, hint=f.remedy)
