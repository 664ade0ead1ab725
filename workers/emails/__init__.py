"""Notification emails (docs/emails.md): events become email rows and arq jobs that render
them from templates/ (plain text and accessible HTML) and send them with aiosmtplib, once.

- kinds.py: the kinds of email and which event makes which (add a kind there)
- letters.py, facts.py: what an email is rendered from, read when its event is handled
- present.py, render.py, attachments.py, templates/: how it reads, its QR codes and .ics
- rendering.py: emails with tickets rendered in a separate process, off the event loop
- smtp.py: sending, and temporary versus permanent failures
- devices.py: the emails of device reservations, and their pick-up reminders
- jobs.py: the consumer handler, the send job, the sweep and the reminders
- sink.py: the local SMTP server of `usher dev`, writing .eml files
"""

from __future__ import annotations

from arq.cron import CronJob, cron
from arq.worker import Function, func

from schemas.events import EmailResendRequested, Event
from services.settings import Settings
from workers.constants import key
from workers.emails.jobs import (
    MISSING_TRIES,
    SEND_BATCH,
    close_mailer,
    queue_emails,
    queue_pickup_reminders,
    queue_reminders,
    send_email,
    send_emails,
    sweep_emails,
)
from workers.emails.kinds import KINDS, MAPPERS

# What the `emails` consumer group reads: every event some kind of email is made from.
EMAIL_EVENTS: tuple[type[Event], ...] = (*MAPPERS, EmailResendRequested)


def email_jobs(settings: Settings) -> list[Function]:
    """The send job. arq cancels it past twice the SMTP timeout (the send's own limit) plus a
    margin: keep USHER_MAIL_LEASE_SECONDS above that, so a live worker never loses its lease."""
    timeout = 2 * settings.mail.timeout_seconds + 5
    batch = timeout * SEND_BATCH
    return [
        func(send_email, timeout=timeout, max_tries=MISSING_TRIES + 2),
        func(send_emails, timeout=batch, max_tries=MISSING_TRIES + 2),
    ]


def email_cron_jobs(settings: Settings) -> list[CronJob]:
    return [
        cron(
            sweep_emails,
            name=key(settings.redis, "sweep-emails"),
            second=set(range(5, 60, 10)),
            run_at_startup=True,
            unique=True,
            timeout=60,
            max_tries=1,
        ),
        cron(
            queue_reminders,
            name=key(settings.redis, "email-reminders"),
            second={30},
            run_at_startup=True,
            unique=True,
            timeout=120,
            max_tries=1,
        ),
        cron(
            queue_pickup_reminders,
            name=key(settings.redis, "device-pickup-reminders"),
            second={40},
            run_at_startup=True,
            unique=True,
            timeout=120,
            max_tries=1,
        ),
    ]


__all__ = [
    "EMAIL_EVENTS",
    "KINDS",
    "MAPPERS",
    "close_mailer",
    "email_cron_jobs",
    "email_jobs",
    "queue_emails",
    "queue_pickup_reminders",
    "queue_reminders",
    "send_email",
    "send_emails",
    "sweep_emails",
]
