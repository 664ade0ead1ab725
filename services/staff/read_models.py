"""SQL of the staff dashboard's read models: a day's screenings with their occupancy, a
screening's board (seats with what claims them, live holds) and its live holds alone.

Every read counts live claims only (a hold past expires_at frees its seats at once, whether or not
a worker has tidied it up yet), the same rule as the box office's seat map. Board reads run in one
read-only REPEATABLE READ transaction, so the seats, holds and counts agree with each other.

CONNECT (issue 5, access devices): `device_pickups(conn, screening_id, now)` belongs here, beside
`live_holds`: the reservations of a screening still to hand out, and loans outstanding.
CONNECT (issue 6, emails): `failed_emails(conn, venue_id, now)` likewise: emails that failed.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

from schemas.dashboard import Board, LiveHold, LiveHolds, Programme, ScreeningLine, StaffSeat
from services.box_office import rules as box_office_rules
from services.box_office import store as box_office
from services.catalog.rules import local_view
from services.errors import NotFound
from services.staff import rules

_LIVE = "(c.expires_at IS NULL OR c.expires_at > $2)"

# $1 filter (see callers), $2 now, $3 venue or NULL.
_LINES = f"""
    SELECT s.id, f.title AS film_title, s.starts_at, s.ends_at, v.id AS venue_id,
           v.name AS venue_name, v.time_zone, a.name AS auditorium_name,
           {box_office.SALE_STATUS_NOW} AS status,
           (SELECT count(*) FROM seat st WHERE st.auditorium_id = s.auditorium_id) AS seats,
           count(c.seat_id) FILTER (WHERE c.kind = 'hold') AS held,
           count(c.seat_id) FILTER (WHERE c.kind = 'booking') AS booked,
           count(c.seat_id) FILTER (WHERE c.kind = 'block') AS blocked,
           (SELECT count(*) FROM admission ad
            WHERE ad.screening_id = s.id AND ad.undone_at IS NULL) AS admitted
    FROM screening s
    JOIN film f ON f.id = s.film_id
    JOIN venue v ON v.id = s.venue_id
    JOIN auditorium a ON a.id = s.auditorium_id
    LEFT JOIN seat_claim c ON c.screening_id = s.id AND {_LIVE}
    WHERE {{where}} AND ($3::uuid IS NULL OR s.venue_id = $3)
    GROUP BY s.id, f.title, v.id, a.id
    ORDER BY s.starts_at, a.name, s.id
"""
_LINES_OF_DAY = _LINES.format(where="(s.starts_at AT TIME ZONE v.time_zone)::date = $1")
_LINE_OF_SCREENING = _LINES.format(where="s.id = $1")

# $1 now, $2 venue or NULL, $3 the day shown (or NULL while it is being chosen).
_DAYS = """
    SELECT min(day) FILTER (WHERE ends_at > $1) AS first_upcoming,
           max(day) AS latest,
           max(day) FILTER (WHERE day < $3) AS previous_date,
           min(day) FILTER (WHERE day > $3) AS next_date
    FROM (SELECT (s.starts_at AT TIME ZONE v.time_zone)::date AS day, s.ends_at
          FROM screening s JOIN venue v ON v.id = s.venue_id
          WHERE $2::uuid IS NULL OR s.venue_id = $2) AS days
"""

_CLAIMS = f"""
    SELECT c.seat_id, c.kind, c.hold_id, b.reference, c.note
    FROM seat_claim c LEFT JOIN booking b ON b.id = c.booking_id
    WHERE c.screening_id = $1 AND {_LIVE}
"""

_HOLDS = """
    SELECT id, screening_id, seat_ids, client_id, wheelchair_spaces, extensions, created_at,
           expires_at
    FROM hold
    WHERE screening_id = $1 AND status = 'live' AND expires_at > $2
    ORDER BY expires_at, id
