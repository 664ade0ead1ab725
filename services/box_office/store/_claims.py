"""Seat claims: one row per seat per screening, the arbiter that never sells a seat twice.

Claims are taken by one SQL function, box_office_claim (migration 014, called by
store.claim): the claim steps and every rule of a claim live there. Here: claims given up,
extended and turned into bookings, each statement taking claim rows in (screening, seat) order,
so that two transactions never wait on each other's claims in a cycle. A deleted claim's seat is
made free again by the seat_claim_freed trigger (migration 013).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

# Locks the claims matching `where` in (screening, seat) order, then deletes them.
_DELETE_IN_ORDER = """
    DELETE FROM seat_claim c
    USING (SELECT screening_id, seat_id FROM seat_claim c WHERE {where}
           ORDER BY screening_id, seat_id FOR UPDATE) AS locked
    WHERE c.screening_id = locked.screening_id AND c.seat_id = locked.seat_id AND {where}
    RETURNING c.seat_id
"""


async def drop_hold_claims(
    conn: asyncpg.Connection, hold_ids: list[UUID], seat_ids: list[UUID] | None = None
) -> list[UUID]:
    """Delete the claims these holds still have (only `seat_ids` of them, when given)."""
    where = "c.hold_id = ANY($1::uuid[]) AND c.kind = 'hold'"
    if seat_ids is not None:
        where += " AND c.seat_id = ANY($2::uuid[])"
        rows = await conn.fetch(_DELETE_IN_ORDER.format(where=where), hold_ids, seat_ids)
    else:
        rows = await conn.fetch(_DELETE_IN_ORDER.format(where=where), hold_ids)
    return [row["seat_id"] for row in rows]


async def drop_booking_claims(conn: asyncpg.Connection, booking_ids: list[UUID]) -> None:
    where = "c.booking_id = ANY($1::uuid[]) AND c.kind = 'booking'"
    await conn.execute(_DELETE_IN_ORDER.format(where=where), booking_ids)


async def drop_blocks(
    conn: asyncpg.Connection, screening_id: UUID, seat_ids: list[UUID]
) -> set[UUID]:
    where = "c.screening_id = $1 AND c.seat_id = ANY($2::uuid[]) AND c.kind = 'block'"
    rows = await conn.fetch(_DELETE_IN_ORDER.format(where=where), screening_id, seat_ids)
    return {row["seat_id"] for row in rows}


async def extend_hold_claims(
    conn: asyncpg.Connection, hold_id: UUID, now: datetime, expires_at: datetime
) -> int:
    """Move the live claims of a hold to its new expiry; returns how many it still had."""
    result: str = await conn.execute(
        """
        UPDATE seat_claim c SET expires_at = $3
        FROM (SELECT screening_id, seat_id FROM seat_claim
              WHERE hold_id = $1 AND kind = 'hold' AND expires_at > $2
              ORDER BY screening_id, seat_id FOR UPDATE) AS locked
        WHERE c.screening_id = locked.screening_id AND c.seat_id = locked.seat_id
          AND c.hold_id = $1 AND c.kind = 'hold' AND c.expires_at > $2
        """,
        hold_id,
        now,
        expires_at,
    )
    return int(result.split()[-1])


async def book_hold_claims(
    conn: asyncpg.Connection, hold_id: UUID, booking_id: UUID, now: datetime
) -> int:
    """Turn the live claims of a hold into the booking's; returns how many it still had."""
    result: str = await conn.execute(
        """
        UPDATE seat_claim c SET kind = 'booking', booking_id = $2, expires_at = NULL
        FROM (SELECT screening_id, seat_id FROM seat_claim
              WHERE hold_id = $1 AND kind = 'hold' AND expires_at > $3
              ORDER BY screening_id, seat_id FOR UPDATE) AS locked
        WHERE c.screening_id = locked.screening_id AND c.seat_id = locked.seat_id
          AND c.hold_id = $1 AND c.kind = 'hold' AND c.expires_at > $3
        """,
        hold_id,
        booking_id,
        now,
    )
    return int(result.split()[-1])


async def forget_old_windows(conn: asyncpg.Connection, now: datetime) -> int:
    """Delete the best-available windows kept for over a minute (none is used after a second,
    migration 029), so that seat_window holds only the last minute's choices."""
    status: str = await conn.execute(
        "DELETE FROM seat_window WHERE chosen_at < $1", now - timedelta(minutes=1)
    )
    return int(status.split()[-1])
