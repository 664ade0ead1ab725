"""Seats of a screening: the auditorium's seat map (cached: it never changes once made), the live
claims on it, and the screening's sale status, which follows its free seats."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import SaleStatus
from schemas.catalog import Seat
from services.errors import NotFound

# A claim is live while it is a booking or a block, or a hold not yet past expires_at ($2).
LIVE_CLAIM = "(c.expires_at IS NULL OR c.expires_at > $2)"
# Free seats of screening $1 at time $2 (as an expression over the screening row `s`).
FREE_SEATS = f"""
    ((SELECT count(*) FROM seat st WHERE st.auditorium_id = s.auditorium_id)
     - (SELECT count(*) FROM seat_claim c WHERE c.screening_id = s.id AND {LIVE_CLAIM}))
"""
# The sale status of screening `s` as its seats say now, for reads that must not wait for the
# stored status to catch up (a hold that expired with no worker running frees its seats at once).
SALE_STATUS_NOW = """
    CASE WHEN s.status IN ('on_sale', 'sold_out') THEN
        CASE WHEN EXISTS (
            SELECT 1 FROM seat st WHERE st.auditorium_id = s.auditorium_id AND NOT EXISTS (
                SELECT 1 FROM seat_claim c WHERE c.screening_id = s.id AND c.seat_id = st.id
                  AND (c.expires_at IS NULL OR c.expires_at > now())))
        THEN 'on_sale' ELSE 'sold_out' END
    ELSE s.status END
"""
_CACHE_SIZE = 512


class Place(msgspec.Struct, frozen=True):
    """What never changes about a screening: where it plays."""

    screening_id: UUID
    venue_id: UUID
    auditorium_id: UUID


class Seating(msgspec.Struct, frozen=True):
    """An auditorium's seats, by label and by id, in map order."""

    auditorium_id: UUID
    seats: list[Seat]
    by_label: dict[str, Seat]
    by_id: dict[UUID, Seat]

    def labels(self, seat_ids: list[UUID]) -> list[str]:
        return [self.by_id[seat_id].label for seat_id in seat_ids]


_places: dict[UUID, Place] = {}
_seatings: dict[UUID, Seating] = {}


def _remember(cache: dict[UUID, object], key: UUID, value: object) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value


async def place_of(conn: asyncpg.Connection, screening_id: UUID) -> Place:
    """The screening's venue and auditorium (neither ever changes), cached per process."""
    place = _places.get(screening_id)
    if place is None:
        row = await conn.fetchrow(
            "SELECT venue_id, auditorium_id FROM screening WHERE id = $1", screening_id
        )
        if row is None:
            raise NotFound(f"no screening {screening_id}")
        place = Place(screening_id, row["venue_id"], row["auditorium_id"])
        _remember(_places, screening_id, place)  # type: ignore[arg-type]
    return place


async def seating_of(conn: asyncpg.Connection, auditorium_id: UUID) -> Seating:
    """The auditorium's seats (a seat map is fixed when the auditorium is added), cached."""
    seating = _seatings.get(auditorium_id)
    if seating is None:
        rows = await conn.fetch(
            """
            SELECT id, label, row_label, row_number, position, x::float8 AS x, y::float8 AS y,
                   kind
            FROM seat WHERE auditorium_id = $1 ORDER BY row_number, position
            """,
            auditorium_id,
        )
        seats = [Seat(**dict(row)) for row in rows]
        seating = Seating(
            auditorium_id,
            seats,
            {seat.label: seat for seat in seats},
            {seat.id: seat for seat in seats},
        )
        _remember(_seatings, auditorium_id, seating)  # type: ignore[arg-type]
    return seating


async def live_claims(
    conn: asyncpg.Connection, screening_id: UUID, now: datetime
) -> tuple[SaleStatus, dict[UUID, str]]:
    """The screening's stored sale status and its live claims (seat id -> hold, booking or
    block), in one query: a seat not listed is free."""
    row = await conn.fetchrow(
        f"""
        SELECT s.status,
               ARRAY(SELECT c.seat_id FROM seat_claim c
                     WHERE c.screening_id = s.id AND {LIVE_CLAIM}) AS seat_ids,
               ARRAY(SELECT c.kind FROM seat_claim c
                     WHERE c.screening_id = s.id AND {LIVE_CLAIM}) AS kinds
        FROM screening s WHERE s.id = $1
        """,
        screening_id,
        now,
    )
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    return row["status"], dict(zip(row["seat_ids"], row["kinds"], strict=True))


async def sale_state(
    conn: asyncpg.Connection, screening_id: UUID, now: datetime
) -> tuple[SaleStatus, int]:
    """The stored sale status and the number of free seats now."""
    row = await conn.fetchrow(
        f"SELECT s.status, {FREE_SEATS} AS free FROM screening s WHERE s.id = $1",
        screening_id,
        now,
    )
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    return row["status"], row["free"]


async def set_sale_status(
    conn: asyncpg.Connection,
    screening_id: UUID,
    now: datetime,
    current: SaleStatus,
    new: SaleStatus,
) -> tuple[UUID, int] | None:
    """Flip on_sale <-> sold_out if the status is still `current` and the free seats, counted
    again by this statement, still call for it; (venue id, free seats) when it flipped."""
    condition = "= 0" if new == "sold_out" else "> 0"
    row = await conn.fetchrow(
        f"""
        UPDATE screening s SET status = $4, version = s.version + 1, updated_at = now()
        WHERE s.id = $1 AND s.status = $3 AND {FREE_SEATS} {condition}
        RETURNING s.venue_id, {FREE_SEATS} AS free
        """,
        screening_id,
        now,
        current,
        new,
    )
    return (row["venue_id"], row["free"]) if row else None


async def unsettled_screenings(conn: asyncpg.Connection, now: datetime) -> list[UUID]:
    """Screenings still to play whose stored sale status disagrees with their free seats (a
    process that stopped between a change and its status check leaves one)."""
    rows = await conn.fetch(
        f"""
        SELECT s.id FROM screening s
        WHERE s.status IN ('on_sale', 'sold_out') AND s.starts_at > $1
          AND (s.status = 'sold_out') <> ({FREE_SEATS.replace("$2", "$1")} = 0)
        """,
        now,
    )
    return [row["id"] for row in rows]


async def lock_screening(conn: asyncpg.Connection, screening_id: UUID) -> None:
    """Lock the screening's row for the rest of the transaction, as a transaction that records an
    event about the screening must (docs/streams.md). NO KEY UPDATE: rows that reference the
    screening (holds, claims, bookings) are still inserted meanwhile."""
    await conn.execute("SELECT 1 FROM screening WHERE id = $1 FOR NO KEY UPDATE", screening_id)
