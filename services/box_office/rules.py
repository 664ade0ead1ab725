"""Pure decisions of the box office: which seats a hold may have, best available, extensions,
tickets and prices. No I/O and no clock reads: callers pass `now` and the seats' state."""

from __future__ import annotations

import bisect
import hashlib
import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from schemas.box_office import SaleStatus, SeatStatus, TicketIn
from schemas.catalog import Seat
from services.errors import Conflict, Gone, InvalidInput

# Seats a hold never takes without a declared need; a companion seat is only sold beside one.
WHEELCHAIR = "wheelchair"
COMPANION = "companion"
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


def _neighbours(seat: Seat, others: Iterable[Seat]) -> list[Seat]:
    return [
        other
        for other in others
        if other.row_number == seat.row_number and abs(other.position - seat.position) == 1
    ]


def check_seat_kinds(seats: Sequence[Seat], wheelchair_spaces: int, fields: Sequence[str]) -> None:
    """Wheelchair spaces only for a declared need (at most `wheelchair_spaces` of them); a
    companion seat only beside a wheelchair space in the same hold. `fields[i]` names where
    seats[i] came from in the request, for the error."""
    chairs = [seat for seat in seats if seat.kind == WHEELCHAIR]
    if len(chairs) > wheelchair_spaces:
        extra = chairs[wheelchair_spaces]
        raise InvalidInput(
            f"seat {extra.label} is a wheelchair space: declare the need in wheelchair_spaces",
            field=fields[seats.index(extra)],
            reason="wheelchair space without a declared wheelchair need",
        )
    for seat, field in zip(seats, fields, strict=True):
        if seat.kind == COMPANION and not any(
            n.kind == WHEELCHAIR for n in _neighbours(seat, chairs)
        ):
            raise InvalidInput(
                f"seat {seat.label} is a companion seat: it goes only with the wheelchair space "
                "beside it, in the same hold",
                field=field,
                reason="companion seat without the wheelchair space beside it",
            )


def check_sellable(status: str, starts_at: datetime, now: datetime) -> None:
    """Seats are held only for a screening on sale (or sold out: a seat may have come back) that
    has not started."""
    if status == "cancelled":
        raise Conflict("the screening is cancelled", reason="screening cancelled")
    if status == "scheduled":
        raise Conflict("the screening is not on sale yet", reason="not on sale")
    if starts_at <= now:
        raise Conflict("the screening has started: sales are closed", reason="sales closed")


class Block(msgspec.Struct, frozen=True):
    """Seats side by side in one row, with running sums of their x and y."""

    row_number: int
    seats: list[Seat]
    xs: list[float]  # xs[k] = sum of x of seats[:k]
    ys: list[float]
    special: bool  # it has wheelchair spaces or companion seats
    flat: bool  # its seats share one y


class SeatLayout(msgspec.Struct, frozen=True):
    """What best available needs of a seat map that never changes: each row cut into blocks of
    seats side by side (a missing position or an aisle cuts it), and the focal point. Made once
    per auditorium by `seat_layout` (the store caches it with the seat map)."""

    blocks: list[Block]
    focal: tuple[float, float]


def focal_point(seats: Sequence[Seat]) -> tuple[float, float]:
    """The centre of the auditorium's seats, the point best-available seats gather around."""
    xs = [seat.x for seat in seats]
    ys = [seat.y for seat in seats]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


def _block(row_number: int, seats: list[Seat]) -> Block:
    return Block(
        row_number=row_number,
        seats=seats,
        xs=[0.0, *itertools.accumulate(seat.x for seat in seats)],
        ys=[0.0, *itertools.accumulate(seat.y for seat in seats)],
        special=any(seat.kind in (WHEELCHAIR, COMPANION) for seat in seats),
        flat=len({seat.y for seat in seats}) == 1,
    )


def seat_layout(seats: Sequence[Seat]) -> SeatLayout:
    """Cut each row into blocks: an aisle is a gap in x wider than one and a half times the
    row's narrowest gap."""
    rows: dict[int, list[Seat]] = defaultdict(list)
    for seat in seats:
        rows[seat.row_number].append(seat)
    blocks: list[Block] = []
    for row_number in sorted(rows):
        row = sorted(rows[row_number], key=lambda s: s.position)
        gaps = [b.x - a.x for a, b in itertools.pairwise(row) if b.x > a.x]
        widest = (min(gaps) if gaps else 1.0) * 1.5
        block = [row[0]]
        for previous, seat in itertools.pairwise(row):
            if seat.position == previous.position + 1 and seat.x - previous.x <= widest:
                block.append(seat)
            else:
                blocks.append(_block(row_number, block))
                block = [seat]
        blocks.append(_block(row_number, block))
    return SeatLayout(blocks=blocks, focal=focal_point(seats) if seats else (0.0, 0.0))


def _runs(block: Block, unavailable: set[UUID]) -> Iterator[tuple[int, int]]:
    """The runs of free seats of a block, as index ranges [i, j)."""
    i = 0
    for k, seat in enumerate(block.seats):
        if seat.id in unavailable:
            if k > i:
                yield i, k
            i = k + 1
    if len(block.seats) > i:
        yield i, len(block.seats)


