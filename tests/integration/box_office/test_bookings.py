"""Confirming holds (idempotently), bookings, their cancellation and refunds."""

from __future__ import annotations

from tests.integration.box_office.helpers import confirm_body, events, hold, seat_statuses, token_of


async def _held(client, screening, labels, client_id="web"):
    response = await hold(client, screening, {"seats": labels}, client_id=client_id)
    assert response.status_code == 201, response.text
    return f"/v1/holds/{response.json()['id']}", token_of(response)


async def test_confirm_makes_a_booking_with_reference_secret_and_prices(client, small, demo):
    path, token = await _held(client, small, ["C5", "C6"])
    body = confirm_body(["C5", "C6"])
    body["tickets"][1]["ticket_type"] = "senior"
    body["payment_reference"] = "pi_123"
    response = await client.post(
        f"{path}/confirm", json=body, headers={**token, "Idempotency-Key": "order-1"}
    )
    assert response.status_code == 201, response.text
    booking = response.json()
    assert response.headers["location"] == f"/v1/bookings/{booking['reference']}"
    assert len(booking["reference"]) == 7
    assert [(s["label"], s["ticket_type"], s["amount"]) for s in booking["seats"]] == [
        ("C5", "adult", 1500),
        ("C6", "senior", 1200),
    ]
    assert (booking["total"], booking["currency"]) == (2700, "USD")
    assert booking["payment_reference"] == "pi_123"
    assert booking["status"] == "confirmed"
    statuses = await seat_statuses(client, small)
    assert statuses["C5"] == statuses["C6"] == "booked"
    [confirmed] = await events(demo, "booking.confirmed")
    assert (confirmed["reference"], confirmed["patron_email"]) == (
        booking["reference"],
        "ana@example.org",
    )
    # The patron sees it with the secret; nobody else does.
    mine = await client.get(
        f"/v1/bookings/{booking['reference']}", headers={"X-Booking-Secret": booking["secret"]}
    )
    assert mine.status_code == 200
    assert "secret" not in mine.json()
    assert (await client.get(f"/v1/bookings/{booking['reference']}")).status_code == 401
    wrong = {"X-Booking-Secret": "nope"}
    assert (
        await client.get(f"/v1/bookings/{booking['reference']}", headers=wrong)
    ).status_code == 403
    # A confirmed hold is done.
    assert (await client.delete(path, headers=token)).status_code == 409
    assert (await client.post(f"{path}/extend", headers=token)).status_code == 409


async def test_a_retried_confirm_answers_the_same_booking(client, small, demo):
    path, token = await _held(client, small, ["D5", "D6"])
    headers = {**token, "Idempotency-Key": "order-2"}
    first = await client.post(f"{path}/confirm", json=confirm_body(["D5", "D6"]), headers=headers)
    assert first.status_code == 201
    # Same key, same body (tickets in another order): the same booking, secret included.
    body = confirm_body(["D6", "D5"])
    again = await client.post(f"{path}/confirm", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    # Same key, another body: refused.
    other = confirm_body(["D5", "D6"], ticket_type="student")
    refused = await client.post(f"{path}/confirm", json=other, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert refused.json()["errors"][0]["source"] == "header"
    # Another key: the hold is already a booking.
    conflict = await client.post(
        f"{path}/confirm",
        json=confirm_body(["D5", "D6"]),
        headers={**token, "Idempotency-Key": "x"},
    )
    assert conflict.status_code == 409
    assert conflict.json()["reference"] == first.json()["reference"]
    async with demo.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM booking") == 1
    assert len(await events(demo, "booking.confirmed")) == 1


async def test_confirm_needs_the_key_the_token_and_a_ticket_per_seat(client, small):
    path, token = await _held(client, small, ["E5", "E6"])
    no_key = await client.post(f"{path}/confirm", json=confirm_body(["E5", "E6"]), headers=token)
    assert no_key.status_code == 400
    no_token = await client.post(
        f"{path}/confirm", json=confirm_body(["E5", "E6"]), headers={"Idempotency-Key": "k"}
    )
    assert no_token.status_code == 401
    headers = {**token, "Idempotency-Key": "k"}
    for body, field in [
        (confirm_body(["E5"]), "tickets"),
        (confirm_body(["E5", "E6", "E7"]), "tickets[2].seat"),
        (confirm_body(["E5", "E6"], ticket_type="child"), "tickets[0].ticket_type"),
    ]:
        response = await client.post(f"{path}/confirm", json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field
    bad_email = confirm_body(["E5", "E6"])
    bad_email["patron"]["email"] = "not an email"
    assert (
        await client.post(f"{path}/confirm", json=bad_email, headers=headers)
    ).status_code == 400
    # Refused confirmations changed nothing: the same key still confirms.
    ok = await client.post(f"{path}/confirm", json=confirm_body(["E5", "E6"]), headers=headers)
    assert ok.status_code == 201, ok.text


async def test_the_patron_cancels_and_the_seats_are_back_on_sale(client, small, demo):
    path, token = await _held(client, small, ["F5", "F6"])
    booking = (
        await client.post(
            f"{path}/confirm",
            json=confirm_body(["F5", "F6"]),
            headers={**token, "Idempotency-Key": "k"},
        )
    ).json()
    secret = {"X-Booking-Secret": booking["secret"]}
    cancel = f"/v1/bookings/{booking['reference']}/cancel"
    staff_only = await client.post(cancel, json={"refund": False}, headers=secret)
    assert staff_only.status_code == 422
    response = await client.post(cancel, json={"reason": "ill"}, headers=secret)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["refund_due"]) == ("cancelled", True)
    assert response.json()["cancelled_by"] == "patron"
    assert (await seat_statuses(client, small))["F5"] == "available"
    again = await client.post(cancel, json={}, headers=secret)
    assert again.status_code == 200
    assert again.json()["cancelled_at"] == response.json()["cancelled_at"]
    [cancelled] = await events(demo, "booking.cancelled")
    assert (cancelled["by"], cancelled["refund_due"], cancelled["seat_labels"]) == (
        "patron",
        True,
        ["F5", "F6"],
    )
    assert (await hold(client, small, {"seats": ["F5", "F6"]}, client_id="next")).status_code == 201


async def test_staff_cancel_any_booking_and_decide_the_refund(client, small, staff, demo):
    path, token = await _held(client, small, ["G5"])
    booking = (
        await client.post(
            f"{path}/confirm", json=confirm_body(["G5"]), headers={**token, "Idempotency-Key": "k"}
        )
    ).json()
    reference = booking["reference"]
    assert (await client.get(f"/v1/bookings/{reference.lower()}", headers=staff)).status_code == 200
    response = await client.post(
        f"/v1/bookings/{reference}/cancel",
        json={"refund": False, "reason": "policy"},
        headers=staff,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["cancelled_by"], response.json()["refund_due"]) == ("staff", False)
    listed = await client.get(f"/v1/screenings/{small}/bookings", headers=staff)
    assert [b["reference"] for b in listed.json()] == [reference]
    assert (await client.get(f"/v1/screenings/{small}/bookings")).status_code == 401
    async with demo.acquire() as conn:
        action = await conn.fetchval(
            "SELECT action FROM staff_action WHERE action = 'booking.cancelled'"
        )
    assert action == "booking.cancelled"
