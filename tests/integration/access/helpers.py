"""Helpers of the access device tests: test screenings, a smaller inventory, reservations through
the API, and the invariant every test checks: no unit lent twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from schemas.catalog import ScreeningIn
from services.catalog import service as catalog
from services.demo import PRICES, demo_inventory
from services.ids import uuid7
from tests.integration.racing import caller

Client = AsyncTestClient[Litestar]
TEST_NOTE = "access-test"
LISTENING = ["assistive_listening"]


async def places(conn: asyncpg.Connection) -> tuple[UUID, UUID, UUID]:
    """The demo venue, Cinema 1 and Cinema 2 (the looped one)."""
    row = await conn.fetchrow(
        """
        SELECT v.id AS venue, c1.id AS cinema_1, c2.id AS cinema_2 FROM venue v
        JOIN auditorium c1 ON c1.venue_id = v.id AND c1.slug = 'cinema-1'
        JOIN auditorium c2 ON c2.venue_id = v.id AND c2.slug = 'cinema-2'
        WHERE v.slug = 'riverside'
        """
    )
    return row["venue"], row["cinema_1"], row["cinema_2"]


async def add_demo_inventory(conn: asyncpg.Connection) -> None:
    """The demo's units, straight in SQL (as set up, not as added: no events)."""
    venue, cinema_1, cinema_2 = await places(conn)
    now = datetime.now(UTC)
    await conn.executemany(
        "INSERT INTO device (id, venue_id, asset_tag, kind, auditorium_id, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $6)",
        [
            (uuid7(), venue, unit.asset_tag, unit.kind, unit.auditorium_id, now)
            for unit in demo_inventory(cinema_1, cinema_2)
        ],
    )


async def schedule(
    pool: asyncpg.Pool,
    auditorium: str,
    starts_at: datetime,
    features: list[str] | None = None,
    film: str = "here",
) -> UUID:
    """A screening of the test's own (removed before the next test)."""
    async with pool.acquire() as conn:
        auditorium_id = await conn.fetchval("SELECT id FROM auditorium WHERE slug = $1", auditorium)
        screening = await catalog.schedule_screening(
            conn,
            None,
            ScreeningIn(
                film=film,
                auditorium_id=auditorium_id,
                starts_at=starts_at,
                prices=PRICES,
                trailer_minutes=10,
                features=LISTENING if features is None else features,  # type: ignore[arg-type]
                notes=TEST_NOTE,
            ),
        )
    return screening.id


async def keep_units(pool: asyncpg.Pool, *tags: str) -> None:
    """Retire every unit but these (straight in SQL: the inventory is set up, not changed)."""
    await pool.execute("UPDATE device SET state = 'retired' WHERE asset_tag <> ALL($1)", list(tags))


async def reserve(
    client: Any,
    screening_id: UUID,
    name: str = "Ana Pop",
    kind: str = "assistive_listening",
    client_id: str = "test-client",
    **extra: Any,
) -> Any:
    headers = {**caller(client_id), **extra.pop("headers", {})}
    body = {"kind": kind, "patron_name": name, **extra}
    return await client.post(
        f"/v1/screenings/{screening_id}/device-reservations", json=body, headers=headers
    )


def secret_of(response: Any) -> dict[str, str]:
    return {"X-Reservation-Secret": response.json()["secret"]}


async def events(pool: asyncpg.Pool, event_type: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE event_type = $1 ORDER BY position", event_type
    )
    return [row["payload"] for row in rows]


async def statuses(pool: asyncpg.Pool, screening_id: UUID) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT status, count(*) AS n FROM device_reservation WHERE screening_id = $1"
        " GROUP BY status",
        screening_id,
    )
    return {row["status"]: row["n"] for row in rows}


async def assert_never_lent_twice(pool: asyncpg.Pool) -> None:
    """No two reservations holding one unit over overlapping spans (what the constraint says,
    checked again from the outside)."""
    clashes = await pool.fetch(
        """
        SELECT a.id, b.id FROM device_reservation a JOIN device_reservation b
          ON a.device_id = b.device_id AND a.id < b.id AND a.span && b.span
        WHERE a.status IN ('reserved', 'checked_out', 'returned')
          AND b.status IN ('reserved', 'checked_out', 'returned')
        """
    )
    assert not clashes, clashes


async def annex(conn: asyncpg.Connection) -> tuple[UUID, UUID, UUID]:
    """A venue of the tests' own, with two small auditorium and nothing of the demo's playing,
    so that a screening can start in a few minutes: the desk works on the real clock."""
    from schemas.catalog import AuditoriumIn, SeatIn, VenueIn

    venue = await conn.fetchval("SELECT id FROM venue WHERE slug = 'access-annex'")
    if venue is None:
        venue = (
            await catalog.add_venue(
                conn, None, VenueIn(slug="access-annex", name="Annex", time_zone="UTC")
            )
        ).id
        for slug in ("annex-1", "annex-2"):
            seats = [SeatIn(f"A{n}", "A", 1, n, float(n), 1.0) for n in range(1, 21)]
            await catalog.add_auditorium(
                conn, None, AuditoriumIn(venue, slug, slug.title(), seats, False, 10)
            )
    rooms = await conn.fetch("SELECT id FROM auditorium WHERE venue_id = $1 ORDER BY slug", venue)
    return venue, rooms[0]["id"], rooms[1]["id"]
