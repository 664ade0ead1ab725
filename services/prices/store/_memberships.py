"""The venue's membership list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from schemas.prices import Membership, MembershipIn
from services.errors import Conflict, NotFound, field_error
from services.prices.rules import MemberFacts

_COLUMNS = "id, venue_id, number, name, email, valid_from, expires_on, active, created_at"


async def create_membership(
    conn: asyncpg.Connection, membership_id: UUID, venue_id: UUID, data: MembershipIn, now: datetime
) -> Membership:
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO membership (id, venue_id, number, name, email, valid_from, expires_on,
                                    created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            RETURNING {_COLUMNS}
            """,
            membership_id,
            venue_id,
            data.number,
            data.name,
            data.email,
            data.valid_from,
            data.expires_on,
            now,
        )
        assert row is not None
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(
            f"this venue already has a membership {data.number}",
            reason="number taken",
            errors=[field_error("number", "taken")],
        ) from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound(f"no venue {venue_id}") from exc
    return Membership(**dict(row))


async def list_memberships(
    conn: asyncpg.Connection, venue_id: UUID, after: str | None, limit: int
) -> list[Membership]:
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM membership
        WHERE venue_id = $1 AND ($2::text IS NULL OR number > $2)
        ORDER BY number LIMIT $3
        """,
        venue_id,
        after,
        limit,
    )
    return [Membership(**dict(row)) for row in rows]


async def set_membership_active(
    conn: asyncpg.Connection, venue_id: UUID, membership_id: UUID, active: bool
) -> tuple[Membership, bool]:
    """The membership with `active` set; True when that changed it."""
    row = await conn.fetchrow(
        f"""
        WITH before AS (SELECT active FROM membership WHERE id = $2 AND venue_id = $1 FOR UPDATE)
        UPDATE membership m SET active = $3 FROM before
        WHERE m.id = $2 AND m.venue_id = $1
        RETURNING {", ".join("m." + c for c in _COLUMNS.split(", "))},
                  before.active <> $3 AS changed
        """,
        venue_id,
        membership_id,
        active,
    )
    if row is None:
        raise NotFound(f"no membership {membership_id} at venue {venue_id}")
    values = dict(row)
    changed = bool(values.pop("changed"))
    return Membership(**values), changed


async def members_by_number(
    conn: asyncpg.Connection, venue_id: UUID, numbers: Sequence[str]
) -> dict[str, MemberFacts]:
    if not numbers:
        return {}
    rows = await conn.fetch(
        """
        SELECT number, valid_from, expires_on, active FROM membership
        WHERE venue_id = $1 AND number = ANY($2::text[])
        """,
        venue_id,
        list(numbers),
    )
    return {row["number"]: MemberFacts(**dict(row)) for row in rows}
