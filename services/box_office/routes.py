"""HTTP for the box office.

Seat maps are public. Hold routes are public too (no staff token needed) but act only for the
bearer of the hold's token (`X-Hold-Token`); booking routes for the bearer of the patron's secret
(`X-Booking-Secret`). Staff may also release any hold, see and cancel any booking, with their
bearer token, and block or unblock house seats.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_304_NOT_MODIFIED

from schemas.box_office import (
    BlockIn,
    Blocks,
    Booking,
    CancelBookingIn,
    ConfirmIn,
    Hold,
    HoldChangeIn,
    HoldIn,
    SeatMap,
)
from services import idempotency
from services.box_office import service
from services.callers import requester
from services.clock import now as _now
from services.headers import BookingSecret, HoldToken, idempotency_key
from services.openapi import problems
from services.rate_limits import rate_limited
from services.settings import BoxOfficeSettings, Settings
from services.staff.auth import PUBLIC, StaffRequest, staff_of, staff_only
from services.state import Db

PATRON: dict[str, Any] = {"opt": PUBLIC, "tags": ["box office"]}
STAFF: dict[str, Any] = {
    "guards": [staff_only],
    "security": [{"BearerToken": []}],
    "tags": ["box office (staff)"],
}
IdempotencyKey = Annotated[
    str,
    idempotency_key(
        "Required. A retried confirmation with the same key and body answers the same "
        "booking; the same key with another body is refused (422)."
    ),
]
HoldIdempotencyKey = Annotated[
    str | None,
    idempotency_key(
        "Optional. A retried hold request with the same key and body, from the same client, "
        "answers the hold the first one made (200, `Idempotent-Replayed: true`, the same token) "
        "instead of holding again; the same key with another body is refused (422)."
    ),
]
IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(name="If-None-Match", description="A seat map's ETag: 304 while unchanged."),
]
Reference = Annotated[
    str, PathParameter(pattern=r"^[A-Za-z0-9]{1,20}$", description="The booking reference")
]


def _rules(request: Request[Any, Any, Any]) -> BoxOfficeSettings:
    """The box office's settings, from the app's state: read here rather than injected, since a
    second dependency makes Litestar resolve them in a task group, which costs more than the
    rest of a hold's request handling."""
    settings: Settings = request.app.state.settings
    return settings.box_office


@get(
    "/v1/screenings/{screening_id:uuid}/seats",
    summary="The seat map of a screening, with each seat's status",
    description=(
        "Every seat with its kind and status (available, held, booked, blocked), and the "
        "screening's sale status. Poll with `If-None-Match: <ETag>`: 304 while nothing changed."
    ),
    responses={
        HTTP_304_NOT_MODIFIED: ResponseSpec(
            None, description="Unchanged since the ETag sent in If-None-Match: no body"
        ),
        **problems(404),
    },
    response_headers=[
        ResponseHeader(
            name="ETag",
            value='"42"',
            description="The seat map's version, quoted; send it back in If-None-Match.",
            documentation_only=True,
        ),
        ResponseHeader(name="Cache-Control", value="no-cache", documentation_only=True),
    ],
    **PATRON,
)
async def seat_map(
    conn: Db, screening_id: FromPath[UUID], if_none_match: IfNoneMatch = None
) -> Response[SeatMap]:
    state = await service.read_seat_map(conn, screening_id, _now())
    etag = f'"{state.version}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match and etag in [
        tag.strip().removeprefix("W/") for tag in if_none_match.split(",")
    ]:
        not_modified: Response[Any] = Response(
            None, status_code=HTTP_304_NOT_MODIFIED, headers=headers
        )
        return not_modified
    return Response(state.render(), headers=headers)


@post(
    "/v1/screenings/{screening_id:uuid}/holds",
    summary="Hold seats (explicit or best available), all or nothing",
    description=(
        "409 names the seats that are not available, and nothing is held; best available is "
        "refused only when too few seats are free (or, with `together: required`, none side by "
        "side). The answer carries the hold token, sent only this once (or again, to a retry "
        "with the same Idempotency-Key). Holds are limited per caller address (live holds and "
        "held seats per screening, and a rate: 429 with Retry-After); a staff token (the till) "
        "is its own caller and is not rate limited."
    ),
    status_code=HTTP_201_CREATED,
    responses=problems(401, 404, 409, 422, 429),
    before_request=rate_limited("holds"),
    **PATRON,
)
async def make_hold(
    conn: Db,
    request: Request[Any, Any, Any],
    screening_id: FromPath[UUID],
    data: JSONBody[HoldIn],
    idempotency_key: HoldIdempotencyKey = None,
) -> Response[Hold]:
    caller = await requester(request)  # as the rate-limit hook found it
    settings: Settings = request.app.state.settings
    hold, replayed = await service.request_hold(
        conn,
        screening_id,
        data,
        caller.key,
        settings.box_office,
        _now(),
        idempotency_key,
        settings.auth.secret,
    )
    if replayed:
        return Response(hold, status_code=HTTP_200_OK, headers=dict(idempotency.REPLAYED))
    return Response(
        hold, status_code=HTTP_201_CREATED, headers={"Location": f"/v1/holds/{hold.id}"}
    )


@get(
    "/v1/holds/{hold_id:uuid}",
    summary="A hold (its bearer, or staff)",
    responses=problems(401, 403, 404),
    **PATRON,
)
async def get_hold(
    conn: Db,
    request: Request[Any, Any, Any],
    hold_id: FromPath[UUID],
    hold_token: HoldToken = None,
) -> Hold:
    caller = service.Caller(secret=hold_token, staff=await staff_of(request))
    return await service.get_hold(conn, hold_id, caller, _rules(request), _now())


