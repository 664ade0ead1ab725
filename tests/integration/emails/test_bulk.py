"""A screening with 300 bookings is cancelled: 300 emails, one to each patron, none twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from schemas.catalog import AuditoriumIn, Price, ScreeningIn, SeatIn
from services.catalog import service as catalog
from services.settings import Settings
from tests.integration.emails.conftest import Mailbox, Pipeline, book, settle
from tests.integration.emails.test_kinds import manager
from tests.integration.events.conftest import published, running, wait_until
from workers.relay import Relay

BOOKINGS = 300


async def big_screening(pool: asyncpg.Pool, seats: int) -> UUID:
    """A screening of HERE in an auditorium of `seats` standard seats (rows of 20), a month on."""
    async with pool.acquire() as conn:
        venue_id = await conn.fetchval("SELECT id FROM venue WHERE slug = 'riverside'")
        hall = await catalog.add_auditorium(
            conn,
            None,
            AuditoriumIn(
                venue_id,
                "hall",
                "The Hall",
                [
                    SeatIn(f"R{n // 20 + 1}-{n % 20 + 1}", f"R{n // 20 + 1}", n // 20 + 1,
                           n % 20 + 1, float(n % 20), float(n // 20))
                    for n in range(seats)
                ],
            ),
        )  # fmt: skip
        screening = await catalog.schedule_screening(
            conn,
            None,
            ScreeningIn(
                film="here",
                auditorium_id=hall.id,
                starts_at=datetime.now(UTC).replace(microsecond=0) + timedelta(days=30),
                prices=[Price("adult", 1500)],
                audio_languages=["fr"],
            ),
        )
    return screening.id


async def test_a_cancelled_screening_with_300_bookings_sends_300_emails_one_each(
    demo: asyncpg.Pool, settings: Settings, pipeline: Pipeline, mailbox: Mailbox
) -> None:
    screening_id = await big_screening(demo, BOOKINGS)
    labels = [
        row["label"]
        for row in await demo.fetch(
            "SELECT label FROM seat s JOIN screening sc ON sc.auditorium_id = s.auditorium_id"
            " WHERE sc.id = $1 ORDER BY label",
            screening_id,
        )
    ]
    queue = iter(enumerate(labels))

    async def patron() -> None:
        for n, label in queue:
            await book(demo, settings, screening_id, [label], f"patron{n}@example.org", f"P {n}")

    await asyncio.gather(*(patron() for _ in range(6)))
    # The bookings' events reach the stream before the `emails` group exists (it starts at
    # "$", as a group added to a live system does): only the cancellation is mailed here.
    async with running(Relay(settings)):
        await wait_until(published(demo))
    async with pipeline.running():
        async with demo.acquire() as conn:
            await catalog.cancel_screening(conn, await manager(demo), screening_id, "flooding")
        await settle(demo, BOOKINGS, within=60)
    rows = await demo.fetch("SELECT kind, recipient, status FROM email")
    assert len(rows) == BOOKINGS
    assert {r["kind"] for r in rows} == {"screening_cancelled"}
    assert {r["status"] for r in rows} == {"sent"}
    # (on a loaded machine a send may time out and be retried: still one email each)
    recipients = [m["X-Envelope-To"] for m in mailbox.messages()]
    assert len(recipients) == BOOKINGS
    assert sorted(recipients) == sorted(f"patron{n}@example.org" for n in range(BOOKINGS))
    assert len({m["Message-ID"] for m in mailbox.messages()}) == BOOKINGS
