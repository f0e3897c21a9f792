"""--follow: new lines exactly once, bounded memory, back-off, and Ctrl-C -> exit 130."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rdsproxyctl.core.logs import fetch

from .logs_data import put_lines

ROOT = Path(__file__).resolve().parents[1]


class Script:
    """A `sleep` for fetch.follow that runs one step per poll, then stops the loop."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if not self.steps:
            raise KeyboardInterrupt
        self.steps.pop(0)()


def run(gen) -> list:
    events = []
    try:
        for page in gen:
            events.extend(page)
    except KeyboardInterrupt:
        pass
    return events


def test_follow_yields_new_lines_exactly_once(world, aws):
    world.make_proxy("demo")
    now = int(time.time() * 1000)
    put_lines(aws, "demo", [f"[INFO] A new client connected from 10.0.0.{i}:1." for i in range(3)],
              start_ms=now - 5000)
    script = Script(
        lambda: None,  # an idle poll: the same three events come back, none is repeated
        lambda: put_lines(aws, "demo", ["[WARN] Timed-out waiting to acquire database "
                                        "connection."], start_ms=now + 10),
        lambda: None,
        lambda: put_lines(aws, "demo", ["[INFO] late but inside the look-back"],
                          stream="stream-2", start_ms=now - 2000),
        lambda: None,
    )
    events = run(fetch.follow(aws, "demo", now - 60_000, sleep=script))
    messages = [e.message for e in events]
    assert messages[:3] == [f"A new client connected from 10.0.0.{i}:1." for i in range(3)]
    assert messages.count("Timed-out waiting to acquire database connection.") == 1
    assert messages.count("late but inside the look-back") == 1
    assert len(messages) == 5
    assert events[3].signature == "borrow-timeout"


def test_follow_backs_off_when_idle_and_resets_on_news(world, aws):
    world.make_proxy("demo")
    now = int(time.time() * 1000)
    put_lines(aws, "demo", ["[INFO] first"], start_ms=now - 1000)
    idle = lambda: None  # noqa: E731
    script = Script(idle, idle, idle, idle, idle,
                    lambda: put_lines(aws, "demo", ["[INFO] news"], start_ms=now + 5), idle)
    run(fetch.follow(aws, "demo", now - 60_000, sleep=script, min_poll=1, max_poll=8))
    assert script.waits == [1, 2, 4, 8, 8, 8, 1, 2]


def test_follow_forgets_ids_older_than_the_look_back(world, aws):
    """Memory stays bounded: ids leave the de-dup set once they are out of the window."""
    world.make_proxy("demo")
    now = int(time.time() * 1000)
    put_lines(aws, "demo", [f"[INFO] old {i}" for i in range(50)], start_ms=now - 600_000)
    put_lines(aws, "demo", ["[INFO] recent"], stream="s2", start_ms=now - 100)
    gen = fetch.follow(aws, "demo", now - 3600_000, lookback_ms=1000, sleep=Script(lambda: None))
    first = next(gen)
    assert len(first) == 51
    seen = gen.gi_frame.f_locals["seen"]
    assert list(seen.values()) == [now - 100]  # only the id inside the look-back is kept
    gen.close()


def test_follow_reports_a_missing_group(world, aws):
    world.make_proxy("quiet")
    with pytest.raises(Exception) as info:
        next(fetch.follow(aws, "quiet", 0, sleep=Script()))
    assert getattr(info.value, "exit_code", None) == 3


# -- end to end: a real process, a real moto server, a real SIGINT --------------------------------
@pytest.fixture
def moto_server():
    """A moto server with the project's extension on a free loopback port, stopped by PID."""
    import os
    import socket
    import urllib.request

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RDSPROXYCTL_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/nonexistent",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_EC2_METADATA_DISABLED="true",
               MOTO_EC2_LOAD_DEFAULT_AMIS="false")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "rdsproxyctl.motoext", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield url, env
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_follow_cli_shows_a_new_line_once_and_exits_130_on_ctrl_c(moto_server):
    import botocore.session

    url, env = moto_server
    logs = botocore.session.Session().create_client(
        "logs", region_name="us-east-1", endpoint_url=url, aws_access_key_id="testing",
        aws_secret_access_key="testing")
    group = "/aws/rds/proxy/demo"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")

    def put(message: str) -> None:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": int(time.time() * 1000), "message": message}])

    put("[INFO] [proxyEndpoint=default] [clientConnection=1] A new client connected from "
        "10.0.0.1:5000.")
    cli = [sys.executable, "-m", "rdsproxyctl", "--endpoint-url", url, "logs", "demo",
           "--follow", "-o", "json"]
    proc = subprocess.Popen(cli, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    try:
        def next_line(timeout: float = 20) -> dict:
            return json.loads(lines.get(timeout=timeout))

        assert next_line()["signature"] == "client-connected"
        new = ('[WARN] [proxyEndpoint=default] [clientConnection=2] Proxy authentication with IAM '
               'authentication failed for user "app" with TLS on. Reason: An expired token.')
        put(new)  # written after the command started
        row = next_line()
        assert row["signature"] == "iam-auth-expired-token" and row["user"] == "app"
        time.sleep(3.5)  # a few more polls: the line must not come back
        proc.send_signal(signal.SIGINT)
        code = proc.wait(15)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert rest == [], rest
    assert code == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr


def test_read_ahead_keeps_order_bounds_memory_and_raises_in_the_caller():
    produced: list[int] = []

    def items(n=10):
        for i in range(n):
            produced.append(i)
            yield i

    it = fetch.read_ahead(items(), depth=1)
    assert next(it) == 0
    time.sleep(0.3)
    assert len(produced) <= 3  # one taken, one queued, one waiting: never the whole input
    assert list(it) == list(range(1, 10))

    def failing():
        yield 1
        raise ValueError("page 2 failed")

    it = fetch.read_ahead(failing())
    assert next(it) == 1
    with pytest.raises(ValueError, match="page 2"):
        next(it)

    produced.clear()
    it = fetch.read_ahead(items(1000))
    next(it)
    it.close()  # the consumer stops early (| head): so does the producer
    time.sleep(0.5)
    assert len(produced) <= 3
