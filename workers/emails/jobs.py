"""The pipeline: the `emails` consumer writes one row per email and hands them, 20 at a time,
to arq jobs that render and send them; a sweep re-nudges emails whose job was lost or whose
worker died; cron jobs write the reminders of bookings and the pick-up reminders of devices.

Once only: a row per (event, recipient, kind) (the unique index refuses a second), and a row is
sent only by the worker that leased it (queued -> sending, attempts + 1). A re-run job, a
re-delivered event or a sweep finds the row sent, failed or leased and does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

import asyncpg
from arq import Retry
from arq.connections import ArqRedis

from schemas.events import EmailFailed, EmailResendRequested, Event
from services import tracing
from services.box_office import store as box_office
from services.ids import uuid7
from services.notifications import rules, store
from services.outages import POSTGRES_OUTAGES
from services.outbox import record_event
from services.settings import Settings
from workers.delivery import Delivery
from workers.emails import mime
from workers.emails.devices import pickup_reminder
from workers.emails.kinds import letters_for, screening_reminder
from workers.emails.letters import Letter, ScreeningFacts
from workers.emails.render import compose, decode_context, envelope_sender
from workers.emails.rendering import render_apart, stop_renderers
from workers.emails.smtp import Mailer, SendFailed
from workers.jobs import enqueue
from workers.metrics import EMAILS, EMAILS_QUEUED

log = logging.getLogger("usher.emails")

SEND_JOB = "send_email"
SEND_BATCH_JOB = "send_emails"
SEND_BATCH = 20  # emails per batch job: a bulk send costs one arq job per 20 emails
# The consumer enqueues a row's job before its transaction commits: the job waits this long,
# and looks again (MISSING_TRIES times in all) while the row is not there yet.
COMMIT_WAIT = 0.25
MISSING_TRIES = 10
SWEEP_BATCH = 1000
REMINDER_BATCH = 500


def new_rows(letters: list[Letter], event_id: UUID, domain: str) -> list[store.NewEmail]:
    rows = []
    for letter in letters:
        email_id = uuid7()
        screening = letter.context.screening
        rows.append(
            store.NewEmail(
                id=email_id,
                kind=letter.kind,
                recipient=letter.recipient.strip(),
                recipient_name=letter.recipient_name,
                event_id=event_id,
                message_id=rules.message_id(email_id, 0, domain),
                context=letter.context,
                venue_id=screening.venue_id,
                screening_id=screening.screening_id,
                booking_id=letter.booking_id,
                device_reservation_id=letter.reservation_id,
            )
        )
    return rows


async def queue_emails(delivery: Delivery, event: Event) -> None:
    """The `emails` consumer: the event's emails become rows (in this transaction, once) and
    each new row an arq job; a staff resend becomes a job at once."""
    if isinstance(event, EmailResendRequested):
        await delivery.enqueue(
            SEND_JOB,
            str(event.email_id),
            key=f"{event.email_id}:{event.id}",
            defer_by=timedelta(seconds=COMMIT_WAIT),
        )
        return
    letters = await letters_for(delivery.conn, event, delivery.settings)
    domain = delivery.settings.mail.sender_domain
    new = await store.insert_emails(delivery.conn, new_rows(letters, event.id, domain))
    EMAILS_QUEUED.inc(len(new))
    for n in range(0, len(new), SEND_BATCH):
        batch = [str(email_id) for email_id in new[n : n + SEND_BATCH]]
        await delivery.enqueue(
            SEND_BATCH_JOB, batch, key=f"{event.id}:{n}", defer_by=timedelta(seconds=COMMIT_WAIT)
        )


async def nudge(
    arq: ArqRedis, settings: Settings, email_id: UUID, tag: str, delay: float | None = None
) -> bool:
    """Enqueue a send job for the email; `tag` makes its id unique to the reason."""
    return await enqueue(
        arq,
        settings.redis,
        SEND_JOB,
        str(email_id),
        key=f"{email_id}:{tag}",
        defer_by=timedelta(seconds=delay) if delay else None,
    )


def mailer(ctx: dict[str, Any]) -> Mailer:
    """This worker's SMTP connections (closed by the worker's shutdown, `close_mailer`)."""
    found = ctx.get("mailer")
    if found is None:
        settings: Settings = ctx["settings"]
        found = ctx["mailer"] = Mailer(settings.mail)
    assert isinstance(found, Mailer)
    return found


async def close_mailer(ctx: dict[str, Any]) -> None:
    stop_renderers()
    found = ctx.pop("mailer", None)
    if isinstance(found, Mailer):
        await found.close()


async def send_email(ctx: dict[str, Any], email_id: str) -> str:
    """arq job: send one email if it is this job's to send; returns what happened."""
    outcome = await _send_one(ctx, UUID(email_id))
    EMAILS.labels(outcome=outcome).inc()
    if outcome in NOT_YET:
        _retry_soon(ctx)
    return outcome


