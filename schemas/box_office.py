"""The box office: seat maps, holds and bookings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from schemas.catalog import SeatKind, TicketType
from schemas.common import CONTROLS, ONE_LINE, EmailAddress, Name, Note, check_email
from schemas.prices import CodeText, MembershipNumber, PriceTotals

SeatLabel = Annotated[
    str,
    msgspec.Meta(
        pattern=rf"^[^{CONTROLS}\s]{{1,12}}$", examples=["F12"], description="A seat label."
    ),
]
SeatStatus = Literal["available", "held", "booked", "blocked"]
HoldStatus = Literal["live", "released", "expired", "confirmed", "cancelled"]
# "unseated": paid after its hold died, its seats gone ("paid, not seated"; docs/money.md)
BookingStatus = Literal["confirmed", "cancelled", "unseated"]
CancelledBy = Literal["patron", "staff", "screening"]
SaleStatus = Literal["scheduled", "on_sale", "sold_out", "cancelled"]
SeatCount = Annotated[int, msgspec.Meta(ge=1, le=100)]


class SeatState(msgspec.Struct, frozen=True):
    """One seat of a screening's map and what it is doing now."""

    id: UUID
    label: str
    row_label: str
    row_number: int
    position: int
    x: float
    y: float
    kind: SeatKind
    status: SeatStatus


class SeatCounts(msgspec.Struct, frozen=True):
    available: int
    held: int
    booked: int
    blocked: int


class SeatMap(msgspec.Struct, frozen=True):
    """Every seat of a screening with its status, as of `as_of`. `version` is also the ETag:
    send it back as If-None-Match to get 304 while nothing changed."""

    screening_id: UUID
    status: SaleStatus
    version: str
    as_of: datetime
    counts: SeatCounts
    seats: list[SeatState]


class HoldIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Either `seats` (labels) or `count` (best available, in this order of preference: side by
    side in one row closest to the centre leaving no single empty seat, then side by side
    leaving one, then split over two adjacent rows, then the best seats anywhere; with
    `together: "required"` only the first two). `wheelchair_spaces` declares how many people in
    the party need a wheelchair space: wheelchair spaces are held only when declared, and with
    `count`, exactly that many of the seats are wheelchair spaces, side by side with the rest."""

    seats: Annotated[list[SeatLabel], msgspec.Meta(max_length=100)] = []
    count: SeatCount | None = None
    wheelchair_spaces: Annotated[int, msgspec.Meta(ge=0, le=20)] = 0
    # Best available: "preferred" takes the best seats together if any, else the best split;
    # "required" answers 409 `no seats together` instead of splitting the party.
    together: Literal["preferred", "required"] = "preferred"


class HoldChangeIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Seats to add to and remove from a live hold; its expiry time does not change."""

    add: Annotated[list[SeatLabel], msgspec.Meta(max_length=100)] = []
    remove: Annotated[list[SeatLabel], msgspec.Meta(max_length=100)] = []


class HeldSeat(msgspec.Struct, frozen=True):
    id: UUID
    label: str
    row_label: str
    kind: SeatKind


class Hold(msgspec.Struct, frozen=True, omit_defaults=True):
    """A hold. `token` is sent once, when the hold is made: keep it, it is the only way to
    change, extend, release or confirm the hold (header `X-Hold-Token`)."""

    id: UUID
    screening_id: UUID
    status: HoldStatus
    seats: list[HeldSeat]
    wheelchair_spaces: int
    created_at: datetime
    expires_at: datetime
    latest_expiry: Annotated[
        datetime, msgspec.Meta(description="No extension goes past this time.")
    ]
    extensions: int
    extensions_left: int
    token: str | None = None
    placement: Annotated[
        str | None,
        msgspec.Meta(
            description="How best available placed the party, when it chose the seats: "
            "'together', 'together, leaving a single seat', 'split over two rows' or 'split'."
        ),
    ] = None


class Patron(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    email: EmailAddress


class PatronIn(Patron, frozen=True, forbid_unknown_fields=True):
    """The patron a confirmation names, the address parsed as one addr-spec (a Booking's
    `patron`, read back from storage, is not parsed again: an older row must still read)."""

    def __post_init__(self) -> None:
        check_email("email", self.email)


class TicketIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A held seat's ticket; a `member` ticket needs the member's `membership_number`."""

    seat: SeatLabel
    ticket_type: TicketType
    membership_number: MembershipNumber | None = None


class ConfirmIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Turn a live hold into a booking: one ticket per held seat, each with a ticket type the
    screening sells. Payment is taken outside Usher; pass its reference if there is one. A
    `discount_code` (one per booking, any case) takes its discount off each ticket."""

    patron: PatronIn
    tickets: Annotated[list[TicketIn], msgspec.Meta(min_length=1, max_length=100)]
    payment_reference: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)] | None
    ) = None
    discount_code: CodeText | None = None


class BookedSeat(msgspec.Struct, frozen=True):
    """A booked seat and its price: list_price - discount + fee = amount; tax is the part of
    amount that is tax (docs/money.md, "Prices")."""

    id: UUID
    label: str
    row_label: str
    kind: SeatKind
    ticket_type: str
    list_price: int
    discount: int
    fee: int
    tax: int
    amount: int
    membership_number: str | None = None


class Booking(msgspec.Struct, frozen=True, omit_defaults=True):
    """A booking. `secret` is sent with the confirmation (and with a retried confirmation): it
    lets the patron see and cancel the booking (header `X-Booking-Secret`). `paid` and
    `refunded` are what is recorded (docs/money.md); `refund_owed` what is due back and not
    yet refunded."""

    id: UUID
    reference: str
    screening_id: UUID
    hold_id: UUID
    status: BookingStatus
    patron: Patron
    seats: list[BookedSeat]
    currency: str
    total: int
    totals: Annotated[PriceTotals, msgspec.Meta(description="The sums of the seats' figures.")]
    payment_reference: str | None
    refund_due: bool
    created_at: datetime
    paid: int
    refunded: int
    refund_owed: int
    discount_code: str | None = None
    cancelled_at: datetime | None = None
    cancelled_by: CancelledBy | None = None
    secret: str | None = None


class CancelBookingIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`refund` is for staff: false when the cinema's policy gives no refund. A patron's own
    cancellation is flagged for refund whenever the booking cost something."""

    reason: Note = ""
    refund: bool | None = None


class BlockIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """House seats kept off sale by staff (all or nothing, like a hold)."""

    seats: Annotated[list[SeatLabel], msgspec.Meta(min_length=1, max_length=500)]
    note: Note = ""


class Blocks(msgspec.Struct, frozen=True):
    screening_id: UUID
    seats: list[str]
