"""The contents, headers and attachments of each kind of email, as a real SMTP server receives
them: bookings made and changed through the box office and the catalog, events carried by the
real relay and the `emails` consumer group, sent by the arq send job."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from schemas.box_office import CancelBookingIn
from schemas.catalog import ScreeningPatch
from schemas.money import RefundIn, TillPaymentIn
from schemas.staff import StaffMember
from services import ticket_codes
from services.box_office import service as box_office
from services.catalog import service as catalog
from services.door import codes as door_codes
from services.money import service as money
from services.settings import Settings
from tests.integration.emails.conftest import (
    Mailbox,
    Pipeline,
    book,
    screening_in,
    settle,
)
from tests.integration.emails.helpers import (
    calendar_of,
    colour_pairs,
    contrast,
    html_of,
    images_of,
    text_of,
)
from workers.emails.attachments import qr_png
from workers.emails.facts import one_booking


async def manager(pool: asyncpg.Pool) -> StaffMember:
    row = await pool.fetchrow("SELECT id, email, name, role FROM staff_user WHERE role = 'manager'")
    return StaffMember(**dict(row))


def events_of(message: object) -> list[object]:
    return [c for c in calendar_of(message).walk() if c.name == "VEVENT"]  # type: ignore[arg-type]


async def test_booking_confirmed_has_everything_for_the_door_and_the_calendar(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    screening_id = await screening_in(demo, "cinema-2")  # HERE, hearing loop, subtitles
    booking = await book(
        demo,
        settings,
        screening_id,
        ["J1", "J2"],
        tickets=["adult", "student"],
        wheelchair_spaces=1,
    )
    async with pipeline.running():
        await settle(demo, 1)
    (message,) = mailbox.messages()
    row = await demo.fetchrow("SELECT * FROM email")
    starts_at = await demo.fetchval("SELECT starts_at FROM screening WHERE id = $1", screening_id)

    # headers
    assert row["kind"] == "booking_confirmed"
    assert row["status"] == "sent"
    assert row["attempts"] == 1
    assert row["booking_id"] == booking.id
    assert message["Message-ID"] == row["message_id"]
    assert re.fullmatch(r"<[0-9a-f-]{36}@usher\.invalid>", row["message_id"])
    assert message["From"] == settings.mail.sender
    assert message["To"] == "Ana Pop <ana@example.org>"
    assert message["X-Envelope-To"] == "ana@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["References"] == f"<booking-{booking.id}@usher.invalid>"
    assert message["Date"] is not None
    local = starts_at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    day = f"{local:%A} {local.day} {local:%B %Y}"
    assert message["Subject"] == f"Your tickets for HERE on {day} ({booking.reference})"

    # the plain-text part
    text = text_of(message)
    hour = f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    for expected in (
        "Dear Ana Pop",
        f"Your booking reference is {booking.reference}",
        "HERE (2024), directed by Bas Devos",
        f"When:  {day}, {hour} {local.tzname()}",
        "Where: Cinema 2, Riverside Picture House, 12 Water Street, Hudson, NY 12534",
        "J1     row J   Adult      $15.00  (wheelchair space)",
        "J2     row J   Student    $12.00  (companion seat)",
        "Total: $27.00",
        "1 × Adult, 1 × Student",
        "Spoken in French, Romanian, Chinese and Dutch.",
        "English subtitles, on the screen for everyone.",
        "Cinema 2 has a hearing loop",
        # Cinema 2's receivers are all headphones: its hearing loop serves hearing aids.
        "Assistive listening receivers, with headphones, are lent free at the box office.",
    ):
        assert expected in text, expected
    assert "neckloop" not in text
    facts = await one_booking(demo, booking.reference)
    code = ticket_codes.sign(settings.auth.ticket_keys[0], facts.booking_id, facts.reference)
    assert f"Ticket code: {code}" in text
    assert ticket_codes.verify(code, facts.booking_id, facts.reference, settings.auth.ticket_keys)

    # the HTML part: accessible structure, the QR code inline, enough contrast
    html = html_of(message)
    assert '<html lang="en"' in html
    assert html.count("<h1>") == 1
    assert html.count("<h2>") >= 4
    assert "<title>Your tickets for HERE" in html
    assert '<th scope="col">Seat</th>' in html
    assert "<caption>" in html
    images = images_of(message)
    ref = booking.reference
    assert list(images) == [f"ticket-{ref}", f"ticket-{ref}-1", f"ticket-{ref}-2"]
    assert images[f"ticket-{ref}"] == qr_png(code)[0]  # the QR code of the party's code
    # one signed code per seat, which the door verifies with its public keys alone
    keys = door_codes.keyring(settings.door.signing_keys)
    for number, seat in ((1, "J1"), (2, "J2")):
        (seat_code,) = re.findall(rf"Seat {seat}: (USHER2:[A-Z2-7]+)", text)
        signed = door_codes.read(keys, seat_code)
        assert isinstance(signed, door_codes.SignedCode)
        assert (signed.booking_id, signed.ticket) == (booking.id, number)
        assert images[f"ticket-{ref}-{number}"] == qr_png(seat_code)[0]
        assert f'alt="QR code of seat {seat}, booking {ref}' in html
    img = re.search(r"<img [^>]*>", html)
    assert img is not None
    assert f'src="cid:ticket-{booking.reference}"' in img.group(0)
    alt = re.search(r'alt="([^"]+)"', img.group(0))
    assert alt is not None
    assert booking.reference in alt.group(1)
    pairs = colour_pairs(html)
    assert len(pairs) >= 5
    assert all(contrast(fg, bg) >= 4.5 for fg, bg in pairs), pairs

    # the calendar file
    calendar = calendar_of(message)
    assert str(calendar["METHOD"]) == "PUBLISH"
    (event,) = events_of(message)
    assert str(event["UID"]) == f"booking-{booking.id}@usher.invalid"  # type: ignore[index]
    assert event["DTSTART"].dt == starts_at  # type: ignore[index]
    assert event["DTEND"].dt > starts_at  # type: ignore[index]
    assert "HERE at Riverside Picture House" in str(event["SUMMARY"])  # type: ignore[index]
    assert "Cinema 2" in str(event["LOCATION"])  # type: ignore[index]
    assert booking.reference in str(event["DESCRIPTION"])  # type: ignore[index]
    assert str(event["STATUS"]) == "CONFIRMED"  # type: ignore[index]


async def test_a_cancelled_booking_removes_its_calendar_entry(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    screening_id = await screening_in(demo, "cinema-2")
    booking = await book(demo, settings, screening_id, ["C3", "C4"])
    assert booking.secret is not None
    async with demo.acquire() as conn:  # paid at the till, part of it refunded already
        staff = await manager(demo)
        now = datetime.now(UTC)
        await money.record_till_payment(
            conn, booking.reference, TillPaymentIn(method="card", amount=3000), staff, now
        )
        await money.record_refund(
            conn,
            booking.reference,
            RefundIn(amount=500, reason="late film", method="card", expected_refunded=0),
            staff,
            now,
        )
    async with pipeline.running():
        await settle(demo, 1)
        async with demo.acquire() as conn:
            await box_office.cancel_booking(
                conn,
                booking.reference,
                box_office.Caller(secret=booking.secret),
                CancelBookingIn(reason="cannot come"),
                datetime.now(UTC),
            )
        await settle(demo, 2)
    confirmed, cancelled = mailbox.messages()
    assert cancelled["Subject"].startswith(f"Booking {booking.reference} is cancelled: HERE on ")
    assert cancelled["References"] == confirmed["References"]  # one thread per booking
    text = text_of(cancelled)
    assert "as you asked, we have cancelled your booking" in text
    assert "The reason given: cannot come" in text
    # What is recorded, no more: $30.00 paid, $5.00 refunded, $25.00 still due.
    assert "REFUND: $5.00 was refunded to you on " in text
    assert "REFUND: $25.00 of the $30.00 you paid is due back to you as well." in text
    assert str(calendar_of(cancelled)["METHOD"]) == "CANCEL"
    (before,), (after,) = events_of(confirmed), events_of(cancelled)
    assert str(after["UID"]) == str(before["UID"])  # type: ignore[index]
    assert str(after["STATUS"]) == "CANCELLED"  # type: ignore[index]
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])  # type: ignore[index]
    assert not images_of(cancelled)  # no ticket code for a cancelled booking


async def test_a_rescheduled_screening_tells_each_patron_once_with_every_booking(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    screening_id = await screening_in(demo, "cinema-1")
    first = await book(demo, settings, screening_id, ["A5"], email="Ana@Example.org")
    second = await book(demo, settings, screening_id, ["A6", "A7"], email="ana@example.org")
    other = await book(demo, settings, screening_id, ["B1"], email="bo@example.org", name="Bo")
    cancelled = await book(demo, settings, screening_id, ["C1"], email="cy@example.org")
    async with demo.acquire() as conn:
        await box_office.cancel_booking(
            conn,
            cancelled.reference,
            box_office.Caller(secret=cancelled.secret),
            CancelBookingIn(),
            datetime.now(UTC),
        )
        before = await conn.fetchval("SELECT starts_at FROM screening WHERE id = $1", screening_id)
    later = before + timedelta(days=14)
    async with pipeline.running():
        async with demo.acquire() as conn:
            await catalog.amend_screening(
                conn, await manager(demo), screening_id, ScreeningPatch(starts_at=later), None
            )
        await settle(demo, 7)  # 4 confirmations, 1 cancellation, 2 reschedules
    rows = await demo.fetch(
        "SELECT recipient, context FROM email WHERE kind = 'screening_rescheduled'"
        " ORDER BY recipient"
    )
    assert [r["recipient"] for r in rows] == ["Ana@Example.org", "bo@example.org"]
    moved = [m for m in mailbox.messages() if m["X-Usher-Kind"] == "screening_rescheduled"]
    ana = next(m for m in moved if m["X-Envelope-To"].lower() == "ana@example.org")
    text = text_of(ana)
    assert "New time:" in text
    assert "It was:" in text
    assert first.reference in text
    assert second.reference in text
    assert other.reference not in text
    entries = events_of(ana)
    assert {str(e["UID"]) for e in entries} == {  # type: ignore[index]
        f"booking-{first.id}@usher.invalid",
        f"booking-{second.id}@usher.invalid",
    }
    assert all(e["DTSTART"].dt == later for e in entries)  # type: ignore[index]
    assert "Spoken in French and Dutch." in text  # GHOST TROPIC's languages


async def test_a_cancelled_screening_tells_each_patron_once_and_nothing_else(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    screening_id = await screening_in(demo, "cinema-2")
    ana = [
        await book(demo, settings, screening_id, ["D1"]),
        await book(demo, settings, screening_id, ["D2"], tickets=["member"]),
    ]
    bo = await book(demo, settings, screening_id, ["E1"], email="bo@example.org", name="Bo")
    async with demo.acquire() as conn:  # the first paid at the till, the second not
        await money.record_till_payment(
            conn,
            ana[0].reference,
            TillPaymentIn(method="cash", amount=1500),
            await manager(demo),
            datetime.now(UTC),
        )
    async with pipeline.running():
        await settle(demo, 3)
        async with demo.acquire() as conn:
            await catalog.cancel_screening(
                conn, await manager(demo), screening_id, "the projector broke"
            )
        await settle(demo, 5)
    kinds = await demo.fetch("SELECT kind, count(*) FROM email GROUP BY kind ORDER BY kind")
    assert [(r["kind"], r["count"]) for r in kinds] == [
        ("booking_confirmed", 3),
        ("screening_cancelled", 2),  # no booking_cancelled for a screening's cancellation
    ]
    told = {m["X-Envelope-To"]: m for m in mailbox.messages() if "Cancelled" in m["Subject"]}
    assert set(told) == {"ana@example.org", "bo@example.org"}
    text = text_of(told["ana@example.org"])
    assert "Your 2 bookings for it are cancelled" in text
    assert "The reason: the projector broke" in text
    assert "REFUND: $15.00 of the $15.00 you paid is due back to you." in text
    assert f"REFUND: no payment is recorded for booking {ana[1].reference}" in text
    assert bo.reference not in text
    assert {str(e["STATUS"]) for e in events_of(told["ana@example.org"])} == {  # type: ignore[index]
        "CANCELLED"
    }
    assert f"Your booking {bo.reference} is cancelled" in text_of(told["bo@example.org"])


async def test_reminders_go_once_to_bookings_made_before_the_reminder_time(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    import msgspec

    from workers.emails import queue_reminders
    from workers.settings import arq_pool

    screening_id = await screening_in(demo, "cinema-2")
    early = await book(demo, settings, screening_id, ["G1"], email="early@example.org")
    late = await book(demo, settings, screening_id, ["G2"], email="late@example.org")
    starts_at = await demo.fetchval("SELECT starts_at FROM screening WHERE id = $1", screening_id)
    hours = int((starts_at - datetime.now(UTC)).total_seconds() // 3600) + 1  # due now
    await demo.execute(
        "UPDATE booking SET created_at = $2 WHERE id = $1",
        early.id,
        starts_at - timedelta(hours=hours + 1),
    )
    remind = msgspec.structs.replace(
        settings, mail=msgspec.structs.replace(settings.mail, reminder_hours=hours)
    )
    arq = await arq_pool(remind)
    ctx = {"pool": demo, "settings": remind, "redis": arq}
    async with pipeline.running():
        await settle(demo, 2)
        assert await queue_reminders(ctx) == 1
        assert await queue_reminders(ctx) == 0  # once per booking, however often it runs
        await settle(demo, 3)
    await arq.aclose()
    (reminder,) = [m for m in mailbox.messages() if m["X-Usher-Kind"] == "screening_reminder"]
    assert reminder["X-Envelope-To"] == "early@example.org"
    assert reminder["Subject"].startswith("Reminder: HERE on ")
    assert f"a reminder of your booking {early.reference}" in text_of(reminder)
    assert next(iter(images_of(reminder))) == f"ticket-{early.reference}"
    row = await demo.fetchrow(
        "SELECT event_id, booking_id FROM email WHERE kind = 'screening_reminder'"
    )
    from services.notifications.rules import reminder_cause

    assert row["booking_id"] == early.id
    assert row["event_id"] == reminder_cause(early.id)
    assert late.reference not in {m["Subject"] for m in mailbox.messages()}
    assert isinstance(row["event_id"], UUID)
