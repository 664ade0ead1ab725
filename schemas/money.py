"""Money in and out of a booking: checkouts, the payment providers' callbacks, payments at the
till, refunds and the "paid after expiry" list (docs/money.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from schemas.box_office import BookingStatus, Patron, SeatLabel
from schemas.common import ONE_LINE, CurrencyCode

Amount = Annotated[int, msgspec.Meta(ge=1, le=100_000_000, description="Minor units (cents).")]
TillMethod = Literal["cash", "card"]
PaymentMethod = Literal["provider", "cash", "card"]
RefundMethod = Literal["provider", "cash", "card", "voucher", "other"]
CallbackType = Literal["payment.succeeded", "payment.failed"]
CheckoutStatus = Literal["open", "paid", "failed", "expired"]
ProviderId = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class CheckoutLine(msgspec.Struct, frozen=True):
    """One seat of a checkout and what it costs, fixed until its payment books it:
    list_price - discount + fee = amount; tax is the part of amount that is tax."""

    seat: str
    ticket_type: str
    amount: int
    list_price: int
    discount: int
    fee: int
    tax: int
    membership_number: str | None = None


class Checkout(msgspec.Struct, frozen=True):
    """A hold waiting for its payment: pass `id` to the payment provider (as metadata) and
    charge `amount` in `currency`; the hold is kept until `expires_at`."""

    id: UUID
    hold_id: UUID
    status: CheckoutStatus
    amount: int
    currency: str
    expires_at: datetime
    breakdown: list[CheckoutLine]
    discount_code: str | None = None


class PaymentCallbackIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a payment provider (or the website's integration with it) posts to
    /v1/payments/callbacks/{provider}, signed (docs/money.md, "The callback")."""

    id: ProviderId  # the provider's event id: a second delivery of it is a no-op
    type: CallbackType
    checkout_id: UUID
    payment_id: ProviderId  # the provider's payment id: one payment is recorded once
    amount: Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
    currency: CurrencyCode
    occurred_at: datetime


class CallbackReceived(msgspec.Struct, frozen=True):
    """The callback is stored (or was already: `duplicate`); it is acted on after."""

    received: bool
    duplicate: bool


class TillPaymentIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Money taken at the till for a booking: at most its balance."""

    method: TillMethod
    amount: Amount


class RefundIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A refund as it was made. `expected_refunded` is what the booking showed as refunded
    when the refund was decided: a double click or a stale page acts once (409 otherwise)."""

    amount: Amount
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=ONE_LINE)]
    method: RefundMethod
    expected_refunded: Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
    provider_reference: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)] | None
    ) = None


class PaymentLine(msgspec.Struct, frozen=True):
    id: UUID
    method: PaymentMethod
    amount: int
    recorded_at: datetime
    provider: str | None = None
    provider_payment_id: str | None = None
    recorded_by: UUID | None = None


class RefundLine(msgspec.Struct, frozen=True):
    id: UUID
    amount: int
    reason: str
    method: RefundMethod
    recorded_at: datetime
    recorded_by: UUID
    provider_reference: str | None = None


class BookingMoney(msgspec.Struct, frozen=True):
    """A booking's money: `refund_owed` is what is due back and not yet refunded (on a
    cancelled booking flagged for refund, or a "paid, not seated" one: all that was paid and
    not refunded; on a confirmed one: what was paid beyond its total)."""

    reference: str
    status: BookingStatus
    currency: str
    total: int
    paid: int
    refunded: int
    balance: int
    refund_owed: int
    payments: list[PaymentLine]
    refunds: list[RefundLine]


class UnseatedBooking(msgspec.Struct, frozen=True):
    """A booking paid after its hold died whose seats were gone ("paid, not seated")."""

    reference: str
    booking_id: UUID
    screening_id: UUID
    patron: Patron
    tickets: int
    seats_wanted: list[str]
    currency: str
    total: int
    paid: int
    refunded: int
    refund_owed: int
    created_at: datetime


class ReseatIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Seat a "paid, not seated" booking: one seat per ticket, all or nothing.
    `expected_status` guards a double click or a stale page (409 when it is not so)."""

    seats: Annotated[list[SeatLabel], msgspec.Meta(min_length=1, max_length=100)]
    expected_status: Literal["unseated"]
