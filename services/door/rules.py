"""The door's decisions, pure: what a scan's answer is, which tickets it admits, which scans are
duplicates, and the events they imply. No I/O and no clock: the scan time is an argument."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

from schemas.door import DoorTicket, RefusalReason, ScanAnswer, ScanResult
from schemas.door_events import AdmissionConflict, AdmissionRecorded, AdmissionUndone
from schemas.event_base import Event

DEVICE_NAMES: dict[str, str] = {
    "assistive_listening": "listening receiver",
    "neckloop": "neckloop",
    "captioning": "captioning device",
    "audio_description": "audio-description receiver",
}


@dataclass(frozen=True)
class Entry:
    """A ticket's admission (or a scan that would be one): when, where, by whom."""

    scanned_at: datetime
    door: str
    scanner_id: str
    staff_name: str = ""


@dataclass(frozen=True)
class Ticket:
    number: int
    seat_id: UUID
    label: str
    row_label: str
    seat_kind: str
    ticket_type: str
    admission: Entry | None = None


@dataclass(frozen=True)
class Screening:
    id: UUID
    starts_at: datetime
    status: str
    doors_open_minutes: int = 30
    reentry: bool = False

    @property
    def doors_open_at(self) -> datetime:
        return self.starts_at - timedelta(minutes=self.doors_open_minutes)


@dataclass(frozen=True)
class Booking:
    id: UUID
    reference: str
    screening: Screening
    status: str
    refund_due: bool
    tickets: tuple[Ticket, ...]
    devices: tuple[str, ...] = ()  # kinds of device reserved for the booking, not yet collected


@dataclass(frozen=True)
class Scan:
    screening_id: UUID
    ticket: int  # 0: the whole party
    entry: Entry
    mode: str = "online"


@dataclass(frozen=True)
class Decision:
    result: ScanResult
    reason: RefusalReason | None
    message: str
    admit: tuple[Ticket, ...] = ()
    already: tuple[Ticket, ...] = ()
    needs: tuple[str, ...] = ()
    extra: dict[str, datetime] = field(default_factory=dict)


def number_tickets(labels: Iterable[str]) -> dict[str, int]:
    """A booking's tickets are numbered 1, 2, … in the order of their seat labels (by code
    point): the number a signed code carries. Ticket 0 is the whole party."""
    return {label: n for n, label in enumerate(sorted(labels), start=1)}


def refuse(reason: RefusalReason, message: str, **extra: datetime) -> Decision:
    return Decision("refused", reason, message, extra=extra)


def decide(scan: Scan, booking: Booking | None) -> Decision:
    """The answer to a scan of a genuine code at the door of `scan.screening_id`."""
    if booking is None:
        return refuse("unknown", "Unknown ticket: no booking has this code.")
    screening = booking.screening
    if screening.id != scan.screening_id:
        return refuse(
            "another_screening",
            "This ticket is for another screening.",
            starts_at=screening.starts_at,
        )
    if screening.status == "cancelled":
        return refuse("screening_cancelled", "This screening was cancelled.")
    if booking.status == "cancelled":
        refunded = " and refunded" if booking.refund_due else ""
        return refuse("cancelled", f"Booking {booking.reference} was cancelled{refunded}.")
    if booking.status != "confirmed":  # "unseated": paid after its hold ended, no seats (yet)
        return refuse(
            "cancelled", f"Booking {booking.reference} has no seats: the box office can seat it."
        )
    if scan.ticket == 0:
        asked = booking.tickets
    else:
        asked = tuple(t for t in booking.tickets if t.number == scan.ticket)
        if not asked:
            return refuse("unknown", "Unknown ticket: this booking has no such ticket.")
    if scan.entry.scanned_at < screening.doors_open_at:
        return refuse(
            "not_open", "The doors are not open yet.", doors_open_at=screening.doors_open_at
        )
    # An admission counts against this scan unless this is an offline scan made before it: that
    # patron went in first, and takes the admission over.
    already = tuple(t for t in asked if t.admission and not takes_over(t.admission, scan))
    waiting = tuple(t for t in asked if t not in already)
    if not waiting and screening.reentry:
        return Decision(
            "admitted",
            None,
            f"Re-entry: {', '.join(t.label for t in already)}.",
            already=already,
            needs=needs_of(already, booking.devices),
        )
    if not waiting:
        first = min(already, key=lambda t: admission_of(t).scanned_at)
        entry = admission_of(first)
        by = f" by {entry.staff_name}" if entry.staff_name else ""
        return Decision(
            "refused",
            "already_admitted",
            f"Already admitted at {entry.door}{by}.",
            already=already,
        )
    seats = ", ".join(t.label for t in waiting)
    people = "1 person" if len(waiting) == 1 else f"{len(waiting)} people"
    return Decision(
        "admitted",
        None,
        f"Admit {people}: {seats}.",
        admit=waiting,
        already=already,
        needs=needs_of(waiting, booking.devices),
    )


def takes_over(admission: Entry, scan: Scan) -> bool:
    """Whether an uploaded offline scan takes a ticket's admission over: it was made earlier,
    so that patron went in first (the first scan wins). An online scan never does: its door is
    waiting for the answer, and whoever PostgreSQL admitted first holds the ticket."""
    return scan.mode == "offline" and winner(admission, scan.entry) == scan.entry


