"""Expiry: the idempotent service steps, the arq job and its deferral, and 5,000 holds expiring in
the same second (the sweep, with expiry jobs running at the same time)."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from arq import Worker, create_pool, func
from arq.connections import RedisSettings
from arq.worker import Retry

from schemas.catalog import AuditoriumIn, Price, ScreeningIn, SeatIn
from services.box_office import service
from services.catalog import service as catalog
from services.ids import uuid7
from tests.integration.box_office.helpers import events, hold, seat_statuses
from workers.holds import EARLY_SECONDS, defer_expiry, expire_hold_job, sweep_holds


async def _hold_row(pool, hold_id):
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM hold WHERE id = $1", UUID(str(hold_id)))


async def _expire_in(pool, hold_id, seconds: float) -> datetime:
    """Move a hold's expiry to `seconds` from now (its claims with it)."""
    async with pool.acquire() as conn, conn.transaction():
        expires_at: datetime = await conn.fetchval(
            """
            UPDATE hold SET created_at = now() - interval '1 minute',
                            expires_at = now() + make_interval(secs => $2)
            WHERE id = $1 RETURNING expires_at
            """,
            UUID(str(hold_id)),
            seconds,
        )
        await conn.execute(
            "UPDATE seat_claim SET expires_at = $2 WHERE hold_id = $1",
            UUID(str(hold_id)),
            expires_at,
        )
    return expires_at


async def test_expire_hold_is_a_no_op_until_due_and_records_one_event(client, small, demo):
    response = await hold(client, small, {"seats": ["C3", "C4"]})
    hold_id = UUID(response.json()["id"])
    expires_at = datetime.fromisoformat(response.json()["expires_at"])
    async with demo.acquire() as conn:
        early = await service.expire_hold(conn, hold_id, expires_at - timedelta(seconds=1))
        assert early == expires_at  # still live: run again then
        assert await service.expire_hold(conn, hold_id, expires_at) is None
        assert await service.expire_hold(conn, hold_id, expires_at) is None  # again: nothing
        assert await conn.fetchval("SELECT count(*) FROM seat_claim") == 0
        missing = await service.expire_hold(conn, uuid7(), expires_at)
    assert missing is None
    [expired] = await events(demo, "hold.expired")
    assert (expired["hold_id"], expired["seat_labels"]) == (str(hold_id), ["C3", "C4"])
    assert (await _hold_row(demo, hold_id))["status"] == "expired"


async def test_the_job_retries_a_hold_due_shortly_and_leaves_an_extended_one(client, small, demo):
    ctx = {"pool": demo}
    response = await hold(client, small, {"seats": ["D3"]})
    hold_id = response.json()["id"]
    assert await expire_hold_job(ctx, hold_id) == "extended"  # ten minutes to go
    await _expire_in(demo, hold_id, EARLY_SECONDS / 4)
    with pytest.raises(Retry):  # the worker's clock is a little early
        await expire_hold_job(ctx, hold_id)
    await _expire_in(demo, hold_id, -0.01)
    assert await expire_hold_job(ctx, hold_id) == "done"
    assert await expire_hold_job(ctx, hold_id) == "done"
    assert len(await events(demo, "hold.expired")) == 1
    assert await sweep_holds(ctx) == 0


@pytest.mark.slow
async def test_arq_expires_an_extended_hold_at_its_new_time_not_before(
    client, small, demo, environment, redis_prefix
):
    redis_settings = RedisSettings.from_dsn(environment["USHER_REDIS_URL"])
    queue = f"{redis_prefix}arq:queue"
    arq = await create_pool(redis_settings, default_queue_name=queue)
    try:
        response = await hold(client, small, {"seats": ["E3"]})
        hold_id = UUID(response.json()["id"])
        first = await _expire_in(demo, hold_id, 0.5)
        await defer_expiry(arq, redis_prefix, hold_id, first)
        # Extended before its job runs: a fresh job (a fresh id) for the new time.
        extended = await _expire_in(demo, hold_id, EARLY_SECONDS + 2)
        await defer_expiry(arq, redis_prefix, hold_id, extended)
        await defer_expiry(arq, redis_prefix, hold_id, extended)  # the same event twice: one job
        worker = Worker(
            functions=[func(expire_hold_job, name="expire_hold_job")],
            redis_pool=arq,
            queue_name=queue,
            burst=True,
            poll_delay=0.05,
            ctx={"pool": demo},
            handle_signals=False,
        )
        await worker.async_run()
        assert (worker.jobs_complete, worker.jobs_failed) == (2, 0)
        row = await _hold_row(demo, hold_id)
        assert row["status"] == "expired"
        assert row["ended_at"] >= extended  # not released at its first time
        assert len(await events(demo, "hold.expired")) == 1
        assert (await seat_statuses(client, small))["E3"] == "available"
    finally:
        await arq.aclose()


