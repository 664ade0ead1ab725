"""A hold expires through the real path: its SeatsHeld event goes through the relay to the
`hold-expiry` consumer group, which defers an arq job to expires_at; the job releases the seats
and records HoldExpired once. Real relay and worker processes, real PostgreSQL and Redis.

The worker's sweep (every 15 s) would expire the hold too: the test picks an expires_at far
from a sweep tick and requires the hold to end within ON_TIME of it, so it fails without the
consumer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import ResponseError

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


SWEEP_EVERY = 15.0  # workers/settings.py: the sweep runs at seconds 0, 15, 30 and 45
ON_TIME = 2.0  # the deferred job runs at expires_at (arq looks for due jobs every 0.05 s)


def _seconds_to_an_expiry_far_from_a_sweep(at_least: float) -> float:
    """Seconds from now to an expires_at at least `at_least` away whose next sweep tick is more
    than 5 s after it, so that only the expiry job can end the hold within ON_TIME."""
    now = time.time()
    target = now + at_least
    phase = target % SWEEP_EVERY
    if phase > SWEEP_EVERY - 6:
        target += SWEEP_EVERY - phase + 1.5
    return target - now


async def test_a_hold_expires_through_relay_consumer_and_job(
    db: asyncpg.Pool, settings: Settings, processes: Processes, redis: Redis
) -> None:
    processes.start(settings, "relay")
    processes.start(settings, "worker")

    async def consumer_ready() -> bool:
        try:
            groups = await redis.xinfo_groups(settings.redis.events_stream)
        except ResponseError:  # no stream yet
            return False
        return any(g["name"] == b"hold-expiry" for g in groups)

    # The worker's start-up sweep has run by now or finds the hold not yet due.
    await wait_until(consumer_ready, within=30)
    hold_id = await _hold_expiring_in(db, settings, _seconds_to_an_expiry_far_from_a_sweep(3))

    async def expired() -> bool:
        status = await db.fetchval("SELECT status FROM hold WHERE id = $1", hold_id)
        return bool(status == "expired")

    await wait_until(expired, within=30)
    late = await db.fetchval("SELECT ended_at - expires_at FROM hold WHERE id = $1", hold_id)
    # The sweep alone would end it 6 s after expires_at or later.
    assert timedelta(0) <= late < timedelta(seconds=ON_TIME), (late, processes.logs())
    claims = await db.fetchval("SELECT count(*) FROM seat_claim WHERE hold_id = $1", hold_id)
    events = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'hold.expired' AND aggregate_id = $1",
        hold_id,
    )
    assert claims == 0
    assert events == 1, processes.logs()
