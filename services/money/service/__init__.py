"""Money steps: each opens its own transaction and writes its change with its events (and, for
staff, its audit row)."""

from services.money.service._callbacks import act_on_callback, receive_callback, sweep_callbacks
from services.money.service._checkout import start_checkout
from services.money.service._till import booking_money, record_refund, record_till_payment
from services.money.service._unseated import list_unseated, reseat

__all__ = [
    "act_on_callback",
    "booking_money",
    "list_unseated",
    "receive_callback",
    "record_refund",
    "record_till_payment",
    "reseat",
    "start_checkout",
    "sweep_callbacks",
]
