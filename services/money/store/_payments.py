"""Payments and refunds, each kept with the booking's running sums in one statement: the
booking_refund_within_paid constraint (migration 021) is what refuses a refund past what was
paid, whatever runs at the same time."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.money import PaymentLine, PaymentMethod, RefundLine, RefundMethod

REFUND_WITHIN_PAID = "booking_refund_within_paid"


class RefundPastPaid(Exception):
    """PostgreSQL refused the refund: it would take the booking past what was paid."""


class PaymentRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    booking_id: UUID
    venue_id: UUID
    method: PaymentMethod
    amount: int
    currency: str
    recorded_at: datetime
    checkout_id: UUID | None = None
    provider: str | None = None
    provider_payment_id: str | None = None
    recorded_by: UUID | None = None


class RefundRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    booking_id: UUID
    venue_id: UUID
    amount: int
    currency: str
    reason: str
    method: RefundMethod
    recorded_at: datetime
    recorded_by: UUID
    provider_reference: str | None = None


async def add_payment(conn: asyncpg.Connection, payment: PaymentRow) -> int | None:
    """Record the payment and add it to its booking's `paid`; the booking's new `paid`, or None
    when this provider's payment is recorded already (nothing written)."""
    paid: int | None = await conn.fetchval(
        """
        WITH p AS (
            INSERT INTO payment (id, booking_id, venue_id, checkout_id, method, provider,
                                 provider_payment_id, amount, currency, recorded_at, recorded_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (provider, provider_payment_id) DO NOTHING
            RETURNING booking_id, amount
        )
        UPDATE booking b SET paid = b.paid + p.amount, version = b.version + 1
        FROM p WHERE b.id = p.booking_id
        RETURNING b.paid
        """,
        payment.id,
        payment.booking_id,
        payment.venue_id,
        payment.checkout_id,
        payment.method,
        payment.provider,
        payment.provider_payment_id,
        payment.amount,
        payment.currency,
        payment.recorded_at,
        payment.recorded_by,
    )
    return paid


async def payment_recorded(conn: asyncpg.Connection, provider: str, payment_id: str) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM payment WHERE provider = $1 AND provider_payment_id = $2)",
        provider,
        payment_id,
    )
    return found


async def add_refund(conn: asyncpg.Connection, refund: RefundRow) -> int:
    """Record the refund and add it to its booking's `refunded` (the new sum); RefundPastPaid
    when that would pass what was paid (nothing written)."""
    try:
        async with conn.transaction():
            refunded: int = await conn.fetchval(
                """
                WITH r AS (
                    INSERT INTO refund (id, booking_id, venue_id, amount, currency, reason,
                                        method, provider_reference, recorded_at, recorded_by)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                    RETURNING booking_id, amount
                )
                UPDATE booking b SET refunded = b.refunded + r.amount, version = b.version + 1
                FROM r WHERE b.id = r.booking_id
                RETURNING b.refunded
                """,
                refund.id,
                refund.booking_id,
                refund.venue_id,
                refund.amount,
                refund.currency,
                refund.reason,
                refund.method,
                refund.provider_reference,
                refund.recorded_at,
                refund.recorded_by,
            )
    except asyncpg.CheckViolationError as error:
        if error.constraint_name == REFUND_WITHIN_PAID:
            raise RefundPastPaid from error
        raise
    return refunded


async def payments_of(conn: asyncpg.Connection, booking_id: UUID) -> list[PaymentLine]:
    rows = await conn.fetch(
        """
        SELECT id, method, amount, recorded_at, provider, provider_payment_id, recorded_by
        FROM payment WHERE booking_id = $1 ORDER BY recorded_at, id
        """,
        booking_id,
    )
    return [PaymentLine(**dict(row)) for row in rows]


async def refunds_of(conn: asyncpg.Connection, booking_id: UUID) -> list[RefundLine]:
    rows = await conn.fetch(
        """
        SELECT id, amount, reason, method, recorded_at, recorded_by, provider_reference
        FROM refund WHERE booking_id = $1 ORDER BY recorded_at, id
        """,
        booking_id,
    )
    return [RefundLine(**dict(row)) for row in rows]


async def last_refunds(conn: asyncpg.Connection, booking_ids: list[UUID]) -> dict[UUID, datetime]:
    """When each booking's last refund was recorded (those refunded)."""
    rows = await conn.fetch(
        """
        SELECT booking_id, max(recorded_at) AS at FROM refund
        WHERE booking_id = ANY($1::uuid[]) GROUP BY booking_id
        """,
        booking_ids,
    )
    return {row["booking_id"]: row["at"] for row in rows}
