"""Scans: one online, or many uploaded by a door that was offline. Both take the same path: the
scans are claimed by (scanner, nonce) first, so a retry answers what the first one answered;
then each is decided (rules.decide) in scan-time order and its admissions inserted, where the
unique index on a ticket's live admission decides between doors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.door import ScanAnswer, ScanIn, UploadAnswer, UploadedScan, UploadIn
from schemas.event_base import Event
from schemas.staff import StaffMember
from services import ticket_codes
from services.door import codes, rules, store
from services.ids import uuid7
from services.outbox import event_row, record_events
from services.settings import Settings


@dataclass(frozen=True)
class _Scan:
    code: str
    nonce: str
    scanned_at: datetime


async def scan(
    conn: asyncpg.Connection, data: ScanIn, staff: StaffMember, settings: Settings, now: datetime
) -> ScanAnswer:
    """An online scan, scanned now: decided from the booking as read, then recorded in one
    round trip; if another door admitted a ticket of it meanwhile, decided again in a
    transaction."""
    keys = codes.keyring(settings.door.signing_keys)
    code = codes.read(keys, data.code)
    bookings = _Bookings(conn)
    booking = await bookings.find(code, settings.auth.ticket_keys)
    entry = rules.Entry(now, data.door, data.scanner_id, staff.name)
    ticket = code.ticket if isinstance(code, codes.SignedCode) else codes.PARTY
    the_scan = rules.Scan(data.screening_id, ticket, entry, "online")
    if booking is None and (isinstance(code, codes.Forged) or bookings.forged):
        decision = rules.refuse("forged", "Not a genuine ticket code.")
    else:
        decision = rules.decide(the_scan, booking)
    answer = rules.answer(decision, the_scan, booking)
    events = rules.scan_events(decision, the_scan, booking, uuid7, now) if booking else []
    outcome, stored = await store.record_scan(
        conn,
        store.NewScan(uuid7(), data.nonce, now, "online", staff.id),
        data.screening_id,
        data.scanner_id,
        data.door,
        staff.name,
        booking.id if booking else None,
        (answer.result, answer.reason, msgspec.to_builtins(answer)),
        [t.seat_id for t in decision.admit],
        [event_row(event) for event in events],
    )
    if outcome == "recorded":
        return answer
    if outcome == "replayed":
        return msgspec.structs.replace(msgspec.convert(stored, ScanAnswer), replayed=True)
    answers = await _record(
        conn,
        data.screening_id,
        data.scanner_id,
        data.door,
        staff,
        [_Scan(data.code, data.nonce, now)],
        "online",
        settings,
        now,
    )
    return answers[0].answer


async def upload(
    conn: asyncpg.Connection,
    screening_id: UUID,
    data: UploadIn,
    staff: StaffMember,
    settings: Settings,
    now: datetime,
) -> UploadAnswer:
    """Scans made offline, recorded in the order they were scanned; a retried upload records
    nothing twice."""
    scans = [_Scan(s.code, s.nonce, s.scanned_at) for s in data.scans]
    answers = await _record(
        conn, screening_id, data.scanner_id, data.door, staff, scans, "offline", settings, now
    )
    replayed = sum(1 for a in answers if a.answer.replayed)
    fresh = [a.answer for a in answers if not a.answer.replayed]
    return UploadAnswer(
        recorded=len(fresh),
        replayed=replayed,
        admitted=sum(1 for a in fresh if a.result == "admitted"),
        duplicates=sum(1 for a in fresh if a.reason == "already_admitted"),
        scans=answers,
    )


async def _record(
    conn: asyncpg.Connection,
    screening_id: UUID,
    scanner_id: str,
    door: str,
    staff: StaffMember,
    scans: Sequence[_Scan],
    mode: str,
    settings: Settings,
    now: datetime,
) -> list[UploadedScan]:
    keys = codes.keyring(settings.door.signing_keys)
    rows = {s.nonce: store.NewScan(uuid7(), s.nonce, s.scanned_at, mode, staff.id) for s in scans}
    answers: dict[str, ScanAnswer] = {}
    events: list[Event] = []
    async with conn.transaction():
        # an upload alone; an online scan (here after losing a race) beside the others
        await store.lock_uploads(conn, screening_id, shared=mode == "online")
        fresh = await store.claim_scans(
            conn, screening_id, scanner_id, door, staff.name, list(rows.values()), now
        )
        retried = [nonce for nonce in rows if nonce not in fresh]
        if retried:
            for nonce, (_, stored) in (
                await store.stored_answers(conn, scanner_id, retried)
            ).items():
                answers[nonce] = msgspec.structs.replace(
                    msgspec.convert(stored, ScanAnswer), replayed=True
                )
        bookings = _Bookings(conn)
        read: dict[str, codes.SignedCode | codes.LegacyCode | codes.Forged] = {}  # verified once
        finished = []
        for item in sorted(
            (s for s in scans if s.nonce in fresh), key=lambda s: (s.scanned_at, s.nonce)
        ):
            if item.nonce in answers:  # the same nonce twice in one upload
                continue
            entry = rules.Entry(item.scanned_at, door, scanner_id, staff.name)
            code = read.get(item.code) or read.setdefault(item.code, codes.read(keys, item.code))
            booking = await bookings.find(code, settings.auth.ticket_keys)
            ticket = code.ticket if isinstance(code, codes.SignedCode) else codes.PARTY
            the_scan = rules.Scan(screening_id, ticket, entry, mode)
            if isinstance(code, codes.Forged) or (
                isinstance(code, codes.LegacyCode) and booking is None and bookings.forged
            ):
                decision = rules.refuse("forged", "Not a genuine ticket code.")
                booking = None
            else:
                decision, booking, made = await _settle(
                    conn, the_scan, rows[item.nonce].id, booking, now
                )
                events += made
                if booking is not None:
                    bookings.keep(booking)
            answer = rules.answer(decision, the_scan, booking)
            answers[item.nonce] = answer
            finished.append(
                (
                    item.nonce,
                    booking.id if booking else None,
                    answer.result,
                    answer.reason,
                    msgspec.to_builtins(answer),
                )
            )
        await store.finish_scans(conn, scanner_id, finished)
        await record_events(conn, events)
    return [UploadedScan(nonce, answers[nonce]) for nonce in dict.fromkeys(s.nonce for s in scans)]


class _Bookings:
    """The bookings an upload touches, read once each and kept up to date as it admits."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.by_id: dict[UUID, rules.Booking] = {}
        self.by_reference: dict[str, UUID] = {}
        self.forged = False

    def keep(self, booking: rules.Booking) -> None:
        self.by_id[booking.id] = booking
        self.by_reference[booking.reference] = booking.id

    async def find(
        self, code: codes.SignedCode | codes.LegacyCode | codes.Forged, keys: tuple[str, ...]
    ) -> rules.Booking | None:
        self.forged = False
        if isinstance(code, codes.Forged):
            return None
        if isinstance(code, codes.SignedCode):
            known = self.by_id.get(code.booking_id)
            found = known or await store.door_booking(self.conn, booking_id=code.booking_id)
        else:
            known_id = self.by_reference.get(code.reference)
            found = self.by_id[known_id] if known_id else None
            found = found or await store.door_booking(self.conn, reference=code.reference)
            # an HMAC code is genuine only when its check matches the booking's
            if found is None or not ticket_codes.verify(code.text, found.id, found.reference, keys):
                self.forged = True
                return None
        if found is not None:
            self.keep(found)
        return found