@patch(
    "/v1/holds/{hold_id:uuid}",
    summary="Add or remove seats of a live hold",
    description="All or nothing; the hold keeps its expiry time.",
    responses=problems(401, 403, 404, 409, 410, 422),
    **PATRON,
)
async def change_hold(
    conn: Db,
    request: Request[Any, Any, Any],
    hold_id: FromPath[UUID],
    data: JSONBody[HoldChangeIn],
    hold_token: HoldToken = None,
) -> Hold:
    caller = service.Caller(secret=hold_token)
    return await service.change_hold(conn, hold_id, caller, data, _rules(request), _now())


@post(
    "/v1/holds/{hold_id:uuid}/extend",
    summary="Extend a live hold by one hold time",
    description=(
        "Capped in number (`extensions_left`) and in total time (`latest_expiry`); a refused "
        "extension (409) leaves the hold and its timer as they were."
    ),
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 404, 409, 410),
    **PATRON,
)
async def extend_hold(
    conn: Db, request: Request[Any, Any, Any], hold_id: FromPath[UUID], hold_token: HoldToken = None
) -> Hold:
    caller = service.Caller(secret=hold_token)
    return await service.extend_hold(conn, hold_id, caller, _rules(request), _now())


@delete(
    "/v1/holds/{hold_id:uuid}",
    summary="Release a hold (its bearer, or staff): the seats are back on sale at once",
    responses=problems(401, 403, 404, 409, 410),
    **PATRON,
)
async def release_hold(
    conn: Db, request: Request[Any, Any, Any], hold_id: FromPath[UUID], hold_token: HoldToken = None
) -> None:
    caller = service.Caller(secret=hold_token, staff=await staff_of(request))
    await service.release_hold(conn, hold_id, caller, _now())


@post(
    "/v1/holds/{hold_id:uuid}/confirm",
    summary="Confirm a live hold: it becomes a booking",
    description=(
        "Needs `Idempotency-Key`. 201 with the booking, its reference and the patron's secret; "
        "a retry with the same key and body answers 200 with the same booking "
        "(`Idempotent-Replayed: true`). An expired hold answers 410 and nothing changes."
    ),
    status_code=HTTP_201_CREATED,
    responses=problems(401, 403, 404, 409, 410, 422),
    **PATRON,
)
async def confirm_hold(
    conn: Db,
    hold_id: FromPath[UUID],
    data: JSONBody[ConfirmIn],
    idempotency_key: IdempotencyKey,
    hold_token: HoldToken = None,
) -> Response[Booking]:
    booking, replayed = await service.confirm_hold(
        conn, hold_id, hold_token, idempotency_key, data, _now()
    )
    if replayed:
        return Response(booking, status_code=HTTP_200_OK, headers=dict(idempotency.REPLAYED))
    return Response(
        booking,
        status_code=HTTP_201_CREATED,
        headers={"Location": f"/v1/bookings/{booking.reference}"},
    )


@get(
    "/v1/bookings/{reference:str}",
    summary="A booking, by reference (its patron, or staff)",
    responses=problems(401, 403, 404),
    **PATRON,
)
async def get_booking(
    conn: Db,
    request: Request[Any, Any, Any],
    reference: Reference,
    booking_secret: BookingSecret = None,
) -> Booking:
    caller = service.Caller(secret=booking_secret, staff=await staff_of(request))
    return await service.get_booking(conn, reference.upper(), caller)


@post(
    "/v1/bookings/{reference:str}/cancel",
    summary="Cancel a booking (its patron, or staff): the seats are back on sale at once",
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 404, 422),
    **PATRON,
)
async def cancel_booking(
    conn: Db,
    request: Request[Any, Any, Any],
    reference: Reference,
    data: JSONBody[CancelBookingIn],
    booking_secret: BookingSecret = None,
) -> Booking:
    caller = service.Caller(secret=booking_secret, staff=await staff_of(request))
    return await service.cancel_booking(conn, reference.upper(), caller, data, _now())


@get(
    "/v1/screenings/{screening_id:uuid}/bookings",
    summary="The bookings of a screening",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def list_bookings(
    conn: Db,
    screening_id: FromPath[UUID],
    refund_due: Annotated[
        bool | None, QueryParameter(description="Only those flagged (or not) for refund")
    ] = None,
) -> list[Booking]:
    return await service.list_bookings(conn, screening_id, refund_due)


@post(
    "/v1/screenings/{screening_id:uuid}/blocks",
    summary="Block house seats (keep them off sale), all or nothing",
    status_code=HTTP_201_CREATED,
    responses=problems(401, 403, 404, 409, 422),
    **STAFF,
)
async def block_seats(
    conn: Db, request: StaffRequest, screening_id: FromPath[UUID], data: JSONBody[BlockIn]
) -> Blocks:
    return await service.block_seats(conn, request.user, screening_id, data, _now())


@delete(
    "/v1/screenings/{screening_id:uuid}/blocks",
    summary="Unblock house seats (`?seat=A1&seat=A2`), all or nothing",
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 404, 409, 422),
    **STAFF,
)
async def unblock_seats(
    conn: Db,
    request: StaffRequest,
    screening_id: FromPath[UUID],
    seat: Annotated[
        list[str], QueryParameter(min_items=1, max_items=500, description="Seat labels")
    ],
) -> Blocks:
    return await service.unblock_seats(conn, request.user, screening_id, seat, _now())


BOX_OFFICE_ROUTES = [
    seat_map,
    make_hold,
    get_hold,
    change_hold,
    extend_hold,
    release_hold,
    confirm_hold,
    get_booking,
    cancel_booking,
    list_bookings,
    block_seats,
    unblock_seats,
]
