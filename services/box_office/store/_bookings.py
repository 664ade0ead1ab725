"""Bookings: confirmed holds, their seats and tickets, and their cancellation."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import BookingStatus, CancelledBy
from services.errors import NotFound


class BookingRow(msgspec.Struct, frozen=True):
    id: UUID
    reference: str
    screening_id: UUID
    venue_id: UUID
    hold_id: UUID
    patron_name: str
    patron_email: str
    payment_reference: str | None
    secret_hash: bytes
    idempotency_key: str
    request_hash: bytes
    currency: str
    total: int
    status: BookingStatus
    refund_due: bool
    cancelled_by: CancelledBy | None
    cancel_reason: str | None
    created_at: datetime
    cancelled_at: datetime | None
    version: int
    discount_code: str | None = None
    paid: int = 0  # the running sums of its payments and refunds (migration 021)
    refunded: int = 0


class BookingSeatRow(msgspec.Struct, frozen=True):
    """A booked seat and its price (list_price - discount + fee = amount; tax is in amount)."""

    seat_id: UUID
    ticket_type: str
    amount: int
    list_price: int
    discount: int = 0
    fee: int = 0
    tax: int = 0
    membership_number: str | None = None


_COLUMNS = ", ".join(BookingRow.__struct_fields__)


def _booking(row: asyncpg.Record) -> BookingRow:
    return BookingRow(**dict(row))


async def insert_booking(
    conn: asyncpg.Connection, booking: BookingRow, seats: list[BookingSeatRow]
) -> bool:
    """Insert the booking and its seats; False (nothing written) when its reference is taken, so
    the caller draws another."""
    inserted = await conn.fetchval(
        """
        WITH b AS (
            INSERT INTO booking (id, reference, screening_id, venue_id, hold_id, patron_name,
                                 patron_email, payment_reference, secret_hash, idempotency_key,
                                 request_hash, currency, total, created_at, discount_code, status)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $24)
            ON CONFLICT (reference) DO NOTHING
            RETURNING id
        ), seats AS (
            INSERT INTO booking_seat (booking_id, seat_id, ticket_type, amount, list_price,
                                      discount, fee, tax, membership_number)
            SELECT b.id, t.seat_id, t.ticket_type, t.amount, t.list_price, t.discount, t.fee,
                   t.tax, t.membership_number
            FROM b, unnest($16::uuid[], $17::text[], $18::int[], $19::int[], $20::int[],
                           $21::int[], $22::int[], $23::text[])
                    AS t(seat_id, ticket_type, amount, list_price, discount, fee, tax,
                         membership_number)
        )
        SELECT count(*) FROM b
        """,
        booking.id,
        booking.reference,
        booking.screening_id,
        booking.venue_id,
        booking.hold_id,
        booking.patron_name,
        booking.patron_email,
        booking.payment_reference,
        booking.secret_hash,
        booking.idempotency_key,
        booking.request_hash,
        booking.currency,
        booking.total,
        booking.created_at,
        booking.discount_code,
        [seat.seat_id for seat in seats],
        [seat.ticket_type for seat in seats],
        [seat.amount for seat in seats],
        [seat.list_price for seat in seats],
        [seat.discount for seat in seats],
        [seat.fee for seat in seats],
        [seat.tax for seat in seats],
        [seat.membership_number for seat in seats],
        booking.status,
    )
    return bool(inserted)


async def get_booking(
    conn: asyncpg.Connection,
    *,
    reference: str | None = None,
    hold_id: UUID | None = None,
    booking_id: UUID | None = None,
    lock: bool = False,
) -> BookingRow:
    key, value = (
        ("reference", reference)
        if reference is not None
        else ("id", booking_id)
        if booking_id is not None
        else ("hold_id", hold_id)
    )
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM booking WHERE {key} = $1{' FOR UPDATE' if lock else ''}", value
    )
    if row is None:
        raise NotFound(f"no booking {value}")
    return _booking(row)


async def find_booking(conn: asyncpg.Connection, hold_id: UUID) -> BookingRow | None:
    """The booking made from this hold, if any (one per hold)."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM booking WHERE hold_id = $1", hold_id)
    return None if row is None else _booking(row)


async def booking_seats(
    conn: asyncpg.Connection, booking_ids: list[UUID]
) -> dict[UUID, list[BookingSeatRow]]:
    rows = await conn.fetch(
        """
        SELECT booking_id, seat_id, ticket_type, amount, list_price, discount, fee, tax,
               membership_number
        FROM booking_seat WHERE booking_id = ANY($1::uuid[])
        """,
        booking_ids,
    )
    seats: dict[UUID, list[BookingSeatRow]] = {booking_id: [] for booking_id in booking_ids}
    for row in rows:
        values = dict(row)
        seats[values.pop("booking_id")].append(BookingSeatRow(**values))
    return seats


async def cancel_bookings(
    conn: asyncpg.Connection,
    now: datetime,
    by: CancelledBy,
    reason: str,
    *,
    booking_id: UUID | None = None,
    screening_id: UUID | None = None,
    refund: bool | None = None,
) -> list[BookingRow]:
    """Cancel a confirmed booking (or every one of a screening), in id order. `refund` None
    flags it for refund when it cost something."""
    rows = await conn.fetch(
        f"""
        UPDATE booking b SET status = 'cancelled', cancelled_at = $1, cancelled_by = $2,
                             cancel_reason = $3, refund_due = coalesce($6, b.total > 0),
                             version = b.version + 1
        FROM (SELECT id FROM booking
              WHERE status = 'confirmed'
                AND ($4::uuid IS NULL OR id = $4) AND ($5::uuid IS NULL OR screening_id = $5)
              ORDER BY id FOR UPDATE) AS due
        WHERE b.id = due.id AND b.status = 'confirmed'
        RETURNING {", ".join("b." + c for c in BookingRow.__struct_fields__)}
        """,
        now,
        by,
        reason,
        booking_id,
        screening_id,
        refund,
    )
    return [_booking(row) for row in rows]


async def list_bookings(
    conn: asyncpg.Connection, screening_id: UUID, refund_due: bool | None
) -> list[BookingRow]:
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM booking
        WHERE screening_id = $1 AND ($2::boolean IS NULL OR refund_due = $2)
        ORDER BY created_at, id
        """,
        screening_id,
        refund_due,
    )
    return [_booking(row) for row in rows]
