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
from rdsproxyctl.errors import RdsProxyCtlError

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

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "resource": self.resource,
            "field": self.field,
            "old": redact(self.old, self.field),
            "new": redact(self.new, self.field),
        }


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
    outcome = Outcome(plan, dry_run=False, applied=True)
    if not wait or plan.wait_for == "none":
        return outcome
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
    return outcome
