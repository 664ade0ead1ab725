"""Holds: their rows, the locks a new hold takes, and their endings (release, expiry, sweep)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import HoldStatus, SaleStatus
from services.box_office.store._claims import drop_hold_claims
from services.errors import NotFound

# Advisory lock namespaces (the two-int key space; the migration runner uses the bigint one).
# box_office_make_hold (migration 007) takes both, under the same numbers.
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


_hold_minutes: dict[UUID, int] = {}  # per venue: what hold_minutes_of last read


async def hold_minutes_of(conn: asyncpg.Connection, venue_id: UUID, *, fresh: bool = True) -> int:
    """The venue's hold time; `fresh=False` may answer what this process read last (make_hold
    checks it in the same statement as it writes, so a stale one is never used)."""
    minutes = None if fresh else _hold_minutes.get(venue_id)
    if minutes is None:
        minutes = await conn.fetchval("SELECT hold_minutes FROM venue WHERE id = $1", venue_id)
        if minutes is None:
            raise NotFound(f"no venue {venue_id}")
        _hold_minutes[venue_id] = minutes
    return minutes


class NewHold(msgspec.Struct, frozen=True):
    """What box_office_make_hold answered: `outcome` is 'held', 'no screening', 'not sellable',
    'hold time changed', 'too many holds' or 'seats taken' (then `taken` lists those seats).
    The screening's facts are set from 'not sellable' on, the live holds from 'too many holds'."""

    outcome: str
    sale_status: SaleStatus | None = None
    starts_at: datetime | None = None
    hold_minutes: int | None = None
    live_holds: int | None = None
    taken: list[UUID] = []


SEATS_TAKEN = "UH409"  # the SQLSTATE box_office_make_hold raises, with the seats in DETAIL
_MAKE_HOLD = f"SELECT * FROM box_office_make_hold({', '.join(f'${n}' for n in range(1, 19))})"


async def make_hold(
    conn: asyncpg.Connection,
    hold: HoldRow,
    hold_minutes: int,
    max_live_holds: int,
    event_row: tuple[object, ...],
) -> NewHold:
    """Lock, check, insert the hold, claim its seats and record its event, all or nothing, in
    one statement (migration 007_hold_in_one_call.sql, which takes SALES_LOCK shared and
    CLIENT_LOCK). `hold_minutes` is the venue's hold time hold.expires_at was computed from;
    if it changed meanwhile, nothing is written and the answer says so. A refusal after a write
    is an error, which rolls the statement back (outside a transaction, as the API calls it;
    inside one, to a savepoint taken for it)."""
    args = (
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
        hold_minutes,
        max_live_holds,
        *event_row,
    )
    try:
        if conn.is_in_transaction():  # a caller's transaction: a savepoint undoes a refusal
            async with conn.transaction():
                row = await conn.fetchrow(_MAKE_HOLD, *args)
        else:
            row = await conn.fetchrow(_MAKE_HOLD, *args)
    except asyncpg.PostgresError as error:
        if error.sqlstate != SEATS_TAKEN:
            raise
        detail: str = error.detail or ""
        return NewHold("seats taken", taken=[UUID(seat) for seat in detail.split()])
    assert row is not None
    return NewHold(**dict(row))


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
