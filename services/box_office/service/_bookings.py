"""Bookings: confirm a hold (idempotently), look one up, cancel one."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import Booking, CancelBookingIn, CancelledBy, ConfirmIn
from schemas.events import BookingCancelled, BookingConfirmed
from services.audit import record_action
from services.box_office import rules, store, tokens
from services.box_office.service._common import (
    Caller,
    authorize,
    booking_view,
    seating_for,
    settle_sale_status,
)
from services.box_office.service._holds import HOLD_TOKEN
from services.errors import Conflict, Gone, InvalidInput, NotAuthenticated
from services.idempotency import check_same_request
from services.ids import uuid7
from services.outbox import record_event
from services.prices import service as prices

BOOKING_SECRET = ("booking secret", "X-Booking-Secret")
REFERENCE_ATTEMPTS = 8


class Priced(msgspec.Struct, frozen=True):
    """A hold's tickets as priced for its booking (services/prices: the breakdown), one booked
    seat's row per ticket. A checkout keeps it (as JSON) and its payment books with it."""

    currency: str
    seats: list[store.BookingSeatRow]
    total: int
    discount_code: str | None


async def price_hold(
    conn: asyncpg.Connection,
    hold: store.HoldRow,
    data: ConfirmIn,
    seating: store.Seating,
    now: datetime,
) -> Priced:
    """The price of each ticket of `data` for the hold's seats, the hold's discount-code use
    taken (prices.price_hold, in the caller's transaction with the hold locked): the one
    pricing path of a confirmation and of a checkout (services/money)."""
    held = [seating.by_id[seat_id] for seat_id in hold.seat_ids]
    priced = await prices.price_hold(
        conn, hold.id, hold.screening_id, [seat.label for seat in held], data, now
    )
    seats = [
        store.BookingSeatRow(
            seat_id=seating.by_label[line.seat].id,
            ticket_type=line.ticket_type,
            amount=line.amount,
            list_price=line.list_price,
            discount=line.discount,
            fee=line.fee,
            tax=line.tax,
            membership_number=line.membership_number,
        )
        for line in priced.seats
    ]
    return Priced(priced.currency, seats, priced.totals.amount, priced.discount_code)


async def make_booking(
    conn: asyncpg.Connection,
    hold: store.HoldRow,
    data: ConfirmIn,
    seating: store.Seating,
    now: datetime,
    *,
    idempotency_key: str,
    request_hash: bytes,
    secret_hash: bytes,
    seated: bool = True,
    priced: Priced | None = None,
) -> tuple[store.BookingRow, list[store.BookingSeatRow]]:
    """The one place a booking is made from a hold (locked by the caller, in its transaction),
    for a confirmation and for a checkout's payment (services/money). Priced live (price_hold)
    unless `priced` gives the prices fixed earlier: a checkout's, which its payment books with
    whatever the prices, codes and memberships are now. Seated: the hold's live claims become
    the booking's, the hold ends confirmed and BookingConfirmed is recorded (410, and nothing
    written, when its claims are gone). Not `seated`: a "paid, not seated" booking
    ('unseated') with the tickets asked for and no seats; its caller records why."""
    if priced is None:
        priced = await price_hold(conn, hold, data, seating, now)
    for _ in range(REFERENCE_ATTEMPTS):
        booking = store.BookingRow(
            id=uuid7(),
            reference=tokens.new_reference(),
            screening_id=hold.screening_id,
            venue_id=hold.venue_id,
            hold_id=hold.id,
            patron_name=data.patron.name,
            patron_email=data.patron.email,
            payment_reference=data.payment_reference,
            secret_hash=secret_hash,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            currency=priced.currency,
            total=priced.total,
            status="confirmed" if seated else "unseated",
            refund_due=False,
            cancelled_by=None,
            cancel_reason=None,
            created_at=now,
            cancelled_at=None,
            version=1,
            discount_code=priced.discount_code,
        )
        if await store.insert_booking(conn, booking, priced.seats):
            break
    else:  # pragma: no cover - 31**7 references
        raise Conflict("no free booking reference; try again", reason="busy")
    if not seated:
        return booking, priced.seats
    if await store.book_hold_claims(conn, hold.id, booking.id, now) != len(hold.seat_ids):
        raise Gone("this hold has expired and its seats are back on sale")
    await store.update_hold(conn, hold.id, status="confirmed", ended_at=now)
    await record_event(
        conn,
        BookingConfirmed(
            id=uuid7(),
            occurred_at=now,
            venue_id=hold.venue_id,
            booking_id=booking.id,
            reference=booking.reference,
            hold_id=hold.id,
            screening_id=hold.screening_id,
            seat_ids=hold.seat_ids,
            seat_labels=seating.labels(hold.seat_ids),
            patron_name=booking.patron_name,
            patron_email=booking.patron_email,
            currency=booking.currency,
            total=booking.total,
        ),
    )
    return booking, priced.seats


