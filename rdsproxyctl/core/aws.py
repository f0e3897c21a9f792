"""The one factory for boto3 sessions and clients.

Nothing else in rdsproxyctl creates a boto3 session or client: every AWS call goes
through :class:`Aws`.  It applies ``--profile``, ``--region`` and ``--endpoint-url``,
standard-mode retries with a bounded number of attempts, connect and read time-outs,
and ``--debug`` logging of API calls with secrets redacted.  Anything it does not
set is left to AWS's own chain (AWS_PROFILE, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL,
~/.aws/config ...), so the tool behaves like the AWS CLI a user already configured.

boto3 and botocore are imported lazily: ``rdsproxyctl --help`` must not pay for them.
Sessions are botocore sessions (what a boto3 Session wraps): importing boto3 also
imports s3transfer, ~50 ms on every command for nothing.  Library users who want a
boto3 Session with the same settings call :meth:`Aws.boto3_session`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rdsproxyctl import __version__
from rdsproxyctl.core.redact import redact
from rdsproxyctl.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import boto3
    import botocore.session

log = logging.getLogger("rdsproxyctl.aws")

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class AwsSettings:
    """What the user chose; ``None`` means "let AWS's own chain decide"."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    debug: bool = False


# Sessions are cached per profile and clients per (profile, region, endpoint, service):
# a CLI process makes each once, and a test session shares them (creating a client
# costs tens of milliseconds; under moto, much more).
_lock = threading.Lock()
_sessions: dict[str | None, Any] = {}
_clients: dict[tuple[Any, ...], Any] = {}


def reset_cache() -> None:
    """Forget cached sessions and clients (tests that change credentials call this)."""
    with _lock:
        _sessions.clear()
        _clients.clear()


def _new_session(profile: str | None) -> botocore.session.Session:
    import botocore.exceptions
    import botocore.session

    session = botocore.session.Session(profile=profile)
    try:
        session.get_scoped_config()  # fails now, not mid-command, on an unknown profile
    except botocore.exceptions.ProfileNotFound as exc:
        from rdsproxyctl.errors import AuthError

        raise AuthError(
            f"AWS profile {profile!r} not found",
            hint="check --profile / AWS_PROFILE against `aws configure list-profiles`",
        ) from exc
    return session


def session_for(profile: str | None) -> botocore.session.Session:
    with _lock:
        session = _sessions.get(profile)
        if session is None:
            session = _sessions[profile] = _new_session(profile)
        return session


class Aws:
    """Makes the boto3 clients of one invocation.  ``Aws(settings).client("rds")``."""

    def __init__(self, settings: AwsSettings | None = None) -> None:
        self.settings = settings or AwsSettings()
        self._region: str | None = None

    @property
    def session(self) -> botocore.session.Session:
        return session_for(self.settings.profile)

    def boto3_session(self) -> boto3.Session:
        """A boto3 Session over the same botocore session (for library users)."""
        import boto3

        return boto3.Session(botocore_session=self.session, region_name=self.region)

    @property
    def region(self) -> str:
        """The region: --region, then AWS_REGION, then AWS_DEFAULT_REGION / the profile."""
        if self._region is None:
            region = (
                self.settings.region
                or os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION")  # as botocore: before the profile's
                or self.session.get_config_variable("region")
            )
            if not region:
                raise UsageError(
                    "no AWS region configured",
                    hint="pass --region, set AWS_REGION (or RDSPROXYCTL_REGION), "
                    "or add `region` to your AWS profile",
                )
            self._region = region
        return self._region

    @property
    def region_or_none(self) -> str | None:
        """The region if one is configured, without raising (for messages)."""
        try:
            return self.region
        except UsageError:
            return None

    def config(self) -> Any:
        from botocore.config import Config

        return Config(
            retries={"mode": "standard", "max_attempts": self.settings.max_attempts},
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            user_agent_extra=f"rdsproxyctl/{__version__}",
        )

    def client(self, service: str) -> Any:
        """A boto3 client for ``service``; the one place clients are made."""
        s = self.settings
        key = (s.profile, self.region, s.endpoint_url, service, s.max_attempts,
               s.connect_timeout, s.read_timeout)
        with _lock:
            client = _clients.get(key)
        if client is None:
            session = self.session
            kwargs: dict[str, Any] = {"region_name": self.region, "config": self.config()}
            if s.endpoint_url:
                kwargs["endpoint_url"] = s.endpoint_url
            client = session.create_client(service, **kwargs)
            _install_debug_hooks(client)
            with _lock:
                client = _clients.setdefault(key, client)
        return client

    def credentials(self) -> Any:
        """The resolved credentials (frozen), or raise the 'no credentials' error.

        Without an explicit profile, botocore's chain tries the environment first; we
        ask its EnvProvider directly then, which spares importing and building a whole
        botocore session (~30 ms) for commands that only sign (``token``).
        """
        with aws_errors(self):
            creds = None
            if self.settings.profile is None:
                from botocore.credentials import EnvProvider

                creds = EnvProvider().load()
            if creds is None:
                creds = self.session.get_credentials()
        if creds is None:
            from rdsproxyctl.core.awserrors import no_credentials

            raise no_credentials(self.settings.profile)
        return creds.get_frozen_credentials()

    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])


@contextmanager
def aws_errors(aws: Aws, **subject: str) -> Iterator[None]:
    """Re-raise any botocore failure inside the block as our error, naming ``subject``.

    The error table (core/awserrors.py) is imported only when something fails.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - re-raised below when not ours
        from rdsproxyctl.core.awserrors import translate

        s = aws.settings
        err = translate(exc, region=aws.region_or_none, profile=s.profile,
                        endpoint_url=s.endpoint_url, **subject)
        if err is None or err is exc:
            raise
        raise err from exc


def _install_debug_hooks(client: Any) -> None:
    """Log every API call and its outcome at DEBUG, with secrets redacted.

    The hooks are cheap no-ops unless the ``rdsproxyctl.aws`` logger is enabled
    for DEBUG (``--debug``).
    """
    events = client.meta.events
    service = client.meta.service_model.service_name
    starts: dict[int, float] = {}

    def before(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            starts[id(context)] = time.perf_counter()
            log.debug("API call %s.%s %s", service, model.name, redact(params))

    def after(http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
              **_: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            started = starts.pop(id(context), None)
            ms = (time.perf_counter() - started) * 1000 if started else 0.0
            status = getattr(http_response, "status_code", "?")
            error = (parsed or {}).get("Error", {}).get("Code")
            log.debug("API done %s.%s HTTP %s%s in %.0f ms", service, model.name, status,
                      f" {error}" if error else "", ms)

    def failed(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            starts.pop(id(context), None)
            log.debug("API failed %s: %s", service, redact(str(exception)))

    events.register("provide-client-params", before)
    events.register("after-call", after)
    events.register("after-call-error", failed)
