"""Access steps: each opens its own transaction and writes the change with its events (and, for
staff, its audit row). Steps that set units aside or move them take the (venue, kind) lock first."""

from services.access.service._desk import (
    add_device,
    change_device,
    check_out,
    inventory,
    pickup,
    pickup_by_number,
    pickups,
    return_unit,
)
from services.access.service._patrons import (
    TieProof,
    cancel_reservation,
    get_reservation,
    reserve,
    screening_devices,
)
from services.access.service._waitlist import (
    Tie,
    follow_screening,
    promote_waitlist,
    release,
    run_deadlines,
    waiting_kinds,
)

__all__ = [
    "Tie",
    "TieProof",
    "add_device",
    "cancel_reservation",
    "change_device",
    "check_out",
    "follow_screening",
    "get_reservation",
    "inventory",
    "pickup",
    "pickup_by_number",
    "pickups",
    "promote_waitlist",
    "release",
    "reserve",
    "return_unit",
    "run_deadlines",
    "screening_devices",
    "waiting_kinds",
]
