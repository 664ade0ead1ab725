"""Helpers of the door tests: bookings made through the API, their codes, scans."""

from __future__ import annotations

import base64
import secrets
from typing import Any
from uuid import UUID

import asyncpg

from services.door import codes
from services.settings import get_settings
from tests.integration.box_office.helpers import confirm_body


async def book(
    client: Any, screening: UUID, labels: list[str], who: str = "web", wheelchairs: int = 0
) -> dict[str, Any]:
    """A confirmed booking of `labels` (hold, then confirm), as the API answers it."""
    held = await client.post(
        f"/v1/screenings/{screening}/holds",
        json={"seats": labels, "wheelchair_spaces": wheelchairs},
        headers={"X-Client-Id": who},
    )
    assert held.status_code == 201, held.text
    confirmed = await client.post(
        f"/v1/holds/{held.json()['id']}/confirm",
        json=confirm_body(labels),
        headers={"X-Hold-Token": held.json()["token"], "Idempotency-Key": secrets.token_hex(8)},
    )
    assert confirmed.status_code == 201, confirmed.text
    booking: dict[str, Any] = confirmed.json()
    return booking


def code_of(booking: dict[str, Any], ticket: int = codes.PARTY) -> str:
    """The signed code of a booking's ticket (0: the party), as the email carries it."""
    keys = codes.keyring(get_settings().door.signing_keys)
    code = codes.sign(keys, UUID(booking["id"]), ticket)
    assert code is not None
    return code


def code_bytes(code: str) -> bytes:
    encoded = code[len(codes.PREFIX) :]
    return base64.b32decode(encoded + "=" * (-len(encoded) % 8))


def scan_body(screening: UUID, code: str, door: str = "Main door", **extra: Any) -> dict[str, Any]:
    return {
        "screening_id": str(screening),
        "code": code,
        "scanner_id": extra.pop("scanner_id", "phone-1"),
        "nonce": extra.pop("nonce", secrets.token_hex(8)),
        "door": door,
        **extra,
    }


async def open_doors(pool: asyncpg.Pool, screening: UUID, minutes: int = 10) -> None:
    """Move the screening to start `minutes` from now, so its doors are open."""
    async with pool.acquire() as conn:
        await conn.execute(
            """
            UPDATE screening SET starts_at = now() + make_interval(mins => $2),
                   ends_at = now() + make_interval(mins => $2) + (ends_at - starts_at),
                   occupied_until = now() + make_interval(mins => $2) + (occupied_until - starts_at)
            WHERE id = $1
            """,
            screening,
            minutes,
        )


async def admissions(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM admission WHERE undone_at IS NULL ORDER BY seat_id")
