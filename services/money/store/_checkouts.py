"""Checkouts: a hold waiting for its payment, the request that will make its booking."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from schemas.money import CheckoutStatus
from services.errors import NotFound


class CheckoutRow(msgspec.Struct, frozen=True):
    id: UUID
    hold_id: UUID
    screening_id: UUID
    venue_id: UUID
    status: CheckoutStatus
    currency: str
    amount: int
    request: dict[str, Any]  # the ConfirmIn, as JSON
    # The prices fixed at checkout (box_office.Priced, as JSON): what its payment books with.
    # None only on a checkout started before migration 028.
    priced: dict[str, Any] | None
    idempotency_key: str
    request_hash: bytes
    secret_hash: bytes
    hold_expires_at: datetime
    created_at: datetime
    expires_at: datetime
    booking_id: UUID | None
    ended_at: datetime | None


_COLUMNS = ", ".join(CheckoutRow.__struct_fields__)


def _checkout(row: asyncpg.Record) -> CheckoutRow:
    values = dict(row)
    values["currency"] = values["currency"].strip()
    return CheckoutRow(**values)


async def checkout_minutes_of(conn: asyncpg.Connection, venue_id: UUID) -> int:
    minutes: int | None = await conn.fetchval(
        "SELECT checkout_minutes FROM venue WHERE id = $1", venue_id
    )
    if minutes is None:
        raise NotFound(f"no venue {venue_id}")
    return minutes


async def insert_checkout(conn: asyncpg.Connection, checkout: CheckoutRow) -> None:
    await conn.execute(
        """
        INSERT INTO checkout (id, hold_id, screening_id, venue_id, status, currency, amount,
                              request, idempotency_key, request_hash, secret_hash,
                              hold_expires_at, created_at, expires_at, priced)
        VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9, $10,
                $11, $12, $13, $14)
        """,
        checkout.id,
        checkout.hold_id,
        checkout.screening_id,
        checkout.venue_id,
        checkout.currency,
        checkout.amount,
        checkout.request,
        checkout.idempotency_key,
        checkout.request_hash,
        checkout.secret_hash,
        checkout.hold_expires_at,
        checkout.created_at,
        checkout.expires_at,
        checkout.priced,
    )


async def reopen_checkout(conn: asyncpg.Connection, checkout: CheckoutRow) -> None:
    """A failed checkout tried again (another card): open, with its new request, prices and
    window."""
    await conn.execute(
        """
        UPDATE checkout SET status = 'open', ended_at = NULL, amount = $2, currency = $3,
                            request = $4, idempotency_key = $5,
                            request_hash = $6, secret_hash = $7, hold_expires_at = $8,
                            expires_at = $9, priced = $10
        WHERE id = $1 AND status = 'failed'
        """,
        checkout.id,
        checkout.amount,
        checkout.currency,
        checkout.request,
        checkout.idempotency_key,
        checkout.request_hash,
        checkout.secret_hash,
        checkout.hold_expires_at,
        checkout.expires_at,
        checkout.priced,
    )


async def get_checkout(
    conn: asyncpg.Connection,
    *,
    checkout_id: UUID | None = None,
    hold_id: UUID | None = None,
    lock: bool = False,
) -> CheckoutRow | None:
    key, value = ("id", checkout_id) if checkout_id is not None else ("hold_id", hold_id)
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM checkout WHERE {key} = $1{' FOR UPDATE' if lock else ''}", value
    )
    return None if row is None else _checkout(row)


async def end_checkout(
    conn: asyncpg.Connection,
    checkout_id: UUID,
    status: CheckoutStatus,
    now: datetime,
    booking_id: UUID | None = None,
) -> None:
    await conn.execute(
        "UPDATE checkout SET status = $2, ended_at = $3, booking_id = $4 WHERE id = $1",
        checkout_id,
        status,
        now,
        booking_id,
    )


async def expire_checkouts(conn: asyncpg.Connection, now: datetime, limit: int = 1000) -> int:
    """Open checkouts whose hold is no longer live (or past its time): 'expired' (a payment
    that still arrives is a late one: docs/money.md)."""
    result: str = await conn.execute(
        """
        UPDATE checkout c SET status = 'expired', ended_at = $1
        FROM (SELECT c2.id FROM checkout c2 JOIN hold h ON h.id = c2.hold_id
              WHERE c2.status = 'open' AND (h.status <> 'live' OR h.expires_at <= $1)
              ORDER BY c2.id LIMIT $2 FOR UPDATE OF c2 SKIP LOCKED) AS due
        WHERE c.id = due.id AND c.status = 'open'
        """,
        now,
        limit,
    )
    return int(result.split()[-1])
