"""Prices are fixed at checkout: staff changing the venue's booking fee and tax rate, a ticket
type's price, deactivating the discount code and a membership while the patron pays change
nothing of what the payment books; the booking equals what was charged, on time or late."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from services.money import service as money
from tests.integration.box_office.helpers import backdate
from tests.integration.money.helpers import Client, callback_body, post_callback
from tests.integration.prices.helpers import add_code, add_member, hold_seats, venue_of

CHECKOUT_BODY = {
    "patron": {"name": "Ana Pop", "email": "ana@example.org"},
    "tickets": [
        {"seat": "E5", "ticket_type": "adult"},
        {"seat": "E6", "ticket_type": "member", "membership_number": "M-7"},
    ],
    "discount_code": "ten",
}


class Paying(NamedTuple):
    path: str  # the hold's
    headers: dict[str, str]  # its token and the checkout's Idempotency-Key
    started: dict[str, Any]  # the checkout's answer
    member: dict[str, Any]
    venue: UUID

    @property
    def hold_id(self) -> str:
        return self.path.rsplit("/", 1)[1]


async def _priced_checkout(
    client: Client, screening: UUID, staff: dict[str, str], manager: dict[str, str], demo: Any
) -> Paying:
    """A fee, a tax rate, a code and a member ticket in play, then a checkout of E5 (adult)
    and E6 (member)."""
    venue = await venue_of(demo, screening)
    await client.patch(
        f"/v1/venues/{venue}/prices", json={"booking_fee": 100, "tax_rate_bp": 600}, headers=manager
    )
    member = await add_member(
        client,
        venue,
        staff,
        number="M-7",
        expires_on=(date.today() + timedelta(days=400)).isoformat(),
    )
    await add_code(client, venue, staff, code="TEN", kind="percent", amount=10)
    path, token, labels = await hold_seats(client, screening, {"seats": ["E5", "E6"]})
    assert labels == ["E5", "E6"]
    headers = {**token, "Idempotency-Key": f"fixed-{path}"}
    started = await client.post(f"{path}/checkout", json=CHECKOUT_BODY, headers=headers)
    assert started.status_code == 201, started.text
    return Paying(path, headers, started.json(), member, venue)


async def _change_everything(
    client: Client, screening: UUID, paying: Paying, staff: dict[str, str], manager: dict[str, str]
) -> None:
    """What staff may do while a patron pays: every one of these would change the price or
    refuse it if the booking were priced again."""
    venue = paying.venue
    changes = [
        await client.patch(
            f"/v1/venues/{venue}/prices",
            json={"booking_fee": 250, "tax_rate_bp": 2100},
            headers=manager,
        ),
        await client.patch(
            f"/v1/screenings/{screening}",
            json={
                "prices": [
                    {"ticket_type": "adult", "amount": 1900},
                    {"ticket_type": "member", "amount": 1300},
                ]
            },
            headers=manager,
        ),
        await client.patch(
            f"/v1/venues/{venue}/memberships/{paying.member['id']}",
            json={"active": False},
            headers=staff,
        ),
    ]
    codes = f"/v1/venues/{venue}/discount-codes"
    (code,) = (await client.get(codes, headers=staff)).json()
    changes.append(
        await client.patch(f"{codes}/{code['id']}", json={"active": False}, headers=staff)
    )
    for response in changes:
        assert response.status_code == 200, response.text


async def _pay(client: Client, demo: asyncpg.Pool, started: dict[str, Any], event: str) -> str:
    assert (await post_callback(client, callback_body(started, event))).status_code == 200
    async with demo.acquire() as conn:
        outcome = await money.act_on_callback(conn, "testpay", event, datetime.now(UTC))
    assert outcome is not None
    return outcome


async def _assert_booked_as_charged(
    demo: asyncpg.Pool, hold_id: str, started: dict[str, Any]
) -> None:
    booking = await demo.fetchrow(
        "SELECT id, status, total, paid, currency, discount_code FROM booking WHERE hold_id = $1",
        UUID(hold_id),
    )
    assert booking is not None
    assert (booking["status"], booking["total"], booking["paid"]) == (
        "confirmed",
        started["amount"],
        started["amount"],
    )
    assert (booking["currency"].strip(), booking["discount_code"]) == (started["currency"], "TEN")
    seats = await demo.fetch(
        """
        SELECT s.label AS seat, b.ticket_type, b.amount, b.list_price, b.discount, b.fee, b.tax,
               b.membership_number
        FROM booking_seat b JOIN seat s ON s.id = b.seat_id
        WHERE b.booking_id = $1 ORDER BY s.label
        """,
        booking["id"],
    )
    assert [dict(seat) for seat in seats] == started["breakdown"]


async def test_the_payment_books_the_prices_fixed_at_checkout(client, small, staff, manager, demo):
    paying = await _priced_checkout(client, small, staff, manager, demo)
    started = paying.started
    # adult: 1500 - 150 + 100 = 1450 (tax 82); member: 1000 - 100 + 100 = 1000 (tax 57)
    assert (started["amount"], started["discount_code"]) == (2450, "TEN")
    assert started["breakdown"] == [
        {
            "seat": "E5",
            "ticket_type": "adult",
            "amount": 1450,
            "list_price": 1500,
            "discount": 150,
            "fee": 100,
            "tax": 82,
            "membership_number": None,
        },
        {
            "seat": "E6",
            "ticket_type": "member",
            "amount": 1000,
            "list_price": 1000,
            "discount": 100,
            "fee": 100,
            "tax": 57,
            "membership_number": "M-7",
        },
    ]
    await _change_everything(client, small, paying, staff, manager)
    # a retry of the checkout answers the prices it fixed
    again = await client.post(f"{paying.path}/checkout", json=CHECKOUT_BODY, headers=paying.headers)
    assert again.status_code == 200, again.text
    assert again.json() == started
    outcome = await _pay(client, demo, started, "evt-fixed")
    assert outcome.startswith("booked "), outcome
    await _assert_booked_as_charged(demo, paying.hold_id, started)
    # the code's use is the booking's: it still counts, deactivated or not
    codes = (await client.get(f"/v1/venues/{paying.venue}/discount-codes", headers=staff)).json()
    assert [(code["uses"], code["active"]) for code in codes] == [(1, False)]
    # the client's confirm retry reads the booking as charged
    read = await client.post(f"{paying.path}/confirm", json=CHECKOUT_BODY, headers=paying.headers)
    assert read.status_code == 200, read.text
    assert (read.json()["total"], read.json()["paid"]) == (2450, 2450)
    assert read.json()["totals"]["fee"] == 200


async def test_a_late_payment_seated_again_books_the_prices_fixed_at_checkout(
    client, small, staff, manager, demo
):
    paying = await _priced_checkout(client, small, staff, manager, demo)
    await backdate(demo, paying.hold_id)  # the window passed: the hold died, its seats free
    await _change_everything(client, small, paying, staff, manager)
    outcome = await _pay(client, demo, paying.started, "evt-late")
    assert outcome.startswith("booked "), outcome
    await _assert_booked_as_charged(demo, paying.hold_id, paying.started)


async def test_a_checkout_from_before_fixed_prices_is_priced_when_paid(
    client, small, staff, manager, demo
):
    paying = await _priced_checkout(client, small, staff, manager, demo)
    await demo.execute("UPDATE checkout SET priced = NULL")  # as migration 028 left it
    again = await client.post(f"{paying.path}/checkout", json=CHECKOUT_BODY, headers=paying.headers)
    assert again.json() == paying.started  # nothing changed: priced alike
    outcome = await _pay(client, demo, paying.started, "evt-old")
    assert outcome.startswith("booked "), outcome
    await _assert_booked_as_charged(demo, paying.hold_id, paying.started)
