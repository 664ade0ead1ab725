"""arq worker settings: the job functions, cron jobs, the msgspec serializer and prefixed names.

Adding a job: write `async def my_job(ctx, some_id: str) -> ...` (idempotent; `ctx["pool"]` is the
asyncpg pool, `ctx["settings"]` the settings) and add it to `JOBS`; enqueue it from a handler with
`delivery.enqueue("my_job", some_id)` or from anywhere with `workers.jobs.enqueue`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from typing import Any, cast

from arq.connections import ArqRedis, create_pool
from arq.connections import RedisSettings as ArqRedisSettings
from arq.cron import CronJob, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, Worker, func

from services.db import create_pool as create_db_pool
from services.logs import job_id
from services.redis_client import credentials
from services.settings import Settings
from workers.constants import ARQ_HEALTH, ARQ_QUEUE, key
from workers.devices import (
    device_deadlines,
    follow_screening_job,
    promote_waitlist_job,
    release_devices_job,
)
from workers.emails import close_mailer, email_cron_jobs, email_jobs
from workers.holds import expire_hold_job, sweep_holds
from workers.jobs import deserialize, prune, riding_out_outages, serialize
from workers.payments import sweep_payments

# Job functions, each wrapped by `arq.worker.func` with its own timeout and tries where the
# defaults (USHER_JOB_TIMEOUT_SECONDS, USHER_JOB_TRIES) do not fit.
JOBS: list[Function] = [
    func(expire_hold_job, timeout=30, max_tries=5),
    func(release_devices_job, timeout=30, max_tries=10),
    func(promote_waitlist_job, timeout=30, max_tries=10),
    func(follow_screening_job, timeout=60, max_tries=10),
]
PRUNE_MINUTES = set(range(0, 60, 10))


def cron_jobs(settings: Settings) -> list[CronJob]:
    # A cron job's id is "<name>:<run time>": the name carries the prefix so its keys do too.
    return [
        cron(
            prune,
            name=key(settings.redis, "prune"),
            minute=PRUNE_MINUTES,
            second=0,
            unique=True,
            timeout=300,
            max_tries=1,
        ),
        # Holds past their time that no expiry job has handled (a lost job, a worker that was
        # down): released within 15 s at the latest.
        cron(
            sweep_holds,
            name=key(settings.redis, "sweep-holds"),
            second={0, 15, 30, 45},
            run_at_startup=True,
            unique=True,
            timeout=60,
            max_tries=1,
        ),
        # Payment callbacks no consumer acted on (a lost event, a worker that died): acted on
        # within 30 s at the latest.
        cron(
            sweep_payments,
            name=key(settings.redis, "sweep-payments"),
            second={10, 40},
            run_at_startup=True,
            unique=True,
            timeout=120,
            max_tries=1,
        ),
        # Access devices: no-shows, overdue returns and lapsed waitlist entries recorded within
        # 30 s of their time, and every waitlist swept (a lost promotion job still happens).
        cron(
            device_deadlines,
            name=key(settings.redis, "device-deadlines"),
            second={5, 35},
            run_at_startup=True,
            unique=True,
            timeout=60,
            max_tries=1,
        ),
        # Notification emails: the sweep (lost jobs, dead workers) and the reminders.
        *email_cron_jobs(settings),
    ]


def arq_redis_settings(settings: Settings) -> ArqRedisSettings:
    if not settings.redis.sentinels:
        return ArqRedisSettings.from_dsn(settings.redis.url)
    password, db = credentials(settings.redis)
    return ArqRedisSettings(
        host=list(settings.redis.sentinels),
        sentinel=True,
        sentinel_master=settings.redis.sentinel_master,
        password=password,
        database=db,
    )


async def arq_pool(settings: Settings) -> ArqRedis:
    """An arq client for enqueueing: msgspec serializer, this deployment's queue."""
    return await create_pool(
        arq_redis_settings(settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=key(settings.redis, ARQ_QUEUE),
    )


async def _startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    if "pool" not in ctx:
        ctx["pool"] = await create_db_pool(
            settings.database.url,
            min_size=1,
            max_size=settings.database.pool_max,
        )
        ctx["own_pool"] = True


async def _job_started(ctx: dict[str, Any]) -> None:
    """Each arq job runs in a task of its own: its log records carry its id from here on."""
    job_id.set(str(ctx.get("job_id", "")) or None)


async def _shutdown(ctx: dict[str, Any]) -> None:
    await close_mailer(ctx)
    if ctx.pop("own_pool", False):
        await ctx.pop("pool").close()


# How often an idle worker looks for due jobs (arq's default, 0.5 s, is most of the time from a
# bulk cancellation to its first email, and a hold's seats freed up to 0.5 s after expiry); a
# look is one ZRANGEBYSCORE on Redis.
JOB_POLL = 0.05


def worker_settings(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker`; pass `ctx={"pool": ...}` to share a pool."""
    events = settings.events
    options: dict[str, Any] = {
        "functions": [
            dataclasses.replace(f, coroutine=cast(WorkerCoroutine, riding_out_outages(f.coroutine)))
            for f in (*JOBS, *email_jobs(settings))
        ],
        "cron_jobs": cron_jobs(settings),
        "queue_name": key(settings.redis, ARQ_QUEUE),
        "health_check_key": key(settings.redis, ARQ_HEALTH),
        "redis_settings": arq_redis_settings(settings),
        "job_serializer": serialize,
        "job_deserializer": deserialize,
        "job_timeout": events.job_timeout_seconds,
        "poll_delay": JOB_POLL,
        "max_tries": events.job_tries,
        "on_startup": _startup,
        "on_shutdown": _shutdown,
        "on_job_start": _job_started,
        "handle_signals": False,
        "ctx": {"settings": settings},
    }
    ctx = {**options["ctx"], **overrides.pop("ctx", {})}
    return {**options, **overrides, "ctx": ctx}


async def close_worker(worker: Worker) -> None:
    """Stop an arq worker and close its connections.

    `Worker.close()` awaits the jobs it has just cancelled (raising CancelledError when one was
    running) and calls redis-py's deprecated `close()`; this does the same steps without those.
    A job cancelled here still used up one of its tries (arq #267).
    """
    worker.handle_sig(signal.SIGTERM)
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    if worker.main_task is not None:
        await asyncio.gather(worker.main_task, return_exceptions=True)
    pool: ArqRedis | None = getattr(worker, "_pool", None)
    if pool is None:
        return
    await pool.delete(worker.health_check_key)
    if worker.on_shutdown:
        await worker.on_shutdown(worker.ctx)
    await pool.aclose(close_connection_pool=True)
