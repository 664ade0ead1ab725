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


class BookingSeatRow(msgspec.Struct, frozen=True):
    seat_id: UUID
    ticket_type: str
    amount: int


_COLUMNS = ", ".join(BookingRow.__struct_fields__)


def _booking(row: asyncpg.Record) -> BookingRow:
    return BookingRow(**dict(row))


async def screening_prices(
    conn: asyncpg.Connection, screening_id: UUID
) -> tuple[str, dict[str, int]]:
    """The screening's currency and its price per ticket type."""
    row = await conn.fetchrow(
        """
        SELECT s.currency, coalesce((SELECT jsonb_object_agg(p.ticket_type, p.amount)
                                     FROM screening_price p WHERE p.screening_id = s.id), '{}')
               AS prices
        FROM screening s WHERE s.id = $1
        """,
        screening_id,
    )
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    return row["currency"].strip(), dict(row["prices"])


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
                                 request_hash, currency, total, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (reference) DO NOTHING
            RETURNING id
        ), seats AS (
            INSERT INTO booking_seat (booking_id, seat_id, ticket_type, amount, list_price)
            SELECT b.id, t.seat_id, t.ticket_type, t.amount, t.amount
            FROM b, unnest($15::uuid[], $16::text[], $17::int[]) AS t(seat_id, ticket_type, amount)
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
        [seat.seat_id for seat in seats],
        [seat.ticket_type for seat in seats],
        [seat.amount for seat in seats],
    )
    return bool(inserted)


async def get_booking(
    conn: asyncpg.Connection,
    *,
    reference: str | None = None,
    hold_id: UUID | None = None,
    lock: bool = False,
) -> BookingRow:
    key, value = ("reference", reference) if reference is not None else ("hold_id", hold_id)
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM booking WHERE {key} = $1{' FOR UPDATE' if lock else ''}", value
    )
    if row is None:
        raise NotFound(f"no booking {value}")
    return _booking(row)


async def booking_seats(
    conn: asyncpg.Connection, booking_ids: list[UUID]
) -> dict[UUID, list[BookingSeatRow]]:
    rows = await conn.fetch(
        """
        SELECT booking_id, seat_id, ticket_type, amount FROM booking_seat
        WHERE booking_id = ANY($1::uuid[])
        """,
        booking_ids,
    )
    seats: dict[UUID, list[BookingSeatRow]] = {booking_id: [] for booking_id in booking_ids}
    for row in rows:
        seats[row["booking_id"]].append(
            BookingSeatRow(row["seat_id"], row["ticket_type"], row["amount"])
        )
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
