"""The plan abstraction and the waiter, as a library (no CLI)."""

from __future__ import annotations

import pytest

from rdsproxyctl import motoext
from rdsproxyctl.core import lifecycle, waiter
from rdsproxyctl.core.plan import Change, Plan, PlannedCall, execute
from rdsproxyctl.core.redact import REDACTED
from rdsproxyctl.errors import CheckFailed

from .conftest import ACCOUNT, REGION


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def options(clock: FakeClock, timeout: float = 60, interval: float = 5) -> waiter.WaitOptions:
    return waiter.WaitOptions(timeout=timeout, interval=interval, sleep=clock.sleep, clock=clock)


def test_wait_polls_until_available_reporting_each_state(world, aws, monkeypatch):
    monkeypatch.setattr(motoext.settings, "TRANSITION_READS", 3)
    world.make_proxy("demo", targets=False)
    clock, seen = FakeClock(), []
    result = waiter.wait_for_proxy(aws, "demo", options=options(clock), progress=seen.append)
    assert result.proxy.status == "available"
    # (CreateDBProxy's own response used up one of the transitional reads)
    assert seen == ["demo: creating"] * 2 + ["demo: available"]
    assert clock.sleeps == [5, 5] and result.waited == 10


def test_wait_for_targets_to_leave_registering(world, aws):
    world.make_proxy("demo")
    motoext.set_target_health(ACCOUNT, REGION, "demo", "db1", "REGISTERING")
    clock, seen = FakeClock(), []

    def progress(message: str) -> None:
        seen.append(message)
        if len(seen) == 2:  # registered after two polls
            motoext.clear_target_health(ACCOUNT, REGION, "demo", "db1")

    result = waiter.wait_for_proxy(aws, "demo", targets=True, options=options(clock),
                                   progress=progress)
    assert seen == ["demo: available, target db1 REGISTERING"] * 2 + [
        "demo: available, targets registered"]
    assert [t.health.state for t in result.targets] == ["AVAILABLE"]
    assert clock.sleeps == [5, 5]


def test_wait_times_out_with_the_last_state(world, aws, monkeypatch):
    monkeypatch.setattr(motoext.settings, "TRANSITION_READS", 1000)
    world.make_proxy("demo", targets=False)
    clock = FakeClock()
    with pytest.raises(CheckFailed) as info:
        waiter.wait_for_proxy(aws, "demo", options=options(clock, timeout=12, interval=5))
    assert info.value.message == ("timed out after 12s waiting for proxy demo to be available "
                                  "(still creating)")
    assert clock.sleeps == [5, 5, 2]  # never sleeps past the time-out


@pytest.mark.parametrize("status", sorted(waiter.FAILED_STATUSES))
def test_failed_statuses_stop_the_wait_at_once(world, aws, status):
    world.make_proxy("demo", targets=False)
    motoext.set_proxy_status(ACCOUNT, REGION, "demo", status)
    clock = FakeClock()
    with pytest.raises(CheckFailed) as info:
        waiter.wait_for_proxy(aws, "demo", options=options(clock))
    assert info.value.message.startswith(f"proxy demo is {status}: ")
    assert info.value.hint and clock.sleeps == []


def test_wait_for_deletion(world, aws):
    world.make_proxy("demo", targets=False)
    world.rds().delete_db_proxy(DBProxyName="demo")
    seen: list[str] = []
    waiter.wait_for_proxy_deleted(aws, "demo", options=options(FakeClock()),
                                  progress=seen.append)
    assert seen == ["demo: deleted"]


def test_plan_json_redacts_secret_like_values():
    plan = Plan(action="test", proxy="demo", calls=[PlannedCall(
        "rds", "CreateDBInstance", {"DBInstanceIdentifier": "x", "MasterUserPassword": "hunter2"},
        "make a db")], changes=[Change("update", "db x", "password", "old-pw", "new-pw")])
    data = plan.to_json()
    assert data["calls"][0]["params"] == {"DBInstanceIdentifier": "x",
                                          "MasterUserPassword": REDACTED}
    assert (data["changes"][0]["old"], data["changes"][0]["new"]) == (REDACTED, REDACTED)
    assert "hunter2" not in str(data)


def test_a_malformed_plan_runs_no_call_at_all(world, aws, api_calls):
    plan = Plan(action="test", proxy="demo", calls=[
        PlannedCall("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": "{}"},
                    "fine"),
        PlannedCall("rds", "CreateDBProxy", {"DBProxyName": "demo"}, "lacks required params"),
    ])
    with pytest.raises(ValueError, match="planned call rds:CreateDBProxy has invalid parameters"):
        execute(aws, plan)
    assert api_calls.calls == []


def test_library_use_create_then_apply_same_spec_has_no_changes(world, aws):
    from rdsproxyctl.core.spec import AuthSpec, PoolSpec, ProxySpec, TargetSpec

    def spec() -> ProxySpec:
        return ProxySpec(name="lib", engine_family="postgresql", role_arn=world.role_arn,
                         vpc_subnet_ids=list(world.subnets),
                         auth=[AuthSpec(world.secret_arn, iam_auth="required")],
                         pool=PoolSpec(max_connections_percent=80),
                         targets=[TargetSpec(db_instance_identifier="db1")], tags={"a": "b"})

    outcome = execute(aws, lifecycle.create_plan(aws, spec()),
                      options=waiter.WaitOptions(interval=0))
    assert outcome.applied and outcome.after.status == "available"
    s = spec()
    s.check()
    again = lifecycle.apply_plan(aws, s)
    assert again.no_changes, again.to_json()
