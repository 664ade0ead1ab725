"""The outbox and processed_event partitioned by day (migration 027, services/db/partitions.py):
rows land in their day's partition, partitions exist before they are needed, retention drops
whole old partitions and nothing newer, a consumer still applies each event once across a
partition boundary, and the migration carries existing rows over."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import asyncpg
import pytest
from redis.asyncio import Redis

from schemas.events import ScreeningUpdated
from services.db import partitions
from services.db.migrate import migration_files
from services.ids import uuid7
from services.outbox import record_event
from services.settings import Settings
from tests.conftest import _with_database
from tests.integration.events.conftest import (
    Written,
    assert_effects_once,
    effects_caught_up,
    group_runner,
    published,
    running,
    wait_until,
)
from workers.jobs import prune_events
from workers.relay import Relay


def uuid7_at(moment: datetime) -> UUID:
    """A UUIDv7 made at `moment` (services/ids.uuid7's bits with another millisecond)."""
    ms = int(moment.timestamp() * 1000)
    return UUID(int=(uuid7().int & ((1 << 80) - 1)) | (ms << 80))


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


async def today(db: asyncpg.Pool) -> date:
    day: date = await db.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    return day


async def where(db: asyncpg.Pool, table: str, event_id: UUID) -> str:
    name: str = await db.fetchval(
        f"SELECT tableoid::regclass::text FROM {table} WHERE event_id = $1", event_id
    )
    return name


async def record(
    db: asyncpg.Pool, event_id: UUID, screening: UUID, published_at: datetime | None = None
) -> None:
    event = ScreeningUpdated(
        id=event_id, occurred_at=datetime.now(UTC), screening_id=screening, changed=["version"]
    )
    async with db.acquire() as conn, conn.transaction():
        await record_event(conn, event)  # type: ignore[arg-type]
        if published_at:
            await conn.execute(
                "UPDATE outbox SET published_at = $2 WHERE event_id = $1", event_id, published_at
            )


@pytest.fixture
async def own_days(db: asyncpg.Pool) -> AsyncIterator[None]:
    """Partitions a test makes outside today .. DAYS_AHEAD go afterwards (the run's database is
    shared by the tests)."""
    yield
    first = await today(db)
    last = first + timedelta(days=partitions.DAYS_AHEAD)
    async with db.acquire() as conn:
        for table in partitions.PARTITIONED:
            for day, name in (await partitions.day_partitions(conn, table)).items():  # type: ignore[arg-type]
                if not first <= day <= last:
                    await conn.execute(f'DROP TABLE "{name}"')


async def test_a_fresh_database_has_the_coming_days_partitions_and_rows_land_in_theirs(
    db: asyncpg.Pool, screenings: list[UUID], own_days: None
) -> None:
    day = await today(db)
    async with db.acquire() as conn:
        for table in partitions.PARTITIONED:
            days = await partitions.day_partitions(conn, table)  # type: ignore[arg-type]
            coming = [day + timedelta(days=n) for n in range(partitions.DAYS_AHEAD + 1)]
            assert set(coming) <= set(days), table
    now, later = uuid7(), uuid7_at(midnight(day + timedelta(days=2)) + timedelta(hours=5))
    last_ms = uuid7_at(midnight(day + timedelta(days=1)) - timedelta(milliseconds=1))
    first_ms = uuid7_at(midnight(day + timedelta(days=1)))
    for event_id in (now, later, last_ms, first_ms):
        await record(db, event_id, screenings[0])
        await db.execute(
            "INSERT INTO processed_event (consumer, event_id) VALUES ('g', $1)", event_id
        )
    for table in partitions.PARTITIONED:
        assert await where(db, table, now) == partitions.partition_name(table, day)
        assert await where(db, table, later) == partitions.partition_name(
            table, day + timedelta(days=2)
        )
        # the last millisecond of a day and the first of the next, either side of the bound
        assert await where(db, table, last_ms) == partitions.partition_name(table, day)
        assert await where(db, table, first_ms) == partitions.partition_name(
            table, day + timedelta(days=1)
        )
    # an id of a day with no partition (far ahead) is caught by the DEFAULT partition
    stray = uuid7_at(midnight(day + timedelta(days=40)))
    await record(db, stray, screenings[0])
    assert await where(db, "outbox", stray) == "outbox_default"


async def test_the_prune_cron_makes_a_days_partition_before_it_is_needed(
    db: asyncpg.Pool, settings: Settings, screenings: list[UUID], own_days: None
) -> None:
    day = await today(db)
    coming = day + timedelta(days=partitions.DAYS_AHEAD)
    await db.execute(f'DROP TABLE "{partitions.partition_name("outbox", coming)}"')
    await db.execute(f'DROP TABLE "{partitions.partition_name("processed_event", coming)}"')
    pruned = await prune_events(db, settings)
    assert pruned["partitions_made"] == 2
    assert (await prune_events(db, settings))["partitions_made"] == 0  # idempotent
    event_id = uuid7_at(midnight(coming) + timedelta(hours=1))
    await record(db, event_id, screenings[0])
    assert await where(db, "outbox", event_id) == partitions.partition_name("outbox", coming)


async def test_a_late_partition_takes_its_days_rows_out_of_the_default(
    db: asyncpg.Pool, screenings: list[UUID], own_days: None
) -> None:
    """Nothing made the partitions for days (the workers were down): that day's rows went to
    the DEFAULT partition; making the partition moves them, keys and positions intact."""
    late = (await today(db)) + timedelta(days=20)
    ids = [uuid7_at(midnight(late) + timedelta(minutes=n)) for n in range(3)]
    for event_id in ids:
        await record(db, event_id, screenings[0])
    await db.execute("INSERT INTO processed_event (consumer, event_id) VALUES ('g', $1)", ids[0])
    before = await db.fetch("SELECT position, event_id FROM outbox ORDER BY position")
    async with db.acquire() as conn:
        made = await partitions.create_ahead(conn, today=late, days=0)  # type: ignore[arg-type]
    assert made == [
        partitions.partition_name("outbox", late),
        partitions.partition_name("processed_event", late),
    ]
    assert await db.fetch("SELECT position, event_id FROM outbox ORDER BY position") == before
    for event_id in ids:
        assert await where(db, "outbox", event_id) == partitions.partition_name("outbox", late)
    assert await db.fetchval("SELECT count(*) FROM outbox_default") == 0
    assert await db.fetchval("SELECT count(*) FROM processed_event_default") == 0
    # the moved record still refuses a second one
    again = await db.fetchval(
        "INSERT INTO processed_event (consumer, event_id) VALUES ('g', $1)"
        " ON CONFLICT DO NOTHING RETURNING true",
        ids[0],
    )
    assert again is None


async def test_retention_drops_whole_old_partitions_and_nothing_newer(
    db: asyncpg.Pool, settings: Settings, screenings: list[UUID], own_days: None
) -> None:
    day = await today(db)
    processed_hours = settings.events.stream_retention_hours + 24
    long_ago = datetime.now(UTC) - timedelta(hours=processed_hours + 48)

    def days_ago(hours: int) -> date:  # a day that ended more than `hours` ago
        return (datetime.now(UTC) - timedelta(hours=hours + 48)).date()

    old = days_ago(processed_hours)
    lingering, yesterday = old - timedelta(days=1), day - timedelta(days=1)
    async with db.acquire() as conn:
        for table in partitions.PARTITIONED:
            for d in (old, lingering, yesterday):
                await conn.execute("SELECT event_partition_create($1::regclass, $2)", table, d)
    # old: every row published and processed long ago -> both partitions go
    # yesterday: the same, but the day ended within retention -> both stay
    for d in (old, yesterday):
        for n in range(3):
            event_id = uuid7_at(midnight(d) + timedelta(hours=n))
            await record(db, event_id, screenings[0], published_at=long_ago)
            await db.execute(
                "INSERT INTO processed_event (consumer, event_id, processed_at)"
                " VALUES ('g', $1, $2)",
                event_id,
                long_ago,
            )
    # lingering: as old as `old`, but one event was never published (the relay was down) and
    # one was processed just now (delivered late): both partitions stay
    never = uuid7_at(midnight(lingering) + timedelta(hours=1))
    await record(db, never, screenings[0])
    late = uuid7_at(midnight(lingering) + timedelta(hours=2))
    await record(db, late, screenings[0], published_at=long_ago)
    await db.execute("INSERT INTO processed_event (consumer, event_id) VALUES ('g', $1)", late)

    pruned = await prune_events(db, settings)
    assert pruned["outbox_partitions_dropped"] == 1
    assert pruned["processed_event_partitions_dropped"] == 1
    async with db.acquire() as conn:
        for table in partitions.PARTITIONED:
            left = await partitions.day_partitions(conn, table)  # type: ignore[arg-type]
            assert old not in left, table
            coming = {day + timedelta(days=n) for n in range(partitions.DAYS_AHEAD + 1)}
            assert {lingering, yesterday} | coming <= set(left), table
    assert await where(db, "outbox", never) == partitions.partition_name("outbox", lingering)
    assert await db.fetchval("SELECT count(*) FROM outbox") == 5
    assert await db.fetchval("SELECT count(*) FROM processed_event") == 4


async def test_each_event_has_its_effect_once_across_a_partition_boundary(
    settings: Settings,
    redis: Redis,
    screenings: list[UUID],
    db: asyncpg.Pool,
    own_days: None,
) -> None:
    """Events made either side of midnight, and on a day whose partition is made only after
    the consumer applied them (their records move out of the DEFAULT partition), are all
    delivered again: the consumer drops every second delivery."""
    boundary = midnight((await today(db)) + timedelta(days=1))
    far = midnight((await today(db)) + timedelta(days=30))
    ids = [uuid7_at(boundary + timedelta(milliseconds=n)) for n in range(-10, 10)]
    ids += [uuid7_at(far + timedelta(seconds=n)) for n in range(10)]
    by_screening: dict[UUID, list[UUID]] = {}
    for n, event_id in enumerate(ids):
        screening = screenings[n % len(screenings)]
        await record(db, event_id, screening)
        by_screening.setdefault(screening, []).append(event_id)
    runner = group_runner(settings, db, redis)
    async with running(Relay(settings), runner):
        await wait_until(published(db))
        await wait_until(effects_caught_up(db))
        assert await db.fetchval("SELECT count(*) FROM processed_event_default") == 10
        async with db.acquire() as conn:
            await partitions.create_ahead(conn, today=far.date(), days=0)  # type: ignore[arg-type]
        assert await db.fetchval("SELECT count(*) FROM processed_event_default") == 0
        stream = settings.redis.events_stream
        for _, fields in await redis.xrange(stream):
            await redis.xadd(stream, fields)
        await wait_until(lambda: _duplicates(runner, len(ids)))
    await assert_effects_once(db, Written(by_screening))
    assert runner.duplicates == len(ids)


async def _duplicates(runner: object, count: int) -> bool:
    return getattr(runner, "duplicates", 0) >= count


async def test_the_migration_carries_existing_rows_over(servers: tuple[str, str]) -> None:
    """A database with events in the unpartitioned tables (every migration before 027), then
    027: the same rows, positions and states, each in its day's partition or the default."""
    admin_url, _ = servers
    name = f"usher_partitions_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(_with_database(admin_url, name))
        try:
            for number, _, sql in migration_files():
                if number < 27:
                    async with conn.transaction():
                        await conn.execute(sql)
            now = datetime.now(UTC)
            rows = [
                (uuid7_at(now - timedelta(days=2)), now - timedelta(days=1)),
                (uuid7_at(now), None),
                (UUID(int=secrets.randbits(128)), None),  # not a UUIDv7: the default
            ]
            for event_id, published_at in rows:
                await conn.execute(
                    "INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id,"
                    " payload, published_at) VALUES ($1, 't', 'a', 'x', '{}', $2)",
                    event_id,
                    published_at,
                )
                await conn.execute(
                    "INSERT INTO processed_event (consumer, event_id) VALUES ('g', $1)", event_id
                )
            before = await conn.fetch("SELECT * FROM outbox ORDER BY position")
            migration = next(sql for number, _, sql in migration_files() if number == 27)
            async with conn.transaction():
                await conn.execute(migration)
            assert await conn.fetch("SELECT * FROM outbox ORDER BY position") == before
            homes = [
                await conn.fetchval(
                    "SELECT tableoid::regclass::text FROM processed_event WHERE event_id = $1", e
                )
                for e, _ in rows
            ]
            days = [(now - timedelta(days=2)).date(), now.date()]
            assert homes == [
                *(partitions.partition_name("processed_event", d) for d in days),
                "processed_event_default",
            ]
            # the identity continues after the carried rows
            position = await conn.fetchval(
                "INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, payload)"
                " VALUES ($1, 't', 'a', 'x', '{}') RETURNING position",
                uuid7(),
            )
            assert position > max(r["position"] for r in before)
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
