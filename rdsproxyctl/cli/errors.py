"""The one place an exception becomes an exit code and a line on stderr."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rdsproxyctl.core.redact import redact_text
from rdsproxyctl.errors import ExitCode, RdsProxyCtlError

if TYPE_CHECKING:  # pragma: no cover
    from rdsproxyctl.cli.runtime import Runtime

DEBUG_HINT = "re-run with --debug for the traceback and the API calls"


def to_error(exc: BaseException, rt: Runtime) -> RdsProxyCtlError | None:
    """Our error for ``exc``: itself, a translated botocore error, or ``None``."""
    if isinstance(exc, RdsProxyCtlError):
        return exc
    if "botocore" in sys.modules:
        from rdsproxyctl.core.awserrors import translate

        s = rt.aws_settings
        return translate(exc, region=s.region, profile=s.profile, endpoint_url=s.endpoint_url)
    return None


def print_traceback(exc: BaseException, rt: Runtime) -> None:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    rt.renderer.stderr.write(redact_text(text))


def run_guarded(rt: Runtime, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run a command; map every failure to one clear line, a hint and an exit code."""
    import typer

    handler = attach_debug_log(rt) if rt.options.debug else None
    try:
        return func(*args, **kwargs)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        rt.renderer.error("interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly, as a filter would
        silence_stdout()
        raise typer.Exit(ExitCode.OK) from None
    except Exception as exc:  # noqa: BLE001 - this is the top-level handler
        try:
            err = to_error(exc, rt)
        except Exception:  # noqa: BLE001 - a bug in the mapping must not hide the error
            err = None
        if rt.options.debug:
            print_traceback(exc, rt)
        if err is None:
            rt.renderer.error(
                f"unexpected error: {type(exc).__name__}: {redact_text(str(exc))}",
                hint=None if rt.options.debug else DEBUG_HINT + ", and report it",
            )
            raise typer.Exit(ExitCode.INTERNAL) from None
        rt.renderer.error(redact_text(err.message), hint=err.hint)
        raise typer.Exit(err.exit_code) from None
    finally:
        if handler is not None:
            detach_debug_log(handler)


def silence_stdout() -> None:
    """Point stdout at /dev/null so the final flush cannot raise BrokenPipeError again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def attach_debug_log(rt: Runtime) -> logging.Handler:
    """Send rdsproxyctl's own debug log (API calls, redacted) to stderr."""
    logger = logging.getLogger("rdsproxyctl")
    handler = logging.StreamHandler(rt.renderer.stderr)
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    handler._previous_level = logger.level  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler


def detach_debug_log(handler: logging.Handler) -> None:
    logger = logging.getLogger("rdsproxyctl")
    logger.removeHandler(handler)
    logger.setLevel(getattr(handler, "_previous_level", logging.NOTSET))
