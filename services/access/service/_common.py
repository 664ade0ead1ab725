"""What every access step shares: building answers and events from rows, finding a free unit, and
moving reservations off a unit that can no longer serve them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from schemas.access import DeviceReservation
from schemas.events import DeviceWaitlisted, Event
from services.access import rules, store
from services.access.rules import Span
from services.box_office import tokens
from services.errors import NotAllowed, NotAuthenticated
from services.ids import uuid7

SECRET_HEADER = "X-Reservation-Secret"


def authorize(secret: str | None, row: store.ReservationRow) -> None:
    if secret is None:
        raise NotAuthenticated(f"send the reservation's secret in the {SECRET_HEADER} header")
    if not tokens.matches(secret, row.secret_hash):
        raise NotAllowed("this is not the secret of this reservation")


def reservation_view(
    row: store.ReservationRow, position: int | None = None, secret: str | None = None
) -> DeviceReservation:
    return DeviceReservation(
        id=row.id,
        screening_id=row.screening_id,
        kind=row.kind,  # type: ignore[arg-type]
        status=row.status,  # type: ignore[arg-type]
        patron_name=row.patron_name,
        patron_email=row.patron_email,
        requested_at=row.requested_at,
        position=position if row.status == "waitlisted" else None,
        booking_reference=row.booking_reference,
        number=row.number,
        hold_id=row.hold_id,
        reserved_at=row.reserved_at if row.status != "waitlisted" else None,
        checked_out_at=row.checked_out_at,
        returned_at=row.returned_at,
        ended_at=row.ended_at,
        ended_by=row.ended_by,  # type: ignore[arg-type]
        secret=secret,
    )


def about(row: store.ReservationRow, now: datetime) -> dict[str, Any]:
    """The fields every reservation event takes from its row."""
    return {
        "id": uuid7(),
        "occurred_at": now,
        "venue_id": row.venue_id,
        "reservation_id": row.id,
        "screening_id": row.screening_id,
        "kind": row.kind,
        "patron_name": row.patron_name,
        "patron_email": row.patron_email or "",
    }


async def place(
    conn: asyncpg.Connection,
    row: store.ReservationRow,
    auditorium_id: UUID,
    now: datetime,
    *,
    span: Span | None = None,
    besides: tuple[UUID, ...] = (),
) -> UUID | None:
    """Set the best free unit aside for the reservation (over `span`, default its own), or move
    it there; the unit's id, or None when none is free. Call under the kind's lock: then the
    first candidate is taken, and PostgreSQL's refusal (never expected) only moves on to the
    next."""
    wanted = rules.from_now(span or row.span, now)
    candidates = await store.free_units(
        conn, row.venue_id, row.kind, wanted, auditorium_id, ignoring=row.id, besides=besides
    )
    for device_id in candidates:
        if await store.hold_unit(conn, row.id, device_id, wanted, now):
            return device_id
    return None


async def waitlisted_event(
    conn: asyncpg.Connection, row: store.ReservationRow, now: datetime, reason: str
) -> DeviceWaitlisted:
    fresh = await store.get_reservation(conn, row.id)
    return DeviceWaitlisted(
        **about(fresh, now), position=await store.position(conn, fresh), reason=reason
    )


async def rehome(
    conn: asyncpg.Connection, device_id: UUID, now: datetime
) -> tuple[list[store.ReservationRow], list[Event]]:
    """Move the coming loans set aside on a unit taken out of service to other free units, in
    queue order; those with none go back to the waitlist in the place they always had. Under the
    kind's lock, with the unit already out of service. Returns the rows moved (not to the
    waitlist) and the events of those sent back."""
    moved: list[store.ReservationRow] = []
    events: list[Event] = []
    for row in await store.holding_unit(conn, device_id, statuses=("reserved",), after=now):
        facts = await store.screening_facts(conn, row.screening_id)
        await store.demote(conn, row.id)
        if await place(conn, row, facts.auditorium_id, now, besides=(device_id,)):
            moved.append(row)
        else:
            events.append(await waitlisted_event(conn, row, now, "unit_withdrawn"))
    return moved, events
