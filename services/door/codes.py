"""The codes a door scans.

A signed code (`USHER2:` and base32) names one booking and one of its tickets (ticket 0: the
whole party) and carries an Ed25519 signature over that, so a scanner holding only the public keys
tells a genuine code from a forged one without the network, and a stolen scanner cannot mint one.
Layout of the 83 signed bytes (docs/door.md):

    version (1) | key id (1) | booking id (16) | ticket number (1) | signature (64)

The signature covers `usher door code` and the first 19 bytes. Base32 keeps the text in the QR
code's alphanumeric mode (and case does not matter when a code is typed). Today's HMAC booking
codes (`USHER1:<reference>:<check>`) are parsed here too, and checked by services/ticket_codes.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PREFIX = "USHER2:"
LEGACY_PREFIX = "USHER1:"
VERSION = 1
PARTY = 0  # the ticket number of a booking's code: every ticket of the booking
_CONTEXT = b"usher door code"
_BODY = 19
_LENGTH = _BODY + 64


@dataclass(frozen=True)
class SignedCode:
    key_id: int
    booking_id: UUID
    ticket: int  # 0: the whole party; n: the booking's n-th ticket (rules.number_tickets)


@dataclass(frozen=True)
class LegacyCode:
    reference: str
    text: str  # the whole code, to compare with the box office's


@dataclass(frozen=True)
class Forged:
    why: str


@dataclass(frozen=True)
class Keyring:
    """The door's keys: the one that signs (None: signed codes are not issued) and every one
    that verifies, by id."""

    signing: tuple[int, Ed25519PrivateKey] | None
    verifying: dict[int, Ed25519PublicKey]

    def public_keys(self) -> dict[int, bytes]:
        return {
            key_id: key.public_bytes(Encoding.Raw, PublicFormat.Raw)
            for key_id, key in sorted(self.verifying.items())
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_key_entry(key_id: int) -> str:
    """A fresh `id:seed` entry for USHER_DOOR_SIGNING_KEYS."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    return f"{key_id}:{_b64(seed)}"


@lru_cache(maxsize=8)
def keyring(entries: tuple[str, ...]) -> Keyring:
    """The keys of USHER_DOOR_SIGNING_KEYS; a malformed entry stops the process with one line."""
    verifying: dict[int, Ed25519PublicKey] = {}
    signing: tuple[int, Ed25519PrivateKey] | None = None
    for entry in entries:
        raw_id, _, seed = entry.partition(":")
        try:
            key_id = int(raw_id)
            private = Ed25519PrivateKey.from_private_bytes(
                base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4))
            )
        except (ValueError, binascii.Error) as exc:
            raise RuntimeError(
                "USHER_DOOR_SIGNING_KEYS: each key is `id:seed`, the id 1-255 and the seed 32"
                " bytes in base64url (`usher door-key` makes one)"
            ) from exc
        if not 1 <= key_id <= 255 or key_id in verifying:
            raise RuntimeError(f"USHER_DOOR_SIGNING_KEYS: key id {key_id} is not 1-255 or twice")
        verifying[key_id] = private.public_key()
        signing = signing or (key_id, private)
    return Keyring(signing, verifying)


def sign(keys: Keyring, booking_id: UUID, ticket: int) -> str | None:
    """The signed code of a booking's ticket (0: the party), or None without a signing key."""
    if keys.signing is None:
        return None
    key_id, private = keys.signing
    body = bytes([VERSION, key_id]) + booking_id.bytes + bytes([ticket])
    signature = private.sign(_CONTEXT + body)
    return PREFIX + base64.b32encode(body + signature).decode().rstrip("=")


def read(keys: Keyring, text: str) -> SignedCode | LegacyCode | Forged:
    """What a scanned text is: a genuine signed code, an HMAC code still to check, or a forgery
    (bad shape, unknown key, or a signature that does not verify)."""
    text = text.strip()
    upper = text.upper()
    if upper.startswith(LEGACY_PREFIX):
        parts = upper.split(":")
        if len(parts) != 3 or not parts[1].isalnum() or not parts[2].isalnum():
            return Forged("not a ticket code")
        return LegacyCode(parts[1], upper)
    if not upper.startswith(PREFIX):
        return Forged("not a ticket code")
    encoded = upper[len(PREFIX) :]
    try:
        data = base64.b32decode(encoded + "=" * (-len(encoded) % 8))
    except (ValueError, binascii.Error):
        return Forged("not a ticket code")
    if len(data) != _LENGTH or data[0] != VERSION:
        return Forged("not a ticket code")
    key = keys.verifying.get(data[1])
    if key is None:
        return Forged(f"signed with a key this door does not know ({data[1]})")
    try:
        key.verify(data[_BODY:], _CONTEXT + data[:_BODY])
    except InvalidSignature:
        return Forged("the signature does not match")
    return SignedCode(data[1], UUID(bytes=data[2:18]), data[18])


def ticket_digest(booking_id: UUID, ticket: int) -> str:
    """How a door snapshot names a ticket: 12 bytes of SHA-256 of its booking and number, so an
    offline scanner finds a verified code's ticket without the snapshot listing booking ids."""
    digest = hashlib.sha256(b"usher door ticket" + booking_id.bytes + bytes([ticket])).digest()
    return _b64(digest[:12])


def legacy_digest(text: str) -> str:
    """How a door snapshot names a booking's HMAC code: an offline scanner cannot check the
    HMAC (it has no secret), so it compares the code's digest instead."""
    return _b64(hashlib.sha256(text.upper().encode()).digest()[:12])
