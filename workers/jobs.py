"""arq jobs: the msgspec serializer, prefixed job ids, and the maintenance jobs of the backbone.

arq may run a job more than once (a worker killed mid-job, a retry), so jobs take ids and plain
values, never objects, and are idempotent. Job ids always contain the Redis prefix: arq stores a
job under `arq:job:<job id>`, and tests (and shared Redis servers) separate deployments by prefix.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import msgspec
from arq import Retry
from arq.connections import ArqRedis

from services.db import partitions
from services.outages import OUTAGES
from services.settings import RedisSettings, Settings

log = logging.getLogger("usher.jobs")


def _describe(obj: object) -> str:
    """arq stores a failed job's exception as its result: keep its text, not the object."""
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    raise TypeError(f"arq job values must be plain data, not {type(obj).__name__}")


_encoder = msgspec.msgpack.Encoder(enc_hook=_describe)
_decoder = msgspec.msgpack.Decoder()


def serialize(value: dict[str, Any]) -> bytes:
    """arq's job_serializer: msgpack by msgspec (UUIDs and datetimes travel as their text/time)."""
    return _encoder.encode(value)


def deserialize(raw: bytes) -> dict[str, Any]:
    value: dict[str, Any] = _decoder.decode(raw)
    return value


OUTAGE_RETRY_MAX = 30.0  # seconds: the longest wait before a job hit by an outage runs again


def riding_out_outages(coroutine: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap a job so that PostgreSQL or Redis going away makes arq run it again later (1, 2, 4
    ... 30 s) instead of recording it failed; jobs are idempotent, so running again is safe."""

    @functools.wraps(coroutine)
    async def job(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await coroutine(ctx, *args, **kwargs)
        except OUTAGES as exc:
            tries = int(ctx.get("job_try", 1))
            delay = min(2.0 ** (tries - 1), OUTAGE_RETRY_MAX)
            log.warning("%s: %r; running it again in %.0f s", coroutine.__name__, exc, delay)
            raise Retry(defer=delay) from exc

    return job


def job_id(redis: RedisSettings, function: str, key: object) -> str:
    """The arq job id for `function` about `key` (an event or aggregate id): one job per pair."""
    return f"{redis.prefix}{function}:{key}"


async def enqueue(
    arq: ArqRedis,
    redis: RedisSettings,
    function: str,
    *args: Any,
    key: object,
    defer_by: timedelta | None = None,
) -> bool:
    """Enqueue `function(*args)` once per `key`; False when that job is already queued or done.

    A consumer hands work here when it needs retries or a delay; deriving `key` from the event id
    makes a re-delivered event enqueue nothing new while arq remembers the job (its result is kept
    for an hour by default).
    """
    job = await arq.enqueue_job(
        function, *args, _job_id=job_id(redis, function, key), _defer_by=defer_by
    )
    return job is not None


# -- maintenance ---------------------------------------------------------------------------------

PRUNE_CHUNK = 5000

# Rows in the DEFAULT partitions (no day partition covered them) are deleted row by row.
_PRUNE_OUTBOX = """
    DELETE FROM outbox_default WHERE event_id IN (
        SELECT event_id FROM outbox_default
        WHERE published_at < now() - make_interval(hours => $1)
        LIMIT $2
    )
"""
_PRUNE_PROCESSED = """
    DELETE FROM processed_event_default WHERE (consumer, event_id) IN (
        SELECT consumer, event_id FROM processed_event_default
        WHERE processed_at < now() - make_interval(hours => $1)
        LIMIT $2
    )
"""


async def _delete_in_chunks(pool: asyncpg.Pool, sql: str, hours: int) -> int:
    total = 0
    while True:
        status = await pool.execute(sql, hours, PRUNE_CHUNK)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < PRUNE_CHUNK:
            return total


async def prune_events(pool: asyncpg.Pool, settings: Settings) -> dict[str, int]:
    """The event tables' upkeep: make the coming days' partitions, then drop the day partitions
    whose every row is past retention (published outbox rows after `outbox_retention_hours`,
    processed-event records a day past the stream's retention: no duplicate of theirs can
    arrive any more), and delete such rows from the DEFAULT partitions."""
    events = settings.events
    now = datetime.now(UTC)
    hours = {
        "outbox": events.outbox_retention_hours,
        "processed_event": events.stream_retention_hours + 24,
    }
    async with pool.acquire() as pooled:
        conn = cast(asyncpg.Connection, pooled)
        made = await partitions.create_ahead(conn)
        dropped = {
            table: await partitions.drop_expired(conn, table, now - timedelta(hours=hours[table]))
            for table in partitions.PARTITIONED
        }
    outbox = await _delete_in_chunks(pool, _PRUNE_OUTBOX, hours["outbox"])
    processed = await _delete_in_chunks(pool, _PRUNE_PROCESSED, hours["processed_event"])
    if made:
        log.info("made partitions %s", ", ".join(made))
    if dropped["outbox"] or dropped["processed_event"]:
        log.info("dropped partitions %s", ", ".join(dropped["outbox"] + dropped["processed_event"]))
    if outbox or processed:
        log.info("pruned %d outbox rows and %d processed-event records", outbox, processed)
    return {
        "partitions_made": len(made),
        "outbox_partitions_dropped": len(dropped["outbox"]),
        "processed_event_partitions_dropped": len(dropped["processed_event"]),
        "outbox": outbox,
        "processed_event": processed,
    }


async def prune(ctx: dict[str, Any]) -> dict[str, int]:
    """arq cron job: `prune_events` with the worker's pool and settings."""
    return await prune_events(ctx["pool"], ctx["settings"])
