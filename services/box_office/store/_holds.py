"""Holds: their rows, the locks a new hold takes, and their endings (release, expiry, sweep)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from schemas.box_office import HoldStatus
from services.box_office.store._claims import drop_hold_claims
from services.errors import NotFound

# Advisory lock namespaces (the two-int key space; the migration runner uses the bigint one).
# box_office_claim (migrations 014, 023) takes them under the same numbers.
SALES_LOCK = 4  # per screening: shared by anything that adds claims, exclusive for its cancel
CLIENT_LOCK = 5  # per box-office client: one new hold at a time, to count its live holds
# 8 (only in SQL, migration 029): per screening and party size, one best-available choice at a
# time.


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


_hold_minutes: dict[UUID, int] = {}  # per venue: what hold_minutes_of last read


async def hold_minutes_of(conn: asyncpg.Connection, venue_id: UUID, *, fresh: bool = True) -> int:
    """The venue's hold time; `fresh=False` may answer what this process read last (claim
    checks it in the same statement as it writes, so a stale one is never used)."""
    minutes = None if fresh else _hold_minutes.get(venue_id)
    if minutes is None:
        minutes = await conn.fetchval("SELECT hold_minutes FROM venue WHERE id = $1", venue_id)
        if minutes is None:
            raise NotFound(f"no venue {venue_id}")
        _hold_minutes[venue_id] = minutes
    return minutes


class ClaimIn(msgspec.Struct, frozen=True, kw_only=True):
    """What box_office_claim (migrations 014, 023) is asked: `kind` is 'hold' (a new hold: its
    row and SeatsHeld are written too), 'add' (seats added to a live hold) or 'block' (staff).
    Explicit `seat_ids` (in the order asked), or best available: `count` seats (`together`
    only seats side by side)."""

    kind: str
    screening_id: UUID
    now: datetime
    hold_id: UUID | None = None
    client_id: str | None = None
    seat_ids: list[UUID] | None = None
    count: int | None = None
    wheelchair_spaces: int = 0
    together: bool = False
    expires_at: datetime | None = None
    note: str | None = None
    released: int = 0
    max_live_holds: int = 0
    max_held_seats: int = 0
    token_hash: bytes | None = None
    latest_expiry: datetime | None = None
    hold_minutes: int | None = None
    event_row: tuple[object, ...] = (None, None, None, None, None, None)
    idempotency_key: str | None = None
    request_hash: bytes | None = None


class Claimed(msgspec.Struct, frozen=True):
    """What box_office_claim answered: `outcome` is 'held', 'added' or 'blocked' (with the seats
    and, for best available, `how` they were chosen; `settled` when the screening's sale status
    is right as it stands, no need to look again), 'seats taken' (`taken` lists them), a seat
    the hold may not have ('wheelchair space' or 'companion seat': `refused_seat`), or the
    reason it refused ('no screening', 'screening cancelled', 'not on sale', 'sales closed',
    'hold time changed', 'too many holds', 'too many seats', 'not enough seats', 'no seats
    together'), with the facts it read; or 'replayed': `replay_of` is the hold an earlier
    request with the same Idempotency-Key made, `replay_hash` that request's digest."""

    outcome: str
    seat_ids: list[UUID] | None = None
    how: str | None = None
    sale_status: str | None = None
    starts_at: datetime | None = None
    on_sale_at: datetime | None = None
    live_holds: int | None = None
    held_seats: int | None = None
    replay_of: UUID | None = None
    replay_hash: bytes | None = None
    refused_seat: UUID | None = None
    settled: bool | None = None
    taken: list[UUID] = []


SEAT_KINDS = ("wheelchair space", "companion seat")  # box_office_seat_kinds' reasons
SEATS_TAKEN = "UH409"  # box_office_claim: explicit seats taken, the seat ids in DETAIL
SEATS_BEING_TAKEN = "UH503"  # box_office_claim: only seats other requests are taking are left
DEADLOCK = "40P01"
_CLAIM = f"SELECT * FROM box_office_claim({', '.join(f'${n}' for n in range(1, 26))})"
_ATTEMPTS = 8


async def claim(conn: asyncpg.Connection, request: ClaimIn) -> Claimed:
    """Claim seats with every rule a claim obeys, in one statement (box_office_claim); a refusal
    writes nothing. Outside a transaction (as the API makes a hold) the statement is its own;
    inside one, a savepoint is taken for it. When best available finds only seats that other
    requests are taking, it asks again and waits for their fate (never a refusal for that)."""
    event_id, event_type, aggregate_type, aggregate_id, _, payload = request.event_row
    wait = False
    for attempt in range(_ATTEMPTS):
        args = (
            request.kind,
            request.screening_id,
            request.hold_id,
            request.client_id,
            request.seat_ids,
            request.count,
            request.wheelchair_spaces,
            request.together,
            wait,
            request.now,
            request.expires_at,
            request.note,
            request.released,
            request.max_live_holds,
            request.max_held_seats,
            request.token_hash,
            request.latest_expiry,
            request.hold_minutes,
            event_id,
            event_type,
            aggregate_type,
            aggregate_id,
            payload,
            request.idempotency_key,
            request.request_hash,
        )
        try:
            if conn.is_in_transaction():  # a caller's transaction: a savepoint undoes a refusal
                async with conn.transaction():
                    row = await conn.fetchrow(_CLAIM, *args)
            else:
                row = await conn.fetchrow(_CLAIM, *args)
        except asyncpg.PostgresError as error:
            if error.sqlstate == SEATS_TAKEN:
                detail: str = error.detail or ""
                return Claimed("seats taken", taken=[UUID(seat) for seat in detail.split()])
            if error.sqlstate in (SEATS_BEING_TAKEN, DEADLOCK) and attempt < _ATTEMPTS - 1:
                wait = True
                continue
            raise
        assert row is not None
        return Claimed(**dict(row))
    raise AssertionError("unreachable")


async def seat_kinds_refusal(
    conn: asyncpg.Connection, seat_ids: list[UUID], wheelchair_spaces: int
) -> tuple[UUID, str] | None:
    """The first of a hold's seats (in the order given) a party declaring `wheelchair_spaces`
    may not have, and why (box_office_seat_kinds, the rule's one home, which box_office_claim
    runs itself); None when it may have them all."""
    row = await conn.fetchrow(
        "SELECT seat_id, reason FROM box_office_seat_kinds($1, $2)", seat_ids, wheelchair_spaces
    )
    if row is None or row["seat_id"] is None:
        return None
    return row["seat_id"], row["reason"]


async def get_hold(conn: asyncpg.Connection, hold_id: UUID, *, lock: bool = False) -> HoldRow:
    """The hold; `lock` takes its row for the rest of the transaction."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM hold WHERE id = $1{' FOR UPDATE' if lock else ''}", hold_id
    )
    if row is None:
        raise NotFound(f"no hold {hold_id}")
    return _hold(row)


async def move_hold_clock(
    conn: asyncpg.Connection, hold_id: UUID, now: datetime, expires_at: datetime
) -> int:
    """Set a live hold's expiry (its latest expiry raised to it when needed) and its claims',
    for a checkout (services/money) stopping or restarting its clock; returns how many claims
    it had that were still live at `now` (all of them, or the caller gives up)."""
    await conn.execute(
        """
        UPDATE hold SET expires_at = $2, latest_expiry = greatest(latest_expiry, $2),
                        version = version + 1
        WHERE id = $1
        """,
        hold_id,
        expires_at,
    )
    result: str = await conn.execute(
        """
        UPDATE seat_claim c SET expires_at = $3
        FROM (SELECT screening_id, seat_id FROM seat_claim
              WHERE hold_id = $1 AND kind = 'hold' AND expires_at > $2
              ORDER BY screening_id, seat_id FOR UPDATE) AS locked
        WHERE c.screening_id = locked.screening_id AND c.seat_id = locked.seat_id
          AND c.hold_id = $1 AND c.kind = 'hold'
        """,
        hold_id,
        now,
        expires_at,
    )
    return int(result.split()[-1])


async def in_checkout(conn: asyncpg.Connection, hold_id: UUID) -> bool:
    """Whether the hold's patron is paying (an open checkout, services/money): its clock is
    stopped, and it is not changed, extended or confirmed meanwhile."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM checkout WHERE hold_id = $1 AND status = 'open')", hold_id
    )
    return found


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