"""


def _line(row: asyncpg.Record) -> ScreeningLine:
    local_date, local_start = local_view(row["starts_at"], row["time_zone"])
    return ScreeningLine(
        id=row["id"],
        film_title=row["film_title"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        local_date=local_date,
        local_start=local_start,
        venue_id=row["venue_id"],
        venue_name=row["venue_name"],
        auditorium_name=row["auditorium_name"],
        status=row["status"],
        seats=row["seats"],
        counts=rules.occupancy(row["seats"], row["held"], row["booked"], row["blocked"]),
        admitted=row["admitted"],
    )


async def programme(
    conn: asyncpg.Connection, now: datetime, day: date | None, venue_id: UUID | None
) -> Programme:
    """The screenings of `day` (venue-local), or of tonight / the coming day with screenings."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        if day is None:
            found = await conn.fetchrow(_DAYS, now, venue_id, None)
            assert found is not None
            if found["latest"] is None:
                return Programme(None, None, None, now, [])
            day = rules.programme_day(None, found["first_upcoming"], found["latest"])
        around = await conn.fetchrow(_DAYS, now, venue_id, day)
        assert around is not None
        rows = await conn.fetch(_LINES_OF_DAY, day, now, venue_id)
    return Programme(
        day=day,
        previous_date=around["previous_date"],
        next_date=around["next_date"],
        as_of=now,
        screenings=[_line(row) for row in rows],
    )


def _holds(
    rows: list[asyncpg.Record], seating: box_office.Seating, now: datetime
) -> list[LiveHold]:
    holds = []
    for row in rows:
        clock = rules.hold_clock(row["created_at"], row["expires_at"], now)
        holds.append(
            LiveHold(
                id=row["id"],
                screening_id=row["screening_id"],
                seats=seating.labels(row["seat_ids"]),
                client_id=row["client_id"],
                wheelchair_spaces=row["wheelchair_spaces"],
                extensions=row["extensions"],
                created_at=row["created_at"],
                expires_at=row["expires_at"],
                age_seconds=clock.age_seconds,
                seconds_left=clock.seconds_left,
                expiring_soon=clock.expiring_soon,
            )
        )
    return holds


async def _seating(conn: asyncpg.Connection, screening_id: UUID) -> box_office.Seating:
    place = await box_office.place_of(conn, screening_id)
    return await box_office.seating_of(conn, place.auditorium_id)


async def live_holds(conn: asyncpg.Connection, screening_id: UUID, now: datetime) -> LiveHolds:
    """The screening's live holds, soonest to expire first."""
    seating = await _seating(conn, screening_id)
    rows = await conn.fetch(_HOLDS, screening_id, now)
    return LiveHolds(
        screening_id=screening_id,
        as_of=now,
        expiring_soon_seconds=rules.EXPIRING_SOON_SECONDS,
        holds=_holds(rows, seating, now),
    )


async def board(conn: asyncpg.Connection, screening_id: UUID, now: datetime) -> Board:
    """The screening, every seat with its status and claim, and its live holds."""
    seating = await _seating(conn, screening_id)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        line = await conn.fetchrow(_LINE_OF_SCREENING, screening_id, now, None)
        if line is None:
            raise NotFound(f"no screening {screening_id}")
        claims = {row["seat_id"]: row for row in await conn.fetch(_CLAIMS, screening_id, now)}
        holds = await conn.fetch(_HOLDS, screening_id, now)
    statuses = box_office_rules.seat_statuses({k: row["kind"] for k, row in claims.items()})
    seats = []
    for seat in seating.seats:
        claim = claims.get(seat.id)
        seats.append(
            StaffSeat(
                id=seat.id,
                label=seat.label,
                row_label=seat.row_label,
                row_number=seat.row_number,
                position=seat.position,
                x=seat.x,
                y=seat.y,
                kind=seat.kind,
                status=statuses.get(seat.id, "available"),
                hold_id=claim["hold_id"] if claim else None,
                booking_reference=claim["reference"] if claim else None,
                note=(claim["note"] or None) if claim else None,
            )
        )
    return Board(
        screening=_line(line),
        as_of=now,
        expiring_soon_seconds=rules.EXPIRING_SOON_SECONDS,
        seats=seats,
        holds=_holds(holds, seating, now),
    )
