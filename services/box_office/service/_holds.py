"""Holds: make, change, extend, release; and expiry, which a worker runs but nothing waits for."""

from __future__ import annotations

import random
from datetime import datetime
from itertools import groupby
from uuid import UUID

import asyncpg

from schemas.box_office import Hold, HoldChangeIn, HoldIn
from schemas.catalog import Seat
from schemas.events import HoldChanged, HoldExtended, HoldReleased, SeatsHeld
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
from services.errors import Conflict, Gone, InvalidInput, NotFound
from services.ids import uuid7
from services.outbox import event_row, record_event, record_events
from services.settings import BoxOfficeSettings
from services.staff.store import record_action

HOLD_TOKEN = ("hold token", "X-Hold-Token")
BEST_AVAILABLE_ATTEMPTS = 4


class _Taken(Exception):
    """Some seats were claimed by someone else first, and nothing was held."""

    def __init__(self, seat_ids: list[UUID]) -> None:
        super().__init__("taken")
        self.seat_ids = seat_ids


async def make_hold(
    conn: asyncpg.Connection,
    screening_id: UUID,
    data: HoldIn,
    client_id: str,
    settings: BoxOfficeSettings,
    now: datetime,
) -> Hold:
    """Hold the seats asked for (or the best available), all or nothing; the answer carries the
    hold token, sent this once."""
    place = await store.place_of(conn, screening_id)
    seating = await store.seating_of(conn, place.auditorium_id)
    chosen: list[Seat] | None = None
    if data.seats and data.count is not None:
        raise InvalidInput("give seats or a count, not both", field="count", reason="with seats")
    if data.seats:
        rules.check_hold_size(len(data.seats), settings.max_seats_per_hold, "seats")
        chosen = rules.resolve_seats(data.seats, seating.by_label, "seats")
        names = [f"seats[{i}]" for i in range(len(chosen))]
        rules.check_seat_kinds(chosen, data.wheelchair_spaces, names)
    elif data.count is not None:
        rules.check_hold_size(data.count, settings.max_seats_per_hold, "count")
        if data.wheelchair_spaces > data.count:
            raise InvalidInput(
                "more wheelchair spaces than seats",
                field="wheelchair_spaces",
                reason="more than count",
            )
    else:
        raise InvalidInput("give the seats to hold, or a count", field="seats", reason="missing")
    token = tokens.new_hold_token()
    attempts = 1 if chosen is not None else BEST_AVAILABLE_ATTEMPTS
    for attempt in range(attempts):
        seats = chosen
        if seats is None:
            assert data.count is not None
            _, claims = await store.live_claims(conn, screening_id, now)
            if len(claims) >= len(seating.seats):
                raise Conflict("no seat is free", reason="no seats together")
            rank = random.randrange(4 * attempt) if attempt else 0
            seats = rules.best_available(
                seating.layout, set(claims), data.count, data.wheelchair_spaces, rank
            )
            if seats is None:
                raise Conflict(
                    f"no {data.count} seats together are available"
                    + (
                        f" with {data.wheelchair_spaces} wheelchair spaces"
                        if data.wheelchair_spaces
                        else ""
                    ),
                    reason="no seats together",
                )
        try:
            hold = await _hold_seats(
                conn, place, seating, seats, data.wheelchair_spaces, client_id, token, settings, now
            )
        except _Taken as taken:
            if attempt == attempts - 1:
                raise taken_conflict(seating, taken.seat_ids) from None
            continue
        break
    await settle_sale_status(conn, screening_id, now)
    return hold_view(hold, seating, settings, now, token=token)


async def _hold_seats(
    conn: asyncpg.Connection,
    place: store.Place,
    seating: store.Seating,
    seats: list[Seat],
    wheelchair_spaces: int,
    client_id: str,
    token: str,
    settings: BoxOfficeSettings,
    now: datetime,
) -> store.HoldRow:
    """One statement (store.make_hold): the hold, its claims and SeatsHeld, or nothing."""
    seat_ids = [seat.id for seat in seats]
    for fresh in (False, True):  # the venue's hold time as last read, then read again
        hold_minutes = await store.hold_minutes_of(conn, place.venue_id, fresh=fresh)
        expires_at, latest_expiry = rules.hold_times(now, hold_minutes, settings.max_hold_minutes)
        hold = store.HoldRow(
            id=uuid7(),
            screening_id=place.screening_id,
            venue_id=place.venue_id,
            token_hash=tokens.digest(token),
            client_id=client_id,
            status="live",
            seat_ids=seat_ids,
            wheelchair_spaces=wheelchair_spaces,
            created_at=now,
            expires_at=expires_at,
            latest_expiry=latest_expiry,
            extensions=0,
            version=1,
            ended_at=None,
        )
        event = SeatsHeld(
            id=uuid7(),
            occurred_at=now,
            venue_id=place.venue_id,
            hold_id=hold.id,
            screening_id=place.screening_id,
            seat_ids=seat_ids,
            seat_labels=[seat.label for seat in seats],
            expires_at=expires_at,
            client_id=client_id,
        )
        made = await store.make_hold(
            conn, hold, hold_minutes, settings.max_live_holds_per_client, event_row(event)
        )
        if made.outcome != "hold time changed":
            break
    if made.outcome == "held":
        return hold
    if made.outcome == "seats taken":
        raise _Taken(made.taken)
    if made.outcome == "too many holds":
        raise Conflict(
            f"this client has {made.live_holds} live holds, the most allowed: "
            "confirm or release one",
            reason="too many live holds",
        )
    if made.outcome == "hold time changed":
        raise Conflict("the venue's hold time changed just now: try again", reason="try again")
    if made.outcome == "not sellable" and made.sale_status and made.starts_at:
        rules.check_sellable(made.sale_status, made.starts_at, now)
    raise NotFound(f"no screening {place.screening_id}")