async def _five_thousand_holds(pool) -> tuple[UUID, datetime]:
    """A 5,000-seat hall with one screening, and a one-seat hold on every seat, all expiring
    in the same second (written straight to the tables: making them is not what is tested)."""
    async with pool.acquire() as conn:
        venue_id = await conn.fetchval("SELECT id FROM venue WHERE slug = 'riverside'")
        seats = [
            SeatIn(f"R{r}S{p}", f"R{r}", r, p, float(p), float(r))
            for r in range(1, 51)
            for p in range(1, 101)
        ]
        hall = await catalog.add_auditorium(
            conn, None, AuditoriumIn(venue_id, "hall", "Hall", seats)
        )
        screening = await catalog.schedule_screening(
            conn,
            None,
            ScreeningIn(
                film="here",
                auditorium_id=hall.id,
                starts_at=datetime.now(UTC) + timedelta(days=30),
                prices=[Price("adult", 1000)],
            ),
        )
        second = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        await conn.execute(
            """
            WITH seats AS (SELECT id AS seat_id, gen_random_uuid() AS hold_id FROM seat
                           WHERE auditorium_id = $3),
            holds AS (
                INSERT INTO hold (id, screening_id, venue_id, token_hash, client_id, seat_ids,
                                  created_at, expires_at, latest_expiry)
                SELECT hold_id, $1, $2, decode(md5(hold_id::text), 'hex'), 'bulk',
                       ARRAY[seat_id], $4::timestamptz - interval '10 minutes',
                       $4 + random() * interval '0.999 seconds', $4 + interval '20 minutes'
                FROM seats RETURNING id, seat_ids[1] AS seat_id, expires_at)
            INSERT INTO seat_claim (screening_id, seat_id, kind, hold_id, expires_at, claimed_at)
            SELECT $1, seat_id, 'hold', id, expires_at, $4 FROM holds
            """,
            screening.id,
            venue_id,
            hall.id,
            second,
        )
    return screening.id, second


@pytest.mark.slow
async def test_five_thousand_holds_expiring_in_one_second(demo):
    screening_id, second = await _five_thousand_holds(demo)
    async with demo.acquire() as conn:
        hold_ids = [row["id"] for row in await conn.fetch("SELECT id FROM hold")]
    assert len(hold_ids) == 5000
    now = datetime.now(UTC)
    assert now > second + timedelta(seconds=1)  # every one of them is past its time

    async def sweep() -> int:
        async with demo.acquire() as conn:
            return await service.sweep_expired_holds(conn, datetime.now(UTC), limit=1000)

    async def jobs(ids: list[UUID]) -> None:  # expiry jobs firing at the same time
        ctx = {"pool": demo}
        for hold_id in ids:
            assert await expire_hold_job(ctx, str(hold_id)) == "done"

    some = random.sample(hold_ids, 600)
    started = time.perf_counter()
    swept = await asyncio.gather(
        sweep(), sweep(), jobs(some[:300]), jobs(some[300:]), jobs(some[:300])
    )
    elapsed = time.perf_counter() - started
    print(f"\n5,000 holds expired in {elapsed:.2f} s (sweeps expired {swept[0]} + {swept[1]})")
    assert elapsed < 60  # "within seconds": generous on a shared two-core machine
    async with demo.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM seat_claim") == 0
        status = await conn.fetchval("SELECT status FROM screening WHERE id = $1", screening_id)
        assert status == "on_sale"
        statuses = await conn.fetch("SELECT status, count(*) FROM hold GROUP BY status")
        expired = await conn.fetch(
            "SELECT aggregate_id, count(*) AS n FROM outbox WHERE event_type = 'hold.expired'"
            " GROUP BY aggregate_id"
        )
    assert [(row["status"], row["count"]) for row in statuses] == [("expired", 5000)]
    assert len(expired) == 5000
    assert {row["n"] for row in expired} == {1}  # each HoldExpired recorded once
    assert {UUID(row["aggregate_id"]) for row in expired} == set(hold_ids)