async def _settle(
    conn: asyncpg.Connection,
    scan: rules.Scan,
    scan_id: UUID,
    booking: rules.Booking | None,
    now: datetime,
) -> tuple[rules.Decision, rules.Booking | None, list[Event]]:
    """Decide the scan and write its admissions; PostgreSQL says which tickets this scan
    admitted, and a ticket another scan admitted first is answered as already admitted."""
    decision = rules.decide(scan, booking)
    if booking is None:
        return decision, None, []
    events: list[Event] = []
    current = {t.seat_id: t.admission for t in booking.tickets if t.admission is not None}
    if decision.admit:
        asked = [t.seat_id for t in decision.admit]
        won = await store.admit(
            conn,
            scan_id,
            booking.screening.id,
            booking.id,
            asked,
            scan.entry,
            [uuid7() for _ in asked],
        )
        for ticket in decision.admit:
            if ticket.seat_id in won:
                continue
            locked = await store.lock_admission(conn, booking.id, ticket.seat_id)
            if locked is None:  # undone since: this scan admits it
                won |= await store.admit(
                    conn,
                    scan_id,
                    booking.screening.id,
                    booking.id,
                    [ticket.seat_id],
                    scan.entry,
                    [uuid7()],
                )
                continue
            admission_id, first = locked
            if rules.takes_over(first, scan):  # an earlier offline scan, uploaded late
                await store.move_admission(conn, admission_id, scan_id, scan.entry)
                events.append(
                    rules.conflict(booking, ticket, scan.entry, first, scan.mode, uuid7, now)
                )
                current.pop(ticket.seat_id, None)
            else:
                current[ticket.seat_id] = first
        if set(asked) - won:
            decision = rules.decide(scan, rules.with_admissions(booking, current))
    events += rules.scan_events(decision, scan, booking, uuid7, now)
    for ticket in decision.admit:
        current[ticket.seat_id] = scan.entry
    return decision, rules.with_admissions(booking, current), events
