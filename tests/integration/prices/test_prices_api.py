"""Prices through the API: staff manage codes, memberships and the venue's fee and tax; a
confirmation is priced with them, and refused naming the field when it may not be."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

from services.box_office import service as box_office
from services.clock import now as _now
from tests.integration.box_office.helpers import backdate
from tests.integration.prices.helpers import (
    add_code,
    add_member,
    confirm,
    field_of,
    hold_seats,
    tickets,
    venue_of,
)


async def test_staff_manage_discount_codes(client, small, staff, demo):
    venue = await venue_of(demo, small)
    codes = f"/v1/venues/{venue}/discount-codes"
    made = await add_code(client, venue, staff, code="summer10", max_uses=5, per_patron_limit=1)
    assert (made["code"], made["uses"], made["active"]) == ("SUMMER10", 0, True)
    again = await client.post(
        codes, json={"code": "Summer10", "kind": "fixed", "amount": 1}, headers=staff
    )
    assert again.status_code == 409
    assert field_of(again) == ("code", "taken")
    for body, field in [
        ({"code": "BIG", "kind": "percent", "amount": 101}, "amount"),
        ({"code": "BIG", "kind": "fixed", "amount": 0}, "amount"),
        ({"code": "B G", "kind": "fixed", "amount": 5}, "code"),
        ({"code": "BIG", "kind": "fixed", "amount": 5, "film_id": str(uuid4())}, "film_id"),
        ({"code": "BIG", "kind": "fixed", "amount": 5, "max_uses": 0}, "max_uses"),
        (
            {
                "code": "BIG",
                "kind": "fixed",
                "amount": 5,
                "valid_from": "2026-02-02",
                "valid_until": "2026-02-01",
            },
            "valid_until",
        ),
    ]:
        refused = await client.post(codes, json=body, headers=staff)
        assert refused.status_code in (400, 422), refused.text
        assert field_of(refused)[0] == field, refused.text
    assert (await client.get(codes)).status_code == 401
    off = await client.patch(f"{codes}/{made['id']}", json={"active": False}, headers=staff)
    assert off.status_code == 200
    assert off.json()["active"] is False
    listed = (await client.get(codes, headers=staff)).json()
    assert [(c["code"], c["active"]) for c in listed] == [("SUMMER10", False)]
    assert (
        await client.get(f"/v1/venues/{uuid4()}/discount-codes", headers=staff)
    ).status_code == 404
    actions = await demo.fetch("SELECT action FROM staff_action ORDER BY id")
    assert [r["action"] for r in actions][-2:] == [
        "discount_code.created",
        "discount_code.deactivated",
    ]


async def test_staff_manage_memberships_and_managers_set_fee_and_tax(
    client, small, staff, manager, demo
):
    venue = await venue_of(demo, small)
    member = await add_member(client, venue, staff, number="M-1", expires_on="2030-12-31")
    path = f"/v1/venues/{venue}/memberships"
    taken = await client.post(
        path,
        json={"number": "M-1", "name": "X", "valid_from": "2020-01-01", "expires_on": "2030-01-01"},
        headers=staff,
    )
    assert (taken.status_code, field_of(taken)) == (409, ("number", "taken"))
    backwards = await client.post(
        path,
        json={"number": "M-2", "name": "X", "valid_from": "2021-01-01", "expires_on": "2020-01-01"},
        headers=staff,
    )
    assert (backwards.status_code, field_of(backwards)[0]) == (422, "expires_on")
    off = await client.patch(f"{path}/{member['id']}", json={"active": False}, headers=staff)
    assert off.json()["active"] is False
    assert [m["number"] for m in (await client.get(path, headers=staff)).json()] == ["M-1"]
    settings = f"/v1/venues/{venue}/prices"
    assert (await client.get(settings, headers=staff)).json()["booking_fee"] == 0
    assert (
        await client.patch(settings, json={"booking_fee": 50}, headers=staff)
    ).status_code == 403
    hostile = await client.patch(settings, json={"tax_rate_bp": 10_001}, headers=manager)
    assert (hostile.status_code, field_of(hostile)[0]) == (400, "tax_rate_bp")
    changed = await client.patch(
        settings, json={"booking_fee": 50, "tax_rate_bp": 2100}, headers=manager
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "venue_id": str(venue),
        "booking_fee": 50,
        "tax_rate_bp": 2100,
        "member_tickets_per_booking": 2,
    }


async def test_a_booking_carries_its_breakdown(client, small, staff, manager, demo):
    venue = await venue_of(demo, small)
    await client.patch(
        f"/v1/venues/{venue}/prices", json={"booking_fee": 100, "tax_rate_bp": 600}, headers=manager
    )
    await add_code(client, venue, staff, code="TEN", kind="percent", amount=10)
    path, token, labels = await hold_seats(client, small, {"seats": ["C5", "C6"]})
    response = await confirm(
        client, path, token, tickets(labels, "adult", "senior"), discount_code="ten"
    )
    assert response.status_code == 201, response.text
    booking = response.json()
    figures = [
        (s["label"], s["list_price"], s["discount"], s["fee"], s["amount"], s["tax"])
        for s in booking["seats"]
    ]
    # 1500 - 150 + 100 = 1450 (tax 1450 * 600 / 10600 = 82.08); 1200 - 120 + 100 = 1180 (66.79)
    assert figures == [("C5", 1500, 150, 100, 1450, 82), ("C6", 1200, 120, 100, 1180, 67)]
    assert booking["totals"] == {
        "list_price": 2700,
        "discount": 270,
        "fee": 200,
        "tax": 149,
        "amount": 2630,
    }
    assert (booking["total"], booking["discount_code"]) == (2630, "TEN")
    stored = await demo.fetch(
        "SELECT list_price, discount, fee, tax, amount FROM booking_seat ORDER BY list_price DESC"
    )
    assert [tuple(r) for r in stored] == [(1500, 150, 100, 82, 1450), (1200, 120, 100, 67, 1180)]
    assert await demo.fetchval("SELECT discount_code FROM booking") == "TEN"
    seen = await client.get(
        f"/v1/bookings/{booking['reference']}", headers={"X-Booking-Secret": booking["secret"]}
    )
    assert seen.json()["totals"] == booking["totals"]
    confirmed = await demo.fetchval(
        "SELECT payload->>'total' FROM outbox WHERE event_type = 'booking.confirmed'"
    )
    assert confirmed == "2630"


async def test_a_code_that_does_not_hold_is_refused_naming_it_and_nothing_is_written(
    client, small, big, staff, demo
):
    venue = await venue_of(demo, small)
    other_film = await demo.fetchval("SELECT film_id FROM screening WHERE id = $1", big)
    # The venue's yesterday, in its time zone (the demo's is New York's): the machine's date is
    # a day ahead of it from 19:00 to midnight there, when "yesterday" was still valid.
    venue_today = await demo.fetchval(
        "SELECT (now() AT TIME ZONE time_zone)::date FROM venue WHERE id = $1", venue
    )
    yesterday = (venue_today - timedelta(days=1)).isoformat()
    await add_code(client, venue, staff, code="OTHERFILM", film_id=str(other_film))
    await add_code(client, venue, staff, code="OLDCODE", valid_until=yesterday)
    gone = await add_code(client, venue, staff, code="GONE")
    await client.patch(
        f"/v1/venues/{venue}/discount-codes/{gone['id']}", json={"active": False}, headers=staff
    )
    path, token, labels = await hold_seats(client, small, {"seats": ["D5"]})
    for code, reason in [
        ("NOSUCH", "unknown code"),
        ("otherfilm", "not valid for this film"),
        ("OldCode", "expired"),
        ("gone", "not active"),
    ]:
        refused = await confirm(client, path, token, tickets(labels), discount_code=code)
        assert refused.status_code == 422, refused.text
        assert field_of(refused) == ("discount_code", reason)
    hostile = await confirm(client, path, token, tickets(labels), discount_code="x;DROP")
    assert (hostile.status_code, field_of(hostile)[0]) == (400, "discount_code")
    assert await demo.fetchval("SELECT count(*) FROM booking") == 0
    assert await demo.fetchval("SELECT count(*) FROM discount_use") == 0
    assert (await confirm(client, path, token, tickets(labels))).status_code == 201


async def test_a_member_price_needs_a_valid_membership_within_the_cap(
    client, small, staff, manager, demo
):
    venue = await venue_of(demo, small)
    today = date.today()
    await add_member(
        client, venue, staff, number="M-1", expires_on=(today + timedelta(days=400)).isoformat()
    )
    await add_member(
        client, venue, staff, number="M-OLD", expires_on=(today - timedelta(days=1)).isoformat()
    )
    path, token, labels = await hold_seats(client, small, {"seats": ["E1", "E2"]})
    cases = [
        (tickets(labels, "member", "adult"), ("tickets[0].membership_number", "missing")),
        (
            [
                {"seat": "E1", "ticket_type": "adult"},
                {"seat": "E2", "ticket_type": "member", "membership_number": "M-OLD"},
            ],
            ("tickets[1].membership_number", "expired"),
        ),
        (
            tickets(labels, "member", "member", membership_number="M-9"),
            ("tickets[0].membership_number", "unknown membership"),
        ),
    ]
    for lines, named in cases:
        refused = await confirm(client, path, token, lines)
        assert refused.status_code == 422, refused.text
        assert field_of(refused) == named
    await client.patch(
        f"/v1/venues/{venue}/prices", json={"member_tickets_per_booking": 1}, headers=manager
    )
    over = await confirm(
        client, path, token, tickets(labels, "member", "member", membership_number="M-1")
    )
    assert (over.status_code, field_of(over)) == (
        422,
        ("tickets[1].ticket_type", "more than 1 member tickets"),
    )
    booked = await confirm(
        client,
        path,
        token,
        [
            {"seat": "E1", "ticket_type": "member", "membership_number": "M-1"},
            {"seat": "E2", "ticket_type": "adult"},
        ],
    )
    assert booked.status_code == 201, booked.text
    seats = {s["label"]: s for s in booked.json()["seats"]}
    assert (seats["E1"]["amount"], seats["E1"]["membership_number"]) == (1000, "M-1")
    assert seats["E2"]["membership_number"] is None
    assert (
        await demo.fetchval(
            "SELECT membership_number FROM booking_seat WHERE ticket_type = 'member'"
        )
        == "M-1"
    )


async def test_the_per_patron_limit_counts_the_address_without_case(client, small, staff, demo):
    venue = await venue_of(demo, small)
    await add_code(client, venue, staff, code="ONCE", per_patron_limit=1)
    first = await hold_seats(client, small, {"seats": ["F1"]})
    assert (
        await confirm(client, *first[:2], tickets(first[2]), discount_code="ONCE")
    ).status_code == 201
    second = await hold_seats(client, small, {"seats": ["F2"]})
    again = await confirm(
        client, *second[:2], tickets(second[2]), email="ANA@Example.org", discount_code="ONCE"
    )
    assert (again.status_code, field_of(again)) == (409, ("discount_code", "patron limit reached"))
    other = await confirm(
        client, *second[:2], tickets(second[2]), email="bo@example.org", discount_code="ONCE"
    )
    assert other.status_code == 201, other.text


async def _take_use(demo, path: str, labels: list[str]) -> None:
    """Price a hold with the code and commit, as a checkout does: the hold has the use."""
    from schemas.box_office import ConfirmIn, PatronIn, TicketIn
    from services.prices import service as prices

    hold_id = UUID(path.rsplit("/", 1)[1])
    async with demo.acquire() as conn, conn.transaction():
        hold = await conn.fetchrow("SELECT screening_id FROM hold WHERE id = $1", hold_id)
        data = ConfirmIn(
            patron=PatronIn(name="Cy", email="cy@example.org"),
            tickets=[TicketIn(label, "adult") for label in labels],
            discount_code="LAST",
        )
        await prices.price_hold(conn, hold_id, hold["screening_id"], labels, data, _now())


async def test_a_hold_that_ends_without_a_booking_gives_its_use_back(client, small, staff, demo):
    venue = await venue_of(demo, small)
    code = await add_code(client, venue, staff, code="LAST", max_uses=1)
    first = await hold_seats(client, small, {"seats": ["G1"]}, who="cy")
    await _take_use(demo, first[0], first[2])
    uses = f"/v1/venues/{venue}/discount-codes"
    assert (await client.get(uses, headers=staff)).json()[0]["uses"] == 1
    second = await hold_seats(client, small, {"seats": ["G2"]}, who="ana")
    used_up = await confirm(client, *second[:2], tickets(second[2]), discount_code="LAST")
    assert (used_up.status_code, field_of(used_up)) == (409, ("discount_code", "used up"))
    # Released: the use is back at once.
    assert (await client.delete(first[0], headers=first[1])).status_code == 204
    assert (await client.get(uses, headers=staff)).json()[0]["uses"] == 0
    third = await hold_seats(client, small, {"seats": ["G3"]}, who="bo")
    await _take_use(demo, third[0], third[2])
    # Past its expiry, before any worker expired it: the use no longer counts.
    await backdate(demo, third[0].rsplit("/", 1)[1])
    booked = await confirm(client, *second[:2], tickets(second[2]), discount_code="last")
    assert booked.status_code == 201, booked.text
    assert (await client.get(uses, headers=staff)).json()[0]["uses"] == 1
    # The worker's sweep changes nothing of it.
    async with demo.acquire() as conn:
        await box_office.sweep_expired_holds(conn, _now())
    listed = (await client.get(uses, headers=staff)).json()
    assert [(c["id"], c["uses"]) for c in listed] == [(code["id"], 1)]
