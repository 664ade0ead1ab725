"""Pure decisions of the box office: what a hold asks for, which seats a hold may have, what a
refused claim answers, extensions, tickets and prices, and the events they imply. No I/O and no
clock reads: callers pass `now` and the seats' state. (Best available, the rule of which
screenings sell and which seat kinds a hold may have live in SQL, migrations 014 and 023:
box_office_choose, box_office_refusal, box_office_seat_kinds.)"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from schemas.box_office import HoldIn, SaleStatus, SeatStatus
from schemas.catalog import Seat
from schemas.events import HoldChanged, SeatsHeld
from services.errors import Conflict, Gone, InvalidInput, NotFound, UsherError

# Booking references: no 0/O, 1/I/L, so they can be read aloud and typed back.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 7


def resolve_seats(labels: Sequence[str], by_label: Mapping[str, Seat], field: str) -> list[Seat]:
    """The seats named by `labels`, in the order given; an unknown or repeated label is refused
    naming its index."""
    seats: list[Seat] = []
    seen: set[str] = set()
    for index, label in enumerate(labels):
        seat = by_label.get(label)
        if seat is None:
            raise InvalidInput(
                f"there is no seat {label!r} in this auditorium",
                field=f"{field}[{index}]",
                reason="unknown seat",
            )
        if label in seen:
            raise InvalidInput(
                f"seat {label} is listed twice", field=f"{field}[{index}]", reason="duplicate"
            )
        seen.add(label)
        seats.append(seat)
    return seats


def check_hold_size(count: int, max_seats: int, field: str) -> None:
    if count < 1:
        raise InvalidInput("a hold needs at least one seat", field=field, reason="no seats")
    if count > max_seats:
        raise InvalidInput(
            f"a hold has at most {max_seats} seats", field=field, reason=f"more than {max_seats}"
        )


def seat_kind_refused(reason: str, seat: Seat, field: str) -> InvalidInput:
    """The answer when box_office_seat_kinds (migration 023, the one home of which seat kinds a
    hold may have) refused `seat`, named in the request at `field`: 'wheelchair space' (one
    more than the need declared), 'companion seat' (no wheelchair space of the hold beside it)."""
    if reason == "wheelchair space":
        return InvalidInput(
            f"seat {seat.label} is a wheelchair space: declare the need in wheelchair_spaces",
            field=field,
            reason="wheelchair space without a declared wheelchair need",
        )
    return InvalidInput(
        f"seat {seat.label} is a companion seat: it goes only with the wheelchair space "
        "beside it, in the same hold",
        field=field,
        reason="companion seat without the wheelchair space beside it",
    )


class SeatsAsked(msgspec.Struct, frozen=True):
    """A hold request, decided: the seats named, or best available (`count`, `together` when
    only seats side by side will do)."""

    seats: list[Seat] | None = None
    count: int | None = None
    together: bool = False


def seats_asked(data: HoldIn, by_label: Mapping[str, Seat], max_seats: int) -> SeatsAsked:
    """Seats or a count, never both; within the size of a hold. (Which kinds of seat the hold
    may have, box_office_claim checks: box_office_seat_kinds.)"""
    if data.seats and data.count is not None:
        raise InvalidInput("give seats or a count, not both", field="count", reason="with seats")
    if data.seats:
        check_hold_size(len(data.seats), max_seats, "seats")
        return SeatsAsked(seats=resolve_seats(data.seats, by_label, "seats"))
    if data.count is None:
        raise InvalidInput("give the seats to hold, or a count", field="seats", reason="missing")
    check_hold_size(data.count, max_seats, "count")
    if data.wheelchair_spaces > data.count:
        raise InvalidInput(
            "more wheelchair spaces than seats", field="wheelchair_spaces", reason="more than count"
        )
    return SeatsAsked(count=data.count, together=data.together == "required")


def changed_seats(
    held: Sequence[Seat],
    adds: Sequence[Seat],
    removes: Sequence[Seat],
    max_seats: int,
) -> list[Seat]:
    """The hold's seats after adding and removing (kept in order, then the added): only seats
    in the hold are removed, only seats not in it added, never both at once, within the size of
    a hold. (Which kinds of seat it may keep, box_office_claim checks: box_office_seat_kinds.)"""
    if not adds and not removes:
        raise InvalidInput("nothing to change", field="add", reason="add or remove seats")
    current = {seat.id for seat in held}
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
    kept = [seat for seat in held if seat.id not in removing]
    seats = kept + list(adds)
    check_hold_size(len(seats), max_seats, "add")
    return seats


def claim_refused(
    outcome: str,
    *,
    count: int | None = None,
    wheelchair_spaces: int = 0,
    on_sale_at: datetime | None = None,
    live_holds: int | None = None,
    held_seats: int | None = None,
    max_held_seats: int = 0,
    what: str = "screening",
) -> UsherError:
    """The answer to a claim box_office_claim refused, by its reason."""
    if outcome == "no screening":
        return NotFound(f"no {what}")
    if outcome == "screening cancelled":
        return Conflict("the screening is cancelled", reason=outcome)
    if outcome == "not on sale":
        if on_sale_at is None:
            return Conflict("the screening is not on sale yet", reason=outcome)
        return Conflict(
            f"the screening goes on sale at {on_sale_at.isoformat()}",
            reason=outcome,
            on_sale_at=on_sale_at.isoformat(),
        )
    if outcome == "sales closed":
        return Conflict("the screening has started: sales are closed", reason=outcome)
    if outcome == "too many holds":
        return Conflict(
            f"this client has {live_holds} live holds, the most allowed: confirm or release one",
            reason="too many live holds",
        )
    if outcome == "too many seats":
        return Conflict(
            f"this client holds {held_seats} seats of this screening; at most {max_held_seats} "
            "may be held at once: confirm or release a hold",
            reason="too many seats held",
            held_seats=held_seats,
            limit=max_held_seats,
        )
    if outcome == "no seats together":
        need = f" with {wheelchair_spaces} wheelchair spaces" if wheelchair_spaces else ""
        return Conflict(f"no {count} seats together are available{need}", reason=outcome)
    if outcome == "not enough seats":
        return Conflict(f"fewer than {count} seats are free", reason=outcome)
    if outcome == "hold time changed":
        return Conflict("the venue's hold time changed just now: try again", reason="try again")
    raise ValueError(f"not a refusal: {outcome}")


def seats_held(
    event_id: UUID,
    now: datetime,
    venue_id: UUID,
    hold_id: UUID,
    screening_id: UUID,
    seats: Sequence[Seat],
    expires_at: datetime,
    client_id: str,
) -> SeatsHeld:
    """The event of a new hold (best available's seats are filled in by the database, which
    chooses them)."""
    return SeatsHeld(
        id=event_id,
        occurred_at=now,
        venue_id=venue_id,
        hold_id=hold_id,
        screening_id=screening_id,
        seat_ids=[seat.id for seat in seats],
        seat_labels=[seat.label for seat in seats],
        expires_at=expires_at,
        client_id=client_id,
    )


def hold_changed(
    event_id: UUID,
    now: datetime,
    venue_id: UUID,
    hold_id: UUID,
    screening_id: UUID,
    adds: Sequence[Seat],
    removes: Sequence[Seat],
    seats: Sequence[Seat],
) -> HoldChanged:
    return HoldChanged(
        id=event_id,
        occurred_at=now,
        venue_id=venue_id,
        hold_id=hold_id,
        screening_id=screening_id,
        added=[seat.label for seat in adds],
        removed=[seat.label for seat in removes],
        seat_ids=[seat.id for seat in seats],
        seat_labels=[seat.label for seat in seats],
    )


def hold_times(
    now: datetime, hold_minutes: int, max_hold_minutes: int
) -> tuple[datetime, datetime]:
    """(expires_at, latest_expiry) of a new hold: the venue's hold time, and the cap that no
    extension passes (never shorter than one hold time)."""
    return (
        now + timedelta(minutes=hold_minutes),
        now + timedelta(minutes=max(hold_minutes, max_hold_minutes)),
    )


def extended_expiry(
    now: datetime,
    expires_at: datetime,
    latest_expiry: datetime,
    extensions: int,
    max_extensions: int,
    hold_minutes: int,
) -> datetime:
    """The new expiry time: one more hold time, capped by latest_expiry. Refused (and nothing
    changes, the timer included) when the hold is dead, out of extensions or at its cap."""
    check_live(expires_at, now)
    if extensions >= max_extensions:
        raise Conflict(
            f"this hold has had its {max_extensions} extensions",
            reason="no extensions left",
            expires_at=expires_at.isoformat(),
        )
    new = min(expires_at + timedelta(minutes=hold_minutes), latest_expiry)
    if new <= expires_at:
        raise Conflict(
            "this hold is at its longest",
            reason="at the maximum hold time",
            expires_at=expires_at.isoformat(),
        )
    return new


def check_live(expires_at: datetime, now: datetime) -> None:
    if expires_at <= now:
        raise Gone("this hold has expired and its seats are back on sale")


def booking_reference(randomness: bytes) -> str:
    """A short reference from random bytes (one byte per character, at least
    REFERENCE_LENGTH of them), e.g. `K7MQ2XD`."""
    if len(randomness) < REFERENCE_LENGTH:
        raise ValueError(f"need {REFERENCE_LENGTH} random bytes")
    size = len(REFERENCE_ALPHABET)
    return "".join(REFERENCE_ALPHABET[b % size] for b in randomness[:REFERENCE_LENGTH])


def seat_statuses(claims: Mapping[UUID, str]) -> dict[UUID, SeatStatus]:
    """Live claim kinds (hold, booking, block) as seat statuses; seats not listed are free."""
    names: dict[str, SeatStatus] = {"hold": "held", "booking": "booked", "block": "blocked"}
    return {seat_id: names[kind] for seat_id, kind in claims.items()}


def seat_map_version(status: str, claims: Mapping[UUID, str]) -> str:
    """A short digest of everything a seat map shows that can change (the ETag)."""
    digest = hashlib.blake2b(status.encode(), digest_size=10)
    for seat_id in sorted(claims):
        digest.update(seat_id.bytes)
        digest.update(claims[seat_id].encode())
    return digest.hexdigest()


def count_statuses(total: int, statuses: Mapping[UUID, SeatStatus]) -> dict[str, int]:
    counted = Counter(statuses.values())
    return {
        "available": total - len(statuses),
        "held": counted["held"],
        "booked": counted["booked"],
        "blocked": counted["blocked"],
    }


def sale_status_after(status: SaleStatus, any_free: bool, due: bool = False) -> SaleStatus | None:
    """The screening's new sale status, or None when it stays: on sale when it was scheduled
    and its on_sale_at has come (`due`); sold out when no seat is free, back on sale when one
    is. Other statuses never flip."""
    if status == "scheduled" and due:
        return "on_sale"
    if status == "on_sale" and not any_free:
        return "sold_out"
    if status == "sold_out" and any_free:
        return "on_sale"
    return None
