"""The long-running processes: `usher relay` and `usher worker` (consumer groups + arq).

Neither exits because PostgreSQL or Redis went away: the relay and each consumer group back off
and resume by themselves, and the arq worker's loop, which ends on a Redis error, is started
again (`JobRunner`) while the jobs it had started keep running. On SIGTERM a worker stops taking
work and lets what it holds finish for `USHER_WORKER_GRACE_SECONDS`: consumer groups finish
their batch, running jobs finish (a batch of emails hands back the ones it has not begun), and
only what is still running after the grace is cancelled (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.asyncio import Redis

from services import tracing
from services.db import create_pool
from services.outages import OUTAGES
from services.redis_client import connect_redis
from services.settings import Settings
from workers import metrics
from workers.consumers import GroupRunner
from workers.delivery import Consumer
from workers.health import touch_file
from workers.registry import CONSUMERS
from workers.relay import Relay
from workers.settings import arq_pool, cron_jobs, worker_settings

log = logging.getLogger("usher.worker")

BACKOFF_START = 0.1
BACKOFF_MAX = 2.0
OUTAGE_OVER = 10.0  # seconds a restarted job loop must run before a new failure is news again

T = TypeVar("T")


class RoutineCronTicks(logging.Filter):
    """arq logs each cron run's start (→) and result (←) at INFO: about 200 lines in five
    minutes, which push `usher dev`'s banner out of view. This puts them at DEBUG (shown when
    the arq.worker logger is at DEBUG); a cron job's retry or failure keeps its level."""

    ROUTINE = ("%6.2fs → %s(%s)%s", "%6.2fs ← %s ● %s")

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.names = frozenset(names)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg in self.ROUTINE and len(args) > 1 and args[1] in self.names:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _on_signals(callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, callback)


def default_consumer_name() -> str:
    """Unique per process; a restarted worker's leftovers are taken over by XAUTOCLAIM."""
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_relay(settings: Settings) -> None:
    tracing.configure("usher-relay", settings.otlp_endpoint)
    relay = Relay(settings)
    stop = asyncio.Event()

    def stopping() -> None:
        stop.set()
        relay.stop()

    _on_signals(stopping)
    metrics.serve(settings)
    measuring = asyncio.create_task(metrics.measure_backbone(settings, relay.redis))
    alive = asyncio.create_task(touch_file(settings.events.health_file, stop))
    try:
        await relay.run()
    finally:
        stop.set()
        measuring.cancel()
        await asyncio.gather(measuring, alive, return_exceptions=True)


def consumer_redis(settings: Settings) -> Redis:
    """A client whose socket timeout outlasts the blocking XREADGROUP (redis-py #3138)."""
    redis: Redis = connect_redis(
        settings.redis,
        socket_timeout=settings.events.consumer_block_ms / 1000 + 5,
        socket_connect_timeout=2,
    )
    return redis


async def until_up(what: str, connect: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T | None:
    """`connect()` once the server answers (None if stopped first): a worker started while
    PostgreSQL or Redis is down waits for it instead of exiting."""
    backoff = BACKOFF_START
    logged = False
    while not stop.is_set():
        try:
            return await connect()
        except OUTAGES as exc:
            if not logged:
                log.warning("cannot reach %s (%r); waiting for it", what, exc)
                logged = True
        try:
            await asyncio.wait_for(stop.wait(), backoff)
        except TimeoutError:
            backoff = min(backoff * 2, BACKOFF_MAX)
    return None


class JobRunner:
    """The arq worker of this process, kept running through outages and stopped gracefully."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, arq: ArqRedis) -> None:
        self.stopping = asyncio.Event()  # jobs look at ctx["stopping"] between steps
        ctx = {"pool": pool, "stopping": self.stopping}
        self.worker = Worker(**worker_settings(settings, ctx=ctx, redis_pool=arq))
        self.restarts = 0

    async def run(self) -> None:
        backoff = BACKOFF_START
        started = time.monotonic()
        while not self.stopping.is_set():
            try:
                await self.worker.async_run()
                return
            except asyncio.CancelledError:
                if self.stopping.is_set():
                    return
                raise
            except OUTAGES as exc:
                if time.monotonic() - started > OUTAGE_OVER:
                    backoff = BACKOFF_START
                    log.warning("jobs: %r; starting the job loop again once it answers", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                self.restarts += 1
                started = time.monotonic()

    async def stop(self, grace: float) -> None:
        """Take no new job; let the running ones finish within `grace`, then cancel the rest."""
        self.stopping.set()
        worker = self.worker
        worker.allow_pick_jobs = False
        running = [t for t in worker.tasks.values() if not t.done()]
        if running:
            log.info("stopping: waiting up to %d s for %d running jobs", grace, len(running))
            _, late = await asyncio.wait(running, timeout=grace)
            if late:
                log.warning("stopping: cancelling %d jobs still running after the grace", len(late))
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        if worker.main_task is not None:
            worker.main_task.cancel()
            await asyncio.gather(worker.main_task, return_exceptions=True)
        pool: ArqRedis | None = getattr(worker, "_pool", None)
        if pool is not None:
            with contextlib.suppress(*OUTAGES):
                await pool.delete(worker.health_check_key)
        if worker.on_shutdown:
            await worker.on_shutdown(worker.ctx)


async def run_worker(
    settings: Settings,
    *,
    consumers: Sequence[Consumer] = CONSUMERS,
    name: str | None = None,
    jobs: bool = True,
) -> None:
    """Run every consumer group (and, with `jobs`, the arq worker) until SIGTERM or SIGINT."""
    tracing.configure("usher-worker", settings.otlp_endpoint)
    stop = asyncio.Event()
    _on_signals(stop.set)
    metrics.serve(settings)
    name = name or default_consumer_name()
    alive = asyncio.create_task(touch_file(settings.events.health_file, stop))
    # min_size=0: no connection is needed to start; the pool connects when PostgreSQL answers.
    max_size = max(settings.database.pool_max, len(consumers) + 2)
    pool = await create_pool(settings.database.url, min_size=0, max_size=max_size)
    redis = consumer_redis(settings)
    arq: Any = await until_up("Redis", lambda: arq_pool(settings), stop)
    if arq is None:  # stopped before Redis ever answered
        stop.set()
        await asyncio.gather(alive, redis.aclose(), pool.close())
        return
    runners = [
        GroupRunner(c, settings=settings, pool=pool, redis=redis, name=name, arq=arq)
        for c in consumers
    ]
    tasks = [asyncio.create_task(r.run(), name=f"group {r.group}") for r in runners]
    job_runner: JobRunner | None = None
    if jobs:
        job_runner = JobRunner(settings, pool, arq)
        tasks.append(asyncio.create_task(job_runner.run(), name="arq"))
        logging.getLogger("arq.worker").addFilter(
            RoutineCronTicks({job.name for job in cron_jobs(settings)})
        )
    log.info("worker %s: groups %s, jobs %s", name, [r.group for r in runners], jobs)
    grace = settings.events.worker_grace_seconds
    try:
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopped:
                failure = task.exception()
                if failure is not None:
                    raise failure
                log.error("%s ended on its own; stopping", task.get_name())
    finally:
        stop.set()
        log.info("worker %s stopping (grace %d s)", name, grace)
        for runner in runners:
            runner.stop()
        if job_runner is not None:
            await job_runner.stop(grace)
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, alive, return_exceptions=True)
        await arq.aclose(close_connection_pool=True)
        await redis.aclose()
        await pool.close()
        log.info("worker %s stopped", name)
