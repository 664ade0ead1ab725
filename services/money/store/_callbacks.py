"""Payment providers' callbacks: stored first by (provider, event id), acted on after."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec


class CallbackRow(msgspec.Struct, frozen=True):
    provider: str
    event_id: str
    received_at: datetime
    body: bytes
    processed_at: datetime | None
    outcome: str | None


_COLUMNS = ", ".join(CallbackRow.__struct_fields__)


async def store_callback(
    conn: asyncpg.Connection,
    provider: str,
    event_id: str,
    body: bytes,
    now: datetime,
    event_row: tuple[object, ...],
) -> bool:
    """Keep the callback and, only if it is new, its event (`event_row`, services/outbox.py),
    in one statement (its own transaction: one round trip to acknowledge a callback); False
    when this (provider, event id) was stored before (nothing written)."""
    stored = await conn.fetchval(
        """
        WITH stored AS (
            INSERT INTO payment_callback (provider, event_id, received_at, body)
            VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true
        ), event AS (
            INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, venue_id,
                                payload)
            SELECT $5, $6, $7, $8, $9, $10 FROM stored
        )
        SELECT count(*) FROM stored
        """,
        provider,
        event_id,
        now,
        body,
        *event_row,
    )
    return bool(stored)


async def take_callback(
    conn: asyncpg.Connection, provider: str, event_id: str
) -> CallbackRow | None:
    """The callback, locked for this transaction, if it is not yet acted on (None otherwise:
    done already, or being done by another worker, which this one then waits for)."""
    row = await conn.fetchrow(
        f"""
        SELECT {_COLUMNS} FROM payment_callback
        WHERE provider = $1 AND event_id = $2 FOR UPDATE
        """,
        provider,
        event_id,
    )
    if row is None or row["processed_at"] is not None:
        return None
    return CallbackRow(**dict(row))


async def mark_processed(
    conn: asyncpg.Connection, provider: str, event_id: str, now: datetime, outcome: str
) -> None:
    await conn.execute(
        """
        UPDATE payment_callback SET processed_at = $3, outcome = $4
        WHERE provider = $1 AND event_id = $2
        """,
        provider,
        event_id,
        now,
        outcome,
    )


async def unprocessed(
    conn: asyncpg.Connection, received_before: datetime, limit: int
) -> list[tuple[str, str]]:
    """(provider, event id) of callbacks not acted on, received before then, oldest first."""
    rows = await conn.fetch(
        """
        SELECT provider, event_id FROM payment_callback
        WHERE processed_at IS NULL AND received_at < $1
        ORDER BY received_at LIMIT $2
        """,
        received_before,
        limit,
    )
    return [(row["provider"], row["event_id"]) for row in rows]


async def outcomes(conn: asyncpg.Connection) -> dict[str, int]:
    """How many callbacks ended each way (the bench and the operators' check)."""
    rows = await conn.fetch(
        "SELECT coalesce(outcome, 'pending') AS outcome, count(*) AS n"
        " FROM payment_callback GROUP BY 1"
    )
    return {row["outcome"]: row["n"] for row in rows}
