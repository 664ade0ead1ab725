"""What the door reads in bulk: a screening's door snapshot, its counts and no-shows, and the
venues' door policies."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from schemas.door import DoorPolicy, NoShow, ScreeningDoorCount
from services.door import rules
from services.door.store._scans import door_bookings
from services.errors import NotFound


async def screening_door(conn: asyncpg.Connection, screening_id: UUID) -> rules.Screening:
    row = await conn.fetchrow(
        """
        SELECT s.id, s.starts_at, s.status, coalesce(p.doors_open_minutes, 30) AS minutes,
               coalesce(p.reentry, false) AS reentry
        FROM screening s LEFT JOIN door_policy p ON p.venue_id = s.venue_id WHERE s.id = $1
        """,
        screening_id,
    )
    if row is None:
        raise NotFound(f"no screening {screening_id}", field="screening_id")
    return rules.Screening(
        row["id"], row["starts_at"], row["status"], row["minutes"], row["reentry"]
    )


async def snapshot_bookings(
    conn: asyncpg.Connection, screening_id: UUID, since: int | None
) -> tuple[int, list[rules.Booking]]:
    """The snapshot's version and the screening's bookings (those changed since `since`, if
    given). The version is the oldest transaction running when the list was read: a delta since
    it sees every change committed afterwards (migration 017 explains)."""
    row = await conn.fetchrow(
        """
        SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS version,
               CASE WHEN $2::bigint IS NULL
                    THEN ARRAY(SELECT id FROM booking WHERE screening_id = $1 ORDER BY id)
                    ELSE ARRAY(SELECT DISTINCT booking_id FROM door_change
                               WHERE screening_id = $1 AND txid >= $2::text::xid8
                               ORDER BY booking_id)
               END AS bookings
        """,
        screening_id,
        since,
    )
    assert row is not None
    return row["version"], await door_bookings(conn, row["bookings"])


async def admission_counts(
    conn: asyncpg.Connection, screening_ids: list[UUID]
) -> list[ScreeningDoorCount]:
    """Admitted and expected (tickets of confirmed bookings) per screening."""
    rows = await conn.fetch(
        """
        SELECT s.id,
               (SELECT count(*) FROM admission a
                WHERE a.screening_id = s.id AND a.undone_at IS NULL) AS admitted,
               (SELECT count(*) FROM booking b JOIN booking_seat bs ON bs.booking_id = b.id
                WHERE b.screening_id = s.id AND b.status = 'confirmed') AS expected
        FROM unnest($1::uuid[]) AS s(id)
        """,
        screening_ids,
    )
    return [ScreeningDoorCount(r["id"], r["admitted"], r["expected"]) for r in rows]


async def no_shows(conn: asyncpg.Connection, screening_id: UUID) -> list[NoShow]:
    """Confirmed bookings with tickets nobody has used, and those seats."""
    rows = await conn.fetch(
        """
        SELECT b.reference, b.patron_name, array_agg(st.label ORDER BY st.label) AS seats
        FROM booking b JOIN booking_seat bs ON bs.booking_id = b.id
        JOIN seat st ON st.id = bs.seat_id
        WHERE b.screening_id = $1 AND b.status = 'confirmed'
          AND NOT EXISTS (SELECT 1 FROM admission a WHERE a.booking_id = b.id
                          AND a.seat_id = bs.seat_id AND a.undone_at IS NULL)
        GROUP BY b.id ORDER BY b.reference
        """,
        screening_id,
    )
    return [NoShow(r["reference"], r["patron_name"], list(r["seats"])) for r in rows]


async def door_policy(conn: asyncpg.Connection, venue_id: UUID) -> DoorPolicy:
    row = await conn.fetchrow(
        """
        SELECT v.id, p.doors_open_minutes, p.reentry FROM venue v
        LEFT JOIN door_policy p ON p.venue_id = v.id WHERE v.id = $1
        """,
        venue_id,
    )
    if row is None:
        raise NotFound(f"no venue {venue_id}")
    if row["doors_open_minutes"] is None:
        return DoorPolicy()
    return DoorPolicy(row["doors_open_minutes"], row["reentry"])


async def set_door_policy(conn: asyncpg.Connection, venue_id: UUID, policy: DoorPolicy) -> None:
    await conn.execute(
        """
        INSERT INTO door_policy (venue_id, doors_open_minutes, reentry) VALUES ($1, $2, $3)
        ON CONFLICT (venue_id) DO UPDATE SET doors_open_minutes = $2, reentry = $3,
                                             updated_at = now()
        """,
        venue_id,
        policy.doors_open_minutes,
        policy.reentry,
    )
