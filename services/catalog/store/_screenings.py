"""Screenings: when and where a film plays, its languages, accessibility and prices."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.catalog import (
    AuditoriumRef,
    FilmRef,
    Price,
    Screening,
    ScreeningIn,
    ScreeningPatch,
    SeriesRef,
    Subtitles,
    VenueRef,
)
from services.box_office.store import SALE_STATUS_NOW
from services.catalog import rules
from services.catalog.store._films import film_id_for
from services.catalog.store._places import series_ids_for
from services.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, field_error
from services.pagination import MAX_LIMIT, decode_cursor, encode_cursor


class ScreeningFilter(msgspec.Struct, frozen=True):
    """The filters of GET /v1/screenings; dates are local to each screening's venue."""

    from_date: date | None = None
    to_date: date | None = None
    film: str | None = None
    series: str | None = None
    venue: str | None = None
    features: list[str] | None = None
    audio_language: str | None = None
    subtitle_language: str | None = None
    statuses: tuple[str, ...] | None = None  # any of these, as the response shows it


_SCREENING = f"""
    SELECT s.id, s.starts_at, s.ends_at, s.format, s.audio_languages, s.subtitle_language,
           s.subtitle_mode, s.features, s.currency, {SALE_STATUS_NOW} AS status, s.notes,
           s.version, s.on_sale_at,
           f.id AS film_id, f.slug AS film_slug, f.title AS film_title, f.year, f.runtime_minutes,
           f.rating, f.directors, f.spoken_languages,
           v.id AS venue_id, v.slug AS venue_slug, v.name AS venue_name, v.time_zone,
           a.id AS auditorium_id, a.slug AS auditorium_slug, a.name AS auditorium_name,
           a.hearing_loop,
           coalesce((SELECT jsonb_agg(jsonb_build_object('ticket_type', p.ticket_type,
                                                         'amount', p.amount)
                                      ORDER BY p.amount DESC, p.ticket_type)
                     FROM screening_price p WHERE p.screening_id = s.id), '[]') AS prices,
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', se.id, 'slug', se.slug,
                                                         'title', se.title) ORDER BY se.title)
                     FROM series se
                     WHERE se.id IN (SELECT series_id FROM screening_series
                                     WHERE screening_id = s.id
                                     UNION
                                     SELECT series_id FROM film_series
                                     WHERE film_id = s.film_id)), '[]') AS series
    FROM screening s
    JOIN film f ON f.id = s.film_id
    JOIN venue v ON v.id = s.venue_id
    JOIN auditorium a ON a.id = s.auditorium_id
"""


def _screening(row: asyncpg.Record) -> Screening:
    local_date, local_start = rules.local_view(row["starts_at"], row["time_zone"])
    subtitles = (
        Subtitles(language=row["subtitle_language"], mode=row["subtitle_mode"])
        if row["subtitle_language"]
        else None
    )
    return Screening(
        id=row["id"],
        film=FilmRef(
            id=row["film_id"],
            slug=row["film_slug"],
            title=row["film_title"],
            year=row["year"],
            runtime_minutes=row["runtime_minutes"],
            rating=row["rating"],
            directors=row["directors"],
            spoken_languages=row["spoken_languages"],
        ),
        venue=VenueRef(
            id=row["venue_id"],
            slug=row["venue_slug"],
            name=row["venue_name"],
            time_zone=row["time_zone"],
        ),
        auditorium=AuditoriumRef(
            id=row["auditorium_id"],
            slug=row["auditorium_slug"],
            name=row["auditorium_name"],
            hearing_loop=row["hearing_loop"],
        ),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        local_date=local_date,
        local_start=local_start,
        format=row["format"],
        audio_languages=row["audio_languages"],
        subtitles=subtitles,
        features=row["features"],
        currency=row["currency"],
        prices=msgspec.convert(row["prices"], list[Price]),
        status=row["status"],
        series=msgspec.convert(row["series"], list[SeriesRef]),
        notes=row["notes"],
        version=row["version"],
        on_sale_at=row["on_sale_at"],
    )


async def get_screening(conn: asyncpg.Connection, screening_id: UUID) -> Screening:
    row = await conn.fetchrow(_SCREENING + " WHERE s.id = $1", screening_id)
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    return _screening(row)


