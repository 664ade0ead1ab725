"""What the access part reads of the programme and the box office: a screening's place, times
and features, a venue's auditoriums, and the booking or hold a reservation is tied to."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from services.access.rules import Auditorium
from services.errors import NotFound

# Advisory lock namespaces (two-int keys; the box office uses 4 and 5).
KIND_LOCK = 6  # per (venue, kind): every step that sets units aside, or moves them, takes it
CLIENT_LOCK = 7  # per box-office client: one new reservation at a time, to count its live ones


class ScreeningFacts(msgspec.Struct, frozen=True):
    id: UUID
    venue_id: UUID
    auditorium_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    features: list[str]
    hearing_loop: bool


class BookingTie(msgspec.Struct, frozen=True):
    id: UUID
    screening_id: UUID
    status: str
    patron_name: str
    patron_email: str
    secret_hash: bytes


class HoldTie(msgspec.Struct, frozen=True):
    id: UUID
    screening_id: UUID
    status: str
    expires_at: datetime
    token_hash: bytes


async def screening_facts(
    conn: asyncpg.Connection, screening_id: UUID, *, share: bool = False
) -> ScreeningFacts:
    """`share` keeps the screening from being cancelled or moved until the transaction ends (the
    device consumers then see whatever this transaction sets aside)."""
    row = await conn.fetchrow(
        f"""
        SELECT s.id, s.venue_id, s.auditorium_id, s.starts_at, s.ends_at, s.status, s.features,
               a.hearing_loop
        FROM screening s JOIN auditorium a ON a.id = s.auditorium_id
        WHERE s.id = $1{" FOR SHARE OF s" if share else ""}
        """,
        screening_id,
    )
    if row is None:
        raise NotFound(f"no screening {screening_id}")
    return ScreeningFacts(**dict(row))


async def venue_auditoriums(conn: asyncpg.Connection, venue_id: UUID) -> list[Auditorium]:
    """Each auditorium of the venue: its seats and whether a hearing loop serves them."""
    if not await conn.fetchval("SELECT 1 FROM venue WHERE id = $1", venue_id):
        raise NotFound(f"no venue {venue_id}")
    rows = await conn.fetch(
        """
        SELECT (SELECT count(*) FROM seat st WHERE st.auditorium_id = a.id) AS seats,
               a.hearing_loop
        FROM auditorium a WHERE a.venue_id = $1 ORDER BY a.slug
        """,
        venue_id,
    )
    return [Auditorium(row["seats"], row["hearing_loop"]) for row in rows]


async def booking_for_tie(conn: asyncpg.Connection, reference: str) -> BookingTie | None:
    """The booking, share-locked: it cannot be cancelled before this transaction ends, so its
    BookingCancelled (which releases tied devices) comes after this reservation."""
    row = await conn.fetchrow(
        """
        SELECT id, screening_id, status, patron_name, patron_email, secret_hash
        FROM booking WHERE reference = $1 FOR SHARE
        """,
        reference,
    )
    return BookingTie(**dict(row)) if row else None


async def hold_for_tie(conn: asyncpg.Connection, hold_id: UUID) -> HoldTie | None:
    """The hold, share-locked, for the same reason as a booking."""
    row = await conn.fetchrow(
        "SELECT id, screening_id, status, expires_at, token_hash FROM hold WHERE id = $1 FOR SHARE",
        hold_id,
    )
    return HoldTie(**dict(row)) if row else None


async def lock_kind(conn: asyncpg.Connection, venue_id: UUID, kind: str) -> None:
    """Serialise the steps that set aside or move units of one kind in one venue: the waitlist
    is served in order, and two steps never pick the same free unit."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", KIND_LOCK, f"{venue_id}:{kind}"
    )


async def lock_kinds(conn: asyncpg.Connection, pairs: set[tuple[UUID, str]]) -> None:
    """Several kinds' locks, always in one order, so that two such steps never deadlock."""
    for venue_id, kind in sorted(pairs):
        await lock_kind(conn, venue_id, kind)


async def lock_client(conn: asyncpg.Connection, client_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", CLIENT_LOCK, client_id)
