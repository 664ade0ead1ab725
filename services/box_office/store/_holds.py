"""Holds: their rows, the locks a new hold takes, and their endings (release, expiry, sweep)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import HoldStatus, SaleStatus
from services.box_office.store._claims import CLAIM_FOR_HOLD, drop_hold_claims
from services.errors import NotFound

# Advisory lock namespaces (the two-int key space; the migration runner uses the bigint one).
SALES_LOCK = 4  # per screening: shared by anything that adds claims, exclusive for its cancel
CLIENT_LOCK = 5  # per box-office client: one new hold at a time, to count its live holds


class HoldRow(msgspec.Struct, frozen=True):
    id: UUID
    screening_id: UUID
    venue_id: UUID
    token_hash: bytes
    client_id: str
    status: HoldStatus
    seat_ids: list[UUID]
    wheelchair_spaces: int
    created_at: datetime
    expires_at: datetime
    latest_expiry: datetime
    extensions: int
    version: int
    ended_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.status == "live" and self.expires_at > now


_COLUMNS = ", ".join(HoldRow.__struct_fields__)


def _hold(row: asyncpg.Record) -> HoldRow:
    return HoldRow(**dict(row))


async def lock_for_new_hold(
    conn: asyncpg.Connection, screening_id: UUID, client_id: str
) -> tuple[datetime, int]:
    """Take the screening's sales lock (shared: holds never wait for each other here, only for
    the screening's cancellation) and the client's lock (one new hold per client at a time);
    return the screening's start and hold time. Its status is read by the next statement, after
    the locks (this one's snapshot is older than them)."""
    row = await conn.fetchrow(
        """
        SELECT pg_advisory_xact_lock_shared($2, hashtext(s.id::text)),
               pg_advisory_xact_lock($3, hashtext($4)), s.starts_at, v.hold_minutes
        FROM screening s JOIN venue v ON v.id = s.venue_id WHERE s.id = $1
        """,
        screening_id,
        SALES_LOCK,
        CLIENT_LOCK,
        client_id,
    )
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    return row["starts_at"], row["hold_minutes"]


async def lock_sales(conn: asyncpg.Connection, screening_id: UUID, *, exclusive: bool) -> None:
    """The screening's sales lock: shared for staff blocks, exclusive for its cancellation, which
    so waits for holds being made and sees them all."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(f"SELECT {function}($1, hashtext($2))", SALES_LOCK, str(screening_id))


async def sale_facts(conn: asyncpg.Connection, screening_id: UUID) -> tuple[SaleStatus, datetime]:
    """The screening's stored status and start."""
    row = await conn.fetchrow("SELECT status, starts_at FROM screening WHERE id = $1", screening_id)
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    return row["status"], row["starts_at"]


async def hold_minutes_of(conn: asyncpg.Connection, venue_id: UUID) -> int:
    minutes: int = await conn.fetchval("SELECT hold_minutes FROM venue WHERE id = $1", venue_id)
    return minutes


async def insert_hold_and_claim(
    conn: asyncpg.Connection, hold: HoldRow, max_live_holds: int
) -> tuple[SaleStatus, int, set[UUID]]:
    """In one statement: read the screening's status and the client's live holds, and if the
    screening is on sale and the client under its limit, insert the hold and claim its seats.
    Returns (status, live holds, seats claimed): seats not claimed are taken or held by a dead
    hold (see take_over_dead_claims)."""
    row = await conn.fetchrow(
        f"""
        WITH now_ AS (
            SELECT s.status,
                   (SELECT count(*) FROM hold h WHERE h.client_id = $5 AND h.status = 'live'
                                                  AND h.expires_at > $8) AS live
            FROM screening s WHERE s.id = $2
        ), new_hold AS (
            INSERT INTO hold (id, screening_id, venue_id, token_hash, client_id, seat_ids,
                              wheelchair_spaces, created_at, expires_at, latest_expiry)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM now_
            WHERE now_.status IN ('on_sale', 'sold_out') AND now_.live < $11
            RETURNING id
        ), claimed AS ({CLAIM_FOR_HOLD})
        SELECT now_.status, now_.live, ARRAY(SELECT seat_id FROM claimed) AS claimed FROM now_
        """,
        hold.id,
        hold.screening_id,
        hold.venue_id,
        hold.token_hash,
        hold.client_id,
        hold.seat_ids,
        hold.wheelchair_spaces,
        hold.created_at,
        hold.expires_at,
        hold.latest_expiry,
        max_live_holds,
    )
    if row is None:
        raise NotFound(f"no screening {hold.screening_id}")
    return row["status"], row["live"], set(row["claimed"])


async def get_hold(conn: asyncpg.Connection, hold_id: UUID, *, lock: bool = False) -> HoldRow:
    """The hold; `lock` takes its row for the rest of the transaction."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM hold WHERE id = $1{' FOR UPDATE' if lock else ''}", hold_id
    )
    if row is None:
        raise NotFound(f"no hold {hold_id}")
    return _hold(row)


async def update_hold(
    conn: asyncpg.Connection,
    hold_id: UUID,
    *,
    seat_ids: list[UUID] | None = None,
    expires_at: datetime | None = None,
    extensions: int | None = None,
    status: HoldStatus | None = None,
    ended_at: datetime | None = None,
) -> HoldRow:
    row = await conn.fetchrow(
        f"""
        UPDATE hold SET seat_ids = coalesce($2, seat_ids), expires_at = coalesce($3, expires_at),
                        extensions = coalesce($4, extensions), status = coalesce($5, status),
                        ended_at = coalesce($6, ended_at), version = version + 1
        WHERE id = $1 RETURNING {_COLUMNS}
        """,
        hold_id,
        seat_ids,
        expires_at,
        extensions,
        status,
        ended_at,
    )
    assert row is not None
    return _hold(row)


async def end_holds(
    conn: asyncpg.Connection,
    now: datetime,
    status: HoldStatus,
    *,
    hold_ids: list[UUID] | None = None,
    screening_id: UUID | None = None,
    expired: bool | None = None,
    limit: int = 1000,
    skip_locked: bool = False,
) -> list[HoldRow]:
    """End live holds (of these ids, or of this screening, or any), now: `expired` True picks
    those past expires_at, False those not yet, None both. Each hold ends once whatever runs at
    the same time (the row lock and `status = 'live'` decide), and its claims are deleted."""
    rows = await conn.fetch(
        f"""
        UPDATE hold h SET status = $1, ended_at = $2, version = h.version + 1
        FROM (SELECT id FROM hold
              WHERE status = 'live'
                AND ($3::uuid[] IS NULL OR id = ANY($3::uuid[]))
                AND ($4::uuid IS NULL OR screening_id = $4)
                AND ($5::boolean IS NULL OR (expires_at <= $2) = $5)
              ORDER BY id LIMIT $6
              FOR UPDATE{" SKIP LOCKED" if skip_locked else ""}) AS due
        WHERE h.id = due.id AND h.status = 'live'
          AND ($5::boolean IS NULL OR (h.expires_at <= $2) = $5)
        RETURNING {", ".join("h." + c for c in HoldRow.__struct_fields__)}
        """,
        status,
        now,
        hold_ids,
        screening_id,
        expired,
        limit,
    )
    ended = [_hold(row) for row in rows]
    if ended:
        await drop_hold_claims(conn, [hold.id for hold in ended])
    return ended