async def list_screenings(
    conn: asyncpg.Connection, where: ScreeningFilter, cursor: str | None, limit: int
) -> tuple[list[Screening], str | None]:
    """Screenings in start order (then id), a page at a time."""
    after = decode_cursor(cursor, (datetime, UUID))
    limit = max(1, min(limit, MAX_LIMIT))
    rows = await conn.fetch(
        _SCREENING
        + f"""
        WHERE ($1::date IS NULL OR (s.starts_at AT TIME ZONE v.time_zone)::date >= $1)
          AND ($2::date IS NULL OR (s.starts_at AT TIME ZONE v.time_zone)::date <= $2)
          AND ($3::text IS NULL OR f.slug = $3 OR f.id::text = $3)
          AND ($4::text IS NULL OR EXISTS (
                SELECT 1 FROM series se
                WHERE se.slug = $4 AND se.id IN (
                    SELECT series_id FROM screening_series WHERE screening_id = s.id
                    UNION SELECT series_id FROM film_series WHERE film_id = s.film_id)))
          AND ($5::text IS NULL OR v.slug = $5 OR v.id::text = $5)
          AND ($6::text[] IS NULL OR s.features @> $6::text[])
          AND ($7::text IS NULL OR $7 = ANY (s.audio_languages))
          AND ($8::text IS NULL OR s.subtitle_language = $8)
          AND ($9::text[] IS NULL OR ({SALE_STATUS_NOW}) = ANY ($9::text[]))
          AND ($10::timestamptz IS NULL OR (s.starts_at, s.id) > ($10, $11::uuid))
        ORDER BY s.starts_at, s.id
        LIMIT $12
        """,
        where.from_date,
        where.to_date,
        where.film,
        where.series,
        where.venue,
        where.features or None,
        where.audio_language,
        where.subtitle_language,
        list(where.statuses) if where.statuses else None,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    items = [_screening(row) for row in rows[:limit]]
    more = len(rows) > limit
    return items, encode_cursor(items[-1].starts_at, str(items[-1].id)) if more else None


async def _auditorium_facts(conn: asyncpg.Connection, auditorium_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT venue_id, hearing_loop, cleaning_minutes FROM auditorium WHERE id = $1",
        auditorium_id,
    )
    if row is None:
        raise InvalidInput("no such auditorium", field="auditorium_id", reason="unknown auditorium")
    return row


async def _set_prices(conn: asyncpg.Connection, screening_id: UUID, prices: list[Price]) -> None:
    rules.check_unique([p.ticket_type for p in prices], "prices")
    await conn.execute("DELETE FROM screening_price WHERE screening_id = $1", screening_id)
    await conn.executemany(
        "INSERT INTO screening_price (screening_id, ticket_type, amount) VALUES ($1, $2, $3)",
        [(screening_id, p.ticket_type, p.amount) for p in prices],
    )


async def _set_series(conn: asyncpg.Connection, screening_id: UUID, slugs: list[str]) -> None:
    series_ids = await series_ids_for(conn, slugs, "series")
    await conn.execute("DELETE FROM screening_series WHERE screening_id = $1", screening_id)
    await conn.executemany(
        "INSERT INTO screening_series (screening_id, series_id) VALUES ($1, $2)",
        [(screening_id, series_id) for series_id in series_ids],
    )


def _overlap(exc: Exception) -> Conflict:
    return Conflict(
        "the auditorium is taken then (another screening, with cleaning time, overlaps)",
        errors=[field_error("starts_at", "overlaps a screening")],
    )


async def create_screening(
    conn: asyncpg.Connection, screening_id: UUID, data: ScreeningIn
) -> tuple[Screening, UUID]:
    """Insert a screening; returns it and its venue id. PostgreSQL refuses an overlap."""
    film_id = await film_id_for(conn, data.film, field="film")
    runtime = await conn.fetchval("SELECT runtime_minutes FROM film WHERE id = $1", film_id)
    room = await _auditorium_facts(conn, data.auditorium_id)
    features = rules.check_features(list(data.features), data.subtitles, room["hearing_loop"])
    ends_at, occupied_until = rules.screening_span(
        data.starts_at, runtime, data.trailer_minutes, room["cleaning_minutes"]
    )
    try:
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO screening (id, film_id, auditorium_id, venue_id, starts_at, ends_at,
                                       occupied_until, format, audio_languages, subtitle_language,
                                       subtitle_mode, features, currency, status, notes,
                                       on_sale_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                """,
                screening_id,
                film_id,
                data.auditorium_id,
                room["venue_id"],
                data.starts_at,
                ends_at,
                occupied_until,
                data.format,
                data.audio_languages,
                data.subtitles.language if data.subtitles else None,
                data.subtitles.mode if data.subtitles else None,
                features,
                data.currency,
                data.status,
                data.notes,
                data.on_sale_at,
            )
    except asyncpg.ExclusionViolationError as exc:
        raise _overlap(exc) from exc
    await _set_prices(conn, screening_id, data.prices)
    await _set_series(conn, screening_id, data.series)
    return await get_screening(conn, screening_id), room["venue_id"]


async def _lock(
    conn: asyncpg.Connection, screening_id: UUID, expected: int | None
) -> asyncpg.Record:
    # NO KEY UPDATE: the id never changes, so rows that reference the screening (holds, seat
    # claims, bookings) may still be written meanwhile; FOR UPDATE would make their foreign-key
    # checks wait, and a cancellation waiting for those holds in turn would deadlock.
    row = await conn.fetchrow(
        """
        SELECT s.*, f.runtime_minutes, a.hearing_loop, a.cleaning_minutes
        FROM screening s JOIN film f ON f.id = s.film_id JOIN auditorium a ON a.id = s.auditorium_id
        WHERE s.id = $1 FOR NO KEY UPDATE OF s
        """,
        screening_id,
    )
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    if expected is not None and row["version"] != expected:
        raise PreconditionFailed(f"the screening is at version {row['version']}, not {expected}")
    if row["status"] == "cancelled":
        raise Conflict("the screening is cancelled")
    return row


async def update_screening(
    conn: asyncpg.Connection, screening_id: UUID, patch: ScreeningPatch, expected: int | None
) -> tuple[Screening, list[str], datetime, UUID]:
    """Apply a patch; returns the screening, what changed, the previous start and the venue."""
    row = await _lock(conn, screening_id, expected)
    changed = [f for f in patch.__struct_fields__ if getattr(patch, f) is not msgspec.UNSET]
    starts_at = row["starts_at"] if patch.starts_at is msgspec.UNSET else patch.starts_at
    trailers = 0 if patch.trailer_minutes is msgspec.UNSET else patch.trailer_minutes
    if patch.trailer_minutes is msgspec.UNSET:
        trailers = (
            int((row["ends_at"] - row["starts_at"]).total_seconds() // 60) - row["runtime_minutes"]
        )
    subtitles = (
        (
            Subtitles(row["subtitle_language"], row["subtitle_mode"])
            if row["subtitle_language"]
            else None
        )
        if patch.subtitles is msgspec.UNSET
        else patch.subtitles
    )
    features = rules.check_features(
        list(row["features"] if patch.features is msgspec.UNSET else patch.features),
        subtitles,
        row["hearing_loop"],
    )
    ends_at, occupied_until = rules.screening_span(
        starts_at, row["runtime_minutes"], trailers, row["cleaning_minutes"]
    )

    def pick(name: str) -> object:
        value = getattr(patch, name)
        return row[name] if value is msgspec.UNSET else value

    try:
        async with conn.transaction():
            await conn.execute(
                """
                UPDATE screening SET starts_at = $2, ends_at = $3, occupied_until = $4,
                    format = $5, audio_languages = $6, subtitle_language = $7, subtitle_mode = $8,
                    features = $9, status = $10, notes = $11, on_sale_at = $12,
                    version = version + 1, updated_at = now()
                WHERE id = $1
                """,
                screening_id,
                starts_at,
                ends_at,
                occupied_until,
                pick("format"),
                pick("audio_languages"),
                subtitles.language if subtitles else None,
                subtitles.mode if subtitles else None,
                features,
                pick("status"),
                pick("notes"),
                pick("on_sale_at"),
            )
    except asyncpg.ExclusionViolationError as exc:
        raise _overlap(exc) from exc
    if patch.prices is not msgspec.UNSET:
        await _set_prices(conn, screening_id, patch.prices)
    if patch.series is not msgspec.UNSET:
        await _set_series(conn, screening_id, patch.series)
    return await get_screening(conn, screening_id), changed, row["starts_at"], row["venue_id"]


async def cancel_screening(conn: asyncpg.Connection, screening_id: UUID) -> tuple[Screening, UUID]:
    row = await _lock(conn, screening_id, None)
    await conn.execute(
        "UPDATE screening SET status = 'cancelled', version = version + 1, updated_at = now()"
        " WHERE id = $1",
        screening_id,
    )
    return await get_screening(conn, screening_id), row["venue_id"]
