"""House seats, sold out and back on sale, and a cancelled screening's holds and bookings."""

from __future__ import annotations

from tests.integration.box_office.helpers import (
    backdate,
    confirm_body,
    events,
    hold,
    seat_statuses,
    token_of,
)

EVERY_SEAT_BUT_J4 = [f"{row}{n}" for row in "ABCDEFGH" for n in range(1, 12)] + ["J1", "J2", "J3"]


async def test_staff_block_and_unblock_house_seats(client, small, staff, demo):
    path = f"/v1/screenings/{small}/blocks"
    assert (await client.post(path, json={"seats": ["A5"]})).status_code == 401
    response = await client.post(path, json={"seats": ["A5", "A6"], "note": "press"}, headers=staff)
    assert response.status_code == 201, response.text
    assert response.json()["seats"] == ["A5", "A6"]
    assert (await seat_statuses(client, small))["A5"] == "blocked"
    assert (await hold(client, small, {"seats": ["A6"]})).status_code == 409
    held = await hold(client, small, {"seats": ["A7"]})
    refused = await client.post(path, json={"seats": ["A7", "A8"]}, headers=staff)
    assert refused.status_code == 409
    assert refused.json()["seats"] == ["A7"]
    assert (await seat_statuses(client, small))["A8"] == "available"
    not_blocked = await client.delete(path, params={"seat": ["A5", "A8"]}, headers=staff)
    assert not_blocked.status_code == 409
    assert (await seat_statuses(client, small))["A5"] == "blocked"
    unblocked = await client.delete(path, params={"seat": ["A5", "A6"]}, headers=staff)
    assert unblocked.status_code == 200, unblocked.text
    assert (await seat_statuses(client, small))["A5"] == "available"
    assert held.status_code == 201
    async with demo.acquire() as conn:
        actions = await conn.fetch("SELECT action FROM staff_action ORDER BY id")
    assert [row["action"] for row in actions][-2:] == ["seats.blocked", "seats.unblocked"]


async def _status(client, screening) -> str:
    response = await client.get(f"/v1/screenings/{screening}")
    assert response.status_code == 200
    return response.json()["status"]


async def test_sold_out_when_the_last_seat_goes_and_on_sale_when_one_returns(
    client, small, staff, demo
):
    await client.post(
        f"/v1/screenings/{small}/blocks", json={"seats": EVERY_SEAT_BUT_J4}, headers=staff
    )
    # Left on sale: J4 (a wheelchair space) and H5.
    await client.delete(f"/v1/screenings/{small}/blocks", params={"seat": ["H5"]}, headers=staff)
    assert await _status(client, small) == "on_sale"
    last = await hold(client, small, {"seats": ["H5"]}, client_id="one")
    assert last.status_code == 201
    chair = await hold(client, small, {"seats": ["J4"], "wheelchair_spaces": 1}, client_id="two")
    assert chair.status_code == 201
    assert await _status(client, small) == "sold_out"
    seat_map = (await client.get(f"/v1/screenings/{small}/seats")).json()
    assert seat_map["status"] == "sold_out"
    assert len(await events(demo, "screening.sold_out")) == 1
    # The hold expires with no worker: the screening reads as on sale at once...
    await backdate(demo, last.json()["id"])
    assert await _status(client, small) == "on_sale"
    assert (await client.get(f"/v1/screenings/{small}/seats")).json()["status"] == "on_sale"
    # ...and a release records it back on sale.
    assert (
        await client.delete(f"/v1/holds/{chair.json()['id']}", headers=token_of(chair))
    ).status_code == 204
    [back] = await events(demo, "screening.back_on_sale")
    assert back["seats_available"] == 2
    async with demo.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM screening WHERE id = $1", small) == "on_sale"


async def test_a_cancelled_screening_releases_its_holds_and_flags_its_bookings(
    client, small, manager, demo
):
    live = await hold(client, small, {"seats": ["C1", "C2"]}, client_id="one")
    dead = await hold(client, small, {"seats": ["C3"]}, client_id="two")
    await backdate(demo, dead.json()["id"])
    sold = await hold(client, small, {"seats": ["C5", "C6"]}, client_id="three")
    booking = (
        await client.post(
            f"/v1/holds/{sold.json()['id']}/confirm",
            json=confirm_body(["C5", "C6"]),
            headers={**token_of(sold), "Idempotency-Key": "k"},
        )
    ).json()
    cancelled = await client.post(
        f"/v1/screenings/{small}/cancel", json={"reason": "print lost"}, headers=manager
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    [released] = await events(demo, "hold.released")
    assert (released["hold_id"], released["by"]) == (live.json()["id"], "screening")
    [expired] = await events(demo, "hold.expired")
    assert expired["hold_id"] == dead.json()["id"]
    [flagged] = await events(demo, "booking.cancelled")
    assert (flagged["reference"], flagged["by"], flagged["refund_due"]) == (
        booking["reference"],
        "screening",
        True,
    )
    refunds = await client.get(
        f"/v1/screenings/{small}/bookings", params={"refund_due": "true"}, headers=manager
    )
    assert [b["reference"] for b in refunds.json()] == [booking["reference"]]
    statuses = await seat_statuses(client, small)
    assert set(statuses.values()) == {"available"}
    assert (await hold(client, small, {"seats": ["D1"]})).status_code == 409
    confirm = await client.post(
        f"/v1/holds/{live.json()['id']}/confirm",
        json=confirm_body(["C1", "C2"]),
        headers={**token_of(live), "Idempotency-Key": "k"},
    )
    assert confirm.status_code == 410
