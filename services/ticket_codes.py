"""Ticket codes, as the emails print them and the door reads them: `USHER1:<reference>:<check>`,
the check an HMAC-SHA256 of the booking (its id and reference) under the ticket key, cut to 80
bits and written in base 32. The ticket key is not the staff-token key (settings.AuthSettings:
USHER_TICKET_KEY, or one derived from USHER_SECRET_KEY for this purpose only), so a leaked
token key mints no tickets; earlier keys still verify (USHER_PREVIOUS_TICKET_KEYS), so a key
rotation keeps every ticket already emailed (docs/security.md, "Keys and their rotation").

`sign` and `verify` are the one home of this code: the emails call `sign`, the door `verify`
(a booking found by `reference_of(code)`, then checked against its id)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from uuid import UUID

PREFIX = "USHER1"


def _check(key: str, booking_id: UUID, reference: str) -> str:
    mac = hmac.new(
        key.encode(), f"ticket:{booking_id}:{reference}".encode(), hashlib.sha256
    ).digest()
    return base64.b32encode(mac[:10]).decode().rstrip("=")


def sign(key: str, booking_id: UUID, reference: str) -> str:
    """The ticket code of a booking under `key` (the first of AuthSettings.ticket_keys)."""
    return f"{PREFIX}:{reference}:{_check(key, booking_id, reference)}"


def reference_of(code: str) -> str | None:
    """The booking reference a code names, None when it is not shaped like a ticket code."""
    prefix, _, rest = code.strip().partition(":")
    reference, _, check = rest.partition(":")
    if prefix != PREFIX or not reference or not check:
        return None
    return reference


def verify(code: str, booking_id: UUID, reference: str, keys: Sequence[str]) -> bool:
    """True when `code` is the ticket code of this booking under any of `keys` (the signing key
    and the previous ones), compared in constant time."""
    given = code.strip().encode()
    found = False
    for key in keys:  # every key is tried: the time does not tell which one matched
        found |= hmac.compare_digest(given, sign(key, booking_id, reference).encode())
    return found
