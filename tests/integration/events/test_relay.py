"""The relay against the real servers: order, completeness, leadership, crashes and outages."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
import msgspec
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.settings import Settings
from tests.integration.events.conftest import (
    PrivateRedis,
    Processes,
    assert_effects_once,
    change_screening,
    check_stream,
    effects_caught_up,
    group_runner,
    published,
    running,
    stream_entries,
    wait_until,
    write_events,
)
from workers.constants import RELAY_FENCE, RELAY_LOCK, key
from workers.relay import Relay


async def test_concurrent_writers_arrive_in_each_screenings_commit_order(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    relay = Relay(settings)
    async with running(relay):
        written = await write_events(db, screenings, 2000, writers=12)
        await wait_until(published(db))
    check_stream(await stream_entries(redis, settings.redis.events_stream), written)


async def test_notify_wakes_the_relay_and_polling_catches_what_notify_missed(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    stream = settings.redis.events_stream
    slow_poll = msgspec.structs.replace(
        settings, events=msgspec.structs.replace(settings.events, relay_poll_ms=60_000)
    )
    async with running(Relay(slow_poll)):
        await wait_until(published(db))
        await wait_until(_armed(db))  # idle: the relay sleeps until a NOTIFY
        async with db.acquire() as conn:
            await change_screening(conn, screenings[0])
        start = time.monotonic()
        await wait_until(published(db), within=10, every=0.002)
        assert time.monotonic() - start < 5  # woken by NOTIFY, not the 60 s poll
    quick_poll = msgspec.structs.replace(
        settings, events=msgspec.structs.replace(settings.events, relay_poll_ms=100)
    )
    async with running(Relay(quick_poll)):
        async with db.acquire() as conn, conn.transaction():
            # triggers off: this row sends no NOTIFY (as through a pooler that drops them)
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, payload)"
                " SELECT gen_random_uuid(), event_type, aggregate_type, aggregate_id, payload"
                " FROM outbox ORDER BY position DESC LIMIT 1"
            )
        await wait_until(published(db), within=10)
    assert len(await redis.xrange(stream)) == await db.fetchval("SELECT count(*) FROM outbox")


def _armed(db: asyncpg.Pool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await db.fetchval("SELECT armed FROM outbox_doorbell"))

    return check


async def test_writers_do_not_notify_while_the_relay_is_busy(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    """The doorbell: NOTIFY serializes commits, so a busy relay polls instead."""
    notifications = 0

    def count(*_: object) -> None:
        nonlocal notifications
        notifications += 1

    listener = await asyncpg.connect(settings.database.url)
    await listener.add_listener("usher_outbox", count)
    busy_early = msgspec.structs.replace(
        settings, events=msgspec.structs.replace(settings.events, relay_busy_rate=50)
    )
    async with running(Relay(busy_early)):
        written = await write_events(db, screenings, 1000, writers=8)
        await wait_until(published(db))
    await listener.close()
    check_stream(await stream_entries(redis, settings.redis.events_stream), written)
    assert notifications < written.count / 2


async def test_a_busy_relay_publishes_in_batches_every_busy_poll(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    """USHER_RELAY_BUSY_POLL_MS: while busy the relay looks once a poll, so a batch carries what
    came meanwhile. At 500 ms, 1,000 events from 8 writers go out in under 30 batches
    (11-12 here); looking every 2 ms, as before the setting, took 67."""
    slow_poll = msgspec.structs.replace(
        settings,
        events=msgspec.structs.replace(settings.events, relay_busy_rate=50, relay_busy_poll_ms=500),
    )
    relay = Relay(slow_poll)
    publish = relay._publish_batch
    batches = 0

    async def counted(conn: asyncpg.Connection, token: str) -> int:
        nonlocal batches
        published = await publish(conn, token)
        batches += published > 0
        return published

    relay._publish_batch = counted  # type: ignore[method-assign]
    async with running(relay):
        written = await write_events(db, screenings, 1000, writers=8)
        await wait_until(published(db))
    check_stream(await stream_entries(redis, settings.redis.events_stream), written)
    assert batches < 30, batches


async def test_the_doorbell_rings_once_per_wake_up_however_many_writers_commit(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    """A relay that never counts as busy keeps the bell armed between wake-ups: the writer
    that rings disarms it, so the others skip their NOTIFY (each would serialize its commit
    behind the others'), and every event is still published."""
    notifications = 0

    def count(*_: object) -> None:
        nonlocal notifications
        notifications += 1

    listener = await asyncpg.connect(settings.database.url)
    await listener.add_listener("usher_outbox", count)
    never_busy = msgspec.structs.replace(
        settings, events=msgspec.structs.replace(settings.events, relay_busy_rate=10**9)
    )
    relay = Relay(never_busy)
    async with running(relay):
        written = await write_events(db, screenings, 1000, writers=8)
        await wait_until(published(db))
    await listener.close()
    check_stream(await stream_entries(redis, settings.redis.events_stream), written)
    assert notifications < written.count / 2, (notifications, written.count)


async def test_a_writer_that_saw_the_doorbell_disarmed_is_not_missed(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    """A transaction that skipped its NOTIFY (the relay was busy) and commits after the relay
    went idle is still published at once: the relay waits for it before sleeping."""
    slow_poll = msgspec.structs.replace(
        settings,
        events=msgspec.structs.replace(settings.events, relay_poll_ms=60_000, relay_busy_rate=50),
    )
    async with running(Relay(slow_poll)):
        for _ in range(10):
            flow = asyncio.create_task(write_events(db, screenings[1:], 400, writers=4))
            await asyncio.sleep(0.2)
            async with db.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id,"
                    " payload) VALUES (gen_random_uuid(), 'test.slow', 'test', 'slow', '{}')"
                )
                saw_disarmed = not await conn.fetchval("SELECT armed FROM outbox_doorbell")
                await flow
                await wait_until(_armed(db))  # the relay went idle while we are still open
            committed = time.monotonic()
            await wait_until(published(db), within=10, every=0.002)
            if saw_disarmed:
                break
        assert saw_disarmed, "the relay was never busy when the slow writer wrote"
        assert time.monotonic() - committed < 5  # not the 60 s poll


async def test_two_relays_at_once_neither_duplicate_nor_reorder(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    relays = [Relay(settings) for _ in range(3)]
    leaders_seen: set[int] = set()

    async def watch() -> None:
        while True:
            leading = [i for i, r in enumerate(relays) if r.leading]
            assert len(leading) <= 1
            leaders_seen.update(leading)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    async with running(*relays):
        written = await write_events(db, screenings, 1200, writers=8)
        await wait_until(published(db))
    watcher.cancel()
    check_stream(await stream_entries(redis, settings.redis.events_stream), written)
    assert len(leaders_seen) == 1
    assert sum(r.published for r in relays) == await db.fetchval("SELECT count(*) FROM outbox")


class CrashAfterXadd(Relay):
    """A relay that loses its connection once, right after its batch reached the stream."""

    crashed = False

    async def _mark_published(
        self, conn: asyncpg.Connection, positions: list[int], stream_id: str, event_id: UUID
    ) -> None:
        if not self.crashed:
            self.crashed = True
            conn.terminate()
            raise asyncpg.InterfaceError("the relay died before marking its batch published")
        await super()._mark_published(conn, positions, stream_id, event_id)


async def test_a_batch_added_before_a_crash_is_not_added_again(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    relay = CrashAfterXadd(settings)
    async with running(relay):
        written = await write_events(db, screenings, 300, writers=4)
        await wait_until(published(db))
    assert relay.crashed
    assert relay.recovered > 0  # found in the stream's tail, marked published, not re-added
    check_stream(await stream_entries(redis, settings.redis.events_stream), written)


async def test_a_relay_whose_fence_moved_adds_nothing(
    settings: Settings, redis: Redis, db: asyncpg.Pool
) -> None:
    relay = Relay(settings)
    await redis.set(key(settings.redis, RELAY_FENCE), "somebody else")
    with pytest.raises(ResponseError, match="FENCED"):
        await relay._publish(
            keys=[relay.fence_key, relay.stream], args=["mine", "0", "id", "type", "{}"]
        )
    assert await redis.xlen(relay.stream) == 0
    await relay.redis.aclose()


async def test_publishing_resumes_when_redis_forgets_the_fence(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    async with running(Relay(settings)):
        first = await write_events(db, screenings, 100, writers=2)
        await wait_until(published(db))
        await redis.delete(key(settings.redis, RELAY_FENCE))  # as a Redis that lost its data
        second = await write_events(db, screenings, 100, writers=2)
        await wait_until(published(db))
    entries = await stream_entries(redis, settings.redis.events_stream)
    check_stream(entries, first)
    check_stream(entries, second)


async def test_relays_killed_mid_batch_lose_and_reorder_nothing(
    settings: Settings,
    redis: Redis,
    screenings: list[UUID],
    db: asyncpg.Pool,
    processes: Processes,
) -> None:
    """Leaders are SIGKILLed while writers commit; a standby takes over each time. The
    consumer group still applies every event once."""
    small = msgspec.structs.replace(
        settings, events=msgspec.structs.replace(settings.events, relay_batch_size=20)
    )
    relays = [processes.start(small, "relay") for _ in range(2)]
    consumer = group_runner(settings, db, redis)
    consuming = asyncio.create_task(consumer.run())
    writing = asyncio.create_task(write_events(db, screenings, 1000, writers=6))
    kills = 0
    deadline = time.monotonic() + 30
    while kills < 3:
        assert time.monotonic() < deadline, processes.logs()
        await asyncio.sleep(random.uniform(0.1, 0.3))
        leader = await _leader_pid(db)
        for proc in relays:
            if proc.pid == leader:
                processes.kill(proc)
                relays.remove(proc)
                relays.append(processes.start(small, "relay"))
                kills += 1
                break
    written = await writing
    await wait_until(published(db), within=30)
    await wait_until(effects_caught_up(db), within=30)
    consumer.stop()
    await consuming
    check_stream(await stream_entries(redis, settings.redis.events_stream), written)
    await assert_effects_once(db, written)

    async def all_running() -> bool:
        """A SIGTERM that lands before a relay has installed its handler (still importing,
        under load) kills it: stop each one only once it has said whether it leads."""
        logs = [
            (processes.tmp / f"relay-{processes.started.index(proc)}.log").read_text()
            for proc in relays
        ]
        return all("relay leads" in log or "standing by" in log for log in logs)

    await wait_until(all_running, within=30)
    for proc in relays:
        proc.terminate()  # SIGTERM: a clean stop
        assert proc.wait(timeout=15) == 0, processes.logs()


async def _leader_pid(db: asyncpg.Pool) -> int | None:
    name = await db.fetchval(
        """
        SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.granted AND l.objid = $1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """,
        RELAY_LOCK,
    )
    return int(name.rsplit(" ", 1)[1]) if name else None


async def test_redis_stopped_during_writes_and_started_again(
    settings: Settings, screenings: list[UUID], db: asyncpg.Pool, private_redis: PrivateRedis
) -> None:
    """The backlog waits in PostgreSQL while Redis is down and drains in order when it returns;
    every event still reaches the consumer group, and has its effect once."""
    settings = msgspec.structs.replace(
        settings, redis=msgspec.structs.replace(settings.redis, url=private_redis.url)
    )
    redis = Redis.from_url(private_redis.url, socket_timeout=5)
    try:
        runner = group_runner(settings, db, redis)
        async with running(Relay(settings), runner):
            writing = asyncio.create_task(
                write_events(db, screenings, 1500, writers=4, pause=0.004)
            )
            await asyncio.sleep(0.4)
            private_redis.kill()
            await asyncio.sleep(0.8)
            waiting = await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            assert waiting > 0  # the backlog is in PostgreSQL
            private_redis.start()
            written = await writing
            await wait_until(published(db), within=30)
            await wait_until(effects_caught_up(db), within=30)
        entries = await stream_entries(redis, settings.redis.events_stream)
        check_stream(entries, written)
        await assert_effects_once(db, written)
    finally:
        await redis.aclose()


async def test_redis_that_lost_its_data_gets_every_event_again_and_effects_happen_once(
    settings: Settings, screenings: list[UUID], db: asyncpg.Pool, private_redis: PrivateRedis
) -> None:
    """Redis acknowledged the entries, then lost them all (FLUSHALL, as a restart without its
    data): the relay notices without a new write, publishes every retained event again from the
    outbox, and the consumer group (re-created) applies none of them twice."""
    settings = msgspec.structs.replace(
        settings, redis=msgspec.structs.replace(settings.redis, url=private_redis.url)
    )
    redis = Redis.from_url(private_redis.url, socket_timeout=5)
    runner = group_runner(settings, db, redis)
    relay = Relay(settings)
    async with running(relay, runner):
        written = await write_events(db, screenings, 400, writers=4)
        await wait_until(published(db))
        await wait_until(effects_caught_up(db))
        await redis.flushall()

        async def all_back() -> bool:
            return bool(await redis.exists(settings.redis.events_stream)) and bool(
                await redis.xlen(settings.redis.events_stream) == written.count
            )

        await wait_until(all_back, within=30)
        await wait_until(published(db))
        await wait_until(effects_caught_up(db))
    assert relay.republished == written.count
    check_stream(await stream_entries(redis, settings.redis.events_stream), written)
    await assert_effects_once(db, written)
    await redis.aclose()
