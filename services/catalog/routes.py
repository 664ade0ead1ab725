"""HTTP for the programme: public reads, and staff writes (managers) behind a bearer token."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from litestar import Response, get, patch, post
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter

from schemas.catalog import (
    Auditorium,
    AuditoriumIn,
    CancelScreeningIn,
    Feature,
    Film,
    FilmIn,
    FilmPatch,
    Screening,
    ScreeningIn,
    ScreeningPatch,
    ScreeningStatus,
    Series,
    SeriesIn,
    Venue,
    VenueIn,
)
from schemas.common import REF_PATTERN, Page
from services.catalog import service, store
from services.catalog.rules import coming_friday
from services.errors import InvalidParameter
from services.openapi import problems
from services.staff.auth import PUBLIC, StaffRequest, manager_only
from services.state import READ_CONN, Db

WRITE: dict[str, Any] = {
    "guards": [manager_only],
    "security": [{"BearerToken": []}],
    "tags": ["programme (staff)"],
}
# Programme reads: anonymous callers read the replica when one is configured (services.state).
READ: dict[str, Any] = {"opt": PUBLIC, "tags": ["programme"], "dependencies": {"conn": READ_CONN}}
# The example dates of the document: the coming Friday, when the demo programme starts.
_FRIDAY = coming_friday(date.today())
Cursor = Annotated[
    str | None,
    QueryParameter(pattern=r"^[A-Za-z0-9_-]{1,400}$", description="`next_cursor` of the last page"),
]
PathRef = Annotated[str, PathParameter(pattern=REF_PATTERN, description="An id or a slug")]
QueryRef = Annotated[str | None, QueryParameter(pattern=REF_PATTERN, description="An id or a slug")]
Language = Annotated[str | None, QueryParameter(pattern=r"^[A-Za-z0-9-]{1,35}$")]
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="Items per page")]
IfMatch = Annotated[
    str | None, HeaderParameter(name="If-Match", description="The ETag you read; 412 if it changed")
]


def _version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError as exc:
        raise InvalidParameter(
            "If-Match must be an ETag this API gave out",
            field="If-Match",
            reason="unknown ETag",
            source="header",
        ) from exc


def _tagged(body: Any, version: int) -> Response[Any]:
    return Response(body, headers={"ETag": f'"{version}"'})


@get("/v1/films", summary="Films, by title", **READ)
async def list_films(
    conn: Db,
    series: Annotated[
        str | None, QueryParameter(description="Only films in this series (slug)")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[Film]:
    films, next_cursor = await store.list_films(conn, series=series, cursor=cursor, limit=limit)
    return Page(items=films, next_cursor=next_cursor)


@get("/v1/films/{ref:str}", summary="A film, by id or slug", responses=problems(404), **READ)
async def get_film(conn: Db, ref: PathRef) -> Response[Film]:
    film = await store.get_film(conn, ref)
    return _tagged(film, film.version)


@get("/v1/series", summary="Film series", **READ)
async def list_series(conn: Db) -> list[Series]:
    return await store.list_series(conn)


@get("/v1/series/{slug:str}", summary="A series and its films", responses=problems(404), **READ)
async def get_series(conn: Db, slug: PathRef) -> Series:
    return await store.get_series(conn, slug)


@get("/v1/venues", summary="Venues and their auditoriums", **READ)
async def list_venues(conn: Db) -> list[Venue]:
    return await store.list_venues(conn)


@get("/v1/venues/{ref:str}", summary="A venue, by id or slug", responses=problems(404), **READ)
async def get_venue(conn: Db, ref: PathRef) -> Venue:
    return await store.get_venue(conn, ref)


@get(
    "/v1/auditoriums/{auditorium_id:uuid}",
    summary="An auditorium and its seat map",
    responses=problems(404),
    **READ,
)
async def get_auditorium(conn: Db, auditorium_id: Annotated[UUID, PathParameter()]) -> Auditorium:
    return await store.get_auditorium(conn, auditorium_id)


@get(
    "/v1/screenings",
    summary="Screenings in start order, filtered",
    description=(
        "`from` and `to` are dates in each venue's own time zone, both inclusive: "
        f"`?film=here&from={_FRIDAY}&to={_FRIDAY + timedelta(days=4)}` answers when and where "
        "HERE plays on the coming Friday to Tuesday (the demo programme's run). Repeat "
        "`feature` to require several, `status` to accept any of several."
    ),
    **READ,
)
async def list_screenings(
    conn: Db,
    from_date: Annotated[date | None, QueryParameter(name="from")] = None,
    to_date: Annotated[date | None, QueryParameter(name="to")] = None,
    film: QueryRef = None,
    series: QueryRef = None,
    venue: QueryRef = None,
    feature: Annotated[
        list[Feature] | None, QueryParameter(description="Accessibility feature")
    ] = None,
    audio_language: Language = None,
    subtitle_language: Language = None,
    status: Annotated[
        list[ScreeningStatus] | None,
        QueryParameter(
            description="Sale status, as each screening shows it; repeat for any of several. "
            "Without it, every screening, cancelled ones included (shown as `cancelled`)"
        ),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[Screening]:
    if from_date and to_date and to_date < from_date:
        raise InvalidParameter("`to` is before `from`", field="to", reason="before from")
    where = store.ScreeningFilter(
        from_date=from_date,
        to_date=to_date,
        film=film,
        series=series,
        venue=venue,
        features=list(feature) if feature else None,
        audio_language=audio_language,
        subtitle_language=subtitle_language,
        statuses=tuple(status) if status else None,
    )
    items, next_cursor = await store.list_screenings(conn, where, cursor, limit)
    return Page(items=items, next_cursor=next_cursor)


@get(
    "/v1/screenings/{screening_id:uuid}",
    summary="A screening",
    responses=problems(404),
    **READ,
)
async def get_screening(
    conn: Db, screening_id: Annotated[UUID, PathParameter()]
) -> Response[Screening]:
    screening = await store.get_screening(conn, screening_id)
    return _tagged(screening, screening.version)


@post("/v1/venues", summary="Add a venue", responses=problems(401, 403, 409, 422), **WRITE)
async def add_venue(conn: Db, data: JSONBody[VenueIn], request: StaffRequest) -> Venue:
    return await service.add_venue(conn, request.user, data)


@post(
    "/v1/auditoriums",
    summary="Add an auditorium with its seat map",
    responses=problems(401, 403, 409, 422),
    **WRITE,
)
async def add_auditorium(
    conn: Db, data: JSONBody[AuditoriumIn], request: StaffRequest
) -> Auditorium:
    return await service.add_auditorium(conn, request.user, data)


@post("/v1/series", summary="Add a series", responses=problems(401, 403, 409), **WRITE)
async def add_series(conn: Db, data: JSONBody[SeriesIn], request: StaffRequest) -> Series:
    return await service.add_series(conn, request.user, data)


@post("/v1/films", summary="Publish a film", responses=problems(401, 403, 409, 422), **WRITE)
async def publish_film(conn: Db, data: JSONBody[FilmIn], request: StaffRequest) -> Film:
    return await service.publish_film(conn, request.user, data)


@patch(
    "/v1/films/{ref:str}",
    summary="Amend a film",
    responses=problems(401, 403, 404, 412, 422),
    **WRITE,
)
async def amend_film(
    conn: Db,
    ref: PathRef,
    data: JSONBody[FilmPatch],
    request: StaffRequest,
    if_match: IfMatch = None,
) -> Response[Film]:
    film = await service.amend_film(conn, request.user, ref, data, _version(if_match))
    return _tagged(film, film.version)


@post(
    "/v1/screenings",
    summary="Schedule a screening",
    description="409 when the auditorium is taken then (cleaning time included).",
    responses=problems(401, 403, 409, 422),
    **WRITE,
)
async def schedule_screening(
    conn: Db, data: JSONBody[ScreeningIn], request: StaffRequest
) -> Screening:
    return await service.schedule_screening(conn, request.user, data)


@patch(
    "/v1/screenings/{screening_id:uuid}",
    summary="Reschedule or amend a screening",
    responses=problems(401, 403, 404, 409, 412, 422),
    **WRITE,
)
async def amend_screening(
    conn: Db,
    screening_id: Annotated[UUID, PathParameter()],
    data: JSONBody[ScreeningPatch],
    request: StaffRequest,
    if_match: IfMatch = None,
) -> Response[Screening]:
    screening = await service.amend_screening(
        conn, request.user, screening_id, data, _version(if_match)
    )
    return _tagged(screening, screening.version)


@post(
    "/v1/screenings/{screening_id:uuid}/cancel",
    summary="Cancel a screening",
    status_code=200,
    responses=problems(401, 403, 404, 409),
    **WRITE,
)
async def cancel_screening(
    conn: Db,
    screening_id: Annotated[UUID, PathParameter()],
    data: JSONBody[CancelScreeningIn],
    request: StaffRequest,
) -> Screening:
    return await service.cancel_screening(conn, request.user, screening_id, data.reason)


CATALOG_ROUTES = [
    list_films,
    get_film,
    list_series,
    get_series,
    list_venues,
    get_venue,
    get_auditorium,
    list_screenings,
    get_screening,
    add_venue,
    add_auditorium,
    add_series,
    publish_film,
    amend_film,
    schedule_screening,
    amend_screening,
    cancel_screening,
]
