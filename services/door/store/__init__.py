"""SQL of the door, split by what it reads and writes; every function takes a connection first."""

from services.door.store._scans import (
    NewScan,
    admit,
    claim_scans,
    door_booking,
    door_bookings,
    finish_scans,
    lock_admission,
    lock_uploads,
    move_admission,
    record_scan,
    stored_answers,
    undo_admission,
)
from services.door.store._snapshot import (
    admission_counts,
    door_policy,
    no_shows,
    screening_door,
    set_door_policy,
    snapshot_bookings,
)

__all__ = [
    "NewScan",
    "admission_counts",
    "admit",
    "claim_scans",
    "door_booking",
    "door_bookings",
    "door_policy",
    "finish_scans",
    "lock_admission",
    "lock_uploads",
    "move_admission",
    "no_shows",
    "record_scan",
    "screening_door",
    "set_door_policy",
    "snapshot_bookings",
    "stored_answers",
    "undo_admission",
]
