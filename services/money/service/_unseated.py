"""The "paid after expiry" list and its re-seat action (its refund action is record_refund)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from schemas.box_office import Booking, Patron
from schemas.events import BookingReseated
from schemas.money import ReseatIn, UnseatedBooking
from schemas.staff import StaffMember
from services.audit import record_action
from services.box_office import rules as box_office_rules
from services.box_office import service as box_office
from services.box_office import store as box_office_store
from services.errors import Conflict
from services.ids import uuid7
from services.money import rules, store
from services.money.service._callbacks import NO_CAP, RECLAIM_SECONDS
from services.outbox import record_event


async def list_unseated(conn: asyncpg.Connection, venue_id: UUID | None) -> list[UnseatedBooking]:
    """Bookings paid after their hold died whose seats were gone, with money still to give
    back, oldest first."""
    found = []
    for booking_id in await store.unseated_bookings(conn, venue_id):
        booking = await box_office_store.get_booking(conn, booking_id=booking_id)
        seats = (await box_office_store.booking_seats(conn, [booking.id]))[booking.id]
        seating = await box_office.seating_for(conn, booking.screening_id)
        found.append(
            UnseatedBooking(
                reference=booking.reference,
                booking_id=booking.id,
                screening_id=booking.screening_id,
                patron=Patron(name=booking.patron_name, email=booking.patron_email),
                tickets=len(seats),
                seats_wanted=seating.labels([seat.seat_id for seat in seats]),
                currency=booking.currency.strip(),
                total=booking.total,
                paid=booking.paid,
                refunded=booking.refunded,
                refund_owed=rules.refund_owed(
                    booking.status,
                    booking.refund_due,
                    booking.total,
                    booking.paid,
                    booking.refunded,
                ),
                created_at=booking.created_at,
            )
        )
    return found


def _moves(old: list[UUID], new: list[UUID]) -> list[tuple[UUID, UUID]]:
    """Each ticket's seat to its new one: seats kept stay, the others pair in seat order."""
    kept = set(old) & set(new)
    leaving = sorted(seat for seat in old if seat not in kept)
    coming = sorted(seat for seat in new if seat not in kept)
    return [(seat, seat) for seat in sorted(kept)] + list(zip(leaving, coming, strict=True))


async def reseat(
    conn: asyncpg.Connection, reference: str, data: ReseatIn, staff: StaffMember, now: datetime
) -> Booking:
    """Seat a "paid, not seated" booking on the seats staff chose, all or nothing: it is
    confirmed on them. Acts once: `expected_status` must still be so (409 otherwise)."""
    first = await box_office_store.get_booking(conn, reference=reference)
    seating = await box_office.seating_for(conn, first.screening_id)
    chosen = box_office_rules.resolve_seats(data.seats, seating.by_label, "seats")
    seat_ids = [seat.id for seat in chosen]
    async with conn.transaction():
        hold = await box_office_store.get_hold(conn, first.hold_id, lock=True)
        booking = await box_office_store.get_booking(conn, reference=reference, lock=True)
        booked = (await box_office_store.booking_seats(conn, [booking.id]))[booking.id]
        rules.check_reseat(booking.status, data.expected_status, len(booked), len(seat_ids))
        claimed = await box_office_store.claim(
            conn,
            box_office_store.ClaimIn(
                kind="add",
                screening_id=booking.screening_id,
                now=now,
                hold_id=hold.id,
                client_id=hold.client_id,
                seat_ids=sorted(seat_ids),
                expires_at=now + timedelta(seconds=RECLAIM_SECONDS),
                max_held_seats=NO_CAP,
            ),
        )
        if claimed.outcome == "seats taken":
            raise box_office.taken_conflict(seating, claimed.taken)
        if claimed.outcome != "added":
            raise Conflict(
                f"these seats cannot be booked: {claimed.outcome}", reason=claimed.outcome
            )
        await box_office_store.book_hold_claims(conn, hold.id, booking.id, now)
        await store.move_booking_seats(
            conn, booking.id, _moves([seat.seat_id for seat in booked], seat_ids)
        )
        await store.set_booking_status(conn, booking.id, "confirmed")
        await record_event(
            conn,
            BookingReseated(
                id=uuid7(),
                occurred_at=now,
                venue_id=booking.venue_id,
                booking_id=booking.id,
                reference=booking.reference,
                screening_id=booking.screening_id,
                seat_ids=seat_ids,
                seat_labels=seating.labels(seat_ids),
                by=staff.id,
            ),
        )
        await record_action(
            conn,
            staff.id,
            "booking.reseated",
            "booking",
            booking.id,
            {"reference": booking.reference, "seats": seating.labels(seat_ids)},
        )
        booking = await box_office_store.get_booking(conn, reference=reference)
        booked = (await box_office_store.booking_seats(conn, [booking.id]))[booking.id]
    await box_office.settle_sale_status(conn, booking.screening_id, now)
    return box_office.booking_view(booking, booked, seating)