async def confirm_hold(
    conn: asyncpg.Connection,
    hold_id: UUID,
    hold_token: str | None,
    idempotency_key: str,
    data: ConfirmIn,
    now: datetime,
) -> tuple[Booking, bool]:
    """Turn a live hold into a booking; (booking, True) when this is a retry of a confirmation
    already made with the same Idempotency-Key and body (or of the checkout whose payment made
    it). An expired hold is refused (410) and nothing changes; a hold in checkout waits for its
    payment (409)."""
    if hold_token is None:
        raise NotAuthenticated("send the hold token in the X-Hold-Token header")
    caller = Caller(secret=hold_token)
    first = await store.get_hold(conn, hold_id)
    authorize(caller, first.token_hash, *HOLD_TOKEN)
    seating = await seating_for(conn, first.screening_id)
    request_hash = tokens.confirm_digest(data)
    secret = tokens.patron_secret(hold_token)
    async with conn.transaction():
        hold = await store.get_hold(conn, hold_id, lock=True)
        # a retry, or a payment that made the booking (even one "paid, not seated" on a hold
        # whose expiry has passed but that no sweep has ended yet)
        made = await store.find_booking(conn, hold_id)
        if made is not None:
            if made.idempotency_key != idempotency_key:
                raise Conflict(
                    f"this hold is already confirmed as booking {made.reference}",
                    reason="already confirmed",
                    reference=made.reference,
                )
            check_same_request(made.request_hash, request_hash)
            booked = await store.booking_seats(conn, [made.id])
            return booking_view(made, booked[made.id], seating, secret), True
        if hold.status == "cancelled":
            raise Gone("the screening was cancelled and this hold with it")
        if hold.status != "live":
            raise Gone(f"this hold was {hold.status}; its seats are back on sale")
        if await store.in_checkout(conn, hold_id):
            raise Conflict(
                "this hold is in checkout: its booking is made when the payment arrives;"
                " retry with the checkout's Idempotency-Key and body to read it",
                reason="in checkout",
            )
        rules.check_live(hold.expires_at, now)
        booking, seats = await make_booking(
            conn,
            hold,
            data,
            seating,
            now,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            secret_hash=tokens.digest(secret),
        )
    return booking_view(booking, seats, seating, secret), False


async def get_booking(conn: asyncpg.Connection, reference: str, caller: Caller) -> Booking:
    booking = await store.get_booking(conn, reference=reference)
    authorize(caller, booking.secret_hash, *BOOKING_SECRET)
    seats = await store.booking_seats(conn, [booking.id])
    return booking_view(booking, seats[booking.id], await seating_for(conn, booking.screening_id))


async def list_bookings(
    conn: asyncpg.Connection, screening_id: UUID, refund_due: bool | None
) -> list[Booking]:
    seating = await seating_for(conn, screening_id)
    bookings = await store.list_bookings(conn, screening_id, refund_due)
    seats = await store.booking_seats(conn, [booking.id for booking in bookings])
    return [booking_view(booking, seats[booking.id], seating) for booking in bookings]


async def cancel_booking(
    conn: asyncpg.Connection, reference: str, caller: Caller, data: CancelBookingIn, now: datetime
) -> Booking:
    """Cancel a booking: its seats are back on sale at once. Cancelling it again answers it as
    it is."""
    first = await store.get_booking(conn, reference=reference)
    authorize(caller, first.secret_hash, *BOOKING_SECRET)
    if data.refund is not None and caller.staff is None:
        raise InvalidInput("only staff decide about refunds", field="refund", reason="staff only")
    seating = await seating_for(conn, first.screening_id)
    async with conn.transaction():
        by: CancelledBy = "staff" if caller.staff else "patron"
        cancelled = await store.cancel_bookings(
            conn, now, by, data.reason, booking_id=first.id, refund=data.refund
        )
        if cancelled:
            booking = cancelled[0]
            await store.drop_booking_claims(conn, [booking.id])
            seats = (await store.booking_seats(conn, [booking.id]))[booking.id]
            seat_ids = [seat.seat_id for seat in seats]
            await record_event(
                conn,
                BookingCancelled(
                    id=uuid7(),
                    occurred_at=now,
                    venue_id=booking.venue_id,
                    booking_id=booking.id,
                    reference=booking.reference,
                    screening_id=booking.screening_id,
                    seat_ids=seat_ids,
                    seat_labels=seating.labels(seat_ids),
                    by=by,
                    refund_due=booking.refund_due,
                    reason=data.reason,
                ),
            )
            if caller.staff:
                await record_action(
                    conn,
                    caller.staff.id,
                    "booking.cancelled",
                    "booking",
                    booking.id,
                    {"reference": booking.reference, "refund_due": booking.refund_due},
                )
        else:
            booking = await store.get_booking(conn, reference=reference)
            seats = (await store.booking_seats(conn, [booking.id]))[booking.id]
    if cancelled:
        await settle_sale_status(conn, booking.screening_id, now)
    return booking_view(booking, seats, seating)