async def send_emails(ctx: dict[str, Any], email_ids: list[str]) -> dict[str, int]:
    """arq job: send the emails one after the other (emails one event made, written in one
    transaction that may commit while this job runs); returns how many ended how. Run again
    while some are not there yet: those already sent are then skipped at once."""
    outcomes: Counter[str] = Counter()
    stopping: asyncio.Event | None = ctx.get("stopping")
    for n, email_id in enumerate(email_ids):
        if stopping is not None and stopping.is_set():
            # The worker is stopping: the email in hand was finished; hand back the others
            # (still queued) to a job another worker runs at once.
            rest = email_ids[n:]
            settings: Settings = ctx["settings"]
            key = f"{rest[0]}:handback{int(time.time() * 1000)}"
            await enqueue(ctx["redis"], settings.redis, SEND_BATCH_JOB, rest, key=key)
            log.info("stopping: handed back %d unsent emails", len(rest))
            outcomes["handed back"] = len(rest)
            break
        outcomes[await _send_one(ctx, UUID(email_id))] += 1
    for outcome, count in outcomes.items():
        if outcome != "handed back":  # not an outcome: another job sends them
            EMAILS.labels(outcome=outcome).inc(count)
    if outcomes.keys() & NOT_YET:
        _retry_soon(ctx)
    return dict(outcomes)


# The row is not there, or there and due but was not leasable: the transaction that writes it
# had not committed when the job looked (the consumer enqueues before its commit).
NOT_YET = frozenset({"missing", "not committed"})


def _retry_soon(ctx: dict[str, Any]) -> None:
    """Run again a little later, while the consumer's transaction may still commit (0.25 s,
    0.5 s, 1 s ... 5 s: about half a minute in all); past that, the sweep finds the rows if
    they ever commit."""
    tries = ctx.get("job_try", 1)
    if tries < MISSING_TRIES:
        raise Retry(defer=min(COMMIT_WAIT * 2 ** (tries - 1), 5.0))


