"""HTTP for staff: the notification emails that failed (or are retrying), and resending one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from schemas.common import Page
from schemas.notifications import Email, EmailView, ResendIn
from services.notifications import service, store
from services.openapi import problems
from services.pagination import MAX_LIMIT
from services.staff.auth import StaffRequest, staff_only
from services.state import AppSettings, Db

STAFF: dict[str, Any] = {
    "guards": [staff_only],
    "security": [{"BearerToken": []}],
    "tags": ["emails (staff)"],
}


@get(
    "/v1/staff/emails",
    summary="Notification emails in one state: failed (the default), retrying, queued, sent",
    description=(
        "`failed`: refused for good by the mail server (`failure` permanent) or still failing "
        "after the last attempt (exhausted); resend them. `retrying`: queued again after a "
        "temporary failure, with `last_error` and the time of the next attempt. Most recently "
        "changed first; pass `next_cursor` back as `cursor` for the next page."
    ),
    responses=problems(401, 403),
    **STAFF,
)
async def list_emails(
    conn: Db,
    status: Annotated[EmailView, QueryParameter(description="Which emails")] = "failed",
    screening: Annotated[
        UUID | None, QueryParameter(description="Only those about this screening")
    ] = None,
    cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 50,
) -> Page[Email]:
    items, next_cursor = await store.list_emails(conn, status, screening, cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@get(
    "/v1/staff/emails/{email_id:uuid}",
    summary="One notification email: its state, attempts and last error",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def get_email(conn: Db, email_id: FromPath[UUID]) -> Email:
    return await store.get_email(conn, email_id)


@post(
    "/v1/staff/emails/{email_id:uuid}/resend",
    summary="Send a failed (or a sent but lost) email again",
    description=(
        "Queues it again with a new Message-ID and a fresh count of attempts; `recipient` "
        "corrects a mistyped address: a manager may name any, staff only the patron's own "
        "(the booking's or reservation's; 403 otherwise). 409 while it is queued or sending "
        "already."
    ),
    status_code=HTTP_202_ACCEPTED,
    responses=problems(401, 403, 404, 409),
    **STAFF,
)
async def resend_email(
    conn: Db,
    settings: AppSettings,
    request: StaffRequest,
    email_id: FromPath[UUID],
    data: JSONBody[ResendIn],
) -> Email:
    return await service.resend(
        conn, request.user, email_id, data, settings.mail, datetime.now(UTC)
    )


NOTIFICATION_ROUTES = [list_emails, get_email, resend_email]
