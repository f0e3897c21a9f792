"""The one exception hierarchy of rdsproxyctl.

Every expected failure is an :class:`RdsProxyCtlError` subclass carrying an exit
code and, where we know one, a hint that tells the user what to do next.  The CLI
maps them to one line on stderr in exactly one place (``rdsproxyctl.cli.errors``).

This module imports nothing heavy: the CLI loads it before any command runs.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every rdsproxyctl command (documented in docs/exit-codes.md)."""

    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    AUTH = 4
    CONNECTION = 5
    INTERNAL = 70
    INTERRUPTED = 130


#: One line per code, in the order of the table in docs/exit-codes.md.
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.CHECK_FAILED: "a check failed (diagnose, connect smoke test, logs summary --fail-on)",
    ExitCode.USAGE: "usage error: a bad option or value, refused before any AWS call",
    ExitCode.NOT_FOUND: "not found: the proxy, endpoint, target, secret or log group does not exist",
    ExitCode.AUTH: "AWS credentials missing or expired, or permission denied",
    ExitCode.CONNECTION: "connection failure: AWS endpoint unreachable, or the database/proxy refused us",
    ExitCode.INTERNAL: "internal error: a bug in rdsproxyctl (re-run with --debug and report it)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


class RdsProxyCtlError(Exception):
    """Base of every expected failure. ``str(err)`` is the one-line message."""

    exit_code: ExitCode = ExitCode.CHECK_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class CheckFailed(RdsProxyCtlError):
    exit_code = ExitCode.CHECK_FAILED


class ExitWith(RdsProxyCtlError):
    """A failure whose exit code is chosen per case (e.g. a connect failure's class)."""

    def __init__(self, message: str, exit_code: int, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = ExitCode(exit_code)


class UsageError(RdsProxyCtlError):
    """A bad option or value; raised before any AWS call is made."""

    exit_code = ExitCode.USAGE


class NotFound(RdsProxyCtlError):
    exit_code = ExitCode.NOT_FOUND


class AuthError(RdsProxyCtlError):
    """Missing or expired credentials, or a permission the caller lacks."""

    exit_code = ExitCode.AUTH


class AccessDenied(AuthError):
    def __init__(self, message: str, *, action: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.action = action


class ConnectionFailure(RdsProxyCtlError):
    exit_code = ExitCode.CONNECTION


class Interrupted(RdsProxyCtlError):
    """Ctrl-C in the middle of a change: the message says what was already done."""

    exit_code = ExitCode.INTERRUPTED


class AwsApiError(RdsProxyCtlError):
    """An AWS error we have no better mapping for (code and message kept)."""

    exit_code = ExitCode.CHECK_FAILED

    def __init__(self, message: str, *, code: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
