"""HTTP for prices (staff only): a venue's discount codes and membership list, which staff
manage, and its booking fee, tax rate and member-ticket cap, which managers set."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from schemas.prices import (
    ActiveIn,
    DiscountCode,
    DiscountCodeIn,
    Membership,
    MembershipIn,
    VenuePrices,
    VenuePricesIn,
)
from services.clock import now as _now
from services.openapi import problems
from services.prices import service
from services.staff.auth import StaffRequest, manager_only, staff_only
from services.state import Db

STAFF: dict[str, Any] = {
    "guards": [staff_only],
    "security": [{"BearerToken": []}],
    "tags": ["prices (staff)"],
}
MANAGER: dict[str, Any] = {**STAFF, "guards": [manager_only]}
CODES = "/v1/venues/{venue_id:uuid}/discount-codes"
MEMBERSHIPS = "/v1/venues/{venue_id:uuid}/memberships"
After = Annotated[
    str | None,
    QueryParameter(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,31}$",
        description="The last membership number of the previous page",
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Memberships per page")]


@get(
    CODES,
    summary="A venue's discount codes, with their uses",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def list_codes(conn: Db, venue_id: FromPath[UUID]) -> list[DiscountCode]:
    return await service.list_codes(conn, venue_id, _now())


@post(CODES, summary="Add a discount code", responses=problems(401, 403, 404, 409, 422), **STAFF)
async def create_code(
    conn: Db, venue_id: FromPath[UUID], data: JSONBody[DiscountCodeIn], request: StaffRequest
) -> DiscountCode:
    return await service.create_code(conn, request.user, venue_id, data, _now())


@patch(
    CODES + "/{code_id:uuid}",
    summary="Deactivate (or reactivate) a discount code",
    description="Holds and bookings that already took a use keep it.",
    responses=problems(401, 403, 404, 422),
    **STAFF,
)
async def set_code_active(
    conn: Db,
    venue_id: FromPath[UUID],
    code_id: FromPath[UUID],
    data: JSONBody[ActiveIn],
    request: StaffRequest,
) -> DiscountCode:
    return await service.set_code_active(conn, request.user, venue_id, code_id, data.active, _now())


@get(
    MEMBERSHIPS,
    summary="A venue's memberships, by number",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def list_memberships(
    conn: Db, venue_id: FromPath[UUID], after: After = None, limit: Limit = 200
) -> list[Membership]:
    return await service.list_memberships(conn, venue_id, after, limit)


@post(MEMBERSHIPS, summary="Add a membership", responses=problems(401, 403, 404, 409, 422), **STAFF)
async def create_membership(
    conn: Db, venue_id: FromPath[UUID], data: JSONBody[MembershipIn], request: StaffRequest
) -> Membership:
    return await service.create_membership(conn, request.user, venue_id, data, _now())


@patch(
    MEMBERSHIPS + "/{membership_id:uuid}",
    summary="Deactivate (or reactivate) a membership",
    responses=problems(401, 403, 404, 422),
    **STAFF,
)
async def set_membership_active(
    conn: Db,
    venue_id: FromPath[UUID],
    membership_id: FromPath[UUID],
    data: JSONBody[ActiveIn],
    request: StaffRequest,
) -> Membership:
    return await service.set_membership_active(
        conn, request.user, venue_id, membership_id, data.active
    )


@get(
    "/v1/venues/{venue_id:uuid}/prices",
    summary="A venue's booking fee, tax rate and member-ticket cap",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def venue_prices(conn: Db, venue_id: FromPath[UUID]) -> VenuePrices:
    return await service.venue_prices(conn, venue_id)


@patch(
    "/v1/venues/{venue_id:uuid}/prices",
    summary="Set a venue's booking fee, tax rate or member-ticket cap",
    description="Prices already booked keep the figures they were booked with.",
    responses=problems(401, 403, 404, 422),
    **MANAGER,
)
async def change_venue_prices(
    conn: Db, venue_id: FromPath[UUID], data: JSONBody[VenuePricesIn], request: StaffRequest
) -> VenuePrices:
    return await service.change_venue_prices(conn, request.user, venue_id, data)


PRICES_ROUTES = [
    list_codes,
    create_code,
    set_code_active,
    list_memberships,
    create_membership,
    set_membership_active,
    venue_prices,
    change_venue_prices,
]
