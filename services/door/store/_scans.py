"""Bookings as the door sees them, scans and admissions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.door import rules
from services.errors import InvalidInput
from services.ids import uuid7

_BOOKING = """
    SELECT b.id, b.reference, b.status, b.refund_due,
           s.id AS screening_id, s.starts_at, s.status AS screening_status,
           coalesce(p.doors_open_minutes, 30) AS doors_open_minutes,
           coalesce(p.reentry, false) AS reentry,
           ARRAY(SELECT ROW(bs.seat_id, st.label, st.row_label, st.kind, bs.ticket_type,
                            a.scanned_at, a.door, a.scanner_id, a.staff_name)
                 FROM booking_seat bs JOIN seat st ON st.id = bs.seat_id
                 LEFT JOIN admission a ON a.booking_id = bs.booking_id
                      AND a.seat_id = bs.seat_id AND a.undone_at IS NULL
                 WHERE bs.booking_id = b.id) AS tickets,
           ARRAY(SELECT d.kind FROM device_reservation d
                 WHERE d.booking_id = b.id AND d.status = 'reserved' ORDER BY d.kind) AS devices
    FROM booking b JOIN screening s ON s.id = b.screening_id
    LEFT JOIN door_policy p ON p.venue_id = s.venue_id
"""


def _booking(row: asyncpg.Record) -> rules.Booking:
    numbers = rules.number_tickets(t[1] for t in row["tickets"])
    tickets = tuple(
        sorted(
            (
                rules.Ticket(
                    number=numbers[t[1]],
                    seat_id=t[0],
                    label=t[1],
                    row_label=t[2],
                    seat_kind=t[3],
                    ticket_type=t[4],
                    admission=rules.Entry(t[5], t[6], t[7], t[8]) if t[5] is not None else None,
                )
                for t in row["tickets"]
            ),
            key=lambda t: t.number,
        )
    )
    screening = rules.Screening(
        id=row["screening_id"],
        starts_at=row["starts_at"],
        status=row["screening_status"],
        doors_open_minutes=row["doors_open_minutes"],
        reentry=row["reentry"],
    )
    return rules.Booking(
        id=row["id"],
        reference=row["reference"],
        screening=screening,
        status=row["status"],
        refund_due=row["refund_due"],
        tickets=tickets,
        devices=tuple(row["devices"]),
    )


async def door_booking(
    conn: asyncpg.Connection, *, booking_id: UUID | None = None, reference: str | None = None
) -> rules.Booking | None:
    """The booking with its screening, the venue's door policy, its tickets (numbered) and their
    admissions, and the devices waiting for it at the desk; None when there is none."""
    if booking_id is not None:
        row = await conn.fetchrow(_BOOKING + " WHERE b.id = $1", booking_id)
    else:
        row = await conn.fetchrow(_BOOKING + " WHERE b.reference = $1", reference)
    return None if row is None else _booking(row)


async def door_bookings(
    conn: asyncpg.Connection, booking_ids: Sequence[UUID]
) -> list[rules.Booking]:
    rows = await conn.fetch(_BOOKING + " WHERE b.id = ANY($1::uuid[])", list(booking_ids))
    return [_booking(row) for row in rows]


class NewScan:
    """A scan row before its answer is known."""

    __slots__ = ("id", "mode", "nonce", "scanned_at", "staff_id")

    def __init__(
        self, id: UUID, nonce: str, scanned_at: datetime, mode: str, staff_id: UUID | None
    ) -> None:
        self.id, self.nonce, self.scanned_at = id, nonce, scanned_at
        self.mode, self.staff_id = mode, staff_id


async def record_scan(
    conn: asyncpg.Connection,
    scan: NewScan,
    screening_id: UUID,
    scanner_id: str,
    door: str,
    staff_name: str,
    booking_id: UUID | None,
    answer: tuple[str, str | None, Any],
    seat_ids: Sequence[UUID],
    events: Sequence[tuple[object, ...]],
) -> tuple[str, Any]:
    """An online scan, its admissions and their events (outbox rows) in one round trip
    (migration 018): ("recorded", None), ("replayed", the stored answer), or ("lost", None)
    when another scan admitted one of the tickets first (nothing was written)."""
    columns: list[list[Any]] = [list(c) for c in zip(*events, strict=True)] or [[]] * 6
    try:
        found = await conn.fetchval(
            "SELECT door_record_scan($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
            " $14, $15, $16, $17, $18, $19, $20)",
            scan.id,
            scanner_id,
            scan.nonce,
            screening_id,
            door,
            scan.staff_id,
            staff_name,
            scan.scanned_at,
            booking_id,
            *answer,
            [uuid7() for _ in seat_ids],
            list(seat_ids),
            *columns,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        if exc.constraint_name == "door_scan_screening_id_fkey":
            raise InvalidInput(
                "no screening has this id", field="screening_id", reason="no such screening"
            ) from exc
        raise
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == "UD001":
            return "lost", None
        raise
    if "replayed" in found:
        return "replayed", found["replayed"]
    return "recorded", None


async def lock_uploads(conn: asyncpg.Connection, screening_id: UUID, *, shared: bool) -> None:
    """The screening's upload lock until the transaction ends: an upload holds it alone, so no
    other upload of the screening runs, nor any online scan that admits several tickets (they
    hold it `shared`; so does door_record_scan for a party, migration 026). Taken before
    anything is written: no deadlock is possible (026 says why)."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(f"SELECT {function}(hashtextextended($1, 1617))", str(screening_id))


