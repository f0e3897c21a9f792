"""Log lines for the logs tests: the documented wording (AWS troubleshooting page and the
project's reference notes), written independently of the catalog's own examples, and a
helper that writes lines to a proxy's log group in moto."""

from __future__ import annotations

import time
from typing import Any

PREFIX = "2022-10-21T17:25:29.482Z [WARN] [proxyEndpoint=default] [clientConnection=94296180] "
PIN = ("The client session was pinned to the database connection [dbConnection=1937442337] for "
       "the remainder of the session. The proxy can't reuse this connection until the session "
       "ends. Reason: ")
IAM = 'Proxy authentication with IAM authentication failed for user "app_user" with TLS on. '

#: (line, signature, fields the line must yield).  Fields not named may also appear.
DOCUMENTED: list[tuple[str, str, dict[str, Any]]] = [
    # the typical shape
    ("2022-10-21T17:25:29.482Z [INFO] [proxyEndpoint=default] [clientConnection=94296180] "
     "A new client connected from 10.0.1.12:55392.",
     "client-connected", {"client_address": "10.0.1.12:55392"}),
    # IAM authentication failures, by reason
    (PREFIX + IAM + "Reason: Invalid credentials.", "iam-auth-invalid-credentials",
     {"user": "app_user", "reason": "Invalid credentials", "tls": "on"}),
    (PREFIX + IAM + "Reason: A missing X-Amz-Security-Token value.",
     "iam-auth-missing-security-token",
     {"user": "app_user", "reason": "A missing X-Amz-Security-Token value"}),
    (PREFIX + IAM + "Reason: An empty token.", "iam-auth-empty-token",
     {"user": "app_user", "reason": "An empty token"}),
    (PREFIX + IAM + "Reason: An expired token.", "iam-auth-expired-token",
     {"user": "app_user", "reason": "An expired token"}),
    (PREFIX + 'Proxy authentication with IAM authentication failed for user "NAME" with TLS on. '
     "Reason: ...", "iam-auth-failed", {"user": "NAME"}),
    # password authentication
    (PREFIX + 'Proxy authentication with PostgreSQL native password authentication failed for '
     'user "NAME" with TLS on.', "password-auth-failed", {"user": "NAME", "tls": "on"}),
    ('Proxy authentication with PostgreSQL native password authentication failed for user '
     '"reporting"', "password-auth-failed", {"user": "reporting"}),
    # secrets
    ('Credentials couldn\'t be retrieved. The IAM role "ARN" is not authorized to read the AWS '
     'Secrets Manager secret with the ARN "ARN"', "secret-retrieval-failed", {}),
    (PREFIX.replace("[WARN]", "[ERROR]") + 'Credentials couldn\'t be retrieved. The IAM role '
     '"arn:aws:iam::123456789012:role/rds-proxy-role" is not authorized to read the AWS Secrets '
     'Manager secret with the ARN "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-x1Y2z3"',
     "secret-retrieval-failed",
     {"role_arn": "arn:aws:iam::123456789012:role/rds-proxy-role",
      "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-x1Y2z3"}),
    # pinning, by reason
    (PREFIX + PIN + "A parse message was detected.", "pinned-parse-message",
     {"reason": "A parse message was detected"}),
    (PREFIX + PIN + "SQL changed session settings that the proxy doesn't track. Consider moving "
     'session configuration to the proxy\'s initialization query. Digest: "set search_path to $1".',
     "pinned-session-settings", {"digest": "set search_path to $1"}),
    (PREFIX + PIN + "The connection ran a SQL query which exceeded the 16384 byte limit.",
     "pinned-statement-too-large", {"limit": 16384}),
    # connection lifecycle
    (PREFIX.replace("[WARN]", "[INFO]") + "The client connection closed. Reason: The client "
     "chose to close the connection.", "client-closed",
     {"reason": "The client chose to close the connection"}),
    ("[INFO] [dbConnection=1937442337] The database connection was established.",
     "db-connection-opened", {}),
    ("[INFO] [dbConnection=1937442337] The database connection closed.", "db-connection-closed", {}),
    ("[INFO] [dbConnection=1937442337] The database connection was released to the pool.",
     "db-connection-released", {}),
    # what clients see (PostgreSQL), as the troubleshooting page words it
    ("IAM authentication is allowed only with SSL connections.", "iam-requires-tls", {}),
    ("This RDS Proxy requires TLS connections.", "tls-required", {}),
    ("IAM authentication failed for user user_name. Check the IAM token for this user and try "
     "again.", "iam-auth-failed", {"user": "user_name"}),
    ("This RDS proxy has no credentials for the role role_name. Check the credentials for this "
     "role and try again.", "no-credentials-for-role", {"user": "role_name"}),
    ("The password that was provided for the role role_name is wrong.", "password-auth-failed",
     {"user": "role_name"}),
    ("RDS supports only IAM, MD5, or SCRAM authentication.", "unsupported-auth-method", {}),
    ("A user name is missing from the connection startup packet. Provide a user name for this "
     "connection.", "missing-user-name", {}),
    ("Feature not supported: RDS Proxy currently doesn't support the option option_name.",
     "unsupported-startup-option", {"option": "option_name"}),
    ("The IAM authentication failed because of too many competing requests.",
     "iam-auth-rate-limit", {}),
    ("The maximum number of client connections to the proxy exceeded number_value.",
     "client-connection-limit", {}),
    ("The maximum number of client connections to the proxy exceeded 2000.",
     "client-connection-limit", {"limit": 2000}),
    ("Rate of connection to proxy exceeded number_value.", "connection-rate-limit", {}),
    ("Rate of connection to proxy exceeded 50.", "connection-rate-limit", {"limit": 50}),
    ("Timed-out waiting to acquire database connection.", "borrow-timeout", {}),
    ("Request returned an error: database_error.", "database-error", {"error": "database_error"}),
    # MySQL equivalents
    ("ERROR 3159 (HY000): This RDS Proxy requires TLS connections.", "tls-required", {}),
    ("ERROR 1045 (28000): Access denied for user 'app'@'10.0.1.12' (using password: YES)",
     "access-denied", {"user": "app"}),
    ("ERROR 9501 (HY000): Timed-out waiting to acquire database connection", "borrow-timeout", {}),
    ("ERROR 1040 (HY000): IAM authentication rate limit exceeded", "iam-auth-rate-limit", {}),
    ("ERROR 1040 (HY000): Connections rate limit exceeded (limit_value)",
     "connection-rate-limit", {}),
    ("ERROR 1040 (HY000): Connections rate limit exceeded (300)", "connection-rate-limit",
     {"limit": 300}),
    ("ERROR 1040 (HY000): Number simultaneous connections exceeded (limit_value)",
     "client-connection-limit", {}),
    ("ERROR 1040 (HY000): Number simultaneous connections exceeded (1000)",
     "client-connection-limit", {"limit": 1000}),
    ("ERROR 1045 (28000): Access denied for user 'DB_USER'@'%' (using password: YES)",
     "access-denied", {"user": "DB_USER"}),
    ("ERROR 1105 (HY000): Unknown error", "unknown-error", {}),
    ("ERROR 1231 (42000): Variable ''character_set_client'' can't be set to the value of value",
     "character-set-refused", {}),
    ("ERROR 2026 (HY000): SSL connection error: Internal Server Error", "tls-connection-error",
     {"reason": "Internal Server Error"}),
    # MySQL pinning (rds-proxy-pinning.html: locks, temporary tables, user variables)
    (PREFIX + PIN + "A temporary table was created.", "pinned-temporary-table", {}),
    (PREFIX + PIN + 'An explicit table lock was taken. Digest: "LOCK TABLES t WRITE".',
     "pinned-lock", {}),
    # target health description for AUTH_FAILURE
    ("Proxy does not have any registered credentials", "no-credentials-for-role", {}),
]

