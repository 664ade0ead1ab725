"""The long-running processes: `usher relay` and `usher worker` (consumer groups + arq)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable, Sequence

from arq.worker import Worker
from redis.asyncio import Redis

from services import tracing
from services.db import create_pool
from services.redis_client import connect_redis
from services.settings import Settings
from workers import metrics
from workers.consumers import GroupRunner
from workers.delivery import Consumer
from workers.registry import CONSUMERS
from workers.relay import Relay
from workers.settings import arq_pool, close_worker, cron_jobs, worker_settings

log = logging.getLogger("usher.worker")

STOP_GRACE = 2.0  # seconds a consumer may take to finish its batch after SIGTERM


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
    _on_signals(relay.stop)
    metrics.serve(settings)
    measuring = asyncio.create_task(metrics.measure_backbone(settings, relay.redis))
    try:
        await relay.run()
    finally:
        measuring.cancel()
        await asyncio.gather(measuring, return_exceptions=True)


def consumer_redis(settings: Settings) -> Redis:
    """A client whose socket timeout outlasts the blocking XREADGROUP (redis-py #3138)."""
    redis: Redis = connect_redis(
        settings.redis,
        socket_timeout=settings.events.consumer_block_ms / 1000 + 5,
        socket_connect_timeout=2,
    )
    return redis


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
    pool = await create_pool(
        settings.database.url,
        min_size=1,
        max_size=max(settings.database.pool_max, len(consumers) + 2),
    )
    redis = consumer_redis(settings)
    arq = await arq_pool(settings)
    runners = [
        GroupRunner(c, settings=settings, pool=pool, redis=redis, name=name, arq=arq)
        for c in consumers
    ]
    tasks = [asyncio.create_task(r.run(), name=f"group {r.group}") for r in runners]
    worker: Worker | None = None
    if jobs:
        worker = Worker(**worker_settings(settings, ctx={"pool": pool}, redis_pool=arq))
        logging.getLogger("arq.worker").addFilter(
            RoutineCronTicks({job.name for job in cron_jobs(settings)})
        )
        tasks.append(asyncio.create_task(worker.async_run(), name="arq"))
    log.info("worker %s: groups %s, jobs %s", name, [r.group for r in runners], jobs)
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
        for runner in runners:
            runner.stop()
        if worker is not None:
            await close_worker(worker)
        _, late = await asyncio.wait(tasks, timeout=STOP_GRACE)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if worker is None:
            await arq.aclose()
        await redis.aclose()
        await pool.close()
