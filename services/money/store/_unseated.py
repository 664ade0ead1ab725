"""The "paid after expiry" list: bookings paid for whose seats were gone, until seated or
refunded; and their seating by staff."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def unseated_bookings(conn: asyncpg.Connection, venue_id: UUID | None) -> list[UUID]:
    """Ids of the 'unseated' bookings with money still to give back, or all of a venue's
    'unseated' bookings' ids when some are refunded: those owed first, oldest first."""
    rows = await conn.fetch(
        """
        SELECT id FROM booking
        WHERE status = 'unseated' AND ($1::uuid IS NULL OR venue_id = $1)
          AND paid > refunded
        ORDER BY created_at, id
        """,
        venue_id,
    )
    return [row["id"] for row in rows]


async def move_booking_seats(
    conn: asyncpg.Connection, booking_id: UUID, moves: list[tuple[UUID, UUID]]
) -> None:
    """Each ticket of the booking on its new seat: (old seat, new seat) pairs, none of the new
    seats among the old ones unless unmoved (the caller pairs them so)."""
    await conn.execute(
        """
        UPDATE booking_seat s SET seat_id = m.new
        FROM unnest($2::uuid[], $3::uuid[]) AS m(old, new)
        WHERE s.booking_id = $1 AND s.seat_id = m.old AND m.old <> m.new
        """,
        booking_id,
        [old for old, _ in moves],
        [new for _, new in moves],
    )


async def set_booking_status(conn: asyncpg.Connection, booking_id: UUID, status: str) -> None:
    await conn.execute(
        "UPDATE booking SET status = $2, version = version + 1 WHERE id = $1", booking_id, status
    )
