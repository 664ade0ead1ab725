"""The takings reports, each read in one read-only REPEATABLE READ transaction, so that its
sales, its cash and its reconciliation are sums over the same snapshot of the books."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from uuid import UUID

import asyncpg

from schemas.takings import (
    DayTakings,
    FilmWeekTakings,
    HourCash,
    RefundDue,
    ScreeningSales,
    ScreeningTakings,
)
from services.errors import NotFound, field_error
from services.takings import rules, store


@asynccontextmanager
async def _snapshot(conn: asyncpg.Connection) -> AsyncIterator[None]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        yield


def _unknown(what: str, field: str, source: str = "query") -> NotFound:
    return NotFound(f"no such {what}", errors=[field_error(field, f"unknown {what}", source)])


async def _venue(conn: asyncpg.Connection, venue_id: UUID) -> asyncpg.Record:
    venue = await store.venue(conn, venue_id)
    if venue is None:
        raise _unknown("venue", "venue")
    return venue


async def day(
    conn: asyncpg.Connection, venue_id: UUID, day: date | None, now: datetime
) -> DayTakings:
    """A venue's local day (today there by default): the money recorded in it, the sales of
    the bookings made in it."""
    if day is not None:
        rules.check_day(day, "date")
    async with _snapshot(conn):
        venue = await _venue(conn, venue_id)
        day = day or rules.local_clock(now, venue["time_zone"])[0]
        start, end = rules.day_bounds(day, venue["time_zone"])
        cash = rules.by_method(await store.cash_recorded(conn, venue_id, start, end))
        hours = await store.cash_by_hour(conn, venue_id, start, end)
        types = rules.by_ticket_type(await store.seat_lines(conn, "made", venue_id, start, end))
        reconciliation = await store.reconciliation(conn, "made", venue_id, start, end)
    return DayTakings(
        venue_id=venue_id,
        venue_name=venue["name"],
        time_zone=venue["time_zone"],
        day=day,
        starts_at=start,
        ends_at=end,
        as_of=now,
        cash=cash,
        cash_totals=rules.cash_totals(cash),
        by_hour=[
            HourCash(
                starts_at=at,
                local_start=rules.local_clock(at, venue["time_zone"])[1],
                currency=currency,
                paid=paid,
                refunded=refunded,
                net=paid - refunded,
            )
            for at, currency, paid, refunded in hours
        ],
        ticket_types=types,
        sales_totals=rules.sales_totals(types),
        reconciliation=reconciliation,
    )


async def screening(
    conn: asyncpg.Connection, screening_id: UUID, now: datetime
) -> ScreeningTakings:
    async with _snapshot(conn):
        found = await store.screening(conn, screening_id)
        if found is None:
            raise _unknown("screening", "screening_id", "path")
        types = rules.by_ticket_type(await store.seat_lines(conn, "screening", screening_id))
        cash = rules.by_method(await store.cash_of_bookings(conn, "screening", screening_id))
        reconciliation = await store.reconciliation(conn, "screening", screening_id)
    local_date, local_start = rules.local_clock(found["starts_at"], found["time_zone"])
    return ScreeningTakings(
        screening_id=screening_id,
        film_id=found["film_id"],
        film_title=found["film_title"],
        venue_id=found["venue_id"],
        venue_name=found["venue_name"],
        auditorium_name=found["auditorium_name"],
        starts_at=found["starts_at"],
        local_date=local_date,
        local_start=local_start,
        as_of=now,
        ticket_types=types,
        sales_totals=rules.sales_totals(types),
        cash=cash,
        cash_totals=rules.cash_totals(cash),
        reconciliation=reconciliation,
    )


async def film_week(
    conn: asyncpg.Connection, venue_id: UUID, film_id: UUID, week: date | None, now: datetime
) -> FilmWeekTakings:
    """The film week (Friday to Thursday) holding `week` (today at the venue by default), for
    the distributor's return."""
    if week is not None:
        rules.check_day(week, "week")
    async with _snapshot(conn):
        venue = await _venue(conn, venue_id)
        week_start, week_end = rules.film_week(
            week or rules.local_clock(now, venue["time_zone"])[0]
        )
        found = await store.film(conn, film_id)
        if found is None:
            raise _unknown("film", "film")
        zone = venue["time_zone"]
        start = rules.local_midnight(week_start, zone)
        end = rules.day_bounds(week_end, zone)[1]
        shows = await store.film_screenings(conn, film_id, venue_id, start, end)
        ids = [show["id"] for show in shows]
        lines = await store.seat_lines(conn, "screenings", ids)
        reconciliation = await store.reconciliation(conn, "screenings", ids)
    per_show: dict[UUID, list[rules.SeatLines]] = {}
    for line in lines:
        per_show.setdefault(line.screening_id, []).append(line)
    screenings = []
    for show in shows:
        show_types = rules.by_ticket_type(per_show.get(show["id"], []))
        local_date, local_start = rules.local_clock(show["starts_at"], zone)
        screenings.append(
            ScreeningSales(
                screening_id=show["id"],
                starts_at=show["starts_at"],
                local_date=local_date,
                local_start=local_start,
                auditorium_name=show["auditorium_name"],
                ticket_types=show_types,
                totals=rules.sales_totals(show_types),
            )
        )
    types = rules.by_ticket_type(lines)
    return FilmWeekTakings(
        film_id=film_id,
        film_title=found["title"],
        venue_id=venue_id,
        venue_name=venue["name"],
        week_start=week_start,
        week_end=week_end,
        as_of=now,
        screenings=screenings,
        ticket_types=types,
        totals=rules.sales_totals(types),
        reconciliation=reconciliation,
    )


async def refunds_due(
    conn: asyncpg.Connection, venue_id: UUID | None, limit: int
) -> list[RefundDue]:
    if venue_id is not None:
        await _venue(conn, venue_id)
    return await store.refunds_due(conn, venue_id, limit)
