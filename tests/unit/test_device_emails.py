"""Device-reservation emails without servers: the pick-up window, the reminders' names, grouping
patrons by address, and every kind rendered (plain text and escaped, accessible HTML)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import msgspec
import pytest

from services.access.rules import loan_span, pickup_window
from services.notifications import rules
from services.settings import get_settings
from tests.unit.test_emails import BOOKING, SCREENING
from workers.emails.facts import by_patron
from workers.emails.kinds import KINDS
from workers.emails.letters import (
    DeviceCancelledMail,
    DevicePickupReminderMail,
    DevicePromotedMail,
    DeviceReservedMail,
    DeviceWaitlistedMail,
    MailContext,
    ReservationFacts,
    ScreeningCancelledMail,
    ScreeningRescheduledMail,
)
from workers.emails.render import decode_context, render

WINDOW = pickup_window(SCREENING.starts_at, 30, 20)
RESERVATION = ReservationFacts(
    reservation_id=UUID("01900000-0000-7000-8000-0000000000aa"),
    number="M4QZ7KD",
    kind="neckloop",
    kind_name="Assistive-listening receiver with a neckloop (for hearing aids with a T-coil)",
    status="reserved",
    patron_name="Zoë <b>Ünal</b>",
    patron_email="zoe@example.org",
    pickup_from=WINDOW.start,
    pickup_until=WINDOW.end,
    booking_reference="K7P2QXM",
)
WAITING = msgspec.structs.replace(RESERVATION, status="waitlisted", booking_reference="")
WHEN = {"occurred_at": datetime(2026, 5, 1, tzinfo=UTC), "screening": SCREENING}

CONTEXTS: dict[str, MailContext] = {
    "device_reserved": DeviceReservedMail(**WHEN, reservation=RESERVATION),
    "device_waitlisted": DeviceWaitlistedMail(**WHEN, reservation=WAITING, position=3),
    "device_promoted": DevicePromotedMail(**WHEN, reservation=RESERVATION),
    "device_cancelled": DeviceCancelledMail(
        **WHEN, reservation=RESERVATION, by="staff", was="reserved", reason="<unit lost>"
    ),
    "device_pickup_reminder": DevicePickupReminderMail(**WHEN, reservation=RESERVATION, hours=24),
}


def test_pickup_opens_where_the_loan_span_begins_and_closes_at_the_no_show_deadline() -> None:
    starts = datetime(2026, 5, 15, 23, 0, tzinfo=UTC)
    window = pickup_window(starts, 30, 20)
    assert window.start == starts - timedelta(minutes=30)
    assert window.end == starts + timedelta(minutes=20)
    assert loan_span(starts, starts + timedelta(hours=2), 30, 30).start == window.start


def test_a_reservations_pickup_reminder_has_one_name_of_its_own() -> None:
    reservation = uuid4()
    assert rules.pickup_reminder_cause(reservation) == rules.pickup_reminder_cause(reservation)
    assert rules.pickup_reminder_cause(reservation) != rules.reminder_cause(reservation)
    assert rules.pickup_reminder_cause(reservation).version == 5


def test_patrons_are_grouped_by_address_with_their_bookings_and_devices() -> None:
    same = msgspec.structs.replace(RESERVATION, patron_email="ANA@example.org ")
    other = msgspec.structs.replace(RESERVATION, patron_email="bo@example.org")
    grouped = by_patron([BOOKING], [same, other])
    assert grouped == {"ana@example.org": ([BOOKING], [same]), "bo@example.org": ([], [other])}


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_every_device_kind_renders_what_the_patron_needs(kind: str) -> None:
    context = CONTEXTS[kind]
    # what is stored in the row reads back as the same context
    assert decode_context(kind, msgspec.to_builtins(context)) == context
    rendered = render(kind, context, get_settings())
    assert rendered.calendar is None
    assert not rendered.tickets
    for part in (rendered.text, rendered.html):
        assert "neckloop (for hearing aids with a T-coil)" in part
        assert "M4QZ7KD" in part  # the number read out at the desk, not the 36-character id
        assert "01900000-0000-7000-8000-0000000000aa" not in part
        assert "Friday 15 May 2026, 7:00 PM EDT" in part
        assert "Cinema 2" in part
        assert "6:30 PM" in part  # the pick-up lead before 7:00 PM
    assert "Zoë <b>Ünal</b>" in rendered.text
    assert "Zoë &lt;b&gt;Ünal&lt;/b&gt;" in rendered.html  # escaped in every partial
    assert "<b>" not in rendered.html
    assert rendered.html.count("<h1>") == 1
    assert f"<title>{rendered.subject}</title>" in rendered.html.replace("&amp;", "&")
    assert KINDS[kind].context is type(context)


def test_a_screening_wide_email_to_a_patron_with_devices_only_carries_no_calendar() -> None:
    moved = ScreeningRescheduledMail(
        **WHEN,
        bookings=[],
        reservations=[RESERVATION, WAITING],
        previous_starts_at=SCREENING.starts_at - timedelta(days=1),
    )
    rendered = render("screening_rescheduled", moved, get_settings())
    assert rendered.calendar is None
    assert "Dear Zoë <b>Ünal</b>," in rendered.text
    assert "you reserved a device for has moved" in rendered.text
    assert "YOUR DEVICE (ON THE WAITLIST)" in rendered.text
    cancelled = ScreeningCancelledMail(
        **WHEN, bookings=[BOOKING], reservations=[RESERVATION], reason="flood"
    )
    rendered = render("screening_cancelled", cancelled, get_settings())
    assert rendered.calendar is not None  # the booking's entry is removed
    assert "Your device reservation is cancelled too" in rendered.text
    # a context stored before devices were told (no `reservations`) still reads
    old = msgspec.to_builtins(cancelled)
    del old["reservations"]
    assert decode_context("screening_cancelled", old).reservations == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("by", "was", "says"),
    [
        ("patron", "reserved", "as you asked, we have cancelled your device reservation for HERE"),
        ("staff", "waitlisted", "the box office has cancelled your place on the waitlist"),
        ("booking", "reserved", "your booking K7P2QXM for HERE on"),
        ("hold", "reserved", "the seats you were holding for HERE on"),
        ("system", "waitlisted", "has started, and no device came free for you in time"),
    ],
)
def test_a_cancellation_says_who_ended_it(by: str, was: str, says: str) -> None:
    context = DeviceCancelledMail(**WHEN, reservation=RESERVATION, by=by, was=was, reason="r")
    rendered = render("device_cancelled", context, get_settings())
    for part in (rendered.text, rendered.html):
        assert says in part
        assert "There is no device to collect for you now." in part
    assert ("The reason given: r" in rendered.text) is (by in ("patron", "staff"))


def test_a_patron_whose_unit_was_withdrawn_hears_why_and_keeps_their_place() -> None:
    context = DeviceWaitlistedMail(**WHEN, reservation=WAITING, position=1, reason="unit_withdrawn")
    text = render("device_waitlisted", context, get_settings()).text
    assert "can no longer be lent" in text
    assert "You are back on the waitlist, in the place you had." in text
    assert "Your place on the waitlist: 1" in text
