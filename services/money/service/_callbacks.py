"""Payment providers' callbacks: checked and stored at once, acted on after by a worker (the
`payments` consumer, and a sweep of what it missed). Acting is idempotent: a callback is acted
on once (its row's lock and processed_at), a payment recorded once (provider + payment id)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import ConfirmIn
from schemas.events import BookingUnseated, CheckoutFailed, PaymentCallbackReceived
from schemas.money import CallbackReceived, PaymentCallbackIn
from services.bodies import decode_json
from services.box_office import service as box_office
from services.box_office import store as box_office_store
from services.ids import uuid7
from services.money import rules, store
from services.money.service._checkout import fixed_prices
from services.money.service._till import payment_recorded
from services.outbox import event_row, record_event

# Seats claimed again for a late payment are the booking's within the same transaction; the
# claim's own expiry only has to outlive it.
RECLAIM_SECONDS = 60
NO_CAP = 1_000_000  # a payment already made is not held to a patron's hold caps
_decode = msgspec.json.Decoder(PaymentCallbackIn)


async def receive_callback(
    conn: asyncpg.Connection,
    providers: Mapping[str, str],
    provider: str,
    signature: str | None,
    body: bytes,
    now: datetime,
) -> CallbackReceived:
    """Check the signature (401 otherwise) and the body (400 naming the field), then store the
    callback with its event in one statement: a second delivery of an event id is a no-op."""
    rules.verify_signature(providers, provider, signature, body, now)
    data: PaymentCallbackIn = decode_json(body, PaymentCallbackIn)
    event = PaymentCallbackReceived(
        id=uuid7(),
        occurred_at=now,
        callback_key=f"{provider}:{data.id}",
        provider=provider,
        event_id=data.id,
        callback_type=data.type,
        checkout_id=data.checkout_id,
    )
    stored = await store.store_callback(conn, provider, data.id, body, now, event_row(event))
    return CallbackReceived(received=True, duplicate=not stored)


async def act_on_callback(
    conn: asyncpg.Connection, provider: str, event_id: str, now: datetime
) -> str | None:
    """Do what the stored callback says, once; its outcome, or None when it was acted on
    already. The screening's sale status is put right after."""
    async with conn.transaction():
        callback = await store.take_callback(conn, provider, event_id)
        if callback is None:
            return None
        data = _decode.decode(callback.body)
        outcome, screening_id = await _act(conn, provider, data, now)
        await store.mark_processed(conn, provider, event_id, now, outcome)
    if screening_id is not None:
        await box_office.settle_sale_status(conn, screening_id, now)
    return outcome


async def sweep_callbacks(
    conn: asyncpg.Connection, now: datetime, older_than: timedelta, limit: int = 200
) -> int:
    """Act on every callback stored before now - `older_than` and not yet acted on (its event
    lost, a worker that died), and mark open checkouts whose hold died as expired."""
    done = 0
    for provider, event_id in await store.unprocessed(conn, now - older_than, limit):
        if await act_on_callback(conn, provider, event_id, now) is not None:
            done += 1
    async with conn.transaction():
        await store.expire_checkouts(conn, now)
    return done


