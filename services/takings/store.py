"""SQL of the takings reports: read-only sums over bookings, their seat lines, payments and
refunds (migrations 004, 020, 021; indexes in 022). A report reads a set of bookings chosen by
one of the fixed filters below (never text from a request) with its parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from schemas.takings import Reconciliation, RefundDue
from services.takings.rules import CashSum, SeatLines

# Which bookings a report covers: those made in a venue's day ($1 venue, [$2, $3) created_at),
# those of one screening ($1), or those of a list of screenings ($1 uuid[]).
BookingSet = Literal["made", "screening", "screenings"]
_BOOKINGS: dict[BookingSet, str] = {
    "made": "b.venue_id = $1 AND b.created_at >= $2 AND b.created_at < $3",
    "screening": "b.screening_id = $1",
    "screenings": "b.screening_id = ANY($1::uuid[])",
}


async def venue(conn: asyncpg.Connection, venue_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, name, time_zone FROM venue WHERE id = $1", venue_id
    )
    return row


async def film(conn: asyncpg.Connection, film_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, title FROM film WHERE id = $1", film_id
    )
    return row


async def screening(conn: asyncpg.Connection, screening_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT s.id, s.starts_at, f.id AS film_id, f.title AS film_title, v.id AS venue_id,
               v.name AS venue_name, v.time_zone, a.name AS auditorium_name
        FROM screening s JOIN film f ON f.id = s.film_id JOIN venue v ON v.id = s.venue_id
             JOIN auditorium a ON a.id = s.auditorium_id
        WHERE s.id = $1
        """,
        screening_id,
    )
    return row


async def film_screenings(
    conn: asyncpg.Connection, film_id: UUID, venue_id: UUID, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """The film's screenings at the venue starting in [start, end), cancelled ones included
    (their bookings are cancelled, so they sell nothing; money on them still shows)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT s.id, s.starts_at, a.name AS auditorium_name
        FROM screening s JOIN auditorium a ON a.id = s.auditorium_id
        WHERE s.film_id = $1 AND s.venue_id = $2 AND s.starts_at >= $3 AND s.starts_at < $4
        ORDER BY s.starts_at, s.id
        """,
        film_id,
        venue_id,
        start,
        end,
    )
    return rows


async def seat_lines(conn: asyncpg.Connection, which: BookingSet, *args: Any) -> list[SeatLines]:
    """Booked seat lines of the set's confirmed bookings, summed per screening, ticket type and
    currency."""
    rows = await conn.fetch(
        f"""
        SELECT b.screening_id, bs.ticket_type, b.currency, count(*) AS admissions,
               sum(bs.list_price)::bigint AS list_price, sum(bs.discount)::bigint AS discount,
               sum(bs.fee)::bigint AS fee, sum(bs.amount)::bigint AS gross,
               sum(bs.tax)::bigint AS tax
        FROM booking b JOIN booking_seat bs ON bs.booking_id = b.id
        WHERE b.status = 'confirmed' AND {_BOOKINGS[which]}
        GROUP BY b.screening_id, bs.ticket_type, b.currency
        """,
        *args,
    )
    return [SeatLines(**dict(row)) for row in rows]


async def cash_of_bookings(
    conn: asyncpg.Connection, which: BookingSet, *args: Any
) -> list[CashSum]:
    """All payments and refunds ever recorded on the set's bookings, per method and currency."""
    rows = await conn.fetch(
        f"""
        WITH b AS (SELECT b.id FROM booking b WHERE {_BOOKINGS[which]})
        SELECT p.method, p.currency, sum(p.amount)::bigint AS paid, 0::bigint AS refunded
        FROM payment p JOIN b ON b.id = p.booking_id GROUP BY p.method, p.currency
        UNION ALL
        SELECT r.method, r.currency, 0::bigint, sum(r.amount)::bigint
        FROM refund r JOIN b ON b.id = r.booking_id GROUP BY r.method, r.currency
        """,
        *args,
    )
    return [CashSum(**dict(row)) for row in rows]


async def cash_recorded(
    conn: asyncpg.Connection, venue_id: UUID, start: datetime, end: datetime
) -> list[CashSum]:
    """Payments and refunds recorded at the venue in [start, end), per method and currency,
    whichever day their bookings were made."""
    rows = await conn.fetch(
        """
        SELECT method, currency, sum(amount)::bigint AS paid, 0::bigint AS refunded
        FROM payment WHERE venue_id = $1 AND recorded_at >= $2 AND recorded_at < $3
        GROUP BY method, currency
        UNION ALL
        SELECT method, currency, 0::bigint, sum(amount)::bigint
        FROM refund WHERE venue_id = $1 AND recorded_at >= $2 AND recorded_at < $3
        GROUP BY method, currency
        """,
        venue_id,
        start,
        end,
    )
    return [CashSum(**dict(row)) for row in rows]