async def _send_one(ctx: dict[str, Any], key: UUID) -> str:
    pool: asyncpg.Pool = ctx["pool"]
    settings: Settings = ctx["settings"]
    mail = settings.mail
    found: tuple[str, float] | None = None
    async with pool.acquire() as proxy:
        conn = cast(asyncpg.Connection, proxy)
        leased = await store.lease(conn, key, mail.lease_seconds)
        if leased is None:
            found = await store.state(conn, key)
    if leased is None:
        if found is None:
            return "missing"
        if found[0] == "queued" and found[1] < 1.0:
            return "not committed"
        return found[0]  # sent, failed, or not this job's (leased elsewhere, or not due yet)
    if leased.taken_over:
        log.warning(
            "email %s: its worker died while sending (attempt %d); sending again with the "
            "same Message-ID %s",
            key,
            leased.attempts - 1,
            leased.message_id,
        )
    if leased.attempts > mail.max_attempts:
        await _fail(pool, leased, "the worker died while sending it, every time", "exhausted")
        return "exhausted"
    try:  # an address that does not parse can never be delivered: failed for good, like this
        recipient = mime.ascii_address(leased.recipient)
        context = decode_context(leased.kind, leased.context)
        message = compose(
            await render_apart(leased.kind, context, settings),
            recipient=leased.recipient,
            recipient_name=leased.recipient_name,
            message_id=leased.message_id,
            settings=settings,
            now=datetime.now(UTC),
            kind=leased.kind,
            thread=_thread(leased, mail.sender_domain),
        )
    except Exception as exc:  # a template or context fault: staff must see it, not a loop
        log.exception("email %s: cannot render %s", key, leased.kind)
        await _fail(pool, leased, f"cannot render: {exc!r}", "permanent")
        return "permanent"
    try:
        with tracing.span(
            f"send email {leased.kind}",
            await _trace_of(pool, key),
            **{"usher.email_id": str(key)},
        ):
            await mailer(ctx).send(message, envelope_sender(settings), recipient)
    except SendFailed as failure:
        return await _after_failure(ctx, leased, failure)
    sent = await _record_sent(pool, leased, time.monotonic() + mail.lease_seconds)
    if not sent:
        log.warning("email %s: sent, but its lease had passed to another worker", key)
    return "sent"


_TRACE = """
    SELECT o.payload::text FROM email e JOIN outbox o USING (event_id) WHERE e.id = $1
"""


async def _trace_of(pool: asyncpg.Pool, key: UUID) -> str | None:
    """The trace of the change whose event asked for this email (tracing on, outbox row kept)."""
    if not tracing.enabled():
        return None
    return tracing.carried(await pool.fetchval(_TRACE, key))


async def _record_sent(pool: asyncpg.Pool, leased: store.Leased, lease_ends: float) -> bool:
    """Mark the email sent, riding out a PostgreSQL outage until its lease would run out:
    the server accepted it, so a failure here must not make it go again."""
    backoff = 0.1
    while True:
        try:
            async with pool.acquire() as proxy:
                conn = cast(asyncpg.Connection, proxy)
                return await store.mark_sent(conn, leased.id, leased.attempts)
        except POSTGRES_OUTAGES as exc:
            if time.monotonic() + backoff >= lease_ends:
                raise
            if backoff == 0.1:
                log.warning("email %s: sent; cannot record it yet (%r), retrying", leased.id, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)


def _thread(leased: store.Leased, domain: str) -> str | None:
    """What the email's References header names, so that mail programs thread the emails of
    one device reservation, or of one booking, together."""
    if leased.device_reservation_id:
        return f"<device-reservation-{leased.device_reservation_id}@{domain}>"
    if leased.booking_id:
        return f"<booking-{leased.booking_id}@{domain}>"
    return None


async def _after_failure(ctx: dict[str, Any], leased: store.Leased, failure: SendFailed) -> str:
    pool: asyncpg.Pool = ctx["pool"]
    settings: Settings = ctx["settings"]
    mail = settings.mail
    outcome = rules.after_failure(failure.code, leased.attempts, mail.max_attempts)
    if outcome != "retry":
        log.warning("email %s: %s failure: %s", leased.id, outcome, failure.detail)
        await _fail(pool, leased, failure.detail, outcome)
        return outcome
    delay = rules.backoff_seconds(
        leased.attempts, mail.retry_seconds, mail.retry_max_seconds, random.random()
    )
    async with pool.acquire() as proxy:
        due = await store.mark_retry(
            cast(asyncpg.Connection, proxy), leased.id, leased.attempts, failure.detail, delay
        )
    if due is not None:
        log.info(
            "email %s: attempt %d failed (%s); again in %.1f s",
            leased.id,
            leased.attempts,
            failure.detail,
            delay,
        )
        await nudge(ctx["redis"], settings, leased.id, f"retry{leased.attempts}", delay)
    return "retry"


