"""What every mutating command shares: --dry-run, --wait, --timeout, the plan view, the run.

A command builds a :class:`~rdsproxyctl.core.plan.Plan` in core, then calls
:func:`run_plan`: warnings go to stderr; ``--dry-run`` prints the plan (table or
``-o json``) and changes nothing; otherwise the plan runs with progress on stderr
(a spinner with elapsed time on a terminal, one line per state change otherwise)
and the outcome is printed like the plan.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer

from rdsproxyctl.cli import options as o
from rdsproxyctl.cli.output import Column, Table, View, cell
from rdsproxyctl.core.plan import SYMBOLS, Outcome, Plan
from rdsproxyctl.errors import CheckFailed, UsageError

#: Seconds between polls while waiting (default 5); the sandbox and tests lower it.
POLL_INTERVAL_ENV = "RDSPROXYCTL_POLL_INTERVAL"

# The plan options are defined once, in cli/options.py; these names stay for importers.
DryRun = o.DryRun
WaitOn = WaitOff = o.Wait
Timeout = o.Timeout
DEFAULT_TIMEOUT = o.DEFAULT_TIMEOUT
Yes = o.Yes
MAX_TIMEOUT = 7 * 24 * 3600.0

CHANGE_COLUMNS = [
    Column("symbol", ""),
    Column("resource", "RESOURCE"),
    Column("field", "FIELD"),
    Column("old", "OLD"),
    Column("new", "NEW"),
]
CALL_COLUMNS = [
    Column("n", "#"),
    Column("call", "API CALL"),
    Column("description", "WHAT"),
]
CALL_COLUMNS_WITH_PARAMS = [*CALL_COLUMNS, Column("params", "PARAMETERS")]


def wait_options(timeout: float) -> Any:
    """The waiter's options: --timeout, and RDSPROXYCTL_POLL_INTERVAL if set."""
    from rdsproxyctl.core.waiter import DEFAULT_INTERVAL, WaitOptions

    if not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout must be more than zero and at most a week, got {timeout:g}s",
                         hint="e.g. --timeout 90, 90s, 10m, 1h")
    raw = os.environ.get(POLL_INTERVAL_ENV)
    interval = DEFAULT_INTERVAL
    if raw:
        try:
            interval = float(raw)
        except ValueError:
            interval = -1.0
        if not 0 <= interval <= MAX_TIMEOUT:  # also refuses nan and inf
            raise UsageError(f"{POLL_INTERVAL_ENV}={raw!r} is not a number of seconds")
    return WaitOptions(timeout=timeout, interval=interval)


def _show(value: Any) -> Any:
    if isinstance(value, (dict, list)) and value and any(isinstance(x, dict) for x in
                                                         (value if isinstance(value, list)
                                                          else [value])):
        return json.dumps(value, separators=(",", ":"))
    return value


def plan_view(outcome: Outcome) -> View:
    data = outcome.to_json()
    changes = [{"symbol": SYMBOLS.get(c["action"], "?"), "resource": c["resource"],
                "field": c["field"], "old": cell(_show(c["old"])) if c["action"] != "create"
                else "", "new": cell(_show(c["new"])) if c["action"] != "delete" else ""}
               for c in data["changes"]]
    calls = [{"n": i, "call": f"{c['service']}:{c['operation']}",
              "description": c["description"] + (" (then wait)" if c["wait_after"] else ""),
              "params": json.dumps(c["params"], separators=(",", ":"), default=str)}
             for i, c in enumerate(data["calls"], 1)]
    if outcome.plan.no_changes:
        return View(data, [Table(CHANGE_COLUMNS, [], empty="no changes")])
    if outcome.dry_run:
        title, call_title = "Plan (dry run: nothing changed)", "API calls it would make"
        columns = CALL_COLUMNS_WITH_PARAMS
    else:
        title, call_title = "Changes made", "API calls made"
        columns = CALL_COLUMNS
    return View(data, [Table(CHANGE_COLUMNS, changes, title=title, empty="no field changes"),
                       Table(columns, calls, title=call_title)])


def run_plan(rt: Any, plan: Plan, *, dry_run: bool, yes: bool = False, wait: bool = True,
             options: Any = None, question: str | None = None) -> Outcome:
    """Print ``plan`` (``--dry-run``) or run it, with warnings and progress on stderr.

    A plan that needs consent (``plan.consent``: it removes, deregisters, or weakens
    TLS or authentication) runs only after :func:`require_consent`.  ``options`` come
    from :func:`wait_options`, called by the command before it builds the plan so a
    bad --timeout is refused before any API call.
    """
    from rdsproxyctl.core.plan import execute

    options = options or wait_options(DEFAULT_TIMEOUT)
    for warning in plan.warnings:
        rt.renderer.warn(warning)
    if dry_run or plan.no_changes:
        outcome = Outcome(plan, dry_run=dry_run, applied=False)
        rt.renderer.emit(plan_view(outcome))
        return outcome
    require_consent(rt, plan, yes=yes, question=question)
    with rt.renderer.status(f"{plan.action} {plan.proxy}: {len(plan.calls)} call(s)") as update:
        outcome = execute(rt.aws, plan, wait=wait, options=options, progress=update)
    rt.renderer.emit(plan_view(outcome))
    _report(rt, outcome, wait)
    return outcome


def _report(rt: Any, outcome: Outcome, wait: bool) -> None:
    plan = outcome.plan
    for t in outcome.targets or []:
        if t.health.state not in ("AVAILABLE", None):
            detail = ": ".join(x for x in (t.health.reason, t.health.description) if x)
            rt.renderer.warn(f"target {t.rds_resource_id} is {t.health.state}"
                             + (f" ({detail})" if detail else "")
                             + f"; `rdsproxyctl targets {plan.final_name}` follows it")
    done = f"{plan.action} {plan.proxy}: {len(plan.calls)} call(s) made"
    if outcome.after is not None:
        rt.renderer.success(f"{done}; {outcome.after.name} is {outcome.after.status}"
                            + (f" at {outcome.after.endpoint}" if outcome.after.endpoint else ""))
    elif wait and plan.wait_for != "none":
        rt.renderer.success(f"{done}; done")
    else:
        rt.renderer.success(f"{done}; not waited (AWS applies it in the background)")


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def require_consent(rt: Any, plan: Plan, *, yes: bool, question: str | None = None) -> None:
    """THE consent gate of every mutating command: nothing to ask when ``plan.consent``
    is empty; otherwise ``--yes``, or a "yes" typed on a terminal, or exit 2.

    On a terminal the reasons are printed (stderr) before the question.
    """
    reasons = plan.consent
    if not reasons or yes:
        return
    what = "; ".join(reasons)
    question = question or f"{plan.action} {plan.proxy} {what}. Proceed?"
    if stdin_is_terminal():
        for reason in reasons:
            rt.renderer.warn(f"{plan.action} {plan.proxy} {reason}")
    confirm(rt, question, yes=yes)


def confirm(rt: Any, question: str, *, yes: bool, flag: str = "--yes") -> None:
    """Ask on a terminal; without one, ``--yes`` is required (else exit 2)."""
    if yes:
        return
    if not stdin_is_terminal():
        raise UsageError(f"{question.rstrip('?').removesuffix('. Proceed')}: refusing without "
                         "confirmation (no terminal to ask on)",
                         hint=f"add {flag} to confirm, or --dry-run to see the plan")
    if not typer.confirm(question, default=False, err=True):
        raise CheckFailed("not confirmed: nothing changed")
