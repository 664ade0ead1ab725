"""Seats of a screening: the auditorium's seat map (cached: it never changes once made), the live
claims on it, and the screening's sale status, which follows its free seats."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import SaleStatus
from schemas.catalog import Seat
from services.errors import NotFound

# A claim is live while it is a booking or a block, or a hold not yet past expires_at ({now}).
_LIVE_CLAIM = "(c.expires_at IS NULL OR c.expires_at > {now})"
LIVE_CLAIM = _LIVE_CLAIM.format(now="$2")
# Whether screening `s` has a free seat at time {now}: walks the seats and stops at the first
# free one, so it is cheap until the screening is nearly full. Each seat's claim is looked up by
# a scalar subquery, which PostgreSQL always runs as one primary-key probe per seat: written as
# NOT EXISTS, a fresh table's statistics can lead it to a nested loop over every claim.
_ANY_FREE_SEAT = f"""
    EXISTS (SELECT 1 FROM seat st WHERE st.auditorium_id = s.auditorium_id
              AND (SELECT c.kind FROM seat_claim c
                   WHERE c.screening_id = s.id AND c.seat_id = st.id AND {_LIVE_CLAIM}) IS NULL)
"""
ANY_FREE_SEAT = _ANY_FREE_SEAT.format(now="$2")
# How many seats of `s` are free at time $2 (counts them all: for the rare status flip).
FREE_SEATS = f"""
    ((SELECT count(*) FROM seat st WHERE st.auditorium_id = s.auditorium_id)
     - (SELECT count(*) FROM seat_claim c WHERE c.screening_id = s.id AND {LIVE_CLAIM}))
"""
# The sale status of screening `s` as its seats say now, for reads that must not wait for the
# stored status to catch up (a hold that expired with no worker running frees its seats at once).
SALE_STATUS_NOW = f"""
    CASE WHEN box_office_sale_status(s.status, s.on_sale_at, now()) IN ('on_sale', 'sold_out') THEN
        CASE WHEN {_ANY_FREE_SEAT.format(now="now()")} THEN 'on_sale' ELSE 'sold_out' END
    ELSE s.status END
"""
_CACHE_SIZE = 512
T = TypeVar("T")


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
    seat_ids: list[UUID]

    def labels(self, seat_ids: list[UUID]) -> list[str]:
        return [self.by_id[seat_id].label for seat_id in seat_ids]


_places: dict[UUID, Place] = {}
_seatings: dict[UUID, Seating] = {}


def _remember(cache: dict[UUID, T], key: UUID, value: T) -> None:
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
        _remember(_places, screening_id, place)
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
            [seat.id for seat in seats],
        )
        _remember(_seatings, auditorium_id, seating)
    return seating


async def live_claims(
    conn: asyncpg.Connection, screening_id: UUID, now: datetime
) -> tuple[SaleStatus, dict[UUID, str]]:
    """The screening's stored sale status and its live claims (seat id -> hold, booking or
    block), in one query: a seat not listed is free."""
    row = await conn.fetchrow(
        f"""
        SELECT box_office_sale_status(s.status, s.on_sale_at, $2) AS status,
               coalesce(c.seat_ids, '{{}}') AS seat_ids,
               coalesce(c.kinds, '{{}}') AS kinds
        FROM screening s, LATERAL (
            SELECT array_agg(c.seat_id) AS seat_ids, array_agg(c.kind) AS kinds
            FROM seat_claim c WHERE c.screening_id = s.id AND {LIVE_CLAIM}) AS c
        WHERE s.id = $1
        """,
        screening_id,
        now,
    )
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    return row["status"], dict(zip(row["seat_ids"], row["kinds"], strict=True))


# The stored status of screening $1, and the ordinal of the first of the seats $3 (in that
# order) with no live claim at time $2. One primary-key probe per seat, stopping at the first
# free one: PostgreSQL has no plan to choose, whatever its statistics say.
_SALE_STATE = f"""
    SELECT s.status, s.on_sale_at <= $2 AS due,
           (SELECT t.n FROM unnest($3::uuid[]) WITH ORDINALITY AS t(seat_id, n)
            WHERE (SELECT c.kind FROM seat_claim c
                   WHERE c.screening_id = s.id AND c.seat_id = t.seat_id AND {LIVE_CLAIM}) IS NULL
            LIMIT 1) AS free_at
    FROM screening s WHERE s.id = $1
