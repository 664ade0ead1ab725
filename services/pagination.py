"""Opaque keyset cursors: a page ends at a key, and the next page starts strictly after it, so
rows added or removed meanwhile never shift a page (stable pagination)."""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from services.errors import InvalidParameter

MAX_LIMIT = 200


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, types: tuple[type, ...]) -> tuple[Any, ...] | None:
    """The key a cursor carries, converted to `types`; a tampered cursor is a 400, not a 500."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = msgspec.json.decode(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong length")
        return tuple(
            msgspec.convert(v, t, strict=False) for v, t in zip(values, types, strict=True)
        )
    except (ValueError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidParameter(
            "the cursor is not one this API gave out", field="cursor", reason="unknown cursor"
        ) from exc
