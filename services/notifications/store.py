"""SQL for notification emails (migrations 006, 008): writing them once, leasing one to send it,
recording the outcome, and the staff views. Times that decide who may send come from the
database clock (`now()`), one clock for every worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from schemas.notifications import Email, EmailView
from services.errors import Conflict, NotFound
from services.pagination import MAX_LIMIT, decode_cursor, encode_cursor


class NewEmail(msgspec.Struct, frozen=True):
    """An email to write: `context` is what its templates are rendered from."""

    id: UUID
    kind: str
    recipient: str
    recipient_name: str
    event_id: UUID
    message_id: str
    context: Any
    venue_id: UUID | None = None
    screening_id: UUID | None = None
    booking_id: UUID | None = None
    device_reservation_id: UUID | None = None


class Leased(msgspec.Struct, frozen=True):
    """An email this worker may send now: `attempts` (this one included) fences its updates."""

    id: UUID
    kind: str
    recipient: str
    recipient_name: str
    message_id: str
    context: Any
    attempts: int
    venue_id: UUID | None
    screening_id: UUID | None
    booking_id: UUID | None
    device_reservation_id: UUID | None
    taken_over: bool


class Due(msgspec.Struct, frozen=True):
    id: UUID
    status: str
    attempts: int
    resends: int


async def insert_emails(conn: asyncpg.Connection, emails: list[NewEmail]) -> list[UUID]:
    """Write the emails in one round trip; returns the ids of those that are new (an email with
    the same event, recipient and kind is there already: it is not written twice)."""
    if not emails:
        return []
    rows = await conn.fetch(
        """
        INSERT INTO email (id, kind, recipient, recipient_name, event_id, message_id, context,
                           venue_id, screening_id, booking_id, device_reservation_id,
                           next_attempt_at)
        SELECT x.id, x.kind, x.recipient, x.recipient_name, x.event_id, x.message_id, x.context,
               x.venue_id, x.screening_id, x.booking_id, x.device_reservation_id, now()
        FROM jsonb_to_recordset($1::jsonb) AS x(
            id uuid, kind text, recipient text, recipient_name text, event_id uuid,
            message_id text, context jsonb, venue_id uuid, screening_id uuid, booking_id uuid,
            device_reservation_id uuid)
        ON CONFLICT (event_id, lower(recipient), kind) DO NOTHING
        RETURNING id
        """,
        emails,
    )
    written = {row["id"] for row in rows}
    return [email.id for email in emails if email.id in written]


async def lease(conn: asyncpg.Connection, email_id: UUID, seconds: float) -> Leased | None:
    """Take the email for sending: a queued one that is due, or one left `sending` by a worker
    whose lease ran out (it died mid-send). None when it is not this worker's to send."""
    row = await conn.fetchrow(
        """
        UPDATE email e SET status = 'sending', attempts = e.attempts + 1,
                           lease_until = now() + make_interval(secs => $2), updated_at = now()
        FROM (SELECT id, status AS was FROM email WHERE id = $1 FOR UPDATE) AS old
        WHERE e.id = old.id
          AND ((e.status = 'queued' AND e.next_attempt_at <= now() + interval '1 second')
               OR (e.status = 'sending' AND e.lease_until < now()))
        RETURNING e.id, e.kind, e.recipient, e.recipient_name, e.message_id, e.context,
                  e.attempts, e.venue_id, e.screening_id, e.booking_id, e.device_reservation_id,
                  old.was = 'sending' AS taken_over
        """,
        email_id,
        seconds,
    )
    return None if row is None else Leased(**dict(row))


async def state(conn: asyncpg.Connection, email_id: UUID) -> tuple[str, float] | None:
    """(status, seconds until it is due or its lease ends), or None when there is no such row
    (yet: the transaction that writes it may not have committed)."""
    row = await conn.fetchrow(
        """
        SELECT status, extract(epoch FROM
                   CASE status WHEN 'queued' THEN next_attempt_at
                               WHEN 'sending' THEN lease_until ELSE now() END - now())::float8
                   AS wait
        FROM email WHERE id = $1
        """,
        email_id,
    )
    return None if row is None else (row["status"], max(row["wait"], 0.0))


