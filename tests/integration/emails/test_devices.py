"""The emails of device reservations, as a real SMTP server receives them: reserved, waitlisted,
promoted off the waitlist, cancelled, and the pick-up reminder; each once, however often its
event is delivered or the reminder job runs; and the whole path from the API's reserve route
through real relay and worker processes."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from schemas.access import DeviceReservation
from schemas.events import DeviceReservationEvent, DeviceReserved, decode_event
from services.access import service as access
from services.notifications.rules import pickup_reminder_cause
from services.settings import Settings
from tests.integration.emails.conftest import (
    EMAILS,
    Mailbox,
    Pipeline,
    book,
    keep_units,
    reserve_device,
    screening_in,
    settle,
)
from tests.integration.emails.helpers import colour_pairs, contrast, html_of, images_of, text_of
from tests.integration.events.conftest import Processes, wait_until
from tests.integration.racing import caller
from workers.delivery import Delivery
from workers.emails import queue_emails, queue_pickup_reminders
from workers.emails.kinds import letters_for
from workers.emails.present import clock, local_time
from workers.settings import arq_pool

RECEIVER = "Assistive-listening receiver with headphones"
PLACE = "the box office of Riverside Picture House, 12 Water Street, Hudson, NY 12534"


async def starts_at(pool: asyncpg.Pool, screening_id: UUID) -> datetime:
    moment: datetime = await pool.fetchval(
        "SELECT starts_at FROM screening WHERE id = $1", screening_id
    )
    return moment


def of_kind(mailbox: Mailbox, kind: str) -> list[EmailMessage]:
    return [m for m in mailbox.messages() if m["X-Usher-Kind"] == kind]


def assert_tells_the_device(
    message: EmailMessage, reservation: Any, starts: datetime, settings: Settings
) -> None:
    """The device, the screening in the venue's time, and where and when to collect it, in the
    plain text and the HTML; the HTML readable by everyone."""
    zone = "America/New_York"
    opens = starts - timedelta(minutes=settings.access.pickup_lead_minutes)
    closes = starts + timedelta(minutes=settings.access.no_show_minutes)
    text, html = text_of(message), html_of(message)
    for part in (text, html):
        for expected in (
            RECEIVER,
            reservation.number,
            "HERE",
            local_time(starts, zone),
            "Cinema 2",
            f"rom {local_time(opens, zone)}",  # From (HTML), from (text)
            f"until {clock(closes, zone)}",
            "his email or your reservation number",  # This (HTML), this (text)
            "devices are lent free",
        ):
            assert expected in part, (message["X-Usher-Kind"], expected)
    assert f"Where: {PLACE}" in text
    assert f"When:  from {local_time(opens, zone)}" in text
    assert re.search(r"<dd>The box office of Riverside Picture House", html)
    assert '<html lang="en"' in html
    assert html.count("<h1>") == 1
    assert html.count("<h2>") >= 4
    assert f"<title>{message['Subject']}</title>" in html
    assert all(contrast(fg, bg) >= 4.5 for fg, bg in colour_pairs(html))
    assert len(reservation.number) == 7, reservation.number  # read out at the desk
    assert str(reservation.id) not in text  # not the 36-character id
    assert message["References"] == f"<device-reservation-{reservation.id}@usher.invalid>"
    assert not images_of(message)
    assert not [p for p in message.walk() if p.get_content_type() == "text/calendar"]


async def device_events(pool: asyncpg.Pool) -> list[DeviceReservationEvent]:
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE event_type LIKE 'device_reservation.%' ORDER BY position"
    )
    events = [decode_event(msgspec.json.encode(row["payload"])) for row in rows]
    return [e for e in events if isinstance(e, DeviceReservationEvent)]


async def test_reserved_waitlisted_cancelled_and_promoted_each_tell_their_patron_once(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    await keep_units(demo, "ALS-201")  # one receiver: the second patron waits
    screening_id = await screening_in(demo, "cinema-2")
    starts = await starts_at(demo, screening_id)
    booking = await book(demo, settings, screening_id, ["H1"])
    ana = await reserve_device(demo, settings, screening_id, None, None, booking=booking)
    bo = await reserve_device(demo, settings, screening_id, "Bo Li", "bo@example.org")
    assert (ana.status, bo.status) == ("reserved", "waitlisted")
    assert ana.secret is not None
    async with pipeline.running():
        await settle(demo, 3)
        async with demo.acquire() as conn:
            now = datetime.now(UTC)
            await access.cancel_reservation(conn, ana.id, now, "plans changed", secret=ana.secret)
            venue_id = await conn.fetchval(
                "SELECT venue_id FROM screening WHERE id = $1", screening_id
            )
            # what the devices group's job does on that cancellation
            promoted = await access.promote_waitlist(conn, venue_id, "assistive_listening", now)
            assert promoted == [bo.id]
        await settle(demo, 5)

        # every event again, the consumer's record of them lost: not one email more
        arq = await arq_pool(settings)
        for event in await device_events(demo):
            async with demo.acquire() as conn, conn.transaction():
                delivery = Delivery(conn, EMAILS.group, event.id, "0-1", settings, arq)
                await queue_emails(delivery, event)
        await arq.aclose()
        # Nothing more arrives: an email queued again would be a row at once (queue_emails
        # inserts in the transaction above), so half a second is ample.
        await asyncio.sleep(0.5)
    rows = await demo.fetch(
        "SELECT kind, recipient, device_reservation_id, status FROM email ORDER BY kind"
    )
    assert [(r["kind"], r["recipient"], r["device_reservation_id"]) for r in rows] == [
        ("booking_confirmed", "ana@example.org", None),
        ("device_cancelled", "ana@example.org", ana.id),
        ("device_promoted", "bo@example.org", bo.id),
        ("device_reserved", "ana@example.org", ana.id),  # the booking's address
        ("device_waitlisted", "bo@example.org", bo.id),
    ]
    assert {r["status"] for r in rows} == {"sent"}
    assert len(mailbox.messages()) == 5

    (reserved,) = of_kind(mailbox, "device_reserved")
    assert reserved["To"] == "Ana Pop <ana@example.org>"
    assert (
        reserved["Subject"]
        == f"Device reserved for HERE on {local_time(starts, 'America/New_York')}"
    )
    assert_tells_the_device(reserved, ana, starts, settings)
    text = text_of(reserved)
    assert f"Booking:     {booking.reference}" in text
    assert f"your ticket (booking {booking.reference})" in text
    assert f"Cancelling booking {booking.reference} cancels the device reservation too" in text
    assert "CANNOT COME, OR NO LONGER NEED IT?" in text

    (waitlisted,) = of_kind(mailbox, "device_waitlisted")
    assert waitlisted["To"] == "Bo Li <bo@example.org>"
    assert waitlisted["Subject"].startswith("On the waitlist for a device: HERE on ")
    assert_tells_the_device(waitlisted, bo, starts, settings)
    text = text_of(waitlisted)
    assert "Your place on the waitlist: 1" in text
    assert "You do not have a device yet" in text
    assert "Please leave the waitlist" in text

    (cancelled,) = of_kind(mailbox, "device_cancelled")
    text = text_of(cancelled)
    assert cancelled["Subject"].startswith("Device reservation cancelled: HERE on ")
    assert "as you asked, we have cancelled your device reservation for HERE" in text
    assert "The reason given: plans changed" in text
    assert "There is no device to collect for you now." in text
    assert RECEIVER in text
    assert f"Reservation: {ana.number}" in text
    assert cancelled["References"] == reserved["References"]  # one thread per reservation

    (promoted_mail,) = of_kind(mailbox, "device_promoted")
    assert promoted_mail["Subject"].startswith("A device is now yours for HERE on ")
    assert_tells_the_device(promoted_mail, bo, starts, settings)
    assert "GOOD NEWS: YOU NOW HAVE A DEVICE FOR HERE" in text_of(promoted_mail)
    assert "you are off the waitlist" in text_of(promoted_mail)
    assert "<strong>A device has come free, and it is yours.</strong>" in html_of(promoted_mail)
    assert promoted_mail["References"] == waitlisted["References"]


async def test_an_event_without_the_patrons_address_takes_the_reservations(
    demo: asyncpg.Pool, settings: Settings
) -> None:
    screening_id = await screening_in(demo, "cinema-2")
    ana = await reserve_device(demo, settings, screening_id, "Ana Pop", "Ana@Example.org")
    walk_in = await reserve_device(demo, settings, screening_id, "Walk-in patron", None)
    reserved = {e.reservation_id: e for e in await device_events(demo)}
    assert isinstance(reserved[ana.id], DeviceReserved)
    bare = msgspec.structs.replace(reserved[ana.id], patron_name="", patron_email="")
    async with demo.acquire() as conn:
        (letter,) = await letters_for(conn, bare, settings)
        assert (letter.kind, letter.recipient, letter.recipient_name) == (
            "device_reserved",
            "Ana@Example.org",
            "Ana Pop",
        )
        assert letter.reservation_id == ana.id
        assert await letters_for(conn, reserved[walk_in.id], settings) == []  # no address


async def test_a_pickup_reminder_goes_once_even_when_the_job_runs_twice_at_once(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    await keep_units(demo, "ALS-201", "ALS-202")
    screening_id = await screening_in(demo, "cinema-2")
    starts = await starts_at(demo, screening_id)
    early = await reserve_device(demo, settings, screening_id, "Ana Pop", "ana@example.org")
    late = await reserve_device(demo, settings, screening_id, "Bo Li", "bo@example.org")
    waiting = await reserve_device(demo, settings, screening_id, "Cy Ng", "cy@example.org")
    assert (early.status, late.status, waiting.status) == ("reserved", "reserved", "waitlisted")
    hours = int((starts - datetime.now(UTC)).total_seconds() // 3600) + 1  # due now
    await demo.execute(
        "UPDATE device_reservation SET reserved_at = $2, requested_at = $2 WHERE id = $1",
        early.id,
        starts - timedelta(hours=hours + 1),
    )
    remind = msgspec.structs.replace(
        settings, mail=msgspec.structs.replace(settings.mail, reminder_hours=hours)
    )
    arq = await arq_pool(remind)
    ctx: dict[str, Any] = {"pool": demo, "settings": remind, "redis": arq}
    async with pipeline.running():
        await settle(demo, 3)  # reserved, reserved, waitlisted
        together = await asyncio.gather(queue_pickup_reminders(ctx), queue_pickup_reminders(ctx))
        assert sorted(together) == [0, 1]  # two runs at once: one writes it
        assert await queue_pickup_reminders(ctx) == 0  # once per reservation, however often
        await settle(demo, 4)
    await arq.aclose()
    # not to Bo (reserved less than `hours` before), nor to Cy (no device set aside)
    (reminder,) = of_kind(mailbox, "device_pickup_reminder")
    zone = "America/New_York"
    opens = starts - timedelta(minutes=settings.access.pickup_lead_minutes)
    assert reminder["X-Envelope-To"] == "ana@example.org"
    assert reminder["Subject"] == (
        f"Collect your device from {clock(opens, zone)}: HERE on "
        f"{local_time(starts, zone).rsplit(',', 1)[0]}"
    )
    assert_tells_the_device(reminder, early, starts, settings)
    assert "a reminder: the device set aside for you for HERE" in text_of(reminder)
    row = await demo.fetchrow(
        "SELECT event_id, device_reservation_id FROM email WHERE kind = 'device_pickup_reminder'"
    )
    assert row["device_reservation_id"] == early.id
    assert row["event_id"] == pickup_reminder_cause(early.id)


Client = AsyncTestClient[Litestar]


@pytest.mark.slow
async def test_reserving_through_the_api_emails_the_patron_and_a_freed_device_the_next(
    demo: asyncpg.Pool,
    settings: Settings,
    mailbox: Mailbox,
    processes: Processes,
    redis: Redis,
    client: Client,
) -> None:
    """The real route, the real relay and worker processes (the devices group promotes, the
    emails group writes, the send job sends): Ana reserves the one receiver through the API and
    Bo waits; Ana cancels through the API; Bo is promoted and told."""
    mail = {"USHER_SMTP_HOST": "127.0.0.1", "USHER_SMTP_PORT": str(settings.mail.port)}
    processes.start(settings, "relay", **mail)
    processes.start(settings, "worker", **mail)

    async def groups_ready() -> bool:
        try:
            groups = await redis.xinfo_groups(settings.redis.events_stream)
        except Exception:
            return False
        return {b"emails", b"devices"} <= {g["name"] for g in groups}

    await wait_until(groups_ready, within=60)
    await keep_units(demo, "ALS-201")
    screening_id = await screening_in(demo, "cinema-2")
    route = f"/v1/screenings/{screening_id}/device-reservations"
    ana = await client.post(
        route,
        json={
            "kind": "assistive_listening",
            "patron_name": "Ana Pop",
            "patron_email": "ana@example.org",
        },
        headers=caller("ana"),
    )
    bo = await client.post(
        route,
        json={
            "kind": "assistive_listening",
            "patron_name": "Bo Li",
            "patron_email": "bo@example.org",
        },
        headers=caller("bo"),
    )
    assert (ana.status_code, bo.status_code) == (201, 201), (ana.text, bo.text)
    assert (ana.json()["status"], bo.json()["status"]) == ("reserved", "waitlisted")
    await settle(demo, 2, within=60)
    cancel = await client.post(
        f"/v1/device-reservations/{ana.json()['id']}/cancel",
        json={},
        headers={"X-Reservation-Secret": ana.json()["secret"]},
    )
    assert cancel.status_code == 200, cancel.text

    async def promoted_sent() -> bool:
        return bool(
            await demo.fetchval(
                "SELECT count(*) FROM email WHERE kind = 'device_promoted' AND status = 'sent'"
            )
        )

    await wait_until(promoted_sent, within=60)
    await settle(demo, 4, within=30)
    # Nothing more arrives: a fifth email would come from an event already relayed and consumed
    # (settle waited for them), sent within a few polls of 0.05 s: half a second is ample.
    await asyncio.sleep(0.5)
    sent = sorted((m["X-Usher-Kind"], m["X-Envelope-To"]) for m in mailbox.messages())
    assert sent == [
        ("device_cancelled", "ana@example.org"),
        ("device_promoted", "bo@example.org"),
        ("device_reserved", "ana@example.org"),
        ("device_waitlisted", "bo@example.org"),
    ]
    (promoted,) = of_kind(mailbox, "device_promoted")
    assert_tells_the_device(
        promoted,
        msgspec.convert(bo.json(), DeviceReservation),
        await starts_at(demo, screening_id),
        settings,
    )
