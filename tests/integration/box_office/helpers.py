"""Helpers of the box-office tests: hold, confirm, read events and seat maps, backdate holds."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.integration.racing import caller

Client = AsyncTestClient[Litestar]


async def screening_in(pool: asyncpg.Pool, auditorium: str) -> UUID:
    """The first demo screening in auditorium `cinema-1` (300 seats) or `cinema-2` (92)."""
    async with pool.acquire() as conn:
        screening_id: UUID = await conn.fetchval(
            """
            SELECT s.id FROM screening s JOIN auditorium a ON a.id = s.auditorium_id
            WHERE a.slug = $1 ORDER BY s.starts_at LIMIT 1
            """,
            auditorium,
        )
    return screening_id


async def hold(
    client: Client, screening_id: UUID, body: dict[str, Any], client_id: str = "test-client"
) -> Any:
    return await client.post(
        f"/v1/screenings/{screening_id}/holds", json=body, headers=caller(client_id)
    )


def token_of(response: Any) -> dict[str, str]:
    return {"X-Hold-Token": response.json()["token"]}


def confirm_body(labels: list[str], ticket_type: str = "adult") -> dict[str, Any]:
    return {
        "patron": {"name": "Ana Pop", "email": "ana@example.org"},
        "tickets": [{"seat": label, "ticket_type": ticket_type} for label in labels],
    }


async def events(pool: asyncpg.Pool, event_type: str) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT payload FROM outbox WHERE event_type = $1 ORDER BY position", event_type
        )
    return [row["payload"] for row in rows]


async def backdate(pool: asyncpg.Pool, hold_id: str | UUID, seconds: float = 1.0) -> None:
    """Make a hold's expiry time pass (as if `seconds` ago), without any worker running."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            UPDATE hold SET created_at = created_at - interval '1 hour',
                            expires_at = now() - make_interval(secs => $2)
            WHERE id = $1
            """,
            UUID(str(hold_id)),
            seconds,
        )
        await conn.execute(
            "UPDATE seat_claim SET expires_at = now() - make_interval(secs => $2)"
            " WHERE hold_id = $1 AND kind = 'hold'",
            UUID(str(hold_id)),
            seconds,
        )


async def seat_statuses(client: Client, screening_id: UUID) -> dict[str, str]:
    response = await client.get(f"/v1/screenings/{screening_id}/seats")
    assert response.status_code == 200, response.text
    return {seat["label"]: seat["status"] for seat in response.json()["seats"]}
