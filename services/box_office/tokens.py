"""The box office's secrets: hold tokens and patron secrets are handed out once and stored only
as SHA-256 digests; a patron secret is derived from the hold token, so a retried confirmation
(which carries the same hold token) answers the same secret without it ever being stored."""

from __future__ import annotations

import hashlib
import hmac
import os

import msgspec

from schemas.box_office import ConfirmIn
from services.box_office.rules import REFERENCE_LENGTH, booking_reference
from services.idempotency import request_digest
from services.ids import derived_secret, token

_PATRON = b"usher booking secret v1"


def new_hold_token() -> str:
    return token(24)


def digest(secret: str) -> bytes:
    """What is stored of a secret: its SHA-256."""
    return hashlib.sha256(secret.encode()).digest()


def matches(secret: str | None, stored: bytes) -> bool:
    """Constant-time check of a presented secret against a stored digest."""
    return secret is not None and hmac.compare_digest(digest(secret), stored)


def patron_secret(hold_token: str) -> str:
    """The booking's patron secret, derived from the hold token that confirmed it."""
    return derived_secret(hold_token, _PATRON)


def confirm_digest(data: ConfirmIn) -> bytes:
    """The confirm body as an Idempotency-Key compares it: tickets in seat order."""
    canonical = msgspec.structs.replace(data, tickets=sorted(data.tickets, key=lambda t: t.seat))
    return request_digest(canonical)


def new_reference() -> str:
    return booking_reference(os.urandom(REFERENCE_LENGTH))
