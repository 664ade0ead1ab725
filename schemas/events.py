"""Domain events: one frozen, tagged Struct per event type, all in the `AnyEvent` union.

On the wire (the outbox payload and each Redis Stream entry) an event is one flat JSON object:
the envelope fields of `Event` (`type`, `id`, `version`, `occurred_at`, `aggregate_type`,
`aggregate_id`, `venue_id`) beside the event's own fields. A consumer decodes `EventHead` first and
skips a `type` it does not know, so a newer producer never crashes an older consumer; new fields
always carry defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

import msgspec


class EventHead(msgspec.Struct, frozen=True):
    """The envelope alone: enough to route, deduplicate and order an event of any type."""

    type: str
    id: UUID
    version: int
    occurred_at: datetime
    aggregate_type: str
    aggregate_id: str
    venue_id: UUID | None = None


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event. Subclasses set `aggregate` (the kind of thing it concerns) and
    `aggregate_field` (the field that holds that thing's id)."""

    aggregate: ClassVar[str]
    aggregate_field: ClassVar[str]

    id: UUID
    occurred_at: datetime
    version: int = 1
    venue_id: UUID | None = None

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_field))

    @classmethod
    def type_name(cls) -> str:
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str)
        return tag


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


class ScreeningBackOnSale(Event, frozen=True, kw_only=True, tag="screening.back_on_sale"):
    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    seats_available: int


# -- access devices -----------------------------------------------------------------------------
# Every reservation event names the screening, the kind of device and the patron (for emails);
# `asset_tag` is the unit's label where a unit is concerned.


class DeviceReservationEvent(Event, frozen=True, kw_only=True):
    """The fields every device reservation event shares (not an event type itself)."""

    aggregate = "device_reservation"
    aggregate_field = "reservation_id"
    reservation_id: UUID
    screening_id: UUID
    kind: str
    patron_name: str = ""
    patron_email: str = ""


class DeviceReserved(
    DeviceReservationEvent, frozen=True, kw_only=True, tag="device_reservation.reserved"
):
    """A patron reserved a device and a unit was set aside at once."""

    device_id: UUID
    asset_tag: str
    booking_reference: str = ""
    hold_id: UUID | None = None


class DeviceWaitlisted(
    DeviceReservationEvent, frozen=True, kw_only=True, tag="device_reservation.waitlisted"
):
    """No unit is free for the screening: the patron is on the waitlist at `position`. `reason`
    is `full` for a new reservation, `unit_withdrawn` when its unit went for repair (or the
    screening moved) and no other unit was free; it keeps its place in the queue."""

    position: int
    reason: str = "full"


class DeviceReservationPromoted(
    DeviceReservationEvent, frozen=True, kw_only=True, tag="device_reservation.promoted"
):
    """A unit came free and the next waitlisted patron got it."""

    device_id: UUID
    asset_tag: str


class DeviceReservationCancelled(
    DeviceReservationEvent, frozen=True, kw_only=True, tag="device_reservation.cancelled"
):
    """`by`: patron, staff, booking (cancelled), hold (ended unconfirmed), screening (cancelled)
    or system (the screening started while it was still waitlisted). `device_id` is the unit it
    freed, if it had one."""

    by: str
    was: str
    reason: str = ""
    device_id: UUID | None = None


class DeviceCheckedOut(
    DeviceReservationEvent, frozen=True, kw_only=True, tag="device_reservation.checked_out"
):
    device_id: UUID
    asset_tag: str
    staff_id: UUID | None = None


class DeviceReturned(
    DeviceReservationEvent, frozen=True, kw_only=True, tag="device_reservation.returned"
):
    """`state` is the unit's state after the return (charging, available, needs_repair,
    retired); `late` when it came back after the overdue time."""

    device_id: UUID
    asset_tag: str
    state: str
    late: bool = False
    staff_id: UUID | None = None


class DeviceNoShow(
    DeviceReservationEvent, frozen=True, kw_only=True, tag="device_reservation.no_show"
):
    """The screening started a while ago and the device was never collected: the unit is free."""

    device_id: UUID
    asset_tag: str


class DeviceOverdue(
    DeviceReservationEvent, frozen=True, kw_only=True, tag="device_reservation.overdue"
):
    """A unit lent for a screening was not returned by `due_at`: staff should follow it up."""

    device_id: UUID
    asset_tag: str
    due_at: datetime


class DeviceAdded(Event, frozen=True, kw_only=True, tag="device.added"):
    aggregate = "device"
    aggregate_field = "device_id"
    device_id: UUID
    asset_tag: str
    kind: str
    auditorium_id: UUID | None = None


class DeviceChanged(Event, frozen=True, kw_only=True, tag="device.changed"):
    """Staff marked a unit (charged, charging, needs repair, retired), tuned it or noted something.
    A unit back in service (from needs_repair or retired) lets the waitlist move."""

    aggregate = "device"
    aggregate_field = "device_id"
    device_id: UUID
    asset_tag: str
    kind: str
    previous_state: str
    state: str
    auditorium_id: UUID | None = None
    changed: list[str] = []


# -- notification emails ------------------------------------------------------------------------


class EmailFailed(Event, frozen=True, kw_only=True, tag="email.failed"):
    """An email will not be sent without a staff resend: the server refused it for good
    (`failure` permanent, a 5xx) or it kept failing until the last attempt (exhausted)."""

    aggregate = "email"
    aggregate_field = "email_id"
    email_id: UUID
    kind: str
    recipient: str
    failure: str
    error: str
    attempts: int
    booking_id: UUID | None = None
    screening_id: UUID | None = None


class EmailResendRequested(Event, frozen=True, kw_only=True, tag="email.resend_requested"):
    """Staff asked for an email to be sent again (to `recipient`, perhaps corrected)."""

    aggregate = "email"
    aggregate_field = "email_id"
    email_id: UUID
    kind: str
    recipient: str
    requested_by: UUID | None = None


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
