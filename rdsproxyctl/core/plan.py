"""Plans: every mutating command builds one, then prints it (``--dry-run``) or runs it.

A :class:`Plan` is the list of AWS API calls a command would make (service,
operation, exact parameters, a one-line description), the field-level changes they
amount to (``+ create``, ``~ update``, ``- delete``, old and new values) and the
warnings found while building it.  Nothing in a plan is secret: parameters are
redacted with :mod:`rdsproxyctl.core.redact` whenever a plan is shown.

:func:`execute` runs a plan through the :class:`~rdsproxyctl.core.aws.Aws` factory:
it first checks every call's parameters against botocore's model (so a plan never
stops half-way on a malformed call), then makes the calls in order inside
``aws_errors``, waiting for the proxy to become available where a call says so, and
finally (``wait=True``) waits as the plan asks.  A failure after some calls ran names
what ran and what did not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rdsproxyctl.core.redact import redact
from rdsproxyctl.errors import Interrupted, RdsProxyCtlError

ChangeAction = Literal["create", "update", "delete"]
WaitFor = Literal["available", "deleted", "endpoint-available", "endpoint-deleted", "none"]

#: Symbols of the diff view, by change action.
SYMBOLS = {"create": "+", "update": "~", "delete": "-"}

Progress = Callable[[str], None]


def _no_progress(_message: str) -> None:
    return None


@dataclass(frozen=True)
class PlannedCall:
    """One AWS API call: ``aws <service> <operation>`` with exactly these parameters."""

    service: str
    operation: str  # the API name, e.g. "CreateDBProxy"
    params: dict[str, Any]
    description: str
    #: Wait for the proxy to be ``available`` after this call, before the next one
    #: (AWS refuses most changes while a proxy is creating or modifying).
    wait_after: bool = False

    @property
    def method(self) -> str:
        """The botocore client method (``create_db_proxy``)."""
        from botocore import xform_name

        return str(xform_name(self.operation))

    @property
    def proxy_name(self) -> str | None:
        """The proxy this call leaves behind (its new name after a rename)."""
        return self.params.get("NewDBProxyName") or self.params.get("DBProxyName")

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "operation": self.operation,
            "params": redact(self.params),
            "description": self.description,
            "wait_after": self.wait_after,
        }


@dataclass(frozen=True)
class Change:
    """One field-level difference between what is and what the command asks for."""

    action: ChangeAction
    resource: str  # "proxy demo", "target db1", "endpoint demo-ro", "role rds-proxy-demo"
    field: str | None = None
    old: Any = None
    new: Any = None
    #: Why this change needs consent, when the builder knows better than :func:`consent_reason`.
    consent: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "resource": self.resource,
            "field": self.field,
            "old": redact(self.old, self.field),
            "new": redact(self.new, self.field),
        }


#: ClientPasswordAuthType moves that weaken password authentication (old -> new).
_WEAKER_PASSWORD = {("POSTGRES_SCRAM_SHA_256", "POSTGRES_MD5"),
                    ("MYSQL_CACHING_SHA2_PASSWORD", "MYSQL_NATIVE_PASSWORD")}


def consent_reason(change: Change) -> str | None:
    """Why ``change`` needs the user's consent, or ``None``: THE rule of what is destructive.

    A change needs consent when it removes something (a proxy, an endpoint, a target, an
    auth entry, a policy's statements), or weakens TLS or authentication: RequireTLS
    turned off, IAMAuth changed in a way that drops a way clients authenticate today
    (REQUIRED -> DISABLED/ENABLED weakens it, DISABLED -> REQUIRED locks password
    clients out), a weaker ClientPasswordAuthType.  Tags are fields of a resource, not
    resources: removing one is an ordinary change.
    """
    if change.consent:
        return change.consent
    res, f, old, new = change.resource, change.field, change.old, change.new
    if change.action == "delete":
        if res.startswith("tags of "):
            return None
        if res.startswith("target "):
            return f"deregisters {res}"
        return f"removes {res}"
    if change.action != "update":
        return None
    if f == "require_tls" and old is True and new is False:
        return f"turns RequireTLS off on {res} (clients may connect without TLS)"
    if f == "iam_auth" and old != new and (old, new) != ("DISABLED", "ENABLED"):
        if new == "REQUIRED":
            return (f"sets IAMAuth {old} -> REQUIRED on {res} (password clients are refused "
                    "from then on)")
        return f"weakens IAM authentication on {res} ({old} -> {new})"
    if f == "client_password_auth_type" and (old, new) in _WEAKER_PASSWORD:
        return f"weakens password authentication on {res} ({old} -> {new})"
    return None


@dataclass
class Plan:
    """What a mutating command will do to one proxy (or, for IAM, to one principal)."""

    action: str  # "create", "apply", "modify", "pool", "iam enable", ...
    proxy: str
    changes: list[Change] = field(default_factory=list)
    calls: list[PlannedCall] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: What ``--wait`` waits for once every call ran.
    wait_for: WaitFor = "available"
    #: Wait for targets to leave REGISTERING as well (targets were registered).
    wait_targets: bool = False
    #: The endpoint ``wait_for="endpoint-deleted"`` waits on.
    endpoint: str | None = None

    @property
    def no_changes(self) -> bool:
        return not self.calls

    @property
    def consent(self) -> list[str]:
        """Why this plan needs the user's consent (empty: it does not); see :func:`consent_reason`."""
        if self.no_changes:
            return []
        return list(dict.fromkeys(r for r in map(consent_reason, self.changes) if r))

    @property
    def final_name(self) -> str:
        """The proxy's name once the plan ran (after a rename)."""
        name = self.proxy
        for call in self.calls:
            if call.service == "rds" and call.params.get("NewDBProxyName"):
                name = call.params["NewDBProxyName"]
        return name

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "proxy": self.proxy,
            "no_changes": self.no_changes,
            "changes": [c.to_json() for c in self.changes],
            "calls": [c.to_json() for c in self.calls],
            "warnings": list(self.warnings),
            "consent": self.consent,
        }


