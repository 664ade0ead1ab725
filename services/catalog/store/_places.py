"""Venues, auditoriums with their seat maps, and series."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import msgspec

from schemas.catalog import (
    Address,
    Auditorium,
    AuditoriumIn,
    AuditoriumSummary,
    FilmRef,
    Seat,
    Series,
    SeriesIn,
    Venue,
    VenueIn,
)
from services.catalog import rules
from services.errors import Conflict, InvalidInput, NotFound
from services.ids import uuid7


def _is_uuid(ref: str) -> UUID | None:
    try:
        return UUID(ref)
    except ValueError:
        return None


async def create_venue(conn: asyncpg.Connection, data: VenueIn) -> Venue:
    rules.check_time_zone(data.time_zone)
    venue_id = uuid7()
    try:
        await conn.execute(
            """
            INSERT INTO venue (id, slug, name, time_zone, street, locality, region, postal_code,
                               country, website, hold_minutes)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            """,
            venue_id,
            data.slug,
            data.name,
            data.time_zone,
            data.address.street,
            data.address.locality,
            data.address.region,
            data.address.postal_code,
            data.address.country,
            data.website,
            data.hold_minutes,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a venue with slug {data.slug!r} exists", field="slug") from exc
    return await get_venue(conn, str(venue_id))


_VENUE = """
    SELECT v.*,
           coalesce((
               SELECT jsonb_agg(jsonb_build_object(
                   'id', a.id, 'slug', a.slug, 'name', a.name, 'hearing_loop', a.hearing_loop,
                   'capacity', (SELECT count(*) FROM seat WHERE auditorium_id = a.id))
                   ORDER BY a.name)
               FROM auditorium a WHERE a.venue_id = v.id), '[]') AS auditoriums
    FROM venue v
"""


def _venue(row: asyncpg.Record) -> Venue:
    return Venue(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        time_zone=row["time_zone"],
        address=Address(
            street=row["street"],
            locality=row["locality"],
            region=row["region"],
            postal_code=row["postal_code"],
            country=row["country"],
        ),
        website=row["website"],
        hold_minutes=row["hold_minutes"],
        auditoriums=msgspec.convert(row["auditoriums"], list[AuditoriumSummary]),
    )


async def get_venue(conn: asyncpg.Connection, ref: str) -> Venue:
    """A venue by id or slug."""
    row = await conn.fetchrow(_VENUE + " WHERE v.id = $1 OR v.slug = $2", _is_uuid(ref), ref)
    if row is None:
        raise NotFound(f"no venue {ref!r}")
    return _venue(row)


async def list_venues(conn: asyncpg.Connection) -> list[Venue]:
    return [_venue(row) for row in await conn.fetch(_VENUE + " ORDER BY v.name, v.id")]


async def create_auditorium(conn: asyncpg.Connection, data: AuditoriumIn) -> Auditorium:
    rules.check_seat_map(data.seats)
    auditorium_id = uuid7()
    try:
        await conn.execute(
            """
            INSERT INTO auditorium (id, venue_id, slug, name, hearing_loop, cleaning_minutes)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            auditorium_id,
            data.venue_id,
            data.slug,
            data.name,
            data.hearing_loop,
            data.cleaning_minutes,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise InvalidInput("no such venue", field="venue_id", reason="unknown venue") from exc
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"this venue has an auditorium {data.slug!r}", field="slug") from exc
    await conn.copy_records_to_table(
        "seat",
        columns=[
            "id",
            "auditorium_id",
            "label",
            "row_label",
            "row_number",
            "position",
            "x",
            "y",
            "kind",
        ],
        records=[
            (
                uuid7(),
                auditorium_id,
                s.label,
                s.row_label,
                s.row_number,
                s.position,
                s.x,
                s.y,
                s.kind,
            )
            for s in data.seats
        ],
    )
    return await get_auditorium(conn, auditorium_id)


async def get_auditorium(conn: asyncpg.Connection, auditorium_id: UUID) -> Auditorium:
    row = await conn.fetchrow("SELECT * FROM auditorium WHERE id = $1", auditorium_id)
    if row is None:
        raise NotFound(f"no auditorium {auditorium_id}")
    seats = await conn.fetch(
        """
        SELECT id, label, row_label, row_number, position, x::float8 AS x, y::float8 AS y, kind
        FROM seat WHERE auditorium_id = $1 ORDER BY row_number, position
        """,
        auditorium_id,
    )
    return Auditorium(
        id=row["id"],
        venue_id=row["venue_id"],
        slug=row["slug"],
        name=row["name"],
        hearing_loop=row["hearing_loop"],
        cleaning_minutes=row["cleaning_minutes"],
        capacity=len(seats),
        seats=[Seat(**dict(seat)) for seat in seats],
    )


async def create_series(conn: asyncpg.Connection, data: SeriesIn) -> Series:
    try:
        await conn.execute(
            "INSERT INTO series (id, slug, title, description) VALUES ($1, $2, $3, $4)",
            uuid7(),
            data.slug,
            data.title,
            data.description,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a series with slug {data.slug!r} exists", field="slug") from exc
    return await get_series(conn, data.slug)


_SERIES = """
    SELECT se.id, se.slug, se.title, se.description,
           coalesce((
               SELECT jsonb_agg(jsonb_build_object(
                   'id', f.id, 'slug', f.slug, 'title', f.title, 'year', f.year,
                   'runtime_minutes', f.runtime_minutes, 'rating', f.rating,
                   'directors', f.directors, 'spoken_languages', f.spoken_languages)
                   ORDER BY f.title, f.id)
               FROM film f
               WHERE f.id IN (SELECT film_id FROM film_series WHERE series_id = se.id
                              UNION
                              SELECT s.film_id FROM screening s
                              JOIN screening_series ss ON ss.screening_id = s.id
                              WHERE ss.series_id = se.id)), '[]') AS films
    FROM series se
"""


def _series(row: asyncpg.Record) -> Series:
    return Series(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        description=row["description"],
        films=msgspec.convert(row["films"], list[FilmRef]),
    )


async def get_series(conn: asyncpg.Connection, slug: str) -> Series:
    row = await conn.fetchrow(_SERIES + " WHERE se.slug = $1", slug)
    if row is None:
        raise NotFound(f"no series {slug!r}")
    return _series(row)


async def list_series(conn: asyncpg.Connection) -> list[Series]:
    return [_series(row) for row in await conn.fetch(_SERIES + " ORDER BY se.title, se.id")]


async def series_ids_for(conn: asyncpg.Connection, slugs: list[str], field: str) -> list[UUID]:
    """The ids of the named series; an unknown slug is a 422 naming its place in the list."""
    rules.check_unique(slugs, field)
    rows = await conn.fetch("SELECT id, slug FROM series WHERE slug = ANY($1::text[])", slugs)
    found = {row["slug"]: row["id"] for row in rows}
    for index, slug in enumerate(slugs):
        if slug not in found:
            raise InvalidInput(
                f"no series {slug!r}", field=f"{field}[{index}]", reason="unknown series"
            )
    return [found[slug] for slug in slugs]
