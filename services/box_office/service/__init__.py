"""Box-office steps: each opens its own transaction, writes the change with its events (and, for
staff, its audit row), and after commit puts the screening's sale status right."""

from services.box_office.service._bookings import (
    cancel_booking,
    confirm_hold,
    get_booking,
    list_bookings,
)
from services.box_office.service._common import Caller, settle_sale_status
from services.box_office.service._holds import (
    change_hold,
    expire_hold,
    extend_hold,
    get_hold,
    make_hold,
    release_hold,
    request_hold,
    sweep_expired_holds,
)
from services.box_office.service._sales import (
    SeatMapState,
    block_seats,
    close_screening_sales,
    lock_screening_sales,
    read_seat_map,
    unblock_seats,
)

__all__ = [
    "Caller",
    "SeatMapState",
    "block_seats",
    "cancel_booking",
    "change_hold",
    "close_screening_sales",
    "confirm_hold",
    "expire_hold",
    "extend_hold",
    "get_booking",
    "get_hold",
    "list_bookings",
    "lock_screening_sales",
    "make_hold",
    "read_seat_map",
    "release_hold",
    "request_hold",
    "settle_sale_status",
    "sweep_expired_holds",
    "unblock_seats",
]
