"""The sandbox's address allocator: each proxy address listens on 5432 and 3306 (MySQL), and
falls back to 5432 alone when something holds 0.0.0.0:3306."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from rdsproxyctl.sandbox.emulator.server import LoopbackAllocator


class _Recorder:
    def __init__(self) -> None:
        self.served: list[tuple[str, int]] = []
        self.closed: list[str] = []

    async def serve(self, address: str, sock: socket.socket) -> None:
        self.served.append((address, sock.getsockname()[1]))

    async def close_address(self, address: str) -> None:
        self.closed.append(address)


def wait_served(recorder: _Recorder, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(recorder.served) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_allocator(check) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        check(loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_both_ports_on_one_address_and_release_closes_both():
    pg, my = free_port(), free_port()
    recorder = _Recorder()

    def check(loop):
        allocator = LoopbackAllocator(recorder, loop, port=pg, extra_ports=(my,))
        address = allocator.allocate("p", "default")
        assert address is not None and address.startswith("127.0.0.")
        wait_served(recorder, 2)
        for port in (pg, my):
            with socket.create_connection((address, port), timeout=2):
                pass
        allocator.release(address)
        assert not allocator.sockets
        deadline = time.monotonic() + 5
        while not recorder.closed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.closed == [address]
        allocator.close_all()

    run_allocator(check)
    assert sorted(p for _, p in recorder.served) == sorted([pg, my])


def test_an_occupied_mysql_port_everywhere_leaves_postgresql_working():
    pg, my = free_port(), free_port()
    blocker = socket.socket()
    blocker.bind(("0.0.0.0", my))  # a system MySQL on every address
    blocker.listen(1)
    recorder = _Recorder()
    try:
        def check(loop):
            allocator = LoopbackAllocator(recorder, loop, port=pg, extra_ports=(my,), first=2,
                                          last=4)
            address = allocator.allocate("p", "default")
            assert address is not None
            assert list(allocator.sockets) == [address]  # 5432 only
            wait_served(recorder, 1)
            allocator.close_all()

        run_allocator(check)
    finally:
        blocker.close()
    assert [p for _, p in recorder.served] == [pg]
