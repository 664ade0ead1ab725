"""HTTP for the door (docs/door.md). Scans, uploads, snapshots and undoing need a staff token;
the public keys are public (a scanner verifies codes with them)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Response, get, post, put
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT, HTTP_304_NOT_MODIFIED

from schemas.door import (
    DoorPolicy,
    NoShow,
    PublicKeys,
    ScanAnswer,
    ScanIn,
    ScreeningDoorCount,
    UndoIn,
    UploadAnswer,
    UploadIn,
)
from services.clock import now as _now
from services.door import service, store
from services.openapi import problems
from services.settings import Settings
from services.staff.auth import PUBLIC, StaffRequest, manager_only, staff_only
from services.state import AppSettings, Db

STAFF: dict[str, Any] = {
    "guards": [staff_only],
    "security": [{"BearerToken": []}],
    "tags": ["door"],
}
IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(name="If-None-Match", description="A snapshot's ETag: 304 while unchanged."),
]
Since = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        description="A snapshot's `version`: only the tickets changed since it (a delta).",
    ),
]


@get(
    "/v1/door/keys",
    opt=PUBLIC,
    tags=["door"],
    summary="The public keys that verify signed ticket codes (Ed25519), by key id",
)
async def door_keys(settings: AppSettings) -> PublicKeys:
    return service.public_keys(settings)


@post(
    "/v1/door/scans",
    summary="Scan a code at a door: admit, or a refusal saying why",
    description=(
        "Always 200 with `result` admitted or refused (and `reason`). A retry with the same "
        "`scanner_id` and `nonce` answers the same (`replayed`: true) and records nothing."
    ),
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 422),
    **STAFF,
)
async def scan(conn: Db, request: StaffRequest, data: JSONBody[ScanIn]) -> ScanAnswer:
    # the settings from the app's state, not as a second dependency: Litestar resolves two
    # dependencies in a task group of their own, which costs a scan more than its SQL's Python
    settings: Settings = request.app.state.settings
    return await service.scan(conn, data, request.user, settings, _now())


@post(
    "/v1/door/screenings/{screening_id:uuid}/uploads",
    summary="Upload scans a door made offline (idempotent by nonce, recorded in scan order)",
    status_code=HTTP_200_OK,
    responses=problems(401, 403, 404, 422),
    **STAFF,
)
async def upload(
    conn: Db,
    request: StaffRequest,
    screening_id: FromPath[UUID],
    data: JSONBody[UploadIn],
    settings: AppSettings,
) -> UploadAnswer:
    await store.screening_door(conn, screening_id)  # 404 for an unknown screening
    return await service.upload(conn, screening_id, data, request.user, settings, _now())


@get(
    "/v1/door/screenings/{screening_id:uuid}/snapshot",
    summary="A screening's door snapshot, for scanning offline (or a delta since a version)",
    description=(
        "Tickets by digest with seat, state and needs; the booking codes' digests; revoked "
        "bookings. No patron names or emails. `If-None-Match: <ETag>` answers 304 while unchanged."
    ),
    responses=problems(401, 403, 404),
    **STAFF,
)
async def snapshot(
    conn: Db,
    screening_id: FromPath[UUID],
    settings: AppSettings,
    since: Since = None,
    if_none_match: IfNoneMatch = None,
) -> Response[Any]:
    found = await service.snapshot(conn, screening_id, since, settings)
    body = msgspec.json.encode(msgspec.structs.replace(found, version=0))
    etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match and etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(None, status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(msgspec.json.encode(found), headers=headers, media_type="application/json")


@post(
    "/v1/door/admissions/{admission_id:uuid}/undo",
    summary="Undo an admission (the wrong ticket was scanned); recorded with who did it",
    status_code=HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
    **STAFF,
)
async def undo(
    conn: Db, request: StaffRequest, admission_id: FromPath[UUID], data: JSONBody[UndoIn]
) -> None:
    await service.undo(conn, admission_id, data.reason, request.user, _now())


@get(
    "/v1/door/counts",
    summary="Admitted and expected per screening",
    responses=problems(401, 403),
    **STAFF,
)
async def counts(
    conn: Db,
    screening_id: Annotated[list[UUID], QueryParameter(max_items=200)],
) -> list[ScreeningDoorCount]:
    return await store.admission_counts(conn, screening_id)


@get(
    "/v1/door/screenings/{screening_id:uuid}/no-shows",
    summary="Confirmed bookings with tickets nobody has used",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def no_shows(conn: Db, screening_id: FromPath[UUID]) -> list[NoShow]:
    await store.screening_door(conn, screening_id)
    return await store.no_shows(conn, screening_id)


@get(
    "/v1/door/venues/{venue_id:uuid}/policy",
    summary="A venue's door policy: when the doors open, whether patrons may come back in",
    responses=problems(401, 403, 404),
    **STAFF,
)
async def get_policy(conn: Db, venue_id: FromPath[UUID]) -> DoorPolicy:
    return await store.door_policy(conn, venue_id)


@put(
    "/v1/door/venues/{venue_id:uuid}/policy",
    summary="Set a venue's door policy (managers)",
    responses=problems(401, 403, 404),
    guards=[manager_only],
    security=[{"BearerToken": []}],
    tags=["door"],
)
async def put_policy(
    conn: Db, request: StaffRequest, venue_id: FromPath[UUID], data: JSONBody[DoorPolicy]
) -> DoorPolicy:
    return await service.set_policy(conn, venue_id, data, request.user)


DOOR_ROUTES = [door_keys, scan, upload, snapshot, undo, counts, no_shows, get_policy, put_policy]
