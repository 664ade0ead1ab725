"""The patron's side: what a screening offers, reserving (a unit at once, or the waitlist), looking
a reservation up and cancelling it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.access import DeviceOffer, DeviceReservation, DeviceReservationIn, ScreeningDevices
from schemas.events import DeviceReservationCancelled, DeviceReserved
from schemas.staff import StaffMember
from services.access import rules, store
from services.access.service._common import about, authorize, place, reservation_view
from services.access.service._common import waitlisted_event as _waitlisted
from services.audit import record_action
from services.box_office import tokens
from services.errors import Conflict, InvalidInput, NotAllowed, NotAuthenticated
from services.idempotency import check_same_request, request_digest
from services.ids import derived_secret, token, uuid7
from services.outbox import record_event
from services.settings import AccessSettings

NUMBER_ATTEMPTS = 8  # a number is drawn again when taken (1 in 31**7 per live reservation)


def span_of(facts: store.ScreeningFacts, settings: AccessSettings) -> rules.Span:
    return rules.loan_span(
        facts.starts_at, facts.ends_at, settings.pickup_lead_minutes, settings.turnaround_minutes
    )


async def screening_devices(
    conn: asyncpg.Connection, screening_id: UUID, settings: AccessSettings, now: datetime
) -> ScreeningDevices:
    """The kinds the screening offers and how many units of each a new reservation could get."""
    facts = await store.screening_facts(conn, screening_id)
    offered = rules.offered_kinds(
        facts.features, facts.hearing_loop, await store.in_service(conn, facts.venue_id)
    )
    open_ = facts.status != "cancelled" and now < facts.starts_at
    span = rules.from_now(span_of(facts, settings), now)
    waitlisted = await store.waitlisted_by_kind(conn, screening_id)
    offers = []
    for kind in offered:
        left = 0
        if open_:
            free = await store.count_free_units(conn, facts.venue_id, kind, span)
            left = rules.reservable(
                free, await store.waiting_for(conn, facts.venue_id, kind, span, now)
            )
        offers.append(
            DeviceOffer(
                kind=kind,
                name=rules.KIND_NAMES[kind],
                reservable=left,
                waitlisted=waitlisted.get(kind, 0),
            )
        )
    return ScreeningDevices(
        screening_id=screening_id, hearing_loop=facts.hearing_loop, offers=offers
    )


class TieProof(msgspec.Struct, frozen=True):
    """What a reservation presents to tie itself to a hold (its token) or to a booking (its
    patron secret, or a staff token)."""

    hold_token: str | None = None
    booking_secret: str | None = None
    staff: StaffMember | None = None


_NO_SECRET = bytes(32)  # compared against for an unknown reference, as for a known one


class _Key(msgspec.Struct, frozen=True):
    """An Idempotency-Key as a reservation keeps it: the key's digest, the request's."""

    key: str
    key_hash: bytes
    request_hash: bytes

    @classmethod
    def of(cls, key: str, screening_id: UUID, data: DeviceReservationIn) -> _Key:
        return cls(key, tokens.digest(key), request_digest((screening_id, data)))

    def secret(self, reservation_id: UUID) -> str:
        """The reservation's secret, derived from the key: a replay answers it again."""
        return derived_secret(self.key, _SECRET_CONTEXT + reservation_id.bytes)


_SECRET_CONTEXT = b"usher device reservation secret v1:"


