"""A cancelled or rescheduled screening tells its device-reservation holders too, with or without
a booking: one email per patron, listing their bookings and devices; the device releases that
follow a cancellation send nothing more, whichever order they run in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from schemas.access import DeviceReservationIn
from schemas.box_office import HoldIn
from schemas.catalog import ScreeningPatch
from schemas.events import DeviceReservationCancelled, ScreeningCancelled
from schemas.staff import StaffMember
from services.access import service as access
from services.box_office import service as box_office
from services.catalog import service as catalog
from services.settings import Settings
from tests.integration.emails.conftest import (
    Mailbox,
    Pipeline,
    book,
    keep_units,
    reserve_device,
    screening_in,
    settle,
)
from tests.integration.emails.helpers import html_of, text_of
from tests.integration.emails.test_devices import RECEIVER, device_events
from workers.emails.kinds import letters_for
from workers.emails.present import clock, local_time

ZONE = "America/New_York"


async def manager(pool: asyncpg.Pool) -> StaffMember:
    row = await pool.fetchrow("SELECT id, email, name, role FROM staff_user WHERE role = 'manager'")
    return StaffMember(**dict(row))


def calendars(message: object) -> list[object]:
    return [p for p in message.walk() if p.get_content_type() == "text/calendar"]  # type: ignore[attr-defined]


async def test_a_cancelled_screening_tells_each_patron_once_devices_and_bookings_together(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    """Ana has a booking and a device tied to it; Cy a device and no booking; Fay a device tied
    to seats she holds; Dee a device and no address; Eve cancelled hers before. The device
    releases the workers make after the cancellation (through the booking, the hold and the
    screening) run before the emails consumer reads the cancellation: still one email each to
    Ana, Cy and Fay, and nothing else."""
    screening_id = await screening_in(demo, "cinema-2")
    booking = await book(demo, settings, screening_id, ["D3", "D4"])
    ana = await reserve_device(demo, settings, screening_id, None, None, booking=booking)
    cy = await reserve_device(demo, settings, screening_id, "Cy Ng", "cy@example.org")
    await reserve_device(demo, settings, screening_id, "Dee", None)
    eve = await reserve_device(demo, settings, screening_id, "Eve", "eve@example.org")
    assert eve.secret is not None
    async with demo.acquire() as conn:
        now = datetime.now(UTC)
        hold = await box_office.make_hold(
            conn, screening_id, HoldIn(seats=["D6"]), "fay", settings.box_office, now
        )
        await access.reserve(
            conn,
            screening_id,
            DeviceReservationIn("assistive_listening", "Fay", "fay@example.org", hold_id=hold.id),
            "fay",
            access.TieProof(hold_token=hold.token),
            settings.access,
            now,
        )
        await access.cancel_reservation(conn, eve.id, now, "", secret=eve.secret)
        await catalog.cancel_screening(conn, await manager(demo), screening_id, "a power cut")
        payload = await conn.fetchval(
            "SELECT payload FROM outbox WHERE event_type = 'screening.cancelled'"
        )
        cancelled = msgspec.convert(payload, ScreeningCancelled)
        # before the devices workers release anything: the live reservations
        before = await letters_for(conn, cancelled, settings)
        # the devices workers: the booking's cancellation releases Ana's, the screening's Cy's
        assert await access.release(conn, "booking", booking.id, datetime.now(UTC)) == 1
        assert await access.release(conn, "hold", hold.id, datetime.now(UTC)) == 1
        assert await access.release(conn, "screening", screening_id, datetime.now(UTC)) == 2
        after = await letters_for(conn, cancelled, settings)
        ended = [e for e in await device_events(demo) if isinstance(e, DeviceReservationCancelled)]
        assert sorted(e.by for e in ended) == [
            "booking",
            "hold",
            "patron",
            "screening",
            "screening",
        ]
        for event in ended:  # only Eve's, by herself, tells anyone
            mine = ["eve@example.org"] if event.reservation_id == eve.id else []
            assert [letter.recipient for letter in await letters_for(conn, event, settings)] == mine
    for letters in (before, after):
        assert sorted(
            (letter.recipient, len(letter.context.bookings_of())) for letter in letters
        ) == [("ana@example.org", 1), ("cy@example.org", 0), ("fay@example.org", 0)]
    async with pipeline.running():
        await settle(demo, 9)
    kinds = await demo.fetch(
        "SELECT kind, array_agg(recipient ORDER BY recipient) AS who FROM email"
        " GROUP BY kind ORDER BY kind"
    )
    assert [(r["kind"], r["who"]) for r in kinds] == [
        ("booking_confirmed", ["ana@example.org"]),
        ("device_cancelled", ["eve@example.org"]),  # by herself, before
        ("device_reserved", [f"{name}@example.org" for name in ("ana", "cy", "eve", "fay")]),
        ("screening_cancelled", ["ana@example.org", "cy@example.org", "fay@example.org"]),
    ]
    told = {
        m["X-Envelope-To"]: m
        for m in mailbox.messages()
        if m["X-Usher-Kind"] == "screening_cancelled"
    }
    text = text_of(told["ana@example.org"])
    assert f"Your booking {booking.reference} is cancelled." in text
    assert "Your device reservation is cancelled too: there is no device to collect." in text
    # Nothing was paid through Usher for it: the email promises no refund it cannot stand by.
    assert f"REFUND: no payment is recorded for booking {booking.reference}" in text
    assert f"Reservation: {ana.number}" in text
    assert RECEIVER in text
    assert len(calendars(told["ana@example.org"])) == 1
    cy_text = text_of(told["cy@example.org"])
    assert cy_text.startswith("CANCELLED: HERE ON ")
    assert "Dear Cy Ng," in cy_text
    assert "Your device reservation is cancelled: there is no device to collect." in cy_text
    assert "The reason: a power cut" in cy_text
    assert f"Reservation: {cy.number}" in cy_text
    assert "REFUND" not in cy_text
    assert "calendar" not in cy_text
    assert not calendars(told["cy@example.org"])  # no booking: no calendar entry to remove
    html = html_of(told["cy@example.org"])
    assert html.count("<h1>") == 1
    assert "<h2>Cancelled device reservation</h2>" in html


async def test_a_rescheduled_screening_tells_device_holders_when_to_collect_it_now(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    await keep_units(demo, "ALS-201", "ALS-202")
    screening_id = await screening_in(demo, "cinema-1")
    booking = await book(demo, settings, screening_id, ["C5"])
    ana = await reserve_device(demo, settings, screening_id, None, None, booking=booking)
    cy = await reserve_device(demo, settings, screening_id, "Cy Ng", "cy@example.org")
    bo = await reserve_device(demo, settings, screening_id, "Bo Li", "bo@example.org")
    assert (ana.status, cy.status, bo.status) == ("reserved", "reserved", "waitlisted")
    before = await demo.fetchval("SELECT starts_at FROM screening WHERE id = $1", screening_id)
    later = before + timedelta(days=14)
    async with pipeline.running():
        await settle(demo, 4)
        async with demo.acquire() as conn:
            await catalog.amend_screening(
                conn, await manager(demo), screening_id, ScreeningPatch(starts_at=later), None
            )
        await settle(demo, 7)
    moved = {
        m["X-Envelope-To"]: m
        for m in mailbox.messages()
        if m["X-Usher-Kind"] == "screening_rescheduled"
    }
    assert set(moved) == {"ana@example.org", "bo@example.org", "cy@example.org"}
    opens = later - timedelta(minutes=settings.access.pickup_lead_minutes)
    closes = later + timedelta(minutes=settings.access.no_show_minutes)
    collect = f"collect it from {local_time(opens, ZONE)} until {clock(closes, ZONE)}"
    ana_text = text_of(moved["ana@example.org"])
    assert "the screening of GHOST TROPIC you booked has moved" in ana_text
    assert f"New time: {local_time(later, ZONE)}" in ana_text
    assert booking.reference in ana_text
    assert f"Reservation: {ana.number}" in ana_text
    assert collect in ana_text
    assert len(calendars(moved["ana@example.org"])) == 1
    cy_text = text_of(moved["cy@example.org"])
    assert "the screening of GHOST TROPIC you reserved a device for has moved" in cy_text
    assert "Dear Cy Ng," in cy_text
    assert collect in cy_text
    assert "your tickets are valid" not in cy_text
    assert not calendars(moved["cy@example.org"])
    bo_text = text_of(moved["bo@example.org"])
    assert "YOUR DEVICE (ON THE WAITLIST)" in bo_text
    assert "You stay on the waitlist for the new time" in bo_text
    assert collect not in bo_text
    assert collect in html_of(moved["cy@example.org"])
