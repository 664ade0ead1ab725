"""The request headers more than one part reads, each defined once: the patron's secrets and
the `Idempotency-Key`. (The HTTP side of services/idempotency.py, which stays free of Litestar
so that the pure rules and their unit tests never import the framework.)"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.params import HeaderParameter

from services.idempotency import HEADER

SECRET_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"

HoldToken = Annotated[
    str | None,
    HeaderParameter(
        name="X-Hold-Token",
        pattern=SECRET_PATTERN,
        description="The token sent when the hold was made.",
    ),
]
BookingSecret = Annotated[
    str | None,
    HeaderParameter(
        name="X-Booking-Secret",
        pattern=SECRET_PATTERN,
        description="The patron's secret sent with the booking.",
    ),
]
ReservationSecret = Annotated[
    str | None,
    HeaderParameter(
        name="X-Reservation-Secret",
        pattern=SECRET_PATTERN,
        description="The secret sent when the device reservation was made.",
    ),
]


def idempotency_key(description: str, *, min_length: int = 1) -> Any:
    """The `Idempotency-Key` header parameter: 1 to 200 printable ASCII characters (at least
    `min_length`)."""
    return HeaderParameter(
        name=HEADER, pattern=rf"^[\x21-\x7e]{{{min_length},200}}$", description=description
    )
