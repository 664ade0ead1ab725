"""`usher serve` stopping with live feeds open: on SIGTERM each feed ends at once, cleanly (its
client is told to reconnect with its Last-Event-ID), and the server exits within a second, not
after its graceful-shutdown timeout (USHER_SHUTDOWN_GRACE_SECONDS) and still less never."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from services.settings import get_settings
from tests.integration.events.conftest import Processes, free_port
from tests.integration.staff.conftest import _wait_for
from tests.sse import Reader

pytestmark = pytest.mark.slow


async def _open_feed(http: httpx.AsyncClient, headers: dict[str, str], opened: asyncio.Event):
    """Read a feed to its end: (its messages' events, the raw text, when it ended)."""
    reader = Reader()
    events: list[str] = []
    raw: list[str] = []
    async with http.stream("GET", "/v1/staff/events", headers=headers) as response:
        assert response.status_code == 200
        async for text in response.aiter_text():
            raw.append(text)
            events += [message.event for message in reader.feed(text)]
            if "ready" in events:
                opened.set()
    return events, "".join(raw), time.monotonic()


async def test_sigterm_ends_open_feeds_at_once_and_the_server_exits(staff, tmp_path):
    processes = Processes(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # a grace long enough to tell the feeds' own end from uvicorn cancelling them
    server = processes.start(
        get_settings(), "serve", "--port", str(port), USHER_SHUTDOWN_GRACE_SECONDS="20"
    )
    try:
        _wait_for(url, processes)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            opened = [asyncio.Event() for _ in range(3)]
            feeds = [asyncio.ensure_future(_open_feed(http, staff, o)) for o in opened]
            await asyncio.wait_for(asyncio.gather(*(o.wait() for o in opened)), 10)
            stopped_at = time.monotonic()
            server.send_signal(signal.SIGTERM)
            ended = await asyncio.wait_for(asyncio.gather(*feeds), 10)
            code = await asyncio.to_thread(server.wait, 10)
            exited = time.monotonic() - stopped_at
    finally:
        processes.close()
    for events, raw, ended_at in ended:
        assert events == ["ready"]
        assert raw.endswith(": the server is stopping: reconnect with Last-Event-ID\n\n")
        assert ended_at - stopped_at < 1.0
    # uvicorn shuts down gracefully, then raises the signal it caught again: killed by SIGTERM
    assert code == -signal.SIGTERM, processes.logs()
    assert "Application shutdown complete" in processes.logs()
    assert exited < 2.0, f"the server took {exited:.1f} s to exit\n{processes.logs()}"
    logs = processes.logs()
    assert "timeout graceful shutdown exceeded" not in logs
    assert "Traceback" not in logs, logs
