"""Helpers of the prices tests: a venue's id, codes and memberships, holds and confirmations."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx

from tests.integration.racing import caller

Client = Any  # the in-process AsyncTestClient or an httpx.AsyncClient on the real server


async def venue_of(pool: asyncpg.Pool, screening_id: UUID) -> UUID:
    venue_id: UUID = await pool.fetchval(
        "SELECT venue_id FROM screening WHERE id = $1", screening_id
    )
    return venue_id


async def add_code(client: Client, venue_id: UUID, headers: dict[str, str], **body: Any) -> Any:
    response = await client.post(
        f"/v1/venues/{venue_id}/discount-codes",
        json={"kind": "percent", "amount": 10, **body},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def add_member(client: Client, venue_id: UUID, headers: dict[str, str], **body: Any) -> Any:
    response = await client.post(
        f"/v1/venues/{venue_id}/memberships",
        json={"name": "Mia Member", "valid_from": "2020-01-01", **body},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def hold_seats(
    client: Client, screening_id: UUID, body: dict[str, Any], who: str = "web"
) -> tuple[str, dict[str, str], list[str]]:
    """A new hold: its path, its token header and its seat labels."""
    response = await client.post(
        f"/v1/screenings/{screening_id}/holds", json=body, headers=caller(who)
    )
    assert response.status_code == 201, response.text
    held = response.json()
    return (
        f"/v1/holds/{held['id']}",
        {"X-Hold-Token": held["token"]},
        [seat["label"] for seat in held["seats"]],
    )


def tickets(labels: list[str], *kinds: str, **extra: Any) -> list[dict[str, Any]]:
    types = list(kinds) or ["adult"] * len(labels)
    return [
        {"seat": label, "ticket_type": kind, **extra}
        for label, kind in zip(labels, types, strict=True)
    ]


async def confirm(
    client: Client,
    path: str,
    token: dict[str, str],
    lines: list[dict[str, Any]],
    email: str = "ana@example.org",
    **body: Any,
) -> httpx.Response:
    response: httpx.Response = await client.post(
        f"{path}/confirm",
        json={"patron": {"name": "Ana Pop", "email": email}, "tickets": lines, **body},
        headers={**token, "Idempotency-Key": str(uuid4())},
    )
    return response


def field_of(response: httpx.Response) -> tuple[str, str]:
    """The first field a problem names, and why."""
    assert response.headers["content-type"] == "application/problem+json", response.text
    error = response.json()["errors"][0]
    return error["field"], error["reason"]
