"""The seat map, staff blocks of house seats, and what a screening's cancellation does to its
holds and bookings."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import BlockIn, Blocks, SaleStatus, SeatCounts, SeatMap, SeatState
from schemas.events import BookingCancelled, Event, HoldReleased, SeatsBlocked, SeatsUnblocked
from schemas.staff import StaffMember
from services.audit import record_action
from services.box_office import rules, store
from services.box_office.service._common import (
    expired_events,
    seating_for,
    settle_sale_status,
    taken_conflict,
)
from services.errors import Conflict
from services.ids import uuid7
from services.outbox import record_event


class SeatMapState(msgspec.Struct, frozen=True):
    """A screening's seats as read by one query; `version` is known before the map is built,
    so an unchanged map (If-None-Match) costs no more than that query."""

    screening_id: UUID
    status: SaleStatus
    claims: dict[UUID, str]
    seating: store.Seating
    version: str
    as_of: datetime

    def render(self) -> SeatMap:
        statuses = rules.seat_statuses(self.claims)
        return SeatMap(
            screening_id=self.screening_id,
            status=self.status,
            version=self.version,
            as_of=self.as_of,
            counts=SeatCounts(**rules.count_statuses(len(self.seating.seats), statuses)),
            seats=[
                SeatState(
                    id=seat.id,
                    label=seat.label,
                    row_label=seat.row_label,
                    row_number=seat.row_number,
                    position=seat.position,
                    x=seat.x,
                    y=seat.y,
                    kind=seat.kind,
                    status=statuses.get(seat.id, "available"),
                )
                for seat in self.seating.seats
            ],
        )


async def read_seat_map(
    conn: asyncpg.Connection, screening_id: UUID, now: datetime
) -> SeatMapState:
    """Every seat's status now: one query for the claims (the seat map itself is cached). The
    sale status shown follows the free seats, whether or not the stored status caught up."""
    seating = await seating_for(conn, screening_id)
    status, claims = await store.live_claims(conn, screening_id, now)
    status = rules.sale_status_after(status, len(seating.seats) > len(claims)) or status
    return SeatMapState(
        screening_id=screening_id,
        status=status,
        claims=claims,
        seating=seating,
        version=rules.seat_map_version(status, claims),
        as_of=now,
    )


async def block_seats(
    conn: asyncpg.Connection, by: StaffMember, screening_id: UUID, data: BlockIn, now: datetime
) -> Blocks:
    """Keep house seats off sale, all or nothing (a held or booked seat cannot be blocked)."""
    seating = await seating_for(conn, screening_id)
    seats = rules.resolve_seats(data.seats, seating.by_label, "seats")
    seat_ids = [seat.id for seat in seats]
    async with conn.transaction():
        claimed = await store.claim(
            conn,
            store.ClaimIn(
                kind="block",
                screening_id=screening_id,
                now=now,
                seat_ids=sorted(seat_ids),
                note=data.note,
            ),
        )
        if claimed.outcome == "seats taken":
            raise taken_conflict(seating, claimed.taken)
        if claimed.outcome != "blocked":
            raise rules.claim_refused(claimed.outcome)
        labels = [seat.label for seat in seats]
        await store.lock_screening(conn, screening_id)  # the event is about the screening
        await record_event(
            conn,
            SeatsBlocked(
                id=uuid7(),
                occurred_at=now,
                venue_id=(await store.place_of(conn, screening_id)).venue_id,
                screening_id=screening_id,
                seat_ids=seat_ids,
                seat_labels=labels,
                note=data.note,
            ),
        )
        await record_action(
            conn, by.id, "seats.blocked", "screening", screening_id, {"seats": labels}
        )
    await settle_sale_status(conn, screening_id, now)
    return Blocks(screening_id=screening_id, seats=labels)


async def unblock_seats(
    conn: asyncpg.Connection, by: StaffMember, screening_id: UUID, labels: list[str], now: datetime
) -> Blocks:
    """Put blocked seats back on sale, all or nothing."""
    seating = await seating_for(conn, screening_id)
    seat_ids = [seat.id for seat in rules.resolve_seats(labels, seating.by_label, "seat")]
    async with conn.transaction():
        dropped = await store.drop_blocks(conn, screening_id, seat_ids)
        if len(dropped) < len(seat_ids):
            missing = seating.labels([i for i in seat_ids if i not in dropped])
            raise Conflict(
                f"not blocked: {', '.join(missing)}; nothing was unblocked",
                reason="not blocked",
                seats=missing,
            )
        await store.lock_screening(conn, screening_id)  # the event is about the screening
        await record_event(
            conn,
            SeatsUnblocked(
                id=uuid7(),
                occurred_at=now,
                venue_id=(await store.place_of(conn, screening_id)).venue_id,
                screening_id=screening_id,
                seat_ids=seat_ids,
                seat_labels=labels,
            ),
        )
        await record_action(
            conn, by.id, "seats.unblocked", "screening", screening_id, {"seats": labels}
        )
    await settle_sale_status(conn, screening_id, now)
    return Blocks(screening_id=screening_id, seats=labels)


async def lock_screening_sales(conn: asyncpg.Connection, screening_id: UUID) -> None:
    """First step of cancelling a screening, before its row is locked: wait for the holds being
    made on it, and stop new ones, until the cancellation commits."""
    await store.lock_sales(conn, screening_id, exclusive=True)


async def close_screening_sales(
    conn: asyncpg.Connection, screening_id: UUID, now: datetime
) -> list[Event]:
    """In the cancelling transaction: release the screening's holds, cancel its bookings and
    flag them for refund (when they cost something); returns the events to record."""
    seating = await seating_for(conn, screening_id)
    released = await store.end_holds(
        conn, now, "cancelled", screening_id=screening_id, expired=False, limit=100_000
    )
    expired = await store.end_holds(
        conn, now, "expired", screening_id=screening_id, expired=True, limit=100_000
    )
    events: list[Event] = [
        HoldReleased(
            id=uuid7(),
            occurred_at=now,
            venue_id=hold.venue_id,
            hold_id=hold.id,
            screening_id=screening_id,
            seat_ids=hold.seat_ids,
            seat_labels=seating.labels(hold.seat_ids),
            by="screening",
        )
        for hold in released
    ]
    events += await expired_events(conn, expired)
    bookings = await store.cancel_bookings(
        conn, now, "screening", "the screening was cancelled", screening_id=screening_id
    )
    if bookings:
        await store.drop_booking_claims(conn, [booking.id for booking in bookings])
        seats = await store.booking_seats(conn, [booking.id for booking in bookings])
        for booking in bookings:
            seat_ids = [seat.seat_id for seat in seats[booking.id]]
            events.append(
                BookingCancelled(
                    id=uuid7(),
                    occurred_at=now,
                    venue_id=booking.venue_id,
                    booking_id=booking.id,
                    reference=booking.reference,
                    screening_id=screening_id,
                    seat_ids=seat_ids,
                    seat_labels=seating.labels(seat_ids),
                    by="screening",
                    refund_due=booking.refund_due,
                    reason="the screening was cancelled",
                )
            )
    return events
