"""``rdsproxyctl token``: mint an IAM auth token for a proxy."""

from __future__ import annotations

import shlex
from enum import Enum
from typing import Annotated, Optional

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.output import OutputFormat
from rdsproxyctl.cli.runtime import Runtime, command
from rdsproxyctl.errors import UsageError


MYSQL_PORT = 3306


def mysql_options(host: str, port: int, user: str, database: str | None, ca: str) -> str:
    """The mysql client's options for a proxy, without the password: the cleartext plugin
    (how the token travels) and verified TLS, for Oracle's client (``--ssl-mode``) and
    MariaDB's (``--ssl-verify-server-cert``) alike: the ``loose-`` prefix makes each
    client ignore the option it doesn't know."""
    options = [f"--host={host}", f"--port={port}", f"--user={user}",
               "--enable-cleartext-plugin", "--loose-ssl-mode=VERIFY_IDENTITY",
               "--loose-ssl-verify-server-cert"]
    if ca != "system":
        options.append(f"--ssl-ca={ca}")
    if database:
        options.append(f"--database={database}")
    return " ".join(shlex.quote(o) for o in options)


def mysql_env(host: str, port: int, token: str) -> list[str]:
    """``export`` lines the mysql client reads (host, port, password)."""
    return [f"export MYSQL_HOST={shlex.quote(host)}", f"export MYSQL_TCP_PORT={port}",
            f"export MYSQL_PWD={shlex.quote(token)}"]


class TokenFormat(str, Enum):
    token = "token"
    env = "env"
    json = "json"
    dsn = "dsn"


def register(app: typer.Typer) -> None:
    command(app, "token")(token_cmd)


def token_cmd(
    rt: Runtime,
    name: o.OptionalProxyName = None,
    user: o.User = None,
    endpoint: o.Endpoint = None,
    host: Annotated[Optional[str], o.option(
        "--host", "Signs with no API call (with --port and --region).")] = None,
    port: o.Port = None,
    database: Annotated[Optional[str], o.option("--database", "For --format env/dsn.")] = None,
    fmt: Annotated[Optional[str], o.option("--format", "Default: token (json with -o json).")] = None,
    ca_bundle: o.CaBundle = None,
) -> None:
    """Mint an IAM authentication token for a proxy (valid 15 minutes).

    The token is signed locally with your AWS credentials for the proxy's endpoint, port and
    region; only the token is printed, so it can feed PGPASSWORD.  --user and --database
    default to PGUSER and PGDATABASE, as psql's do.

    Examples:

      PGPASSWORD=$(rdsproxyctl token my-proxy --user app) psql "host=... user=app sslmode=verify-full"

      export PGUSER=app; rdsproxyctl token my-proxy      # --user from PGUSER, as psql

      psql "$(rdsproxyctl token my-proxy --user app --format dsn)"   # with PGPASSWORD set as above

      eval "$(rdsproxyctl token my-proxy --user app --format env)" && psql

      rdsproxyctl token --host my-proxy.proxy-abc.eu-west-1.rds.amazonaws.com --port 5432 \\
          --region eu-west-1 --user app      # no API call at all

      mysql $(rdsproxyctl token my-mysql-proxy --user app --format dsn) \\
          --password="$(rdsproxyctl token my-mysql-proxy --user app)"    # a MySQL proxy
    """
    from rdsproxyctl.core import tokens

    if not user:
        raise UsageError("--user is required: the database user the token is for",
                         hint="pass --user NAME, or set PGUSER as psql reads it")
    if host and (name or endpoint):
        raise UsageError("give a proxy NAME or --host, not both")
    if not host and not name:
        raise UsageError("give a proxy NAME, or --host (with --port and --region)")
    if fmt is None:
        fmt = TokenFormat.json if rt.output is OutputFormat.json else TokenFormat.token
    fmt = TokenFormat(fmt.lower())
    engine = "POSTGRESQL"
    if host:
        port = port if port is not None else 5432
        region = None
    else:
        target = tokens.resolve(rt.aws, name or "", endpoint)
        host, port, region, engine = target.host, target.port, target.region, target.engine_family
    if engine not in ("POSTGRESQL", "MYSQL") and fmt in (TokenFormat.env, TokenFormat.dsn):
        raise UsageError(f"--format {fmt.value} is for PostgreSQL and MySQL proxies; {name} is "
                         f"{engine}", hint="use --format token or json")
    if host and port == MYSQL_PORT:
        engine = "MYSQL"
    minted = tokens.mint(rt.aws, host, int(port), user, region)
    for warning in minted.warnings:
        rt.renderer.warn(warning)
    out = rt.renderer
    if fmt is TokenFormat.token:
        out.write_line(minted.token)
    elif fmt is TokenFormat.json:
        out.write_json({"token": minted.token, "host": minted.host, "port": minted.port,
                        "user": minted.user, "region": minted.region,
                        "expires_at": minted.expires_at.isoformat()})
    elif engine == "MYSQL":
        from rdsproxyctl.core.db import sslrootcert

        lines = (mysql_env(minted.host, minted.port, minted.token)
                 if fmt is TokenFormat.env else
                 [mysql_options(minted.host, minted.port, minted.user, database,
                                sslrootcert(ca_bundle))])
        for line in lines:
            out.write_line(line)
    elif fmt is TokenFormat.env:
        from rdsproxyctl.core.db import sslrootcert

        values = [("PGHOST", minted.host), ("PGPORT", str(minted.port)), ("PGUSER", minted.user)]
        if database:
            values.append(("PGDATABASE", database))
        values += [("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", sslrootcert(ca_bundle)),
                   ("PGPASSWORD", minted.token)]
        for key, value in values:
            out.write_line(f"export {key}={shlex.quote(value)}")
    else:
        from psycopg.conninfo import make_conninfo

        from rdsproxyctl.core.db import sslrootcert

        params = {"host": minted.host, "port": minted.port, "user": minted.user}
        if database:
            params["dbname"] = database
        params.update(sslmode="verify-full", sslrootcert=sslrootcert(ca_bundle))
        out.write_line(make_conninfo("", **params))