def _kinds_fit(window: Sequence[Seat], wheelchair_spaces: int) -> bool:
    chairs = [seat for seat in window if seat.kind == WHEELCHAIR]
    if len(chairs) != wheelchair_spaces:
        return False
    return all(
        seat.kind != COMPANION or any(n.kind == WHEELCHAIR for n in _neighbours(seat, chairs))
        for seat in window
    )


Key = tuple[float, int, int]  # distance from the focal point, row, first position
Window = tuple[Key, Block, int]  # key, block, index of the window's first seat in the block


def _key(block: Block, start: int, count: int, focal: tuple[float, float]) -> Key:
    cx = (block.xs[start + count] - block.xs[start]) / count
    cy = (block.ys[start + count] - block.ys[start]) / count
    distance = (cx - focal[0]) ** 2 + (cy - focal[1]) ** 2
    return distance, block.row_number, block.seats[start].position


def _allowed(block: Block, i: int, j: int, start: int, count: int, wheelchair_spaces: int) -> bool:
    """Whether the window of `count` seats from `start` in the free run [i, j) may be held."""
    if start - i == 1 or j - start - count == 1:
        return False  # it would leave a single empty seat
    if block.special or wheelchair_spaces:
        return _kinds_fit(block.seats[start : start + count], wheelchair_spaces)
    return True


def _windows(
    layout: SeatLayout, unavailable: set[UUID], count: int, wheelchair_spaces: int, every: bool
) -> Iterator[Window]:
    """Windows best_available may choose: every one when `every`, else the best of each run
    (found by bisection where nothing but the distance tells the windows of a run apart)."""
    for block in layout.blocks:
        xs = block.xs
        for i, j in _runs(block, unavailable):
            if j - i < count:
                continue
            starts = range(i, j - count + 1)
            if not (every or block.special or wheelchair_spaces or not block.flat):
                # Window centres grow with the start: only those beside the focus can win.
                middle = bisect.bisect_left(
                    starts, layout.focal[0] * count, key=lambda s: xs[s + count] - xs[s]
                )
                starts = range(max(i, i + middle - 3), min(j - count, i + middle + 2) + 1)
            found = [
                (_key(block, start, count, layout.focal), block, start)
                for start in starts
                if _allowed(block, i, j, start, count, wheelchair_spaces)
            ]
            if every:
                yield from found
            elif found:
                yield min(found, key=lambda item: item[0])


def best_available(
    seats: Sequence[Seat] | SeatLayout,
    unavailable: set[UUID],
    count: int,
    wheelchair_spaces: int = 0,
    rank: int = 0,
) -> list[Seat] | None:
    """`count` seats side by side in one row, closest to the centre, leaving no single empty
    seat beside them, with exactly `wheelchair_spaces` wheelchair spaces (and companion seats
    only beside those); None when no such seats are free. `rank` > 0 picks the rank-th best
    instead (or the last there is): a retry after losing the best seats to a concurrent hold
    spreads out rather than racing everyone else for the next best."""
    if count < 1:
        return None
    layout = seats if isinstance(seats, SeatLayout) else seat_layout(seats)
    windows = _windows(layout, unavailable, count, wheelchair_spaces, every=rank > 0)
    if rank == 0:
        chosen = min(windows, key=lambda item: item[0], default=None)
    else:
        ranked = heapq.nsmallest(rank + 1, windows, key=lambda item: item[0])
        chosen = ranked[-1] if ranked else None
    if chosen is None:
        return None
    _, block, start = chosen
    return block.seats[start : start + count]


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


def price_tickets(
    held: Sequence[Seat], tickets: Sequence[TicketIn], prices: Mapping[str, int]
) -> list[tuple[Seat, str, int]]:
    """(seat, ticket type, amount) for every held seat, in the hold's order; each held seat
    needs exactly one ticket, of a type the screening sells."""
    by_label = {seat.label: seat for seat in held}
    chosen: dict[str, tuple[str, int]] = {}
    for index, ticket in enumerate(tickets):
        if ticket.seat not in by_label:
            raise InvalidInput(
                f"seat {ticket.seat} is not in this hold",
                field=f"tickets[{index}].seat",
                reason="not in the hold",
            )
        if ticket.seat in chosen:
            raise InvalidInput(
                f"seat {ticket.seat} has two tickets",
                field=f"tickets[{index}].seat",
                reason="duplicate",
            )
        if ticket.ticket_type not in prices:
            raise InvalidInput(
                f"this screening sells no {ticket.ticket_type!r} tickets"
                f" (it sells {', '.join(sorted(prices))})",
                field=f"tickets[{index}].ticket_type",
                reason="not sold for this screening",
            )
        chosen[ticket.seat] = (ticket.ticket_type, prices[ticket.ticket_type])
    missing = [seat.label for seat in held if seat.label not in chosen]
    if missing:
        raise InvalidInput(
            f"every held seat needs a ticket; missing: {', '.join(missing)}",
            field="tickets",
            reason="a held seat has no ticket",
        )
    return [(seat, *chosen[seat.label]) for seat in held]


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


def sale_status_after(status: SaleStatus, any_free: bool) -> SaleStatus | None:
    """The screening's new sale status, or None when it stays: sold out when no seat is free,
    back on sale when one is. Other statuses never flip."""
    if status == "on_sale" and not any_free:
        return "sold_out"
    if status == "sold_out" and any_free:
        return "on_sale"
    return None
