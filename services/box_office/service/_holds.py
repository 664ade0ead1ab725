"""Holds: make, change, extend, release; and expiry, which a worker runs but nothing waits for."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from schemas.box_office import Hold, HoldChangeIn, HoldIn
from schemas.catalog import Seat
from schemas.events import HoldExtended, HoldReleased
from services import idempotency
from services.audit import record_action
from services.box_office import rules, store, tokens
from services.box_office.service._common import (
    Caller,
    authorize,
    expired_events,
    hold_view,
    seating_for,
    settle_sale_status,
    taken_conflict,
)
from services.errors import Conflict, Gone, NotFound
from services.ids import uuid7
from services.outbox import event_row, record_event, record_events
from services.settings import BoxOfficeSettings

HOLD_TOKEN = ("hold token", "X-Hold-Token")


async def make_hold(
    conn: asyncpg.Connection,
    screening_id: UUID,
    data: HoldIn,
    client_id: str,
    settings: BoxOfficeSettings,
    now: datetime,
) -> Hold:
    """A new hold (request_hold without an Idempotency-Key)."""
    hold, _ = await request_hold(conn, screening_id, data, client_id, settings, now)
    return hold


async def request_hold(
    conn: asyncpg.Connection,
    screening_id: UUID,
    data: HoldIn,
    client_id: str,
    settings: BoxOfficeSettings,
    now: datetime,
    idempotency_key: str | None = None,
    secret: str = "",
) -> tuple[Hold, bool]:
    """Hold the seats asked for (or the best available), all or nothing, in one statement
    (store.claim); the answer carries the hold token. With an Idempotency-Key, the token is
    derived from it (and `secret`, the server's): a retry of the same request by the same
    client answers the hold the first one made, token included (True: replayed)."""
    place = await store.place_of(conn, screening_id)
    seating = await store.seating_of(conn, place.auditorium_id)
    asked = rules.seats_asked(data, seating.by_label, settings.max_seats_per_hold)
    request_hash = None
    if idempotency_key is None:
        token = tokens.new_hold_token()
    else:
        token = tokens.hold_token_for(secret, client_id, idempotency_key)
        request_hash = tokens.hold_digest(screening_id, data)
    token_hash = tokens.digest(token)
    for fresh in (False, True):  # the venue's hold time as last read, then read again
        hold_minutes = await store.hold_minutes_of(conn, place.venue_id, fresh=fresh)
        expires_at, latest_expiry = rules.hold_times(now, hold_minutes, settings.max_hold_minutes)
        hold_id = uuid7()
        event = rules.seats_held(
            uuid7(),
            now,
            place.venue_id,
            hold_id,
            screening_id,
            asked.seats or [],
            expires_at,
            client_id,
        )
        claimed = await store.claim(
            conn,
            store.ClaimIn(
                kind="hold",
                screening_id=screening_id,
                now=now,
                hold_id=hold_id,
                client_id=client_id,
                seat_ids=[seat.id for seat in asked.seats] if asked.seats else None,
                count=asked.count,
                wheelchair_spaces=data.wheelchair_spaces,
                together=asked.together,
                expires_at=expires_at,
                max_live_holds=settings.max_live_holds_per_client,
                max_held_seats=settings.max_held_seats_per_screening,
                token_hash=token_hash,
                latest_expiry=latest_expiry,
                hold_minutes=hold_minutes,
                event_row=event_row(event),
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            ),
        )
        if claimed.outcome != "hold time changed":
            break
    if claimed.outcome == "replayed":
        assert claimed.replay_of is not None
        idempotency.check_same_request(claimed.replay_hash or b"", request_hash or b"")
        first = await store.get_hold(conn, claimed.replay_of)
        return hold_view(first, seating, settings, now, token=token), True
    if claimed.outcome == "seats taken":
        raise taken_conflict(seating, claimed.taken)
    if claimed.outcome in store.SEAT_KINDS:
        assert claimed.refused_seat is not None
        assert asked.seats is not None
        at = [seat.id for seat in asked.seats].index(claimed.refused_seat)
        raise rules.seat_kind_refused(claimed.outcome, asked.seats[at], f"seats[{at}]")
    if claimed.outcome != "held":
        raise _refused(claimed, asked.count, data.wheelchair_spaces, settings)
    assert claimed.seat_ids is not None
    hold = store.HoldRow(
        id=hold_id,
        screening_id=screening_id,
        venue_id=place.venue_id,
        token_hash=token_hash,
        client_id=client_id,
        status="live",
        seat_ids=claimed.seat_ids,
        wheelchair_spaces=data.wheelchair_spaces,
        created_at=now,
        expires_at=expires_at,
        latest_expiry=latest_expiry,
        extensions=0,
        version=1,
        ended_at=None,
    )
    if not claimed.settled:
        await settle_sale_status(conn, screening_id, now)
    return hold_view(hold, seating, settings, now, token=token, placement=claimed.how), False


def _refused(
    claimed: store.Claimed, count: int | None, wheelchair_spaces: int, settings: BoxOfficeSettings
) -> Exception:
    return rules.claim_refused(
        claimed.outcome,
        count=count,
        wheelchair_spaces=wheelchair_spaces,
        on_sale_at=claimed.on_sale_at,
        live_holds=claimed.live_holds,
        held_seats=claimed.held_seats,
        max_held_seats=settings.max_held_seats_per_screening,
    )


def _kind_refused(
    seat_id: UUID, reason: str, seating: store.Seating, adds: list[Seat]
) -> Exception:
    """A changed hold's seat box_office_seat_kinds refused: one added, or one it keeps."""
    added = [seat.id for seat in adds]
    field = f"add[{added.index(seat_id)}]" if seat_id in added else "remove"
    return rules.seat_kind_refused(reason, seating.by_id[seat_id], field)


async def _live_hold(
    conn: asyncpg.Connection, hold_id: UUID, caller: Caller, now: datetime, *, paying: bool = True
) -> store.HoldRow:
    """The hold, locked, if the caller may act on it and it is live (and, unless `paying` is
    allowed, not in checkout: its seats and clock are fixed while its patron pays); else why
    not."""
    hold = await store.get_hold(conn, hold_id, lock=True)
    authorize(caller, hold.token_hash, *HOLD_TOKEN)
    if hold.status == "confirmed":
        raise Conflict("this hold is confirmed: it is a booking now", reason="confirmed")
    if hold.status == "cancelled":
        raise Gone("the screening was cancelled and this hold with it")
    if hold.status != "live":
        raise Gone(f"this hold was {hold.status}; its seats are back on sale")
    rules.check_live(hold.expires_at, now)
    if not paying and await store.in_checkout(conn, hold_id):
        raise Conflict(
            "this hold is in checkout: its seats and time are fixed until the payment's outcome",
            reason="in checkout",
        )
    return hold


async def get_hold(
    conn: asyncpg.Connection,
    hold_id: UUID,
    caller: Caller,
    settings: BoxOfficeSettings,
    now: datetime,
) -> Hold:
    hold = await store.get_hold(conn, hold_id)
    authorize(caller, hold.token_hash, *HOLD_TOKEN)
    return hold_view(hold, await seating_for(conn, hold.screening_id), settings, now)


async def change_hold(
    conn: asyncpg.Connection,
    hold_id: UUID,
    caller: Caller,
    data: HoldChangeIn,
    settings: BoxOfficeSettings,
    now: datetime,
) -> Hold:
    """Add and remove seats, all or nothing; the hold keeps its expiry time. Added seats are
    claimed by store.claim, like a new hold's (the screening still sells, the client's cap)."""
    authorize(caller, (await store.get_hold(conn, hold_id)).token_hash, *HOLD_TOKEN)
    async with conn.transaction():
        hold = await _live_hold(conn, hold_id, caller, now, paying=False)
        seating = await seating_for(conn, hold.screening_id)
        adds = rules.resolve_seats(data.add, seating.by_label, "add")
        removes = rules.resolve_seats(data.remove, seating.by_label, "remove")
        seats = rules.changed_seats(
            [seating.by_id[seat_id] for seat_id in hold.seat_ids],
            adds,
            removes,
            settings.max_seats_per_hold,
        )
        if removes:
            await store.drop_hold_claims(conn, [hold.id], [seat.id for seat in removes])
        settled = False
        if adds:
            claimed = await store.claim(
                conn,
                store.ClaimIn(
                    kind="add",
                    screening_id=hold.screening_id,
                    now=now,
                    hold_id=hold.id,
                    client_id=hold.client_id,
                    seat_ids=[seat.id for seat in adds],
                    wheelchair_spaces=hold.wheelchair_spaces,
                    expires_at=hold.expires_at,
                    released=len(removes),
                    max_held_seats=settings.max_held_seats_per_screening,
                ),
            )
            if claimed.outcome == "seats taken":
                raise taken_conflict(seating, claimed.taken)
            if claimed.outcome in store.SEAT_KINDS:
                assert claimed.refused_seat is not None
                raise _kind_refused(claimed.refused_seat, claimed.outcome, seating, adds)
            if claimed.outcome != "added":
                raise _refused(claimed, None, hold.wheelchair_spaces, settings)
            settled = bool(claimed.settled)
        elif refused := await store.seat_kinds_refusal(  # nothing claimed: the seats kept
            conn, [seat.id for seat in seats], hold.wheelchair_spaces
        ):
            raise _kind_refused(*refused, seating, adds)
        seat_ids = [seat.id for seat in seats]
        hold = await store.update_hold(conn, hold.id, seat_ids=seat_ids)
        await record_event(
            conn,
            rules.hold_changed(
                uuid7(), now, hold.venue_id, hold.id, hold.screening_id, adds, removes, seats
            ),
        )
    if not settled:
        await settle_sale_status(conn, hold.screening_id, now)
    return hold_view(hold, seating, settings, now)


async def extend_hold(
    conn: asyncpg.Connection,
    hold_id: UUID,
    caller: Caller,
    settings: BoxOfficeSettings,
    now: datetime,
) -> Hold:
    """One more hold time, within the caps; a refused extension changes nothing."""
    authorize(caller, (await store.get_hold(conn, hold_id)).token_hash, *HOLD_TOKEN)
    async with conn.transaction():
        hold = await _live_hold(conn, hold_id, caller, now, paying=False)
        hold_minutes = await store.hold_minutes_of(conn, hold.venue_id)
        expires_at = rules.extended_expiry(
            now,
            hold.expires_at,
            hold.latest_expiry,
            hold.extensions,
            settings.max_extensions,
            hold_minutes,
        )
        if await store.extend_hold_claims(conn, hold.id, now, expires_at) != len(hold.seat_ids):
            raise Gone("this hold has expired and its seats are back on sale")
        previous = hold.expires_at
        hold = await store.update_hold(
            conn, hold.id, expires_at=expires_at, extensions=hold.extensions + 1
        )
        await record_event(
            conn,
            HoldExtended(
                id=uuid7(),
                occurred_at=now,
                venue_id=hold.venue_id,
                hold_id=hold.id,
                screening_id=hold.screening_id,
                previous_expires_at=previous,
                expires_at=expires_at,
                extensions=hold.extensions,
            ),
        )
    return hold_view(hold, await seating_for(conn, hold.screening_id), settings, now)


async def release_hold(
    conn: asyncpg.Connection, hold_id: UUID, caller: Caller, now: datetime
) -> None:
    """Give the seats back at once. Releasing a released hold again is a no-op."""
    first = await store.get_hold(conn, hold_id)
    authorize(caller, first.token_hash, *HOLD_TOKEN)
    if first.status == "released":
        return
    async with conn.transaction():
        hold = await _live_hold(conn, hold_id, caller, now)
        seating = await seating_for(conn, hold.screening_id)
        by = "staff" if caller.staff else "patron"
        await end_released(conn, hold, seating, now, by, expired=False)
        if caller.staff:
            await record_action(conn, caller.staff.id, "hold.released", "hold", hold.id)
    await settle_sale_status(conn, hold.screening_id, now)


async def end_released(
    conn: asyncpg.Connection,
    hold: store.HoldRow,
    seating: store.Seating,
    now: datetime,
    by: str,
    *,
    expired: bool | None,
) -> None:
    """End a live hold as released (`by` whom), its seats back on sale, and record HoldReleased
    if this call ended it: a release by its patron or staff, or by a payment that was not what
    its checkout asked (services/money)."""
    if await store.end_holds(conn, now, "released", hold_ids=[hold.id], expired=expired):
        await record_event(
            conn,
            HoldReleased(
                id=uuid7(),
                occurred_at=now,
                venue_id=hold.venue_id,
                hold_id=hold.id,
                screening_id=hold.screening_id,
                seat_ids=hold.seat_ids,
                seat_labels=seating.labels(hold.seat_ids),
                by=by,
            ),
        )


async def expire_hold(conn: asyncpg.Connection, hold_id: UUID, now: datetime) -> datetime | None:
    """Expire one hold if it is live and past expires_at, recording HoldExpired (once, whoever
    else expires it at the same time). Returns None when there is nothing (more) to do, or the
    hold's expiry time when it is still live (extended, or the clock is early): run again then."""
    async with conn.transaction():
        ended = await store.end_holds(conn, now, "expired", hold_ids=[hold_id], expired=True)
        await record_events(conn, await expired_events(conn, ended))
    if ended:
        await settle_sale_status(conn, ended[0].screening_id, now)
        return None
    try:
        hold = await store.get_hold(conn, hold_id)
    except NotFound:
        return None
    return hold.expires_at if hold.live(now) else None


async def sweep_expired_holds(conn: asyncpg.Connection, now: datetime, limit: int = 1000) -> int:
    """Expire every live hold past expires_at, `limit` per transaction (skipping holds another
    transaction has locked: they are being confirmed, released or expired), then put the sale
    status of every screening concerned right, and forget best available's old kept windows.
    Returns how many holds it expired."""
    total = 0
    screenings: set[UUID] = set()
    while True:
        async with conn.transaction():
            ended = await store.end_holds(
                conn, now, "expired", expired=True, limit=limit, skip_locked=True
            )
            await record_events(conn, await expired_events(conn, ended))
        total += len(ended)
        screenings.update(hold.screening_id for hold in ended)
        if len(ended) < limit:
            break
    screenings.update(await store.unsettled_screenings(conn, now))
    await store.forget_old_windows(conn, now)
    for screening_id in sorted(screenings):
        await settle_sale_status(conn, screening_id, now)
    return total
