"""The rules of money, pure: the callback's signature, the checkout window, what a payment
does to a hold, what may be refunded and what is owed (docs/money.md)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from services.errors import Conflict, InvalidInput, NotAuthenticated, field_error

SIGNATURE_HEADER = "Usher-Signature"
TOLERANCE_SECONDS = 300  # a callback's timestamp may be this far from the clock, either way


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The v1 signature of a callback: hex HMAC-SHA256 over "<timestamp>.<raw body>"."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The `Usher-Signature` header a provider sends with `body` at `timestamp`."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(
    providers: Mapping[str, str], provider: str, header: str | None, body: bytes, now: datetime
) -> None:
    """Refuse (401) a callback from a provider not configured, without a well-formed
    `Usher-Signature`, with a timestamp more than TOLERANCE_SECONDS from `now`, or whose
    signature no v1 entry matches (several are allowed during a secret rotation)."""
    secret = providers.get(provider)
    if secret is None:
        raise _refused(f"no payment provider {provider!r} is configured", "unknown provider")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise _refused(f"send {SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex>", "malformed")
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise _refused(
            f"the signature's timestamp is more than {TOLERANCE_SECONDS} s from now", "timestamp"
        )
    expected = sign(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in signatures):
        raise _refused("the signature does not match the body", "signature")


def _refused(detail: str, reason: str) -> NotAuthenticated:
    return NotAuthenticated(detail, errors=[field_error(SIGNATURE_HEADER, reason, "header")])


def checkout_expiry(now: datetime, latest_expiry: datetime, checkout_minutes: int) -> datetime:
    """How long a hold in checkout lives: the venue's checkout window from now, and never past
    the hold's latest expiry plus that window."""
    window = timedelta(minutes=checkout_minutes)
    return min(now + window, latest_expiry + window)


Fate = Literal["book", "reclaim", "unseated", "record", "ignore"]


def payment_fate(
    *,
    booked: bool,
    already_recorded: bool,
    right_amount: bool,
    hold_live: bool,
) -> Fate:
    """What a successful payment does: 'ignore' (recorded already: a retry, or a second event
    for the same payment), 'record' (its hold is a booking already: the money goes on it),
    'unseated' (the wrong amount or currency: kept on a "paid, not seated" booking, refund
    due), 'book' (the hold lives: the booking is made), 'reclaim' (the hold died: take the same
    seats again if free, else 'unseated'). Whatever the checkout's status: a failure and then a
    success is a patron who tried another card, and the success counts."""
    if already_recorded:
        return "ignore"
    if booked:
        return "record"
    if not right_amount:
        return "unseated"
    return "book" if hold_live else "reclaim"


def refund_owed(status: str, refund_due: bool, total: int, paid: int, refunded: int) -> int:
    """What is due back and not yet refunded: on a "paid, not seated" booking everything paid;
    on a cancelled one flagged for refund everything paid; otherwise (a confirmed booking, or a
    cancelled one staff decided to keep the money of) what was paid beyond its total."""
    left = paid - refunded
    if status == "unseated" or (status == "cancelled" and refund_due):
        return max(0, left)
    return max(0, left - total)


def check_refund(amount: int, paid: int, refunded: int, expected_refunded: int) -> None:
    """A refund acts once (the page's `expected_refunded` must still be so) and never past
    what was paid (PostgreSQL's booking_refund_within_paid holds it under concurrency too)."""
    if refunded != expected_refunded:
        raise Conflict(
            f"{refunded} is refunded on this booking now, not {expected_refunded}: the page was "
            "stale or the refund was already recorded; nothing was changed",
            reason="stale",
            errors=[field_error("expected_refunded", "stale")],
            refunded=refunded,
        )
    if amount > paid - refunded:
        raise too_much(paid - refunded)


def too_much(left: int) -> Conflict:
    return Conflict(
        f"a refund may be at most what was paid and not yet refunded ({left})",
        reason="more than paid",
        errors=[field_error("amount", "more than paid")],
        refundable=left,
    )


def check_till_payment(status: str, amount: int, balance: int) -> None:
    """The till takes money for a confirmed booking, up to its balance."""
    if status != "confirmed":
        raise Conflict(
            f"this booking is {status}: no payment is taken for it", reason=f"booking {status}"
        )
    if amount > balance:
        raise Conflict(
            f"the balance due is {balance}; take at most that",
            reason="more than the balance",
            errors=[field_error("amount", "more than the balance")],
            balance=balance,
        )


def check_reseat(status: str, expected: str, tickets: int, seats: int) -> None:
    if status != expected:
        raise Conflict(
            f"this booking is {status} now, not {expected}: nothing was changed",
            reason="stale",
            errors=[field_error("expected_status", "stale")],
            booking_status=status,
        )
    if tickets != seats:
        raise InvalidInput(
            f"this booking has {tickets} tickets: choose {tickets} seats",
            field="seats",
            reason=f"{tickets} seats needed",
        )
