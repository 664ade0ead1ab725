"""Emails with tickets are rendered in a separate process (workers/emails/rendering.py): drawing
their QR codes is CPU work, and the worker's event loop, which also runs the consumer groups, keeps
turning meanwhile. Before, a stream of bookings starved the groups (docs/streams.md, "Lag")."""

from __future__ import annotations

import asyncio
import os
import signal

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
