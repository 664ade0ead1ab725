"""Reading the facts an email tells from the database, through the parts that own them: the
catalog for the screening and its venue, the box office for bookings and their seats, access for
device reservations."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

import asyncpg

from services.access import rules as access_rules
from services.access import store as access
from services.box_office import store as box_office
from services.catalog import store as catalog
from services.money import rules as money_rules
from services.money import store as money
from services.notifications.rules import normal_address
from services.prices.rules import totals
from services.settings import AccessSettings
from workers.emails.letters import BookingFacts, ReservationFacts, ScreeningFacts, SeatLine


async def screening_facts(conn: asyncpg.Connection, screening_id: UUID) -> ScreeningFacts:
    screening = await catalog.get_screening(conn, screening_id)
    venue = await catalog.get_venue(conn, str(screening.venue.id))
    address = venue.address
    region = " ".join(p for p in (address.region, address.postal_code) if p)
    place = ", ".join(p for p in (address.locality, region) if p)
    return ScreeningFacts(
        screening_id=screening.id,
        version=screening.version,
        film_title=screening.film.title,
        film_year=screening.film.year,
        runtime_minutes=screening.film.runtime_minutes,
        rating=screening.film.rating,
        directors=screening.film.directors,
        venue_id=venue.id,
        venue_name=venue.name,
        venue_address=[line for line in (address.street, place) if line],
        time_zone=venue.time_zone,
        auditorium_name=screening.auditorium.name,
        hearing_loop=screening.auditorium.hearing_loop,
        starts_at=screening.starts_at,
        ends_at=screening.ends_at,
        format=screening.format,
        audio_languages=screening.audio_languages,
        subtitle_language=screening.subtitles.language if screening.subtitles else None,
        subtitle_mode=screening.subtitles.mode if screening.subtitles else None,
        features=list(screening.features),
        notes=screening.notes,
        device_kinds=sorted(await access.in_service(conn, venue.id, screening.auditorium.id)),
    )


async def booking_facts(
    conn: asyncpg.Connection, bookings: list[box_office.BookingRow]
) -> list[BookingFacts]:
    """The bookings with their seats (in map order) and ticket types, in the order given."""
    seats = await box_office.booking_seats(conn, [b.id for b in bookings])
    refunded_at = await money.last_refunds(conn, [b.id for b in bookings])
    facts = []
    for booking in bookings:
        place = await box_office.place_of(conn, booking.screening_id)
        seating = await box_office.seating_of(conn, place.auditorium_id)
        booked = sorted(
            seats[booking.id],
            key=lambda s: (seating.by_id[s.seat_id].row_number, seating.by_id[s.seat_id].position),
        )
        figures = totals(booked)
        facts.append(
            BookingFacts(
                booking_id=booking.id,
                reference=booking.reference,
                patron_name=booking.patron_name,
                patron_email=booking.patron_email,
                seats=[
                    SeatLine(
                        label=seating.by_id[s.seat_id].label,
                        row_label=seating.by_id[s.seat_id].row_label,
                        kind=seating.by_id[s.seat_id].kind,
                        ticket_type=s.ticket_type,
                        amount=s.amount,
                    )
                    for s in booked
                ],
                currency=booking.currency.strip(),
                total=booking.total,
                refund_due=booking.refund_due,
                discount_code=booking.discount_code,
                discount=figures.discount,
                fees=figures.fee,
                tax=figures.tax,
                paid=booking.paid,
                refunded=booking.refunded,
                refund_owed=money_rules.refund_owed(
                    booking.status,
                    booking.refund_due,
                    booking.total,
                    booking.paid,
                    booking.refunded,
                ),
                refunded_at=refunded_at.get(booking.id),
            )
        )
    return facts


async def one_booking(conn: asyncpg.Connection, reference: str) -> BookingFacts:
    booking = await box_office.get_booking(conn, reference=reference)
    return (await booking_facts(conn, [booking]))[0]


def by_patron(
    bookings: list[BookingFacts], reservations: list[ReservationFacts]
) -> dict[str, tuple[list[BookingFacts], list[ReservationFacts]]]:
    """Bookings and device reservations grouped by the patron's address (compared without
    case), bookings first, each in its order: a patron with two bookings and a device hears
    about a change once."""
    grouped: dict[str, tuple[list[BookingFacts], list[ReservationFacts]]] = defaultdict(
        lambda: ([], [])
    )
    for booking in bookings:
        grouped[normal_address(booking.patron_email)][0].append(booking)
    for reservation in reservations:
        grouped[normal_address(reservation.patron_email)][1].append(reservation)
    return dict(grouped)


async def screening_bookings(
    conn: asyncpg.Connection, screening_id: UUID, *, cancelled_by_screening: bool
) -> list[BookingFacts]:
    """The screening's confirmed bookings, or those its cancellation cancelled."""
    rows = await box_office.list_bookings(conn, screening_id, None)
    if cancelled_by_screening:
        chosen = [r for r in rows if r.status == "cancelled" and r.cancelled_by == "screening"]
    else:
        chosen = [r for r in rows if r.status == "confirmed"]
    return await booking_facts(conn, chosen)


def reservation_facts(
    row: access.ReservationRow,
    screening: ScreeningFacts,
    settings: AccessSettings,
    *,
    status: str,
    patron_name: str = "",
    patron_email: str = "",
) -> ReservationFacts | None:
    """The reservation as told, with its pick-up window at `screening`'s time; the patron's name
    and address as given (an event's), else the reservation's. None without an address."""
    email = patron_email or row.patron_email or ""
    if not email.strip():
        return None
    window = access_rules.pickup_window(
        screening.starts_at, settings.pickup_lead_minutes, settings.no_show_minutes
    )
    return ReservationFacts(
        reservation_id=row.id,
        number=row.number,
        kind=row.kind,
        kind_name=access_rules.KIND_NAMES.get(row.kind, row.kind),
        status=status,
        patron_name=patron_name or row.patron_name,
        patron_email=email,
        pickup_from=window.start,
        pickup_until=window.end,
        booking_reference=row.booking_reference or "",
    )


async def screening_reservations(
    conn: asyncpg.Connection,
    screening: ScreeningFacts,
    settings: AccessSettings,
    *,
    cancelled_by_screening: bool,
) -> list[ReservationFacts]:
    """The screening's live device reservations (waitlisted or reserved) that have an address;
    with `cancelled_by_screening`, those its cancellation ended too (the release jobs may have
    run already, or not yet)."""
    rows = await access.of_screening(conn, screening.screening_id, statuses=access_rules.LIVE)
    if cancelled_by_screening:
        rows += await access.ended_with_screening(conn, screening.screening_id)
    told = [
        reservation_facts(row, screening, settings, status=row.status)
        for row in sorted(rows, key=lambda row: row.requested_at)
    ]
    return [reservation for reservation in told if reservation is not None]
