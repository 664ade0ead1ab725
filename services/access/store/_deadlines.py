"""The deadlines of reservations: devices never collected, devices not returned in time, waitlist
entries whose screening started; each found and marked once, whatever runs at the same time."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.access.rules import Span
from services.access.store._reservations import ReservationRow, _rows, _select

_NO_SHOW = """
    r.status = 'reserved' AND s.starts_at <= $1::timestamptz - make_interval(mins => $2)
"""


async def no_show_kinds(
    conn: asyncpg.Connection, now: datetime, minutes: int
) -> list[tuple[UUID, str]]:
    """The (venue, kind) pairs with devices never collected: each is released under its lock."""
    rows = await conn.fetch(
        f"""
        SELECT DISTINCT r.venue_id, r.kind FROM device_reservation r
        JOIN screening s ON s.id = r.screening_id WHERE {_NO_SHOW}
        ORDER BY r.venue_id, r.kind
        """,
        now,
        minutes,
    )
    return [(row["venue_id"], row["kind"]) for row in rows]


async def no_shows(
    conn: asyncpg.Connection,
    now: datetime,
    minutes: int,
    limit: int,
    venue_id: UUID,
    kind: str,
) -> list[ReservationRow]:
    """Reserved, never collected, and the screening started `minutes` ago: released, once
    (rows another transaction holds are left for the next run)."""
    rows = await conn.fetch(
        f"""
        WITH due AS (
            SELECT r.id FROM device_reservation r JOIN screening s ON s.id = r.screening_id
            WHERE {_NO_SHOW} AND r.venue_id = $4 AND r.kind = $5
            ORDER BY r.id LIMIT $3 FOR UPDATE OF r SKIP LOCKED
        ), ended AS (
            UPDATE device_reservation r
            SET status = 'no_show', ended_at = $1, ended_by = 'system',
                end_reason = 'never collected', version = r.version + 1
            FROM due WHERE r.id = due.id AND r.status = 'reserved'
            RETURNING r.*
        )
        {_select("ended")} ORDER BY r.queue_number
        """,
        now,
        minutes,
        limit,
        venue_id,
        kind,
    )
    return _rows(rows)


async def overdue(
    conn: asyncpg.Connection, now: datetime, minutes: int, limit: int
) -> list[tuple[ReservationRow, datetime]]:
    """Checked out, not returned `minutes` after the screening ended, not flagged yet: flagged
    now, once; each with the time it was due."""
    rows = await conn.fetch(
        f"""
        WITH due AS (
            SELECT r.id FROM device_reservation r JOIN screening s ON s.id = r.screening_id
            WHERE r.status = 'checked_out' AND r.overdue_at IS NULL
              AND s.ends_at <= $1::timestamptz - make_interval(mins => $2)
            ORDER BY r.id LIMIT $3 FOR UPDATE OF r SKIP LOCKED
        ), flagged AS (
            UPDATE device_reservation r SET overdue_at = $1, version = r.version + 1
            FROM due WHERE r.id = due.id AND r.overdue_at IS NULL
            RETURNING r.*
        )
        {_select("flagged").replace("SELECT ", "SELECT s.ends_at AS screening_ends_at, ", 1)}
        JOIN screening s ON s.id = r.screening_id
        ORDER BY r.queue_number
        """,
        now,
        minutes,
        limit,
    )
    out = []
    for record in rows:
        values = dict(record)
        ends_at = values.pop("screening_ends_at")
        span = values.pop("span")
        out.append((ReservationRow(span=Span(span.lower, span.upper), **values), ends_at))
    return out


async def lapses(conn: asyncpg.Connection, now: datetime, limit: int) -> list[ReservationRow]:
    """Still waitlisted when the screening started: lapsed, once."""
    rows = await conn.fetch(
        f"""
        WITH due AS (
            SELECT r.id FROM device_reservation r JOIN screening s ON s.id = r.screening_id
            WHERE r.status = 'waitlisted' AND s.starts_at <= $1
            ORDER BY r.id LIMIT $2 FOR UPDATE OF r SKIP LOCKED
        ), ended AS (
            UPDATE device_reservation r
            SET status = 'lapsed', ended_at = $1, ended_by = 'system',
                end_reason = 'the screening started before a unit came free',
                version = r.version + 1
            FROM due WHERE r.id = due.id AND r.status = 'waitlisted'
            RETURNING r.*
        )
        {_select("ended")} ORDER BY r.queue_number
        """,
        now,
        limit,
    )
    return _rows(rows)


async def waiting_kinds(conn: asyncpg.Connection, now: datetime) -> list[tuple[UUID, str]]:
    """Every (venue, kind) with patrons waiting for a screening not started."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT r.venue_id, r.kind FROM device_reservation r
        JOIN screening s ON s.id = r.screening_id
        WHERE r.status = 'waitlisted' AND s.starts_at > $1
        ORDER BY r.venue_id, r.kind
        """,
        now,
    )
    return [(row["venue_id"], row["kind"]) for row in rows]
