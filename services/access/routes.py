"""HTTP for access devices.

What a screening offers and reserving are public (a patron, a cinema's website, the till); a
reservation is then seen and cancelled by the bearer of its secret (`X-Reservation-Secret`). The
desk's routes need a staff token: the pick-up list, check-out, return, the inventory; adding
units needs a manager.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, get, patch, post
from litestar.params import FromPath, JSONBody, PathParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from schemas.access import (
    CancelReservationIn,
    CheckOutIn,
    Device,
    DeviceIn,
    DevicePatch,
    DeviceReservation,
    DeviceReservationIn,
    Inventory,
    PickUp,
    PickUpList,
    ReturnIn,
    ScreeningDevices,
)
from services import idempotency
from services.access import service
from services.callers import requester
from services.clock import now as _now
from services.headers import BookingSecret, HoldToken, ReservationSecret, idempotency_key
from services.openapi import problems
from services.rate_limits import rate_limited
from services.staff.auth import PUBLIC, StaffRequest, manager_only, staff_only
from services.state import AppSettings, Db

PATRON: dict[str, Any] = {"opt": PUBLIC, "tags": ["access devices"]}
STAFF: dict[str, Any] = {
    "guards": [staff_only],
    "security": [{"BearerToken": []}],
    "tags": ["access devices (staff)"],
}
IdempotencyKey = Annotated[
    str | None,
    idempotency_key(
        "Optional; 16 to 200 printable characters, best a random UUID. A retried request with "
        "the same key and body answers the same reservation and secret (200, "
        "`Idempotent-Replayed: true`); the same key with another body is refused (422).",
        min_length=16,
    ),
]
AssetTagPath = Annotated[
    str,
    PathParameter(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", description="The unit's tag"),
]


@get(
    "/v1/screenings/{screening_id:uuid}/devices",
    summary="The access devices a screening offers, and how many can still be reserved",
    description=(
        "Only the kinds its listing and auditorium support (assistive listening, closed "
        "captions, audio description) and the venue has. Where the auditorium has a hearing "
        "loop, hearing aids set to T need no device, and neckloops are not offered."
    ),
    responses=problems(404),
    **PATRON,
)
async def screening_devices(
    conn: Db, settings: AppSettings, screening_id: FromPath[UUID]
) -> ScreeningDevices:
    return await service.screening_devices(conn, screening_id, settings.access, _now())


@post(
    "/v1/screenings/{screening_id:uuid}/device-reservations",
    summary="Reserve an access device for a screening: reserved at once, or waitlisted",
    description=(
        "201 either way: `status` is `reserved` (a unit is set aside) or `waitlisted` with its "
        "`position`; the patron hears when a unit comes free. The answer carries the "
        "reservation's secret, sent only this once, or again to a retry that sends the same "
        "`Idempotency-Key` and body (200, `Idempotent-Replayed: true`). A `booking_reference` "
        "needs the booking's `X-Booking-Secret` (or a staff token), as a `hold_id` needs its "
        "`X-Hold-Token`; an unknown reference, another screening's and a wrong secret all "
        "answer the same 422. Limited per caller address (live reservations per screening, "
        "and a rate: 429 with Retry-After); a staff token is not rate limited."
    ),
    status_code=HTTP_201_CREATED,
    responses=problems(401, 403, 404, 409, 410, 422, 429),
    before_request=rate_limited("device_reservations"),
    **PATRON,
)
async def reserve_device(
    conn: Db,
    settings: AppSettings,
    request: Request[Any, Any, Any],
    screening_id: FromPath[UUID],
    data: JSONBody[DeviceReservationIn],
    hold_token: HoldToken = None,
    booking_secret: BookingSecret = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[DeviceReservation]:
    caller = await requester(request)  # as the rate-limit hook found it
    proof = service.TieProof(
        hold_token=hold_token, booking_secret=booking_secret, staff=caller.staff
    )
    reservation, replayed = await service.reserve(
        conn, screening_id, data, caller.key, proof, settings.access, _now(), idempotency_key
    )
    headers = {"Location": f"/v1/device-reservations/{reservation.id}"}
    if replayed:
        return Response(
            reservation, status_code=HTTP_200_OK, headers={**headers, **idempotency.REPLAYED}
        )
    return Response(reservation, status_code=HTTP_201_CREATED, headers=headers)


@get(
    "/v1/device-reservations/{reservation_id:uuid}",
    summary="A device reservation (its patron), with its place in the waitlist",
    responses=problems(401, 403, 404),
    **PATRON,
)
async def get_reservation(
    conn: Db, reservation_id: FromPath[UUID], secret: ReservationSecret = None
) -> DeviceReservation:
    return await service.get_reservation(conn, reservation_id, secret)


@post(
    "/v1/device-reservations/{reservation_id:uuid}/cancel",
    summary="Cancel a device reservation (its patron): the unit goes to the next patron waiting",
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 404, 409),
    **PATRON,
)
async def cancel_reservation(
    conn: Db,
    reservation_id: FromPath[UUID],
    data: JSONBody[CancelReservationIn],
    secret: ReservationSecret = None,
) -> DeviceReservation:
    return await service.cancel_reservation(
        conn, reservation_id, _now(), data.reason, secret=secret
    )


@get(
    "/v1/screenings/{screening_id:uuid}/device-pickups",
    summary="The pick-up list of a screening: who needs what, and whether the unit is ready",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def pickups(conn: Db, settings: AppSettings, screening_id: FromPath[UUID]) -> PickUpList:
    return await service.pickups(conn, screening_id, settings.access, _now())


@get(
    "/v1/device-pickups/{reservation_id:uuid}",
    summary="One line of a pick-up list",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def get_pickup(conn: Db, settings: AppSettings, reservation_id: FromPath[UUID]) -> PickUp:
    return await service.pickup(conn, reservation_id, settings.access, _now())


@get(
    "/v1/device-pickups/by-number/{number:str}",
    summary="One line of a pick-up list, by the reservation's number (read out at the desk)",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def get_pickup_by_number(
    conn: Db,
    settings: AppSettings,
    number: Annotated[str, PathParameter(max_length=20, description="e.g. K7MQ2XD")],
) -> PickUp:
    return await service.pickup_by_number(conn, number, settings.access, _now())


@post(
    "/v1/device-pickups/{reservation_id:uuid}/check-out",
    summary="Hand a unit over, by its asset tag (charged, of the kind, tuned right)",
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 404, 409, 422),
    **STAFF,
)
async def check_out(
    conn: Db,
    settings: AppSettings,
    request: StaffRequest,
    reservation_id: FromPath[UUID],
    data: JSONBody[CheckOutIn],
) -> PickUp:
    return await service.check_out(
        conn, request.user, reservation_id, data, settings.access, _now()
    )


@post(
    "/v1/device-pickups/{reservation_id:uuid}/cancel",
    summary="Cancel a device reservation at the desk",
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 404, 409),
    **STAFF,
)
async def cancel_pickup(
    conn: Db,
    request: StaffRequest,
    reservation_id: FromPath[UUID],
    data: JSONBody[CancelReservationIn],
) -> DeviceReservation:
    return await service.cancel_reservation(
        conn, reservation_id, _now(), data.reason, staff=request.user
    )


@get(
    "/v1/venues/{venue_id:uuid}/devices",
    summary="A venue's access devices, and what US rules ask of it",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def inventory(conn: Db, venue_id: FromPath[UUID]) -> Inventory:
    return await service.inventory(conn, venue_id)


@post(
    "/v1/venues/{venue_id:uuid}/devices",
    summary="Add a unit to a venue's inventory (managers)",
    status_code=HTTP_201_CREATED,
    responses=problems(401, 403, 404, 409, 422),
    **{**STAFF, "guards": [manager_only]},
)
async def add_device(
    conn: Db, request: StaffRequest, venue_id: FromPath[UUID], data: JSONBody[DeviceIn]
) -> Device:
    return await service.add_device(conn, request.user, venue_id, data, _now())


@patch(
    "/v1/venues/{venue_id:uuid}/devices/{asset_tag:str}",
    summary="Mark a unit charged, charging, needing repair or retired; tune it; note something",
    responses=problems(401, 403, 404, 409, 422),
    **STAFF,
)
async def change_device(
    conn: Db,
    request: StaffRequest,
    venue_id: FromPath[UUID],
    asset_tag: AssetTagPath,
    data: JSONBody[DevicePatch],
) -> Device:
    return await service.change_device(conn, request.user, venue_id, asset_tag, data, _now())


@post(
    "/v1/venues/{venue_id:uuid}/devices/{asset_tag:str}/return",
    summary="Take a unit back: its loan ends and it goes to charging (or as said)",
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 404, 409),
    **STAFF,
)
async def return_device(
    conn: Db,
    settings: AppSettings,
    request: StaffRequest,
    venue_id: FromPath[UUID],
    asset_tag: AssetTagPath,
    data: JSONBody[ReturnIn],
) -> Device:
    return await service.return_unit(
        conn, request.user, venue_id, asset_tag, data, settings.access, _now()
    )


ACCESS_ROUTES = [
    screening_devices,
    reserve_device,
    get_reservation,
    cancel_reservation,
    pickups,
    get_pickup,
    get_pickup_by_number,
    check_out,
    cancel_pickup,
    inventory,
    add_device,
    change_device,
    return_device,
]
