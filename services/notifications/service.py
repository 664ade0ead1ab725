"""Staff steps on notification emails; each is one transaction with its event and audit row."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from schemas.events import EmailResendRequested
from schemas.notifications import Email, ResendIn
from schemas.staff import StaffMember
from services.audit import record_action
from services.errors import Conflict
from services.ids import uuid7
from services.notifications import rules, store
from services.outbox import record_event
from services.settings import MailSettings


async def resend(
    conn: asyncpg.Connection,
    by: StaffMember,
    email_id: UUID,
    data: ResendIn,
    mail: MailSettings,
    now: datetime,
) -> Email:
    """Queue a failed or sent email again, with a new Message-ID (and perhaps a corrected
    address). The workers pick it up from the `email.resend_requested` event at once, or from
    their sweep if that event is slow to arrive."""
    async with conn.transaction():
        row = await store.lock_email(conn, email_id)
        if not rules.can_resend(row["status"]):
            raise Conflict(
                f"this email is {row['status']}: it is on its way already",
                reason="not failed or sent",
                email_status=row["status"],
            )
        own = await store.patron_address(conn, email_id)
        rules.check_resend_to(by.role, data.recipient, own)
        recipient = data.recipient or row["recipient"]
        message_id = rules.message_id(email_id, row["resends"] + 1, mail.sender_domain)
        await store.requeue(conn, email_id, recipient, message_id)
        await record_event(
            conn,
            EmailResendRequested(
                id=uuid7(),
                occurred_at=now,
                venue_id=row["venue_id"],
                email_id=email_id,
                kind=row["kind"],
                recipient=recipient,
                requested_by=by.id,
            ),
        )
        detail = {"kind": row["kind"], "was": row["status"], "recipient": recipient}
        await record_action(conn, by.id, "email.resend", "email", email_id, detail)
    return await store.get_email(conn, email_id)
