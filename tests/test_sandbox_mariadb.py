"""`sandbox up --mysql` on its own directory: MariaDB added to a running sandbox (the daemon
seeds the sandbox-mysql instance without a restart), restarted after a crash, stopped and
removed by `down`."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from rdsproxyctl.sandbox import mariadb
from rdsproxyctl.sandbox import state as st

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not mariadb.available(), reason="MariaDB is not installed")]


def parts(out) -> dict:
    return {p["name"]: p for p in out.json()["parts"]}


def test_mariadb_added_to_a_running_sandbox_then_crash_and_down(cli, tmp_path):
    directory = tmp_path / "sb"
    try:
        first = parts(cli("sandbox", "up", "--dir", str(directory), "-o", "json"))
        assert "mariadb" not in first
        added = parts(cli("sandbox", "up", "--mysql", "--dir", str(directory), "-o", "json"))
        assert added["mariadb"]["state"] == "running"
        assert added["api"]["pid"] == first["api"]["pid"]  # the API kept its state
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seeded = json.loads((directory / st.DAEMON_FILE).read_text())["seeded"]
            if seeded.get("mysql_instance"):
                break
            time.sleep(0.1)
        assert seeded["mysql_instance"] == "sandbox-mysql"
        host, port = added["mariadb"]["address"].split(":")
        assert st.listening(host, int(port))

        os.kill(added["mariadb"]["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while st.is_running(added["mariadb"]["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        crashed = cli("sandbox", "status", "--dir", str(directory), "-o", "json", code=1)
        assert parts(crashed)["mariadb"]["state"] == "crashed"
        again = parts(cli("sandbox", "up", "--dir", str(directory), "-o", "json"))
        assert again["mariadb"]["state"] == "running"  # `up` without --mysql keeps it
        assert again["mariadb"]["pid"] != added["mariadb"]["pid"]
    finally:
        down = cli("sandbox", "down", "--dir", str(directory), "-o", "json", code=None)
    assert down.exit_code == 0, down.stderr
    assert set(down.json()["stopped"]) == {"daemon", "postgres", "mariadb"}
    assert not st.is_running(again["mariadb"]["pid"])
    assert not down.json()["leftovers"]
