"""Access devices: a venue's inventory of assistive devices and patrons' reservations of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from schemas.common import EmailAddress, Name, Note, check_email

DeviceKind = Literal["assistive_listening", "neckloop", "captioning", "audio_description"]
DEVICE_KINDS: tuple[str, ...] = DeviceKind.__args__  # type: ignore[attr-defined]
DeviceState = Literal["available", "on_loan", "charging", "needs_repair", "retired"]
# What staff may set by hand; `on_loan` comes and goes with check-out and return.
SettableState = Literal["available", "charging", "needs_repair", "retired"]
ReservationStatus = Literal[
    "waitlisted", "reserved", "checked_out", "returned", "cancelled", "no_show", "lapsed"
]
EndedBy = Literal["patron", "staff", "booking", "hold", "screening", "system"]

AssetTag = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$",
        examples=["ALS-101"],
        description="The label on the unit, unique in its venue.",
    ),
]
PatronName = Name
PatronEmail = EmailAddress
BookingReference = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{1,20}$", examples=["K7MQ2XR"])
]


class DeviceOffer(msgspec.Struct, frozen=True):
    """One kind of device a screening offers: `reservable` units are free for its whole loan
    span (0: a reservation joins the waitlist, which already has `waitlisted` patrons)."""

    kind: DeviceKind
    name: str
    reservable: int
    waitlisted: int


class ScreeningDevices(msgspec.Struct, frozen=True):
    """The devices a screening offers, by what its auditorium and the listing support and what the
    venue has. `hearing_loop`: hearing aids set to T hear the film directly, no device needed."""

    screening_id: UUID
    hearing_loop: bool
    offers: list[DeviceOffer]


class DeviceReservationIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Reserve one device of `kind`. Name a `booking_reference` of this screening (the patron's
    name and e-mail then default to the booking's), or a `hold_id` together with its
    `X-Hold-Token` header, to tie the reservation to it: cancelling the booking, or the hold
    ending unconfirmed, releases the device. With neither (a ticket bought at the door),
    `patron_name` is needed."""

    kind: DeviceKind
    patron_name: PatronName | None = None
    patron_email: PatronEmail | None = None
    booking_reference: BookingReference | None = None
    hold_id: UUID | None = None

    def __post_init__(self) -> None:
        check_email("patron_email", self.patron_email)


class DeviceReservation(msgspec.Struct, frozen=True, omit_defaults=True):
    """A device reservation. `secret` is sent once, when it is made: it lets the patron see and
    cancel it (header `X-Reservation-Secret`). `position` is the place in the waitlist (1 =
    next), only while waitlisted."""

    id: UUID
    screening_id: UUID
    kind: DeviceKind
    status: ReservationStatus
    patron_name: str
    requested_at: datetime
    number: str = ""  # seven characters, e.g. `K7MQ2XD`: what the patron reads out at the desk
    patron_email: str | None = None
    position: int | None = None
    booking_reference: str | None = None
    hold_id: UUID | None = None
    reserved_at: datetime | None = None
    checked_out_at: datetime | None = None
    returned_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: EndedBy | None = None
    secret: str | None = None


class CancelReservationIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Note = ""


class Device(msgspec.Struct, frozen=True):
    """One unit. `auditorium_id`: the auditorium it is tuned to (null: works in every one)."""

    id: UUID
    venue_id: UUID
    asset_tag: str
    kind: DeviceKind
    state: DeviceState
    auditorium_id: UUID | None
    note: str
    version: int


class DeviceIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    asset_tag: AssetTag
    kind: DeviceKind
    auditorium_id: UUID | None = None
    note: Note = ""


class DevicePatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Mark a unit charged (available), charging, needing repair or retired, tune it to another
    auditorium (null: works in every one), or change its note; only the fields present change.
    A unit on loan is returned first. Withdrawing a unit (repair, retired) moves its coming
    reservations to other free units, or back to the waitlist in their original place."""

    state: SettableState | msgspec.UnsetType = msgspec.UNSET
    auditorium_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    note: Note | msgspec.UnsetType = msgspec.UNSET


class CheckOutIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The unit handed over, by its asset tag: it must be charged (available), of the
    reservation's kind and tuned to the screening's auditorium. It need not be the unit set
    aside: the reservation moves to it, and whoever had it set aside gets another free unit."""

    asset_tag: AssetTag


class ReturnIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The state the returned unit goes to: `charging` unless it is charged already, broken or
    lost for good."""

    state: Literal["charging", "available", "needs_repair", "retired"] = "charging"
    note: Note = ""


class PickUp(msgspec.Struct, frozen=True, omit_defaults=True):
    """A line of a screening's pick-up list. `ready` says whether the unit set aside can be handed
    over as it is; if not, `problem` says why (charging, tuned elsewhere, ...)."""

    reservation_id: UUID
    kind: DeviceKind
    status: ReservationStatus
    patron_name: str
    requested_at: datetime
    ready: bool
    seats: list[str]
    number: str = ""  # the reservation's number, as the patron reads it out
    patron_email: str | None = None
    booking_reference: str | None = None
    position: int | None = None
    device: Device | None = None
    problem: str | None = None
    checked_out_at: datetime | None = None
    overdue: bool = False


class PickUpList(msgspec.Struct, frozen=True):
    screening_id: UUID
    auditorium_id: UUID
    starts_at: datetime
    items: list[PickUp]


class Requirements(msgspec.Struct, frozen=True):
    """What US rules ask of the venue (ADA 2010 Standards 219.3 for receivers, counted per
    auditorium; 28 CFR 36.303(g) for captioning and audio description) beside what it has in
    service (neither needing repair nor retired)."""

    receivers_required: int
    receivers: int
    hearing_aid_compatible_required: int
    hearing_aid_compatible: int
    captioning_required: int
    captioning: int
    audio_description_required: int
    audio_description: int


class Inventory(msgspec.Struct, frozen=True):
    venue_id: UUID
    devices: list[Device]
    requirements: Requirements
