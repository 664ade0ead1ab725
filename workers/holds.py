"""Hold expiry for arq: a job deferred to each hold's expires_at, and a periodic sweep.

Neither is needed for correctness (a hold is dead the moment expires_at passes, for every read
and write); they release the seats' rows, record HoldExpired once, and put the screening back on
sale. arq cannot defer a job again under the same id, so the job id carries expires_at: an
extended hold gets a fresh job, and the old one, running early, finds the hold live and does
nothing. Register in WorkerSettings:

    functions = [func(expire_hold_job, timeout=30, max_tries=5)]
    cron_jobs = [cron(sweep_holds, second={0, 15, 30, 45}, run_at_startup=True, unique=True)]

and, for each SeatsHeld, HoldExtended, CheckoutStarted or CheckoutFailed event,
`await defer_expiry(arq_redis, prefix, event.hold_id, event.expires_at)`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import asyncpg
from arq import Retry

from schemas.events import CheckoutFailed, CheckoutStarted, Event, HoldExtended, SeatsHeld
from services.box_office.service import expire_hold, sweep_expired_holds
from workers.delivery import Delivery

# A job that finds its hold live until at most this much later retries then (the worker's clock
# may run a little ahead of the API's); later than that, the hold was extended and has its own job.
EARLY_SECONDS = 2.0
SWEEP_BATCH = 1000


def expiry_job_id(prefix: str, hold_id: UUID | str, expires_at: datetime) -> str:
    """One job id per hold and expiry time (Redis key prefix included, so arq's keys carry it)."""
    return f"{prefix}hold-expiry:{hold_id}:{int(expires_at.timestamp() * 1000)}"


async def defer_expiry(arq: Any, prefix: str, hold_id: UUID, expires_at: datetime) -> None:
    """Enqueue the expiry job of a hold (made or extended) for its expires_at."""
    await arq.enqueue_job(
        "expire_hold_job",
        str(hold_id),
        _job_id=expiry_job_id(prefix, hold_id, expires_at),
        _defer_until=expires_at,
    )


async def schedule_expiry(delivery: Delivery, event: Event) -> None:
    """The `hold-expiry` consumer: a hold made or extended, or whose clock a checkout stopped
    or gave back (services/money), gets a job at its new expires_at."""
    assert isinstance(event, SeatsHeld | HoldExtended | CheckoutStarted | CheckoutFailed)
    if delivery.arq is None:
        raise RuntimeError("the hold-expiry consumer needs an arq connection")
    await defer_expiry(
        delivery.arq, delivery.settings.redis.prefix, event.hold_id, event.expires_at
    )


async def expire_hold_job(ctx: dict[str, Any], hold_id: str) -> str:
    """Expire the hold if it is past its time; idempotent (a second run, or a run after the
    sweep, finds nothing to do)."""
    pool: asyncpg.Pool = ctx["pool"]
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        live_until = await expire_hold(cast(asyncpg.Connection, conn), UUID(hold_id), now)
    if live_until is None:
        return "done"
    wait = (live_until - now).total_seconds()
    if wait <= EARLY_SECONDS:
        raise Retry(defer=wait + 0.05)
    return "extended"


async def sweep_holds(ctx: dict[str, Any]) -> int:
    """Expire every hold past its time that no job has expired yet; returns how many."""
    pool: asyncpg.Pool = ctx["pool"]
    async with pool.acquire() as conn:
        connection = cast(asyncpg.Connection, conn)  # the pool's proxy forwards every call
        return await sweep_expired_holds(connection, datetime.now(UTC), SWEEP_BATCH)
