"""What every box-office step shares: who is acting, building the answers, and keeping the
screening's sale status in step with its free seats."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import BookedSeat, Booking, HeldSeat, Hold, Patron
from schemas.events import (
    Event,
    HoldExpired,
    ScreeningBackOnSale,
    ScreeningSoldOut,
    ScreeningWentOnSale,
)
from schemas.staff import StaffMember
from services.box_office import rules, store, tokens
from services.errors import Conflict, NotAllowed, NotAuthenticated
from services.ids import uuid7
from services.money.rules import refund_owed
from services.outbox import record_event
from services.prices import rules as prices
from services.settings import BoxOfficeSettings


class Caller(msgspec.Struct, frozen=True):
    """Who asks: the bearer of a secret (hold token or patron secret) and/or a staff member."""

    secret: str | None = None
    staff: StaffMember | None = None


def authorize(caller: Caller, stored: bytes, what: str, header: str) -> None:
    """Staff may act on anything; anyone else needs the secret whose digest is `stored`."""
    if caller.staff is not None:
        return
    if caller.secret is None:
        raise NotAuthenticated(f"send the {what} in the {header} header (or a staff token)")
    if not tokens.matches(caller.secret, stored):
        raise NotAllowed(f"this is not the {what} of this {what.split()[0]}")


def hold_view(
    hold: store.HoldRow,
    seating: store.Seating,
    settings: BoxOfficeSettings,
    now: datetime,
    token: str | None = None,
    placement: str | None = None,
) -> Hold:
    status = "expired" if hold.status == "live" and hold.expires_at <= now else hold.status
    return Hold(
        id=hold.id,
        screening_id=hold.screening_id,
        status=status,
        seats=[_held(seating, seat_id) for seat_id in hold.seat_ids],
        wheelchair_spaces=hold.wheelchair_spaces,
        created_at=hold.created_at,
        expires_at=hold.expires_at,
        latest_expiry=hold.latest_expiry,
        extensions=hold.extensions,
        extensions_left=max(0, settings.max_extensions - hold.extensions),
        token=token,
        placement=placement,
    )


def _held(seating: store.Seating, seat_id: UUID) -> HeldSeat:
    seat = seating.by_id[seat_id]
    return HeldSeat(id=seat.id, label=seat.label, row_label=seat.row_label, kind=seat.kind)


def booking_view(
    booking: store.BookingRow,
    seats: list[store.BookingSeatRow],
    seating: store.Seating,
    secret: str | None = None,
) -> Booking:
    booked = []
    for row in seats:
        seat = seating.by_id[row.seat_id]
        booked.append(
            BookedSeat(
                id=seat.id,
                label=seat.label,
                row_label=seat.row_label,
                kind=seat.kind,
                ticket_type=row.ticket_type,
                list_price=row.list_price,
                discount=row.discount,
                fee=row.fee,
                tax=row.tax,
                amount=row.amount,
                membership_number=row.membership_number,
            )
        )
    booked.sort(key=lambda s: (seating.by_id[s.id].row_number, seating.by_id[s.id].position))
    return Booking(
        id=booking.id,
        reference=booking.reference,
        screening_id=booking.screening_id,
        hold_id=booking.hold_id,
        status=booking.status,
        patron=Patron(name=booking.patron_name, email=booking.patron_email),
        seats=booked,
        currency=booking.currency,
        total=booking.total,
        totals=prices.totals(seats),
        discount_code=booking.discount_code,
        payment_reference=booking.payment_reference,
        refund_due=booking.refund_due,
        created_at=booking.created_at,
        paid=booking.paid,
        refunded=booking.refunded,
        refund_owed=refund_owed(
            booking.status, booking.refund_due, booking.total, booking.paid, booking.refunded
        ),
        cancelled_at=booking.cancelled_at,
        cancelled_by=booking.cancelled_by,
        secret=secret,
    )


async def seating_for(conn: asyncpg.Connection, screening_id: UUID) -> store.Seating:
    place = await store.place_of(conn, screening_id)
    return await store.seating_of(conn, place.auditorium_id)


async def settle_sale_status(conn: asyncpg.Connection, screening_id: UUID, now: datetime) -> None:
    """After a change to a screening's claims has committed: flip it to sold out when no seat is
    free, back on sale when one is. Run after every such commit, this leaves the status right
    whatever runs at once: the last change's check sees every committed change, a flip happens
    only from the status it read (exactly once per transition, the row lock decides), and
    whoever flips checks again after its own commit."""
    for _ in range(5):
        seating = await seating_for(conn, screening_id)
        status, free, due = await store.sale_state(conn, screening_id, seating, now)
        new = rules.sale_status_after(status, free, due)
        if new is None:
            return
        async with conn.transaction():
            flipped = await store.set_sale_status(conn, screening_id, now, status, new)
            if flipped is not None:
                venue_id, free_now, on_sale_at = flipped
                event: Event = (
                    ScreeningWentOnSale(
                        id=uuid7(),
                        occurred_at=now,
                        venue_id=venue_id,
                        screening_id=screening_id,
                        on_sale_at=on_sale_at or now,
                    )
                    if status == "scheduled"
                    else ScreeningSoldOut(
                        id=uuid7(), occurred_at=now, venue_id=venue_id, screening_id=screening_id
                    )
                    if new == "sold_out"
                    else ScreeningBackOnSale(
                        id=uuid7(),
                        occurred_at=now,
                        venue_id=venue_id,
                        screening_id=screening_id,
                        seats_available=free_now,
                    )
                )
                await record_event(conn, event)


def taken_conflict(seating: store.Seating, seat_ids: list[UUID]) -> Conflict:
    labels = sorted(seating.labels(seat_ids), key=lambda label: seat_order(seating, label))
    return Conflict(
        f"not available: {', '.join(labels)}; nothing was held",
        reason="seats taken",
        seats=labels,
    )


def seat_order(seating: store.Seating, label: str) -> tuple[int, int]:
    seat = seating.by_label[label]
    return seat.row_number, seat.position


async def expired_events(conn: asyncpg.Connection, holds: list[store.HoldRow]) -> list[Event]:
    events: list[Event] = []
    for hold in holds:
        seating = await seating_for(conn, hold.screening_id)
        events.append(
            HoldExpired(
                id=uuid7(),
                occurred_at=hold.ended_at or hold.expires_at,
                venue_id=hold.venue_id,
                hold_id=hold.id,
                screening_id=hold.screening_id,
                seat_ids=hold.seat_ids,
                seat_labels=seating.labels(hold.seat_ids),
                expires_at=hold.expires_at,
            )
        )
    return events