_HOLDER = "id = $1 AND status = 'sending' AND attempts = $2"


async def mark_sent(conn: asyncpg.Connection, email_id: UUID, attempts: int) -> bool:
    status = await conn.execute(
        f"""
        UPDATE email SET status = 'sent', sent_at = now(), lease_until = NULL, updated_at = now()
        WHERE {_HOLDER}
        """,
        email_id,
        attempts,
    )
    return bool(status != "UPDATE 0")


async def mark_retry(
    conn: asyncpg.Connection, email_id: UUID, attempts: int, error: str, delay: float
) -> datetime | None:
    """Back to queued after a temporary failure; returns when it is due again."""
    due: datetime | None = await conn.fetchval(
        f"""
        UPDATE email SET status = 'queued', lease_until = NULL, last_error = $3,
                         next_attempt_at = now() + make_interval(secs => $4), updated_at = now()
        WHERE {_HOLDER}
        RETURNING next_attempt_at
        """,
        email_id,
        attempts,
        error[:2000],
        delay,
    )
    return due


async def mark_failed(
    conn: asyncpg.Connection, email_id: UUID, attempts: int, error: str, failure: str
) -> bool:
    status = await conn.execute(
        f"""
        UPDATE email SET status = 'failed', failure = $4, failed_at = now(), lease_until = NULL,
                         last_error = $3, updated_at = now()
        WHERE {_HOLDER}
        """,
        email_id,
        attempts,
        error[:2000],
        failure,
    )
    return bool(status != "UPDATE 0")


async def due_for_sweep(conn: asyncpg.Connection, grace_seconds: float, limit: int) -> list[Due]:
    """Emails whose job may be lost: queued and due for longer than `grace_seconds`, or left
    sending past their lease."""
    rows = await conn.fetch(
        """
        (SELECT id, status, attempts, resends FROM email
         WHERE status = 'queued' AND next_attempt_at < now() - make_interval(secs => $1)
         ORDER BY next_attempt_at LIMIT $2)
        UNION ALL
        (SELECT id, status, attempts, resends FROM email
         WHERE status = 'sending' AND lease_until < now()
         ORDER BY lease_until LIMIT $2)
        """,
        grace_seconds,
        limit,
    )
    return [Due(**dict(row)) for row in rows]


_EMAIL = """
    SELECT e.id, e.kind, e.recipient, e.recipient_name, e.status, e.attempts, e.resends,
           e.last_error, e.failure, e.message_id, e.event_id, e.screening_id, e.booking_id,
           b.reference AS booking_reference, e.created_at, e.updated_at, e.next_attempt_at,
           e.sent_at, e.failed_at, e.device_reservation_id
    FROM email e LEFT JOIN booking b ON b.id = e.booking_id
"""


def _email(row: asyncpg.Record) -> Email:
    return Email(**dict(row))


async def get_email(conn: asyncpg.Connection, email_id: UUID) -> Email:
    row = await conn.fetchrow(_EMAIL + " WHERE e.id = $1", email_id)
    if row is None:
        raise NotFound(f"no email {email_id}")
    return _email(row)