def admission_of(ticket: Ticket) -> Entry:
    assert ticket.admission is not None
    return ticket.admission


def needs_of(tickets: Sequence[Ticket], devices: Sequence[str]) -> tuple[str, ...]:
    """What the patrons need at the door, in words for the door's screen."""
    needs = [f"Wheelchair space {t.label}" for t in tickets if t.seat_kind == "wheelchair"]
    needs += [f"Companion seat {t.label}" for t in tickets if t.seat_kind == "companion"]
    needs += [f"A reserved {DEVICE_NAMES.get(kind, kind)} waits at the desk" for kind in devices]
    return tuple(needs)


def winner(first: Entry, second: Entry) -> Entry:
    """Of two scans that admitted the same ticket, the one that holds the admission: the earlier
    scan; at the same instant, the lower scanner id (so every order of arrival agrees)."""
    return min(first, second, key=lambda e: (e.scanned_at, e.scanner_id, e.door))


def answer(decision: Decision, scan: Scan, booking: Booking | None) -> ScanAnswer:
    """The door's answer, with each asked ticket as it stands after the decision."""
    admitted = {t.seat_id for t in decision.admit}
    tickets = [
        _door_ticket(t, scan.entry if t.seat_id in admitted else t.admission, t.seat_id in admitted)
        for t in sorted((*decision.admit, *decision.already), key=lambda t: t.number)
    ]
    return ScanAnswer(
        result=decision.result,
        message=decision.message,
        reason=decision.reason,
        screening_id=booking.screening.id if booking else None,
        booking_reference=booking.reference if booking else None,
        tickets=tickets,
        needs=list(decision.needs),
        doors_open_at=decision.extra.get("doors_open_at"),
        starts_at=decision.extra.get("starts_at"),
        scanned_at=scan.entry.scanned_at,
    )


def _door_ticket(ticket: Ticket, entry: Entry | None, now_admitted: bool) -> DoorTicket:
    return DoorTicket(
        number=ticket.number,
        seat=ticket.label,
        row_label=ticket.row_label,
        seat_kind=ticket.seat_kind,
        ticket_type=ticket.ticket_type,
        status="admitted" if now_admitted else "already_admitted",
        admitted_at=entry.scanned_at if entry else None,
        door=entry.door if entry else None,
        scanner_id=entry.scanner_id if entry else None,
        admitted_by=(entry.staff_name or None) if entry else None,
    )


def with_admissions(booking: Booking, admissions: dict[UUID, Entry]) -> Booking:
    """The booking with its tickets' current admissions."""
    tickets = tuple(replace(t, admission=admissions.get(t.seat_id)) for t in booking.tickets)
    return replace(booking, tickets=tickets)


def recorded(
    scan: Scan, booking: Booking, ticket: Ticket, new_id: Callable[[], UUID], now: datetime
) -> AdmissionRecorded:
    return AdmissionRecorded(
        id=new_id(),
        occurred_at=now,
        screening_id=booking.screening.id,
        booking_id=booking.id,
        booking_reference=booking.reference,
        seat_id=ticket.seat_id,
        seat_label=ticket.label,
        door=scan.entry.door,
        scanner_id=scan.entry.scanner_id,
        scanned_at=scan.entry.scanned_at,
        mode=scan.mode,
        admitted_by=scan.entry.staff_name,
    )


def scan_events(
    decision: Decision, scan: Scan, booking: Booking, new_id: Callable[[], UUID], now: datetime
) -> list[Event]:
    """What a decided scan records: each ticket admitted, or each duplicate when every ticket
    asked was in already (a party code admitting the rest flags nobody)."""
    events: list[Event] = []
    if decision.result == "refused" and decision.reason == "already_admitted":
        events += [
            conflict(booking, t, admission_of(t), scan.entry, scan.mode, new_id, now)
            for t in decision.already
        ]
    events += [recorded(scan, booking, t, new_id, now) for t in decision.admit]
    return events


def conflict(
    booking: Booking,
    ticket: Ticket,
    first: Entry,
    duplicate: Entry,
    mode: str,
    new_id: Callable[[], UUID],
    now: datetime,
) -> AdmissionConflict:
    return AdmissionConflict(
        id=new_id(),
        occurred_at=now,
        screening_id=booking.screening.id,
        booking_id=booking.id,
        booking_reference=booking.reference,
        seat_id=ticket.seat_id,
        seat_label=ticket.label,
        admitted_at=first.scanned_at,
        admitted_door=first.door,
        admitted_scanner_id=first.scanner_id,
        duplicate_at=duplicate.scanned_at,
        duplicate_door=duplicate.door,
        duplicate_scanner_id=duplicate.scanner_id,
        mode=mode,
    )


def undone(
    screening_id: UUID,
    admission_id: UUID,
    booking_id: UUID,
    ticket: Ticket,
    staff_name: str,
    reason: str,
    new_id: Callable[[], UUID],
    now: datetime,
) -> Event:
    return AdmissionUndone(
        id=new_id(),
        occurred_at=now,
        screening_id=screening_id,
        admission_id=admission_id,
        booking_id=booking_id,
        seat_id=ticket.seat_id,
        seat_label=ticket.label,
        undone_by=staff_name,
        reason=reason,
    )
