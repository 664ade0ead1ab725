"""SQL of money, split by what it stores; every function takes a connection first."""

from services.money.store._callbacks import (
    CallbackRow,
    mark_processed,
    outcomes,
    store_callback,
    take_callback,
    unprocessed,
)
from services.money.store._checkouts import (
    CheckoutRow,
    checkout_minutes_of,
    end_checkout,
    expire_checkouts,
    get_checkout,
    insert_checkout,
    reopen_checkout,
)
from services.money.store._payments import (
    PaymentRow,
    RefundPastPaid,
    RefundRow,
    add_payment,
    add_refund,
    last_refunds,
    payment_recorded,
    payments_of,
    refunds_of,
)
from services.money.store._unseated import (
    move_booking_seats,
    set_booking_status,
    unseated_bookings,
)

__all__ = [
    "CallbackRow",
    "CheckoutRow",
    "PaymentRow",
    "RefundPastPaid",
    "RefundRow",
    "add_payment",
    "add_refund",
    "checkout_minutes_of",
    "end_checkout",
    "expire_checkouts",
    "get_checkout",
    "insert_checkout",
    "last_refunds",
    "mark_processed",
    "move_booking_seats",
    "outcomes",
    "payment_recorded",
    "payments_of",
    "refunds_of",
    "reopen_checkout",
    "set_booking_status",
    "store_callback",
    "take_callback",
    "unprocessed",
    "unseated_bookings",
]