async def list_emails(
    conn: asyncpg.Connection,
    view: EmailView,
    screening_id: UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Email], str | None]:
    """Emails in one state, most recently changed first, a page at a time. `retrying` is the
    queued ones that have failed at least once."""
    after = decode_cursor(cursor, (datetime, UUID))
    limit = max(1, min(limit, MAX_LIMIT))
    status = "queued" if view == "retrying" else view
    rows = await conn.fetch(
        _EMAIL
        + """
        WHERE e.status = $1 AND ($2::boolean IS FALSE OR e.attempts > 0)
          AND ($3::uuid IS NULL OR e.screening_id = $3)
          AND ($4::timestamptz IS NULL OR (e.updated_at, e.id) < ($4, $5::uuid))
        ORDER BY e.updated_at DESC, e.id DESC
        LIMIT $6
        """,
        status,
        view == "retrying",
        screening_id,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    items = [_email(row) for row in rows[:limit]]
    more = len(rows) > limit
    return items, encode_cursor(items[-1].updated_at, str(items[-1].id)) if more else None


async def lock_email(conn: asyncpg.Connection, email_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, kind, recipient, status, resends, venue_id FROM email WHERE id = $1 FOR UPDATE",
        email_id,
    )
    if row is None:
        raise NotFound(f"no email {email_id}")
    return row


async def patron_address(conn: asyncpg.Connection, email_id: UUID) -> str | None:
    """The address of the patron the email is about: its booking's, or its device
    reservation's (None for an email about neither)."""
    address: str | None = await conn.fetchval(
        """
        SELECT coalesce(b.patron_email, r.patron_email) FROM email e
        LEFT JOIN booking b ON b.id = e.booking_id
        LEFT JOIN device_reservation r ON r.id = e.device_reservation_id
        WHERE e.id = $1
        """,
        email_id,
    )
    return address


async def requeue(
    conn: asyncpg.Connection, email_id: UUID, recipient: str, message_id: str
) -> None:
    """A staff resend: queued again, due now, with a fresh count of attempts and a new
    Message-ID (and perhaps a corrected recipient)."""
    try:
        await conn.execute(
            """
            UPDATE email SET status = 'queued', recipient = $2, message_id = $3,
                             resends = resends + 1, attempts = 0, failure = NULL,
                             failed_at = NULL, sent_at = NULL, lease_until = NULL,
                             next_attempt_at = now(), updated_at = now()
            WHERE id = $1
            """,
            email_id,
            recipient,
            message_id,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(
            f"{recipient} already has this email for the same event",
            reason="duplicate recipient",
        ) from exc


async def due_reminders(conn: asyncpg.Connection, hours: int, limit: int) -> list[str]:
    """References of confirmed bookings whose screening starts within `hours` and that have no
    reminder yet. A booking made less than `hours` before its screening gets none: its
    confirmation is fresh in the patron's inbox."""
    rows = await conn.fetch(
        """
        SELECT b.reference FROM screening s
        JOIN booking b ON b.screening_id = s.id
        WHERE s.starts_at > now() AND s.starts_at <= now() + make_interval(hours => $1)
          AND s.status <> 'cancelled' AND b.status = 'confirmed'
          AND b.created_at <= s.starts_at - make_interval(hours => $1)
          AND NOT EXISTS (SELECT 1 FROM email e
                          WHERE e.booking_id = b.id AND e.kind = 'screening_reminder')
        ORDER BY s.starts_at, b.id
        LIMIT $2
        """,
        hours,
        limit,
    )
    return [row["reference"] for row in rows]


async def due_pickup_reminders(conn: asyncpg.Connection, hours: int, limit: int) -> list[UUID]:
    """Ids of device reservations with a unit set aside whose screening starts within `hours`,
    that have an address and no pick-up reminder yet. One reserved (or promoted) less than
    `hours` before the screening gets none: that email is fresh in the patron's inbox."""
    rows = await conn.fetch(
        """
        SELECT r.id FROM screening s
        JOIN device_reservation r ON r.screening_id = s.id
        WHERE s.starts_at > now() AND s.starts_at <= now() + make_interval(hours => $1)
          AND s.status <> 'cancelled' AND r.status = 'reserved'
          AND coalesce(r.patron_email, '') <> ''
          AND r.reserved_at <= s.starts_at - make_interval(hours => $1)
          AND NOT EXISTS (SELECT 1 FROM email e
                          WHERE e.device_reservation_id = r.id
                            AND e.kind = 'device_pickup_reminder')
        ORDER BY s.starts_at, r.id
        LIMIT $2
        """,
        hours,
        limit,
    )
    return [row["id"] for row in rows]