#: The same families in wording that differs a little, and in other envelopes.
VARIANTS: list[tuple[str, str]] = [
    # no prefix, other levels, other case
    ('proxy authentication with iam authentication failed for user "app". reason: the token '
     "has expired", "iam-auth-expired-token"),
    ('[ERROR] PROXY AUTHENTICATION WITH IAM AUTHENTICATION FAILED FOR USER "APP" WITH TLS ON. '
     "REASON: THE X-AMZ-SECURITY-TOKEN IS MISSING.", "iam-auth-missing-security-token"),
    ("WARN: IAM authentication has failed for user 'app': the token is empty",
     "iam-auth-empty-token"),
    ("IAM auth failed for user app - reason: signature does not match", "iam-auth-invalid-credentials"),
    ("Proxy authentication with PostgreSQL SCRAM-SHA-256 authentication failed for user app",
     "password-auth-failed"),
    ("The client session has been pinned to the database connection [dbConnection=12] for the "
     "rest of the session. Reason: prepared statement detected", "pinned-parse-message"),
    ("[WARN] the session was pinned. reason: sql changed session settings the proxy does not "
     "track. digest: SET application_name = $1", "pinned-session-settings"),
    ("Timed out waiting to acquire a database connection", "borrow-timeout"),
    ("RDS Proxy does not support the startup parameter 'options'", "unsupported-startup-option"),
    ("The client connection was closed. Reason: idle client timeout exceeded",
     "client-closed-idle-timeout"),
    ("Credentials could not be retrieved: the role isn't allowed to read the secret",
     "secret-retrieval-failed"),
    ("This RDS proxy has no credentials for user 'bob'.", "no-credentials-for-role"),
    ("This proxy requires SSL connections", "tls-required"),
    # aws logs tail (detailed: time and stream columns; short: time column) and exports
    ("2022-10-21T17:25:29.482000+00:00 2022/10/21/prx-abc123 2022-10-21T17:25:29.482Z [WARN] "
     "[proxyEndpoint=default] [clientConnection=1] Timed-out waiting to acquire database "
     "connection.", "borrow-timeout"),
    ("2022-10-21T17:25:29 2022-10-21T17:25:29.482Z [INFO] [proxyEndpoint=reader] "
     "[clientConnection=2] A new client connected from 10.0.1.12:55392.", "client-connected"),
    ("2022-10-21T17:25:29.482Z A new client connected from 10.0.1.12:55392.", "client-connected"),
]


