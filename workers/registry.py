"""Every consumer group the worker runs. Adding one is one line here (docs/streams.md, "Adding a
consumer"): a group name, and a handler `async (delivery, event) -> None` that writes its effect
through `delivery.conn` (or hands it to an arq job with `delivery.enqueue`)."""

from __future__ import annotations

from schemas.events import (
    CheckoutFailed,
    CheckoutStarted,
    HoldExtended,
    PaymentCallbackReceived,
    SeatsHeld,
)
from workers.delivery import Consumer
from workers.devices import REACTS_TO, react
from workers.emails import EMAIL_EVENTS, queue_emails
from workers.holds import schedule_expiry
from workers.last_event import record_last_event
from workers.payments import act_on_payment

CONSUMERS: tuple[Consumer, ...] = (
    Consumer("last-event", record_last_event),
    Consumer(
        "hold-expiry",
        schedule_expiry,
        types=(SeatsHeld, HoldExtended, CheckoutStarted, CheckoutFailed),
    ),
    Consumer("payments", act_on_payment, types=(PaymentCallbackReceived,)),
    Consumer("devices", react, types=REACTS_TO),
    # From "$": an email group added to a running system does not mail the stream's past.
    Consumer("emails", queue_emails, types=EMAIL_EVENTS, start="$"),
)
