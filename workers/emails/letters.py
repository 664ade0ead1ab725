"""What an email is rendered from: the facts of its screening and bookings as they were when its
event happened, kept in the email's row (`context`), so that a retry or a resend days later says
the same thing, and the templates need no database.

One context Struct per kind of email; `Letter` is one email to write."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class SeatLine(msgspec.Struct, frozen=True):
    label: str
    row_label: str
    kind: str
    ticket_type: str
    amount: int


class BookingFacts(msgspec.Struct, frozen=True):
    booking_id: UUID
    reference: str
    patron_name: str
    patron_email: str
    seats: list[SeatLine]
    currency: str
    total: int
    refund_due: bool = False
    # What the total includes (docs/money.md, "Prices"); 0 in emails written before them.
    discount_code: str | None = None
    discount: int = 0
    fees: int = 0
    tax: int = 0
    # The money as recorded when the email was made (docs/money.md): an email promises no
    # more than this. `refund_owed` is due back and not yet refunded; `refunded_at` is when
    # the last refund was recorded.
    paid: int = 0
    refunded: int = 0
    refund_owed: int = 0
    refunded_at: datetime | None = None


class ScreeningFacts(msgspec.Struct, frozen=True):
    screening_id: UUID
    version: int
    film_title: str
    film_year: int | None
    runtime_minutes: int
    rating: str
    directors: list[str]
    venue_id: UUID
    venue_name: str
    venue_address: list[str]
    time_zone: str
    auditorium_name: str
    hearing_loop: bool
    starts_at: datetime
    ends_at: datetime
    format: str
    audio_languages: list[str]
    subtitle_language: str | None
    subtitle_mode: str | None
    features: list[str]
    notes: str = ""
    device_kinds: list[str] = []  # kinds of access device in service for its auditorium


class ReservationFacts(msgspec.Struct, frozen=True):
    """A device reservation as its patron is told about it. `status` is what the email is about
    (reserved, waitlisted, cancelled); the desk hands the device over from `pickup_from` (the
    pick-up lead before the start) until `pickup_until` (then it goes to the next patron)."""

    reservation_id: UUID
    kind: str
    kind_name: str
    status: str
    patron_name: str
    patron_email: str
    pickup_from: datetime
    pickup_until: datetime
    booking_reference: str = ""
    number: str = ""  # seven characters, read out at the desk


class MailContext(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every context: when its cause happened, and the screening it is about."""

    occurred_at: datetime
    screening: ScreeningFacts

    def bookings_of(self) -> list[BookingFacts]:
        """The bookings the email is about (their tickets, their calendar entries)."""
        return []


class OneBooking(MailContext, frozen=True, kw_only=True):
    booking: BookingFacts

    def bookings_of(self) -> list[BookingFacts]:
        return [self.booking]


class ManyBookings(MailContext, frozen=True, kw_only=True):
    """A change to a whole screening, told to one patron about all of their bookings and device
    reservations (a patron may have only one or the other)."""

    bookings: list[BookingFacts]
    reservations: list[ReservationFacts] = []

    def bookings_of(self) -> list[BookingFacts]:
        return self.bookings


class BookingConfirmedMail(OneBooking, frozen=True, kw_only=True):
    pass


class BookingCancelledMail(OneBooking, frozen=True, kw_only=True):
    by: str
    reason: str = ""


class BookingUnseatedMail(OneBooking, frozen=True, kw_only=True):
    """A payment that arrived after the hold died, its seats gone: `why` (docs/money.md)."""

    why: str
    seats_wanted: list[str]


class ScreeningCancelledMail(ManyBookings, frozen=True, kw_only=True):
    reason: str


class ScreeningRescheduledMail(ManyBookings, frozen=True, kw_only=True):
    previous_starts_at: datetime


class ScreeningReminderMail(OneBooking, frozen=True, kw_only=True):
    hours: int


class OneReservation(MailContext, frozen=True, kw_only=True):
    reservation: ReservationFacts


class DeviceReservedMail(OneReservation, frozen=True, kw_only=True):
    pass


class DeviceWaitlistedMail(OneReservation, frozen=True, kw_only=True):
    position: int
    reason: str = "full"  # or unit_withdrawn: its unit went for repair, or the screening moved


class DevicePromotedMail(OneReservation, frozen=True, kw_only=True):
    pass


class DeviceCancelledMail(OneReservation, frozen=True, kw_only=True):
    by: str
    was: str
    reason: str = ""


class DevicePickupReminderMail(OneReservation, frozen=True, kw_only=True):
    hours: int


class Letter(msgspec.Struct, frozen=True):
    """One email to write: to whom, of which kind, rendered from `context`."""

    kind: str
    recipient: str
    recipient_name: str
    context: MailContext
    booking_id: UUID | None = None
    reservation_id: UUID | None = None
