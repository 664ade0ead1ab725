"""Events of money (docs/money.md): checkouts, callbacks, payments, refunds, unseated bookings."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from schemas.event_base import Event


class CheckoutStarted(Event, frozen=True, kw_only=True, tag="checkout.started"):
    """A hold's clock stopped while its patron pays: it lives until `expires_at` (the hold
    expiry job goes there)."""

    aggregate = "hold"
    aggregate_field = "hold_id"
    hold_id: UUID
    checkout_id: UUID
    screening_id: UUID
    amount: int
    currency: str
    expires_at: datetime


class CheckoutFailed(Event, frozen=True, kw_only=True, tag="checkout.failed"):
    """The provider said the payment failed: the hold is back on its own clock, `expires_at`
    (dead at once if that has passed)."""

    aggregate = "hold"
    aggregate_field = "hold_id"
    hold_id: UUID
    checkout_id: UUID
    screening_id: UUID
    expires_at: datetime


class PaymentCallbackReceived(Event, frozen=True, kw_only=True, tag="payment.callback_received"):
    """A provider's callback was stored (once per provider event id); a worker acts on it."""

    aggregate = "payment_callback"
    aggregate_field = "callback_key"
    callback_key: str  # "<provider>:<event id>"
    provider: str
    event_id: str
    callback_type: str
    checkout_id: UUID


class PaymentRecorded(Event, frozen=True, kw_only=True, tag="payment.recorded"):
    """Money in: by a provider (`provider`, `provider_payment_id`) or at the till (`by`)."""

    aggregate = "booking"
    aggregate_field = "booking_id"
    booking_id: UUID
    reference: str
    payment_id: UUID
    method: str
    amount: int
    currency: str
    paid: int  # the booking's payments so far, this one included
    provider: str | None = None
    provider_payment_id: str | None = None
    by: UUID | None = None


class RefundRecorded(Event, frozen=True, kw_only=True, tag="refund.recorded"):
    aggregate = "booking"
    aggregate_field = "booking_id"
    booking_id: UUID
    reference: str
    refund_id: UUID
    amount: int
    currency: str
    method: str
    reason: str
    refunded: int  # the booking's refunds so far, this one included
    by: UUID
    provider_reference: str | None = None


class BookingUnseated(Event, frozen=True, kw_only=True, tag="booking.unseated"):
    """A payment arrived and its seats could not be had ("paid, not seated"): `why` is
    'seats taken' (another party has them now), 'sales closed', 'screening cancelled', or
    'amount' (the amount or currency was not the checkout's). A refund of `paid` is due."""

    aggregate = "booking"
    aggregate_field = "booking_id"
    booking_id: UUID
    reference: str
    hold_id: UUID
    screening_id: UUID
    patron_name: str
    patron_email: str
    currency: str
    paid: int
    why: str


class BookingReseated(Event, frozen=True, kw_only=True, tag="booking.reseated"):
    """Staff seated a "paid, not seated" booking: it is confirmed, on these seats."""

    aggregate = "booking"
    aggregate_field = "booking_id"
    booking_id: UUID
    reference: str
    screening_id: UUID
    seat_ids: list[UUID]
    seat_labels: list[str]
    by: UUID
