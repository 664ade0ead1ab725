"""Fixtures of the access device tests. The demo programme is loaded once and kept; between tests
only what these tests change is reset: reservations, the inventory (back to the demo's), the box
office's holds and bookings, the event tables, and the screenings the tests schedule. Each test
schedules its own screenings far ahead, so it never depends on what other tests did to the
demo's."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from tests.integration.access.helpers import TEST_NOTE, add_demo_inventory
from tests.integration.events.conftest import (  # noqa: F401 - fixtures shared with these tests
    Processes,
    env_for,
    free_port,
    processes,
    redis,
    settings,
)

# in the order their foreign keys allow; DELETE, not TRUNCATE: these tables are small, and
# TRUNCATE's new files cost more than the rows
RESET = (
    "door_change", "admission", "door_scan",  # the door's rows name bookings (migration 017)
    "refund", "payment", "checkout", "discount_use",  # money's rows name holds and bookings
    "email", "device_reservation", "device", "seat_claim", "booking_seat", "booking", "hold",
    "outbox", "processed_event", "aggregate_last_event", "staff_action",
)  # fmt: skip


@pytest.fixture
async def db(pool: asyncpg.Pool) -> asyncpg.Pool:
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT 1 FROM venue WHERE slug = 'riverside'"):
            from services.demo import load_demo_data

            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'schema_migration'"
            )
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            await load_demo_data(conn, date.today())
        async with conn.transaction():
            for table in RESET:
                await conn.execute(f"DELETE FROM {table}")
            await conn.execute("DELETE FROM screening WHERE notes = $1", TEST_NOTE)
            await add_demo_inventory(conn)
    return pool


@pytest.fixture
def day() -> datetime:
    """Noon UTC of a day far enough ahead that nothing of the demo's plays then."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return today + timedelta(days=40)


@pytest.fixture(scope="module")
def api(environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real API server process (uvicorn), for races between real clients; one per module (it
    keeps nothing between tests but its pool: the database is reset under it)."""
    from services.settings import get_settings

    servers = Processes(tmp_path_factory.mktemp("api"))
    port = free_port()
    servers.start(get_settings(), "serve", "--port", str(port), USHER_DB_POOL_MAX="30")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                servers.close()
                raise AssertionError("the API server did not start\n" + servers.logs()) from None
            time.sleep(0.05)
    yield url
    servers.close()


@pytest.fixture
async def http(api: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=30) as client:
        yield client
