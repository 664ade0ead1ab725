"""Fixtures of the email tests: a real SMTP server (aiosmtpd on a free loopback port, on the
test's loop) whose replies a test scripts, settings pointing at it with a Redis prefix of their
own, bookings made through the box office, and the pipeline (relay, the `emails` consumer group
and an arq worker) run in-process against the real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from arq.worker import Worker
from redis.asyncio import Redis

from schemas.access import DeviceReservation, DeviceReservationIn
from schemas.box_office import Booking, ConfirmIn, HoldIn, PatronIn, TicketIn
from services.access import service as access
from services.box_office import service
from services.settings import Settings, get_settings
from tests.integration.events.conftest import Processes, free_port, wait_until
from workers.consumers import GroupRunner
from workers.delivery import Consumer
from workers.emails import EMAIL_EVENTS, queue_emails
from workers.relay import Relay
from workers.settings import arq_pool, close_worker, worker_settings

EMAILS = Consumer("emails", queue_emails, types=EMAIL_EVENTS, start="$")


@dataclass
class Mailbox:
    """The SMTP server's handler. `replies[stage]` are answers to give, in order, before it
    accepts again (stage "RCPT" or "DATA"); `hold_rcpt` makes RCPT wait until released.
    Messages are kept raw and parsed when a test asks for them."""

    received: list[tuple[str, bytes]] = field(default_factory=list)
    replies: dict[str, list[str]] = field(default_factory=lambda: {"RCPT": [], "DATA": []})
    answered: list[str] = field(default_factory=list)
    hold_rcpt: bool = False
    servers: list[SMTP] = field(default_factory=list)  # the sessions that sent a message
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.hold_rcpt:
            self.held.set()
            await self.release.wait()
        if self.replies["RCPT"]:
            return self._answer(self.replies["RCPT"].pop(0))
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.replies["DATA"]:
            return self._answer(self.replies["DATA"].pop(0))
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        self.received.append((",".join(envelope.rcpt_tos), raw))
        self.servers.append(server)
        return "250 OK"

    def _answer(self, reply: str) -> str:
        self.answered.append(reply)
        return reply

    def messages(self) -> list[EmailMessage]:
        """What was accepted, parsed; `X-Envelope-To` holds the envelope's recipients. (A
        method: aiosmtpd reads every attribute of its handler on each new connection.)"""
        parsed = []
        for recipients, raw in self.received:
            message = message_from_bytes(raw, policy=default)
            assert isinstance(message, EmailMessage)
            message["X-Envelope-To"] = recipients
            parsed.append(message)
        return parsed


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[Mailbox, int]]:
    """A real SMTP server on a free loopback port, served on the test's loop."""
    mailbox = Mailbox()
    loop = asyncio.get_running_loop()
    port = free_port()
    server = await loop.create_server(
        lambda: SMTP(mailbox, hostname="test-smtp", loop=loop), host="127.0.0.1", port=port
    )
    yield mailbox, port
    mailbox.release.set()
    server.close()
    await server.wait_closed()


@pytest.fixture
def mailbox(smtp: tuple[Mailbox, int]) -> Mailbox:
    return smtp[0]


@pytest.fixture
def settings(environment: dict[str, str], smtp: tuple[Mailbox, int]) -> Settings:
    """The run's settings with a Redis prefix of this test's own, mail to the test server, and
    quick retries, leases and consumer reads."""
    base = get_settings()
    prefix = f"{base.redis.prefix}{secrets.token_hex(3)}:"
    return msgspec.structs.replace(
        base,
        redis=msgspec.structs.replace(base.redis, prefix=prefix),
        mail=msgspec.structs.replace(
            base.mail,
            host="127.0.0.1",
            port=smtp[1],
            security="none",
            # generous: a timeout after the server took the message means sending it again
            timeout_seconds=10.0,
            retry_seconds=0.05,
            retry_max_seconds=0.2,
            max_attempts=4,
            lease_seconds=30.0,
        ),
        events=msgspec.structs.replace(
            base.events, claim_idle_ms=1000, consumer_block_ms=100, relay_poll_ms=100
        ),
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis.url)
    yield client
    await client.aclose()


async def screening_in(pool: asyncpg.Pool, auditorium: str) -> UUID:
    """The first demo screening in `cinema-1` (300 seats, GHOST TROPIC) or `cinema-2` (92,
    HERE, with a hearing loop)."""
    screening_id: UUID = await pool.fetchval(
        "SELECT s.id FROM screening s JOIN auditorium a ON a.id = s.auditorium_id"
        " WHERE a.slug = $1 ORDER BY s.starts_at LIMIT 1",
        auditorium,
    )
    return screening_id


