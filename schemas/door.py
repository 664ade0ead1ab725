"""The door: scans, their answers, offline uploads, door snapshots and the public keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

ScanResult = Literal["admitted", "refused"]
# Why a scan was refused (docs/door.md has the text a door shows for each).
RefusalReason = Literal[
    "already_admitted",  # every ticket of the code is in already: when, at which door, by whom
    "another_screening",  # the ticket is for another screening (perhaps another day)
    "cancelled",  # the booking was cancelled (and perhaps refunded)
    "screening_cancelled",
    "not_open",  # the doors open `doors_open_minutes` before the start
    "forged",  # not a code, a bad signature, an unknown key or a wrong HMAC
    "unknown",  # a genuine-looking code of no booking or ticket we know
]
TicketDoorStatus = Literal["admitted", "already_admitted", "waiting"]
TicketState = Literal["valid", "admitted", "revoked"]

Code = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=300,
        pattern=r"^[\x20-\x7e]+$",
        description="The scanned or typed code: `USHER2:…` (signed) or `USHER1:…` (a booking's).",
    ),
]
ScannerId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="The scanning device's own id, kept for its lifetime.",
    ),
]
Nonce = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="New for every scan; a retry of the scan sends the same nonce.",
    ),
]
DoorName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^\x00-\x1f\x7f\u2028\u2029]{1,40}$",
        examples=["Main door"],
        description="Which door, as staff call it.",
    ),
]


class ScanIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    screening_id: UUID
    code: Code
    scanner_id: ScannerId
    nonce: Nonce
    door: DoorName


class DoorTicket(msgspec.Struct, frozen=True):
    """One ticket of the scanned code and what happened to it at the door."""

    number: int
    seat: str
    row_label: str
    seat_kind: str
    ticket_type: str
    status: TicketDoorStatus
    admitted_at: datetime | None = None
    door: str | None = None
    scanner_id: str | None = None
    admitted_by: str | None = None


class ScanAnswer(msgspec.Struct, frozen=True):
    """What the door shows. `needs` lists what the patron needs at the door (a wheelchair space,
    a companion seat, a reserved device waiting at the desk); `message` says it in words."""

    result: ScanResult
    message: str
    reason: RefusalReason | None = None
    screening_id: UUID | None = None
    booking_reference: str | None = None
    tickets: list[DoorTicket] = []
    needs: list[str] = []
    doors_open_at: datetime | None = None
    starts_at: datetime | None = None
    scanned_at: datetime | None = None
    replayed: bool = False


class OfflineScan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Code
    nonce: Nonce
    scanned_at: datetime


class UploadIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Scans a door made while offline; they are recorded in the order they were scanned."""

    scanner_id: ScannerId
    door: DoorName
    scans: Annotated[list[OfflineScan], msgspec.Meta(min_length=1, max_length=5000)]


class UploadedScan(msgspec.Struct, frozen=True):
    nonce: str
    answer: ScanAnswer


class UploadAnswer(msgspec.Struct, frozen=True):
    recorded: int  # scans new to the server
    replayed: int  # scans it had already (an upload retried)
    admitted: int
    duplicates: int  # scans of a ticket another scan had admitted first
    scans: list[UploadedScan]


class SnapshotTicket(msgspec.Struct, frozen=True, array_like=True):
    """A ticket as a snapshot lists it, as an array to keep the snapshot small:
    [digest, party digest, number, seat, seat kind, ticket type, state, needs]. `state` is
    valid, admitted or revoked."""

    digest: str
    party: str
    number: int
    seat: str
    seat_kind: str
    ticket_type: str
    state: TicketState
    needs: list[str]


class DoorSnapshot(msgspec.Struct, frozen=True):
    """What an offline door needs to decide: every ticket of the screening (or those changed
    since `since`), by digest; `legacy` maps a booking's HMAC code digest to its party digest;
    `revoked` lists party digests of cancelled bookings. No patron names or emails."""

    screening_id: UUID
    version: int
    since: int | None
    starts_at: datetime
    doors_open_at: datetime
    reentry: bool
    tickets: list[SnapshotTicket]
    legacy: dict[str, str]
    revoked: list[str]


class PublicKey(msgspec.Struct, frozen=True):
    id: int
    algorithm: Literal["Ed25519"]
    public_key: str  # 32 bytes, base64url


class PublicKeys(msgspec.Struct, frozen=True):
    keys: list[PublicKey]
    signing_key_id: int | None


class DoorPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    doors_open_minutes: Annotated[int, msgspec.Meta(ge=0, le=720)] = 30
    reentry: bool = False


class UndoIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""


class ScreeningDoorCount(msgspec.Struct, frozen=True):
    screening_id: UUID
    admitted: int
    expected: int


class NoShow(msgspec.Struct, frozen=True):
    booking_reference: str
    patron_name: str
    seats: list[str]
