"""Box-office steps: each opens its own transaction, writes the change with its events (and, for
staff, its audit row), and after commit puts the screening's sale status right."""

from services.box_office.service._bookings import (
    Priced,
    cancel_booking,
    confirm_hold,
    get_booking,
    list_bookings,
    make_booking,
    price_hold,
)
from services.box_office.service._common import (
    Caller,
    authorize,
    booking_view,
    seating_for,
    settle_sale_status,
    taken_conflict,
)
from services.box_office.service._holds import (
    HOLD_TOKEN,
    change_hold,
    end_released,
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
    "HOLD_TOKEN",
    "Caller",
    "Priced",
    "SeatMapState",
    "authorize",
    "block_seats",
    "booking_view",
    "cancel_booking",
    "change_hold",
    "close_screening_sales",
    "confirm_hold",
    "end_released",
    "expire_hold",
    "extend_hold",
    "get_booking",
    "get_hold",
    "list_bookings",
    "lock_screening_sales",
    "make_booking",
    "make_hold",
    "price_hold",
    "read_seat_map",
    "release_hold",
    "request_hold",
    "seating_for",
    "settle_sale_status",
    "sweep_expired_holds",
    "taken_conflict",
    "unblock_seats",
]
