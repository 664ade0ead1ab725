"""Events of access devices and notification emails (the rest are in schemas/events.py)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from schemas.event_base import Event

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
