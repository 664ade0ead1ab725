"""Domain events: one frozen, tagged Struct per event type, all in the `AnyEvent` union.

On the wire (the outbox payload and each Redis Stream entry) an event is one flat JSON object:
the envelope fields of `Event` (`type`, `id`, `version`, `occurred_at`, `aggregate_type`,
`aggregate_id`, `venue_id`) beside the event's own fields. A consumer decodes `EventHead` first and
skips a `type` it does not know, so a newer producer never crashes an older consumer; new fields
always carry defaults.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from schemas.device_events import (
    DeviceAdded,
    DeviceChanged,
    DeviceCheckedOut,
    DeviceNoShow,
    DeviceOverdue,
    DeviceReservationCancelled,
    DeviceReservationEvent,
    DeviceReservationPromoted,
    DeviceReserved,
    DeviceReturned,
    DeviceWaitlisted,
    EmailFailed,
    EmailResendRequested,
)
from schemas.door_events import AdmissionConflict, AdmissionRecorded, AdmissionUndone
from schemas.event_base import Event, EventHead
from schemas.money_events import (
    BookingReseated,
    BookingUnseated,
    CheckoutFailed,
    CheckoutStarted,
    PaymentCallbackReceived,
    PaymentRecorded,
    RefundRecorded,
)

# Every event type is importable from here, wherever it is defined.
__all__ = [
    "EVENT_TYPES",
    "AdmissionConflict",
    "AdmissionRecorded",
    "AdmissionUndone",
    "AnyEvent",
    "BookingReseated",
    "BookingUnseated",
    "CheckoutFailed",
    "CheckoutStarted",
    "DeviceAdded",
    "DeviceChanged",
    "DeviceCheckedOut",
    "DeviceNoShow",
    "DeviceOverdue",
    "DeviceReservationCancelled",
    "DeviceReservationEvent",
    "DeviceReservationPromoted",
    "DeviceReserved",
    "DeviceReturned",
    "DeviceWaitlisted",
    "EmailFailed",
    "EmailResendRequested",
    "Event",
    "EventHead",
    "PaymentCallbackReceived",
    "PaymentRecorded",
    "RefundRecorded",
    "decode_event",
    "decode_head",
    "encode_event",
    "to_wire",
]


# -- the programme ------------------------------------------------------------------------------


class FilmPublished(Event, frozen=True, kw_only=True, tag="film.published"):
    aggregate = "film"
    aggregate_field = "film_id"
    film_id: UUID
    slug: str
    title: str


class FilmUpdated(Event, frozen=True, kw_only=True, tag="film.updated"):
    aggregate = "film"
    aggregate_field = "film_id"
    film_id: UUID
    slug: str
    title: str
    changed: list[str] = []


class ScreeningScheduled(Event, frozen=True, kw_only=True, tag="screening.scheduled"):
    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    film_id: UUID
    auditorium_id: UUID
    starts_at: datetime
    status: str


class ScreeningRescheduled(Event, frozen=True, kw_only=True, tag="screening.rescheduled"):
    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    previous_starts_at: datetime
    starts_at: datetime
    changed: list[str] = []


class ScreeningUpdated(Event, frozen=True, kw_only=True, tag="screening.updated"):
    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    changed: list[str] = []


class ScreeningCancelled(Event, frozen=True, kw_only=True, tag="screening.cancelled"):
    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    reason: str


# -- the box office -----------------------------------------------------------------------------
# Seats are listed by id and by label (the label is what a patron reads on the ticket).


class SeatsHeld(Event, frozen=True, kw_only=True, tag="hold.seats_held"):
    """A hold was made. A worker defers an expiry job to `expires_at`."""

    aggregate = "hold"
    aggregate_field = "hold_id"
    hold_id: UUID
    screening_id: UUID
    seat_ids: list[UUID]
    seat_labels: list[str]
    expires_at: datetime
    client_id: str = ""


class HoldChanged(Event, frozen=True, kw_only=True, tag="hold.changed"):
    aggregate = "hold"
    aggregate_field = "hold_id"
    hold_id: UUID
    screening_id: UUID
    added: list[str]
    removed: list[str]
    seat_ids: list[UUID]
    seat_labels: list[str]


class HoldExtended(Event, frozen=True, kw_only=True, tag="hold.extended"):
    """A hold lives longer: a fresh expiry job goes to the new `expires_at`."""

    aggregate = "hold"
    aggregate_field = "hold_id"
    hold_id: UUID
    screening_id: UUID
    previous_expires_at: datetime
    expires_at: datetime
    extensions: int


class HoldReleased(Event, frozen=True, kw_only=True, tag="hold.released"):
    """A hold ended before its time: `by` is patron (its bearer), staff or screening (the
    screening was cancelled)."""

    aggregate = "hold"
    aggregate_field = "hold_id"
    hold_id: UUID
    screening_id: UUID
    seat_ids: list[UUID]
    seat_labels: list[str]
    by: str


class HoldExpired(Event, frozen=True, kw_only=True, tag="hold.expired"):
    aggregate = "hold"
    aggregate_field = "hold_id"
    hold_id: UUID
    screening_id: UUID
    seat_ids: list[UUID]
    seat_labels: list[str]
    expires_at: datetime


class BookingConfirmed(Event, frozen=True, kw_only=True, tag="booking.confirmed"):
    aggregate = "booking"
    aggregate_field = "booking_id"
    booking_id: UUID
    reference: str
    hold_id: UUID
    screening_id: UUID
    seat_ids: list[UUID]
    seat_labels: list[str]
    patron_name: str
    patron_email: str
    currency: str
    total: int


class BookingCancelled(Event, frozen=True, kw_only=True, tag="booking.cancelled"):
    """`by` is patron, staff or screening; `refund_due` flags it for the cinema's refund."""

    aggregate = "booking"
    aggregate_field = "booking_id"
    booking_id: UUID
    reference: str
    screening_id: UUID
    seat_ids: list[UUID]
    seat_labels: list[str]
    by: str
    refund_due: bool
    reason: str = ""


