"""HTTP for money: checkout (the hold's bearer), the payment providers' signed callbacks
(public, the signature is the credential), and for staff: payments at the till, refunds, a
booking's money and the "paid after expiry" list with its re-seat action."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath, HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from schemas.box_office import Booking, ConfirmIn
from schemas.money import (
    BookingMoney,
    CallbackReceived,
    Checkout,
    RefundIn,
    ReseatIn,
    TillPaymentIn,
    UnseatedBooking,
)
from services import idempotency
from services.clock import now as _now
from services.headers import HoldToken, idempotency_key
from services.money import rules, service
from services.openapi import problems
from services.settings import Settings
from services.staff.auth import PUBLIC, StaffRequest, staff_only
from services.state import Db

PATRON: dict[str, Any] = {"opt": PUBLIC, "tags": ["checkout"]}
STAFF: dict[str, Any] = {
    "guards": [staff_only],
    "security": [{"BearerToken": []}],
    "tags": ["money (staff)"],
}
CheckoutKey = Annotated[
    str,
    idempotency_key(
        "Required. A retried checkout with the same key and body answers the same checkout; "
        "once paid, a confirm with this key and body answers the booking the payment made."
    ),
]
Reference = Annotated[
    str, PathParameter(pattern=r"^[A-Za-z0-9]{1,20}$", description="The booking reference")
]
Provider = Annotated[
    str,
    PathParameter(
        pattern=r"^[A-Za-z0-9_-]{1,40}$", description="The provider's name in the settings"
    ),
]
Signature = Annotated[
    str | None,
    HeaderParameter(
        name=rules.SIGNATURE_HEADER,
        description='`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`',
    ),
]


@post(
    "/v1/holds/{hold_id:uuid}/checkout",
    summary="Start paying for a live hold: its prices are fixed and its clock stopped",
    description=(
        "The same body as a confirmation. Answers the amount to charge and the checkout id to "
        "give the payment provider; the hold is kept until `expires_at` (the venue's checkout "
        "window). The booking is made when the provider's callback reports the payment."
    ),
    status_code=HTTP_201_CREATED,
    responses=problems(401, 403, 404, 409, 410, 422),
    **PATRON,
)
async def start_checkout(
    conn: Db,
    hold_id: FromPath[UUID],
    data: JSONBody[ConfirmIn],
    idempotency_key: CheckoutKey,
    hold_token: HoldToken = None,
) -> Response[Checkout]:
    checkout, replayed = await service.start_checkout(
        conn, hold_id, hold_token, idempotency_key, data, _now()
    )
    if replayed:
        return Response(checkout, status_code=HTTP_200_OK, headers=dict(idempotency.REPLAYED))
    return Response(checkout, status_code=HTTP_201_CREATED)


@post(
    "/v1/payments/callbacks/{provider:str}",
    summary="A payment provider reports a payment (signed; docs/money.md)",
    description=(
        "Stored at once by the provider's event id (a duplicate is a no-op) and acted on "
        "after. 401 when the provider is not configured, the signature does not match or its "
        "timestamp is more than 300 s from now."
    ),
    status_code=HTTP_200_OK,
    responses=problems(400, 401),
    opt=PUBLIC,
    tags=["payments"],
)
async def payment_callback(
    conn: Db, request: Request[Any, Any, Any], provider: Provider, signature: Signature = None
) -> CallbackReceived:
    settings: Settings = request.app.state.settings
    body = await request.body()
    return await service.receive_callback(
        conn, settings.payments.secrets, provider, signature, body, _now()
    )


@get(
    "/v1/bookings/{reference:str}/money",
    summary="A booking's payments, refunds and what is owed",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def booking_money(conn: Db, reference: Reference) -> BookingMoney:
    return await service.booking_money(conn, reference.upper())


@post(
    "/v1/bookings/{reference:str}/payments",
    summary="Record a payment taken at the till (cash or card), up to the balance",
    status_code=HTTP_201_CREATED,
    responses=problems(401, 403, 404, 409),
    **STAFF,
)
async def record_payment(
    conn: Db, request: StaffRequest, reference: Reference, data: JSONBody[TillPaymentIn]
) -> BookingMoney:
    return await service.record_till_payment(conn, reference.upper(), data, request.user, _now())


@post(
    "/v1/bookings/{reference:str}/refunds",
    summary="Record a refund (full or partial); never past what was paid",
    description=(
        "`expected_refunded` is what the page showed as refunded: a double click or a stale "
        "page is refused (409 naming `expected_refunded`), as is a refund past what was paid "
        "and not yet refunded (409 naming `amount`)."
    ),
    status_code=HTTP_201_CREATED,
    responses=problems(401, 403, 404, 409),
    **STAFF,
)
async def record_refund(
    conn: Db, request: StaffRequest, reference: Reference, data: JSONBody[RefundIn]
) -> BookingMoney:
    return await service.record_refund(conn, reference.upper(), data, request.user, _now())


@get(
    "/v1/payments/unseated",
    summary='Paid after expiry: bookings paid for whose seats were gone ("paid, not seated")',
    responses=problems(401, 403),
    **STAFF,
)
async def unseated(
    conn: Db,
    venue_id: Annotated[UUID | None, QueryParameter(description="Only this venue's")] = None,
) -> list[UnseatedBooking]:
    return await service.list_unseated(conn, venue_id)


@post(
    "/v1/bookings/{reference:str}/reseat",
    summary='Seat a "paid, not seated" booking on seats staff choose, all or nothing',
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 404, 409, 422),
    **STAFF,
)
async def reseat(
    conn: Db, request: StaffRequest, reference: Reference, data: JSONBody[ReseatIn]
) -> Booking:
    return await service.reseat(conn, reference.upper(), data, request.user, _now())


MONEY_ROUTES = [
    start_checkout,
    payment_callback,
    booking_money,
    record_payment,
    record_refund,
    unseated,
    reseat,
]
