"""Pure decisions about sending email: which SMTP failures are worth a retry, how long to wait,
when to give up, and the names (Message-IDs, reminder ids) that make sending idempotent."""

from __future__ import annotations

from typing import Literal
from uuid import UUID, uuid5

from services.errors import NotAllowed

Outcome = Literal["retry", "permanent", "exhausted"]

# Reminders have no causing event: their idempotency key carries a name-based id instead.
_REMINDER_NAMESPACE = UUID("0c0d2c52-7f3e-4b8e-9d61-2a7f3b8e6c15")


def is_temporary(code: int | None) -> bool:
    """A reply code worth retrying: 4xx (RFC 5321 transient), or no reply at all (the server
    refused the connection, timed out, hung up). 5xx is permanent."""
    return code is None or not 500 <= code <= 599


def after_failure(code: int | None, attempts: int, max_attempts: int) -> Outcome:
    """What becomes of an email whose `attempts`-th attempt failed with `code`."""
    if not is_temporary(code):
        return "permanent"
    return "retry" if attempts < max_attempts else "exhausted"


def backoff_seconds(attempts: int, base: float, cap: float, spread: float) -> float:
    """Exponential backoff after the `attempts`-th failure: base, 2 base, 4 base ... up to cap,
    each scaled by 0.75-1.25 from `spread` (a number in [0, 1) the caller draws), so that a
    thousand emails refused at once do not all come back at the same instant."""
    delay = min(cap, base * 2.0 ** max(attempts - 1, 0))
    return delay * (0.75 + 0.5 * min(max(spread, 0.0), 1.0))


def can_resend(status: str) -> bool:
    """Staff resend what failed, or what was sent but never arrived; not what is on its way."""
    return status in ("failed", "sent")


def message_id(email_id: UUID, resends: int, domain: str) -> str:
    """The Message-ID: the same for every automatic retry of an email (so a receiver can drop a
    duplicate), a new one for each staff resend (a deliberate second message)."""
    suffix = f".r{resends}" if resends else ""
    return f"<{email_id}{suffix}@{domain}>"


def reminder_cause(booking_id: UUID) -> UUID:
    """The `event_id` of a booking's reminder: one reminder per booking, however often the
    reminder job runs."""
    return uuid5(_REMINDER_NAMESPACE, f"reminder:{booking_id}")


def pickup_reminder_cause(reservation_id: UUID) -> UUID:
    """The `event_id` of a device reservation's pick-up reminder: one per reservation."""
    return uuid5(_REMINDER_NAMESPACE, f"pickup-reminder:{reservation_id}")


def normal_address(address: str) -> str:
    """An address as compared for the idempotency key (the store compares lower-case too)."""
    return address.strip().lower()


def check_resend_to(role: str, requested: str | None, own: str | None) -> None:
    """Who may send a patron's email to which address: staff only to the patron's own address
    (the one of the booking or reservation it is about; no `recipient` keeps the email's),
    managers to any (a mistyped address corrected). Another address would hand the patron's
    tickets to whoever asked the desk for them."""
    if requested is None or role == "manager":
        return
    if own is None or requested.strip().lower() != own.strip().lower():
        raise NotAllowed(
            "only a manager can send this email to an address other than the patron's own",
            reason="another recipient",
        )
