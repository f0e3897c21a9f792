"""THE table of what the emulator says: client-facing errors and proxy log lines.

Every text a client or the proxy's CloudWatch log group sees comes from here, so the
logs issue can build its classifier against one table.  Wording:

* ``CLIENT``: RDS Proxy's documented PostgreSQL client messages, verbatim, from
  "Troubleshooting for RDS Proxy"
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html).
  AWS does not document their SQLSTATEs; ours follow PostgreSQL's classes
  (28xxx authentication, 08xxx connection, 0A000 feature not supported).
* ``LOG``: the line families AWS's troubleshooting and monitoring pages show.  Entries
  marked ``documented=True`` follow the documented wording; the others (connection
  life cycle) use the wording seen in RDS Proxy log groups, which AWS says may change
  ("the logs are for people"): match them loosely.

Log line shape (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html):
``2022-10-21T17:25:29.482Z [INFO] [proxyEndpoint=default] [clientConnection=94296180] A new
client connected from 10.0.1.12:55392.``
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientMessage:
    sqlstate: str
    text: str

    def format(self, **values: object) -> str:
        return self.text.format(**values)


#: What clients see (ErrorResponse, severity FATAL), keyed by cause.
CLIENT: dict[str, ClientMessage] = {
    "iam_requires_tls": ClientMessage(
        "28000", "IAM authentication is allowed only with SSL connections."),
    "tls_required": ClientMessage("28000", "This RDS Proxy requires TLS connections."),
    "iam_auth_failed": ClientMessage(
        "28P01", "IAM authentication failed for user {user}. Check the IAM token for this user "
        "and try again."),
    "no_credentials": ClientMessage(
        "28000", "This RDS proxy has no credentials for the role {user}. Check the credentials "
        "for this role and try again."),
    "wrong_password": ClientMessage(
        "28P01", "The password that was provided for the role {user} is wrong."),
    "unsupported_auth": ClientMessage(
        "28000", "RDS supports only IAM, MD5, or SCRAM authentication."),
    "missing_user": ClientMessage(
        "28000", "A user name is missing from the connection startup packet. Provide a user "
        "name for this connection."),
    "unsupported_option": ClientMessage(
        "0A000", "Feature not supported: RDS Proxy currently doesn't support the option "
        "{option}."),
    "iam_rate_limited": ClientMessage(
        "53300", "The IAM authentication failed because of too many competing requests."),
    "max_client_connections": ClientMessage(
        "53300", "The maximum number of client connections to the proxy exceeded {limit}."),
    "connection_rate": ClientMessage("53300", "Rate of connection to proxy exceeded {limit}."),
    "borrow_timeout": ClientMessage(
        "08006", "Timed-out waiting to acquire database connection."),
    "database_error": ClientMessage("08006", "Request returned an error: {error}."),
    # Startup refusals, verbatim from the troubleshooting page (URL above).
    "replication": ClientMessage(
        "0A000", "Feature not supported: RDS Proxy currently doesn't support streaming "
        "replication mode."),
    "old_protocol": ClientMessage(
        "0A000", "Feature not supported: RDS Proxy supports only version 3.0 of the PostgreSQL "
        "messaging protocol."),
    # Not an RDS Proxy text: the answer to a malformed or oversized packet (SQLSTATE
    # protocol_violation, as PostgreSQL answers).
    "protocol_violation": ClientMessage("08P01", "protocol violation: {detail}"),
    # Not a documented text: AWS says requests to a READ_ONLY endpoint fail "with an error"
    # when the target is a DB instance or a cluster without readers
    # (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy-endpoints.html).
    "no_readers": ClientMessage(
        "08006", "The proxy endpoint {endpoint} is read-only, and the proxy's target has no "
        "reader DB instances."),
}


@dataclass(frozen=True)
class MySQLClientMessage:
    """An ERR packet: MySQL error code, SQLSTATE and text."""

    code: int
    sqlstate: str
    text: str

    def format(self, **values: object) -> str:
        return self.text.format(**values)


#: What MySQL clients see (ERR packets), keyed by cause: RDS Proxy's documented MySQL texts,
#: verbatim, from "Troubleshooting for RDS Proxy", section "RDS Proxy for MySQL"
#: (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html).
#: Every authentication failure (wrong password, refused IAM token, no secret for the user)
#: is the one "Access denied" text; the proxy's log says why.
MYSQL_CLIENT: dict[str, MySQLClientMessage] = {
    "access_denied": MySQLClientMessage(
        1045, "28000", "Access denied for user '{user}'@'%' (using password: YES)"),
    "tls_required": MySQLClientMessage(3159, "HY000", "This RDS Proxy requires TLS connections."),
    "borrow_timeout": MySQLClientMessage(
        9501, "HY000", "Timed-out waiting to acquire database connection"),
    "iam_rate_limited": MySQLClientMessage(
        1040, "HY000", "IAM authentication rate limit exceeded"),
    "connection_rate": MySQLClientMessage(
        1040, "HY000", "Connections rate limit exceeded ({limit})"),
    "max_client_connections": MySQLClientMessage(
        1040, "HY000", "Number simultaneous connections exceeded ({limit})"),
    "unknown_error": MySQLClientMessage(1105, "HY000", "Unknown error"),
    "character_set_client": MySQLClientMessage(
        1231, "42000", "Variable ''character_set_client'' can't be set to the value of {value}"),
    # Not RDS Proxy texts: a client without protocol 4.1 or with a malformed packet.
    "protocol_violation": MySQLClientMessage(1043, "08S01", "Bad handshake"),
}


@dataclass(frozen=True)
class LogMessage:
    level: str
    text: str
    documented: bool = False

    def format(self, **values: object) -> str:
        return self.text.format(**values)


#: Proxy log lines, keyed by event.  ``{reason}`` values come from ``IAM_REASONS`` and
#: ``CLOSE_REASONS`` below.
LOG: dict[str, LogMessage] = {
    # client connections
    "client_connected": LogMessage("INFO", "A new client connected from {address}.", True),
    "client_closed": LogMessage("INFO", "The client session ended. Reason: {reason}"),
    "client_idle_timeout": LogMessage(
        "INFO", "The client session ended because it was idle for more than the "
        "IdleClientTimeout of {seconds} seconds."),
    "tls_required": LogMessage(
        "WARN", "The client connection was closed because this RDS Proxy requires TLS "
        "connections and the client didn't request TLS."),
    "protocol_violation": LogMessage(
        "WARN", "The client connection was closed because it sent an invalid message: "
        "{detail}"),
    "unsupported_option": LogMessage(
        "WARN", "The client connection was closed because RDS Proxy doesn't support the "
        "startup parameter {option}."),
    # client authentication
    "iam_auth_succeeded": LogMessage(
        "INFO", 'Proxy authentication with IAM authentication succeeded for user "{user}" '
        "with TLS on."),
    "iam_auth_failed": LogMessage(
        "WARN", 'Proxy authentication with IAM authentication failed for user "{user}" with '
        "TLS on. Reason: {reason}", True),
    "iam_without_tls": LogMessage(
        "WARN", 'Proxy authentication with IAM authentication failed for user "{user}" with '
        "TLS off. Reason: IAM authentication is allowed only with SSL connections.", True),
    "password_auth_succeeded": LogMessage(
        "INFO", 'Proxy authentication with PostgreSQL native password authentication '
        'succeeded for user "{user}" with TLS {tls}.'),
    "password_auth_failed": LogMessage(
        "WARN", 'Proxy authentication with PostgreSQL native password authentication failed '
        'for user "{user}" with TLS {tls}. Reason: {reason}', True),
    "no_credentials": LogMessage(
        "WARN", 'The proxy has no credentials for the role "{user}". Check the Auth settings '
        "and secrets of this proxy."),
    # credentials and targets
    "credentials_not_authorized": LogMessage(
        "ERROR", 'Credentials couldn\'t be retrieved. The IAM role "{role}" is not authorized '
        'to read the AWS Secrets Manager secret with the ARN "{secret}"', True),
    "credentials_missing_secret": LogMessage(
        "ERROR", 'Credentials couldn\'t be retrieved. The AWS Secrets Manager secret with the '
        'ARN "{secret}" doesn\'t exist.'),
    "credentials_malformed": LogMessage(
        "ERROR", 'Credentials couldn\'t be retrieved. The AWS Secrets Manager secret with the '
        'ARN "{secret}" must be JSON with "username" and "password" keys.'),
    "target_unavailable": LogMessage(
        "ERROR", "The target {target} is unavailable. Reason: {reason}. {description}"),
    "target_available": LogMessage("INFO", "The target {target} is available."),
    # the sandbox's limits and faults (our wording: AWS documents the client texts only)
    "max_client_connections": LogMessage(
        "WARN", "The client connection was refused because the proxy reached its limit of "
        "{limit} client connections."),
    "connection_rate": LogMessage(
        "WARN", "The client connection was refused because more than {limit} client "
        "connections were opened in one second."),
    "failover_started": LogMessage(
        "WARN", "The DB cluster {cluster} is failing over: the writer {old} is unavailable. "
        "New requests wait for the new writer."),
    "failover_completed": LogMessage(
        "INFO", "The DB cluster {cluster} failed over: {new} is the writer now."),
    "statement_delayed": LogMessage(
        "DEBUG", "The database is slow: each statement is delayed by {seconds} seconds."),
    # database connections
    "db_connection_opened": LogMessage(
        "INFO", "The new database connection successfully authenticated with TLS on "
        "[dbConnection={db}] for user \"{user}\" on database \"{database}\"."),
    "db_connection_failed": LogMessage(
        "WARN", "The proxy couldn't open a database connection for user \"{user}\". Reason: "
        "{reason}"),
    "db_connection_borrowed": LogMessage(
        "DEBUG", "The client session borrowed the database connection [dbConnection={db}]."),
    "db_connection_released": LogMessage(
        "INFO", "The database connection [dbConnection={db}] was released to the pool."),
    "db_connection_closed": LogMessage(
        "INFO", "The database connection [dbConnection={db}] closed. Reason: {reason}"),
    "borrow_timeout": LogMessage(
        "WARN", "Timed-out waiting to acquire database connection after {seconds} seconds "
        "(ConnectionBorrowTimeout). The pool has {open} of {cap} connections open."),
    # pinning (WARN).  Wording as users quote RDS Proxy's lines (postgrex issue 514,
    # https://github.com/elixir-ecto/postgrex/issues/514; prisma-engines issue 1692,
    # https://github.com/prisma/prisma-engines/issues/1692); reasons in PIN_REASONS.
    "pinned": LogMessage(
        "WARN", "The client session was pinned to the database connection [dbConnection={db}] "
        "for the remainder of the session. The proxy can't reuse this connection until the "
        "session ends. Reason: {reason}", True),
    # MySQL client authentication (the PostgreSQL lines' shape, with MySQL's plugin names)
    "mysql_password_auth_succeeded": LogMessage(
        "INFO", 'Proxy authentication with MySQL native password authentication succeeded for '
        'user "{user}" with TLS {tls}.'),
    "mysql_password_auth_failed": LogMessage(
        "WARN", 'Proxy authentication with MySQL native password authentication failed for '
        'user "{user}" with TLS {tls}. Reason: {reason}'),
    "mysql_iam_cleartext_without_tls": LogMessage(
        "WARN", 'Proxy authentication with IAM authentication failed for user "{user}" with '
        "TLS off. Reason: IAM authentication is allowed only with SSL connections.", True),
    # DebugLogging
    "debug_query": LogMessage("DEBUG", "The client sent the SQL statement: {sql}"),
    "debug_parse": LogMessage("DEBUG", "The client prepared the SQL statement: {sql}"),
}

#: ``{reason}`` of ``iam_auth_failed``: why a token was refused.
IAM_REASONS: dict[str, str] = {
    "empty": "The IAM authentication token is empty.",
    "malformed": "The IAM authentication token is malformed.",
    "unsigned": "The IAM authentication token isn't signed.",
    "action": "The IAM authentication token isn't for the connect action.",
    "expired": "The IAM authentication token has expired.",
    "not_yet_valid": "The IAM authentication token isn't valid yet.",
    "wrong_user": "The IAM authentication token was generated for another user.",
    "wrong_endpoint": "The IAM authentication token was generated for another host or port "
                      "({got}); this endpoint is {expected}.",
    "wrong_region": "The IAM authentication token was signed for region {got}; this proxy is "
                    "in {expected}.",
    "wrong_service": "The IAM authentication token was signed for service {got}, not rds-db.",
    "unknown_key": "The security token included in the request is invalid.",
    "credentials_expired": "The security token included in the request is expired.",
    "missing_session_token": "The X-Amz-Security-Token value is missing for temporary "
                             "credentials.",
    "empty_session_token": "The X-Amz-Security-Token value is empty.",
    "bad_session_token": "The security token included in the request is invalid.",
    "signature": "The request signature we calculated does not match the signature you "
                 "provided.",
    "not_authorized": "User: {principal} is not authorized to perform: rds-db:connect on "
                      "resource: {resource}",
}

#: ``{reason}`` of ``pinned``: why a session was pinned, keyed by the pinning condition
#: (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-pinning.html, "Conditions
#: that cause pinning for RDS for PostgreSQL").  ``settings`` is the documented reason text
#: (prisma-engines 1692, and https://xiaoz.work/2024/02/01/AvoidPinningInAWSRDSProxyForPostgres.html
#: quoting "Digest: \"set extra_float_digits = $1\""); the others are ours, in the same
#: style, each with the statement's digest (literals replaced by $1, $2 ...).
PIN_REASONS: dict[str, str] = {
    "settings": "SQL changed session settings that the proxy doesn't track. Consider moving "
                "session configuration to the proxy's initialization query. Digest: \"{digest}\".",
    "prepare": "A SQL PREPARE, EXECUTE or DEALLOCATE statement was detected. Digest: "
               "\"{digest}\".",
    "temporary": "A temporary table, sequence or view was created. Digest: \"{digest}\".",
    "cursor": "A cursor declared WITH HOLD was detected. Digest: \"{digest}\".",
    "discard": "A DISCARD statement was detected. Digest: \"{digest}\".",
    "listen": "A LISTEN statement was detected. Digest: \"{digest}\".",
    "load": "A LOAD statement was detected. Digest: \"{digest}\".",
    "sequence": "A sequence function (nextval, setval, currval, lastval) was called. Digest: "
                "\"{digest}\".",
    "advisory_lock": "A session-level advisory lock function was called. Digest: \"{digest}\".",
    # the limits section of the RDS Proxy pages: text over 16 KB is not inspected
    "too_large": "The connection ran a SQL query which exceeded the 16384 byte limit.",
    # MySQL and MariaDB ("Conditions that cause pinning for RDS for MySQL and RDS for
    # MariaDB" on the same page; ``settings`` and ``too_large`` above serve them too)
    "user_variable": "SQL changed session settings that the proxy doesn't track (a user "
                     'variable was set). Digest: "{digest}".',
    "table_lock": 'An explicit table lock was taken. Digest: "{digest}".',
    "named_lock": 'A named lock was created with GET_LOCK. Digest: "{digest}".',
    "temporary_table": 'A temporary table was created. Digest: "{digest}".',
    "prepared_statement": "A prepared statement was detected.",
    "session_command": "The client sent a command that changes the session state. Digest: "
                       '"{digest}".',
}

#: ``{reason}`` of ``password_auth_failed``.
PASSWORD_REASONS: dict[str, str] = {
    "wrong_password": "The password that was provided is wrong.",
    "protocol": "The client didn't complete the authentication exchange.",
}

#: ``{reason}`` of ``client_closed``.
CLOSE_REASONS: dict[str, str] = {
    "terminate": "The client closed the connection.",
    "eof": "The client dropped the connection.",
    "auth_failed": "Client authentication failed.",
    "protocol": "The client sent an invalid message.",
    "borrow_timeout": "Timed-out waiting to acquire database connection.",
    "limit": "The proxy refused the connection: a client connection limit was reached.",
    "backend_closed": "The database closed the connection.",
    "proxy_deleted": "The proxy or its endpoint was deleted.",
    "shutdown": "The proxy is shutting down.",
    "error": "An internal error occurred.",
}


def log_line(when: _dt.datetime, level: str, message_text: str, *, endpoint: str | None = None,
             client: int | None = None) -> str:
    """One line as RDS Proxy writes it (UTC, milliseconds)."""
    stamp = when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{when.microsecond // 1000:03d}Z"
    prefix = f"{stamp} [{level}]"
    if endpoint is not None:
        prefix += f" [proxyEndpoint={endpoint}]"
    if client is not None:
        prefix += f" [clientConnection={client}]"
    return f"{prefix} {message_text}"
