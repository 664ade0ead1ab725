"""The door's other steps: the public keys, a screening's snapshot, undoing an admission, the
venue's door policy and the dashboard's counts."""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

import asyncpg

from schemas.door import (
    DoorPolicy,
    DoorSnapshot,
    PublicKey,
    PublicKeys,
    SnapshotTicket,
    TicketState,
)
from schemas.staff import StaffMember
from services import ticket_codes
from services.audit import record_action
from services.door import codes, rules, store
from services.errors import NotFound
from services.ids import uuid7
from services.outbox import record_event
from services.settings import Settings


def public_keys(settings: Settings) -> PublicKeys:
    keys = codes.keyring(settings.door.signing_keys)
    return PublicKeys(
        keys=[
            PublicKey(key_id, "Ed25519", base64.urlsafe_b64encode(raw).decode().rstrip("="))
            for key_id, raw in keys.public_keys().items()
        ],
        signing_key_id=keys.signing[0] if keys.signing else None,
    )


async def snapshot(
    conn: asyncpg.Connection, screening_id: UUID, since: int | None, settings: Settings
) -> DoorSnapshot:
    """What an offline door needs to decide a screening's scans: no names, no emails."""
    screening = await store.screening_door(conn, screening_id)
    version, bookings = await store.snapshot_bookings(conn, screening_id, since)
    tickets: list[SnapshotTicket] = []
    legacy: dict[str, str] = {}
    revoked: list[str] = []
    for booking in bookings:
        party = codes.ticket_digest(booking.id, codes.PARTY)
        for key in settings.auth.ticket_keys:  # a code emailed before a rotation still scans
            code = ticket_codes.sign(key, booking.id, booking.reference)
            legacy[codes.legacy_digest(code)] = party
        live = booking.status == "confirmed" and screening.status != "cancelled"
        if not live:
            revoked.append(party)
        for ticket in booking.tickets:
            state: TicketState = "admitted" if ticket.admission else "valid"
            tickets.append(
                SnapshotTicket(
                    digest=codes.ticket_digest(booking.id, ticket.number),
                    party=party,
                    number=ticket.number,
                    seat=ticket.label,
                    seat_kind=ticket.seat_kind,
                    ticket_type=ticket.ticket_type,
                    state=state if live else "revoked",
                    needs=list(rules.needs_of([ticket], booking.devices)),
                )
            )
    return DoorSnapshot(
        screening_id=screening.id,
        version=version,
        since=since,
        starts_at=screening.starts_at,
        doors_open_at=screening.doors_open_at,
        reentry=screening.reentry,
        tickets=tickets,
        legacy=legacy,
        revoked=revoked,
    )


async def undo(
    conn: asyncpg.Connection, admission_id: UUID, reason: str, staff: StaffMember, now: datetime
) -> None:
    """Undo an admission (the wrong ticket was scanned): kept, with who undid it and when."""
    async with conn.transaction():
        row = await store.undo_admission(conn, admission_id, staff.id, now)
        if row is None:
            raise NotFound(f"no admission {admission_id} to undo")
        booking = await store.door_booking(conn, booking_id=row["booking_id"])
        assert booking is not None
        ticket = next(t for t in booking.tickets if t.seat_id == row["seat_id"])
        event = rules.undone(
            row["screening_id"], admission_id, booking.id, ticket, staff.name, reason, uuid7, now
        )
        await record_event(conn, event)
        await record_action(
            conn, staff.id, "admission.undo", "admission", admission_id, {"reason": reason}
        )


async def set_policy(
    conn: asyncpg.Connection, venue_id: UUID, policy: DoorPolicy, staff: StaffMember
) -> DoorPolicy:
    async with conn.transaction():
        await store.door_policy(conn, venue_id)  # 404 for an unknown venue
        await store.set_door_policy(conn, venue_id, policy)
        await record_action(
            conn,
            staff.id,
            "door.policy",
            "venue",
            venue_id,
            {"doors_open_minutes": policy.doors_open_minutes, "reentry": policy.reentry},
        )
    return policy
