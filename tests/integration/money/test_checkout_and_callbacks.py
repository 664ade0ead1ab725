"""Checkout and the providers' callbacks through the API, acted on by the service the worker
runs: the clock stopped, a payment booked once, a late one seated again or "paid, not seated",
a failure giving the hold its own clock back, and every refusal a problem."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.box_office import service as box_office
from services.money import service as money
from tests.integration.box_office.helpers import backdate, confirm_body, hold
from tests.integration.money.helpers import (
    PROVIDER,
    callback_body,
    checkout,
    post_callback,
    signed,
    unique,
)


async def act(pool: asyncpg.Pool, event_id: str, provider: str = PROVIDER) -> str | None:
    async with pool.acquire() as conn:
        return await money.act_on_callback(conn, provider, event_id, datetime.now(UTC))


async def booking_of_hold(pool: asyncpg.Pool, hold_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT reference, status, paid, refunded, total FROM booking WHERE hold_id = $1",
        UUID(hold_id),
    )


def assert_refused(response: Any, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert (error["field"], error["reason"], error["source"]) == (
        "Usher-Signature",
        reason,
        "header",
    )


async def test_checkout_stops_the_clock_for_the_window_and_fixes_the_hold(client, small, demo):
    made, token, started = await checkout(client, small, ["C3", "C4"])
    assert (started["amount"], started["currency"], started["status"]) == (3000, "USD", "open")
    assert [line["seat"] for line in started["breakdown"]] == ["C3", "C4"]
    expires_at = datetime.fromisoformat(started["expires_at"])
    # the demo venue's window is 15 minutes (migration 020's default)
    assert timedelta(minutes=14) < expires_at - datetime.now(UTC) <= timedelta(minutes=15)
    row = await demo.fetchrow(
        "SELECT expires_at, latest_expiry FROM hold WHERE id = $1", UUID(made["id"])
    )
    assert row["expires_at"] == expires_at
    assert row["latest_expiry"] >= expires_at
    claims = await demo.fetch(
        "SELECT expires_at FROM seat_claim WHERE hold_id = $1", UUID(made["id"])
    )
    assert [c["expires_at"] for c in claims] == [expires_at, expires_at]
    # the hold's own expiry passing does not end it: the expiry job finds it live
    async with demo.acquire() as conn:
        later = datetime.fromisoformat(made["expires_at"]) + timedelta(seconds=1)
        assert await box_office.expire_hold(conn, UUID(made["id"]), later) == expires_at
        assert await box_office.sweep_expired_holds(conn, later) == 0
    # no extension, no change, no confirmation meanwhile
    for response in (
        await client.post(f"/v1/holds/{made['id']}/extend", headers=token),
        await client.patch(f"/v1/holds/{made['id']}", json={"add": ["C5"]}, headers=token),
        await client.post(
            f"/v1/holds/{made['id']}/confirm",
            json=confirm_body(["C3", "C4"]),
            headers={**token, "Idempotency-Key": "another"},
        ),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["reason"] == "in checkout"
    # a retry answers the same checkout; another key is refused
    again = await client.post(
        f"/v1/holds/{made['id']}/checkout",
        json=confirm_body(["C3", "C4"]),
        headers={**token, "Idempotency-Key": f"pay-{made['id']}"},
    )
    assert (again.status_code, again.json()["id"]) == (200, started["id"])
    other = await client.post(
        f"/v1/holds/{made['id']}/checkout",
        json=confirm_body(["C3", "C4"]),
        headers={**token, "Idempotency-Key": "other"},
    )
    assert other.status_code == 409


async def test_a_payment_makes_the_booking_once_and_confirm_retry_reads_it(client, small, demo):
    made, token, started = await checkout(client, small, ["D1", "D2"])
    body = callback_body(started, "evt-1")
    first = await post_callback(client, body)
    assert (first.status_code, first.json()) == (200, {"received": True, "duplicate": False})
    second = await post_callback(client, body)
    assert second.json() == {"received": True, "duplicate": True}
    assert await booking_of_hold(demo, made["id"]) is None  # answered first, acted on after
    outcome = await act(demo, "evt-1")
    assert outcome is not None
    assert outcome.startswith("booked ")
    assert await act(demo, "evt-1") is None  # once
    # the provider reports the same payment under another event id: still one payment
    assert await post_callback(client, callback_body(started, "evt-1b"))
    assert await act(demo, "evt-1b") == "duplicate payment"
    booking = await booking_of_hold(demo, made["id"])
    assert booking is not None
    assert (booking["status"], booking["paid"], booking["total"]) == ("confirmed", 3000, 3000)
    assert await demo.fetchval("SELECT count(*) FROM payment") == 1
    # the client's confirm, retried with the checkout's key and body, reads the booking
    read = await client.post(
        f"/v1/holds/{made['id']}/confirm",
        json=confirm_body(["D1", "D2"]),
        headers={**token, "Idempotency-Key": f"pay-{made['id']}"},
    )
    assert read.status_code == 200, read.text
    assert read.json()["reference"] == booking["reference"]
    assert (read.json()["paid"], read.json()["refund_owed"]) == (3000, 0)
    assert read.json()["secret"]
    kinds = [
        r["event_type"] for r in await demo.fetch("SELECT event_type FROM outbox ORDER BY position")
    ]
    assert kinds.count("payment.callback_received") == 2
    assert kinds.count("payment.recorded") == 1
    assert kinds.count("booking.confirmed") == 1


async def test_signature_refusals_are_problems_and_store_nothing(client, small, demo):
    _, _, started = await checkout(client, small, ["E1"])
    body = callback_body(started, "evt-sig")
    now = int(time.time())
    wrong = signed(body)
    wrong["Usher-Signature"] = wrong["Usher-Signature"][:-4] + "0000"
    cases = [
        (
            await client.post(f"/v1/payments/callbacks/{PROVIDER}", content=body, headers=wrong),
            "signature",
        ),
        (await post_callback(client, body, at=now - 301), "timestamp"),
        (await post_callback(client, body, at=now + 301), "timestamp"),
        (
            await client.post(
                "/v1/payments/callbacks/nopay",
                content=body,
                headers=signed(body),
            ),
            "unknown provider",
        ),
        (
            await client.post(
                f"/v1/payments/callbacks/{PROVIDER}",
                content=body,
                headers={"Content-Type": "application/json"},
            ),
            "malformed",
        ),
        (
            # signed for another provider: its secret is not this one's
            await client.post(
                f"/v1/payments/callbacks/{PROVIDER}",
                content=body,
                headers=signed(body, provider="otherpay"),
            ),
            "signature",
        ),
        (
            # the body changed after signing
            await client.post(
                f"/v1/payments/callbacks/{PROVIDER}",
                content=body.replace(b"evt-sig", b"evt-sih"),
                headers=signed(body),
            ),
            "signature",
        ),
    ]
    for response, reason in cases:
        assert_refused(response, reason)
    # a rotation: two v1 entries, one of them right, is accepted
    good = signed(body)
    good["Usher-Signature"] = good["Usher-Signature"].replace("v1=", "v1=" + "0" * 64 + ",v1=")
    ok = await client.post(f"/v1/payments/callbacks/{PROVIDER}", content=body, headers=good)
    assert ok.status_code == 200, ok.text
    assert await demo.fetchval("SELECT count(*) FROM payment_callback") == 1
    # a signed body of the wrong shape: 400 naming the field
    amount = f'"amount":{started["amount"]}'.encode()
    bad = callback_body(started, "evt-bad").replace(amount, amount.replace(b":", b':"') + b'"')
    refused = await post_callback(client, bad)
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "amount" in refused.text


async def test_a_failed_payment_gives_the_hold_its_own_clock_back(client, small, demo):
    made, token, started = await checkout(client, small, ["F1"])
    await post_callback(client, callback_body(started, "evt-f", "payment.failed"))
    assert await act(demo, "evt-f") == "failed"
    row = await demo.fetchrow("SELECT status, expires_at FROM hold WHERE id = $1", UUID(made["id"]))
    assert row["status"] == "live"
    assert row["expires_at"] == datetime.fromisoformat(made["expires_at"])
    status = await demo.fetchval("SELECT status FROM checkout WHERE id = $1", UUID(started["id"]))
    assert status == "failed"
    # another card: a checkout again, then a success books
    again = await client.post(
        f"/v1/holds/{made['id']}/checkout",
        json=confirm_body(["F1"]),
        headers={**token, "Idempotency-Key": "second-card"},
    )
    assert again.status_code == 201, again.text
    await post_callback(client, callback_body(again.json(), "evt-s", payment_id="p2"))
    assert (await act(demo, "evt-s") or "").startswith("booked")
    # the older failure arriving late changes nothing
    await post_callback(client, callback_body(started, "evt-f-late", "payment.failed"))
    assert await act(demo, "evt-f-late") == "failure after paid: nothing to do"


async def test_a_late_payment_books_the_same_seats_when_free(client, small, demo):
    made, _, started = await checkout(client, small, ["G1", "G2"])
    await backdate(demo, made["id"])
    async with demo.acquire() as conn:
        await box_office.sweep_expired_holds(conn, datetime.now(UTC))
    assert await demo.fetchval("SELECT status FROM hold WHERE id = $1", UUID(made["id"])) == (
        "expired"
    )
    await post_callback(client, callback_body(started, "evt-late"))
    assert (await act(demo, "evt-late") or "").startswith("booked")
    booking = await booking_of_hold(demo, made["id"])
    assert booking is not None
    assert (booking["status"], booking["paid"]) == ("confirmed", 3000)
    seats = await client.get(f"/v1/screenings/{small}/seats")
    booked = {s["label"] for s in seats.json()["seats"] if s["status"] == "booked"}
    assert booked == {"G1", "G2"}


async def test_a_late_payment_whose_seats_are_gone_is_paid_not_seated_then_reseated(
    client, small, demo, manager
):
    made, token, started = await checkout(client, small, ["H1", "H2"])
    await backdate(demo, made["id"])
    taken = await hold(client, small, {"seats": ["H2"]}, "someone-else")
    assert taken.status_code == 201, taken.text
    await post_callback(client, callback_body(started, "evt-gone"))
    outcome = await act(demo, "evt-gone")
    assert outcome is not None
    assert outcome.endswith("seats taken")
    booking = await booking_of_hold(demo, made["id"])
    assert booking is not None
    assert (booking["status"], booking["paid"]) == ("unseated", 3000)
    reference = booking["reference"]
    # the website's retry of its confirmation reads the booking, seats or none (the hold's
    # expiry has passed and no sweep has ended it yet)
    retry = await client.post(
        f"/v1/holds/{made['id']}/confirm",
        json=confirm_body(["H1", "H2"]),
        headers={**token, "Idempotency-Key": f"pay-{made['id']}"},
    )
    assert retry.status_code == 200, retry.text
    assert (retry.json()["reference"], retry.json()["status"]) == (reference, "unseated")
    listed = await client.get("/v1/payments/unseated", headers=manager)
    assert listed.status_code == 200, listed.text
    (row,) = listed.json()
    assert (row["reference"], row["refund_owed"], row["seats_wanted"]) == (
        reference,
        3000,
        ["H1", "H2"],
    )
    assert (await client.get("/v1/payments/unseated")).status_code == 401
    events = [
        r["payload"]
        for r in await demo.fetch(
            "SELECT payload FROM outbox WHERE event_type = 'booking.unseated'"
        )
    ]
    assert [(e["reference"], e["why"], e["paid"]) for e in events] == [
        (reference, "seats taken", 3000)
    ]
    # re-seat on other seats: once (a double click is refused by the status it expects)
    body = {"seats": ["G3", "G4"], "expected_status": "unseated"}
    seated = await client.post(f"/v1/bookings/{reference}/reseat", json=body, headers=manager)
    assert seated.status_code == 200, seated.text
    assert (seated.json()["status"], [s["label"] for s in seated.json()["seats"]]) == (
        "confirmed",
        ["G3", "G4"],
    )
    twice = await client.post(f"/v1/bookings/{reference}/reseat", json=body, headers=manager)
    assert twice.status_code == 409
    assert twice.json()["errors"][0]["field"] == "expected_status"
    assert (await client.get("/v1/payments/unseated", headers=manager)).json() == []


async def test_a_wrong_amount_is_kept_on_an_unseated_booking_with_its_refund_due(
    client, small, demo, manager
):
    made, _, started = await checkout(client, small, ["B1"])
    await post_callback(client, callback_body(started, "evt-amt", amount=999))
    assert (
        await act(demo, "evt-amt")
        == f"unseated {(await booking_of_hold(demo, made['id']))['reference']}: amount"
    )
    booking = await booking_of_hold(demo, made["id"])
    assert (booking["status"], booking["paid"]) == ("unseated", 999)
    assert await demo.fetchval("SELECT status FROM hold WHERE id = $1", UUID(made["id"])) == (
        "released"
    )
    # the refund action of the list: the whole payment, once
    refund = {
        "amount": 999,
        "reason": "wrong amount",
        "method": "provider",
        "provider_reference": "re_1",
        "expected_refunded": 0,
    }
    path = f"/v1/bookings/{booking['reference']}/refunds"
    done = await client.post(path, json=refund, headers=manager)
    assert done.status_code == 201, done.text
    assert (done.json()["refunded"], done.json()["refund_owed"]) == (999, 0)
    again = await client.post(path, json=refund, headers=manager)
    assert again.status_code == 409
    assert (await client.get("/v1/payments/unseated", headers=manager)).json() == []


async def test_a_callback_for_an_unknown_checkout_is_kept_not_lost(client, demo):
    body = callback_body({"id": str(UUID(int=7)), "amount": 100, "currency": "USD"}, unique("e"))
    response = await post_callback(client, body)
    assert response.status_code == 200
    (row,) = await demo.fetch("SELECT provider, event_id FROM payment_callback")
    assert await act(demo, row["event_id"]) == "unknown checkout"
    assert await demo.fetchval("SELECT outcome FROM payment_callback") == "unknown checkout"


async def test_the_sweep_acts_on_callbacks_no_consumer_did(client, small, demo):
    made, _, started = await checkout(client, small, ["B3"])
    await post_callback(client, callback_body(started, "evt-sweep"))
    async with demo.acquire() as conn:
        later = datetime.now(UTC) + timedelta(seconds=30)
        assert await money.sweep_callbacks(conn, later, timedelta(seconds=10)) == 1
        assert await money.sweep_callbacks(conn, later, timedelta(seconds=10)) == 0
    booking = await booking_of_hold(demo, made["id"])
    assert booking is not None
    assert booking["status"] == "confirmed"
