"""HTTP for the staff dashboard: the page at /staff, the live feed and the read models.

The dashboard's actions are each part's own staff routes (release a hold, block and unblock
seats, cancel a booking; check a device out and take it back; resend a failed email): each runs
its service step, which records the staff action and its event in one transaction. The page
calls them with the same bearer token.

Cross-site request forgery: Usher never authenticates with a cookie. The page keeps the bearer
token in sessionStorage (this tab only) and sends it as `Authorization: Bearer`, which another
site's page can neither read nor make a browser attach. The feed is read with fetch(), not
EventSource, so the token never travels in a URL either (docs/staff.md).
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from litestar import Router, get
from litestar.datastructures import ResponseHeader, State
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import File, Stream

from schemas.dashboard import Board, LiveHolds, Programme
from services.clock import now as _now
from services.errors import InvalidParameter
from services.openapi import problems
from services.settings import Settings
from services.shutdown import Shutdown
from services.staff import feed, read_models, rules
from services.staff.auth import PUBLIC, staff_only
from services.state import AppSettings, Db, RedisClient
from services.static import static_router

STATIC = Path(__file__).resolve().parent / "static"
STAFF: dict[str, Any] = {
    "guards": [staff_only],
    "security": [{"BearerToken": []}],
    "tags": ["staff dashboard"],
}
# The page loads only its own files, runs no inline script and cannot be framed.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        pattern=rules.STREAM_ID.pattern,
        description="The `id` of the last event received: the feed resumes right after it.",
    ),
]
FEED_DESCRIPTION = """\
`text/event-stream`. The first message is `ready` (`data: {"cursor", "resumed"}`); then one
message per event, `id` = its Redis Stream id, `event` = its type, `data` = the event as in
docs/events.md. `resync` means events after your Last-Event-ID were trimmed: reload the read
models. Comment lines keep the connection alive. Reconnect with `Last-Event-ID` to resume: every
event you missed, none twice. The connection ends after a few minutes; just reconnect."""


@get(
    ["/staff", "/staff/"],
    opt=PUBLIC,
    include_in_schema=False,
    summary="The staff dashboard page",
)
async def staff_page() -> File:
    return File(
        STATIC / "index.html",
        content_disposition_type="inline",
        filename="index.html",
        media_type="text/html",
        headers=PAGE_HEADERS,
    )


@get(
    ["/staff/door", "/staff/door/"],
    opt=PUBLIC,
    include_in_schema=False,
    summary="The door page: scan tickets, online or offline (docs/door.md)",
)
async def door_page() -> File:
    return File(
        STATIC / "door.html",
        content_disposition_type="inline",
        filename="door.html",
        media_type="text/html",
        headers=PAGE_HEADERS,
    )


@get(
    "/v1/staff/events",
    summary="The live feed of events (Server-Sent Events), resumable with Last-Event-ID",
    description=FEED_DESCRIPTION,
    media_type="text/event-stream",
    responses=problems(401, 403),
    response_headers=[
        ResponseHeader(name="Cache-Control", value="no-cache", documentation_only=True),
        ResponseHeader(name="X-Accel-Buffering", value="no", documentation_only=True),
    ],
    **STAFF,
)
async def staff_events(
    state: State,
    redis: RedisClient,
    settings: AppSettings,
    venue: Annotated[UUID | None, QueryParameter(description="Only this venue's events")] = None,
    screening: Annotated[
        UUID | None, QueryParameter(description="Only this screening's events")
    ] = None,
    last_event_id: LastEventId = None,
) -> Stream:
    after = None
    if last_event_id is not None:
        try:
            after = rules.parse_stream_id(last_event_id)
        except ValueError as exc:
            raise InvalidParameter(
                "Last-Event-ID is not a stream id",
                field="Last-Event-ID",
                reason="not a stream id",
                source="header",
            ) from exc
    wanted = rules.FeedFilter(venue_id=venue, screening_id=screening)
    return Stream(
        feed.follow(redis, _stream(settings), wanted, after, stopping=_stopping(state)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _stream(settings: Settings) -> str:
    return settings.redis.events_stream


def _stopping(state: State) -> asyncio.Event | None:
    """Set once the process is asked to stop (services/shutdown.py): the feed then ends."""
    shutdown: Shutdown | None = getattr(state, "shutdown", None)
    return shutdown.stopping if shutdown else None


@get(
    "/v1/staff/screenings",
    summary="A day's screenings with their occupancy (tonight's, or the coming day's)",
    description=(
        "`date` is venue-local; without it, the first day with a screening not yet over. "
        "Counts are live: available, held, booked and blocked seats now."
    ),
    responses=problems(401, 403),
    **STAFF,
)
async def staff_programme(
    conn: Db,
    day: Annotated[
        date | None, QueryParameter(name="date", description="A venue-local date")
    ] = None,
    venue: Annotated[UUID | None, QueryParameter(description="Only this venue")] = None,
) -> Programme:
    return await read_models.programme(conn, _now(), day, venue)


@get(
    "/v1/staff/screenings/{screening_id:uuid}",
    summary="A screening's board: every seat with its status and claim, and the live holds",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def staff_board(conn: Db, screening_id: FromPath[UUID]) -> Board:
    return await read_models.board(conn, screening_id, _now())


@get(
    "/v1/staff/screenings/{screening_id:uuid}/holds",
    summary="A screening's live holds: seats, age, time left, expiring soon",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def staff_live_holds(conn: Db, screening_id: FromPath[UUID]) -> LiveHolds:
    return await read_models.live_holds(conn, screening_id, _now())


# CONNECT (issue 5): GET /v1/staff/screenings/{id}/pickups (read_models.device_pickups) and the
# check-out / check-in actions (the access part's own staff routes, as for holds above).
# CONNECT (issue 6): GET /v1/staff/emails?status=failed (read_models.failed_emails) and the
# resend action (the emails part's own staff route).

ASSETS: Router = static_router("/staff/assets", STATIC / "assets", name="staff-assets")

DASHBOARD_ROUTES: list[Any] = [
    staff_page,
    door_page,
    ASSETS,
    staff_events,
    staff_programme,
    staff_board,
    staff_live_holds,
]
