"""A booking and its money as the takings tests expect them (`Booked`, `Line`), and writing
them straight into the tables of migrations 004, 020 and 021, within their constraints, for
the tests that need figures the API would refuse (a ticket type named like a formula, for the
CSV) or fixed figures in a few lines. The random test makes its books through the real
endpoints instead (selling.py). A booking is a confirmed hold with its seat claims; a payment
or refund moves booking.paid or booking.refunded in the same transaction."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.ids import uuid7


@dataclass
class Line:
    seat_id: UUID
    ticket_type: str
    list_price: int
    discount: int
    fee: int
    tax_rate_bp: int

    @property
    def amount(self) -> int:
        return self.list_price - self.discount + self.fee

    @property
    def tax(self) -> int:
        # round-half-up(amount * rate / (10000 + rate)), as docs/money.md states
        rate = self.tax_rate_bp
        return (2 * self.amount * rate + 10000 + rate) // (2 * (10000 + rate))


@dataclass
class Booked:
    id: UUID
    reference: str
    screening_id: UUID
    venue_id: UUID
    currency: str
    created_at: datetime
    lines: list[Line]
    status: str = "confirmed"
    payments: list[tuple[str, int, str, datetime]] = field(default_factory=list)
    refunds: list[tuple[str, int, str, datetime]] = field(default_factory=list)
    checkout: dict[str, Any] | None = None  # the website's checkout that paid it, if any

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    def paid(self, currency: str | None = None) -> int:
        return sum(a for _, a, c, _ in self.payments if currency in (None, c))

    def refunded(self, currency: str | None = None) -> int:
        return sum(a for _, a, c, _ in self.refunds if currency in (None, c))


async def book(
    conn: asyncpg.Connection,
    screening_id: UUID,
    venue_id: UUID,
    lines: list[Line],
    created_at: datetime,
    currency: str = "USD",
    patron_name: str = "Ana Pop",
) -> Booked:
    hold_id, booking_id = uuid7(), uuid7()
    reference = secrets.token_hex(4).upper()
    seat_ids = [line.seat_id for line in lines]
    async with conn.transaction():
        await conn.execute(
            """
            INSERT INTO hold (id, screening_id, venue_id, token_hash, client_id, status, seat_ids,
                              created_at, expires_at, latest_expiry, ended_at)
            VALUES ($1, $2, $3, $4, 'takings-test', 'confirmed', $5, $6::timestamptz,
                    $6::timestamptz + interval '10 minutes',
                    $6::timestamptz + interval '20 minutes', $6::timestamptz)
            """,
            hold_id,
            screening_id,
            venue_id,
            hashlib.sha256(hold_id.bytes).digest(),
            seat_ids,
            created_at - timedelta(minutes=1),
        )
        await conn.execute(
            """
            INSERT INTO booking (id, reference, screening_id, venue_id, hold_id, patron_name,
                                 patron_email, secret_hash, idempotency_key, request_hash,
                                 currency, total, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, 'ana@example.org', $7, $8, $7, $9, $10, $11)
            """,
            booking_id,
            reference,
            screening_id,
            venue_id,
            hold_id,
            patron_name,
            hashlib.sha256(reference.encode()).digest(),
            str(hold_id),
            currency,
            sum(line.amount for line in lines),
            created_at,
        )
        await conn.executemany(
            """
            INSERT INTO booking_seat (booking_id, seat_id, ticket_type, list_price, discount,
                                      fee, tax, amount)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            [
                (
                    booking_id,
                    line.seat_id,
                    line.ticket_type,
                    line.list_price,
                    line.discount,
                    line.fee,
                    line.tax,
                    line.amount,
                )
                for line in lines
            ],
        )
        await conn.executemany(
            """
            INSERT INTO seat_claim (screening_id, seat_id, kind, booking_id, claimed_at)
            VALUES ($1, $2, 'booking', $3, $4)
            """,
            [(screening_id, seat_id, booking_id, created_at) for seat_id in seat_ids],
        )
    return Booked(booking_id, reference, screening_id, venue_id, currency, created_at, lines)


async def pay(
    conn: asyncpg.Connection,
    booked: Booked,
    method: str,
    amount: int,
    at: datetime,
    currency: str | None = None,
) -> None:
    currency = currency or booked.currency
    provider = ("test-provider", f"pay-{uuid7()}") if method == "provider" else (None, None)
    async with conn.transaction():
        await conn.execute(
            """
            INSERT INTO payment (id, booking_id, venue_id, method, provider, provider_payment_id,
                                 amount, currency, recorded_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            uuid7(),
            booked.id,
            booked.venue_id,
            method,
            *provider,
            amount,
            currency,
            at,
        )
        await conn.execute("UPDATE booking SET paid = paid + $2 WHERE id = $1", booked.id, amount)
    booked.payments.append((method, amount, currency, at))


async def refund(
    conn: asyncpg.Connection,
    booked: Booked,
    method: str,
    amount: int,
    at: datetime,
    staff_id: UUID,
    currency: str | None = None,
) -> None:
    """booking_refund_within_paid refuses a refund past what was paid (the caller keeps within)."""
    currency = currency or booked.currency
    async with conn.transaction():
        await conn.execute(
            """
            INSERT INTO refund (id, booking_id, venue_id, amount, currency, reason, method,
                                recorded_at, recorded_by)
            VALUES ($1, $2, $3, $4, $5, 'test', $6, $7, $8)
            """,
            uuid7(),
            booked.id,
            booked.venue_id,
            amount,
            currency,
            method,
            at,
            staff_id,
        )
        await conn.execute(
            "UPDATE booking SET refunded = refunded + $2 WHERE id = $1", booked.id, amount
        )
    booked.refunds.append((method, amount, currency, at))
