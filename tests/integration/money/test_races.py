"""Races through a real API server process and the worker's own service calls on separate
connections: a callback delivered many times at once is one payment; a callback racing the
hold's expiry (and a competing hold on its seats) is exactly one booking, seated or not; staff
refunding one booking at once never refund past what was paid."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import pytest

from services.box_office import service as box_office
from services.ids import uuid7
from services.money import service as money
from services.money import store
from tests.integration.box_office.helpers import confirm_body
from tests.integration.money.helpers import PROVIDER, callback_body, signed
from tests.integration.racing import at_once, caller, clients

pytestmark = pytest.mark.slow
DOC = (Path(__file__).resolve().parents[3] / "docs" / "money.md").read_text()


async def hold_in_checkout(
    http: httpx.AsyncClient, screening: UUID, labels: list[str], who: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    made = await http.post(
        f"/v1/screenings/{screening}/holds", json={"seats": labels}, headers=caller(who)
    )
    assert made.status_code == 201, made.text
    started = await http.post(
        f"/v1/holds/{made.json()['id']}/checkout",
        json=confirm_body(labels),
        headers={"X-Hold-Token": made.json()["token"], "Idempotency-Key": "k"},
    )
    assert started.status_code == 201, started.text
    return made.json(), started.json()


async def act(pool: asyncpg.Pool, event_id: str, now: datetime | None = None) -> str | None:
    async with pool.acquire() as conn:
        return await money.act_on_callback(conn, PROVIDER, event_id, now or datetime.now(UTC))


async def test_a_callback_delivered_many_times_at_once_is_one_payment(api, small, demo):
    async with httpx.AsyncClient(base_url=api) as http:
        _made, started = await hold_in_checkout(http, small, ["C1", "C2"], "twice")
    body = callback_body(started, "evt-twice")
    # the same event 8 times at once, and the same payment under 3 other event ids
    bodies = [body] * 8 + [callback_body(started, f"evt-other-{n}") for n in range(3)]
    async with clients(api, len(bodies)) as made_clients:
        answers = await at_once(
            [
                lambda c=c, b=b: c.post(
                    f"/v1/payments/callbacks/{PROVIDER}", content=b, headers=signed(b)
                )
                for c, b in zip(made_clients, bodies, strict=True)
            ]
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["duplicate"] for a in answers[:8]) == [False] + [True] * 7
    # several workers act on all of them at once
    ids = ["evt-twice", "evt-other-0", "evt-other-1", "evt-other-2"]
    outcomes = await asyncio.gather(*(act(demo, i) for i in ids * 3))
    assert sum(1 for o in outcomes if o and o.startswith("booked")) == 1
    assert sum(1 for o in outcomes if o == "duplicate payment") == 3
    assert await demo.fetchval("SELECT count(*) FROM payment") == 1
    assert await demo.fetchval("SELECT count(*) FROM booking") == 1
    assert await demo.fetchval("SELECT paid FROM booking") == started["amount"]
    assert await demo.fetchval("SELECT count(*) FROM payment_callback") == 4
    assert (
        await demo.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = $1", "payment.callback_received"
        )
        == 4
    )


async def test_a_callback_racing_the_expiry_is_exactly_one_booking(api, small, demo):
    rng = random.Random(17)
    rounds = 12
    async with httpx.AsyncClient(base_url=api) as http:
        for n in range(rounds):
            labels = [f"{'ABCDEFGH'[n % 8]}{1 + 2 * (n // 8)}"]
            made, started = await hold_in_checkout(http, small, labels, f"late-{n}")
            # the checkout's window ends now: every step below runs past it
            async with demo.acquire() as conn:
                await conn.execute(
                    "UPDATE hold SET expires_at = now() - interval '1 ms' WHERE id = $1",
                    UUID(made["id"]),
                )
                await conn.execute(
                    "UPDATE seat_claim SET expires_at = now() - interval '1 ms' WHERE hold_id = $1",
                    UUID(made["id"]),
                )
            body = callback_body(started, f"evt-race-{n}")
            compete = rng.random() < 0.5

            async def expire(made: dict[str, Any] = made) -> None:
                async with demo.acquire() as conn:
                    await box_office.expire_hold(conn, UUID(made["id"]), datetime.now(UTC))

            async def deliver(body: bytes = body, n: int = n) -> None:
                response = await http.post(
                    f"/v1/payments/callbacks/{PROVIDER}", content=body, headers=signed(body)
                )
                assert response.status_code == 200
                await act(demo, f"evt-race-{n}")

            async def competitor(labels: list[str] = labels, n: int = n) -> int:
                response = await http.post(
                    f"/v1/screenings/{small}/holds",
                    json={"seats": labels},
                    headers=caller(f"rival-{n}"),
                )
                return response.status_code

            calls = [expire, deliver, expire] + ([competitor] if compete else [])
            rng.shuffle(calls)
            results = await at_once(calls)
            bookings = await demo.fetch(
                "SELECT status, paid FROM booking WHERE hold_id = $1", UUID(made["id"])
            )
            assert len(bookings) == 1, (n, bookings)  # never both, never neither
            (booking,) = bookings
            assert booking["paid"] == started["amount"]
            rival = next((r for r in results if isinstance(r, int)), None)
            if booking["status"] == "confirmed":
                assert rival in (None, 409)
            else:
                assert (booking["status"], rival) == ("unseated", 201)
    assert await demo.fetchval("SELECT count(*) FROM payment") == rounds
    owners = await demo.fetch(
        "SELECT seat_id, count(*) FROM seat_claim WHERE screening_id = $1 GROUP BY seat_id"
        " HAVING count(*) > 1",
        small,
    )
    assert owners == []


async def test_staff_refunding_one_booking_at_once_never_refund_past_paid(
    api, small, demo, manager
):
    async with httpx.AsyncClient(base_url=api) as http:
        _made, started = await hold_in_checkout(http, small, ["D1", "D2"], "refunds")
        body = callback_body(started, "evt-refunds")
        await http.post(f"/v1/payments/callbacks/{PROVIDER}", content=body, headers=signed(body))
    await act(demo, "evt-refunds")
    reference = await demo.fetchval("SELECT reference FROM booking")
    refund = {"amount": 2000, "reason": "r", "method": "card", "expected_refunded": 0}
    async with clients(api, 10) as staff:
        answers = await at_once(
            [
                lambda c=c: c.post(
                    f"/v1/bookings/{reference}/refunds", json=refund, headers=manager
                )
                for c in staff
            ]
        )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 9
    assert all(
        a.headers["content-type"] == "application/problem+json"
        for a in answers
        if a.status_code == 409
    )
    row = await demo.fetchrow("SELECT paid, refunded FROM booking")
    assert (row["paid"], row["refunded"]) == (3000, 2000)
    assert await demo.fetchval("SELECT count(*) FROM refund") == 1


async def test_the_constraint_alone_refuses_concurrent_refunds_past_paid(small, demo, manager):
    """Under the service's own checks, PostgreSQL: refunds written at once, unchecked, each
    within what was paid on its own, are refused past the sum (booking_refund_within_paid)."""
    async with demo.acquire() as conn:
        booking_id = uuid7()
        venue = await conn.fetchval("SELECT venue_id FROM screening WHERE id = $1", small)
        staff_id = await conn.fetchval("SELECT id FROM staff_user LIMIT 1")
        hold_id = uuid7()
        now = datetime.now(UTC)
        await conn.execute(
            "INSERT INTO hold (id, screening_id, venue_id, token_hash, client_id, seat_ids,"
            " created_at, expires_at, latest_expiry, status, ended_at)"
            " VALUES ($1, $2, $3, $4, 'c', '{}', $5, $6, $6, 'confirmed', $5)",
            hold_id,
            small,
            venue,
            b"t" * 32,
            now,
            now + timedelta(minutes=1),
        )
        await conn.execute(
            "INSERT INTO booking (id, reference, screening_id, venue_id, hold_id, patron_name,"
            " patron_email, secret_hash, idempotency_key, request_hash, currency, total,"
            " created_at, paid) VALUES ($1, 'RACE1', $2, $3, $4, 'A', 'a@b.c', '', 'k', '',"
            " 'USD', 3000, $5, 3000)",
            booking_id,
            small,
            venue,
            hold_id,
            now,
        )

    async def refund() -> str:
        async with demo.acquire() as conn, conn.transaction():
            try:
                await store.add_refund(
                    conn,
                    store.RefundRow(
                        id=uuid7(),
                        booking_id=booking_id,
                        venue_id=venue,
                        amount=2000,
                        currency="USD",
                        reason="race",
                        method="cash",
                        recorded_at=datetime.now(UTC),
                        recorded_by=staff_id,
                    ),
                )
            except store.RefundPastPaid:
                return "refused"
            return "refunded"

    results = await asyncio.gather(*(refund() for _ in range(6)))
    assert sorted(results) == ["refunded"] + ["refused"] * 5
    assert await demo.fetchval("SELECT refunded FROM booking WHERE id = $1", booking_id) == 2000


async def test_the_documented_signing_example_is_accepted_by_the_server(api, small, demo):
    """docs/money.md's Python example, run as written against a real server."""
    from tests.integration.money.helpers import secret

    code = DOC.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/money.md", "exec"), namespace)
    async with httpx.AsyncClient(base_url=api) as http:
        _, started = await hold_in_checkout(http, small, ["E5"], "documented")
    event = msgspec.json.decode(callback_body(started, "evt-documented"))
    await asyncio.to_thread(namespace["send"], api, PROVIDER, secret(), event)
    assert (
        await demo.fetchval(
            "SELECT count(*) FROM payment_callback WHERE event_id = 'evt-documented'"
        )
        == 1
    )
    assert (await act(demo, "evt-documented") or "").startswith("booked ")
