"""Access devices in the workers: the `devices` consumer group turns events into arq jobs that
release reservations, move the waitlist and follow a moved screening; a cron job records the
deadlines (no-shows, overdue returns, lapsed waitlist entries) and sweeps the waitlists.

Every job runs its own short transaction, taking the (venue, kind) locks in one order (the
release of a booking's devices and a check-out at the desk never deadlock), and is idempotent:
a re-delivered event's job finds its work done, and a promotion gives each free unit once
whatever runs at the same time. Register:

    CONSUMERS: Consumer("devices", react, types=REACTS_TO)
    JOBS: func(release_devices_job), func(promote_waitlist_job), func(follow_screening_job)
    cron_jobs: cron(device_deadlines, second={5, 35})
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from uuid import UUID

import asyncpg
from arq import Retry

from schemas.events import (
    BookingCancelled,
    DeviceAdded,
    DeviceChanged,
    DeviceCheckedOut,
    DeviceNoShow,
    DeviceReservationCancelled,
    DeviceReturned,
    DeviceWaitlisted,
    Event,
    HoldExpired,
    HoldReleased,
    ScreeningCancelled,
    ScreeningRescheduled,
    ScreeningUpdated,
)
from services.access import service
from services.access.service import Tie
from services.settings import Settings
from workers.delivery import Delivery

log = logging.getLogger("usher.devices")
T = TypeVar("T")

# What frees a unit (or adds one, or adds a patron who might get one) moves the waitlist.
FREES = (
    DeviceReservationCancelled,
    DeviceReturned,
    DeviceNoShow,
    DeviceChanged,
    DeviceAdded,
    DeviceCheckedOut,  # a unit handed over instead of the one set aside leaves that one free
    DeviceWaitlisted,
)
RELEASES = (BookingCancelled, HoldExpired, HoldReleased, ScreeningCancelled)
MOVES = (ScreeningRescheduled, ScreeningUpdated)
REACTS_TO = (*RELEASES, *FREES, *MOVES)
# Transient refusals of PostgreSQL: the job runs again shortly.
TRANSIENT = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


async def react(delivery: Delivery, event: Event) -> None:
    """The `devices` consumer: one job per event, keyed by the event id (a re-delivered event
    enqueues nothing new)."""
    if isinstance(event, BookingCancelled):
        await delivery.enqueue("release_devices_job", "booking", str(event.booking_id))
    elif isinstance(event, HoldExpired | HoldReleased):
        await delivery.enqueue("release_devices_job", "hold", str(event.hold_id))
    elif isinstance(event, ScreeningCancelled):
        await delivery.enqueue("release_devices_job", "screening", str(event.screening_id))
    elif isinstance(event, ScreeningRescheduled | ScreeningUpdated):
        await delivery.enqueue("follow_screening_job", str(event.screening_id))
    elif isinstance(event, DeviceReservationCancelled) and event.device_id is None:
        return  # it was waitlisted: no unit came free
    elif isinstance(event, FREES) and event.venue_id is not None:
        kind: str = event.kind  # every FREES event names its kind
        await delivery.enqueue("promote_waitlist_job", str(event.venue_id), kind)


async def _run(step: Awaitable[T]) -> T:
    try:
        return await step
    except TRANSIENT as exc:
        log.info("device job refused (%s); again shortly", exc)
        raise Retry(defer=0.2) from exc


def _conn(proxy: Any) -> asyncpg.Connection:
    return cast(asyncpg.Connection, proxy)  # the pool's proxy forwards every call


async def release_devices_job(ctx: dict[str, Any], tie: str, tied_id: str) -> int:
    """Cancel the live reservations tied to a booking, hold or screening that ended."""
    pool: asyncpg.Pool = ctx["pool"]
    async with pool.acquire() as conn:
        return await _run(
            service.release(_conn(conn), cast(Tie, tie), UUID(tied_id), datetime.now(UTC))
        )


async def promote_waitlist_job(ctx: dict[str, Any], venue_id: str, kind: str) -> int:
    """Give the free units of a kind to the patrons waiting for them, in order."""
    pool: asyncpg.Pool = ctx["pool"]
    async with pool.acquire() as conn:
        promoted = await _run(
            service.promote_waitlist(_conn(conn), UUID(venue_id), kind, datetime.now(UTC))
        )
    return len(promoted)


async def follow_screening_job(ctx: dict[str, Any], screening_id: str) -> int:
    """Give a moved screening's reservations their new span, then move the waitlists."""
    pool: asyncpg.Pool = ctx["pool"]
    settings: Settings = ctx["settings"]
    promoted = 0
    async with pool.acquire() as conn:
        kinds = await _run(
            service.follow_screening(
                _conn(conn), UUID(screening_id), settings.access, datetime.now(UTC)
            ),
        )
        for venue_id, kind in sorted(kinds):
            done = await _run(
                service.promote_waitlist(_conn(conn), venue_id, kind, datetime.now(UTC))
            )
            promoted += len(done)
    return promoted


async def device_deadlines(ctx: dict[str, Any]) -> dict[str, int]:
    """Record no-shows, overdue returns and lapsed waitlist entries once each, then sweep every
    waitlist (a promotion whose job was lost still happens)."""
    pool: asyncpg.Pool = ctx["pool"]
    settings: Settings = ctx["settings"]
    now = datetime.now(UTC)
    async with pool.acquire() as proxy:
        conn = _conn(proxy)
        counts = await service.run_deadlines(conn, settings.access, now)
        promoted = 0
        for venue_id, kind in await service.waiting_kinds(conn, now):
            promoted += len(await service.promote_waitlist(conn, venue_id, kind, now))
    counts["promoted"] = promoted
    if any(counts.values()):
        log.info("device deadlines: %s", counts)
    return counts
