"""Time-ordered ids made in Python (PostgreSQL 15 has no uuidv7())."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
import uuid
from base64 import urlsafe_b64encode

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a counter and randomness.

    Ids made in one process are strictly increasing, even within one millisecond.
    """
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)


def token(nbytes: int = 24) -> str:
    """A URL-safe secret, for hold tokens and patron secrets."""
    return secrets.token_urlsafe(nbytes)


def derived_secret(key: str, context: bytes) -> str:
    """A secret shaped like `token(24)`, derived from a secret the client holds (a hold token, an
    Idempotency-Key): a retried request answers the same secret without it ever being stored."""
    mac = hmac.new(key.encode(), context, hashlib.sha256).digest()
    return urlsafe_b64encode(mac[:24]).decode().rstrip("=")
