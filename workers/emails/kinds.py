"""The kinds of email, and which event makes which emails.

Adding a kind (docs/emails.md): a context Struct in letters.py, the templates `<kind>.txt.j2` and
`<kind>.html.j2`, an entry in `KINDS`, and a mapping function in `MAPPERS` from the event that
causes it to the letters it makes (an empty list when it makes none).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
import msgspec

from schemas.events import (
    BookingCancelled,
    BookingConfirmed,
    BookingReseated,
    BookingUnseated,
    DeviceReservationCancelled,
    DeviceReservationPromoted,
    DeviceReserved,
    DeviceWaitlisted,
    Event,
    ScreeningCancelled,
    ScreeningRescheduled,
)
from services.box_office import store as box_office
from services.settings import Settings
from workers.emails import devices, facts
from workers.emails.letters import (
    BookingCancelledMail,
    BookingConfirmedMail,
    BookingFacts,
    BookingUnseatedMail,
    DeviceCancelledMail,
    DevicePickupReminderMail,
    DevicePromotedMail,
    DeviceReservedMail,
    DeviceWaitlistedMail,
    Letter,
    MailContext,
    ReservationFacts,
    ScreeningCancelledMail,
    ScreeningFacts,
    ScreeningReminderMail,
    ScreeningRescheduledMail,
)


@dataclass(frozen=True)
class Kind:
    """How one kind of email is made: its context, its subject (a Jinja template rendered with
    the context's fields), whether it carries a calendar file (to add or to remove the entry)
    and the ticket codes for the door."""

    context: type[MailContext]
    subject: str
    calendar: Literal["PUBLISH", "CANCEL"] | None = None
    tickets: bool = False


KINDS: dict[str, Kind] = {
    "booking_confirmed": Kind(
        BookingConfirmedMail,
        "Your tickets for {{ screening.film_title }} on "
        "{{ screening.starts_at|local_day(screening.time_zone) }} ({{ booking.reference }})",
        calendar="PUBLISH",
        tickets=True,
    ),
    "booking_cancelled": Kind(
        BookingCancelledMail,
        "Booking {{ booking.reference }} is cancelled: {{ screening.film_title }} on "
        "{{ screening.starts_at|local_day(screening.time_zone) }}",
        calendar="CANCEL",
    ),
    "booking_unseated": Kind(
        BookingUnseatedMail,
        "Your payment for {{ screening.film_title }} arrived, but you have no seats yet "
        "({{ booking.reference }})",
    ),
    "screening_cancelled": Kind(
        ScreeningCancelledMail,
        "Cancelled: {{ screening.film_title }} on "
        "{{ screening.starts_at|local_time(screening.time_zone) }}",
        calendar="CANCEL",
    ),
    "screening_rescheduled": Kind(
        ScreeningRescheduledMail,
        "New time: {{ screening.film_title }} is now on "
        "{{ screening.starts_at|local_time(screening.time_zone) }}",
        calendar="PUBLISH",
    ),
    "screening_reminder": Kind(
        ScreeningReminderMail,
        "Reminder: {{ screening.film_title }} on "
        "{{ screening.starts_at|local_time(screening.time_zone) }}",
        tickets=True,
    ),
    "device_reserved": Kind(
        DeviceReservedMail,
        "Device reserved for {{ screening.film_title }} on "
        "{{ screening.starts_at|local_time(screening.time_zone) }}",
    ),
    "device_waitlisted": Kind(
        DeviceWaitlistedMail,
        "On the waitlist for a device: {{ screening.film_title }} on "
        "{{ screening.starts_at|local_time(screening.time_zone) }}",
    ),
    "device_promoted": Kind(
        DevicePromotedMail,
        "A device is now yours for {{ screening.film_title }} on "
        "{{ screening.starts_at|local_time(screening.time_zone) }}",
    ),
    "device_cancelled": Kind(
        DeviceCancelledMail,
        "Device reservation cancelled: {{ screening.film_title }} on "
        "{{ screening.starts_at|local_time(screening.time_zone) }}",
    ),
    "device_pickup_reminder": Kind(
        DevicePickupReminderMail,
        "Collect your device from {{ reservation.pickup_from|clock(screening.time_zone) }}: "
        "{{ screening.film_title }} on {{ screening.starts_at|local_day(screening.time_zone) }}",
    ),
}

# A mapping function: the letters an event makes. `settings` for what the email tells but the
# event does not carry (the device pick-up times).
Mapper = Callable[[asyncpg.Connection, Any, Settings], Awaitable[list[Letter]]]


async def booking_confirmed(
    conn: asyncpg.Connection, event: BookingConfirmed | BookingReseated, settings: Settings
) -> list[Letter]:
    """The tickets: for a confirmation, and for a "paid, not seated" booking staff seated."""
    booking = await facts.one_booking(conn, event.reference)
    screening = await facts.screening_facts(conn, event.screening_id)
    context = BookingConfirmedMail(
        occurred_at=event.occurred_at, screening=screening, booking=booking
    )
    return [_to_patron("booking_confirmed", context, booking.booking_id)]


async def booking_unseated(
    conn: asyncpg.Connection, event: BookingUnseated, settings: Settings
) -> list[Letter]:
    """The truth about a payment that came too late for its seats (or was not the amount)."""
    booking = await facts.one_booking(conn, event.reference)
    screening = await facts.screening_facts(conn, event.screening_id)
    context = BookingUnseatedMail(
        occurred_at=event.occurred_at,
        screening=screening,
        booking=booking,
        why=event.why,
        seats_wanted=[seat.label for seat in booking.seats],
    )
    return [_to_patron("booking_unseated", context, booking.booking_id)]


async def booking_cancelled(
    conn: asyncpg.Connection, event: BookingCancelled, settings: Settings
) -> list[Letter]:
    if event.by == "screening":
        return []  # the screening's cancellation tells each of its patrons, once
    booking = await facts.one_booking(conn, event.reference)
    screening = await facts.screening_facts(conn, event.screening_id)
    context = BookingCancelledMail(
        occurred_at=event.occurred_at,
        screening=screening,
        booking=booking,
        by=event.by,
        reason=event.reason,
    )
    return [_to_patron("booking_cancelled", context, booking.booking_id)]


async def screening_cancelled(
    conn: asyncpg.Connection, event: ScreeningCancelled, settings: Settings
) -> list[Letter]:
    """Every patron whose bookings or device reservations the cancellation cancelled: one email
    each, listing them all."""
    screening = await facts.screening_facts(conn, event.screening_id)
    bookings = await facts.screening_bookings(conn, event.screening_id, cancelled_by_screening=True)
    reservations = await facts.screening_reservations(
        conn, screening, settings.access, cancelled_by_screening=True
    )
    return _to_each_patron(
        "screening_cancelled",
        bookings,
        reservations,
        lambda mine, held: ScreeningCancelledMail(
            occurred_at=event.occurred_at,
            screening=screening,
            bookings=mine,
            reservations=held,
            reason=event.reason,
        ),
    )


async def screening_rescheduled(
    conn: asyncpg.Connection, event: ScreeningRescheduled, settings: Settings
) -> list[Letter]:
    """Every patron with a confirmed booking or a live device reservation: the new time (the
    event's, even if the screening has moved again since: that move has its own event and
    email), and when to collect the device then."""
    current = await facts.screening_facts(conn, event.screening_id)
    screening = _starting_at(current, event.starts_at)
    bookings = await facts.screening_bookings(
        conn, event.screening_id, cancelled_by_screening=False
    )
    reservations = await facts.screening_reservations(
        conn, screening, settings.access, cancelled_by_screening=False
    )
    return _to_each_patron(
        "screening_rescheduled",
        bookings,
        reservations,
        lambda mine, held: ScreeningRescheduledMail(
            occurred_at=event.occurred_at,
            screening=screening,
            bookings=mine,
            reservations=held,
            previous_starts_at=event.previous_starts_at,
        ),
    )


def _to_each_patron(
    kind: str,
    bookings: list[BookingFacts],
    reservations: list[ReservationFacts],
    context: Callable[[list[BookingFacts], list[ReservationFacts]], MailContext],
) -> list[Letter]:
    """One letter per patron (by address, without case) about all of theirs."""
    letters = []
    for mine, held in facts.by_patron(bookings, reservations).values():
        first = mine[0] if mine else held[0]
        letters.append(Letter(kind, first.patron_email, first.patron_name, context(mine, held)))
    return letters


async def screening_reminder(
    conn: asyncpg.Connection,
    booking: box_office.BookingRow,
    hours: int,
    now: datetime,
    screenings: dict[Any, ScreeningFacts],
) -> Letter:
    """The reminder of one booking (the reminder job calls this; no event causes it).
    `screenings` caches the screenings' facts across the bookings of one run."""
    screening = screenings.get(booking.screening_id)
    if screening is None:
        screening = await facts.screening_facts(conn, booking.screening_id)
        screenings[booking.screening_id] = screening
    (booked,) = await facts.booking_facts(conn, [booking])
    context = ScreeningReminderMail(
        occurred_at=now, screening=screening, booking=booked, hours=hours
    )
    return _to_patron("screening_reminder", context, booking.id)


def _to_patron(kind: str, context: MailContext, booking_id: Any) -> Letter:
    booking = context.bookings_of()[0]
    return Letter(kind, booking.patron_email, booking.patron_name, context, booking_id=booking_id)


def _starting_at(screening: ScreeningFacts, starts_at: Any) -> ScreeningFacts:
    length = screening.ends_at - screening.starts_at
    return msgspec.structs.replace(screening, starts_at=starts_at, ends_at=starts_at + length)


MAPPERS: dict[type[Event], Mapper] = {
    BookingConfirmed: booking_confirmed,
    BookingCancelled: booking_cancelled,
    BookingUnseated: booking_unseated,
    BookingReseated: booking_confirmed,
    ScreeningCancelled: screening_cancelled,
    ScreeningRescheduled: screening_rescheduled,
    DeviceReserved: devices.device_reserved,
    DeviceWaitlisted: devices.device_waitlisted,
    DeviceReservationPromoted: devices.device_promoted,
    DeviceReservationCancelled: devices.device_cancelled,
}


async def letters_for(conn: asyncpg.Connection, event: Event, settings: Settings) -> list[Letter]:
    """The emails `event` causes (none for an event no mapper knows)."""
    mapper = MAPPERS.get(type(event))
    return await mapper(conn, event, settings) if mapper else []
