"""The emails of device reservations (docs/access.md): reserved at once, waitlisted, promoted off
the waitlist, cancelled, and the pick-up reminder. Each tells the device, the screening, where
and when to collect the device and how to cancel. The patron's name and address are the
event's, else the reservation's (read by its id); a reservation without an address gets none.

A reservation ended because its screening was cancelled (directly, or through the booking or
hold that cancellation cancelled) gets no email of its own: the screening's tells its patron,
once, with their bookings (kinds.screening_cancelled)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from schemas.events import (
    DeviceReservationCancelled,
    DeviceReservationEvent,
    DeviceReservationPromoted,
    DeviceReserved,
    DeviceWaitlisted,
)
from services.access import store as access
from services.settings import Settings
from workers.emails import facts
from workers.emails.letters import (
    DeviceCancelledMail,
    DevicePickupReminderMail,
    DevicePromotedMail,
    DeviceReservedMail,
    DeviceWaitlistedMail,
    Letter,
    OneReservation,
    ReservationFacts,
    ScreeningFacts,
)


async def _told(
    conn: asyncpg.Connection, event: DeviceReservationEvent, settings: Settings, status: str
) -> tuple[ScreeningFacts, ReservationFacts] | None:
    row = await access.get_reservation(conn, event.reservation_id)
    screening = await facts.screening_facts(conn, event.screening_id)
    reservation = facts.reservation_facts(
        row,
        screening,
        settings.access,
        status=status,
        patron_name=event.patron_name,
        patron_email=event.patron_email,
    )
    return None if reservation is None else (screening, reservation)


def _letter(kind: str, context: OneReservation) -> Letter:
    told = context.reservation
    return Letter(
        kind, told.patron_email, told.patron_name, context, reservation_id=told.reservation_id
    )


async def device_reserved(
    conn: asyncpg.Connection, event: DeviceReserved, settings: Settings
) -> list[Letter]:
    told = await _told(conn, event, settings, "reserved")
    if told is None:
        return []
    screening, reservation = told
    context = DeviceReservedMail(
        occurred_at=event.occurred_at, screening=screening, reservation=reservation
    )
    return [_letter("device_reserved", context)]


async def device_waitlisted(
    conn: asyncpg.Connection, event: DeviceWaitlisted, settings: Settings
) -> list[Letter]:
    """A new request with no unit free, or a reserved one whose unit was withdrawn."""
    told = await _told(conn, event, settings, "waitlisted")
    if told is None:
        return []
    screening, reservation = told
    context = DeviceWaitlistedMail(
        occurred_at=event.occurred_at,
        screening=screening,
        reservation=reservation,
        position=event.position,
        reason=event.reason,
    )
    return [_letter("device_waitlisted", context)]


async def device_promoted(
    conn: asyncpg.Connection, event: DeviceReservationPromoted, settings: Settings
) -> list[Letter]:
    told = await _told(conn, event, settings, "reserved")
    if told is None:
        return []
    screening, reservation = told
    context = DevicePromotedMail(
        occurred_at=event.occurred_at, screening=screening, reservation=reservation
    )
    return [_letter("device_promoted", context)]


async def device_cancelled(
    conn: asyncpg.Connection, event: DeviceReservationCancelled, settings: Settings
) -> list[Letter]:
    """Cancelled by the patron or staff, released with its booking or hold, or lapsed (the
    screening started while it waited): none when the screening's cancellation ended it."""
    if event.by == "screening":
        return []
    if event.by in ("booking", "hold") and await access.ended_with_screening(
        conn, event.screening_id, reservation_id=event.reservation_id
    ):
        return []
    told = await _told(conn, event, settings, "cancelled")
    if told is None:
        return []
    screening, reservation = told
    context = DeviceCancelledMail(
        occurred_at=event.occurred_at,
        screening=screening,
        reservation=reservation,
        by=event.by,
        was=event.was,
        reason=event.reason,
    )
    return [_letter("device_cancelled", context)]


async def pickup_reminder(
    conn: asyncpg.Connection,
    reservation_id: UUID,
    settings: Settings,
    now: datetime,
    screenings: dict[Any, ScreeningFacts],
) -> Letter | None:
    """The pick-up reminder of one reservation (the reminder job calls this; no event causes
    it). `screenings` caches the screenings' facts across the reservations of one run."""
    row = await access.get_reservation(conn, reservation_id)
    screening = screenings.get(row.screening_id)
    if screening is None:
        screening = await facts.screening_facts(conn, row.screening_id)
        screenings[row.screening_id] = screening
    reservation = facts.reservation_facts(row, screening, settings.access, status=row.status)
    if reservation is None:
        return None
    context = DevicePickupReminderMail(
        occurred_at=now,
        screening=screening,
        reservation=reservation,
        hours=settings.mail.reminder_hours,
    )
    return _letter("device_pickup_reminder", context)
