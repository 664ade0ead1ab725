"""Checkout: a live hold's prices fixed and its clock stopped while its patron pays."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import ConfirmIn
from schemas.events import CheckoutStarted
from schemas.money import Checkout, CheckoutLine
from services.box_office import rules as box_office_rules
from services.box_office import service as box_office
from services.box_office import store as box_office_store
from services.box_office import tokens
from services.errors import Conflict, Gone, NotAuthenticated
from services.idempotency import check_same_request
from services.ids import uuid7
from services.money import rules, store
from services.outbox import record_event


def fixed_prices(checkout: store.CheckoutRow) -> box_office.Priced | None:
    """The prices the checkout fixed (what its patron is charged and its payment books with);
    None for a checkout started before they were kept (migration 028): priced when paid."""
    if checkout.priced is None:
        return None
    return msgspec.convert(checkout.priced, box_office.Priced)


def checkout_view(
    checkout: store.CheckoutRow, priced: box_office.Priced, seating: box_office_store.Seating
) -> Checkout:
    return Checkout(
        id=checkout.id,
        hold_id=checkout.hold_id,
        status=checkout.status,
        amount=checkout.amount,
        currency=checkout.currency,
        expires_at=checkout.expires_at,
        breakdown=[
            CheckoutLine(
                seat=seating.by_id[seat.seat_id].label,
                ticket_type=seat.ticket_type,
                amount=seat.amount,
                list_price=seat.list_price,
                discount=seat.discount,
                fee=seat.fee,
                tax=seat.tax,
                membership_number=seat.membership_number,
            )
            for seat in priced.seats
        ],
        discount_code=priced.discount_code,
    )


async def start_checkout(
    conn: asyncpg.Connection,
    hold_id: UUID,
    hold_token: str | None,
    idempotency_key: str,
    data: ConfirmIn,
    now: datetime,
) -> tuple[Checkout, bool]:
    """Price the hold as its confirmation would and fix those prices (kept with the request:
    its payment books with them, docs/money.md), and stop the hold's clock for the venue's
    checkout window (never past its latest expiry plus that window). A retry with the same
    Idempotency-Key and body answers the same checkout and prices (True); a checkout whose
    payment failed may be started again (another card), priced again."""
    if hold_token is None:
        raise NotAuthenticated("send the hold token in the X-Hold-Token header")
    first = await box_office_store.get_hold(conn, hold_id)
    box_office.authorize(
        box_office.Caller(secret=hold_token), first.token_hash, *box_office.HOLD_TOKEN
    )
    seating = await box_office.seating_for(conn, first.screening_id)
    request_hash = tokens.confirm_digest(data)
    async with conn.transaction():
        hold = await box_office_store.get_hold(conn, hold_id, lock=True)
        started = await store.get_checkout(conn, hold_id=hold_id, lock=True)
        if started is not None and started.status != "failed":
            if started.idempotency_key != idempotency_key:
                raise Conflict(
                    f"this hold is in checkout already ({started.status})",
                    reason="in checkout",
                    checkout_id=str(started.id),
                )
            check_same_request(started.request_hash, request_hash)
            fixed = fixed_prices(started)
            if fixed is None:
                request = msgspec.convert(started.request, ConfirmIn)
                fixed = await box_office.price_hold(conn, hold, request, seating, now)
            return checkout_view(started, fixed, seating), True
        if hold.status == "cancelled":
            raise Gone("the screening was cancelled and this hold with it")
        if hold.status != "live":
            raise Gone(f"this hold was {hold.status}; its seats are back on sale")
        box_office_rules.check_live(hold.expires_at, now)
        priced = await box_office.price_hold(conn, hold, data, seating, now)
        minutes = await store.checkout_minutes_of(conn, hold.venue_id)
        expires_at = rules.checkout_expiry(now, hold.latest_expiry, minutes)
        if await box_office_store.move_hold_clock(conn, hold.id, now, expires_at) != len(
            hold.seat_ids
        ):
            raise Gone("this hold has expired and its seats are back on sale")
        checkout = store.CheckoutRow(
            id=started.id if started else uuid7(),
            hold_id=hold.id,
            screening_id=hold.screening_id,
            venue_id=hold.venue_id,
            status="open",
            currency=priced.currency,
            amount=priced.total,
            request=msgspec.to_builtins(data),
            priced=msgspec.to_builtins(priced),
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            secret_hash=tokens.digest(tokens.patron_secret(hold_token)),
            hold_expires_at=hold.expires_at,
            created_at=now,
            expires_at=expires_at,
            booking_id=None,
            ended_at=None,
        )
        if started is None:
            await store.insert_checkout(conn, checkout)
        else:
            await store.reopen_checkout(conn, checkout)
        await record_event(
            conn,
            CheckoutStarted(
                id=uuid7(),
                occurred_at=now,
                venue_id=hold.venue_id,
                hold_id=hold.id,
                checkout_id=checkout.id,
                screening_id=hold.screening_id,
                amount=checkout.amount,
                currency=checkout.currency,
                expires_at=expires_at,
            ),
        )
    return checkout_view(checkout, priced, seating), False