"""
_FIRST_BATCH = 16  # then eight times more each round: one round trip unless nearly full
# Where the last check found a free seat, per screening: the next one starts there ("next
# fit"), so walking past taken seats costs little however the screening fills up.
_free_hints: dict[UUID, int] = {}


async def sale_state(
    conn: asyncpg.Connection, screening_id: UUID, seating: Seating, now: datetime
) -> tuple[SaleStatus, bool, bool]:
    """The stored sale status, whether any seat is free now, and whether its on_sale_at has
    come."""
    seats = seating.seat_ids
    start = _free_hints.get(screening_id, 0) % max(1, len(seats))
    offset, batch = 0, _FIRST_BATCH
    while True:
        # The next `batch` seats in map order from start + offset, wrapping round.
        first = start + offset
        ids = seats[first : first + batch]
        if first + batch > len(seats):
            ids += seats[max(0, first - len(seats)) : min(start, first + batch - len(seats))]
        row = await conn.fetchrow(_SALE_STATE, screening_id, now, ids)
        if row is None:
            raise NotFound(f"no screening {screening_id}")
        status: SaleStatus = row["status"]
        if row["free_at"] is not None:
            _remember(_free_hints, screening_id, start + offset + row["free_at"] - 1)
            return status, True, bool(row["due"])
        offset += batch
        batch *= 8
        if offset >= len(seats):
            return status, False, bool(row["due"])


async def set_sale_status(
    conn: asyncpg.Connection,
    screening_id: UUID,
    now: datetime,
    current: SaleStatus,
    new: SaleStatus,
) -> tuple[UUID, int, datetime | None] | None:
    """Flip on_sale <-> sold_out if the status is still `current` and the seats, looked at again
    by this statement, still call for it, or scheduled -> on_sale once on_sale_at has come;
    (venue id, free seats) when it flipped."""
    condition = f"{'NOT' if new == 'sold_out' else ''} {ANY_FREE_SEAT}"
    if current == "scheduled":
        condition = "s.on_sale_at <= $2"
    row = await conn.fetchrow(
        f"""
        UPDATE screening s SET status = $4, version = s.version + 1, updated_at = now()
        WHERE s.id = $1 AND s.status = $3 AND {condition}
        RETURNING s.venue_id, {FREE_SEATS} AS free, s.on_sale_at
        """,
        screening_id,
        now,
        current,
        new,
    )
    return (row["venue_id"], row["free"], row["on_sale_at"]) if row else None


async def unsettled_screenings(conn: asyncpg.Connection, now: datetime) -> list[UUID]:
    """Screenings still to play whose stored sale status disagrees with their free seats (a
    process that stopped between a change and its status check leaves one), and scheduled
    screenings whose on_sale_at has come."""
    rows = await conn.fetch(
        f"""
        SELECT s.id FROM screening s
        WHERE (s.status IN ('on_sale', 'sold_out') AND s.starts_at > $1
               AND (s.status = 'sold_out') = {_ANY_FREE_SEAT.format(now="$1")})
           OR (s.status = 'scheduled' AND s.on_sale_at <= $1)
        """,
        now,
    )
    return [row["id"] for row in rows]


async def lock_screening(conn: asyncpg.Connection, screening_id: UUID) -> None:
    """Lock the screening's row for the rest of the transaction, as a transaction that records an
    event about the screening must (docs/streams.md). NO KEY UPDATE: rows that reference the
    screening (holds, claims, bookings) are still inserted meanwhile."""
    await conn.execute("SELECT 1 FROM screening WHERE id = $1 FOR NO KEY UPDATE", screening_id)