async def reserve(
    conn: asyncpg.Connection,
    screening_id: UUID,
    data: DeviceReservationIn,
    client_id: str,
    proof: TieProof,
    settings: AccessSettings,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[DeviceReservation, bool]:
    """Reserve a device: a free unit is set aside at once, else the patron joins the waitlist
    (behind anyone already waiting for an overlapping screening). The answer carries the
    patron's secret, sent this once; or, with an Idempotency-Key already used for this request,
    (the reservation it made as it is now, with the same secret, True)."""
    rules.check_ties(data.booking_reference, data.hold_id)
    if data.hold_id is not None and proof.hold_token is None:
        raise NotAuthenticated("send the hold's token in the X-Hold-Token header")
    if data.booking_reference is not None and proof.booking_secret is None and not proof.staff:
        raise NotAuthenticated("send the booking's secret in the X-Booking-Secret header")
    key = _Key.of(idempotency_key, screening_id, data) if idempotency_key else None
    if key and (made := await store.by_key(conn, key.key_hash)):
        return await _replay(conn, made, key, proof), True
    try:
        return await _reserve(conn, screening_id, data, client_id, proof, settings, now, key)
    except store.KeyTaken:  # a request with the same key made it while this one ran
        assert key is not None
        made = await store.by_key(conn, key.key_hash)
        if made is None:  # pragma: no cover - reservations are never deleted
            raise
        return await _replay(conn, made, key, proof), True


async def _replay(
    conn: asyncpg.Connection, row: store.ReservationRow, key: _Key, proof: TieProof
) -> DeviceReservation:
    """The reservation an Idempotency-Key made, for a retry of the same request (and, tied to a
    hold or a booking, with the hold's token or the booking's secret again)."""
    assert row.request_hash is not None
    check_same_request(row.request_hash, key.request_hash)
    if row.hold_id is not None:
        hold = await store.hold_for_tie(conn, row.hold_id)
        if hold is None or not tokens.matches(proof.hold_token, hold.token_hash):
            raise NotAllowed("this is not the hold token of this hold")
    if row.booking_id is not None and row.hold_id is None and proof.staff is None:
        booking = await store.booking_for_tie(conn, row.booking_reference or "")
        if booking is None or not tokens.matches(proof.booking_secret, booking.secret_hash):
            raise NotAllowed("this is not the secret of this booking")
    position = await store.position(conn, row) if row.status == "waitlisted" else None
    return reservation_view(row, position, key.secret(row.id))


async def _reserve(
    conn: asyncpg.Connection,
    screening_id: UUID,
    data: DeviceReservationIn,
    client_id: str,
    proof: TieProof,
    settings: AccessSettings,
    now: datetime,
    key: _Key | None,
) -> tuple[DeviceReservation, bool]:
    facts = await store.screening_facts(conn, screening_id)
    rules.check_reservable(facts.status, facts.starts_at, now)
    offered = rules.offered_kinds(
        facts.features, facts.hearing_loop, await store.in_service(conn, facts.venue_id)
    )
    rules.check_kind_offered(data.kind, offered)
    if data.booking_reference is None:
        rules.patron_of(data.patron_name, data.patron_email)
    reservation_id = uuid7()
    secret = key.secret(reservation_id) if key else token(24)
    async with conn.transaction():
        facts = await store.screening_facts(conn, screening_id, share=True)
        rules.check_reservable(facts.status, facts.starts_at, now)
        booking_id = hold_id = None
        if data.booking_reference is None:
            name, email = rules.patron_of(data.patron_name, data.patron_email)
        else:
            booking = await store.booking_for_tie(conn, data.booking_reference.upper())
            proven = tokens.matches(
                proof.booking_secret, booking.secret_hash if booking else _NO_SECRET
            )
            rules.check_booking_tie(
                booking.screening_id if booking else None,
                booking.status if booking else "",
                screening_id,
                proven or proof.staff is not None,
            )
            assert booking is not None
            booking_id = booking.id
            name, email = rules.patron_of(
                data.patron_name, data.patron_email, (booking.patron_name, booking.patron_email)
            )
        if data.hold_id is not None:
            hold = await store.hold_for_tie(conn, data.hold_id)
            if hold is None:
                raise InvalidInput("there is no such hold", field="hold_id", reason="unknown hold")
            if not tokens.matches(proof.hold_token, hold.token_hash):
                raise NotAllowed("this is not the hold token of this hold")
            rules.check_hold_tie(hold.screening_id, hold.status, hold.expires_at, screening_id, now)
            hold_id = hold.id
        await store.lock_client(conn, client_id)
        if key and (made := await store.by_key(conn, key.key_hash)):  # this client's retry
            return await _replay(conn, made, key, proof), True
        live = await store.live_for_client(conn, screening_id, client_id)
        if live >= settings.max_reservations_per_client:
            raise Conflict(
                f"this client has {live} device reservations for this screening, the most allowed",
                reason="too many reservations",
            )
        span = rules.from_now(span_of(facts, settings), now)
        await store.lock_kind(conn, facts.venue_id, data.kind)
        waiting = await store.waiting_for(conn, facts.venue_id, data.kind, span, now)
        row = store.ReservationRow(
            id=reservation_id,
            screening_id=screening_id,
            venue_id=facts.venue_id,
            kind=data.kind,
            status="waitlisted",
            span=span,
            device_id=None,
            secret_hash=tokens.digest(secret),
            client_id=client_id,
            patron_name=name,
            patron_email=email,
            booking_id=booking_id,
            hold_id=hold_id,
            requested_at=now,
            idempotency_key_hash=key.key_hash if key else None,
            request_hash=key.request_hash if key else None,
            number=tokens.new_reference(),
        )
        for _ in range(NUMBER_ATTEMPTS):
            if await store.insert_reservation(conn, row):
                break
            row = msgspec.structs.replace(row, number=tokens.new_reference())
        else:  # pragma: no cover - 31**7 numbers
            raise Conflict("no free reservation number; try again", reason="busy")
        device_id = None
        if waiting == 0:
            device_id = await place(conn, row, facts.auditorium_id, now)
        row = await store.get_reservation(conn, row.id)
        position = None
        if device_id is not None:
            assert row.asset_tag is not None
            await record_event(
                conn,
                DeviceReserved(
                    **about(row, now),
                    device_id=device_id,
                    asset_tag=row.asset_tag,
                    booking_reference=row.booking_reference or "",
                    hold_id=row.hold_id,
                ),
            )
        else:
            event = await _waitlisted(conn, row, now, "full")
            position = event.position
            await record_event(conn, event)
    return reservation_view(row, position, secret), False


async def get_reservation(
    conn: asyncpg.Connection, reservation_id: UUID, secret: str | None
) -> DeviceReservation:
    row = await store.get_reservation(conn, reservation_id)
    authorize(secret, row)
    position = await store.position(conn, row) if row.status == "waitlisted" else None
    return reservation_view(row, position)


async def cancel_reservation(
    conn: asyncpg.Connection,
    reservation_id: UUID,
    now: datetime,
    reason: str,
    *,
    secret: str | None = None,
    staff: StaffMember | None = None,
) -> DeviceReservation:
    """Cancel a waitlisted or reserved device (its patron, or staff); the unit goes to the next
    patron waiting. Cancelling it again answers it as it is; a device handed over is returned at
    the desk instead."""
    first = await store.get_reservation(conn, reservation_id)
    if staff is None:
        authorize(secret, first)
    by = "staff" if staff else "patron"
    async with conn.transaction():
        await store.lock_kind(conn, first.venue_id, first.kind)  # it frees a unit
        ended = await store.end_reservations(conn, now, by, reason, reservation_id=reservation_id)
        if ended:
            row = ended[0]
            await record_event(conn, cancelled_event(row, now, by, reason))
            if staff is not None:
                await record_action(
                    conn, staff.id, "device_reservation.cancelled", "device_reservation", row.id
                )
            return reservation_view(row)
    row = await store.get_reservation(conn, reservation_id)
    if row.status != "cancelled":
        raise Conflict(
            f"this reservation is {row.status.replace('_', ' ')}: nothing to cancel",
            reason=f"reservation {row.status}",
        )
    return reservation_view(row)


def cancelled_event(
    row: store.ReservationRow, now: datetime, by: str, reason: str
) -> DeviceReservationCancelled:
    """A cancelled row keeps the unit it had set aside (for the record): it freed that unit."""
    return DeviceReservationCancelled(
        **about(row, now),
        by=by,
        was="reserved" if row.device_id else "waitlisted",
        reason=reason,
        device_id=row.device_id,
    )
