"""A hold expires through the real path: its SeatsHeld event goes through the relay to the
`hold-expiry` consumer group, which defers an arq job to expires_at; the job releases the seats
and records HoldExpired once. Real relay and worker processes, real PostgreSQL and Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from schemas.box_office import HoldIn
from services.box_office import service
from services.settings import Settings
from tests.integration.events.conftest import Processes, wait_until


async def _hold_expiring_in(pool: asyncpg.Pool, settings: Settings, seconds: float) -> str:
    """A hold on two seats of a demo screening whose expires_at is `seconds` from now."""
    async with pool.acquire() as conn:
        screening_id, hold_minutes = await conn.fetchrow(
            "SELECT s.id, v.hold_minutes FROM screening s JOIN venue v ON v.id = s.venue_id"
            " ORDER BY s.starts_at DESC LIMIT 1"
        )
        made_at = datetime.now(UTC) - timedelta(minutes=hold_minutes) + timedelta(seconds=seconds)
        async with conn.transaction():
            hold = await service.make_hold(
                conn, screening_id, HoldIn(count=2), "expiry-test", settings.box_office, made_at
            )
    return str(hold.id)


async def test_a_hold_expires_through_relay_consumer_and_job(
    db: asyncpg.Pool, settings: Settings, processes: Processes
) -> None:
    hold_id = await _hold_expiring_in(db, settings, seconds=2)
    processes.start(settings, "relay")
    processes.start(settings, "worker")

    async def expired() -> bool:
        status = await db.fetchval("SELECT status FROM hold WHERE id = $1", hold_id)
        return bool(status == "expired")

    await wait_until(expired, within=12)  # the sweep alone would take up to 15 s
    claims = await db.fetchval("SELECT count(*) FROM seat_claim WHERE hold_id = $1", hold_id)
    events = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'hold.expired' AND aggregate_id = $1",
        hold_id,
    )
    assert claims == 0
    assert events == 1, processes.logs()
