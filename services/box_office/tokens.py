"""The box office's secrets: hold tokens and patron secrets are handed out once and stored only
as SHA-256 digests; a patron secret is derived from the hold token, so a retried confirmation
(which carries the same hold token) answers the same secret without it ever being stored."""

from __future__ import annotations

import hashlib
import hmac
import os
from uuid import UUID

import msgspec

from schemas.box_office import ConfirmIn, HoldIn
from services.box_office.rules import REFERENCE_LENGTH, booking_reference
from services.idempotency import request_digest
from services.ids import derived_secret, token

_PATRON = b"usher booking secret v1"
_HOLD = "usher hold token v1"


def new_hold_token() -> str:
    return token(24)


def hold_token_for(secret: str, client_id: str, idempotency_key: str) -> str:
    """The hold token of a hold made with an Idempotency-Key: derived from the key, the client
    and the server's secret, so that a retry answers the same token, though only its SHA-256
    is stored, and no one without the server's secret can work it out from the key."""
    return derived_secret(secret, f"{_HOLD}\x00{client_id}\x00{idempotency_key}".encode())


def hold_digest(screening_id: UUID, data: HoldIn) -> bytes:
    """A hold request as an Idempotency-Key compares it: the screening and the body."""
    return request_digest([str(screening_id), data])


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
