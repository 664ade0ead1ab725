"""Discount codes and their uses. A use belongs to a hold; it counts while that hold is live and
unexpired, or once a booking was made from it (booking.hold_id): a hold that ends without a
booking (released, expired, cancelled, past its expiry before any worker noticed) gives it
back without anyone writing anything."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from schemas.prices import DiscountCode, DiscountCodeIn
from services.errors import Conflict, InvalidInput, NotFound, field_error
from services.prices.rules import CodeFacts

_FACTS = ", ".join(CodeFacts.__struct_fields__)
# The uses that count, of discount_use `u` joined to its hold `h`, at time $now.
_COUNTS = """(EXISTS (SELECT 1 FROM booking b WHERE b.hold_id = u.hold_id)
              OR (h.status = 'live' AND h.expires_at > {now}))"""
_VIEW = f"""
    SELECT c.id, c.venue_id, c.code, c.kind, c.amount, c.film_id, c.series_id, c.screening_ids,
           c.valid_from, c.valid_until, c.max_uses, c.per_patron_limit, c.active, c.created_at,
           (SELECT count(*) FROM discount_use u JOIN hold h ON h.id = u.hold_id
            WHERE u.code_id = c.id AND {_COUNTS.format(now="$2")})::int AS uses
    FROM discount_code c
"""


async def create_code(
    conn: asyncpg.Connection,
    code_id: UUID,
    venue_id: UUID,
    code: str,
    data: DiscountCodeIn,
    now: datetime,
    by: UUID,
) -> None:
    try:
        await conn.execute(
            """
            INSERT INTO discount_code (id, venue_id, code, kind, amount, film_id, series_id,
                                       screening_ids, valid_from, valid_until, max_uses,
                                       per_patron_limit, created_at, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            """,
            code_id,
            venue_id,
            code,
            data.kind,
            data.amount,
            data.film_id,
            data.series_id,
            data.screening_ids,
            data.valid_from,
            data.valid_until,
            data.max_uses,
            data.per_patron_limit,
            now,
            by,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(
            f"this venue already has a code {code}",
            reason="code taken",
            errors=[field_error("code", "taken")],
        ) from exc
    except asyncpg.ForeignKeyViolationError as exc:
        constraint = exc.constraint_name or ""
        for field in ("film_id", "series_id"):
            if field in constraint:
                raise InvalidInput(f"no such {field[:-3]}", field=field, reason="unknown") from exc
        raise NotFound(f"no venue {venue_id}") from exc


async def get_code(
    conn: asyncpg.Connection, venue_id: UUID, code_id: UUID, now: datetime
) -> DiscountCode:
    row = await conn.fetchrow(
        _VIEW + " WHERE c.venue_id = $1 AND c.id = $3", venue_id, now, code_id
    )
    if row is None:
        raise NotFound(f"no discount code {code_id} at venue {venue_id}")
    return DiscountCode(**dict(row))


async def list_codes(conn: asyncpg.Connection, venue_id: UUID, now: datetime) -> list[DiscountCode]:
    rows = await conn.fetch(_VIEW + " WHERE c.venue_id = $1 ORDER BY c.code", venue_id, now)
    return [DiscountCode(**dict(row)) for row in rows]


async def set_code_active(
    conn: asyncpg.Connection, venue_id: UUID, code_id: UUID, active: bool
) -> bool:
    """Set `active`; True when that changed it (the row is locked, as taking a use locks it)."""
    before = await conn.fetchval(
        "SELECT active FROM discount_code WHERE id = $1 AND venue_id = $2 FOR UPDATE",
        code_id,
        venue_id,
    )
    if before is None:
        raise NotFound(f"no discount code {code_id} at venue {venue_id}")
    if before == active:
        return False
    await conn.execute("UPDATE discount_code SET active = $2 WHERE id = $1", code_id, active)
    return True


async def lock_code(conn: asyncpg.Connection, venue_id: UUID, code: str) -> CodeFacts | None:
    """The code (upper-case) of the venue, its row locked until the transaction ends: whoever
    takes a use holds this lock while counting, so the counts it reads stay true."""
    row = await conn.fetchrow(
        f"SELECT {_FACTS} FROM discount_code WHERE venue_id = $1 AND code = $2 FOR UPDATE",
        venue_id,
        code,
    )
    return None if row is None else CodeFacts(**dict(row))


async def use_of_hold(conn: asyncpg.Connection, hold_id: UUID) -> UUID | None:
    """The code whose use this hold took, if any."""
    code_id: UUID | None = await conn.fetchval(
        "SELECT code_id FROM discount_use WHERE hold_id = $1", hold_id
    )
    return code_id


async def count_uses(
    conn: asyncpg.Connection, code_id: UUID, hold_id: UUID, patron_email: str, now: datetime
) -> tuple[int, int]:
    """The uses that count of other holds than `hold_id`: all, and `patron_email`'s. Read with
    the code's row locked (lock_code)."""
    row = await conn.fetchrow(
        f"""
        SELECT count(*)::int AS uses,
               (count(*) FILTER (WHERE u.patron_email = $3))::int AS patron_uses
        FROM discount_use u JOIN hold h ON h.id = u.hold_id
        WHERE u.code_id = $1 AND u.hold_id <> $2 AND {_COUNTS.format(now="$4")}
        """,
        code_id,
        hold_id,
        patron_email,
        now,
    )
    assert row is not None
    return row["uses"], row["patron_uses"]


async def take_use(
    conn: asyncpg.Connection, code_id: UUID, hold_id: UUID, patron_email: str, now: datetime
) -> None:
    """The hold's use of the code (one code per hold: another code's use is replaced)."""
    await conn.execute(
        """
        INSERT INTO discount_use (code_id, hold_id, patron_email, used_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (hold_id) DO UPDATE
            SET code_id = excluded.code_id, patron_email = excluded.patron_email,
                used_at = excluded.used_at
        """,
        code_id,
        hold_id,
        patron_email,
        now,
    )


async def drop_use(conn: asyncpg.Connection, hold_id: UUID) -> None:
    """The hold no longer uses a code (it is priced without one)."""
    await conn.execute("DELETE FROM discount_use WHERE hold_id = $1", hold_id)
