"""Prices beyond the ticket types: a booked seat's breakdown, discount codes, memberships and a
venue's booking fee and tax rate (docs/money.md, "Prices")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from schemas.common import EmailAddress, MinorUnits, Name, check_email

DiscountKind = Literal["fixed", "percent"]
# Typed by patrons: letters, digits, `-` and `_`; compared without case (stored upper-case).
CodeText = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{3,32}$", examples=["SUMMER10"], description="A code."),
]
MembershipNumber = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,31}$",
        examples=["M-1024"],
        description="A membership number from the venue's membership list.",
    ),
]
Limit = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class PriceTotals(msgspec.Struct, frozen=True):
    """Sums over a booking's seats: list_price - discount + fee = amount; tax is the part of
    amount that is tax (prices include tax)."""

    list_price: int
    discount: int
    fee: int
    tax: int
    amount: int


class PricedSeat(msgspec.Struct, frozen=True):
    """One seat's price: list_price - discount + fee = amount; tax is the part of amount that is
    tax."""

    seat: str
    ticket_type: str
    list_price: int
    discount: int
    fee: int
    tax: int
    amount: int
    membership_number: str | None = None


class Breakdown(msgspec.Struct, frozen=True):
    """A hold's tickets priced: one line per held seat, the totals (sums of the lines) and the
    discount code used (upper-case), if any."""

    currency: str
    seats: list[PricedSeat]
    totals: PriceTotals
    discount_code: str | None = None


class DiscountCodeIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A discount code: `fixed` takes `amount` minor units off each ticket (never below zero),
    `percent` takes `amount` % off each ticket's price. Each restriction that is set must hold:
    the film, a series (of the film or the screening), one of `screening_ids`, the screening's
    date within `valid_from`..`valid_until` (inclusive, the venue's own dates). `max_uses` is
    the total number of bookings (and live holds) that may use it; `per_patron_limit` the
    number per patron email address."""

    code: CodeText
    kind: DiscountKind
    amount: Annotated[int, msgspec.Meta(ge=1, le=100_000_000)]
    film_id: UUID | None = None
    series_id: UUID | None = None
    screening_ids: Annotated[list[UUID], msgspec.Meta(max_length=500)] | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    max_uses: Limit | None = None
    per_patron_limit: Limit | None = None


class DiscountCode(msgspec.Struct, frozen=True):
    """A discount code as staff see it; `uses` counts the bookings and live holds using it."""

    id: UUID
    venue_id: UUID
    code: str
    kind: DiscountKind
    amount: int
    film_id: UUID | None
    series_id: UUID | None
    screening_ids: list[UUID] | None
    valid_from: date | None
    valid_until: date | None
    max_uses: int | None
    per_patron_limit: int | None
    uses: int
    active: bool
    created_at: datetime


class MembershipIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A member of the venue: a member price needs this number, valid on the screening's date."""

    number: MembershipNumber
    name: Name
    valid_from: date
    expires_on: date
    email: EmailAddress | None = None

    def __post_init__(self) -> None:
        if self.email is not None:
            check_email("email", self.email)


class Membership(msgspec.Struct, frozen=True):
    id: UUID
    venue_id: UUID
    number: str
    name: str
    email: str | None
    valid_from: date
    expires_on: date
    active: bool
    created_at: datetime


class VenuePrices(msgspec.Struct, frozen=True):
    """A venue's price settings: the booking fee added to each ticket that costs something, the
    tax rate included in prices (basis points: 600 is 6 %), and the most member-price tickets
    in one booking."""

    venue_id: UUID
    booking_fee: int
    tax_rate_bp: int
    member_tickets_per_booking: int


class VenuePricesIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The settings to change; those left out keep their value."""

    booking_fee: MinorUnits | msgspec.UnsetType = msgspec.UNSET
    tax_rate_bp: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | msgspec.UnsetType = msgspec.UNSET
    member_tickets_per_booking: Annotated[int, msgspec.Meta(ge=0, le=100)] | msgspec.UnsetType = (
        msgspec.UNSET
    )


class ActiveIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Deactivate (or reactivate) a code or a membership; nothing is deleted."""

    active: bool
