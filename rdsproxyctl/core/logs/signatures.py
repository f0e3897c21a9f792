"""THE catalog of RDS Proxy log signatures: one data table, nothing else.

Every row says what a family of log lines means: its id, severity, the patterns
that recognise it, the fields they extract, the cause, the remedy, and the AWS
page that explains it.  :mod:`.classify` compiles the rows into one combined regex
(one search per line); ``docs/signatures.md`` is generated from this table
(``python -m rdsproxyctl.devtools.gendocs``) and a test fails when it is stale.

AWS says the proxy's logs are for people and their format may change, so the
patterns are loose: they are searched case-insensitively in the message (after the
timestamp, level and ``[key=value]`` prefix, which may be absent), and they accept
small wording differences (``doesn't``/``does not``, ``timed-out``/``timed out``,
quoted or bare user names ...).  A line no pattern matches is ``unclassified``.

How rows combine:

* ``patterns`` are searched in the message; the match that starts first wins, and
  between matches at the same place, the row that comes first in :data:`SIGNATURES`.
* A row with a ``parent`` refines it: when the parent matched, the row's
  ``reason_patterns`` are searched in the parent's ``reason`` (or, without one, in the
  rest of the line), first row first.  ``iam-auth-expired-token`` refines
  ``iam-auth-failed`` this way.  A row may also have ``patterns`` of its own.
* Named groups are the extracted fields (:data:`FIELDS`); values are trimmed of
  quotes and trailing punctuation.
* No literal digits in patterns (``md\\d``, not ``md5``; numbers through ``\\d``): the
  classifier caches a line's result under its text with every digit replaced by
  ``0``, which is only sound when no pattern tells one digit from another.

The patterns keep to a subset that also reads as POSIX ERE (``grep -E``), so the
benchmark can give grep the very same patterns (:func:`.patterns.grep_patterns`):
groups, ``|``, ``? * + {m,n}``, bracket expressions, ``\\s \\S \\w \\W \\d \\b``, ``.``;
no look-arounds, no back-references, no ``\\]`` inside brackets.

Sources: the RDS Proxy troubleshooting page, "Avoiding pinning", "RDS Proxy
connection considerations", and the IAM and Secrets Manager set-up pages of the
Amazon RDS User Guide (linked from each row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

SEVERITIES = ("info", "warn", "error")
SEVERITY_RANK = {"info": 0, "warn": 1, "error": 2}

#: The fields a signature may extract (the JSON keys they become), with what they hold.
FIELDS: dict[str, str] = {
    "user": "database user (role) the client asked for",
    "method": "authentication method (IAM, password, SCRAM ...)",
    "tls": "`on`/`off`: whether the client connection used TLS",
    "reason": "the reason the proxy gave",
    "digest": "digest (normalised text) of the SQL statement that pinned the session",
    "limit": "the limit the line names (connections, connections per second, bytes)",
    "option": "the startup option the proxy refused",
    "role_arn": "the proxy's IAM role",
    "secret_arn": "the Secrets Manager secret",
    "client_address": "client address:port",
    "db_address": "database address:port",
    "database": "database name from the startup message",
    "error": "the error the database returned",
}
#: Fields whose values are numbers in JSON.
INT_FIELDS = frozenset({"limit"})

_DOCS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/"
DOC_TROUBLESHOOTING = _DOCS + "rds-proxy.troubleshooting.html"
DOC_PINNING = _DOCS + "rds-proxy-pinning.html"
DOC_CONNECTIONS = _DOCS + "rds-proxy-connections.html"
DOC_IAM_SETUP = _DOCS + "rds-proxy-iam-setup.html"
DOC_SECRETS = _DOCS + "rds-proxy-secrets-arns.html"
DOC_IAM_CONNECT = _DOCS + "UsingWithRDS.IAMDBAuth.Connecting.html"
DOC_PROXY = _DOCS + "rds-proxy.html"

# -- pattern fragments ------------------------------------------------------------------------
_NEG = r"(?:\s*not|n'?t)"  # not, n't, nt: "doesn't", "does not", "cannot", "couldnt"
_Q = "[\"'`]?"  # an optional quote
_NAME = r"[^\"'`\s,;]+"  # a user or option name (trailing "." is trimmed later)
_USER = rf"(?:user(?:name)?|role)\s*[=:]?\s*{_Q}(?P<user>{_NAME}){_Q}"
_FOR_USER = rf"(?:\s+for\s+(?:the\s+)?(?:database\s+)?{_USER})?"
_WITH_TLS = r"(?:\s+with\s+(?:TLS|SSL)\s+(?P<tls>on|off))?"
_REASON = r"(?:.*?\b(?:reason\b\W*|because\s+(?:of\s+)?)(?P<reason>.*))?"
_FAILED = r"(?:has\s+|was\s+)?(?:failed|failure|unsuccessful|rejected|denied)"
_DB_CONNECTION = r"(?:database|DB)\s+connection"
_DB_CONN = _DB_CONNECTION + r"\s+(?:\[[^]]*\]\s+)?"  # then a word; may carry its [dbConnection=N]
_CLIENT_GONE = (r"client\s+(?:session|connection)\s+(?:\[[^]]*\]\s+)?(?:was\s+|has\s+been\s+|is\s+)?"
                r"(?:closed|terminated|dropped|ended|disconnected)")
_ARN = r"arn:[^\"'`\s]*[^\"'`\s.,;]"
_SECURITY_TOKEN = r"(?:x-amz-security-token|security[\s_-]*token|session[\s_-]*token)"
_ABSENT = (r"(?:missing|absent|empty|blank|no\s+value|not\s+(?:present|provided|included|found|set)"
           r"|without|lack\w*|does" + _NEG + r"\s+(?:contain|include|have))")


@dataclass(frozen=True)
class Signature:
    """One row of the catalog."""

    id: str
    severity: str
    title: str
    cause: str
    remedy: str
    doc: str
    patterns: tuple[str, ...] = ()
    parent: str | None = None
    reason_patterns: tuple[str, ...] = ()
    #: Case-sensitive CloudWatch Logs filter terms; a line of this signature contains at
    #: least one of them (tested with the examples), so a server-side filter built from
    #: them never drops one.
    filter_terms: tuple[str, ...] = ()
    #: Lines this signature must recognise (documented wording first, then variants).
    examples: tuple[str, ...] = ()

    @cached_property
    def fields(self) -> tuple[str, ...]:
        """The fields this row's own patterns extract (a refinement adds its parent's)."""
        names: list[str] = []
        for pattern in (*self.patterns, *self.reason_patterns):
            for name in re.compile(pattern).groupindex:
                if name not in names:
                    names.append(name)
        return tuple(names)


SIGNATURES: tuple[Signature, ...] = (
    # -- authentication ------------------------------------------------------------------------
    Signature(
        id="iam-auth-failed",
        severity="error",
        title="IAM authentication failed",
        cause="The proxy refused the client's IAM authentication token for another reason "
              "than those below (wrong region, host or port in the signature, or a denied "
              "rds-db:connect).",
        remedy="Generate the token for the proxy endpoint, port and region the client dials "
               "(not the database's), and allow rds-db:connect on "
               "arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-ID/USER; connect with TLS.",
        doc=DOC_IAM_CONNECT,
        patterns=(
            r"IAM\s+(?:auth\w*\s+)?" + _FAILED + _FOR_USER + _WITH_TLS + _REASON,
            r"fail\w*\s+(?:to\s+authenticate\s+(?:with|using|via)\s+IAM|IAM\s+auth\w*)"
            + _FOR_USER + _WITH_TLS + _REASON,
        ),
        filter_terms=("failed", "Failed", "failure", "rejected", "denied"),
        examples=(
            '2022-10-21T17:25:29.482Z [WARN] [proxyEndpoint=default] [clientConnection=94296180] '
            'Proxy authentication with IAM authentication failed for user "app" with TLS on. '
            'Reason: The proxy could not verify the request for the requested region.',
            "IAM authentication failed for user app_user. Check the IAM token for this user "
            "and try again.",
            "[ERROR] Failed IAM authentication for user 'reporting'",
        ),
    ),
    Signature(
        id="iam-auth-rate-limit",
        severity="warn",
        title="IAM authentication rate limit",
        cause="Too many IAM authentications reached the proxy at once; it refused some.",
        remedy="Reuse connections (a client-side pool) instead of authenticating per request, "
               "spread connection storms, and retry with back-off.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"too\s+many\s+competing\s+(?:auth\w*\s+)?requests",
            r"IAM\s+auth\w*\s+rate\s+limit",
        ),
        parent="iam-auth-failed",
        reason_patterns=(r"competing\s+requests|rate\s+limit|too\s+many|throttl",),
        filter_terms=(
            "competing", "rate limit", "failed", "Failed", "failure", "rejected", "denied",
        ),
        examples=(
            "The IAM authentication failed because of too many competing requests.",
            "ERROR 1040 (HY000): IAM authentication rate limit exceeded",
            '[WARN] Proxy authentication with IAM authentication failed for user "app" with TLS '
            'on. Reason: Too many competing IAM authentication requests.',
        ),
    ),
    Signature(
        id="iam-auth-expired-token",
        severity="error",
        title="IAM token expired",
        cause="The client's IAM authentication token is older than 15 minutes, was signed with "
              "credentials that have expired, or carries a time the proxy sees in the future "
              "(a skewed clock).",
        remedy="Generate a fresh token for every new connection (tokens live 15 minutes); "
               "refresh the AWS credentials that sign it; check the client's clock.",
        doc=DOC_IAM_CONNECT,
        parent="iam-auth-failed",
        reason_patterns=(r"expir|not\s+(?:yet\s+)?valid\s+yet|n't\s+valid\s+yet|not\s+yet\s+valid",),
        filter_terms=("failed", "Failed", "failure", "rejected", "denied"),
        examples=(
            '2022-10-21T17:25:29.482Z [WARN] [proxyEndpoint=default] [clientConnection=1] Proxy '
            'authentication with IAM authentication failed for user "app" with TLS on. Reason: '
            'The IAM authentication token has expired.',
            'IAM authentication failed for user "app": token expired',
        ),
    ),
    Signature(
        id="iam-auth-missing-security-token",
        severity="error",
        title="IAM token without its security token",
        cause="The token was signed with temporary credentials but carries no (or an empty) "
              "X-Amz-Security-Token, typically because AWS_SESSION_TOKEN is unset or empty.",
        remedy="Sign with the complete temporary credentials: export AWS_SESSION_TOKEN with "
               "the key pair (or unset an empty one), or use a profile / role.",
        doc=DOC_IAM_CONNECT,
        parent="iam-auth-failed",
        reason_patterns=(
            _ABSENT + r"\W+(?:\w+\W+){0,4}?" + _SECURITY_TOKEN,
            r"\bno\s+" + _SECURITY_TOKEN,
            _SECURITY_TOKEN + r"\W+(?:\w+\W+){0,4}?(?:is\s+|was\s+)?" + _ABSENT,
        ),
        filter_terms=("failed", "Failed", "failure", "rejected", "denied"),
        examples=(
            '[WARN] [proxyEndpoint=default] [clientConnection=7] Proxy authentication with IAM '
            'authentication failed for user "app" with TLS on. Reason: The X-Amz-Security-Token '
            'value is missing.',
            'Proxy authentication with IAM authentication failed for user "app" with TLS on. '
            'Reason: missing X-Amz-Security-Token value',
            'IAM authentication failed for user "app". Reason: the token has an empty '
            'X-Amz-Security-Token parameter',
        ),
    ),
    Signature(
        id="iam-auth-empty-token",
        severity="error",
        title="Empty IAM token",
        cause="The client sent an empty password where the proxy expected an IAM token.",
        remedy="Pass the generated token as the password (PGPASSWORD, or the driver's password "
               "field); check the token command's output is not empty.",
        doc=DOC_IAM_CONNECT,
        parent="iam-auth-failed",
        reason_patterns=(
            r"\b(?:empty|blank|zero[\s-]length)\b",
            r"\bno\s+(?:IAM\s+)?(?:auth\w*\s+)?(?:token|password)\s+(?:was\s+)?"
            r"(?:provided|supplied|given|sent)",
            r"(?:token|password)\s+(?:is|was)\s+(?:missing|not\s+provided|absent)",
        ),
        filter_terms=("failed", "Failed", "failure", "rejected", "denied"),
        examples=(
            '[WARN] [proxyEndpoint=default] [clientConnection=8] Proxy authentication with IAM '
            'authentication failed for user "app" with TLS on. Reason: The IAM authentication '
            'token is empty.',
            'IAM authentication failed for user app. Reason: an empty token was provided',
        ),
    ),
    Signature(
        id="iam-auth-not-authorized",
        severity="error",
        title="IAM token of a caller without rds-db:connect",
        cause="The token is valid but the IAM identity that signed it may not rds-db:connect "
              "as this user through this proxy.",
        remedy="Allow rds-db:connect on arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-ID/USER: the "
               "proxy's prx- id (the end of its ARN), not the database's db- or cluster- id.",
        doc=DOC_IAM_SETUP,
        parent="iam-auth-failed",
        reason_patterns=(r"not\s+authori[sz]ed|rds-db:connect|access\s+denied|permission",),
        filter_terms=("failed", "Failed", "failure", "rejected", "denied"),
        examples=(
            '[WARN] [proxyEndpoint=default] [clientConnection=8] Proxy authentication with IAM '
            'authentication failed for user "app" with TLS on. Reason: User: '
            'arn:aws:iam::123456789012:user/dev is not authorized to perform: rds-db:connect on '
            'resource: arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0abc/app',
        ),
    ),
    Signature(
        id="iam-auth-wrong-endpoint",
        severity="error",
        title="IAM token signed for another endpoint, region or user",
        cause="The token was generated for another host or port (often the database's endpoint "
              "instead of the proxy's), another region or service, or another user.",
        remedy="Generate the token for exactly the proxy endpoint and port the client dials, in "
               "the proxy's region, for the user it connects as "
               "(`rdsproxyctl token NAME --user USER`).",
        doc=DOC_IAM_CONNECT,
        parent="iam-auth-failed",
        reason_patterns=(
            r"(?:another|a\s+different|the\s+wrong|wrong)\s+(?:host|port|endpoint|region|service"
            r"|user|database)",
            r"(?:signed|generated|issued)\s+for\s+(?:the\s+)?(?:region|service|host|endpoint)\b",
            r"(?:host|port|endpoint|region|service)\s+(?:does\s*n(?:'|o)?t\s+match|mismatch)",
        ),
        filter_terms=("failed", "Failed", "failure", "rejected", "denied"),
        examples=(
            '[WARN] [proxyEndpoint=default] [clientConnection=8] Proxy authentication with IAM '
            'authentication failed for user "app" with TLS on. Reason: The IAM authentication '
            'token was generated for another host or port (db1.abc.us-east-1.rds.amazonaws.com:'
            '5432); this endpoint is demo.proxy-abc.us-east-1.rds.amazonaws.com:5432.',
            'IAM authentication failed for user "app". Reason: the token was signed for region '
            'eu-west-1; this proxy is in us-east-1',
        ),
    ),
    Signature(
        id="iam-auth-invalid-credentials",
        severity="error",
        title="IAM token with invalid credentials",
        cause="The token's signature does not verify: it was signed with an unknown, deleted "
              "or wrong access key, or altered after signing.",
        remedy="Check the credentials that sign the token (`aws sts get-caller-identity`) and "
               "that the token is passed unmodified (no quoting or truncation).",
        doc=DOC_IAM_CONNECT,
        parent="iam-auth-failed",
        reason_patterns=(
            r"invalid|not\s+valid|incorrect|wrong|malformed|unrecognized|signature|mismatch|unsigned"
            r"|n(?:'|o)t\s+signed|connect\s+action"
            r"|does" + _NEG + r"\s+match|could" + _NEG + r"\s+(?:be\s+)?(?:validated|verified)",
        ),
        filter_terms=("failed", "Failed", "failure", "rejected", "denied"),
        examples=(
            '2022-10-21T17:25:29.482Z [WARN] [proxyEndpoint=default] [clientConnection=3] Proxy '
            'authentication with IAM authentication failed for user "app" with TLS on. Reason: '
            'The provided credentials are invalid.',
            'IAM authentication failed for user "app". Reason: invalid credentials',
            'Proxy authentication with IAM authentication failed for user "app". Reason: The '
            'request signature we calculated does not match the signature you provided.',
        ),
    ),
    Signature(
        id="iam-requires-tls",
        severity="error",
        title="IAM authentication without TLS",
        cause="The client sent an IAM token over a connection without TLS; the proxy accepts "
              "IAM authentication over TLS only.",
        remedy="Connect with TLS (PostgreSQL: sslmode=require or verify-full; MySQL: "
               "--ssl-mode=REQUIRED).",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"IAM\s+auth\w*\s+(?:is\s+)?(?:allowed|permitted|supported|possible|accepted)\s+only"
            r"\s+(?:with|over|for)\s+(?:SSL|TLS)",
            r"IAM\s+auth\w*\s+(?:only\s+)?requires\s+(?:an?\s+)?(?:SSL|TLS)",
            r"IAM\s+auth\w*\s+(?:is\s+)?not\s+(?:allowed|permitted|supported)\s+(?:with|over|for|on)"
            r"\s+(?:non-?|un)(?:SSL|TLS|encrypted)",
        ),
        parent="iam-auth-failed",
        reason_patterns=(r"\b(?:TLS|SSL)\b",),
        filter_terms=(
            "only", "requires", "not allowed", "not permitted", "not supported", "failed",
            "Failed", "failure", "rejected", "denied",
        ),
        examples=(
            "IAM authentication is allowed only with SSL connections.",
            "[ERROR] [proxyEndpoint=default] [clientConnection=12] IAM authentication requires TLS.",
            '[WARN] Proxy authentication with IAM authentication failed for user "app" with TLS '
            'off. Reason: IAM authentication is allowed only with TLS connections.',
        ),
    ),
    Signature(
        id="password-auth-failed",
        severity="error",
        title="Password authentication failed",
        cause="The password the client sent does not match the one in the proxy's Secrets "
              "Manager secret for that user (or the client used an auth method the secret "
              "does not allow).",
        remedy="Use the password stored in the user's secret; after rotating the database "
               "password, update the secret too; check ClientPasswordAuthType matches the "
               "client (md5 / scram-sha-256).",
        doc=DOC_SECRETS,
        patterns=(
            r"(?:password|md\d|scram[\w-]*)\s+auth\w*\s+" + _FAILED + _FOR_USER + _WITH_TLS + _REASON,
            r"password\s+(?:that\s+was\s+)?(?:provided|supplied|given|sent)\s+for\s+(?:the\s+)?"
            + _USER + r"\s+(?:is|was)\s+(?:wrong|incorrect|invalid|not\s+valid)",
            r"(?:wrong|incorrect|invalid|bad)\s+password\s+for\s+(?:the\s+)?" + _USER,
        ),
        filter_terms=(
            "failed", "Failed", "failure", "rejected", "denied", "wrong", "Wrong", "incorrect",
            "Incorrect", "invalid", "Invalid", "bad", "Bad",
        ),
        examples=(
            '2022-10-21T17:25:29.482Z [WARN] [proxyEndpoint=default] [clientConnection=5] Proxy '
            'authentication with PostgreSQL native password authentication failed for user '
            '"app" with TLS on.',
            "The password that was provided for the role app_user is wrong.",
            "Proxy authentication with MySQL native password authentication failed for user "
            "'app' with TLS off. Reason: wrong password",
            'SCRAM-SHA-256 authentication failed for user "app"',
        ),
    ),
    Signature(
        id="access-denied",
        severity="error",
        title="Access denied (MySQL)",
        cause="RDS Proxy for MySQL answers every refused login with ERROR 1045: a wrong "
              "password, a refused IAM token (signed for another host, port 3306 or region, "
              "expired, no rds-db:connect), or a user without a secret in the proxy's Auth. "
              "The proxy's own log line (IAM or password authentication failed ..., no "
              "credentials for the role) says which.",
        remedy="Find the proxy's log line for the same client connection (rdsproxyctl logs "
               "NAME --signature iam-auth-failed,password-auth-failed,no-credentials-for-role); "
               "IAM tokens go with the cleartext plugin over TLS (mysql "
               "--enable-cleartext-plugin --ssl-mode=VERIFY_IDENTITY).",
        doc=DOC_TROUBLESHOOTING,
        patterns=(r"access\s+denied\s+for\s+" + _USER,),
        filter_terms=("denied", "Denied"),
        examples=(
            "ERROR 1045 (28000): Access denied for user 'app'@'10.0.1.12' (using password: YES)",
            "ERROR 1045 (28000): Access denied for user 'DB_USER'@'%' (using password: YES)",
        ),
    ),
    Signature(
        id="auth-failed",
        severity="error",
        title="Authentication failed (other method)",
        cause="The proxy refused the client's credentials; the line does not say which method.",
        remedy="Check the user name, its secret or IAM policy, and the client's auth settings.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(r"auth\w*\s+" + _FAILED + _FOR_USER + _WITH_TLS + _REASON,),
        filter_terms=("failed", "Failed", "failure", "rejected", "denied"),
        examples=('[WARN] Proxy authentication failed for user "app". Reason: unknown',),
    ),
    Signature(
        id="no-credentials-for-role",
        severity="error",
        title="No credentials for the user",
        cause="No Secrets Manager secret in the proxy's Auth list holds this user name, so the "
              "proxy cannot log in as it.",
        remedy="Add a secret for the user to the proxy (`Auth` of modify-db-proxy), or connect "
               "as a user that has one; check the user name's spelling and case.",
        doc=DOC_SECRETS,
        patterns=(
            r"no\s+(?:registered\s+)?credentials\s+(?:found\s+)?for\s+(?:the\s+)?" + _USER,
            r"(?:could|can|unable\s+to)" + _NEG + r"?\s+find\s+(?:any\s+)?credentials\s+for\s+"
            r"(?:the\s+)?" + _USER,
            r"does" + _NEG + r"\s+have\s+any\s+registered\s+credentials",
        ),
        filter_terms=("credentials",),
        examples=(
            "This RDS proxy has no credentials for the role app_user. Check the credentials for "
            "this role and try again.",
            '[WARN] [proxyEndpoint=default] [clientConnection=9] No credentials found for user '
            '"reporting".',
            "Proxy does not have any registered credentials",
        ),
    ),
    Signature(
        id="secret-retrieval-failed",
        severity="error",
        title="Secret could not be read",
        cause="The proxy's IAM role may not read the secret: secretsmanager:GetSecretValue is "
              "missing, or kms:Decrypt on the secret's customer-managed key.",
        remedy="Allow the proxy role secretsmanager:GetSecretValue on the secret, and kms:Decrypt "
               "on its KMS key with kms:ViaService = secretsmanager.REGION.amazonaws.com.",
        doc=DOC_IAM_SETUP,
        patterns=(
            r"credentials\s+(?:could|can)" + _NEG + r"\s+be\s+retrieved"
            + r"(?:.*?(?P<role_arn>arn:[\w-]+:iam::[^\"'`\s]*[^\"'`\s.,;]))?"
            + r"(?:.*?(?P<secret_arn>arn:[\w-]+:secretsmanager:[^\"'`\s]*[^\"'`\s.,;]))?",
            r"(?:(?:could|can)" + _NEG + r"|unable\s+to|failed\s+to)\s+(?:retrieve|read|get|fetch"
            r"|access|decrypt)\s+(?:the\s+)?(?:database\s+)?(?:credentials|(?:AWS\s+)?(?:Secrets"
            r"\s+Manager\s+)?secrets?)"
            + r"(?:.*?(?P<secret_arn>arn:[\w-]+:secretsmanager:[^\"'`\s]*[^\"'`\s.,;]))?",
            r"not\s+authorized\s+to\s+(?:read|access|retrieve|get|decrypt)\s+(?:the\s+)?(?:AWS\s+)?"
            r"(?:Secrets\s+Manager\s+)?secret"
            + r"(?:.*?(?P<secret_arn>arn:[\w-]+:secretsmanager:[^\"'`\s]*[^\"'`\s.,;]))?",
            r"kms:Decrypt\b.*?(?:denied|not\s+authorized|failed)",
        ),
        filter_terms=("retrieved", "retrieve", "secret", "Secret", "kms:Decrypt"),
        examples=(
            '2022-10-21T17:25:29.482Z [ERROR] Credentials couldn\'t be retrieved. The IAM role '
            '"arn:aws:iam::123456789012:role/proxy-role" is not authorized to read the AWS '
            'Secrets Manager secret with the ARN '
            '"arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf"',
            "[ERROR] Unable to retrieve the secret "
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db-AbCdEf: AccessDenied",
            "Credentials could not be retrieved: kms:Decrypt was denied",
        ),
    ),
    Signature(
        id="tls-required",
        severity="error",
        title="TLS required",
        cause="The proxy requires TLS (RequireTLS) and the client connected without it.",
        remedy="Connect with TLS (PostgreSQL: sslmode=require or verify-full; MySQL: "
               "--ssl-mode=REQUIRED), or turn RequireTLS off if that is really intended.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"requires\s+(?:an?\s+)?(?:TLS|SSL)(?:\s+connections?)?",
            r"(?:TLS|SSL)\s+(?:connections?\s+)?(?:is\s+|are\s+)?required",
            r"(?:non-?(?:TLS|SSL)|plain\s*text|unencrypted|insecure)\s+connections?\s+(?:are\s+|is\s+)?"
            r"(?:not\s+allowed|rejected|refused)",
        ),
        parent="client-closed",
        reason_patterns=(
            r"requires\s+(?:an?\s+)?(?:TLS|SSL)",
            r"(?:TLS|SSL)\s+(?:connections?\s+)?(?:is\s+|are\s+)?required",
            r"(?:did\s*n(?:'|o)?t|does\s*n(?:'|o)?t|without)\s+(?:request\w*\s+|us\w*\s+)?(?:TLS|SSL)",
        ),
        filter_terms=("requires", "required", "not allowed", "rejected", "refused"),
        examples=(
            "This RDS Proxy requires TLS connections.",
            "ERROR 3159 (HY000): This RDS Proxy requires TLS connections.",
            "[WARN] [proxyEndpoint=default] [clientConnection=4] TLS is required for connections "
            "to this proxy",
            "[WARN] [proxyEndpoint=default] [clientConnection=4] The client connection was closed "
            "because this RDS Proxy requires TLS connections and the client didn't request TLS.",
        ),
    ),
    Signature(
        id="unsupported-auth-method",
        severity="error",
        title="Unsupported authentication method",
        cause="The client offered an authentication method the proxy does not speak.",
        remedy="Use IAM, MD5 or SCRAM-SHA-256 authentication (libpq >= 10 for SCRAM) and set "
               "ClientPasswordAuthType to what the client uses.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"supports?\s+only\s+IAM\W+(?:MD\d\W+)?(?:or\s+|and\s+)?SCRAM",
            r"unsupported\s+(?:client\s+)?auth\w*\s+(?:method|type|mechanism|plugin)",
            r"auth\w*\s+(?:method|type|mechanism|plugin)\s+(?:\S+\s+)?(?:is\s+)?(?:not\s+supported"
            r"|unsupported)",
        ),
        filter_terms=("only", "unsupported", "Unsupported", "not supported"),
        examples=(
            "RDS supports only IAM, MD5, or SCRAM authentication.",
            "[ERROR] Unsupported authentication method: password (cleartext)",
        ),
    ),
    Signature(
        id="missing-user-name",
        severity="error",
        title="No user name",
        cause="The client's startup packet carried no user name.",
        remedy="Set the user in the connection string (user=..., PGUSER).",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"user\s*name\s+is\s+missing",
            r"missing\s+(?:a\s+|the\s+)?user\s*name",
            r"no\s+user\s*name\s+(?:was\s+)?(?:provided|specified|given)",
        ),
        filter_terms=("missing", "Missing", "no user", "No user"),
        examples=(
            "A user name is missing from the connection startup packet. Provide a user name for "
            "this connection.",
        ),
    ),
    Signature(
        id="unsupported-startup-option",
        severity="error",
        title="Unsupported startup option",
        cause="The client sent a startup parameter the proxy does not support, typically "
              "libpq's `options=-c ...`.",
        remedy="Remove the option from the connection string; set the parameter in the DB "
               "parameter group or the proxy's InitQuery instead.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"(?:does|do|can)" + _NEG + r"\s+(?:currently\s+)?support\s+(?:the\s+)?(?:startup\s+)?"
            r"(?:option|parameter)\s+" + _Q + rf"(?P<option>{_NAME})",
            r"unsupported\s+(?:startup\s+)?(?:option|parameter)\W+" + _Q + rf"(?P<option>{_NAME})",
        ),
        parent="client-closed",
        reason_patterns=(
            r"(?:does|do|can)" + _NEG + r"\s+(?:currently\s+)?support\s+(?:the\s+)?(?:startup\s+)?"
            r"(?:option|parameter)\s+" + _Q + rf"(?P<option>{_NAME})",
            r"unsupported\s+(?:startup\s+)?(?:option|parameter)\W+" + _Q + rf"(?P<option>{_NAME})",
        ),
        filter_terms=("support", "unsupported", "Unsupported"),
        examples=(
            "Feature not supported: RDS Proxy currently doesn't support the option options.",
            "[ERROR] [proxyEndpoint=default] [clientConnection=77] Unsupported startup parameter: "
            "\"options\"",
            "[WARN] [proxyEndpoint=default] [clientConnection=77] The client connection was "
            "closed because RDS Proxy doesn't support the startup parameter options.",
        ),
    ),
    Signature(
        id="client-connection-limit",
        severity="error",
        title="Client connection limit reached",
        cause="The proxy already holds its maximum number of client connections.",
        remedy="Close idle client connections (lower IdleClientTimeout, fix leaks), pool "
               "connections in the client, or spread clients over more proxies.",
        doc=DOC_PROXY,
        patterns=(
            r"max\w*\s+(?:number\s+of\s+)?client\s+connections?\b.*?(?:exceeded|reached)"
            r"(?:\D{0,40}?(?P<limit>\d+))?",
            r"client\s+connections?\s+(?:limit|quota)\s+(?:of\s+(?P<limit>\d+)\s+)?"
            r"(?:has\s+been\s+|was\s+)?(?:exceeded|reached)",
            r"too\s+many\s+client\s+connections",
            r"number\s+(?:of\s+)?simultaneous\s+connections\s+exceeded(?:\D{0,40}?(?P<limit>\d+))?",
        ),
        filter_terms=("exceeded", "reached", "too many", "Too many"),
        examples=(
            "The maximum number of client connections to the proxy exceeded 1000.",
            "ERROR 1040 (HY000): Number simultaneous connections exceeded (500)",
            "[ERROR] Client connection limit of 500 reached",
        ),
    ),
    Signature(
        id="connection-rate-limit",
        severity="error",
        title="Connection rate limit reached",
        cause="Clients opened new connections to the proxy faster than it accepts them.",
        remedy="Reuse connections (a client-side pool), add jitter and back-off to reconnects.",
        doc=DOC_PROXY,
        patterns=(
            r"rate\s+of\s+(?:new\s+)?(?:client\s+)?connections?\s+(?:to\s+(?:the\s+)?proxy\s+)?"
            r"(?:has\s+)?exceeded(?:\D{0,40}?(?P<limit>\d+))?",
            r"connections?\s+rate\s+(?:limit\s+)?(?:has\s+been\s+|was\s+)?(?:exceeded|reached)"
            r"(?:\D{0,40}?(?P<limit>\d+))?",
        ),
        filter_terms=("exceeded", "reached"),
        examples=(
            "Rate of connection to proxy exceeded 100.",
            "ERROR 1040 (HY000): Connections rate limit exceeded (1000)",
            "[WARN] connection rate limit exceeded (limit: 200 per second)",
        ),
    ),
    Signature(
        id="db-connection-limit",
        severity="warn",
        title="Database connection limit reached",
        cause="The proxy reached MaxConnectionsPercent of the database's max_connections and "
              "cannot open another database connection.",
        remedy="Reduce pinning so connections are shared, raise MaxConnectionsPercent (keep "
               "headroom for other clients) or the database's max_connections.",
        doc=DOC_CONNECTIONS,
        patterns=(
            r"max\w*\s+(?:number\s+of\s+)?(?:database|DB)\s+connections?\b.*?(?:exceeded|reached)"
            r"(?:\D{0,40}?(?P<limit>\d+))?",
        ),
        filter_terms=("exceeded", "reached"),
        examples=(
            "[WARN] The maximum number of database connections was reached: 90",
        ),
    ),
    Signature(
        id="borrow-timeout",
        severity="error",
        title="Timed out waiting for a database connection",
        cause="No database connection became free within ConnectionBorrowTimeout: the pool is "
              "exhausted (pinned or long-running sessions, MaxConnectionsPercent too low) or "
              "the database is unreachable.",
        remedy="Look for pinning and long transactions, raise MaxConnectionsPercent or "
               "ConnectionBorrowTimeout, and check the target's health (`rdsproxyctl targets`).",
        doc=DOC_CONNECTIONS,
        patterns=(
            r"timed?[\s-]*out\s+(?:while\s+)?waiting\s+(?:to\s+acquire|to\s+borrow|for)\s+(?:an?\s+)?"
            r"(?:database|DB)\s+connection",
            r"(?:connection\s+)?borrow\s+time[\s-]*out",
            r"(?:could|can)" + _NEG + r"\s+(?:acquire|borrow|get)\s+(?:an?\s+)?(?:database|DB)"
            r"\s+connection",
        ),
        filter_terms=("Timed", "timed", "borrow", "acquire"),
        examples=(
            "Timed-out waiting to acquire database connection.",
            "ERROR 9501 (HY000): Timed-out waiting to acquire database connection",
            "[ERROR] [proxyEndpoint=default] [clientConnection=12] Timed out waiting for a "
            "database connection",
        ),
    ),
    Signature(
        id="target-unavailable",
        severity="error",
        title="Target unavailable",
        cause="The proxy cannot reach or log in to the database (stopped, failing over, "
              "security group, or wrong credentials on the proxy side).",
        remedy="Check `rdsproxyctl targets NAME` (health reason and description), the "
               "database's status, and that its security group admits the proxy's.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"(?:target|database|DB\s+instance|DB\s+cluster)\s+(?:\S+\s+)?(?:is\s+|was\s+|became\s+)?"
            r"(?:unavailable|unreachable|not\s+(?:available|reachable))" + _REASON,
            r"no\s+(?:available|healthy)\s+(?:targets?|database|instances?)",
            r"(?:(?:could|can)" + _NEG + r"|unable\s+to|failed\s+to)\s+(?:connect|open\s+a\s+"
            r"connection)\s+to\s+(?:the\s+)?(?:database|target|DB)",
        ),
        filter_terms=(
            "unavailable", "unreachable", "not available", "not reachable", "no available",
            "No available", "no healthy", "No healthy", "connect to",
        ),
        examples=(
            "[ERROR] [proxyEndpoint=default] The target db1 is unavailable.",
            "[ERROR] The target db1 is unavailable. Reason: UNREACHABLE. The proxy can't reach "
            "the database on port 5432.",
            "[ERROR] Failed to connect to the database at 10.0.2.15:5432: connection refused",
        ),
    ),
    Signature(
        id="target-available",
        severity="info",
        title="Target available",
        cause="The proxy can reach and log in to this target (again).",
        remedy="Nothing to do.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(r"target\s+(?:\S+\s+)?(?:is|became|is\s+now)\s+(?:available|healthy|reachable)",),
        filter_terms=("available", "healthy", "reachable"),
        examples=("[INFO] The target db1 is available.",),
    ),
    Signature(
        id="database-error",
        severity="warn",
        title="Database returned an error",
        cause="The database refused a request and the proxy passed its error on.",
        remedy="Read the database error; it is the database's, not the proxy's.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"request\s+returned\s+an\s+error\W*(?P<error>.*)",
            r"(?:database|DB)\s+returned\s+(?:an\s+)?error\W*(?P<error>.*)",
        ),
        filter_terms=("returned",),
        examples=(
            "Request returned an error: permission denied for table orders.",
        ),
    ),
    Signature(
        id="tls-connection-error",
        severity="error",
        title="TLS connection error (MySQL)",
        cause="The TLS handshake between a MySQL client and the proxy failed "
              "(ERROR 2026 \"SSL connection error: Internal Server Error\"); RDS Proxy gives "
              "it while it cannot serve the handshake, e.g. scaling or under too many new "
              "connections.",
        remedy="Retry with back-off; reuse connections; check the client's --ssl-mode and CA "
               "(proxies present Amazon Trust Services certificates).",
        doc=DOC_TROUBLESHOOTING,
        patterns=(r"SSL\s+connection\s+error\W*(?P<reason>.*)",),
        filter_terms=("SSL connection error",),
        examples=("ERROR 2026 (HY000): SSL connection error: Internal Server Error",),
    ),
    Signature(
        id="character-set-refused",
        severity="error",
        title="Character set refused (MySQL)",
        cause="The client asked for a character_set_client the proxy refuses (ucs2 and other "
              "sets MySQL can't take from clients).",
        remedy="Connect with a supported client character set such as utf8mb4.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"character_set_client\W{0,4}\s+can(?:'|no)?t\s+be\s+set(?:\s+to\s+the\s+value\s+"
            r"of\s+(?P<option>\S+))?",
        ),
        filter_terms=("character_set_client",),
        examples=(
            "ERROR 1231 (42000): Variable ''character_set_client'' can't be set to the value "
            "of ucs2",
        ),
    ),
    Signature(
        id="unknown-error",
        severity="error",
        title="Unknown error (MySQL)",
        cause="RDS Proxy for MySQL reported an error it does not describe (ERROR 1105).",
        remedy="Look at the proxy's log lines around the time of the error; retry.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(r"\bERROR\s+\d+\s+\(\w+\)\W+Unknown\s+error\b",),
        filter_terms=("Unknown error",),
        examples=("ERROR 1105 (HY000): Unknown error",),
    ),
    # -- pinning ---------------------------------------------------------------------------------
    Signature(
        id="pinned",
        severity="warn",
        title="Session pinned",
        cause="The client changed session state the proxy cannot share, so its database "
              "connection is reserved for it until the session ends.",
        remedy="Avoid session state (SET, temporary tables, advisory locks, prepared "
               "statements) or move it to the proxy's InitQuery.",
        doc=DOC_PINNING,
        patterns=(
            r"(?:session|connection)\s+(?:was|has\s+been|got|is|became)\s+pinned" + _REASON,
            r"pinning\s+(?:the\s+)?(?:client\s+)?(?:session|connection)\b" + _REASON,
        ),
        filter_terms=("pinned", "pinning", "Pinning"),
        examples=(
            "[WARN] [proxyEndpoint=default] [clientConnection=5] The client session was pinned "
            "to the database connection [dbConnection=7] for the remainder of the session. The "
            "proxy can't reuse this connection until the session ends. Reason: A cursor was "
            "declared.",
        ),
    ),
    Signature(
        id="pinned-lock",
        severity="warn",
        title="Pinned: table or named lock (MySQL)",
        cause="The client took an explicit table lock (LOCK TABLE(S), FLUSH TABLES WITH READ "
              "LOCK) or a named lock (GET_LOCK); locks belong to one database session.",
        remedy="Use row locks inside transactions (SELECT ... FOR UPDATE) instead of table or "
               "named locks, or accept pinning for the clients that need them.",
        doc=DOC_PINNING,
        parent="pinned",
        reason_patterns=(r"(?:table|named)\s+lock|GET_LOCK|LOCK\s+TABLES?",),
        filter_terms=("pinned", "pinning", "Pinning"),
        examples=(
            "[WARN] [proxyEndpoint=default] [clientConnection=5] The client session was pinned "
            "to the database connection [dbConnection=7] for the remainder of the session. The "
            "proxy can't reuse this connection until the session ends. Reason: A named lock was "
            'created with GET_LOCK. Digest: "SELECT GET_LOCK(?, ?)".',
        ),
    ),
    Signature(
        id="pinned-temporary-table",
        severity="warn",
        title="Pinned: temporary table",
        cause="The client created a temporary table, which lives in one database session.",
        remedy="Use a regular table (per request, dropped after use) or a derived table / CTE.",
        doc=DOC_PINNING,
        parent="pinned",
        reason_patterns=(r"temp(?:orary)?\s+table",),
        filter_terms=("pinned", "pinning", "Pinning"),
        examples=(
            "[WARN] [proxyEndpoint=default] [clientConnection=5] The client session was pinned "
            "to the database connection [dbConnection=7] for the remainder of the session. The "
            "proxy can't reuse this connection until the session ends. Reason: A temporary table "
            "was created.",
        ),
    ),
    Signature(
        id="pinned-parse-message",
        severity="warn",
        title="Pinned: prepared statement (parse message)",
        cause="The client used the extended query protocol with a named prepared statement "
              "(a Parse message), which lives in one database session.",
        remedy="Use unnamed statements: psycopg 3 prepare_threshold=None, JDBC "
               "prepareThreshold=0, node-postgres without `name`; or accept pinning for that "
               "client.",
        doc=DOC_PINNING,
        parent="pinned",
        reason_patterns=(r"parse\s+(?:\w+\s+)?message|prepared\s+statement|extended\s+query",),
        filter_terms=("pinned", "pinning", "Pinning"),
        examples=(
            "2022-10-21T17:25:29.482Z [WARN] [proxyEndpoint=default] [clientConnection=94296180] "
            "The client session was pinned to the database connection [dbConnection=1937442337] "
            "for the remainder of the session. The proxy can't reuse this connection until the "
            "session ends. Reason: A parse message was detected.",
        ),
    ),
    Signature(
        id="pinned-statement-too-large",
        severity="warn",
        title="Pinned: statement over 16384 bytes",
        cause="A statement exceeded the 16384-byte text size the proxy tracks; it pins rather "
              "than risk losing state.",
        remedy="Send large data as bind parameters or in smaller statements; keep query text "
               "under 16 KB.",
        doc=DOC_PINNING,
        parent="pinned",
        reason_patterns=(
            r"(?P<limit>\d+)[\s-]*bytes?",
            r"too\s+(?:large|long|big)|exceed\w*\s+(?:the\s+)?(?:maximum\s+)?(?:statement|query|"
            r"text|size|length)",
        ),
        filter_terms=("pinned", "pinning", "Pinning"),
        examples=(
            "[WARN] [proxyEndpoint=default] [clientConnection=5] The client session was pinned "
            "to the database connection [dbConnection=7] for the remainder of the session. The "
            "proxy can't reuse this connection until the session ends. Reason: The connection "
            "ran a SQL query which exceeded the 16384 byte limit.",
        ),
    ),
    Signature(
        id="pinned-session-settings",
        severity="warn",
        title="Pinned: untracked session settings",
        cause="SQL changed session settings the proxy does not track (SET of a parameter, "
              "search_path ...); the digest shows the statement.",
        remedy="Move the setting to the proxy's InitQuery or the DB parameter group, or use "
               "SET LOCAL inside transactions. MySQL proxies: SET of a tracked variable "
               "(autocommit, NAMES, sql_mode, time_zone, transaction_isolation ...) doesn't "
               "pin; the target group's SessionPinningFilters EXCLUDE_VARIABLE_SETS makes "
               "other SETs (user variables too) stop pinning (rdsproxyctl pool NAME "
               "--session-pinning-filter EXCLUDE_VARIABLE_SETS), at the price of those "
               "settings not following the session to other connections.",
        doc=DOC_PINNING,
        parent="pinned",
        reason_patterns=(
            r"(?:session\s+(?:settings?|state|variables?|parameters?|configuration)|\bSET\s+"
            r"(?:statement|command))(?:.*?\bdigest\b[:=\s]*(?P<digest>.*))?",
        ),
        filter_terms=("pinned", "pinning", "Pinning"),
        examples=(
            "2022-10-21T17:25:29.482Z [WARN] [proxyEndpoint=default] [clientConnection=94296180] "
            "The client session was pinned to the database connection [dbConnection=1937442337] "
            "for the remainder of the session. The proxy can't reuse this connection until the "
            "session ends. Reason: SQL changed session settings that the proxy doesn't track. "
            "Consider moving session configuration to the proxy's initialization query. Digest: "
            "\"set search_path to $1\".",
            "[WARN] [proxyEndpoint=default] [clientConnection=5] The client session was pinned "
            "to the database connection [dbConnection=7] for the remainder of the session. The "
            "proxy can't reuse this connection until the session ends. Reason: SQL changed "
            "session settings that the proxy doesn't track (a user variable was set). Digest: "
            '"SET @x := ?".',
        ),
    ),
    Signature(
        id="pin-notice",
        severity="info",
        title="Session about to be pinned",
        cause="The proxy announces that the session will be pinned; the pinning line with "
              "the reason follows.",
        remedy="See the pinning line that follows.",
        doc=DOC_PINNING,
        patterns=(
            r"will\s+be\s+pinned" + _REASON,
            r"about\s+to\s+(?:be\s+)?pin" + _REASON,
        ),
        filter_terms=("pinned", "pin"),
        examples=(
            "[INFO] [proxyEndpoint=default] [clientConnection=5] The client session will be "
            "pinned to the database connection [dbConnection=7] after this statement.",
        ),
    ),
    # -- connection lifecycle ------------------------------------------------------------------
    Signature(
        id="client-connected",
        severity="info",
        title="Client connected",
        cause="A client opened a connection to the proxy.",
        remedy="Nothing to do.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"new\s+client\s+(?:connection\s+)?(?:connected|accepted|established|opened)"
            r"(?:\s+from\s+(?P<client_address>\S+))?",
            r"client\s+connected\s+from\s+(?P<client_address>\S+)",
        ),
        filter_terms=("connected",),
        examples=(
            "2022-10-21T17:25:29.482Z [INFO] [proxyEndpoint=default] [clientConnection=94296180] "
            "A new client connected from 10.0.1.12:55392.",
        ),
    ),
    Signature(
        id="client-closed",
        severity="info",
        title="Client connection closed",
        cause="A client connection to the proxy ended.",
        remedy="Nothing to do.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            _CLIENT_GONE + _REASON,
            r"client\s+(?:disconnected|closed\s+the\s+connection)" + _REASON,
        ),
        filter_terms=("closed", "terminated", "dropped", "ended", "disconnected"),
        examples=(
            "[INFO] [proxyEndpoint=default] [clientConnection=94296180] The client connection "
            "closed. Reason: The client chose to close the connection.",
            "[INFO] [proxyEndpoint=default] [clientConnection=7] The client session ended. Reason: "
            "The client dropped the connection.",
        ),
    ),
    Signature(
        id="protocol-violation",
        severity="warn",
        title="Protocol violation",
        cause="The client sent a message the proxy could not parse (a wrong protocol, a "
              "malformed or oversized packet), so the proxy closed its connection.",
        remedy="Check that the client speaks the engine's protocol to the right port (5432 "
               "PostgreSQL, 3306 MySQL) and that its driver is supported; see the detail.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"protocol\s+violation\W*(?P<reason>.*)",
            r"(?:sent|received)\s+an?\s+(?:invalid|malformed|unexpected)\s+(?:startup\s+)?"
            r"(?:message|packet)\W*(?P<reason>.*)",
        ),
        parent="client-closed",
        reason_patterns=(r"(?:invalid|malformed|unexpected)\s+(?:startup\s+)?(?:message|packet)"
                         r"|protocol\s+violation",),
        filter_terms=("violation", "invalid", "malformed", "unexpected"),
        examples=(
            "[WARN] [proxyEndpoint=default] [clientConnection=7] The client connection was closed "
            "because it sent an invalid message: startup packet length 99999999 exceeds the "
            "maximum.",
            "protocol violation: startup packet too large",
        ),
    ),
    Signature(
        id="client-closed-idle-timeout",
        severity="info",
        title="Client connection closed: idle timeout",
        cause="The client stayed idle longer than the proxy's IdleClientTimeout.",
        remedy="Expected for idle clients; raise IdleClientTimeout if clients expect longer "
               "idle periods, or let the client pool close idle connections first.",
        doc=DOC_CONNECTIONS,
        parent="client-closed",
        reason_patterns=(r"idle|inactiv",),
        filter_terms=("idle",),
        examples=(
            "[INFO] [proxyEndpoint=default] [clientConnection=94296180] The client connection "
            "closed. Reason: The client connection was idle longer than the idle client timeout.",
            "[INFO] [proxyEndpoint=default] [clientConnection=7] The client session ended because "
            "it was idle for more than the IdleClientTimeout of 1800 seconds.",
        ),
    ),
    Signature(
        id="client-closed-error",
        severity="warn",
        title="Client connection closed by an error",
        cause="A client connection ended abnormally (network reset, protocol error, time-out).",
        remedy="Check the client's network path and its logs around that time.",
        doc=DOC_TROUBLESHOOTING,
        parent="client-closed",
        reason_patterns=(
            r"error|fail|reset|broken|unexpect|abort|time[\s-]*out|timed[\s-]*out|exception|refused"
            r"|invalid|violation|malformed|shut\w*\s+down|deleted",
        ),
        filter_terms=(
            "invalid", "violation", "malformed", "shutting down", "deleted",
            "error", "Error", "failed", "failure", "reset", "broken", "unexpected", "Unexpected",
            "aborted", "timeout", "time-out", "timed out", "exception", "refused",
        ),
        examples=(
            "[WARN] [proxyEndpoint=default] [clientConnection=94296180] The client connection "
            "closed. Reason: The connection was reset by the peer (network error).",
            "[INFO] [proxyEndpoint=default] [clientConnection=7] The client session ended. Reason: "
            "The proxy is shutting down.",
        ),
    ),
    Signature(
        id="db-connection-opened",
        severity="info",
        title="Database connection opened",
        cause="The proxy opened a new connection to the database.",
        remedy="Nothing to do; many of them in a short time mean the pool is churning.",
        doc=DOC_CONNECTIONS,
        patterns=(
            _DB_CONN + r"(?:was\s+|has\s+been\s+|is\s+)?(?:opened|established"
            r"|created)(?:.*?\bto\s+(?:the\s+)?(?:database\s+)?(?:at\s+)?(?P<db_address>\d\S*))?",
            r"(?:TCP\s+)?connection\s+(?:was\s+)?established\s+from\s+the\s+proxy\b.*?\bto\s+the\s+"
            r"database(?:\s+at\s+(?P<db_address>\S+))?",
            r"(?:opened|established|created)\s+(?:a\s+)?new\s+(?:database|DB)\s+connection",
            r"new\s+" + _DB_CONN + r"(?:was\s+)?(?:successfully\s+)?(?:authenticated|opened"
            r"|established|created)",
        ),
        filter_terms=("established", "opened", "created", "authenticated"),
        examples=(
            "[INFO] [dbConnection=1937442337] A TCP connection was established from the proxy at "
            "10.0.3.5:41312 to the database at 10.0.2.15:5432.",
            "[INFO] [dbConnection=1937442337] The new database connection successfully "
            "authenticated with TLS on.",
            "[INFO] The database connection was opened.",
            '[INFO] [proxyEndpoint=default] [clientConnection=7] The new database connection '
            'successfully authenticated with TLS on [dbConnection=12] for user "app" on database '
            '"orders".',
        ),
    ),
    Signature(
        id="db-connection-closed",
        severity="info",
        title="Database connection closed",
        cause="The proxy closed a database connection (idle in the pool, or the database "
              "ended it).",
        remedy="Nothing to do unless the reason is an error.",
        doc=DOC_CONNECTIONS,
        patterns=(
            _DB_CONN + r"(?:was\s+|has\s+been\s+|is\s+)?(?:closed|terminated"
            r"|dropped|ended)" + _REASON,
            r"closed\s+(?:the\s+)?(?:database|DB)\s+connection" + _REASON,
        ),
        filter_terms=("closed", "terminated", "dropped", "ended"),
        examples=(
            "[INFO] [dbConnection=1937442337] The database connection closed. Reason: The "
            "connection was idle in the pool.",
            "[INFO] The database connection [dbConnection=12] closed. Reason: The pool shrank.",
        ),
    ),
    Signature(
        id="db-connection-released",
        severity="info",
        title="Database connection released to the pool",
        cause="A transaction ended and the proxy returned its database connection to the pool.",
        remedy="Nothing to do: this is multiplexing working.",
        doc=DOC_CONNECTIONS,
        patterns=(
            _DB_CONN + r"(?:was\s+|has\s+been\s+|is\s+)?(?:released|returned)",
            r"released\s+(?:the\s+)?(?:database|DB)\s+connection",
        ),
        filter_terms=("released", "returned"),
        examples=(
            "[DEBUG] [proxyEndpoint=default] [clientConnection=5] [dbConnection=7] The database "
            "connection was released back to the connection pool.",
            "[INFO] The database connection [dbConnection=12] was released to the pool.",
        ),
    ),
    Signature(
        id="db-connection-borrowed",
        severity="info",
        title="Database connection borrowed from the pool",
        cause="A client's transaction took a database connection from the pool.",
        remedy="Nothing to do.",
        doc=DOC_CONNECTIONS,
        patterns=(
            r"borrowed\s+(?:the\s+|a\s+)?" + _DB_CONNECTION,
            _DB_CONN + r"(?:was\s+|has\s+been\s+)?borrowed",
        ),
        filter_terms=("borrowed",),
        examples=(
            "[DEBUG] [proxyEndpoint=default] [clientConnection=7] The client session borrowed the "
            "database connection [dbConnection=12].",
        ),
    ),
    Signature(
        id="db-connection-failed",
        severity="error",
        title="Database connection could not be opened",
        cause="The proxy could not open a connection to the database: the database refused the "
              "credentials in the secret, reached max_connections, is down, or is unreachable "
              "(security group).",
        remedy="Check `rdsproxyctl targets NAME` (health reason), that the secret's password "
               "matches the database user's, the database's max_connections, and that its "
               "security group admits the proxy's.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"(?:(?:could|can)" + _NEG + r"|unable\s+to|failed\s+to)\s+(?:open|establish|create)"
            r"\s+(?:an?\s+|the\s+)?(?:new\s+)?" + _DB_CONNECTION + r"s?(?:\s+\[[^]]*\])?" + _FOR_USER
            + _REASON,
            r"new\s+" + _DB_CONN + r"(?:attempt\s+)?" + _FAILED + _FOR_USER + _REASON,
        ),
        filter_terms=("couldn't", "could not", "unable", "Unable", "failed", "Failed"),
        examples=(
            '[WARN] [proxyEndpoint=default] [clientConnection=7] The proxy couldn\'t open a '
            'database connection for user "app". Reason: password authentication failed for '
            'user "app"',
        ),
    ),
    Signature(
        id="auth-succeeded",
        severity="info",
        title="Authentication succeeded",
        cause="A client authenticated to the proxy.",
        remedy="Nothing to do.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"(?:(?P<method>IAM|password|md\d|scram[\w-]*)\s+)?auth\w*\s+(?:has\s+|was\s+)?"
            r"(?:succeeded|successful|completed)" + _FOR_USER + _WITH_TLS,
        ),
        filter_terms=("succeeded", "successful", "completed"),
        examples=(
            '[INFO] [proxyEndpoint=default] [clientConnection=5] Proxy authentication with IAM '
            'authentication succeeded for user "app" with TLS on.',
        ),
    ),
    Signature(
        id="startup-message",
        severity="info",
        title="Startup message received",
        cause="A client sent its startup message (user, database, options).",
        remedy="Nothing to do.",
        doc=DOC_TROUBLESHOOTING,
        patterns=(
            r"(?:received\s+(?:the\s+|a\s+)?startup\s+(?:message|packet)|startup\s+message\s*:)"
            r"(?:.*?\buser(?:name)?\s*=\s*" + _Q
            + r"(?P<user>[^]\"'`\s,]+))?(?:.*?\bdatabase\s*=\s*" + _Q
            + r"(?P<database>[^]\"'`\s,]+))?",
        ),
        filter_terms=("Startup", "startup"),
        examples=(
            '[INFO] [proxyEndpoint=default] [clientConnection=5] Received Startup Message: '
            '[username="app", database="orders", protocolMajorVersion=3, '
            'protocolMinorVersion=0, sslEnabled=true]',
        ),
    ),
    Signature(
        id="debug-sql",
        severity="info",
        title="SQL text (debug logging)",
        cause="The proxy logs SQL statements because its DebugLogging is on.",
        remedy="Turn DebugLogging off when done (`modify NAME --no-debug-logging`): it writes "
               "SQL text, with whatever data it contains, to CloudWatch Logs, and costs.",
        doc=DOC_PROXY,
        patterns=(
            r"(?:sent|ran|executed|prepared|received|parsed)\s+(?:the\s+|a\s+)?SQL\s+"
            r"(?:statement|query|text)",
        ),
        filter_terms=("SQL",),
        examples=(
            "[DEBUG] [proxyEndpoint=default] [clientConnection=7] The client sent the SQL "
            "statement: select 1",
        ),
    ),
)

UNCLASSIFIED = "unclassified"

BY_ID: dict[str, Signature] = {s.id: s for s in SIGNATURES}


def extracted_fields(sig: Signature) -> tuple[str, ...]:
    """Every field a line of ``sig`` can carry: its parents' and its own."""
    own = sig.fields
    parent = BY_ID[sig.parent] if sig.parent else None
    inherited = extracted_fields(parent) if parent else ()
    return tuple(dict.fromkeys((*inherited, *own)))
