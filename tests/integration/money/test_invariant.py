"""The invariant of money as a property: whatever the order of events, every successful
payment ends as exactly one booking (seated, or "paid, not seated" with all of it owed back).

Each example, on a fresh screening, puts a hold in checkout, then runs a random interleaving of:
the clock moving on, the hold's expiry job and sweep, callbacks (successes of one or two
payments, each under one to three event ids; failures) each delivered one to five times in any
order, the worker acting on delivered callbacks, the client's confirm retried, the patron
trying another card, and a competing hold on the same seats. Then the sweep acts on whatever
is left (as the worker's cron does) and the database is checked. All through the service
functions the API and the worker run, against the real database."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from schemas.box_office import ConfirmIn, HoldIn
from schemas.catalog import Price, ScreeningIn
from services.box_office import service as box_office
from services.catalog import service as catalog
from services.errors import UsherError
from services.money import rules
from services.money import service as money
from services.settings import get_settings
from tests.integration.box_office.helpers import confirm_body
from tests.integration.money.helpers import PROVIDER, secret

SEATS = ["C3", "C4"]
_starts = itertools.count()


@st.composite
def plans(draw: st.DrawFn) -> tuple[list[tuple[str, int, str]], list[tuple[Any, ...]]]:
    """(callback events, steps): each event (type, payment number, event id)."""
    events: list[tuple[str, int, str]] = []
    for payment in range(draw(st.integers(0, 2))):
        for n in range(draw(st.integers(1, 3))):
            events.append(("payment.succeeded", payment, f"s{payment}-{n}"))
    for n in range(draw(st.integers(0, 2))):
        events.append(("payment.failed", 0, f"f{n}"))
    deliveries = [
        ("deliver", i) for i in range(len(events)) for _ in range(draw(st.integers(1, 5)))
    ]
    acts = [
        ("act", draw(st.integers(0, max(len(events) - 1, 0))))
        for _ in range(draw(st.integers(0, 6)))
    ]
    others = draw(
        st.lists(
            st.sampled_from(
                [
                    ("advance", 1),
                    ("advance", 6),
                    ("advance", 20),
                    ("advance", 20),
                    ("expire",),
                    ("sweep holds",),
                    ("sweep callbacks",),
                    ("confirm",),
                    ("another card",),
                    ("compete",),
                    ("compete",),
                ]
            ),
            max_size=12,
        )
    )
    steps = draw(st.permutations(deliveries + (acts if events else []) + others))
    return events, list(steps)


async def attempt(call: Awaitable[object], refusals: tuple[int, ...]) -> None:
    """Run a step that may be refused; only with these statuses."""
    status = None
    try:
        await call
    except UsherError as error:
        status = error.status
    assert status is None or status in refusals


async def fresh_screening(conn: asyncpg.Connection) -> UUID:
    auditorium = await conn.fetchval("SELECT id FROM auditorium WHERE slug = 'cinema-2'")
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(
        days=60, hours=5 * next(_starts)
    )
    screening = await catalog.schedule_screening(
        conn,
        None,
        ScreeningIn(
            film="here",
            auditorium_id=auditorium,
            starts_at=starts_at,
            prices=[Price("adult", 1500), Price("student", 1000)],
        ),
    )
    return screening.id


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans())
# paid after the hold died, its seats free: booked on them
@example(plan=([("payment.succeeded", 0, "s")], [("advance", 20), ("expire",), ("deliver", 0)]))
# paid after the hold died, a rival holding a seat: paid, not seated
@example(
    plan=(
        [("payment.succeeded", 0, "s"), ("payment.succeeded", 0, "t")],
        [("advance", 20), ("compete",), ("deliver", 0), ("deliver", 1), ("act", 1)],
    )
)
# a failure, the client's confirm (a booking unpaid), then the success: paid on it
@example(
    plan=(
        [("payment.failed", 0, "f"), ("payment.succeeded", 0, "s")],
        [("deliver", 0), ("act", 0), ("confirm",), ("deliver", 1), ("deliver", 1)],
    )
)
async def test_every_successful_payment_ends_as_exactly_one_booking(plan, demo):
    events, steps = plan
    box = get_settings().box_office
    data = msgspec.convert(confirm_body(SEATS), ConfirmIn)
    now = datetime.now(UTC)
    async with demo.acquire() as conn:
        screening = await fresh_screening(conn)
        made, _ = await box_office.request_hold(
            conn, screening, HoldIn(seats=SEATS), f"patron-{screening}", box, now
        )
        assert made.token is not None
        checkout, _ = await money.start_checkout(conn, made.id, made.token, "pay", data, now)
        delivered: set[int] = set()
        rivals = 0
        cards = 0

        async def deliver(i: int) -> None:
            kind, payment, event_id = events[i]
            body = msgspec.json.encode(
                {
                    "id": f"{checkout.id}-{event_id}",
                    "type": kind,
                    "checkout_id": str(checkout.id),
                    "payment_id": f"{checkout.id}-pay-{payment}",
                    "amount": checkout.amount,
                    "currency": checkout.currency,
                    "occurred_at": now.isoformat(),
                }
            )
            stamp = int(now.timestamp())
            header = rules.signature_header(secret(), stamp, body)
            await money.receive_callback(
                conn, get_settings().payments.secrets, PROVIDER, header, body, now
            )
            delivered.add(i)

        for step in steps:
            match step:
                case ("advance", minutes):
                    now += timedelta(minutes=minutes)
                case ("expire",):
                    await box_office.expire_hold(conn, made.id, now)
                case ("sweep holds",):
                    await box_office.sweep_expired_holds(conn, now)
                case ("sweep callbacks",):
                    await money.sweep_callbacks(conn, now, timedelta(0))
                case ("deliver", i):
                    await deliver(i)
                case ("act", i):
                    if i in delivered:
                        event_id = f"{checkout.id}-{events[i][2]}"
                        await money.act_on_callback(conn, PROVIDER, event_id, now)
                case ("confirm",):
                    await attempt(
                        box_office.confirm_hold(conn, made.id, made.token, "pay", data, now),
                        (409, 410),
                    )
                case ("another card",):
                    cards += 1
                    await attempt(
                        money.start_checkout(conn, made.id, made.token, f"card{cards}", data, now),
                        (409, 410),
                    )
                case ("compete",):
                    rivals += 1
                    await attempt(
                        box_office.request_hold(
                            conn,
                            screening,
                            HoldIn(seats=SEATS),
                            f"rival-{screening}-{rivals}",
                            box,
                            now,
                        ),
                        (409,),
                    )
        # the worker's cron: whatever no consumer acted on is acted on
        now += timedelta(minutes=1)
        await money.sweep_callbacks(conn, now, timedelta(0))

        outcomes = await conn.fetch(
            "SELECT event_id, outcome FROM payment_callback WHERE starts_with(event_id, $1)",
            str(checkout.id),
        )
        note(f"{events} {steps} {[tuple(o) for o in outcomes]}")
        assert all(o["outcome"] for o in outcomes)
        paid_ids = {
            f"{checkout.id}-pay-{p}" for kind, p, _ in events if kind == "payment.succeeded"
        }
        payments = await conn.fetch(
            "SELECT provider_payment_id, booking_id, amount FROM payment WHERE checkout_id = $1",
            checkout.id,
        )
        # every successful payment recorded once
        assert sorted(p["provider_payment_id"] for p in payments) == sorted(paid_ids)
        bookings = await conn.fetch(
            "SELECT id, status, paid, refunded, total, refund_due FROM booking WHERE hold_id = $1",
            made.id,
        )
        assert len(bookings) <= 1
        if not paid_ids:
            assert all(b["paid"] == 0 for b in bookings)
            return
        (booking,) = bookings  # exactly one booking
        event(f"booking {booking['status']}, {len(paid_ids)} payment(s)")
        assert {p["booking_id"] for p in payments} == {booking["id"]}
        assert booking["paid"] == sum(p["amount"] for p in payments)
        claims = await conn.fetch(
            "SELECT seat_id FROM seat_claim WHERE booking_id = $1 AND kind = 'booking'",
            booking["id"],
        )
        seats = await conn.fetch(
            "SELECT seat_id FROM booking_seat WHERE booking_id = $1", booking["id"]
        )
        owed = rules.refund_owed(
            booking["status"],
            booking["refund_due"],
            booking["total"],
            booking["paid"],
            booking["refunded"],
        )
        if booking["status"] == "confirmed":  # seated: its seats are its own
            assert {c["seat_id"] for c in claims} == {s["seat_id"] for s in seats}
            assert owed == booking["paid"] - booking["total"]  # a second payment is owed back
        else:  # paid, not seated: no seat, all of it owed back
            assert booking["status"] == "unseated"
            assert claims == []
            assert owed == booking["paid"]
