"""Keep secrets out of logs, plans and error messages.

Used by ``--debug`` API-call logging, by plans and by the error handler.  A value
is redacted when its key names a secret, or when it looks like an IAM auth token
or carries a SigV4 signature.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***redacted***"

_SECRET_KEYS = {
    "password",
    "masteruserpassword",
    "secretstring",
    "secretbinary",
    "secretaccesskey",
    "aws_secret_access_key",
    "sessiontoken",
    "aws_session_token",
    "token",
    "authtoken",
    "pgpassword",
    "x-amz-security-token",
    "x-amz-signature",
    "authorization",
}

# A presigned rds-db token (or any SigV4 query string): redact the signature and the
# session token, keep the rest readable (host, user, expiry help debugging).
_QS_SECRET = re.compile(r"(?i)(X-Amz-(?:Signature|Security-Token)=)[^&\s'\"]+")
# libpq conninfo / URI passwords: password=... or postgresql://user:pass@host
_CONNINFO_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")
_URI_PASSWORD = re.compile(r"(?i)(postgres(?:ql)?://[^:/@\s]+:)([^@\s]+)(@)")
# SQL: CREATE/ALTER ROLE ... [ENCRYPTED] PASSWORD 'secret' (a proxy's debug log shows the
# statements clients send), with '' and E'...\'...' escapes.
_SQL_PASSWORD = re.compile(r"(?i)(\bPASSWORD\s+)((?:E|U&)?'(?:[^'\\]|''|\\.)*'?|\$\$.*?\$\$)")
# JSON or Python reprs: "password": "secret", 'SecretAccessKey': '...', "token":"..."
_QUOTED_PAIR = re.compile(
    r"""(["'])([A-Za-z0-9_.-]{1,64})\1(\s*:\s*)(["'])((?:(?!\4)[^\\]|\\.)*)\4""")
# environment assignments: AWS_SECRET_ACCESS_KEY=..., export AWS_SESSION_TOKEN="..."
_ENV_SECRET = re.compile(
    r"(?i)\b((?:AWS_)?(?:SECRET_ACCESS_KEY|SESSION_TOKEN|SECURITY_TOKEN)\s*[=:]\s*)"
    r"('[^']*'|\"[^\"]*\"|[^\s'\",;&]+)")
#: Cheap test before the regexes: a line without any of these has nothing to redact.
_MARKERS = ("password", "secret", "token", "x-amz-", "://", "authorization")


def _norm(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


_SECRET_KEYS_NORM = frozenset(_norm(k) for k in _SECRET_KEYS)


def is_secret_key(key: str) -> bool:
    k = _norm(key)
    return k in _SECRET_KEYS_NORM or k.endswith("password")


def _quoted_pair(m: re.Match[str]) -> str:
    if not is_secret_key(m.group(2)) or not m.group(5):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{REDACTED}{m.group(4)}"


def redact_text(text: str) -> str:
    """Redact SigV4 signatures, session tokens and passwords inside free text: query
    strings, libpq conninfo and URIs, SQL ``PASSWORD '...'``, JSON/repr ``"password":
    "..."`` pairs and ``AWS_SECRET_ACCESS_KEY=...`` assignments."""
    lowered = text.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return text
    text = _QS_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUOTED_PAIR.sub(_quoted_pair, text)
    text = _ENV_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _SQL_PASSWORD.sub(lambda m: m.group(1) + f"'{REDACTED}'", text)
    text = _CONNINFO_PASSWORD.sub(lambda m: m.group(1) + REDACTED, text)
    return _URI_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)


def redact(value: Any, key: str | None = None) -> Any:
    """Return a copy of ``value`` with secrets replaced by ``***redacted***``."""
    if key is not None and is_secret_key(key) and value not in (None, "", b""):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return redact_text(value)
    return value
