"""A worker that dies while sending: the email is sent once more by another worker, with the
same Message-ID (at-least-once for that window, docs/emails.md). Killed before the server
accepted the message, the patron gets exactly one email; killed after, two with one
Message-ID, which the receiving side can drop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
import pytest
from redis.asyncio import Redis

from services.settings import Settings
from tests.integration.emails.conftest import Mailbox, book, screening_in
from tests.integration.events.conftest import Processes, wait_until
from workers.emails import close_mailer, send_email, sweep_emails
from workers.emails import jobs as email_jobs
from workers.settings import arq_pool


def lease_over(pool: asyncpg.Pool) -> Callable[[], Awaitable[bool]]:
    """True once the email's lease has run out on the database's clock (the one the sweep reads)."""

    async def check() -> bool:
        return bool(await pool.fetchval("SELECT lease_until < now() FROM email"))

    return check


async def test_a_worker_killed_mid_send_and_another_sends_the_email_once(
    demo: asyncpg.Pool,
    settings: Settings,
    mailbox: Mailbox,
    processes: Processes,
    redis: Redis,
) -> None:
    mail = {
        "USHER_SMTP_HOST": "127.0.0.1",
        "USHER_SMTP_PORT": str(settings.mail.port),
        "USHER_SMTP_TIMEOUT_SECONDS": "2",
        "USHER_MAIL_LEASE_SECONDS": "3",
    }
    mailbox.hold_rcpt = True  # the server stalls the first send at RCPT TO
    processes.start(settings, "relay", **mail)
    first = processes.start(settings, "worker", **mail)

    async def group_ready() -> bool:
        try:
            groups = await redis.xinfo_groups(settings.redis.events_stream)
        except Exception:
            return False
        return any(g["name"] == b"emails" for g in groups)

    await wait_until(group_ready, within=30)
    screening_id = await screening_in(demo, "cinema-2")
    booking = await book(demo, settings, screening_id, ["E5"])
    await asyncio.wait_for(mailbox.held.wait(), timeout=30)
    processes.kill(first)  # SIGKILL, mid-send
    mailbox.hold_rcpt = False
    mailbox.release.set()  # the dead session's handler returns; no DATA ever came
    row = await demo.fetchrow("SELECT status, attempts, message_id FROM email")
    assert (row["status"], row["attempts"]) == ("sending", 1)
    assert mailbox.received == []
    await wait_until(lease_over(demo), within=10)  # then the next worker's sweep finds it
    processes.start(settings, "worker", **mail)

    async def sent() -> bool:
        return bool(await demo.fetchval("SELECT status = 'sent' FROM email"))

    await wait_until(sent, within=30)
    # Nothing more arrives: a second send would follow the first at once (the same worker, the
    # job's one connection), well inside half a second.
    await asyncio.sleep(0.5)
    (message,) = mailbox.messages()
    assert booking.reference in message["Subject"]
    again = await demo.fetchrow("SELECT status, attempts, message_id FROM email")
    assert again["attempts"] == 2
    assert message["Message-ID"] == again["message_id"] == row["message_id"]
    assert "its worker died while sending" in processes.logs()


async def test_killed_after_the_server_accepted_it_goes_again_with_the_same_message_id(
    demo: asyncpg.Pool,
    settings: Settings,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick = msgspec.structs.replace(
        settings, mail=msgspec.structs.replace(settings.mail, lease_seconds=0.3)
    )
    screening_id = await screening_in(demo, "cinema-2")
    await book(demo, settings, screening_id, ["E6"])
    from tests.integration.emails.test_delivery import write_queued

    email_id = await write_queued(demo, quick)
    arq = await arq_pool(quick)
    ctx: dict[str, Any] = {"pool": demo, "settings": quick, "redis": arq, "job_try": 1}

    async def die(*args: object) -> bool:
        raise SystemExit("the worker died between the server's 250 and its own commit")

    with monkeypatch.context() as patched:
        patched.setattr(email_jobs.store, "mark_sent", die)
        with pytest.raises(SystemExit):
            await send_email(ctx, str(email_id))
    assert await demo.fetchval("SELECT status FROM email") == "sending"
    await wait_until(lease_over(demo), within=10)
    assert await sweep_emails(ctx) == 1  # the sweep finds it past its lease
    assert await send_email(ctx, str(email_id)) == "sent"  # the job the sweep enqueued
    await close_mailer(ctx)
    await arq.aclose()
    first, second = mailbox.messages()
    assert first["Message-ID"] == second["Message-ID"]
    assert await demo.fetchval("SELECT attempts FROM email") == 2
