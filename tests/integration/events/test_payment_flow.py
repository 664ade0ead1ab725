"""A payment callback is acted on through the real path: stored with its event by the API's
service, carried by the real relay to the `payments` consumer group of a real worker process,
which makes the booking. The worker's sweep only takes callbacks older than 10 s: acting within
that proves the consumer did it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from schemas.box_office import ConfirmIn, HoldIn
from services.box_office import service as box_office
from services.money import service as money
from services.money.rules import signature_header
from services.settings import Settings
from tests.integration.box_office.helpers import confirm_body, screening_in
from tests.integration.events.conftest import Processes, wait_until


async def test_a_callback_is_acted_on_by_the_payments_consumer(
    demo: asyncpg.Pool, settings: Settings, processes: Processes, redis: Redis
) -> None:
    processes.start(settings, "relay")
    processes.start(settings, "worker")

    async def consumer_ready() -> bool:
        try:
            groups = await redis.xinfo_groups(settings.redis.events_stream)
        except ResponseError:
            return False
        return any(g["name"] == b"payments" for g in groups)

    screening = await screening_in(demo, "cinema-2")
    now = datetime.now(UTC)
    async with demo.acquire() as conn:
        made, _ = await box_office.request_hold(
            conn, screening, HoldIn(seats=["C3"]), "flow", settings.box_office, now
        )
        assert made.token is not None
        started, _ = await money.start_checkout(
            conn, made.id, made.token, "flow", msgspec.convert(confirm_body(["C3"]), ConfirmIn), now
        )
    await wait_until(consumer_ready, within=30)
    body = msgspec.json.encode(
        {
            "id": "evt-flow",
            "type": "payment.succeeded",
            "checkout_id": str(started.id),
            "payment_id": "pi-flow",
            "amount": started.amount,
            "currency": started.currency,
            "occurred_at": now.isoformat(),
        }
    )
    provider, secret = settings.payments.providers[0]
    async with demo.acquire() as conn:
        received = datetime.now(UTC)
        header = signature_header(secret, int(time.time()), body)
        await money.receive_callback(
            conn, settings.payments.secrets, provider, header, body, received
        )

    async def booked() -> bool:
        status = await demo.fetchval("SELECT status FROM booking WHERE hold_id = $1", made.id)
        return bool(status == "confirmed")

    await wait_until(booked, within=30)
    row = await demo.fetchrow(
        "SELECT processed_at, outcome FROM payment_callback WHERE event_id = 'evt-flow'"
    )
    assert row["outcome"].startswith("booked ")
    assert row["processed_at"] - received < timedelta(seconds=10), processes.logs()
    assert await demo.fetchval("SELECT paid FROM booking WHERE hold_id = $1", made.id) == (
        started.amount
    )
