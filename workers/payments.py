"""Payment callbacks for the worker: the `payments` consumer acts on each stored callback as its
PaymentCallbackReceived event arrives, and a sweep acts on any it missed (an event lost, a
worker that died mid-way) and expires open checkouts whose hold died. Acting is idempotent
(services/money), so the two may meet on one callback: it is acted on once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg

from schemas.events import Event, PaymentCallbackReceived
from services.money.service import act_on_callback, sweep_callbacks
from workers.delivery import Delivery

# The consumer acts within a moment of a callback's arrival; the sweep takes those older.
SWEEP_AFTER = timedelta(seconds=10)


async def act_on_payment(delivery: Delivery, event: Event) -> None:
    """The `payments` consumer: act on the callback the event reports (in the delivery's own
    transaction, so its effect and the event's processing commit together)."""
    assert isinstance(event, PaymentCallbackReceived)
    await act_on_callback(delivery.conn, event.provider, event.event_id, datetime.now(UTC))


async def sweep_payments(ctx: dict[str, Any]) -> int:
    """Act on callbacks stored more than SWEEP_AFTER ago and not yet acted on."""
    pool: asyncpg.Pool = ctx["pool"]
    async with pool.acquire() as conn:
        connection = cast(asyncpg.Connection, conn)
        return await sweep_callbacks(connection, datetime.now(UTC), SWEEP_AFTER)
