"""A venue's price settings, and what pricing a screening's tickets needs to know."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.prices import VenuePrices, VenuePricesIn
from services.errors import NotFound
from services.prices.rules import ShowFacts, Terms

_SETTINGS = "id AS venue_id, booking_fee, tax_rate_bp, member_tickets_per_booking"


class ScreeningTerms(msgspec.Struct, frozen=True):
    """A screening's currency, its price per ticket type, its venue's terms, what a discount
    code is checked against, and the venue's date of `now`."""

    venue_id: UUID
    currency: str
    prices: dict[str, int]
    terms: Terms
    show: ShowFacts
    today: date


async def venue_prices(conn: asyncpg.Connection, venue_id: UUID) -> VenuePrices:
    row = await conn.fetchrow(f"SELECT {_SETTINGS} FROM venue WHERE id = $1", venue_id)
    if row is None:
        raise NotFound(f"no venue {venue_id}")
    return VenuePrices(**dict(row))


async def update_venue_prices(
    conn: asyncpg.Connection, venue_id: UUID, data: VenuePricesIn
) -> VenuePrices:
    values = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    row = await conn.fetchrow(
        f"""
        UPDATE venue SET booking_fee = coalesce($2, booking_fee),
                         tax_rate_bp = coalesce($3, tax_rate_bp),
                         member_tickets_per_booking = coalesce($4, member_tickets_per_booking)
        WHERE id = $1
        RETURNING {_SETTINGS}
        """,
        venue_id,
        values.get("booking_fee"),
        values.get("tax_rate_bp"),
        values.get("member_tickets_per_booking"),
    )
    if row is None:
        raise NotFound(f"no venue {venue_id}")
    return VenuePrices(**dict(row))


async def screening_terms(
    conn: asyncpg.Connection, screening_id: UUID, now: datetime
) -> ScreeningTerms:
    row = await conn.fetchrow(
        """
        SELECT s.venue_id, s.currency, s.film_id,
               (s.starts_at AT TIME ZONE v.time_zone)::date AS on_date,
               ($2::timestamptz AT TIME ZONE v.time_zone)::date AS today,
               v.booking_fee, v.tax_rate_bp, v.member_tickets_per_booking,
               coalesce((SELECT jsonb_object_agg(p.ticket_type, p.amount)
                         FROM screening_price p WHERE p.screening_id = s.id), '{}') AS prices,
               ARRAY(SELECT series_id FROM screening_series WHERE screening_id = s.id
                     UNION SELECT series_id FROM film_series WHERE film_id = s.film_id)
                   AS series_ids
        FROM screening s JOIN venue v ON v.id = s.venue_id
        WHERE s.id = $1
        """,
        screening_id,
        now,
    )
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    return ScreeningTerms(
        venue_id=row["venue_id"],
        currency=row["currency"].strip(),
        prices=dict(row["prices"]),
        terms=Terms(
            booking_fee=row["booking_fee"],
            tax_rate_bp=row["tax_rate_bp"],
            member_tickets_per_booking=row["member_tickets_per_booking"],
        ),
        show=ShowFacts(
            screening_id=screening_id,
            film_id=row["film_id"],
            series_ids=frozenset(row["series_ids"]),
            on=row["on_date"],
        ),
        today=row["today"],
    )
