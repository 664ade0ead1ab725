"""Units: the venue's inventory, their states and tuning, and which are free for a loan span."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.access import Device
from services.access.rules import OUT_OF_SERVICE, Span, unit_order
from services.errors import Conflict, InvalidInput, NotFound

_COLUMNS = "id, venue_id, asset_tag, kind, state, auditorium_id, note, version"
# A reservation in one of these statuses holds its unit for its span (device_never_lent_twice).
HOLDING = "('reserved', 'checked_out', 'returned')"


def _device(row: asyncpg.Record) -> Device:
    return Device(**dict(row))


def span_value(span: Span) -> asyncpg.Range[datetime]:
    return asyncpg.Range(span.start, span.end)


async def insert_device(
    conn: asyncpg.Connection,
    device_id: UUID,
    venue_id: UUID,
    asset_tag: str,
    kind: str,
    auditorium_id: UUID | None,
    note: str,
    now: datetime,
) -> Device:
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO device (id, venue_id, asset_tag, kind, auditorium_id, note, created_at,
                                updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {_COLUMNS}
            """,
            device_id,
            venue_id,
            asset_tag,
            kind,
            auditorium_id,
            note,
            now,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(
            f"this venue already has a unit tagged {asset_tag}", field="asset_tag"
        ) from exc
    except asyncpg.ForeignKeyViolationError as exc:
        if "auditorium" in str(exc.constraint_name or exc):
            raise _no_auditorium() from exc
        raise NotFound(f"no venue {venue_id}") from exc
    assert row is not None
    return _device(row)


def _no_auditorium() -> InvalidInput:
    return InvalidInput(
        "no such auditorium in this venue", field="auditorium_id", reason="unknown auditorium"
    )


async def get_device(
    conn: asyncpg.Connection, venue_id: UUID, asset_tag: str, *, lock: bool = False
) -> Device:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM device WHERE venue_id = $1 AND asset_tag = $2"
        + (" FOR UPDATE" if lock else ""),
        venue_id,
        asset_tag,
    )
    if row is None:
        raise NotFound(f"no unit tagged {asset_tag} in this venue")
    return _device(row)


async def list_devices(conn: asyncpg.Connection, venue_id: UUID) -> list[Device]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM device WHERE venue_id = $1 ORDER BY kind, asset_tag", venue_id
    )
    return [_device(row) for row in rows]


async def update_device(
    conn: asyncpg.Connection,
    device_id: UUID,
    now: datetime,
    *,
    state: str | None = None,
    auditorium_id: UUID | msgspec.UnsetType | None = msgspec.UNSET,
    note: str | None = None,
) -> Device:
    retune = auditorium_id is not msgspec.UNSET
    try:
        row = await conn.fetchrow(
            f"""
            UPDATE device SET state = coalesce($2, state),
                              auditorium_id = CASE WHEN $3 THEN $4::uuid ELSE auditorium_id END,
                              note = coalesce($5, note), updated_at = $6, version = version + 1
            WHERE id = $1 RETURNING {_COLUMNS}
            """,
            device_id,
            state,
            retune,
            auditorium_id if retune else None,
            note,
            now,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise _no_auditorium() from exc
    assert row is not None
    return _device(row)


async def in_service(
    conn: asyncpg.Connection, venue_id: UUID, auditorium_id: UUID | None = None
) -> dict[str, int]:
    """Units of each kind neither needing repair nor retired; with `auditorium_id`, only those
    that work there (tuned to it, or to no auditorium in particular)."""
    rows = await conn.fetch(
        """
        SELECT kind, count(*) AS units FROM device
        WHERE venue_id = $1 AND state <> ALL($2::text[])
          AND ($3::uuid IS NULL OR auditorium_id IS NULL OR auditorium_id = $3)
        GROUP BY kind
        """,
        venue_id,
        list(OUT_OF_SERVICE),
        auditorium_id,
    )
    return {row["kind"]: row["units"] for row in rows}


_FREE = f"""
    FROM device d
    WHERE d.venue_id = $1 AND d.kind = $2 AND d.state <> ALL($4::text[])
      AND NOT EXISTS (
          SELECT 1 FROM device_reservation r
          WHERE r.device_id = d.id AND r.status IN {HOLDING} AND r.span && $3
            AND r.id IS DISTINCT FROM $5)
"""


async def free_units(
    conn: asyncpg.Connection,
    venue_id: UUID,
    kind: str,
    span: Span,
    auditorium_id: UUID,
    *,
    ignoring: UUID | None = None,
    besides: tuple[UUID, ...] = (),
) -> list[UUID]:
    """Units of `kind` in service and free for the whole span (not counting the reservation
    `ignoring`, nor the units `besides`), the best first for a screening in `auditorium_id`."""
    rows = await conn.fetch(
        f"SELECT d.id, d.auditorium_id, d.asset_tag {_FREE}",
        venue_id,
        kind,
        span_value(span),
        list(OUT_OF_SERVICE),
        ignoring,
    )
    rows = [row for row in rows if row["id"] not in besides]
    rows.sort(key=lambda row: (unit_order(row["auditorium_id"], auditorium_id), row["asset_tag"]))
    return [row["id"] for row in rows]


async def count_free_units(conn: asyncpg.Connection, venue_id: UUID, kind: str, span: Span) -> int:
    count: int = await conn.fetchval(
        f"SELECT count(*) {_FREE}", venue_id, kind, span_value(span), list(OUT_OF_SERVICE), None
    )
    return count
