"""``rdsproxyctl connect``: a timed connection smoke test through a proxy, and load mode."""

from __future__ import annotations

import os
from typing import Annotated, Any, Optional

import typer

from rdsproxyctl.cli import options as o
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


def _from_uri(uri: str) -> dict[str, Any]:
    """host, port, user, dbname, sslmode, sslrootcert of a postgresql:// URI (no password:
    it would be in the shell history; use --password-env, --secret or --iam)."""
    from psycopg.conninfo import conninfo_to_dict

    from rdsproxyctl.errors import UsageError

    try:
        params = conninfo_to_dict(uri)
    except Exception as exc:  # psycopg.ProgrammingError: not a valid URI
        raise UsageError(f"not a valid postgresql:// URI: {str(exc).strip()}") from None
    if params.get("password"):
        raise UsageError("a password in the URI is refused: it ends up in shell history and ps",
                         hint="use --password-env VAR, --secret ARN or --iam")
    if "port" in params:
        params["port"] = int(params["port"])
    return params


def connect_cmd(
    rt: Runtime,
    name: Annotated[Optional[str], typer.Argument(
        help="The proxy's name, or a postgresql:// URI (then no look-up); omit it with --host.",
        show_default=False)] = None,
    iam: Annotated[bool, o.option("--iam")] = False,
    secret: Annotated[Optional[str], o.option(
        "--secret", "Its username is the default user.")] = None,
    password_env: Annotated[Optional[str], o.option("--password-env")] = None,
    user: Annotated[Optional[str], o.option(
        "--user", "Default: PGUSER; with --secret, the secret's username.", envvar=None)] = None,
    database: o.Database = None,
    endpoint: o.Endpoint = None,
    host: o.Host = None,
    port: o.Port = None,
    sslmode: Annotated[Optional[str], o.option(
        "--sslmode", "MySQL: the same --ssl-mode; verify-full is VERIFY_IDENTITY.")] = None,
    ca_bundle: o.CaBundle = None,
    connect_timeout: Annotated[float, o.option("--connect-timeout")] = 10.0,
    count: Annotated[Optional[int], o.option("--count")] = None,
    concurrency: Annotated[int, o.option("--concurrency")] = 10,
    hold: Annotated[float, o.option("--hold")] = 0.0,
    check_backends: Annotated[bool, o.option("--check-backends")] = False,
) -> None:
    """Connect through a proxy and time each phase; on failure say what broke and the fix.

    --user, --database and --sslmode default to PGUSER, PGDATABASE and PGSSLMODE, as psql's
    do (with --secret, the user is the secret's).

    Phases: proxy lookup, DNS, TCP connect, TLS handshake, authentication, first query
    (SELECT 1, current_user, server version). PostgreSQL and MySQL proxies (psycopg,
    PyMySQL). The test never pins a proxy session (no prepared statements, no `options`,
    no SET). Exit codes by failure class: dns, network,
    tls, proxy-limit, pool-timeout 5; iam-auth, password-auth 4; unsupported-option 2;
    database 1.

    Examples:

      rdsproxyctl connect my-proxy --iam --user app

      rdsproxyctl connect my-proxy --secret arn:aws:secretsmanager:...:secret:app-db -o json

      rdsproxyctl connect "postgresql://app@my-proxy.proxy-abc.eu-west-1.rds.amazonaws.com/app" --iam

      rdsproxyctl connect my-proxy --iam --user app --count 200 --concurrency 50 --check-backends
    """
    from rdsproxyctl.core import connect as core
    from rdsproxyctl.core import load

    if name and name.startswith(("postgresql://", "postgres://")):
        uri = _from_uri(name)
        name = None
        host, port = host or uri.get("host"), port or uri.get("port")
        user, database = user or uri.get("user"), database or uri.get("dbname")
        sslmode = sslmode or uri.get("sslmode")
        ca_bundle = ca_bundle or uri.get("sslrootcert")
    if user is None and not secret:
        user = os.environ.get("PGUSER") or None  # psql's default; a secret names its own user
    spec = core.ConnectSpec(proxy=name, endpoint=endpoint, host=host, port=port, user=user,
                            database=database, iam=iam, secret_arn=secret,
                            password_env=password_env, sslmode=sslmode or "verify-full",
                            ca_bundle=ca_bundle, connect_timeout=connect_timeout)
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
