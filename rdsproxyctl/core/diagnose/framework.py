"""The diagnose framework: findings, the check registry, shared look-ups, the runner.

A check is a function ``check(ctx) -> Finding | list[Finding]`` registered with
:func:`check`.  It reads everything through ``ctx.lookups`` (memoised, thread-safe, and
shared by every proxy of ``diagnose --all``), so a describe of subnets, security
groups, roles or instances happens once per run.  A check that fails because the caller
lacks a permission becomes a SKIP naming the missing action, never a crash or a PASS.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rdsproxyctl.errors import AccessDenied, RdsProxyCtlError, UsageError

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
SEVERITY = {PASS: 0, SKIP: 0, WARN: 1, FAIL: 2}
AREAS = ("proxy", "auth", "role", "client", "network", "targets", "pool", "logs", "connect")


@dataclass(frozen=True)
class Finding:
    id: str
    area: str
    status: str
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)
    remedy: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class ProxyReport:
    proxy: str
    region: str
    findings: list[Finding]
    counts: dict[str, int]
    worst: str
    seconds: float


@dataclass(frozen=True)
class Options:
    user: str | None = None
    principal: str | None = None
    connect: bool = False
    since: str = "1h"
    checks: tuple[str, ...] = ()
    skips: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckDef:
    id: str
    area: str
    title: str
    func: Callable[[Context], Finding | list[Finding]]
    link: str | None


REGISTRY: dict[str, CheckDef] = {}


def check(id: str, area: str, title: str, link: str | None = None) -> Callable[..., Any]:
    """Register a check.  ``id`` is stable: users pass it to --check/--skip."""
    assert area in AREAS, area

    def register(func: Callable[[Context], Finding | list[Finding]]) -> Any:
        REGISTRY[id] = CheckDef(id, area, title, func, link)
        return func

    return register


class Lookups:
    """Memoised AWS look-ups shared by all checks (and all proxies of a run)."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self._lock = threading.Lock()
        self._values: dict[tuple[Any, ...], Any] = {}
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key, even when threads ask at the same time.
        Errors are memoised too: a denied call is not repeated for every proxy."""
        with self._lock:
            if key in self._values:
                return _unwrap(self._values[key])
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._values:
                    return _unwrap(self._values[key])
            try:
                value: Any = compute()
            except (RdsProxyCtlError, SkipCheck) as exc:
                value = _Raised(exc)
            with self._lock:
                self._values[key] = value
            return _unwrap(value)


@dataclass(frozen=True)
class _Raised:
    error: Exception


def _unwrap(value: Any) -> Any:
    if isinstance(value, _Raised):
        raise value.error
    return value


@dataclass
class Context:
    """What one proxy's checks see."""

    aws: Any
    lookups: Lookups
    proxy_name: str
    options: Options
    data: dict[str, Any] = field(default_factory=dict)

    def finding(self, check_id: str, status: str, title: str | None = None, *,
                evidence: dict[str, Any] | None = None, remedy: str | None = None) -> Finding:
        d = REGISTRY[check_id]
        return Finding(id=check_id, area=d.area, status=status, title=title or d.title,
                       evidence=evidence or {}, remedy=remedy, link=d.link)


def selected(options: Options) -> list[CheckDef]:
    unknown = [c for c in (*options.checks, *options.skips) if c not in REGISTRY]
    if unknown:
        raise UsageError(f"unknown check id(s): {', '.join(unknown)}",
                         hint="`rdsproxyctl diagnose --list-checks` shows them")
    chosen = [d for d in REGISTRY.values() if not options.checks or d.id in options.checks]
    chosen.sort(key=lambda d: AREAS.index(d.area))  # stable: registration order within an area
    return [d for d in chosen if d.id not in options.skips]


def _run_one(ctx: Context, d: CheckDef) -> list[Finding]:
    try:
        result = d.func(ctx)
    except AccessDenied as exc:
        return [Finding(d.id, d.area, SKIP, d.title,
                        evidence={"missing_action": exc.action or "?", "error": exc.message},
                        remedy=f"grant {exc.action} to the caller to run this check", link=d.link)]
    except SkipCheck as exc:
        return [Finding(d.id, d.area, SKIP, d.title, evidence=exc.evidence, remedy=exc.remedy,
                        link=d.link)]
    except RdsProxyCtlError as exc:
        return [Finding(d.id, d.area, SKIP, d.title,
                        evidence={"error": exc.message}, remedy=exc.hint, link=d.link)]
    except Exception as exc:  # noqa: BLE001 - one broken check must not sink the report
        from rdsproxyctl.core.redact import redact_text

        return [Finding(d.id, d.area, SKIP, f"{d.title}: the check could not run",
                        evidence={"error": f"{type(exc).__name__}: {redact_text(str(exc))}"},
                        remedy="re-run with --debug and report it", link=d.link)]
    if isinstance(result, Finding):
        return [result]
    return list(result)


class SkipCheck(Exception):
    """Raised by a check that does not apply (or cannot run) here."""

    def __init__(self, reason: str, remedy: str | None = None, **evidence: Any) -> None:
        super().__init__(reason)
        self.evidence = {"reason": reason, **evidence}
        self.remedy = remedy


def diagnose_proxy(aws: Any, lookups: Lookups, name: str, options: Options) -> ProxyReport:
    """Run the selected checks on one proxy, in registry order."""
    started = time.perf_counter()
    ctx = Context(aws=aws, lookups=lookups, proxy_name=name, options=options)
    from rdsproxyctl.core.diagnose import data

    try:
        data.proxy(ctx)  # an unknown proxy is an error (exit 3), not a report of SKIPs
    except AccessDenied:
        pass  # each check will SKIP naming the action
    findings: list[Finding] = []
    for d in selected(options):
        findings.extend(_run_one(ctx, d))
    counts = Counter(f.status for f in findings)
    worst = max((f.status for f in findings), key=lambda s: SEVERITY[s], default=PASS)
    return ProxyReport(proxy=name, region=aws.region, findings=findings,
                       counts={s: counts.get(s, 0) for s in (PASS, WARN, FAIL, SKIP)},
                       worst=worst, seconds=round(time.perf_counter() - started, 3))