async def claim_scans(
    conn: asyncpg.Connection,
    screening_id: UUID,
    scanner_id: str,
    door: str,
    staff_name: str,
    scans: Sequence[NewScan],
    now: datetime,
) -> set[str]:
    """Insert the scans (answer to follow in this transaction); the nonces that were new. A scan
    whose (scanner, nonce) exists is a retry: it waits here for the first one's commit."""
    rows = await conn.fetch(
        """
        INSERT INTO door_scan (id, scanner_id, nonce, screening_id, door, staff_id, staff_name,
                               mode, scanned_at, recorded_at)
        SELECT t.id, $1, t.nonce, $2, $3, t.staff_id, $4, t.mode, t.scanned_at, $5
        FROM unnest($6::uuid[], $7::text[], $8::uuid[], $9::text[], $10::timestamptz[])
             AS t(id, nonce, staff_id, mode, scanned_at)
        ORDER BY t.nonce  -- two uploads from one scanner (of two screenings) cannot cross
        ON CONFLICT (scanner_id, nonce) DO NOTHING
        RETURNING nonce
        """,
        scanner_id,
        screening_id,
        door,
        staff_name,
        now,
        [s.id for s in scans],
        [s.nonce for s in scans],
        [s.staff_id for s in scans],
        [s.mode for s in scans],
        [s.scanned_at for s in scans],
    )
    return {row["nonce"] for row in rows}


async def stored_answers(
    conn: asyncpg.Connection, scanner_id: str, nonces: Sequence[str]
) -> dict[str, tuple[UUID, Any]]:
    """(screening, answer) of scans already recorded, by nonce."""
    rows = await conn.fetch(
        "SELECT nonce, screening_id, answer FROM door_scan"
        " WHERE scanner_id = $1 AND nonce = ANY($2::text[])",
        scanner_id,
        list(nonces),
    )
    return {row["nonce"]: (row["screening_id"], row["answer"]) for row in rows}


async def finish_scans(
    conn: asyncpg.Connection,
    scanner_id: str,
    answers: Sequence[tuple[str, UUID | None, str, str | None, Any]],
) -> None:
    """Store each scan's answer: (nonce, booking, result, reason, answer)."""
    await conn.executemany(
        """
        UPDATE door_scan SET booking_id = $3, result = $4, reason = $5, answer = $6
        WHERE scanner_id = $1 AND nonce = $2
        """,
        [(scanner_id, *row) for row in answers],
    )


async def admit(
    conn: asyncpg.Connection,
    scan_id: UUID,
    screening_id: UUID,
    booking_id: UUID,
    seat_ids: Sequence[UUID],
    entry: rules.Entry,
    new_ids: Sequence[UUID],
) -> set[UUID]:
    """Admit the tickets; the seats admitted now. A ticket with a live admission is skipped by
    the unique index (a concurrent scan waits here for the other's commit), never doubled."""
    rows = await conn.fetch(
        """
        INSERT INTO admission (id, screening_id, booking_id, seat_id, scan_id, scanned_at, door,
                               scanner_id, staff_name)
        SELECT t.id, $1, $2, t.seat_id, $3, $4, $5, $6, $7
        FROM unnest($8::uuid[], $9::uuid[]) WITH ORDINALITY AS t(id, seat_id, n)
        ORDER BY t.seat_id
        ON CONFLICT (booking_id, seat_id) WHERE undone_at IS NULL DO NOTHING
        RETURNING seat_id
        """,
        screening_id,
        booking_id,
        scan_id,
        entry.scanned_at,
        entry.door,
        entry.scanner_id,
        entry.staff_name,
        list(new_ids),
        list(seat_ids),
    )
    return {row["seat_id"] for row in rows}


async def lock_admission(
    conn: asyncpg.Connection, booking_id: UUID, seat_id: UUID
) -> tuple[UUID, rules.Entry] | None:
    """The ticket's live admission, locked until the transaction ends."""
    row = await conn.fetchrow(
        """
        SELECT id, scanned_at, door, scanner_id, staff_name FROM admission
        WHERE booking_id = $1 AND seat_id = $2 AND undone_at IS NULL FOR UPDATE
        """,
        booking_id,
        seat_id,
    )
    if row is None:
        return None
    return row["id"], rules.Entry(
        row["scanned_at"], row["door"], row["scanner_id"], row["staff_name"]
    )


async def move_admission(
    conn: asyncpg.Connection, admission_id: UUID, scan_id: UUID, entry: rules.Entry
) -> None:
    """Give the admission to an earlier scan (first scan wins)."""
    await conn.execute(
        """
        UPDATE admission SET scan_id = $2, scanned_at = $3, door = $4, scanner_id = $5,
                             staff_name = $6
        WHERE id = $1
        """,
        admission_id,
        scan_id,
        entry.scanned_at,
        entry.door,
        entry.scanner_id,
        entry.staff_name,
    )


async def undo_admission(
    conn: asyncpg.Connection, admission_id: UUID, staff_id: UUID, now: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        UPDATE admission SET undone_at = $3, undone_by = $2
        WHERE id = $1 AND undone_at IS NULL
        RETURNING screening_id, booking_id, seat_id
        """,
        admission_id,
        staff_id,
        now,
    )
