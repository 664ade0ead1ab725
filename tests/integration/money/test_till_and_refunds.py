"""Payments at the till and refunds through the API: staff only, up to the balance, never past
what was paid, once per click; what cancelling a paid booking leaves owed."""

from __future__ import annotations

from typing import Any

from tests.integration.box_office.helpers import confirm_body, hold, token_of


async def booked(client: Any, screening: Any, labels: list[str]) -> dict[str, Any]:
    made = await hold(client, screening, {"seats": labels}, "till")
    response = await client.post(
        f"/v1/holds/{made.json()['id']}/confirm",
        json=confirm_body(labels),
        headers={**token_of(made), "Idempotency-Key": made.json()["id"]},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_till_takes_up_to_the_balance_and_refunds_never_pass_what_was_paid(
    client, small, manager
):
    booking = await booked(client, small, ["A1", "A2"])  # 2 x 15.00
    assert (booking["paid"], booking["refunded"], booking["refund_owed"]) == (0, 0, 0)
    path = f"/v1/bookings/{booking['reference']}"
    paid = await client.post(
        f"{path}/payments", json={"method": "cash", "amount": 2000}, headers=manager
    )
    assert paid.status_code == 201, paid.text
    assert (paid.json()["paid"], paid.json()["balance"]) == (2000, 1000)
    too_much = await client.post(
        f"{path}/payments", json={"method": "card", "amount": 1001}, headers=manager
    )
    assert too_much.status_code == 409
    assert too_much.json()["errors"][0]["field"] == "amount"
    await client.post(f"{path}/payments", json={"method": "card", "amount": 1000}, headers=manager)
    refund: dict[str, Any] = {
        "amount": 3001,
        "reason": "a broken seat",
        "method": "cash",
        "expected_refunded": 0,
    }
    past = await client.post(f"{path}/refunds", json=refund, headers=manager)
    assert past.status_code == 409, past.text
    assert past.headers["content-type"] == "application/problem+json"
    assert past.json()["errors"][0]["field"] == "amount"
    refund["amount"] = 500
    partial = await client.post(f"{path}/refunds", json=refund, headers=manager)
    assert partial.status_code == 201, partial.text
    assert (partial.json()["refunded"], partial.json()["refund_owed"]) == (500, 0)
    (line,) = partial.json()["refunds"]
    assert (line["amount"], line["reason"], line["method"]) == (500, "a broken seat", "cash")
    stale = await client.post(f"{path}/refunds", json=refund, headers=manager)  # a double click
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["field"] == "expected_refunded"
    # cancelling the paid booking: what was paid and not refunded is owed, until recorded
    cancelled = await client.post(f"{path}/cancel", json={}, headers=manager)
    assert (cancelled.json()["status"], cancelled.json()["refund_owed"]) == ("cancelled", 2500)
    refund.update(amount=2500, expected_refunded=500, method="provider", provider_reference="r9")
    rest = await client.post(f"{path}/refunds", json=refund, headers=manager)
    assert (rest.json()["refunded"], rest.json()["refund_owed"]) == (3000, 0)
    money = await client.get(f"{path}/money", headers=manager)
    assert [p["method"] for p in money.json()["payments"]] == ["cash", "card"]
    assert [r["provider_reference"] for r in money.json()["refunds"]] == [None, "r9"]
    # a cancelled booking takes no payment
    late = await client.post(
        f"{path}/payments", json={"method": "cash", "amount": 1}, headers=manager
    )
    assert late.status_code == 409


async def test_money_routes_are_for_staff_and_refuse_hostile_bodies(client, small, manager):
    booking = await booked(client, small, ["A3"])
    path = f"/v1/bookings/{booking['reference']}"
    body = {"amount": 100, "reason": "x", "method": "cash", "expected_refunded": 0}
    assert (await client.post(f"{path}/refunds", json=body)).status_code == 401
    assert (
        await client.post(f"{path}/payments", json={"method": "cash", "amount": 1})
    ).status_code == 401
    for bad, field in (
        ({**body, "amount": 0}, "amount"),
        ({**body, "amount": -5}, "amount"),
        ({**body, "method": "bitcoin"}, "method"),
        ({**body, "reason": "a\nb"}, "reason"),
        ({k: v for k, v in body.items() if k != "expected_refunded"}, "expected_refunded"),
    ):
        response = await client.post(f"{path}/refunds", json=bad, headers=manager)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert field in response.text
