"""Fixtures and helpers for the box-office tests: demo screenings and a client that holds."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

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


@pytest.fixture
async def big(demo: asyncpg.Pool) -> UUID:
    """A GHOST TROPIC screening in Cinema 1: 300 seats, row M with wheelchair spaces."""
    return await screening_in(demo, "cinema-1")


@pytest.fixture
async def small(demo: asyncpg.Pool) -> UUID:
    """A HERE screening in Cinema 2: 92 seats."""
    return await screening_in(demo, "cinema-2")


async def hold(
    client: Client, screening_id: UUID, body: dict[str, Any], client_id: str = "test-client"
) -> Any:
    return await client.post(
        f"/v1/screenings/{screening_id}/holds", json=body, headers={"X-Client-Id": client_id}
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
