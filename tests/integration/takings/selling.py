"""Selling, paying and refunding through the real endpoints, as the till and a website do: a
hold confirmed (priced by services/prices), the till's payments, a checkout paid by a signed
provider callback (acted on by the service the worker runs), refunds and cancellations. Each
step keeps what it wrote in a `Booked` (books.py), as the reports should sum it.

Direct SQL only moves time. The takings reports are about days and the endpoints write at
the present, so each booking, payment and refund just written is moved to a chosen past time
(`_place`), which lets a test spread its books over chosen days (around a clock change); what
is moved is found by its time: anything recorded since the test started. And a late payment's
checkout window is made to pass by `backdate`, as the money tests do."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.money import service as money
from tests.integration.box_office.helpers import backdate, hold, token_of
from tests.integration.money.helpers import PROVIDER, callback_body, post_callback
from tests.integration.takings.books import Booked, Line


@dataclass
class Till:
    client: AsyncTestClient[Litestar]
    pool: asyncpg.Pool
    staff: dict[str, str]
    tax_rate_bp: int
    started: datetime  # rows recorded since are the ones just written, to be placed
    sold: int = 0

    def who(self) -> str:
        self.sold += 1
        return f"patron-{self.sold}"


def confirm_body(tickets: list[tuple[str, str]], code: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patron": {"name": "Ana Pop", "email": "ana@example.org"},
        "tickets": [{"seat": seat, "ticket_type": kind} for seat, kind in tickets],
    }
    if code:
        body["discount_code"] = code
    return body


async def _place(till: Till, table: str, booking_id: UUID, at: datetime) -> None:
    """Move the row the endpoint just wrote to `at` (a chosen past time)."""
    column = "created_at" if table == "booking" else "recorded_at"
    key = "id" if table == "booking" else "booking_id"
    moved = await till.pool.fetch(
        f"UPDATE {table} SET {column} = $2 WHERE {key} = $1 AND {column} >= $3 RETURNING 1",
        booking_id,
        at,
        till.started,
    )
    assert len(moved) == 1, (table, booking_id, moved)


def _booked(till: Till, view: dict[str, Any], venue_id: UUID, at: datetime) -> Booked:
    lines = []
    for seat in view["seats"]:
        line = Line(
            UUID(seat["id"]),
            seat["ticket_type"],
            seat["list_price"],
            seat["discount"],
            seat["fee"],
            till.tax_rate_bp,
        )
        # the API's breakdown is the arithmetic docs/money.md states
        assert (line.amount, line.tax) == (seat["amount"], seat["tax"]), seat
        lines.append(line)
    assert view["total"] == sum(line.amount for line in lines)
    return Booked(
        UUID(view["id"]),
        view["reference"],
        UUID(view["screening_id"]),
        venue_id,
        view["currency"],
        at,
        lines,
        view["status"],
    )


async def sell(
    till: Till, show: asyncpg.Record, tickets: list[tuple[str, str]], code: str | None, at: datetime
) -> Booked:
    """A booking at the till (or by a website paying elsewhere): hold, confirm, paid = 0."""
    made = await hold(till.client, show["id"], {"seats": [s for s, _ in tickets]}, till.who())
    assert made.status_code == 201, made.text
    answer = await till.client.post(
        f"/v1/holds/{made.json()['id']}/confirm",
        json=confirm_body(tickets, code),
        headers={**token_of(made), "Idempotency-Key": made.json()["id"]},
    )
    assert answer.status_code == 201, answer.text
    booked = _booked(till, answer.json(), show["venue_id"], at)
    await _place(till, "booking", booked.id, at)
    return booked


async def _pay_online(
    till: Till, checkout: dict[str, Any], amount: int, currency: str, payment: str
) -> str:
    event = f"evt-{os.urandom(6).hex()}"
    body = callback_body(checkout, event, payment_id=payment, amount=amount, currency=currency)
    answer = await post_callback(till.client, body)
    assert answer.status_code == 200, answer.text
    async with till.pool.acquire() as conn:  # what the worker's `payments` consumer does
        outcome = await money.act_on_callback(conn, PROVIDER, event, datetime.now(UTC))
    assert outcome is not None
    return outcome


async def sell_online(
    till: Till,
    show: asyncpg.Record,
    tickets: list[tuple[str, str]],
    code: str | None,
    at: datetime,
    *,
    amount_off: int = 0,
    currency: str | None = None,
    late: bool = False,
    rival: bool = False,
) -> Booked:
    """A website's checkout paid by the provider's signed callback: booked, or "paid, not
    seated" when the amount or currency is not the checkout's, or the payment comes after the
    hold died (`late`) and another patron holds one of its seats (`rival`)."""
    labels = [s for s, _ in tickets]
    made = await hold(till.client, show["id"], {"seats": labels}, till.who())
    assert made.status_code == 201, made.text
    hold_id, body = made.json()["id"], confirm_body(tickets, code)
    key = {**token_of(made), "Idempotency-Key": f"pay-{hold_id}"}
    started = await till.client.post(f"/v1/holds/{hold_id}/checkout", json=body, headers=key)
    assert started.status_code == 201, started.text
    checkout = started.json()
    if late:
        await backdate(till.pool, hold_id)  # its checkout window has passed
        if rival:
            taken = await hold(till.client, show["id"], {"seats": labels[:1]}, till.who())
            assert taken.status_code == 201, taken.text
    amount = checkout["amount"] + amount_off
    outcome = await _pay_online(
        till, checkout, amount, currency or checkout["currency"], f"pay-{hold_id}"
    )
    unseated = amount_off != 0 or currency not in (None, checkout["currency"]) or rival
    assert outcome.startswith("unseated " if unseated else "booked "), outcome
    # the website reads the booking by retrying the confirmation with the checkout's key; but
    # a late payment left "paid, not seated" leaves its hold 'live' (past its expiry) until the
    # expiry worker ends it, and until then that retry answers 410: staff read it instead
    if rival:
        reference = outcome.split()[1].rstrip(":")
        read = await till.client.get(f"/v1/bookings/{reference}", headers=till.staff)
    else:
        read = await till.client.post(f"/v1/holds/{hold_id}/confirm", json=body, headers=key)
    assert read.status_code == 200, read.text
    booked = _booked(till, read.json(), show["venue_id"], at)
    assert booked.status == ("unseated" if unseated else "confirmed")
    booked.checkout = checkout
    await _place(till, "booking", booked.id, at)
    await _place(till, "payment", booked.id, at)
    booked.payments.append(("provider", amount, currency or checkout["currency"], at))
    return booked


async def pay_again_online(
    till: Till, booked: Booked, amount: int, currency: str, at: datetime
) -> None:
    """Another payment for the same checkout (a patron charged twice): recorded on its
    booking, whatever its state; what it pays beyond the total is owed back."""
    assert booked.checkout is not None
    outcome = await _pay_online(
        till, booked.checkout, amount, currency, f"pay-{os.urandom(6).hex()}"
    )
    assert outcome == f"recorded on booking {booked.reference}", outcome
    await _place(till, "payment", booked.id, at)
    booked.payments.append(("provider", amount, currency, at))


def balance(booked: Booked) -> int:
    """What the till may still take: total - paid + refunded (docs/money.md)."""
    return booked.total - booked.paid() + booked.refunded()


async def pay_at_till(till: Till, booked: Booked, method: str, amount: int, at: datetime) -> None:
    answer = await till.client.post(
        f"/v1/bookings/{booked.reference}/payments",
        json={"method": method, "amount": amount},
        headers=till.staff,
    )
    if amount > balance(booked) or booked.status != "confirmed":
        assert answer.status_code == 409, answer.text
        return
    assert answer.status_code == 201, answer.text
    assert answer.json()["balance"] == balance(booked) - amount
    await _place(till, "payment", booked.id, at)
    booked.payments.append((method, amount, booked.currency, at))


async def refund(till: Till, booked: Booked, method: str, amount: int, at: datetime) -> None:
    """A refund is recorded in the booking's currency (the endpoint has no other)."""
    body: dict[str, Any] = {
        "amount": amount,
        "reason": "test",
        "method": method,
        "expected_refunded": booked.refunded(),
    }
    if method == "provider":
        body["provider_reference"] = f"re-{os.urandom(4).hex()}"
    answer = await till.client.post(
        f"/v1/bookings/{booked.reference}/refunds", json=body, headers=till.staff
    )
    assert answer.status_code == 201, answer.text
    await _place(till, "refund", booked.id, at)
    booked.refunds.append((method, amount, booked.currency, at))


async def cancel(till: Till, booked: Booked, refund_due: bool) -> None:
    answer = await till.client.post(
        f"/v1/bookings/{booked.reference}/cancel",
        json={"reason": "test", "refund": refund_due},
        headers=till.staff,
    )
    assert answer.status_code == 200, answer.text
    booked.status = "cancelled"
