"""Notification emails as staff see them: what was sent to whom, what failed and why."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

from schemas.common import EmailAddress, check_email

EmailStatus = Literal["queued", "sending", "sent", "failed"]
EmailFailure = Literal["permanent", "exhausted"]
EmailView = Literal["failed", "retrying", "queued", "sending", "sent"]


class Email(msgspec.Struct, frozen=True):
    """One email to one patron. `status` queued (waiting, perhaps to retry after a temporary
    failure: see `attempts` and `last_error`), sending, sent or failed (`failure`: permanent, the
    server refused it; exhausted, every attempt failed). `message_id` is the Message-ID header:
    a retry sends the same one, a staff resend a new one. `device_reservation_id` names the
    device reservation an email is about (reserved, waitlisted, promoted, cancelled, pick-up)."""

    id: UUID
    kind: str
    recipient: str
    recipient_name: str
    status: EmailStatus
    attempts: int
    resends: int
    last_error: str | None
    failure: EmailFailure | None
    message_id: str
    event_id: UUID
    screening_id: UUID | None
    booking_id: UUID | None
    booking_reference: str | None
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    device_reservation_id: UUID | None = None


class ResendIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Send a failed (or a sent, but lost) email again, with a new Message-ID; `recipient`
    corrects a mistyped address (the booking itself keeps the address it was made with)."""

    recipient: EmailAddress | None = None

    def __post_init__(self) -> None:
        check_email("recipient", self.recipient)