@dataclass
class Outcome:
    """A plan, and whether it ran: the JSON of every mutating command."""

    plan: Plan
    dry_run: bool
    applied: bool
    #: The proxy after the plan ran and the wait ended (``None`` when not waited).
    after: Any = None
    #: Targets after the wait, when the plan registered targets.
    targets: list[Any] | None = None

    def to_json(self) -> dict[str, Any]:
        from rdsproxyctl.core.models import to_jsonable

        data = self.plan.to_json()
        data.update(dry_run=self.dry_run, applied=self.applied,
                    after=to_jsonable(self.after) if self.after is not None else None)
        if self.targets is not None:
            data["targets"] = to_jsonable(self.targets)
        return data


def check_params(aws: Any, plan: Plan) -> None:
    """Validate every call against botocore's model before the first one runs.

    A failure here is a bug in the plan builder (core validation should have caught
    the value), so it is raised as it is: an internal error with its message.
    """
    from botocore.validate import ParamValidator

    validator = ParamValidator()
    for call in plan.calls:
        model = aws.client(call.service).meta.service_model.operation_model(call.operation)
        report = validator.validate(call.params, model.input_shape)
        if report.has_errors():
            raise ValueError(f"planned call {call.service}:{call.operation} has invalid "
                             f"parameters: {redact(report.generate_report())}")


def run_call(aws: Any, call: PlannedCall, **subject: str) -> dict[str, Any]:
    """Make one planned call through the factory, with AWS errors translated."""
    from rdsproxyctl.core.awserrors import aws_errors

    with aws_errors(aws, **subject):
        return dict(getattr(aws.client(call.service), call.method)(**call.params))


def _subject(plan: Plan, call: PlannedCall) -> dict[str, str]:
    subject = {"proxy": call.params.get("DBProxyName") or plan.proxy}
    if "DBProxyEndpointName" in call.params:
        subject["endpoint"] = call.params["DBProxyEndpointName"]
    for key in ("RoleName", "UserName"):
        if key in call.params:
            subject[key.lower().replace("name", "")] = call.params[key]
    return subject


