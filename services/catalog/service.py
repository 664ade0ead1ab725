"""Catalog writes: each step is one transaction holding the change, its event and its audit row."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from schemas.catalog import (
    Auditorium,
    AuditoriumIn,
    Film,
    FilmIn,
    FilmPatch,
    Screening,
    ScreeningIn,
    ScreeningPatch,
    Series,
    SeriesIn,
    Venue,
    VenueIn,
)
from schemas.events import (
    Event,
    FilmPublished,
    FilmUpdated,
    ScreeningCancelled,
    ScreeningRescheduled,
    ScreeningScheduled,
    ScreeningUpdated,
)
from schemas.staff import StaffMember
from services.audit import record_action
from services.box_office import service as box_office
from services.catalog import store
from services.clock import now as _now
from services.ids import uuid7
from services.outbox import record_event, record_events


def _who(by: StaffMember | None) -> UUID | None:
    """The acting staff member's id; None for the system itself (demo data, imports)."""
    return by.id if by else None


async def add_venue(conn: asyncpg.Connection, by: StaffMember | None, data: VenueIn) -> Venue:
    async with conn.transaction():
        venue = await store.create_venue(conn, data)
        await record_action(conn, _who(by), "venue.created", "venue", venue.id)
    return venue


async def add_auditorium(
    conn: asyncpg.Connection, by: StaffMember | None, data: AuditoriumIn
) -> Auditorium:
    async with conn.transaction():
        auditorium = await store.create_auditorium(conn, data)
        await record_action(conn, _who(by), "auditorium.created", "auditorium", auditorium.id)
    return auditorium


async def add_series(conn: asyncpg.Connection, by: StaffMember | None, data: SeriesIn) -> Series:
    async with conn.transaction():
        series = await store.create_series(conn, data)
        await record_action(conn, _who(by), "series.created", "series", series.id)
    return series


async def publish_film(conn: asyncpg.Connection, by: StaffMember | None, data: FilmIn) -> Film:
    async with conn.transaction():
        film = await store.create_film(conn, uuid7(), data)
        await record_event(
            conn,
            FilmPublished(
                id=uuid7(), occurred_at=_now(), film_id=film.id, slug=film.slug, title=film.title
            ),
        )
        await record_action(conn, _who(by), "film.published", "film", film.id)
    return film


async def amend_film(
    conn: asyncpg.Connection, by: StaffMember, ref: str, patch: FilmPatch, expected: int | None
) -> Film:
    async with conn.transaction():
        now = _now()
        film, changed = await store.update_film(conn, ref, patch, expected, now)
        if changed:
            await record_event(
                conn,
                FilmUpdated(
                    id=uuid7(),
                    occurred_at=now,
                    film_id=film.id,
                    slug=film.slug,
                    title=film.title,
                    changed=changed,
                ),
            )
            await record_action(conn, by.id, "film.updated", "film", film.id, {"changed": changed})
    return film


async def schedule_screening(
    conn: asyncpg.Connection, by: StaffMember | None, data: ScreeningIn
) -> Screening:
    async with conn.transaction():
        screening, venue_id = await store.create_screening(conn, uuid7(), data)
        await record_event(
            conn,
            ScreeningScheduled(
                id=uuid7(),
                occurred_at=_now(),
                venue_id=venue_id,
                screening_id=screening.id,
                film_id=screening.film.id,
                auditorium_id=screening.auditorium.id,
                starts_at=screening.starts_at,
                status=screening.status,
            ),
        )
        await record_action(conn, _who(by), "screening.scheduled", "screening", screening.id)
    return screening


async def amend_screening(
    conn: asyncpg.Connection,
    by: StaffMember,
    screening_id: UUID,
    patch: ScreeningPatch,
    expected: int | None,
) -> Screening:
    async with conn.transaction():
        screening, changed, previous_start, venue_id = await store.update_screening(
            conn, screening_id, patch, expected
        )
        event: Event
        if screening.starts_at != previous_start:
            event = ScreeningRescheduled(
                id=uuid7(),
                occurred_at=_now(),
                venue_id=venue_id,
                screening_id=screening_id,
                previous_starts_at=previous_start,
                starts_at=screening.starts_at,
                changed=changed,
            )
        else:
            event = ScreeningUpdated(
                id=uuid7(),
                occurred_at=_now(),
                venue_id=venue_id,
                screening_id=screening_id,
                changed=changed,
            )
        await record_event(conn, event)
        await record_action(
            conn, by.id, event.type_name(), "screening", screening_id, {"changed": changed}
        )
    return screening


async def cancel_screening(
    conn: asyncpg.Connection, by: StaffMember, screening_id: UUID, reason: str
) -> Screening:
    async with conn.transaction():
        # The box office first: wait for holds being made, then release them all and flag the
        # bookings for refund, in this transaction.
        await box_office.lock_screening_sales(conn, screening_id)
        screening, venue_id = await store.cancel_screening(conn, screening_id)
        now = _now()
        await record_event(
            conn,
            ScreeningCancelled(
                id=uuid7(),
                occurred_at=now,
                venue_id=venue_id,
                screening_id=screening_id,
                reason=reason,
            ),
        )
        await record_events(conn, await box_office.close_screening_sales(conn, screening_id, now))
        await record_action(
            conn, by.id, "screening.cancelled", "screening", screening_id, {"reason": reason}
        )
    return screening
