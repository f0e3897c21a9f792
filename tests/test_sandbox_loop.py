"""The sandbox daemon's event loop (RDSPROXYCTL_SANDBOX_LOOP): uvloop's when installed
(``auto``, the default; the ``sandbox`` extra installs it), asyncio's on request, and
asyncio's with a warning when uvloop is asked for but missing."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from rdsproxyctl.sandbox.daemon import _run_loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def _ran_on(choice: str) -> str:
    seen: list[str] = []

    async def main() -> None:
        seen.append(await _loop_module())

    _run_loop(main(), choice)
    assert len(seen) == 1
    return seen[0]


def test_asyncio_on_request() -> None:
    assert _ran_on("asyncio").startswith("asyncio")


def test_auto_is_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop")
    assert _ran_on("auto").startswith("uvloop")


def test_auto_without_uvloop_is_asyncio_without_a_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    with caplog.at_level(logging.WARNING, logger="rdsproxyctl.sandbox"):
        assert _ran_on("auto").startswith("asyncio")
    assert "uvloop" not in caplog.text


def test_uvloop_on_request() -> None:
    pytest.importorskip("uvloop")
    assert _ran_on("uvloop").startswith("uvloop")


def test_uvloop_missing_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    with caplog.at_level(logging.WARNING, logger="rdsproxyctl.sandbox"):
        assert _ran_on("uvloop").startswith("asyncio")
    assert "uvloop is not installed" in caplog.text and "[sandbox]" in caplog.text
