"""Events of the door (docs/door.md): admissions, duplicates and undone admissions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from schemas.event_base import Event


class AdmissionRecorded(Event, frozen=True, kw_only=True, tag="admission.recorded"):
    """A ticket was admitted (online, or uploaded by a door that was offline)."""

    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    booking_id: UUID
    booking_reference: str
    seat_id: UUID
    seat_label: str
    door: str
    scanner_id: str
    scanned_at: datetime
    mode: str  # online | offline
    admitted_by: str = ""


class AdmissionConflict(Event, frozen=True, kw_only=True, tag="admission.conflict"):
    """A ticket was scanned again after its admission: a copied code, or two offline doors. The
    first scan (by scan time) holds the admission; `duplicate_*` is the other."""

    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    booking_id: UUID
    booking_reference: str
    seat_id: UUID
    seat_label: str
    admitted_at: datetime
    admitted_door: str
    admitted_scanner_id: str
    duplicate_at: datetime
    duplicate_door: str
    duplicate_scanner_id: str
    mode: str  # online | offline: how the duplicate arrived


class AdmissionUndone(Event, frozen=True, kw_only=True, tag="admission.undone"):
    """Staff undid an admission (the wrong ticket was scanned); the ticket may be admitted again."""

    aggregate = "screening"
    aggregate_field = "screening_id"
    screening_id: UUID
    admission_id: UUID
    booking_id: UUID
    seat_id: UUID
    seat_label: str
    undone_by: str
    reason: str = ""
