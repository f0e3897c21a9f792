"""Fault and limit bookkeeping without servers: validation, the emulator's fault table, the
routing of borrows to writer or readers, and `sandbox fault` without a sandbox."""

from __future__ import annotations

import pytest

from rdsproxyctl.errors import UsageError
from rdsproxyctl.sandbox import faults
from rdsproxyctl.sandbox.emulator import routing
from rdsproxyctl.sandbox.emulator.control import TargetView
from rdsproxyctl.sandbox.emulator.faults import FaultTable, Refusal


@pytest.mark.parametrize("kind,value,expected", [
    ("failover", None, None), ("db-restart", None, 5.0), ("db-restart", 2.5, 2.5),
    ("db-slow", 0.2, 0.2), ("client-limit", 3, 3), ("connection-rate", 10, 10)])
def test_validate_accepts(kind, value, expected):
    assert faults.validate(kind, value) == expected


@pytest.mark.parametrize("kind,value,text", [
    ("meltdown", None, "unknown fault"), ("failover", 1, "takes no value"),
    ("db-slow", None, "needs a value"), ("db-slow", 0, "must be in (0, 300]"),
    ("db-slow", 301, "must be in (0, 300]"), ("client-limit", 0, "whole number"),
    ("client-limit", 1.5, "whole number")])
def test_validate_refuses(kind, value, text):
    with pytest.raises(UsageError, match=text.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        faults.validate(kind, value)


def test_client_limit_counts_sessions():
    table = FaultTable()
    table.of("prx-1").client_limit = 2
    table.admit("prx-1")
    table.admit("prx-1")
    with pytest.raises(Refusal) as exc:
        table.admit("prx-1")
    assert (exc.value.key, exc.value.limit) == ("max_client_connections", 2)
    table.admit("prx-2")  # another proxy: its own count
    table.leave("prx-1")
    table.admit("prx-1")
    assert table.snapshot()["prx-1"]["clients"] == 2


def test_connection_rate_is_per_second():
    table = FaultTable()
    table.of("p").rate_limit = 2
    table.admit("p", now=10.0)
    table.admit("p", now=10.5)
    with pytest.raises(Refusal) as exc:
        table.admit("p", now=10.9)
    assert exc.value.key == "connection_rate"
    table.admit("p", now=11.01)  # the first left the one-second window


def test_latency_only_where_set():
    table = FaultTable()
    assert table.latency("p") == 0.0
    table.of("p").latency = 0.3
    assert table.latency("p") == 0.3 and table.latency("q") == 0.0
    table.of("p").latency = 0.0
    assert table.snapshot() == {}


def _t(rid, role, cluster=None, type_="RDS_INSTANCE"):
    return TargetView(rid, type_, f"{rid}.example", 5432, role, cluster)


def test_routing_instance_target():
    targets = [_t("db1", "READ_WRITE")]
    assert routing.choose(targets, "READ_WRITE", lambda _: {"State": "UNAVAILABLE"}).rds_resource_id \
        == "db1"  # an instance is tried whatever its health (the pool retries)
    with pytest.raises(routing.NoReaders):
        routing.choose(targets, "READ_ONLY", lambda _: None)


def test_routing_cluster_members_by_role_and_health():
    targets = [_t("c", None, "c", "TRACKED_CLUSTER"), _t("c-1", "READ_WRITE", "c"),
               _t("c-2", "READ_ONLY", "c")]
    health = {"c-1": {"State": "AVAILABLE"}, "c-2": {"State": "AVAILABLE"}}
    assert routing.choose(targets, "READ_WRITE", health.get).rds_resource_id == "c-1"
    assert routing.choose(targets, "READ_ONLY", health.get).rds_resource_id == "c-2"
    health["c-1"] = {"State": "UNAVAILABLE", "Reason": "UNREACHABLE"}  # failing over: wait
    assert routing.choose(targets, "READ_WRITE", health.get) is None
    health["c-2"] = {"State": "UNAVAILABLE", "Reason": "INVALID_REPLICATION_STATE"}
    assert routing.choose(targets, "READ_ONLY", health.get) is None
    with pytest.raises(routing.NoReaders):  # a cluster without readers
        routing.choose(targets[:2], "READ_ONLY", health.get)


def test_fault_without_a_sandbox_is_not_found(cli, tmp_path):
    out = cli("sandbox", "fault", "db-down", "--dir", str(tmp_path / "none"), code=3)
    assert "no sandbox in" in out.stderr
    assert not (tmp_path / "none").exists()
    out = cli("sandbox", "fault", "db-slow", "--dir", str(tmp_path / "none"), code=2)
    assert "db-slow needs a value" in out.stderr
    out = cli("sandbox", "fault", "clear", "3", "--dir", str(tmp_path / "none"), code=2)
    assert "takes no value" in out.stderr
