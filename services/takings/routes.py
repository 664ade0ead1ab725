"""HTTP for staff: the takings reports (JSON, or CSV with `format=csv`) and the refunds due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar, cast
from uuid import UUID

from litestar import Response, get
from litestar.params import FromPath, QueryParameter

from schemas.takings import (
    DayTakings,
    FilmWeekTakings,
    RefundDue,
    ReportFormat,
    ScreeningTakings,
)
from services.clock import now as _now
from services.openapi import problems
from services.staff.auth import staff_only
from services.state import Db
from services.takings import service, sheets

STAFF: dict[str, Any] = {
    "guards": [staff_only],
    "security": [{"BearerToken": []}],
    "tags": ["takings (staff)"],
}
Report = TypeVar("Report", DayTakings, ScreeningTakings, FilmWeekTakings)
Format = Annotated[
    ReportFormat,
    QueryParameter(
        description="`json` (the default) or `csv`: the same report as one CSV table "
        '(docs/money.md, "Takings")'
    ),
]
Venue = Annotated[UUID, QueryParameter(description="The venue")]
CSV_NOTE = (
    " With `format=csv`: `text/csv` (an attachment), amounts in major units, text cells that "
    "a spreadsheet would run as a formula prefixed with an apostrophe."
)


def _answer(
    report: Report, format: ReportFormat, to_csv: Callable[[Report], str], filename: str
) -> Report:
    """The report, or its CSV as a Response, which Litestar sends as it is: the handlers
    declare the report's type, so the API document shows the JSON shape (the CSV is in each
    route's description)."""
    if format == "json":
        return report
    return cast(
        Report,
        Response(
            to_csv(report).encode("utf-8"),
            media_type="text/csv",  # Litestar adds "; charset=utf-8"
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        ),
    )


@get(
    "/v1/staff/takings/day",
    summary="A venue's day: money in and out by method and hour, sales by ticket type",
    description=(
        "The venue's local day (midnight to midnight in its time zone; `date` defaults to "
        "today there). `cash`: payments less refunds recorded that day, by method. "
        "`ticket_types`: the booked seats of the bookings made that day and confirmed now. "
        "`reconciliation`: those bookings' sales against all their money, recorded that day "
        "or later." + CSV_NOTE
    ),
    responses=problems(400, 401, 403, 404),
    **STAFF,
)
async def day_takings(
    conn: Db,
    venue: Venue,
    day: Annotated[
        date | None, QueryParameter(name="date", description="The day (YYYY-MM-DD)")
    ] = None,
    format: Format = "json",
) -> DayTakings:
    report = await service.day(conn, venue, day, _now())
    return _answer(report, format, sheets.day_csv, f"takings-{report.day}.csv")


@get(
    "/v1/staff/takings/screenings/{screening_id:uuid}",
    summary="A screening's takings: its sales by ticket type and all money on its bookings",
    description="Sales: the seats of its confirmed bookings. Cash: every payment and refund "
    "ever recorded on its bookings." + CSV_NOTE,
    responses=problems(400, 401, 403, 404),
    **STAFF,
)
async def screening_takings(
    conn: Db, screening_id: FromPath[UUID], format: Format = "json"
) -> ScreeningTakings:
    report = await service.screening(conn, screening_id, _now())
    return _answer(report, format, sheets.screening_csv, f"takings-{screening_id}.csv")


@get(
    "/v1/staff/takings/film-week",
    summary="A film's week at a venue, as a distributor's return",
    description=(
        "Admissions and gross by ticket type, for each screening and for the week, tax "
        "apart and net of tax. The film week runs Friday to Thursday: `week` may be any day "
        "in it (default: today at the venue); screenings count by the venue's local date of "
        "their start." + CSV_NOTE
    ),
    responses=problems(400, 401, 403, 404),
    **STAFF,
)
async def film_week_takings(
    conn: Db,
    venue: Venue,
    film: Annotated[UUID, QueryParameter(description="The film")],
    week: Annotated[
        date | None, QueryParameter(description="Any day of the film week (YYYY-MM-DD)")
    ] = None,
    format: Format = "json",
) -> FilmWeekTakings:
    report = await service.film_week(conn, venue, film, week, _now())
    return _answer(report, format, sheets.film_week_csv, f"film-week-{report.week_start}.csv")


@get(
    "/v1/staff/refunds-due",
    summary="Refunds due: cancelled or paid-but-unseated bookings holding money",
    description=(
        'Bookings cancelled or "paid, not seated" whose payments exceed their refunds '
        "(`due` = paid - refunded), oldest first. `refund_due` is what staff decided when "
        "cancelling; the money is listed until a refund is recorded either way."
    ),
    responses=problems(400, 401, 403, 404),
    **STAFF,
)
async def refunds_due(
    conn: Db,
    venue: Annotated[UUID | None, QueryParameter(description="Only this venue's")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 200,
) -> list[RefundDue]:
    return await service.refunds_due(conn, venue, limit)


TAKINGS_ROUTES = [day_takings, screening_takings, film_week_takings, refunds_due]
