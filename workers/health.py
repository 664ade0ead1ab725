"""Signs of life of `usher worker` and `usher relay`, for probes and for `usher lag`.

- A file (USHER_HEALTH_FILE) touched every HEARTBEAT_SECONDS by a task on the process's loop:
  `usher alive` checks its age. It depends on nothing outside the process, so a PostgreSQL or
  Redis outage never makes an orchestrator restart a worker that is riding it out.
- In Redis, per consumer group, a sorted set of the worker names running it, scored by their
  last beat: `usher lag` counts a group's live consumers from it (a group nobody reads is
  unhealthy, however young its oldest entry), and a consumer whose beat stopped is removed
  from its group once its pending entries were taken over (workers/consumers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from redis.asyncio import Redis

from services.outages import OUTAGES
from services.settings import RedisSettings
from workers.constants import key

HEARTBEAT_SECONDS = 5.0
ALIVE_WITHIN = 3 * HEARTBEAT_SECONDS  # a worker whose last beat is older is taken for dead


def heartbeat_key(redis: RedisSettings, group: str) -> str:
    return key(redis, f"consumers:{group}")


def touch(path: str) -> None:
    if path:
        Path(path).touch()


def alive(path: str, within: float) -> bool:
    """True when the health file was touched less than `within` seconds ago."""
    try:
        return time.time() - os.stat(path).st_mtime < within
    except OSError:
        return False


async def live_consumers(redis: Redis, settings: RedisSettings, group: str) -> set[str]:
    """The names of the workers that beat for `group` within ALIVE_WITHIN."""
    members = await redis.zrangebyscore(
        heartbeat_key(settings, group), time.time() - ALIVE_WITHIN, "+inf"
    )
    return {m.decode() if isinstance(m, bytes) else str(m) for m in members}


async def record_beat(redis: Redis, settings: RedisSettings, group: str, name: str) -> None:
    """Consumer `name` of `group` is alive now (called from the group's own loop)."""
    now = time.time()
    hb = heartbeat_key(settings, group)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(hb, {name: now})
        pipe.zremrangebyscore(hb, "-inf", now - 24 * 3600)
        pipe.expire(hb, 24 * 3600)
        await pipe.execute()


async def forget(redis: Redis, settings: RedisSettings, group: str, name: str) -> None:
    """A consumer that stops cleanly takes its name off the live list at once."""
    with contextlib.suppress(*OUTAGES):
        await redis.zrem(heartbeat_key(settings, group), name)


async def touch_file(path: str, stop: asyncio.Event) -> None:
    """Until `stop`: touch the health file every HEARTBEAT_SECONDS (the loop is alive)."""
    if not path:
        return
    while not stop.is_set():
        await asyncio.to_thread(touch, path)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)