async def _live_hold(
    conn: asyncpg.Connection, hold_id: UUID, caller: Caller, now: datetime
) -> store.HoldRow:
    """The hold, locked, if the caller may act on it and it is live; else why not."""
    hold = await store.get_hold(conn, hold_id, lock=True)
    authorize(caller, hold.token_hash, *HOLD_TOKEN)
    if hold.status == "confirmed":
        raise Conflict("this hold is confirmed: it is a booking now", reason="confirmed")
    if hold.status == "cancelled":
        raise Gone("the screening was cancelled and this hold with it")
    if hold.status != "live":
        raise Gone(f"this hold was {hold.status}; its seats are back on sale")
    rules.check_live(hold.expires_at, now)
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
    """Add and remove seats, all or nothing; the hold keeps its expiry time."""
    if not data.add and not data.remove:
        raise InvalidInput("nothing to change", field="add", reason="add or remove seats")
    authorize(caller, (await store.get_hold(conn, hold_id)).token_hash, *HOLD_TOKEN)
    async with conn.transaction():
        hold = await _live_hold(conn, hold_id, caller, now)
        seating = await seating_for(conn, hold.screening_id)
        adds = rules.resolve_seats(data.add, seating.by_label, "add")
        if adds:  # more seats only while the screening sells them
            rules.check_sellable(*await store.sale_facts(conn, hold.screening_id), now)
        removes = rules.resolve_seats(data.remove, seating.by_label, "remove")
        current = set(hold.seat_ids)
        removing = {seat.id for seat in removes}
        for index, seat in enumerate(removes):
            if seat.id not in current:
                raise InvalidInput(
                    f"seat {seat.label} is not in this hold",
                    field=f"remove[{index}]",
                    reason="not in the hold",
                )
        for index, seat in enumerate(adds):
            if seat.id in current:
                raise InvalidInput(
                    f"seat {seat.label} is already in this hold",
                    field=f"add[{index}]",
                    reason="already held",
                )
            if seat.id in removing:
                raise InvalidInput(
                    f"seat {seat.label} is both added and removed",
                    field=f"add[{index}]",
                    reason="also removed",
                )
        kept = [seat_id for seat_id in hold.seat_ids if seat_id not in removing]
        seat_ids = kept + [seat.id for seat in adds]
        rules.check_hold_size(len(seat_ids), settings.max_seats_per_hold, "add")
        rules.check_seat_kinds(
            [seating.by_id[seat_id] for seat_id in seat_ids],
            hold.wheelchair_spaces,
            ["remove"] * len(kept) + [f"add[{i}]" for i in range(len(adds))],
        )
        # Claims are taken and given up in seat order, like every other claim.
        changes = sorted([(s.id, True) for s in adds] + [(s.id, False) for s in removes])
        for adding, run in groupby(changes, key=lambda change: change[1]):
            ids = [seat_id for seat_id, _ in run]
            if adding:
                claimed = await store.claim_seats(
                    conn, hold.screening_id, ids, now, hold_id=hold.id, expires_at=hold.expires_at
                )
                if len(claimed) < len(ids):
                    raise taken_conflict(seating, [i for i in ids if i not in claimed])
            else:
                await store.drop_hold_claims(conn, [hold.id], ids)
        hold = await store.update_hold(conn, hold.id, seat_ids=seat_ids)
        await record_event(
            conn,
            HoldChanged(
                id=uuid7(),
                occurred_at=now,
                venue_id=hold.venue_id,
                hold_id=hold.id,
                screening_id=hold.screening_id,
                added=[seat.label for seat in adds],
                removed=[seat.label for seat in removes],
                seat_ids=seat_ids,
                seat_labels=seating.labels(seat_ids),
            ),
        )
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
        hold = await _live_hold(conn, hold_id, caller, now)
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
        await store.end_holds(conn, now, "released", hold_ids=[hold.id], expired=False)
        seating = await seating_for(conn, hold.screening_id)
        by = "staff" if caller.staff else "patron"
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
        if caller.staff:
            await record_action(conn, caller.staff.id, "hold.released", "hold", hold.id)
    await settle_sale_status(conn, hold.screening_id, now)


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
    status of every screening concerned right. Returns how many holds it expired."""
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
    for screening_id in sorted(screenings):
        await settle_sale_status(conn, screening_id, now)
    return total
