"""The staff dashboard's read models: a day's screenings with their occupancy, a screening's
board (seat map with who holds what, live holds), and live holds alone."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import msgspec

from schemas.box_office import SaleStatus, SeatCounts, SeatStatus
from schemas.catalog import SeatKind


class ScreeningLine(msgspec.Struct, frozen=True):
    """One screening as the dashboard lists it: when, where, and how full (live claims now)."""

    id: UUID
    film_title: str
    starts_at: datetime
    ends_at: datetime
    local_date: date
    local_start: str
    venue_id: UUID
    venue_name: str
    auditorium_name: str
    status: SaleStatus
    seats: int
    counts: SeatCounts
    admitted: int = 0  # tickets admitted at the door (of `counts.booked` expected)


class Programme(msgspec.Struct, frozen=True):
    """A day's screenings (venue-local dates). `previous_date`/`next_date` are the nearest days
    that have screenings, for stepping through the programme."""

    day: date | None
    previous_date: date | None
    next_date: date | None
    as_of: datetime
    screenings: list[ScreeningLine]


class StaffSeat(msgspec.Struct, frozen=True, omit_defaults=True):
    """A seat with its status and, for staff, what claims it: the hold, the booking reference or
    the block's note."""

    id: UUID
    label: str
    row_label: str
    row_number: int
    position: int
    x: float
    y: float
    kind: SeatKind
    status: SeatStatus
    hold_id: UUID | None = None
    booking_reference: str | None = None
    note: str | None = None


class LiveHold(msgspec.Struct, frozen=True):
    """A live hold with its clock as of the answer's `as_of`: count down from `seconds_left`
    with the client's own monotonic clock (no clock skew), not from `expires_at`."""

    id: UUID
    screening_id: UUID
    seats: list[str]
    client_id: str
    wheelchair_spaces: int
    extensions: int
    created_at: datetime
    expires_at: datetime
    age_seconds: float
    seconds_left: float
    expiring_soon: bool


class LiveHolds(msgspec.Struct, frozen=True):
    screening_id: UUID
    as_of: datetime
    expiring_soon_seconds: int
    holds: list[LiveHold]


class Board(msgspec.Struct, frozen=True):
    """Everything the dashboard shows about one screening, read in one snapshot."""

    screening: ScreeningLine
    as_of: datetime
    expiring_soon_seconds: int
    seats: list[StaffSeat]
    holds: list[LiveHold]
