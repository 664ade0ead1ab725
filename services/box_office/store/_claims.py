"""Seat claims: one row per seat per screening, the arbiter that never sells a seat twice.

A claim is taken in two steps, both in (screening, seat) order, the order every statement here
takes claim rows in, so that two transactions never wait on each other's claims in a cycle:
1. INSERT ... ON CONFLICT DO NOTHING: a free seat is claimed; a seat claimed by someone else is
   left alone without taking its row lock (ON CONFLICT DO UPDATE would lock it even when not
   updating, and a rush of refused holds would then queue behind each other, and the confirms
   of the holds they tried to take, on the hottest seats).
2. For the seats left, only if any: take over in place the claims of holds whose expires_at has
   passed (a dead hold's seats are free, whether or not a worker has released them).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

# $1 screening, $2 hold (or NULL), $3 kind, $4 expires_at, $5 claimed_at (the caller's now),
# $6 seats, $7 note. Both return the seats they claimed.
_INSERT = """
    INSERT INTO seat_claim (screening_id, seat_id, kind, hold_id, expires_at, claimed_at, note)
    SELECT $1, seat_id, $3, $2, $4, $5, $7 FROM unnest($6::uuid[]) AS seat_id ORDER BY seat_id
    ON CONFLICT (screening_id, seat_id) DO NOTHING
    RETURNING seat_id
"""
_TAKE_OVER = """
    UPDATE seat_claim c SET kind = $3, hold_id = $2, booking_id = NULL, expires_at = $4,
                            claimed_at = $5, note = $7
    FROM (SELECT screening_id, seat_id FROM seat_claim
          WHERE screening_id = $1 AND seat_id = ANY($6::uuid[]) AND kind = 'hold'
            AND expires_at <= $5
          ORDER BY seat_id FOR UPDATE) AS dead
    WHERE c.screening_id = dead.screening_id AND c.seat_id = dead.seat_id
      AND c.kind = 'hold' AND c.expires_at <= $5
    RETURNING c.seat_id
"""

# Locks the claims matching `where` in (screening, seat) order, then deletes them.
_DELETE_IN_ORDER = """
    DELETE FROM seat_claim c
    USING (SELECT screening_id, seat_id FROM seat_claim c WHERE {where}
           ORDER BY screening_id, seat_id FOR UPDATE) AS locked
    WHERE c.screening_id = locked.screening_id AND c.seat_id = locked.seat_id AND {where}
    RETURNING c.seat_id
"""


async def claim_seats(
    conn: asyncpg.Connection,
    screening_id: UUID,
    seat_ids: list[UUID],
    now: datetime,
    *,
    hold_id: UUID | None = None,
    expires_at: datetime | None = None,
    note: str | None = None,
) -> set[UUID]:
    """Claim `seat_ids` for a hold (with its expiry) or, without a hold, as a staff block;
    returns the seats claimed: the others are taken."""
    kind = "hold" if hold_id else "block"
    args = (screening_id, hold_id, kind, expires_at, now, seat_ids, note)
    claimed = {row["seat_id"] for row in await conn.fetch(_INSERT, *args)}
    missing = [seat_id for seat_id in seat_ids if seat_id not in claimed]
    if missing:
        claimed |= await take_over_dead_claims(
            conn, screening_id, missing, now, hold_id=hold_id, expires_at=expires_at, note=note
        )
    return claimed


async def take_over_dead_claims(
    conn: asyncpg.Connection,
    screening_id: UUID,
    seat_ids: list[UUID],
    now: datetime,
    *,
    hold_id: UUID | None = None,
    expires_at: datetime | None = None,
    note: str | None = None,
) -> set[UUID]:
    """Step 2: claim those of `seat_ids` whose claim is a dead hold's."""
    kind = "hold" if hold_id else "block"
    rows = await conn.fetch(
        _TAKE_OVER, screening_id, hold_id, kind, expires_at, now, seat_ids, note
    )
    return {row["seat_id"] for row in rows}


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