#: Wording the sandbox's emulator (issue 3) writes, as of its branch: other words for the
#: same families, which the catalog must read as well.  (The lead's end-to-end tests check
#: the lines it really writes after real failed connections.)
_E = "2024-05-01T10:00:00.123Z [{}] [proxyEndpoint=default] [clientConnection=42] "
EMULATOR: list[tuple[str, str, dict[str, Any]]] = [
    (_E.format("INFO") + "The client session ended. Reason: The client dropped the connection.",
     "client-closed", {"reason": "The client dropped the connection"}),
    (_E.format("INFO") + "The client session ended because it was idle for more than the "
     "IdleClientTimeout of 1800 seconds.", "client-closed-idle-timeout", {}),
    (_E.format("WARN") + "The client connection was closed because this RDS Proxy requires TLS "
     "connections and the client didn't request TLS.", "tls-required", {}),
    (_E.format("WARN") + "The client connection was closed because it sent an invalid message: "
     "startup packet too large", "protocol-violation", {}),
    (_E.format("WARN") + "The client connection was closed because RDS Proxy doesn't support "
     "the startup parameter options.", "unsupported-startup-option", {"option": "options"}),
    (_E.format("WARN") + 'Proxy authentication with IAM authentication failed for user "app" '
     "with TLS on. Reason: The X-Amz-Security-Token value is empty.",
     "iam-auth-missing-security-token", {"user": "app"}),
    (_E.format("WARN") + 'Proxy authentication with IAM authentication failed for user "app" '
     "with TLS on. Reason: The IAM authentication token isn't valid yet.",
     "iam-auth-expired-token", {}),
    (_E.format("WARN") + 'Proxy authentication with IAM authentication failed for user "app" '
     "with TLS on. Reason: The IAM authentication token was generated for another host or port "
     "(db1:5432); this endpoint is demo:5432.", "iam-auth-wrong-endpoint", {}),
    (_E.format("WARN") + 'Proxy authentication with IAM authentication failed for user "app" '
     "with TLS on. Reason: User: arn:aws:iam::1:user/u is not authorized to perform: "
     "rds-db:connect on resource: arn:aws:rds-db:us-east-1:1:dbuser:prx-1/app",
     "iam-auth-not-authorized", {}),
    (_E.format("WARN") + 'Proxy authentication with IAM authentication failed for user "app" '
     "with TLS on. Reason: The security token included in the request is invalid.",
     "iam-auth-invalid-credentials", {}),
    (_E.format("WARN") + 'Proxy authentication with PostgreSQL native password authentication '
     'failed for user "app" with TLS on. Reason: The password that was provided is wrong.',
     "password-auth-failed", {"user": "app", "reason": "The password that was provided is wrong"}),
    (_E.format("WARN") + 'The proxy has no credentials for the role "app". Check the Auth '
     "settings and secrets of this proxy.", "no-credentials-for-role", {"user": "app"}),
    ("2024-05-01T10:00:00.123Z [ERROR] Credentials couldn't be retrieved. The AWS Secrets "
     'Manager secret with the ARN "arn:aws:secretsmanager:us-east-1:1:secret:x-AbC" doesn\'t '
     "exist.", "secret-retrieval-failed",
     {"secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:x-AbC"}),
    ("2024-05-01T10:00:00.123Z [ERROR] The target db1 is unavailable. Reason: UNREACHABLE. The "
     "proxy can't reach the database.", "target-unavailable", {}),
    ("2024-05-01T10:00:00.123Z [INFO] The target db1 is available.", "target-available", {}),
    (_E.format("INFO") + "The new database connection successfully authenticated with TLS on "
     '[dbConnection=9] for user "app" on database "orders".', "db-connection-opened", {}),
    (_E.format("WARN") + 'The proxy couldn\'t open a database connection for user "app". Reason: '
     "the database refused the password", "db-connection-failed", {"user": "app"}),
    (_E.format("DEBUG") + "The client session borrowed the database connection [dbConnection=9].",
     "db-connection-borrowed", {}),
    (_E.format("INFO") + "The database connection [dbConnection=9] was released to the pool.",
     "db-connection-released", {}),
    (_E.format("INFO") + "The database connection [dbConnection=9] closed. Reason: idle in pool",
     "db-connection-closed", {}),
    (_E.format("WARN") + "Timed-out waiting to acquire database connection after 120 seconds "
     "(ConnectionBorrowTimeout). The pool has 10 of 10 connections open.", "borrow-timeout", {}),
    (_E.format("DEBUG") + "The client sent the SQL statement: select 1", "debug-sql", {}),
    ("protocol violation: startup packet too large", "protocol-violation", {}),
]


def put_lines(aws: Any, proxy: str, lines: list[str], *, stream: str = "stream-1",
              start_ms: int | None = None, step_ms: int = 1) -> int:
    """Write ``lines`` to ``/aws/rds/proxy/PROXY`` (creating group and stream); returns the
    timestamp of the last line (ms)."""
    logs = aws.client("logs")
    group = f"/aws/rds/proxy/{proxy}"
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    if not logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    start = start_ms if start_ms is not None else int(time.time() * 1000) - 60_000
    events = [{"timestamp": start + i * step_ms, "message": line} for i, line in enumerate(lines)]
    for i in range(0, len(events), 10_000):
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[i:i + 10_000])
    return start + (len(lines) - 1) * step_ms
