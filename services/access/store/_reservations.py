"""Reservations: their rows, setting a unit aside (PostgreSQL refuses an overlapping loan of one
unit: device_never_lent_twice), the waitlist in its order, and their endings."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from services.access.rules import LIVE, Span
from services.access.store._devices import span_value
from services.errors import Conflict, NotFound


class KeyTaken(Conflict):
    """Another reservation was made with this Idempotency-Key first (PostgreSQL refused this
    one: device_reservation_idempotency_key); the step answers that one instead."""


class ReservationRow(msgspec.Struct, frozen=True):
    id: UUID
    screening_id: UUID
    venue_id: UUID
    kind: str
    status: str
    span: Span
    device_id: UUID | None
    secret_hash: bytes
    client_id: str
    patron_name: str
    patron_email: str | None
    booking_id: UUID | None
    hold_id: UUID | None
    requested_at: datetime
    reserved_at: datetime | None = None
    checked_out_at: datetime | None = None
    returned_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    end_reason: str | None = None
    overdue_at: datetime | None = None
    version: int = 1
    idempotency_key_hash: bytes | None = None  # SHA-256 of the Idempotency-Key, if one was sent
    request_hash: bytes | None = None  # and of the request it came with
    # read with the row: the unit's asset tag, the booking's reference (through the hold too)
    asset_tag: str | None = None
    booking_reference: str | None = None
    number: str = ""  # seven characters, read aloud at the desk (made with the row)


_STORED = [
    f for f in ReservationRow.__struct_fields__ if f not in ("asset_tag", "booking_reference")
]


def _select(source: str = "device_reservation") -> str:
    """The rows of `source` (the table, or a CTE of updated rows) with what is read beside."""
    columns = ", ".join(f"r.{c}" for c in _STORED)
    return f"""
        SELECT {columns}, d.asset_tag, coalesce(b.reference, hb.reference) AS booking_reference
        FROM {source} r
        LEFT JOIN device d ON d.id = r.device_id
        LEFT JOIN booking b ON b.id = r.booking_id
        LEFT JOIN booking hb ON hb.hold_id = r.hold_id
    """


def _row(record: asyncpg.Record) -> ReservationRow:
    values = dict(record)
    span = values.pop("span")
    return ReservationRow(span=Span(span.lower, span.upper), **values)


def _rows(records: list[asyncpg.Record]) -> list[ReservationRow]:
    return [_row(record) for record in records]


async def insert_reservation(conn: asyncpg.Connection, row: ReservationRow) -> bool:
    """Insert it waitlisted; `hold_unit` then sets a unit aside if one is free. False when its
    number is taken (the caller draws another); KeyTaken when a reservation with its
    Idempotency-Key exists (or is being made: this waits for it)."""
    try:
        return await _insert(conn, row)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "device_reservation_idempotency_key":
            raise
        raise KeyTaken("a reservation was made with this Idempotency-Key") from exc


async def _insert(conn: asyncpg.Connection, row: ReservationRow) -> bool:
    status: str = await conn.execute(
        """
        INSERT INTO device_reservation (id, screening_id, venue_id, kind, status, span,
            secret_hash, client_id, patron_name, patron_email, booking_id, hold_id, requested_at,
            idempotency_key_hash, request_hash, number)
        VALUES ($1, $2, $3, $4, 'waitlisted', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (number) DO NOTHING
        """,
        row.id,
        row.screening_id,
        row.venue_id,
        row.kind,
        span_value(row.span),
        row.secret_hash,
        row.client_id,
        row.patron_name,
        row.patron_email,
        row.booking_id,
        row.hold_id,
        row.requested_at,
        row.idempotency_key_hash,
        row.request_hash,
        row.number,
    )
    return status == "INSERT 0 1"


async def by_number(conn: asyncpg.Connection, number: str) -> ReservationRow | None:
    """The reservation with this number (as read out: any case, spaces and dashes ignored)."""
    cleaned = "".join(c for c in number.upper() if c.isalnum())
    row = await conn.fetchrow(_select() + " WHERE r.number = $1", cleaned)
    return _row(row) if row else None


async def by_key(conn: asyncpg.Connection, key_hash: bytes) -> ReservationRow | None:
    """The reservation made with this Idempotency-Key (its SHA-256), if any."""
    row = await conn.fetchrow(_select() + " WHERE r.idempotency_key_hash = $1", key_hash)
    return _row(row) if row else None


async def get_reservation(
    conn: asyncpg.Connection, reservation_id: UUID, *, lock: bool = False
) -> ReservationRow:
    row = await conn.fetchrow(
        _select() + " WHERE r.id = $1" + (" FOR UPDATE OF r" if lock else ""), reservation_id
    )
    if row is None:
        raise NotFound(f"no device reservation {reservation_id}")
    return _row(row)


async def live_for_client(conn: asyncpg.Connection, screening_id: UUID, client_id: str) -> int:
    count: int = await conn.fetchval(
        """
        SELECT count(*) FROM device_reservation
        WHERE screening_id = $1 AND client_id = $2 AND status IN ('waitlisted', 'reserved')
        """,
        screening_id,
        client_id,
    )
    return count


async def hold_unit(
    conn: asyncpg.Connection,
    reservation_id: UUID,
    device_id: UUID,
    span: Span,
    now: datetime,
    *,
    status: str = "reserved",
) -> bool:
    """Set `device_id` aside for the reservation over `span` (or move it there); False when
    PostgreSQL finds the unit lent for an overlapping span, and then nothing changed."""
    try:
        async with conn.transaction():  # a savepoint: a refusal undoes this statement only
            await conn.execute(
                """
                UPDATE device_reservation
                SET status = $4, device_id = $2, span = $3,
                    reserved_at = coalesce(reserved_at, $5),
                    checked_out_at = CASE WHEN $4 = 'checked_out' THEN $5 ELSE checked_out_at END,
                    version = version + 1
                WHERE id = $1
                """,
                reservation_id,
                device_id,
                span_value(span),
                status,
                now,
            )
    except asyncpg.ExclusionViolationError:
        return False
    return True


async def set_span(conn: asyncpg.Connection, reservation_id: UUID, span: Span) -> bool:
    """Change the span a reservation needs (keeping its unit, if any); False when its unit is lent
    for an overlapping span, and then nothing changed."""
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE device_reservation SET span = $2, version = version + 1 WHERE id = $1",
                reservation_id,
                span_value(span),
            )
    except asyncpg.ExclusionViolationError:
        return False
    return True


async def demote(conn: asyncpg.Connection, reservation_id: UUID) -> None:
    """Back to the waitlist, in the place its queue number gives it (`reserved_at` keeps when
    it was first set aside)."""
    await conn.execute(
        """
        UPDATE device_reservation SET status = 'waitlisted', device_id = NULL,
                                      version = version + 1
        WHERE id = $1
        """,
        reservation_id,
    )


async def mark_returned(
    conn: asyncpg.Connection, reservation_id: UUID, span: Span, now: datetime
) -> None:
    await conn.execute(
        """
        UPDATE device_reservation SET status = 'returned', returned_at = $3, span = $2,
                                      version = version + 1
        WHERE id = $1
        """,
        reservation_id,
        span_value(span),
        now,
    )


async def end_turnarounds(conn: asyncpg.Connection, device_id: UUID, now: datetime) -> None:
    """A unit charged early: the loans returned on it stop holding it from now."""
    await conn.execute(
        """
        UPDATE device_reservation
        SET span = tstzrange(lower(span), greatest($2, lower(span) + interval '1 microsecond')),
            version = version + 1
        WHERE device_id = $1 AND status = 'returned' AND upper(span) > $2
        """,
        device_id,
        now,
    )


async def end_reservations(
    conn: asyncpg.Connection,
    now: datetime,
    by: str,
    reason: str,
    *,
    reservation_id: UUID | None = None,
    hold_id: UUID | None = None,
    booking_id: UUID | None = None,
    screening_id: UUID | None = None,
) -> list[ReservationRow]:
    """Cancel the live (waitlisted or reserved) reservations given by id, hold, booking (or the
    hold it came from) or screening; each ends once whatever runs at the same time."""
    rows = await conn.fetch(
        f"""
        WITH due AS (
            SELECT r.id FROM device_reservation r
            WHERE r.status = ANY($4::text[])
              AND ($5::uuid IS NULL OR r.id = $5)
              AND ($6::uuid IS NULL OR r.hold_id = $6)
              AND ($7::uuid IS NULL OR r.booking_id = $7
                   OR r.hold_id = (SELECT hold_id FROM booking WHERE id = $7))
              AND ($8::uuid IS NULL OR r.screening_id = $8)
            ORDER BY r.id FOR UPDATE
        ), ended AS (
            UPDATE device_reservation r
            SET status = 'cancelled', ended_at = $1, ended_by = $2, end_reason = $3,
                version = r.version + 1
            FROM due WHERE r.id = due.id AND r.status = ANY($4::text[])
            RETURNING r.*
        )
        {_select("ended")} ORDER BY r.queue_number
        """,
        now,
        by,
        reason,
        list(LIVE),
        reservation_id,
        hold_id,
        booking_id,
        screening_id,
    )
    return _rows(rows)


async def live_kinds(
    conn: asyncpg.Connection,
    *,
    hold_id: UUID | None = None,
    booking_id: UUID | None = None,
    screening_id: UUID | None = None,
) -> set[tuple[UUID, str]]:
    """The (venue, kind) pairs of the live reservations a release would end: their locks."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT venue_id, kind FROM device_reservation r
        WHERE r.status IN ('waitlisted', 'reserved')
          AND ($1::uuid IS NULL OR r.hold_id = $1)
          AND ($2::uuid IS NULL OR r.booking_id = $2
               OR r.hold_id = (SELECT hold_id FROM booking WHERE id = $2))
          AND ($3::uuid IS NULL OR r.screening_id = $3)
        """,
        hold_id,
        booking_id,
        screening_id,
    )
    return {(row["venue_id"], row["kind"]) for row in rows}
