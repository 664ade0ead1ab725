"""Reading reservations by what they wait for or hold: the waitlist in its order and positions,
who holds a unit, a screening's list and its patrons' seats."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.access.rules import Span
from services.access.store._devices import span_value
from services.access.store._reservations import ReservationRow, _rows, _select


async def waiting_for(
    conn: asyncpg.Connection, venue_id: UUID, kind: str, span: Span, now: datetime
) -> int:
    """Patrons waiting for a unit of `kind` over any part of `span` (screenings not started)."""
    count: int = await conn.fetchval(
        """
        SELECT count(*) FROM device_reservation r JOIN screening s ON s.id = r.screening_id
        WHERE r.venue_id = $1 AND r.kind = $2 AND r.status = 'waitlisted' AND r.span && $3
          AND s.starts_at > $4
        """,
        venue_id,
        kind,
        span_value(span),
        now,
    )
    return count


async def position(conn: asyncpg.Connection, row: ReservationRow) -> int:
    """The place in its screening's waitlist for its kind (1 = next)."""
    place: int = await conn.fetchval(
        """
        SELECT count(*) FROM device_reservation
        WHERE screening_id = $1 AND kind = $2 AND status = 'waitlisted'
          AND queue_number <= (SELECT queue_number FROM device_reservation WHERE id = $3)
        """,
        row.screening_id,
        row.kind,
        row.id,
    )
    return place


async def waitlist(
    conn: asyncpg.Connection, venue_id: UUID, kind: str, now: datetime
) -> list[tuple[ReservationRow, UUID]]:
    """Who waits for a unit of this kind in this venue, for screenings not started, in waitlist
    order, each with its screening's auditorium; locked."""
    rows = await conn.fetch(
        _select().replace("SELECT ", "SELECT s.auditorium_id AS screening_auditorium, ", 1)
        + """
        JOIN screening s ON s.id = r.screening_id
        WHERE r.venue_id = $1 AND r.kind = $2 AND r.status = 'waitlisted' AND s.starts_at > $3
        ORDER BY r.queue_number
        FOR UPDATE OF r
        """,
        venue_id,
        kind,
        now,
    )
    out = []
    for record in rows:
        values = dict(record)
        auditorium = values.pop("screening_auditorium")
        span = values.pop("span")
        out.append((ReservationRow(span=Span(span.lower, span.upper), **values), auditorium))
    return out


async def holding_unit(
    conn: asyncpg.Connection,
    device_id: UUID,
    *,
    statuses: tuple[str, ...],
    overlapping: Span | None = None,
    after: datetime | None = None,
    besides: UUID | None = None,
) -> list[ReservationRow]:
    """Reservations holding a unit in `statuses`, optionally over `overlapping`, or ending after
    `after`, other than `besides`; locked, in queue order."""
    rows = await conn.fetch(
        _select()
        + """
        WHERE r.device_id = $1 AND r.status = ANY($2::text[])
          AND ($3::tstzrange IS NULL OR r.span && $3)
          AND ($4::timestamptz IS NULL OR upper(r.span) > $4)
          AND r.id IS DISTINCT FROM $5
        ORDER BY r.queue_number
        FOR UPDATE OF r
        """,
        device_id,
        list(statuses),
        span_value(overlapping) if overlapping else None,
        after,
        besides,
    )
    return _rows(rows)


async def of_screening(
    conn: asyncpg.Connection, screening_id: UUID, *, statuses: tuple[str, ...] | None = None
) -> list[ReservationRow]:
    rows = await conn.fetch(
        _select()
        + """
        WHERE r.screening_id = $1 AND ($2::text[] IS NULL OR r.status = ANY($2::text[]))
        ORDER BY r.kind, r.queue_number
        """,
        screening_id,
        list(statuses) if statuses else None,
    )
    return _rows(rows)


async def ended_with_screening(
    conn: asyncpg.Connection, screening_id: UUID, *, reservation_id: UUID | None = None
) -> list[ReservationRow]:
    """The screening's reservations (or this one) that its cancellation ended: released because
    of it, or because it cancelled the booking (perhaps made from a hold) or the hold they were
    tied to, whichever release ran first. Not those ended before it, nor by their patron."""
    rows = await conn.fetch(
        _select()
        + """
        LEFT JOIN hold h ON h.id = r.hold_id
        WHERE r.screening_id = $1 AND ($2::uuid IS NULL OR r.id = $2) AND r.status = 'cancelled'
          AND (r.ended_by = 'screening'
               OR (r.ended_by = 'booking'
                   AND coalesce(b.cancelled_by, hb.cancelled_by) = 'screening')
               OR (r.ended_by = 'hold' AND h.status = 'cancelled'))
        ORDER BY r.kind, r.queue_number
        """,
        screening_id,
        reservation_id,
    )
    return _rows(rows)


async def seats_of(conn: asyncpg.Connection, screening_id: UUID) -> dict[UUID, list[str]]:
    """The seat labels of each reservation of the screening tied to a booking or a hold."""
    rows = await conn.fetch(
        """
        SELECT r.id, coalesce(
            (SELECT array_agg(st.label ORDER BY st.row_number, st.position)
             FROM booking_seat bs JOIN seat st ON st.id = bs.seat_id
             WHERE bs.booking_id = coalesce(r.booking_id,
                                            (SELECT id FROM booking WHERE hold_id = r.hold_id))),
            (SELECT array_agg(st.label ORDER BY st.row_number, st.position)
             FROM hold h JOIN seat st ON st.id = ANY(h.seat_ids) WHERE h.id = r.hold_id),
            '{}') AS seats
        FROM device_reservation r
        WHERE r.screening_id = $1 AND (r.booking_id IS NOT NULL OR r.hold_id IS NOT NULL)
        """,
        screening_id,
    )
    return {row["id"]: list(row["seats"]) for row in rows}


async def waitlisted_by_kind(conn: asyncpg.Connection, screening_id: UUID) -> dict[str, int]:
    rows = await conn.fetch(
        """
        SELECT kind, count(*) AS waiting FROM device_reservation
        WHERE screening_id = $1 AND status = 'waitlisted' GROUP BY kind
        """,
        screening_id,
    )
    return {row["kind"]: row["waiting"] for row in rows}
