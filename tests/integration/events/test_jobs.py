"""arq jobs: handed over by a consumer once per event, serialized by msgspec, keys prefixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec
from arq.worker import Worker, func
from redis.asyncio import Redis

from schemas.events import Event, ScreeningCancelled, encode_event
from services.ids import uuid7
from services.settings import Settings
from tests.integration.events.conftest import group_runner, running, wait_until
from workers.delivery import Consumer, Delivery
from workers.jobs import deserialize, job_id, prune_events, serialize
from workers.settings import arq_pool, close_worker, worker_settings


async def remember(ctx: dict[str, Any], event_id: str, note: str) -> str:
    """A test job: records that it ran (idempotently, as every job must)."""
    await ctx["pool"].execute(
        "INSERT INTO staff_action (action, subject_type, subject_id, detail)"
        " VALUES ('job', 'event', $1, $2)",
        event_id,
        {"note": note},
    )
    return note


async def test_a_handler_hands_work_to_an_arq_job_once_per_event(
    settings: Settings, redis: Redis, screenings: list[UUID], db: asyncpg.Pool
) -> None:
    arq = await arq_pool(settings)

    async def notify(delivery: Delivery, event: Event) -> None:
        assert isinstance(event, ScreeningCancelled)
        await delivery.enqueue("remember", str(event.id), event.reason)
        # a second enqueue for the same event (a re-delivery that got this far) adds nothing
        assert not await delivery.enqueue("remember", str(event.id), event.reason)

    event = ScreeningCancelled(
        id=uuid7(), occurred_at=datetime.now(UTC), screening_id=screenings[0], reason="flood"
    )
    stream = settings.redis.events_stream
    entry = {"id": str(event.id), "type": event.type_name(), "event": encode_event(event)}
    await redis.xadd(stream, entry)
    await redis.xadd(stream, entry)  # published twice
    runner = group_runner(
        settings, db, redis, Consumer("notify", notify, types=(ScreeningCancelled,)), arq=arq
    )
    async with running(runner):

        async def both_read() -> bool:
            return runner.applied + runner.duplicates == 2

        await wait_until(both_read)
    assert (runner.applied, runner.duplicates) == (1, 1)

    job = job_id(settings.redis, "remember", event.id)
    assert job.startswith(settings.redis.prefix)
    raw = await redis.get(f"arq:job:{job}")
    assert msgspec.msgpack.decode(raw)["a"] == [str(event.id), "flood"]  # msgspec, not pickle

    worker = Worker(
        **worker_settings(
            settings,
            functions=[func(remember, timeout=10, max_tries=3)],
            cron_jobs=[],
            burst=True,
            poll_delay=0.05,
            ctx={"pool": db},
        )
    )
    assert await worker.run_check() == 1
    await close_worker(worker)
    rows = await db.fetch("SELECT subject_id, detail FROM staff_action WHERE action = 'job'")
    assert [(r["subject_id"], r["detail"]) for r in rows] == [(str(event.id), {"note": "flood"})]
    assert await redis.exists(f"arq:result:{job}")
    await arq.aclose()


async def test_prune_deletes_old_rows_from_the_default_partitions_one_by_one(
    settings: Settings, db: asyncpg.Pool
) -> None:
    """Rows no day partition covers (an id that is not a UUIDv7) sit in the DEFAULT partitions,
    and are deleted row by row past retention (day partitions: tests/.../test_partitions.py)."""
    events = settings.events
    await db.execute("TRUNCATE outbox, processed_event")
    old = datetime.now(UTC) - timedelta(hours=events.outbox_retention_hours + 1)
    rows = [
        ("published long ago", old),
        ("published just now", datetime.now(UTC)),
        ("never published", None),
    ]
    for note, published_at in rows:
        await db.execute(
            "INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, payload,"
            " published_at) VALUES ($1, 'test.note', 'test', $2, '{}', $3)",
            uuid4(),
            note,
            published_at,
        )
    stale = datetime.now(UTC) - timedelta(hours=events.stream_retention_hours + 25)
    await db.execute(
        "INSERT INTO processed_event (consumer, event_id, processed_at)"
        " VALUES ('g', $1, $2), ('g', $3, now())",
        uuid4(),
        stale,
        uuid4(),
    )
    pruned = await prune_events(db, settings)
    assert (pruned["outbox"], pruned["processed_event"]) == (1, 1)
    left = {r["aggregate_id"] for r in await db.fetch("SELECT aggregate_id FROM outbox_default")}
    assert left == {"published just now", "never published"}
    assert await db.fetchval("SELECT count(*) FROM processed_event") == 1


def test_every_cron_job_carries_the_prefix(settings: Settings) -> None:
    options = worker_settings(settings)
    assert options["queue_name"].startswith(settings.redis.prefix)
    assert options["health_check_key"].startswith(settings.redis.prefix)
    names = [c.name for c in options["cron_jobs"]]
    assert f"{settings.redis.prefix}prune" in names
    assert all(name.startswith(settings.redis.prefix) for name in names), names
    assert options["job_serializer"] is serialize
    assert options["job_deserializer"] is deserialize