async def book(
    pool: asyncpg.Pool,
    settings: Settings,
    screening_id: UUID,
    seats: list[str],
    email: str = "ana@example.org",
    name: str = "Ana Pop",
    tickets: list[str] | None = None,
    wheelchair_spaces: int = 0,
) -> Booking:
    """Hold and confirm seats through the box office, as the API does."""
    now = datetime.now(UTC)
    kinds = tickets or ["adult"] * len(seats)
    async with pool.acquire() as conn:
        if "member" in kinds:  # a member price needs a valid membership (docs/money.md)
            await conn.execute(
                """
                INSERT INTO membership (id, venue_id, number, name, valid_from, expires_on,
                                        created_at)
                SELECT $3::uuid, venue_id, 'M-1', $2, now()::date - 1, now()::date + 400,
                       now()
                FROM screening WHERE id = $1
                ON CONFLICT DO NOTHING
                """,
                screening_id,
                name,
                uuid4(),
            )
        hold = await service.make_hold(
            conn,
            screening_id,
            HoldIn(seats=seats, wheelchair_spaces=wheelchair_spaces),
            f"c-{uuid4()}",
            settings.box_office,
            now,
        )
        assert hold.token is not None
        booking, _ = await service.confirm_hold(
            conn,
            hold.id,
            hold.token,
            str(uuid4()),
            ConfirmIn(
                patron=PatronIn(name=name, email=email),
                tickets=[
                    TicketIn(seat, kind, "M-1" if kind == "member" else None)
                    for seat, kind in zip(seats, kinds, strict=True)
                ],
            ),
            now,
        )
    return booking


async def reserve_device(
    pool: asyncpg.Pool,
    settings: Settings,
    screening_id: UUID,
    name: str | None = "Ana Pop",
    email: str | None = "ana@example.org",
    booking: Booking | None = None,
    kind: str = "assistive_listening",
) -> DeviceReservation:
    """Reserve a device through the access service, as the API does (a client of its own)."""
    async with pool.acquire() as conn:
        reservation, _ = await access.reserve(
            conn,
            screening_id,
            DeviceReservationIn(
                kind,  # type: ignore[arg-type]
                patron_name=name,
                patron_email=email,
                booking_reference=booking.reference if booking else None,
            ),
            f"c-{uuid4()}",
            access.TieProof(booking_secret=booking.secret if booking else None),
            settings.access,
            datetime.now(UTC),
        )
        return reservation


async def keep_units(pool: asyncpg.Pool, *tags: str) -> None:
    """Retire every device but these (straight in SQL: the inventory is set up, not changed)."""
    await pool.execute("UPDATE device SET state = 'retired' WHERE asset_tag <> ALL($1)", list(tags))


class Pipeline:
    """The relay, the `emails` consumer group and an arq worker, on the test's loop."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool

    @asynccontextmanager
    async def running(
        self, *, relay: bool = True, jobs: bool = True, **worker: Any
    ) -> AsyncIterator[GroupRunner]:
        settings = self.settings
        redis = Redis.from_url(settings.redis.url, socket_timeout=5)
        arq = await arq_pool(settings)
        runner = GroupRunner(
            EMAILS, settings=settings, pool=self.pool, redis=redis, name="test", arq=arq
        )
        tasks: list[asyncio.Task[Any]] = []
        # the group exists before anything is published: it starts at "$"
        await redis.xgroup_create(settings.redis.events_stream, "emails", "$", mkstream=True)
        tasks.append(asyncio.create_task(runner.run()))
        relay_task = Relay(settings)
        if relay:
            tasks.append(asyncio.create_task(relay_task.run()))
        arq_worker: Worker | None = None
        if jobs:
            options = {"poll_delay": 0.02, "cron_jobs": [], "ctx": {"pool": self.pool}, **worker}
            arq_worker = Worker(**worker_settings(settings, redis_pool=arq, **options))
            tasks.append(asyncio.create_task(arq_worker.async_run()))
        try:
            yield runner
        finally:
            runner.stop()
            relay_task.stop()
            if arq_worker is not None:
                await close_worker(arq_worker)
            _, late = await asyncio.wait(tasks, timeout=5)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if arq_worker is None:
                await arq.aclose()
            await redis.aclose()


@pytest.fixture
def pipeline(settings: Settings, demo: asyncpg.Pool) -> Pipeline:
    return Pipeline(settings, demo)


async def emails_settled(pool: asyncpg.Pool, count: int) -> bool:
    """True once `count` emails exist and none is queued or sending."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, count(*) FILTER (WHERE status IN ('queued', 'sending')) AS busy"
        " FROM email"
    )
    return bool(row["n"] >= count and row["busy"] == 0)


async def settle(pool: asyncpg.Pool, count: int, within: float = 20.0) -> None:
    async def check() -> bool:
        return await emails_settled(pool, count)

    await wait_until(check, within=within)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """`usher` subprocesses of this test, killed at its end."""
    procs = Processes(tmp_path)
    yield procs
    procs.close()
