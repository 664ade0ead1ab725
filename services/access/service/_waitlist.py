"""What the workers run: the waitlist's promotions, releases when a booking, hold or screening
ends, following a screening that moved, and the deadlines (no-shows, overdue returns, waitlist
entries that lapsed). Each is idempotent: run twice, it does its work once."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from schemas.events import DeviceNoShow, DeviceOverdue, DeviceReservationPromoted, Event
from services.access import rules, store
from services.access.service._common import about, place, waitlisted_event
from services.access.service._patrons import cancelled_event, span_of
from services.outbox import record_events
from services.settings import AccessSettings

Tie = Literal["hold", "booking", "screening"]
DEADLINE_BATCH = 500


async def promote_waitlist(
    conn: asyncpg.Connection, venue_id: UUID, kind: str, now: datetime
) -> list[UUID]:
    """Give free units to the patrons waiting for this kind in this venue, in waitlist order
    (screenings not started). Under the kind's lock, which every step that frees or takes a unit
    also holds: two runs at once promote each free unit once (a unit freed once promotes one
    patron, two freed at once promote two), and no unit comes free halfway through a run, so a
    patron further down the list never gets one before those ahead. Returns the reservations
    promoted."""
    promoted: list[UUID] = []
    async with conn.transaction():
        await store.lock_kind(conn, venue_id, kind)
        events: list[Event] = []
        for row, auditorium_id in await store.waitlist(conn, venue_id, kind, now):
            device_id = await place(conn, row, auditorium_id, now)
            if device_id is None:
                continue
            fresh = await store.get_reservation(conn, row.id)
            assert fresh.asset_tag is not None
            events.append(
                DeviceReservationPromoted(
                    **about(fresh, now), device_id=device_id, asset_tag=fresh.asset_tag
                )
            )
            promoted.append(row.id)
        await record_events(conn, events)
    return promoted


async def release(conn: asyncpg.Connection, tie: Tie, tied_id: UUID, now: datetime) -> int:
    """Cancel the live reservations tied to a cancelled booking (or the hold it came from), a
    hold that ended unconfirmed, or a cancelled screening; their units go to the waitlist
    through the DeviceReservationCancelled events. Returns how many ended now."""
    where = {f"{tie}_id": tied_id}
    reasons = {
        "booking": "the booking was cancelled",
        "hold": "the hold ended before it was confirmed",
        "screening": "the screening was cancelled",
    }
    async with conn.transaction():
        await store.lock_kinds(conn, await store.live_kinds(conn, **where))
        ended = await store.end_reservations(conn, now, tie, reasons[tie], **where)
        await record_events(conn, [cancelled_event(row, now, tie, reasons[tie]) for row in ended])
    return len(ended)


async def follow_screening(
    conn: asyncpg.Connection, screening_id: UUID, settings: AccessSettings, now: datetime
) -> set[tuple[UUID, str]]:
    """A screening moved (or its length changed): each live reservation gets the new span,
    keeping its unit if that unit is free then, else another free unit, else the waitlist in
    its place. Returns the (venue, kind) pairs whose waitlist may now move."""
    facts = await store.screening_facts(conn, screening_id)
    if facts.status == "cancelled":
        return set()
    full = span_of(facts, settings)
    stale = [
        row
        for row in await store.of_screening(conn, screening_id, statuses=rules.LIVE)
        if rules.span_to_follow(row.span, full, now) is not None
    ]
    if not stale:
        return set()
    kinds = {(row.venue_id, row.kind) for row in stale}
    async with conn.transaction():
        facts = await store.screening_facts(conn, screening_id, share=True)
        full = span_of(facts, settings)
        await store.lock_kinds(conn, kinds)
        events: list[Event] = []
        for first in stale:
            row = await store.get_reservation(conn, first.id, lock=True)
            span = rules.span_to_follow(row.span, full, now)
            if row.status not in rules.LIVE or span is None:
                continue
            if row.status == "waitlisted":
                await store.set_span(conn, row.id, span)
                continue
            if await store.set_span(conn, row.id, span):
                continue  # its unit is free over the new span too
            await store.demote(conn, row.id)
            await store.set_span(conn, row.id, span)
            moved = msgspec.structs.replace(row, span=span)
            if await place(conn, moved, facts.auditorium_id, now) is None:
                events.append(await waitlisted_event(conn, moved, now, "unit_withdrawn"))
        await record_events(conn, events)
    return kinds


async def run_deadlines(
    conn: asyncpg.Connection, settings: AccessSettings, now: datetime
) -> dict[str, int]:
    """Record each deadline passed once: devices never collected (released: DeviceNoShow),
    devices not returned in time (DeviceOverdue, for staff), and waitlist entries whose
    screening started (lapsed: DeviceReservationCancelled by system)."""
    counts = {"no_show": 0, "overdue": 0, "lapsed": 0}
    minutes = settings.no_show_minutes
    for venue_id, kind in await store.no_show_kinds(conn, now, minutes):
        while True:  # a unit comes free: under its kind's lock, like every other
            async with conn.transaction():
                await store.lock_kind(conn, venue_id, kind)
                rows = await store.no_shows(conn, now, minutes, DEADLINE_BATCH, venue_id, kind)
                await record_events(
                    conn,
                    [
                        DeviceNoShow(
                            **about(r, now), device_id=r.device_id, asset_tag=r.asset_tag or ""
                        )
                        for r in rows
                        if r.device_id is not None
                    ],
                )
            counts["no_show"] += len(rows)
            if len(rows) < DEADLINE_BATCH:
                break
    while True:
        async with conn.transaction():
            due = await store.overdue(conn, now, settings.overdue_minutes, DEADLINE_BATCH)
            await record_events(
                conn,
                [
                    DeviceOverdue(
                        **about(r, now),
                        device_id=r.device_id,
                        asset_tag=r.asset_tag or "",
                        due_at=rules.overdue_at(ends_at, settings.overdue_minutes),
                    )
                    for r, ends_at in due
                    if r.device_id is not None
                ],
            )
        counts["overdue"] += len(due)
        if len(due) < DEADLINE_BATCH:
            break
    while True:
        async with conn.transaction():
            lapsed = await store.lapses(conn, now, DEADLINE_BATCH)
            reason = "the screening started before a unit came free"
            await record_events(conn, [cancelled_event(r, now, "system", reason) for r in lapsed])
        counts["lapsed"] += len(lapsed)
        if len(lapsed) < DEADLINE_BATCH:
            break
    return counts


async def waiting_kinds(conn: asyncpg.Connection, now: datetime) -> list[tuple[UUID, str]]:
    """Every (venue, kind) with someone waiting: what a sweep of the waitlists goes over."""
    return await store.waiting_kinds(conn, now)