async def cash_by_hour(
    conn: asyncpg.Connection, venue_id: UUID, start: datetime, end: datetime
) -> list[tuple[datetime, str, int, int]]:
    """(hour's start, currency, paid, refunded) per hour of [start, end) where money moved; the
    hours count from `start` (the local midnight), so they are the venue's clock hours, and a
    day with a clock change has 23 or 25 of them."""
    rows = await conn.fetch(
        """
        SELECT date_bin('1 hour', m.recorded_at, $2) AS starts_at, m.currency,
               sum(m.paid)::bigint AS paid, sum(m.refunded)::bigint AS refunded
        FROM (SELECT recorded_at, currency, amount AS paid, 0 AS refunded FROM payment
              WHERE venue_id = $1 AND recorded_at >= $2 AND recorded_at < $3
              UNION ALL
              SELECT recorded_at, currency, 0, amount FROM refund
              WHERE venue_id = $1 AND recorded_at >= $2 AND recorded_at < $3) m
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        venue_id,
        start,
        end,
    )
    return [(row["starts_at"], row["currency"], row["paid"], row["refunded"]) for row in rows]


async def reconciliation(
    conn: asyncpg.Connection, which: BookingSet, *args: Any
) -> list[Reconciliation]:
    """Sales against all the money of the same bookings, per currency. Per booking and
    currency: a confirmed booking's money in its own currency pays its seat lines (short of
    them: unpaid; past them: overpaid); any other money (on a cancelled or unseated booking, or
    in another currency) is refund_due. So gross - unpaid + overpaid + refund_due = net_cash.
    (One pass of hash joins over lines, payments and refunds; each (booking, currency) group's
    rows agree on `seated`.)"""
    where = _BOOKINGS[which]
    rows = await conn.fetch(
        f"""
        SELECT currency, sum(gross)::bigint AS gross,
               sum(CASE WHEN seated THEN greatest(gross - cash, 0) ELSE 0 END)::bigint AS unpaid,
               sum(CASE WHEN seated THEN greatest(cash - gross, 0) ELSE 0 END)::bigint AS overpaid,
               sum(CASE WHEN seated THEN 0 ELSE cash END)::bigint AS refund_due,
               sum(cash)::bigint AS net_cash
        FROM (SELECT booking_id, currency, bool_and(seated) AS seated, sum(gross) AS gross,
                     sum(cash) AS cash
              FROM (SELECT b.id AS booking_id, b.currency, true AS seated, bs.amount AS gross,
                           0 AS cash
                    FROM booking b JOIN booking_seat bs ON bs.booking_id = b.id
                    WHERE b.status = 'confirmed' AND {where}
                    UNION ALL
                    SELECT b.id, p.currency, b.status = 'confirmed' AND p.currency = b.currency,
                           0, p.amount
                    FROM booking b JOIN payment p ON p.booking_id = b.id WHERE {where}
                    UNION ALL
                    SELECT b.id, r.currency, b.status = 'confirmed' AND r.currency = b.currency,
                           0, -r.amount
                    FROM booking b JOIN refund r ON r.booking_id = b.id WHERE {where}) line
              GROUP BY booking_id, currency) per_booking
        GROUP BY currency ORDER BY currency
        """,
        *args,
    )
    return [Reconciliation(**dict(row)) for row in rows]


async def refunds_due(
    conn: asyncpg.Connection, venue_id: UUID | None, limit: int
) -> list[RefundDue]:
    """Cancelled or unseated bookings holding money (paid > refunded), oldest first."""
    rows = await conn.fetch(
        """
        SELECT b.id AS booking_id, b.reference, b.status, b.patron_name, b.screening_id,
               f.title AS film_title, s.starts_at, b.currency, b.paid, b.refunded,
               b.paid - b.refunded AS due, b.refund_due, b.cancelled_at
        FROM booking b JOIN screening s ON s.id = b.screening_id JOIN film f ON f.id = s.film_id
        WHERE b.status <> 'confirmed' AND b.paid > b.refunded
          AND ($1::uuid IS NULL OR b.venue_id = $1)
        ORDER BY coalesce(b.cancelled_at, b.created_at), b.id
        LIMIT $2
        """,
        venue_id,
        limit,
    )
    return [RefundDue(**dict(row)) for row in rows]
