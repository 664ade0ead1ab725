"""Sending once, retrying what is temporary, failing at once what is permanent, and showing
both to staff: against a real SMTP server that answers as each test scripts it."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import pytest
from arq import Retry
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from schemas.events import BookingConfirmed, encode_event
from services.notifications import store
from services.settings import Settings
from tests.integration.emails.conftest import (
    EMAILS,
    Mailbox,
    Pipeline,
    book,
    screening_in,
    settle,
)
from tests.integration.events.conftest import free_port, wait_until
from workers.delivery import Delivery
from workers.emails import close_mailer, mime, queue_emails, send_email
from workers.emails.jobs import MISSING_TRIES, new_rows
from workers.emails.kinds import letters_for
from workers.emails.smtp import Mailer
from workers.settings import arq_pool

Client = AsyncTestClient[Litestar]


async def email_row(pool: asyncpg.Pool) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM email")
    assert row is not None
    return row


async def test_451_twice_then_250_delivers_one_email_after_backoff(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    mailbox.replies["DATA"] = ["451 4.3.0 Try again later", "451 4.7.1 Greylisted"]
    screening_id = await screening_in(demo, "cinema-2")
    await book(demo, settings, screening_id, ["A2"])
    async with pipeline.running():
        await settle(demo, 1)
    assert len(mailbox.messages()) == 1
    assert len(mailbox.answered) == 2
    row = await email_row(demo)
    assert row["status"] == "sent"
    assert row["attempts"] == 3
    assert "451 4.7.1 Greylisted" in row["last_error"]  # kept for staff, even once sent
    # the backoff: the second retry came at least retry_seconds * 2 * 0.75 after the first
    assert (row["sent_at"] - row["created_at"]).total_seconds() >= 0.05 * 0.75 * (1 + 2)


async def test_a_temporary_failure_shows_to_staff_as_retrying(
    demo: asyncpg.Pool,
    settings: Settings,
    pipeline: Pipeline,
    mailbox: Mailbox,
    client: Client,
    staff: dict[str, str],
) -> None:
    slow = msgspec.structs.replace(
        settings,
        mail=msgspec.structs.replace(settings.mail, retry_seconds=30.0, retry_max_seconds=60.0),
    )
    mailbox.replies["RCPT"] = ["450 4.2.1 Mailbox busy"]
    screening_id = await screening_in(demo, "cinema-2")
    booking = await book(demo, settings, screening_id, ["A3"])
    async with Pipeline(slow, demo).running():

        async def retrying() -> bool:
            row = (
                await email_row(demo) if await demo.fetchval("SELECT count(*) FROM email") else None
            )
            return bool(row and row["status"] == "queued" and row["attempts"] == 1)

        await wait_until(retrying, within=15)
    response = await client.get("/v1/staff/emails?status=retrying", headers=staff)
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert item["status"] == "queued"
    assert item["attempts"] == 1
    assert "450 4.2.1 Mailbox busy" in item["last_error"]
    assert item["booking_reference"] == booking.reference
    assert item["kind"] == "booking_confirmed"
    failed = await client.get("/v1/staff/emails", headers=staff)
    assert failed.json() == {"items": [], "next_cursor": None}
    assert not mailbox.messages()


async def test_550_fails_at_once_is_listed_for_staff_and_resent_to_a_corrected_address(
    demo: asyncpg.Pool,
    settings: Settings,
    pipeline: Pipeline,
    mailbox: Mailbox,
    client: Client,
    staff: dict[str, str],
    manager: dict[str, str],
) -> None:
    mailbox.replies["RCPT"] = ["550 5.1.1 No such user here"]
    screening_id = await screening_in(demo, "cinema-2")
    booking = await book(demo, settings, screening_id, ["B2"], email="ana@exmaple.org")
    async with pipeline.running():
        await settle(demo, 1)
        row = await email_row(demo)
        assert (row["status"], row["failure"], row["attempts"]) == ("failed", "permanent", 1)
        assert mailbox.answered == ["550 5.1.1 No such user here"]
        assert not mailbox.messages()
        failed_events = await demo.fetch(
            "SELECT payload FROM outbox WHERE event_type = 'email.failed'"
        )
        assert [e["payload"]["email_id"] for e in failed_events] == [str(row["id"])]
        assert failed_events[0]["payload"]["failure"] == "permanent"

        response = await client.get("/v1/staff/emails", headers=staff)
        assert response.status_code == 200
        (item,) = response.json()["items"]
        assert item["id"] == str(row["id"])
        assert item["status"] == "failed"
        assert item["failure"] == "permanent"
        assert "550 5.1.1" in item["last_error"]
        assert item["recipient"] == "ana@exmaple.org"
        assert item["booking_reference"] == booking.reference

        # Another address than the booking's own is a manager's call: the desk could
        # otherwise hand a patron's tickets to whoever asks for them.
        refused = await client.post(
            f"/v1/staff/emails/{row['id']}/resend",
            json={"recipient": "ana@example.org"},
            headers=staff,
        )
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        resend = await client.post(
            f"/v1/staff/emails/{row['id']}/resend",
            json={"recipient": "ana@example.org"},
            headers=manager,
        )
        assert resend.status_code == 202, resend.text
        assert resend.json()["status"] == "queued"
        assert resend.json()["resends"] == 1
        again = await client.post(f"/v1/staff/emails/{row['id']}/resend", json={}, headers=staff)
        assert again.status_code in (202, 409)  # 409 while it is on its way
        await settle(demo, 1)
    (message,) = mailbox.messages()
    assert message["X-Envelope-To"] == "ana@example.org"
    row = await email_row(demo)
    assert row["status"] == "sent"
    assert message["Message-ID"] == row["message_id"]
    assert row["message_id"].startswith(f"<{row['id']}.r")  # a resend has a new Message-ID
    action = await demo.fetchrow(
        "SELECT action, detail FROM staff_action WHERE action LIKE 'email%'"
    )
    assert action["action"] == "email.resend"
    assert action["detail"]["recipient"] == "ana@example.org"


async def write_queued(pool: asyncpg.Pool, settings: Settings) -> UUID:
    """The email of the (only) booking confirmed, written as the consumer writes it, not sent."""
    async with pool.acquire() as conn:
        payload = await conn.fetchval(
            "SELECT payload FROM outbox WHERE event_type = 'booking.confirmed'"
        )
        event = msgspec.convert(payload, BookingConfirmed)
        letters = await letters_for(conn, event, settings)
        rows = new_rows(letters, event.id, settings.mail.sender_domain)
        (email_id,) = await store.insert_emails(conn, rows)
    return email_id


async def test_staff_endpoints_need_a_staff_token_and_refuse_what_cannot_be(
    demo: asyncpg.Pool, client: Client, staff: dict[str, str], settings: Settings
) -> None:
    assert (await client.get("/v1/staff/emails")).status_code == 401
    missing = "01900000-0000-7000-8000-000000000000"
    assert (await client.get(f"/v1/staff/emails/{missing}", headers=staff)).status_code == 404
    nowhere = await client.post(f"/v1/staff/emails/{missing}/resend", json={}, headers=staff)
    assert nowhere.status_code == 404
    assert nowhere.headers["content-type"].startswith("application/problem+json")
    bad = await client.get("/v1/staff/emails?status=lost", headers=staff)
    assert bad.status_code == 400
    screening_id = await screening_in(demo, "cinema-2")
    await book(demo, settings, screening_id, ["B5"])
    email_id = await write_queued(demo, settings)  # written by the consumer, not sent yet
    busy = await client.post(f"/v1/staff/emails/{email_id}/resend", json={}, headers=staff)
    assert busy.status_code == 409, busy.text
    wrong = await client.post(
        f"/v1/staff/emails/{email_id}/resend", json={"recipient": "no-at-sign"}, headers=staff
    )
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["field"] == "recipient"
    queued = await client.get("/v1/staff/emails?status=queued&limit=1", headers=staff)
    assert [i["id"] for i in queued.json()["items"]] == [str(email_id)]

    # Staff resend a patron's email only to the booking's own address.
    await demo.execute(
        "UPDATE email SET status = 'failed', failure = 'permanent', failed_at = now()"
        " WHERE id = $1",
        email_id,
    )
    route = f"/v1/staff/emails/{email_id}/resend"
    elsewhere = await client.post(route, json={"recipient": "mallory@example.org"}, headers=staff)
    assert elsewhere.status_code == 403, elsewhere.text
    assert await demo.fetchval("SELECT status FROM email WHERE id = $1", email_id) == "failed"
    own = await client.post(route, json={"recipient": "Ana@example.org"}, headers=staff)
    assert own.status_code == 202, own.text


async def test_connection_refused_is_retried_then_given_up_visibly(
    demo: asyncpg.Pool, settings: Settings, mailbox: Mailbox
) -> None:
    nobody = msgspec.structs.replace(
        settings, mail=msgspec.structs.replace(settings.mail, port=free_port(), max_attempts=3)
    )
    screening_id = await screening_in(demo, "cinema-2")
    await book(demo, settings, screening_id, ["B6"])
    async with Pipeline(nobody, demo).running():
        await settle(demo, 1)
    row = await email_row(demo)
    assert (row["status"], row["failure"], row["attempts"]) == ("failed", "exhausted", 3)
    assert "Connect" in row["last_error"]
    assert await demo.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'email.failed'") == 1


async def test_the_same_event_twice_and_a_rerun_job_send_one_email(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox, redis: Redis
) -> None:
    screening_id = await screening_in(demo, "cinema-2")
    await book(demo, settings, screening_id, ["C7"])
    payload = await demo.fetchval(
        "SELECT payload FROM outbox WHERE event_type = 'booking.confirmed'"
    )
    event = msgspec.convert(payload, BookingConfirmed)
    await demo.execute("UPDATE outbox SET published_at = now()")  # published by hand below
    entry = {"id": str(event.id), "type": event.type_name(), "event": encode_event(event)}
    async with pipeline.running(relay=False) as runner:
        await redis.xadd(settings.redis.events_stream, entry)
        await redis.xadd(settings.redis.events_stream, entry)  # the relay published it twice

        async def both_read() -> bool:
            return runner.applied + runner.duplicates == 2

        await wait_until(both_read)
        await settle(demo, 1)
        # the consumer's record of the event lost (pruned, a second group): the key still holds
        arq = await arq_pool(settings)
        for _ in range(2):
            async with demo.acquire() as conn, conn.transaction():
                delivery = Delivery(conn, EMAILS.group, event.id, "0-1", settings, arq)
                await queue_emails(delivery, event)
        # and the send job run again, as arq may
        email_id = await demo.fetchval("SELECT id FROM email")
        ctx: dict[str, Any] = {"pool": demo, "settings": settings, "redis": arq, "job_try": 1}
        assert await send_email(ctx, str(email_id)) == "sent"
        await close_mailer(ctx)
        await arq.aclose()
    assert (runner.applied, runner.duplicates) == (1, 1)
    assert await demo.fetchval("SELECT count(*) FROM email") == 1
    assert len(mailbox.messages()) == 1


async def test_a_job_that_runs_before_its_row_commits_waits_for_it(
    demo: asyncpg.Pool, settings: Settings
) -> None:
    missing = "01900000-0000-7000-8000-0000000000aa"
    ctx: dict[str, Any] = {"pool": demo, "settings": settings, "job_try": 1}
    with pytest.raises(Retry):
        await send_email(ctx, missing)
    assert await send_email({**ctx, "job_try": MISSING_TRIES}, missing) == "missing"


async def test_a_pooled_connection_the_server_dropped_is_replaced_not_failed(
    settings: Settings, mailbox: Mailbox
) -> None:
    mailer = Mailer(settings.mail)
    mailer.CHECK_AFTER_SECONDS = 0.0  # check every reused connection
    message = mime.message([("Subject", "x")], mime.text_part("plain", "hello\n"))
    await mailer.send(message, "box-office@usher.invalid", "ana@example.org")
    await mailer.send(message, "box-office@usher.invalid", "bo@example.org")
    assert mailer.connections == 1  # kept open between messages
    transport = mailbox.servers[-1].transport
    assert transport is not None
    transport.close()  # the server drops the idle connection
    await asyncio.sleep(0.05)
    await mailer.send(message, "box-office@usher.invalid", "cy@example.org")
    await mailer.close()
    assert mailer.connections == 2
    assert [m["X-Envelope-To"] for m in mailbox.messages()] == [
        "ana@example.org",
        "bo@example.org",
        "cy@example.org",
    ]
