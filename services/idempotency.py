"""Idempotency-Key (IETF draft-ietf-httpapi-idempotency-key-header), shared by the steps that take
one: a retried request with the same key and the same request answers what the first one made
(200, `Idempotent-Replayed: true`); the same key with another request is refused (422, naming the
header). Each step stores the request's digest beside what it made, the key under a unique
constraint, so that PostgreSQL decides which of two racing requests made it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from services.errors import InvalidInput

HEADER = "Idempotency-Key"
REPLAYED: Mapping[str, str] = MappingProxyType({"Idempotent-Replayed": "true"})


def request_digest(request: object) -> bytes:
    """What a key is compared on: the SHA-256 of the decoded request as msgspec encodes it (so
    whitespace and the order of the fields do not count)."""
    return hashlib.sha256(msgspec.json.encode(request)).digest()


def check_same_request(stored: bytes, presented: bytes) -> None:
    """A key already used: refuse it for any other request than the one it was first used for."""
    if stored != presented:
        raise InvalidInput(
            f"this {HEADER} was used with a different body",
            field=HEADER,
            reason="reused with a different body",
            source="header",
        )
