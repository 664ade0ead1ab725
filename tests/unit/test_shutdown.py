"""Knowing the process is stopping: the signal handlers uvicorn installs are wrapped, still run,
and come back; `usher serve` gives uvicorn its graceful-shutdown timeout."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import pytest

from services import cli
from services.settings import get_settings
from services.shutdown import Shutdown


async def test_sigterm_sets_stopping_and_still_reaches_the_servers_handler():
    seen: list[int] = []

    def servers_handler(signum: int, frame: Any) -> None:  # as uvicorn's handle_exit
        seen.append(signum)

    original = signal.signal(signal.SIGTERM, servers_handler)
    try:
        shutdown = Shutdown()
        shutdown.install()
        assert signal.getsignal(signal.SIGTERM) is not servers_handler
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(shutdown.stopping.wait(), 1)
        assert seen == [signal.SIGTERM]
        shutdown.restore()
        assert signal.getsignal(signal.SIGTERM) is servers_handler
    finally:
        signal.signal(signal.SIGTERM, original)


async def test_a_signal_without_a_python_handler_is_left_alone():
    original = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        shutdown = Shutdown()
        shutdown.install()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        shutdown.restore()
    finally:
        signal.signal(signal.SIGTERM, original)


@pytest.mark.parametrize(("value", "expected"), [(None, 5), ("12", 12), ("0", 0)])
def test_usher_serve_passes_the_grace_to_uvicorn(monkeypatch, value, expected):
    import uvicorn

    if value is None:
        monkeypatch.delenv("USHER_SHUTDOWN_GRACE_SECONDS", raising=False)
    else:
        monkeypatch.setenv("USHER_SHUTDOWN_GRACE_SECONDS", value)
    monkeypatch.setenv("USHER_SECRET_KEY", "a-key-long-enough-for-serve-0123456789")
    got: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: got.update(kwargs))
    get_settings.cache_clear()
    try:
        args = argparse.Namespace(
            host=None, port=None, workers=1, log_level="warning", access_log=False
        )
        assert cli.cmd_serve(args) == 0
    finally:
        get_settings.cache_clear()
    assert got["timeout_graceful_shutdown"] == expected


def test_a_negative_grace_is_refused(monkeypatch):
    monkeypatch.setenv("USHER_SHUTDOWN_GRACE_SECONDS", "-1")
    get_settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="USHER_SHUTDOWN_GRACE_SECONDS"):
            get_settings()
    finally:
        get_settings.cache_clear()
