"""Films, their relations to other films, and the series they belong to."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.catalog import Film, FilmIn, FilmPatch, PressQuote, RelatedFilm, SeriesRef
from services.catalog.store._places import _is_uuid, series_ids_for
from services.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from services.pagination import MAX_LIMIT, decode_cursor, encode_cursor

_FILM = """
    SELECT f.*,
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'slug', s.slug,
                                                         'title', s.title) ORDER BY s.title)
                     FROM series s JOIN film_series fs ON fs.series_id = s.id
                     WHERE fs.film_id = f.id), '[]') AS series,
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', o.id, 'slug', o.slug,
                                                         'title', o.title, 'year', o.year,
                                                         'kind', r.kind) ORDER BY o.year, o.title)
                     FROM film_relation r JOIN film o ON o.id = r.related_film_id
                     WHERE r.film_id = f.id), '[]') AS related
    FROM film f
"""


def _film(row: asyncpg.Record) -> Film:
    return Film(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        original_title=row["original_title"],
        directors=row["directors"],
        countries=row["countries"],
        year=row["year"],
        runtime_minutes=row["runtime_minutes"],
        rating=row["rating"],
        synopsis=row["synopsis"],
        spoken_languages=row["spoken_languages"],
        press_quotes=msgspec.convert(row["press_quotes"], list[PressQuote]),
        website=row["website"],
        series=msgspec.convert(row["series"], list[SeriesRef]),
        related=msgspec.convert(row["related"], list[RelatedFilm]),
        version=row["version"],
    )


async def film_id_for(conn: asyncpg.Connection, ref: str, field: str | None = None) -> UUID:
    """The id of the film named by id or slug: 404, or with `field` a 422 naming that field."""
    film_id: UUID | None = await conn.fetchval(
        "SELECT id FROM film WHERE id = $1 OR slug = $2", _is_uuid(ref), ref
    )
    if film_id is None:
        if field is not None:
            raise InvalidInput(f"no film {ref!r}", field=field, reason="unknown film")
        raise NotFound(f"no film {ref!r}")
    return film_id


async def get_film(conn: asyncpg.Connection, ref: str) -> Film:
    row = await conn.fetchrow(_FILM + " WHERE f.id = $1 OR f.slug = $2", _is_uuid(ref), ref)
    if row is None:
        raise NotFound(f"no film {ref!r}")
    return _film(row)


async def list_films(
    conn: asyncpg.Connection, *, series: str | None, cursor: str | None, limit: int
) -> tuple[list[Film], str | None]:
    """Films by title (then id), a page at a time."""
    after = decode_cursor(cursor, (str, UUID))
    limit = max(1, min(limit, MAX_LIMIT))
    rows = await conn.fetch(
        _FILM
        + """
        WHERE ($1::text IS NULL OR EXISTS (
                  SELECT 1 FROM film_series fs JOIN series s ON s.id = fs.series_id
                  WHERE fs.film_id = f.id AND s.slug = $1))
          AND ($2::text IS NULL OR (f.title, f.id) > ($2, $3::uuid))
        ORDER BY f.title, f.id
        LIMIT $4
        """,
        series,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    films = [_film(row) for row in rows[:limit]]
    more = len(rows) > limit
    return films, encode_cursor(films[-1].title, str(films[-1].id)) if more else None


async def _set_relations(conn: asyncpg.Connection, film_id: UUID, data: FilmIn) -> None:
    for index, related in enumerate(data.related):
        other = await film_id_for(conn, related.film, field=f"related[{index}].film")
        if other == film_id:
            raise InvalidInput(
                "a film cannot relate to itself", field=f"related[{index}].film", reason="self"
            )
        await conn.execute(
            "INSERT INTO film_relation (film_id, related_film_id, kind) VALUES ($1, $2, $3)"
            " ON CONFLICT (film_id, related_film_id) DO UPDATE SET kind = excluded.kind",
            film_id,
            other,
            related.kind,
        )


async def _set_series(conn: asyncpg.Connection, film_id: UUID, slugs: list[str]) -> None:
    series_ids = await series_ids_for(conn, slugs, "series")
    await conn.execute("DELETE FROM film_series WHERE film_id = $1", film_id)
    await conn.executemany(
        "INSERT INTO film_series (film_id, series_id) VALUES ($1, $2)",
        [(film_id, series_id) for series_id in series_ids],
    )


async def create_film(conn: asyncpg.Connection, film_id: UUID, data: FilmIn) -> Film:
    try:
        await conn.execute(
            """
            INSERT INTO film (id, slug, title, original_title, directors, countries, year,
                              runtime_minutes, rating, synopsis, spoken_languages, press_quotes,
                              website)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            """,
            film_id,
            data.slug,
            data.title,
            data.original_title,
            data.directors,
            data.countries,
            data.year,
            data.runtime_minutes,
            data.rating,
            data.synopsis,
            data.spoken_languages,
            msgspec.to_builtins(data.press_quotes),
            data.website,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a film with slug {data.slug!r} exists", field="slug") from exc
    await _set_series(conn, film_id, data.series)
    await _set_relations(conn, film_id, data)
    return await get_film(conn, str(film_id))


_PATCHABLE = (
    "title",
    "runtime_minutes",
    "original_title",
    "directors",
    "countries",
    "year",
    "rating",
    "synopsis",
    "spoken_languages",
    "press_quotes",
    "website",
)


async def update_film(
    conn: asyncpg.Connection,
    ref: str,
    patch: FilmPatch,
    expected_version: int | None,
    now: datetime,
) -> tuple[Film, list[str]]:
    """Apply the fields present in `patch`; returns the film and the names that changed."""
    film_id = await film_id_for(conn, ref)
    version = await conn.fetchval("SELECT version FROM film WHERE id = $1 FOR UPDATE", film_id)
    if expected_version is not None and version != expected_version:
        raise PreconditionFailed(f"the film is at version {version}, not {expected_version}")
    changed = [name for name in _PATCHABLE if getattr(patch, name) is not msgspec.UNSET]
    if changed:
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changed, start=3))
        values = [
            msgspec.to_builtins(getattr(patch, name))
            if name == "press_quotes"
            else getattr(patch, name)
            for name in changed
        ]
        await conn.execute(
            f"UPDATE film SET {assignments}, version = version + 1, updated_at = $2 WHERE id = $1",
            film_id,
            now,
            *values,
        )
    if patch.series is not msgspec.UNSET:
        await _set_series(conn, film_id, patch.series)
        changed.append("series")
        if len(changed) == 1:
            await conn.execute("UPDATE film SET version = version + 1 WHERE id = $1", film_id)
    return await get_film(conn, str(film_id)), changed