class SeatsBlocked(Event, frozen=True, kw_only=True, tag="seats.blocked"):
    """Staff kept house seats of a screening off sale."""

    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    seat_ids: list[UUID]
    seat_labels: list[str]
    note: str = ""


class SeatsUnblocked(Event, frozen=True, kw_only=True, tag="seats.unblocked"):
    """Staff put blocked house seats of a screening back on sale."""

    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    seat_ids: list[UUID]
    seat_labels: list[str]


class ScreeningSoldOut(Event, frozen=True, kw_only=True, tag="screening.sold_out"):
    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID


class ScreeningWentOnSale(Event, frozen=True, kw_only=True, tag="screening.went_on_sale"):
    """A scheduled screening reached its on_sale_at (recorded once, by the first hold or sweep
    after it; reads count it on sale from that instant)."""

    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    on_sale_at: datetime


class ScreeningBackOnSale(Event, frozen=True, kw_only=True, tag="screening.back_on_sale"):
    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    seats_available: int


AnyEvent = (
    FilmPublished
    | FilmUpdated
    | ScreeningScheduled
    | ScreeningRescheduled
    | ScreeningUpdated
    | ScreeningCancelled
    | SeatsHeld
    | HoldChanged
    | HoldExtended
    | HoldReleased
    | HoldExpired
    | BookingConfirmed
    | BookingCancelled
    | SeatsBlocked
    | SeatsUnblocked
    | ScreeningSoldOut
    | ScreeningBackOnSale
    | ScreeningWentOnSale
    | DeviceReserved
    | DeviceWaitlisted
    | DeviceReservationPromoted
    | DeviceReservationCancelled
    | DeviceCheckedOut
    | DeviceReturned
    | DeviceNoShow
    | DeviceOverdue
    | DeviceAdded
    | DeviceChanged
    | EmailFailed
    | EmailResendRequested
    | AdmissionRecorded
    | AdmissionConflict
    | AdmissionUndone
    | CheckoutStarted
    | CheckoutFailed
    | PaymentCallbackReceived
    | PaymentRecorded
    | RefundRecorded
    | BookingUnseated
    | BookingReseated
)
EVENT_TYPES: dict[str, type[Event]] = {cls.type_name(): cls for cls in AnyEvent.__args__}

_head_decoder = msgspec.json.Decoder(EventHead)
_event_decoder = msgspec.json.Decoder(AnyEvent)
_encoder = msgspec.json.Encoder()


def to_wire(event: Event) -> dict[str, object]:
    """The flat wire form: the event's fields plus `aggregate_type` and `aggregate_id`."""
    body: dict[str, object] = msgspec.to_builtins(event)
    body["aggregate_type"] = event.aggregate
    body["aggregate_id"] = event.aggregate_id
    return body


def encode_event(event: Event) -> bytes:
    return _encoder.encode(to_wire(event))


def decode_head(raw: bytes | str) -> EventHead:
    return _head_decoder.decode(raw)


def decode_event(raw: bytes | str) -> Event | None:
    """The typed event, or None for a type this code does not know (skip it, never crash)."""
    head = decode_head(raw)
    if head.type not in EVENT_TYPES:
        return None
    event: Event = _event_decoder.decode(raw)
    return event
