"""Emails with tickets are rendered in a separate process (workers/emails/rendering.py): drawing
their QR codes is CPU work, and the worker's event loop, which also runs the consumer groups, keeps
turning meanwhile. Before, a stream of bookings starved the groups (docs/streams.md, "Lag")."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from services.settings import (
    AuthSettings,
    BoxOfficeSettings,
    DatabaseSettings,
    MailSettings,
    RedisSettings,
    Settings,
)
from tests.unit.test_emails import BOOKING, NOW, SCREENING
from workers.emails import rendering
from workers.emails.letters import BookingConfirmedMail
from workers.emails.render import render

SETTINGS = Settings(
    DatabaseSettings("x"),
    RedisSettings("x"),
    AuthSettings(secret="a-staff-token-key-0123456789abcdef-0123"),
    BoxOfficeSettings(),
    MailSettings(),
)
CONTEXT = BookingConfirmedMail(occurred_at=NOW, screening=SCREENING, booking=BOOKING)


async def _render_counting_turns() -> tuple[object, int]:
    """Render apart while another task counts the event loop's turns."""
    turns = 0
    done = asyncio.Event()

    async def count() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    counting = asyncio.create_task(count())
    try:
        rendered = await rendering.render_apart("booking_confirmed", CONTEXT, SETTINGS)
    finally:
        done.set()
        await counting
    return rendered, turns


async def test_the_loop_turns_while_an_email_with_tickets_is_rendered() -> None:
    rendered, turns = await _render_counting_turns()
    assert rendered == render("booking_confirmed", CONTEXT, SETTINGS)  # the same email, QR and all
    assert turns > 1  # rendered here, no other task would run before it was done
    renderer = await asyncio.get_running_loop().run_in_executor(rendering._renderers(), os.getpid)
    assert renderer != os.getpid()


async def test_a_dead_renderer_is_replaced_and_its_email_still_rendered() -> None:
    loop = asyncio.get_running_loop()
    renderer = await loop.run_in_executor(rendering._renderers(), os.getpid)
    os.kill(renderer, signal.SIGKILL)  # the pool finds it dead now or at the next render
    expected = render("booking_confirmed", CONTEXT, SETTINGS)
    assert await rendering.render_apart("booking_confirmed", CONTEXT, SETTINGS) == expected
    rendered, turns = await _render_counting_turns()  # a new renderer process
    assert rendered == expected
    assert turns > 1
    assert await loop.run_in_executor(rendering._renderers(), os.getpid) != renderer
    rendering.stop_renderers()


# A worker's stand-in: starts the renderers, says their process ids, then waits to be killed.
_WORKER = """
import asyncio, os
from workers.emails import rendering

async def main():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(rendering._renderers(), os.getpid)
    print(" ".join(str(p) for p in rendering._renderers()._processes), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_renderers_leave_when_their_worker_is_killed() -> None:
    """SIGKILL gives a worker no shutdown to stop its renderers: each leaves by itself once the
    worker is gone. They used to wait on its queue for ever (each fault-test run left four)."""
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        [sys.executable, "-c", _WORKER], cwd=root, stdout=subprocess.PIPE, text=True
    ) as worker:
        try:
            assert worker.stdout is not None
            renderers = [int(pid) for pid in worker.stdout.readline().split()]
            assert renderers
            assert not any(_gone(pid) for pid in renderers)
        finally:
            worker.kill()
    deadline = time.monotonic() + 30
    while not all(_gone(pid) for pid in renderers):
        assert time.monotonic() < deadline, f"renderers left behind: {renderers}"
        time.sleep(0.05)