def execute(aws: Any, plan: Plan, *, wait: bool = True, options: Any = None,
            progress: Progress | None = None) -> Outcome:
    """Run ``plan``; with ``wait``, wait as it asks.  Returns the :class:`Outcome`."""
    from rdsproxyctl.core import waiter

    progress = progress or _no_progress
    options = options or waiter.WaitOptions()
    if plan.no_changes:
        return Outcome(plan, dry_run=False, applied=False)
    check_params(aws, plan)
    done: list[PlannedCall] = []
    total = len(plan.calls)
    try:
        for i, call in enumerate(plan.calls, 1):
            progress(f"[{i}/{total}] {call.operation}: {call.description}")
            run_call(aws, call, **_subject(plan, call))
            done.append(call)
            if call.wait_after and call.proxy_name:
                waiter.wait_for_proxy(aws, call.proxy_name, options=options, progress=progress)
    except RdsProxyCtlError as err:
        if done:
            ran = ", ".join(c.operation for c in done)
            left = ", ".join(c.operation for c in plan.calls[len(done):])
            note = f"{len(done)} of {total} calls had run ({ran}); not run: {left}"
            err.hint = f"{note}. {err.hint}" if err.hint else note
        raise
    except KeyboardInterrupt:
        raise interrupted(plan, done, waiting=False) from None
    outcome = Outcome(plan, dry_run=False, applied=True)
    if not wait or plan.wait_for == "none":
        return outcome
    try:
        _final_wait(aws, plan, outcome, options, progress)
    except KeyboardInterrupt:
        raise interrupted(plan, done, waiting=True) from None
    return outcome


def interrupted(plan: Plan, done: list[PlannedCall], *, waiting: bool) -> Interrupted:
    """Ctrl-C during a plan: what was already changed, and how to carry on."""
    total = len(plan.calls)
    name = plan.final_name
    if not done:
        return Interrupted(f"interrupted: nothing was changed ({plan.action} {plan.proxy})",
                           hint="run the command again")
    made = "; ".join(c.description for c in done)
    message = f"interrupted after {len(done)} of {total} call(s): {made}"
    left = plan.calls[len(done):]
    if left:
        message += "; not made: " + "; ".join(c.description for c in left)
    if plan.wait_for == "deleted":
        going = f"{name} is being deleted"
        follow = f"`rdsproxyctl show {name}` says when it is gone"
    elif plan.wait_for in ("endpoint-available", "endpoint-deleted"):
        going = f"endpoint {plan.endpoint} is still " + (
            "being created" if plan.wait_for == "endpoint-available" else "being deleted")
        follow = f"`rdsproxyctl endpoints {name}` shows its status"
    else:
        created = any(c.operation == "CreateDBProxy" for c in done)
        registered = any(c.operation == "RegisterDBProxyTargets" for c in done)
        going = f"{name} was created and may still be creating" if created else \
            f"{name} may still be modifying"
        if registered:
            going += "; its target is still registering"
        follow = (f"`rdsproxyctl targets {name}` shows the targets' health" if registered
                  else f"`rdsproxyctl show {name}` shows its status")
    if waiting or not left:
        what = "AWS goes on with what was started"
    elif plan.action == "create":
        what = ("the rest is not made: `rdsproxyctl apply` with a spec (or `targets add`, "
                "`pool`) makes it")
    else:
        what = "run the command again to make the rest (it plans only what still differs)"
    return Interrupted(message, hint=f"{going}; {what}; {follow}")


def _final_wait(aws: Any, plan: Plan, outcome: Outcome, options: Any,
                progress: Progress) -> None:
    from rdsproxyctl.core import waiter

    if plan.wait_for == "deleted":
        waiter.wait_for_proxy_deleted(aws, plan.proxy, options=options, progress=progress)
    elif plan.wait_for == "endpoint-available":
        waiter.wait_for_endpoint(aws, plan.endpoint or "", options=options, progress=progress)
    elif plan.wait_for == "endpoint-deleted":
        waiter.wait_for_endpoint_deleted(aws, plan.endpoint or "", options=options,
                                         progress=progress)
    else:
        result = waiter.wait_for_proxy(aws, plan.final_name, targets=plan.wait_targets,
                                       options=options, progress=progress)
        outcome.after = result.proxy
        if plan.wait_targets:
            outcome.targets = result.targets