async def _fail(pool: asyncpg.Pool, leased: store.Leased, error: str, failure: str) -> None:
    """Failed for good: the row, and an `email.failed` event for the staff feed, together."""
    async with pool.acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        if await store.mark_failed(conn, leased.id, leased.attempts, error, failure):
            await record_event(
                conn,
                EmailFailed(
                    id=uuid7(),
                    occurred_at=datetime.now(UTC),
                    venue_id=leased.venue_id,
                    email_id=leased.id,
                    kind=leased.kind,
                    recipient=leased.recipient,
                    failure=failure,
                    error=error[:1000],
                    attempts=leased.attempts,
                    booking_id=leased.booking_id,
                    screening_id=leased.screening_id,
                ),
            )


async def sweep_emails(ctx: dict[str, Any]) -> int:
    """arq cron job: nudge emails whose job is lost (queued, due for longer than a lease) or
    whose worker died mid-send (sending past its lease); returns how many."""
    settings: Settings = ctx["settings"]
    async with ctx["pool"].acquire() as proxy:
        due = await store.due_for_sweep(
            cast(asyncpg.Connection, proxy), settings.mail.lease_seconds, SWEEP_BATCH
        )
    bucket = int(time.time())
    for email in due:
        await nudge(ctx["redis"], settings, email.id, f"sweep{bucket}")
    if due:
        log.info("email sweep: nudged %d emails", len(due))
    return len(due)


async def queue_reminders(ctx: dict[str, Any]) -> int:
    """arq cron job: write the reminder of every booking due one (once per booking: its
    idempotency key is a name-based id of the booking) and enqueue them; returns how many."""
    settings: Settings = ctx["settings"]
    hours = settings.mail.reminder_hours
    written: list[UUID] = []
    screenings: dict[Any, ScreeningFacts] = {}
    now = datetime.now(UTC)
    async with ctx["pool"].acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        for reference in await store.due_reminders(conn, hours, REMINDER_BATCH):
            booking = await box_office.get_booking(conn, reference=reference)
            letter = await screening_reminder(conn, booking, hours, now, screenings)
            rows = new_rows([letter], rules.reminder_cause(booking.id), settings.mail.sender_domain)
            written += await store.insert_emails(conn, rows)
    await _enqueue_written(ctx, written, "screening reminders")
    return len(written)


async def queue_pickup_reminders(ctx: dict[str, Any]) -> int:
    """arq cron job: write the pick-up reminder of every device reservation due one (once per
    reservation, as for bookings: a name-based id of the reservation is its idempotency key,
    so runs at once or again write it once) and enqueue them; returns how many."""
    settings: Settings = ctx["settings"]
    written: list[UUID] = []
    screenings: dict[Any, ScreeningFacts] = {}
    now = datetime.now(UTC)
    async with ctx["pool"].acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        due = await store.due_pickup_reminders(conn, settings.mail.reminder_hours, REMINDER_BATCH)
        for reservation_id in due:
            letter = await pickup_reminder(conn, reservation_id, settings, now, screenings)
            if letter is None:
                continue
            cause = rules.pickup_reminder_cause(reservation_id)
            rows = new_rows([letter], cause, settings.mail.sender_domain)
            written += await store.insert_emails(conn, rows)
    await _enqueue_written(ctx, written, "device pick-up reminders")
    return len(written)


async def _enqueue_written(ctx: dict[str, Any], written: list[UUID], what: str) -> None:
    """Send jobs for emails a cron job wrote (and committed), 20 to a job."""
    settings: Settings = ctx["settings"]
    for n in range(0, len(written), SEND_BATCH):
        batch = [str(email_id) for email_id in written[n : n + SEND_BATCH]]
        await enqueue(ctx["redis"], settings.redis, SEND_BATCH_JOB, batch, key=f"{batch[0]}:0.0")
    if written:
        log.info("queued %d %s", len(written), what)
