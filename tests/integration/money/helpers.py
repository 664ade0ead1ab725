"""Helpers of the money tests: a hold in checkout, signed callbacks, a till booking."""

from __future__ import annotations

import os
import time
from typing import Any
from uuid import UUID

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.money.rules import signature_header
from services.settings import get_settings
from tests.integration.box_office.helpers import confirm_body, hold, token_of

Client = AsyncTestClient[Litestar]
PROVIDER = "testpay"


def secret(provider: str = PROVIDER) -> str:
    return get_settings().payments.secrets[provider]


def callback_body(
    checkout: dict[str, Any],
    event_id: str,
    kind: str = "payment.succeeded",
    *,
    payment_id: str | None = None,
    amount: int | None = None,
    currency: str | None = None,
) -> bytes:
    return msgspec.json.encode(
        {
            "id": event_id,
            "type": kind,
            "checkout_id": checkout["id"],
            "payment_id": payment_id or f"pay-{checkout['id']}",
            "amount": checkout["amount"] if amount is None else amount,
            "currency": currency or checkout["currency"],
            "occurred_at": "2026-12-06T10:00:00Z",
        }
    )


def signed(body: bytes, *, at: int | None = None, provider: str = PROVIDER) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "Usher-Signature": signature_header(secret(provider), stamp, body),
        "Content-Type": "application/json",
    }


async def checkout(
    client: Client, screening_id: UUID, labels: list[str], who: str = "payer"
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """A hold on `labels` put in checkout: (hold, its token header, checkout)."""
    made = await hold(client, screening_id, {"seats": labels}, who)
    assert made.status_code == 201, made.text
    token = token_of(made)
    started = await client.post(
        f"/v1/holds/{made.json()['id']}/checkout",
        json=confirm_body(labels),
        headers={**token, "Idempotency-Key": f"pay-{made.json()['id']}"},
    )
    assert started.status_code == 201, started.text
    return made.json(), token, started.json()


async def post_callback(client: Any, body: bytes, provider: str = PROVIDER, **sign: Any) -> Any:
    return await client.post(
        f"/v1/payments/callbacks/{provider}",
        content=body,
        headers=signed(body, provider=provider, **sign),
    )


def unique(label: str) -> str:
    return f"{label}-{os.urandom(6).hex()}"


async def unseated_booking(pool: Any, screening_id: UUID, labels: list[str], who: str) -> str:
    """A "paid, not seated" booking made as in life: a hold in checkout, its window passed, a
    rival holding one of its seats, then the payment: its reference."""
    from datetime import UTC, datetime

    from schemas.box_office import ConfirmIn, HoldIn
    from services.box_office import service as box_office
    from services.money import service as money
    from tests.integration.box_office.helpers import backdate

    box = get_settings().box_office
    data = msgspec.convert(confirm_body(labels), ConfirmIn)
    async with pool.acquire() as conn:
        now = datetime.now(UTC)
        made, _ = await box_office.request_hold(
            conn, screening_id, HoldIn(seats=labels), who, box, now
        )
        assert made.token is not None
        started, _ = await money.start_checkout(conn, made.id, made.token, who, data, now)
    await backdate(pool, made.id)
    async with pool.acquire() as conn:
        now = datetime.now(UTC)
        await box_office.request_hold(
            conn, screening_id, HoldIn(seats=labels[:1]), f"rival-{who}", box, now
        )
        body = callback_body(msgspec.to_builtins(started), f"evt-{who}-{os.urandom(4).hex()}")
        header = signature_header(secret(), int(now.timestamp()), body)
        received = msgspec.json.decode(body)
        await money.receive_callback(
            conn, get_settings().payments.secrets, PROVIDER, header, body, now
        )
        outcome = await money.act_on_callback(conn, PROVIDER, received["id"], now)
    assert outcome is not None
    assert outcome.startswith("unseated ")
    return outcome.split()[1].rstrip(":")
