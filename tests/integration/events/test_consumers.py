"""Consumer groups against the real servers: once-only effects, poison and foreign entries."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import msgspec
import pytest
from redis.asyncio import Redis

from schemas.events import Event, ScreeningCancelled, ScreeningUpdated, encode_event
from services.ids import uuid7
from services.settings import Settings
from tests.integration.events.conftest import (
    Processes,
    assert_effects_once,
    effects_caught_up,
    group_runner,
    published,
    running,
    wait_until,
    write_events,
)
from workers.constants import DEAD_LETTERS, key
from workers.delivery import Consumer, Delivery
from workers.relay import Relay


async def test_every_event_has_its_effect_once_even_when_delivered_twice(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    runner = group_runner(settings, db, redis)
    async with running(Relay(settings), runner):
        written = await write_events(db, screenings, 600, writers=6)
        await wait_until(published(db))
        await wait_until(effects_caught_up(db))
        # a relay that crashed between XADD and marking published would add these again
        stream = settings.redis.events_stream
        for _, fields in await redis.xrange(stream, count=50):
            await redis.xadd(stream, fields)
        await wait_until(lambda: _all_acknowledged(redis, stream, "last-event"))
    await assert_effects_once(db, written)
    assert runner.duplicates == 50


async def _all_acknowledged(redis: Redis, stream: str, group: str) -> bool:
    info = {g["name"].decode(): g for g in await redis.xinfo_groups(stream)}.get(group)
    if info is None:
        return False
    last = info["last-delivered-id"]
    newest = await redis.xrevrange(stream, count=1)
    return bool(info["pending"] == 0 and newest and newest[0][0] == last)


async def test_unknown_types_and_malformed_entries_never_block_the_stream(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    stream = settings.redis.events_stream
    now = datetime.now(UTC).isoformat()
    newer = msgspec.json.encode(
        {
            "type": "screening.teleported",  # a newer producer's type
            "id": str(uuid7()),
            "version": 1,
            "occurred_at": now,
            "aggregate_type": "screening",
            "aggregate_id": str(screenings[0]),
            "planet": "Mars",
        }
    )
    bad_body = msgspec.json.encode(
        {
            "type": "screening.updated",  # known type, but no screening_id
            "id": str(uuid7()),
            "version": 1,
            "occurred_at": now,
            "aggregate_type": "screening",
            "aggregate_id": "x",
        }
    )
    good = ScreeningCancelled(
        id=uuid7(), occurred_at=datetime.now(UTC), screening_id=screenings[0], reason="flood"
    )
    await redis.xadd(stream, {"id": "1", "type": "screening.teleported", "event": newer})
    await redis.xadd(stream, {"id": "2", "type": "?", "event": b"{not json"})
    await redis.xadd(stream, {"id": "3", "note": "no event field at all"})
    await redis.xadd(stream, {"id": "4", "type": "screening.updated", "event": bad_body})
    await redis.xadd(stream, {"id": "5", "type": "x", "event": b'{"type": 7}'})
    await redis.xadd(
        stream, {"id": str(good.id), "type": good.type_name(), "event": encode_event(good)}
    )
    runner = group_runner(settings, db, redis)
    async with running(runner):
        await wait_until(lambda: _all_acknowledged(redis, stream, "last-event"))
    assert runner.applied == 1
    last = await db.fetchrow("SELECT * FROM aggregate_last_event")
    assert last["event_id"] == good.id
    dead = await redis.xrange(key(settings.redis, DEAD_LETTERS))
    reasons = {fields[b"id"]: fields[b"reason"].decode() for _, fields in dead}
    assert set(reasons) == {b"2", b"3", b"4", b"5"}  # the unknown type is skipped, not dead
    assert "malformed envelope" in reasons[b"2"]
    assert "no `event` field" in reasons[b"3"]
    assert "malformed screening.updated" in reasons[b"4"]
    assert all(fields[b"group"] == b"last-event" for _, fields in dead)


async def test_a_failing_handler_is_retried_and_a_poison_event_dead_lettered(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    settings = msgspec.structs.replace(
        settings,
        events=msgspec.structs.replace(settings.events, claim_idle_ms=200, max_deliveries=3),
    )
    flaky, poison, fine = (uuid7() for _ in range(3))
    attempts: dict[UUID, int] = {}

    async def handle(delivery: Delivery, event: Event) -> None:
        attempts[event.id] = attempts.get(event.id, 0) + 1
        await delivery.conn.execute(
            "INSERT INTO staff_action (action, subject_type, subject_id) VALUES ('t', 't', $1)",
            str(event.id),
        )
        if event.id == poison or (event.id == flaky and attempts[event.id] == 1):
            raise RuntimeError("the handler failed")

    stream = settings.redis.events_stream
    for event_id in (flaky, poison, fine):
        event = ScreeningUpdated(
            id=event_id, occurred_at=datetime.now(UTC), screening_id=screenings[0]
        )
        await redis.xadd(stream, {"id": str(event_id), "event": encode_event(event)})
    runner = group_runner(settings, db, redis, Consumer("flaky", handle))
    async with running(runner):
        await wait_until(lambda: _all_acknowledged(redis, stream, "flaky"), within=15)
    assert attempts == {flaky: 2, poison: 3, fine: 1}
    done = {
        r["subject_id"]
        for r in await db.fetch("SELECT subject_id FROM staff_action WHERE action = 't'")
    }
    assert done == {str(flaky), str(fine)}  # a failed attempt leaves nothing behind
    dead = await redis.xrange(key(settings.redis, DEAD_LETTERS))
    assert [fields[b"id"] for _, fields in dead] == [str(poison).encode()]
    assert b"3 deliveries" in dead[0][1][b"reason"]


class Died(BaseException):
    """The process ended (as by SIGKILL): nothing after this point runs."""


async def test_a_consumer_that_died_after_its_effect_but_before_xack(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    """Its entries stay pending; another consumer takes them over after `claim_idle_ms` and
    drops them as duplicates, so every effect still happens once."""
    async with running(Relay(settings)):
        written = await write_events(db, screenings, 500, writers=4)
        await wait_until(published(db))
    doomed = group_runner(settings, db, redis, name="doomed")

    async def die(entry_ids: list[bytes]) -> None:
        raise Died

    doomed._acknowledge = die
    with pytest.raises(Died):
        await doomed.run()
    applied_unacked = doomed.applied
    assert applied_unacked > 0
    stream = settings.redis.events_stream
    pending = await redis.xpending_range(stream, "last-event", "-", "+", 1000, "doomed")
    assert len(pending) >= applied_unacked
    heir = group_runner(settings, db, redis, name="heir")
    async with running(heir):
        await wait_until(effects_caught_up(db))
        await wait_until(lambda: _all_acknowledged(redis, stream, "last-event"))
    assert heir.duplicates == applied_unacked
    await assert_effects_once(db, written)


async def test_worker_processes_killed_at_random_still_apply_every_event_once(
    settings: Settings,
    redis: Redis,
    screenings: list[UUID],
    db: asyncpg.Pool,
    processes: Processes,
) -> None:
    """`usher worker` processes SIGKILLed mid-stream, restarted under new names."""
    settings = msgspec.structs.replace(
        settings, events=msgspec.structs.replace(settings.events, consumer_batch_size=20)
    )
    async with running(Relay(settings)):
        written = await write_events(db, screenings, 1000, writers=6)
        await wait_until(published(db))
    total = await db.fetchval("SELECT count(*) FROM outbox")
    for n in range(2):
        worker = processes.start(settings, "worker", "--name", f"w{n}", "--no-jobs")
        target = total * (n + 1) // 3

        async def progressed(target: int = target) -> bool:
            done = await db.fetchval("SELECT count(*) FROM processed_event")
            return bool(done >= target)

        await wait_until(progressed, within=30)
        processes.kill(worker)
    last = processes.start(settings, "worker", "--name", "last")  # with the arq worker too
    stream = settings.redis.events_stream
    await wait_until(effects_caught_up(db), within=30)
    await wait_until(lambda: _all_acknowledged(redis, stream, "last-event"), within=30)
    await assert_effects_once(db, written)
    last.terminate()  # SIGTERM: a clean stop
    assert last.wait(timeout=15) == 0, processes.logs()
    assert "Traceback" not in processes.logs()