async def _act(
    conn: asyncpg.Connection, provider: str, data: PaymentCallbackIn, now: datetime
) -> tuple[str, UUID | None]:
    found = await store.get_checkout(conn, checkout_id=data.checkout_id)
    if found is None:
        return "unknown checkout", None  # kept in payment_callback for staff to look into
    # The hold's row first, then the checkout's: the order every step on both takes.
    hold = await box_office_store.get_hold(conn, found.hold_id, lock=True)
    checkout = await store.get_checkout(conn, checkout_id=data.checkout_id, lock=True)
    assert checkout is not None
    if data.type == "payment.failed":
        return await _failed(conn, checkout, hold, now), None
    booking = await box_office_store.find_booking(conn, hold.id)
    fate = rules.payment_fate(
        booked=booking is not None,
        already_recorded=await store.payment_recorded(conn, provider, data.payment_id),
        right_amount=data.amount == checkout.amount and data.currency == checkout.currency,
        hold_live=hold.live(now),
    )
    if fate == "ignore":
        return "duplicate payment", None
    if fate == "record":
        assert booking is not None
        await _record(conn, booking, checkout, provider, data, now)
        return f"recorded on booking {booking.reference}", None
    seating = await box_office.seating_for(conn, hold.screening_id)
    request = msgspec.convert(checkout.request, ConfirmIn)
    why = "amount"
    if fate == "reclaim":
        claimed = await box_office_store.claim(
            conn,
            box_office_store.ClaimIn(
                kind="add",
                screening_id=hold.screening_id,
                now=now,
                hold_id=hold.id,
                client_id=hold.client_id,
                seat_ids=sorted(hold.seat_ids),
                expires_at=now + timedelta(seconds=RECLAIM_SECONDS),
                max_held_seats=NO_CAP,
            ),
        )
        fate = "book" if claimed.outcome == "added" else "unseated"
        why = claimed.outcome
    elif fate == "unseated" and hold.live(now):
        await box_office.end_released(conn, hold, seating, now, "payment", expired=None)
    booking, _ = await box_office.make_booking(
        conn,
        hold,
        request,
        seating,
        now,
        idempotency_key=checkout.idempotency_key,
        request_hash=checkout.request_hash,
        secret_hash=checkout.secret_hash,
        seated=fate == "book",
        priced=fixed_prices(checkout),
    )
    paid = await _record(conn, booking, checkout, provider, data, now)
    if fate == "book":
        return f"booked {booking.reference}", hold.screening_id
    await record_event(
        conn,
        BookingUnseated(
            id=uuid7(),
            occurred_at=now,
            venue_id=booking.venue_id,
            booking_id=booking.id,
            reference=booking.reference,
            hold_id=hold.id,
            screening_id=hold.screening_id,
            patron_name=booking.patron_name,
            patron_email=booking.patron_email,
            currency=data.currency,
            paid=paid,
            why=why,
        ),
    )
    return f"unseated {booking.reference}: {why}", hold.screening_id


async def _record(
    conn: asyncpg.Connection,
    booking: box_office_store.BookingRow,
    checkout: store.CheckoutRow,
    provider: str,
    data: PaymentCallbackIn,
    now: datetime,
) -> int:
    """The provider's payment on the booking (and the checkout paid by it); the booking's
    `paid` after it."""
    if checkout.status != "paid":
        await store.end_checkout(conn, checkout.id, "paid", now, booking.id)
    if data.amount == 0:
        return booking.paid
    payment = store.PaymentRow(
        id=uuid7(),
        booking_id=booking.id,
        venue_id=booking.venue_id,
        checkout_id=checkout.id,
        method="provider",
        provider=provider,
        provider_payment_id=data.payment_id,
        amount=data.amount,
        currency=data.currency,
        recorded_at=now,
    )
    paid = await store.add_payment(conn, payment)
    assert paid is not None  # payment_fate saw it unrecorded, under the checkout's lock
    await record_event(conn, payment_recorded(booking, payment, paid, now))
    return paid


async def _failed(
    conn: asyncpg.Connection,
    checkout: store.CheckoutRow,
    hold: box_office_store.HoldRow,
    now: datetime,
) -> str:
    """The payment failed: the checkout is 'failed' and a live hold back on its own clock."""
    if checkout.status != "open":
        return f"failure after {checkout.status}: nothing to do"
    await store.end_checkout(conn, checkout.id, "failed", now)
    if hold.live(now):
        await box_office_store.move_hold_clock(conn, hold.id, now, checkout.hold_expires_at)
        await record_event(
            conn,
            CheckoutFailed(
                id=uuid7(),
                occurred_at=now,
                venue_id=hold.venue_id,
                hold_id=hold.id,
                checkout_id=checkout.id,
                screening_id=hold.screening_id,
                expires_at=checkout.hold_expires_at,
            ),
        )
    return "failed"
