"""HTTP: staff sign-in, who am I, and managers adding staff accounts; with the dashboard's routes
(services/staff/dashboard.py), these are the staff part's routes."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from schemas.staff import LoginIn, Session, StaffMember, StaffMemberIn
from services.audit import record_action
from services.callers import address
from services.errors import NotAuthenticated
from services.openapi import problems
from services.rate_limits import RateLimits
from services.staff import store
from services.staff.auth import PUBLIC, issue_token, manager_only, staff_only
from services.staff.dashboard import DASHBOARD_ROUTES
from services.staff.passwords import hash_password, verify_password
from services.state import Db


@post(
    "/v1/staff/sessions",
    opt=PUBLIC,
    tags=["staff"],
    summary="Sign in: trade an e-mail and password for a bearer token",
    description=(
        "Attempts are limited per address and per account, right password or not: past "
        "either limit, 429 with Retry-After (USHER_RATE_SIGN_IN_PER_*)."
    ),
    responses=problems(401, 429),
)
async def sign_in(
    data: JSONBody[LoginIn], conn: Db, state: State, request: Request[Any, Any, Any]
) -> Session:
    rate_limits: RateLimits = state.rate_limits
    await rate_limits.hit("sign_in_per_address", address(request))
    await rate_limits.hit("sign_in_per_account", data.email.lower())
    found = await store.find_for_login(conn, data.email)
    ok = await verify_password(found[1] if found else None, data.password)
    if not ok or found is None:
        raise NotAuthenticated("unknown e-mail or wrong password")
    token, expires_at = issue_token(state.jwt, found[0])
    return Session(token=token, expires_at=expires_at, staff=found[0])


@get(
    "/v1/staff/me",
    tags=["staff"],
    summary="The signed-in staff member",
    guards=[staff_only],
    responses=problems(401, 403),
    security=[{"BearerToken": []}],
)
async def who_am_i(request: Request[StaffMember, Any, Any]) -> StaffMember:
    return request.user


@post(
    "/v1/staff/members",
    tags=["staff"],
    summary="Add a staff account (managers only)",
    guards=[manager_only],
    responses=problems(401, 403, 409),
    security=[{"BearerToken": []}],
)
async def add_staff(
    data: JSONBody[StaffMemberIn], conn: Db, request: Request[StaffMember, Any, Any]
) -> StaffMember:
    password_hash = hash_password(data.password)
    async with conn.transaction():
        member = await store.create_staff(
            conn, email=data.email, name=data.name, role=data.role, password_hash=password_hash
        )
        await record_action(conn, request.user.id, "staff.created", "staff", member.id)
    return member


STAFF_ROUTES = [sign_in, who_am_i, add_staff, *DASHBOARD_ROUTES]
